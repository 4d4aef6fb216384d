//! The conjugate-gradient solve `(alpha I + K) a = b` against a dense Cholesky solve (nalgebra, f64),
//! on the tutorial's two problems at N = 500 (not a multiple of any tile size), in f32 and f64,
//! with one and several right-hand sides; and its typed errors.

mod common;

use common::Rng;
use keops::prelude::*;
use nalgebra::DMatrix;

const N: usize = 500;

/// The tutorial's 1D problem: x ~ U(0,1), b = x + 0.5 sin 6x + 0.1 sin 20x + noise; a second
/// right-hand side (another noisy signal) makes b an (N, 2) block.
fn problem_1d(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let x = rng.vec(n, 0.0, 1.0);
    let mut b = Vec::with_capacity(2 * n);
    for &x in &x {
        let noise = rng.range(-0.1, 0.1);
        b.push(x + 0.5 * (6.0 * x).sin() + 0.1 * (20.0 * x).sin() + noise);
        b.push((10.0 * x).cos() + rng.range(-0.2, 0.2));
    }
    (x, b)
}

/// Pure noise in [-1, 1]: the hardest right-hand side (large coefficients that cancel).
fn rough(rng: &mut Rng, n: usize) -> Vec<f64> {
    rng.vec(n, -1.0, 1.0)
}

/// The tutorial's 2D problem: a noisy ring with the last quarter of the values replaced by
/// uniform outliers; second column: the distance to the centre.
fn problem_2d(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let x = rng.vec(2 * n, 0.0, 1.0);
    let mut b = Vec::with_capacity(2 * n);
    for (i, p) in x.chunks(2).enumerate() {
        let r2 = (p[0] - 0.5).powi(2) + (p[1] - 0.5).powi(2);
        let ring = if (0.09..=0.16).contains(&r2) {
            1.0
        } else {
            0.0
        };
        let v = if i >= n - n / 4 {
            rng.unit()
        } else {
            ring + rng.range(-0.1, 0.1)
        };
        b.push(v);
        b.push(r2.sqrt());
    }
    (x, b)
}

fn gaussian(x: &[f64], y: &[f64], s: f64) -> f64 {
    let d2: f64 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
    (-d2 / (2.0 * s * s)).exp()
}

fn laplacian(x: &[f64], y: &[f64], s: f64) -> f64 {
    let d2: f64 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
    (-d2.sqrt() / s).exp()
}

/// `alpha I + K` as a dense f64 matrix, from the points as the solver sees them (rounded to `T`).
fn dense(
    x: &[f64],
    dim: usize,
    alpha: f64,
    k: fn(&[f64], &[f64], f64) -> f64,
    s: f64,
) -> DMatrix<f64> {
    let n = x.len() / dim;
    DMatrix::from_fn(n, n, |i, j| {
        k(&x[i * dim..(i + 1) * dim], &x[j * dim..(j + 1) * dim], s)
            + if i == j { alpha } else { 0.0 }
    })
}

/// Dense Cholesky solution of `a a_ = b` for a row-major `(n, k)` block b.
fn cholesky_solve(a: DMatrix<f64>, b: &[f64], k: usize) -> DMatrix<f64> {
    let n = a.nrows();
    let chol = a.cholesky().expect("alpha I + K is positive definite");
    chol.solve(&DMatrix::from_row_slice(n, k, b))
}

/// Largest relative error over the columns: `||got - want|| / ||want||`.
fn column_rel_error<T: Real>(got: &Rows<T>, want: &DMatrix<f64>) -> f64 {
    (0..want.ncols())
        .map(|c| {
            let (mut err, mut nrm) = (0.0, 0.0);
            for i in 0..want.nrows() {
                let g = got.row(i)[c].to_f64();
                err += (g - want[(i, c)]).powi(2);
                nrm += want[(i, c)].powi(2);
            }
            (err / nrm).sqrt()
        })
        .fold(0.0, f64::max)
}

/// Relative residual `||b - A a|| / ||b||` per column, computed densely in f64.
fn dense_residuals<T: Real>(a: &DMatrix<f64>, sol: &Rows<T>, b: &[f64], k: usize) -> Vec<f64> {
    let n = a.nrows();
    let x = DMatrix::from_fn(n, k, |i, c| sol.row(i)[c].to_f64());
    let r = DMatrix::from_row_slice(n, k, b) - a * x;
    (0..k)
        .map(|c| {
            let bn: f64 = (0..n).map(|i| b[i * k + c].powi(2)).sum::<f64>().sqrt();
            r.column(c).norm() / bn
        })
        .collect()
}

fn to_t<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&v| T::from_f64(v)).collect()
}

fn round<T: Real>(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&v| T::from_f64(v).to_f64()).collect()
}

/// Solves the 1D Gaussian problem (sigma 0.1, alpha 1) in precision T, returns the relative error
/// to the dense solve and checks the reported residuals.
fn gaussian_1d<T: Real>(tol: f64, columns: usize) -> f64 {
    let mut rng = Rng::named("gaussian_1d", columns as u64);
    let (x, b2) = problem_1d(&mut rng, N);
    let b: Vec<f64> = b2.chunks(2).flat_map(|r| &r[..columns]).copied().collect();
    let (xt, bt) = (to_t::<T>(&x), to_t::<T>(&b));
    let (x, b) = (round::<T>(&x), round::<T>(&b));
    let s = 0.1;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(&xt)
        .y_j(&xt)
        .matrix()
        .unwrap();
    let cg = ConjugateGradient::new().tolerance(tol);
    let sol = k
        .solve_with(&cg, View::new(&bt, columns).unwrap(), 1.0)
        .unwrap();
    check_solution(&sol, dense(&x, 1, 1.0, gaussian, s), &b, columns, tol)
}

fn laplacian_2d<T: Real>(tol: f64, columns: usize) -> f64 {
    let mut rng = Rng::named("laplacian_2d", columns as u64);
    let (x, b2) = problem_2d(&mut rng, N);
    let b: Vec<f64> = b2.chunks(2).flat_map(|r| &r[..columns]).copied().collect();
    let (xt, bt) = (to_t::<T>(&x), to_t::<T>(&b));
    let (x, b) = (round::<T>(&x), round::<T>(&b));
    let s = 0.1;
    let k = kernel!(exp(-norm(x_i - y_j) / s))
        .x_i(View::new(&xt, 2).unwrap())
        .y_j(View::new(&xt, 2).unwrap())
        .matrix()
        .unwrap();
    let cg = ConjugateGradient::new().tolerance(tol);
    let sol = k
        .solve_with(&cg, View::new(&bt, columns).unwrap(), 10.0)
        .unwrap();
    check_solution(&sol, dense(&x, 2, 10.0, laplacian, s), &b, columns, tol)
}

/// Shape, reported residuals (vs a dense recomputation) and error vs Cholesky.
fn check_solution<T: Real>(
    sol: &Solution<T>,
    a: DMatrix<f64>,
    b: &[f64],
    k: usize,
    tol: f64,
) -> f64 {
    assert_eq!((sol.coefficients.rows(), sol.coefficients.dim()), (N, k));
    assert_eq!(sol.column_residuals.len(), k);
    assert_eq!(sol.column_iterations.len(), k);
    let res = dense_residuals(&a, &sol.coefficients, b, k);
    for (c, (&got, &want)) in sol.column_residuals.iter().zip(&res).enumerate() {
        assert!(
            got <= tol,
            "column {c}: reported residual {got:e} > tolerance {tol:e}"
        );
        // The reported residual is the true one (up to the precision of the products).
        let slack = if T::NAME == "f32" { 1e-5 } else { 1e-12 };
        assert!(
            (got - want).abs() <= slack,
            "column {c}: reported {got:e}, dense {want:e}"
        );
    }
    assert_eq!(
        sol.residual,
        sol.column_residuals.iter().copied().fold(0.0, f64::max)
    );
    assert_eq!(sol.iterations, *sol.column_iterations.iter().max().unwrap());
    assert!(sol.iterations > 1 && sol.iterations < N);
    column_rel_error(&sol.coefficients, &cholesky_solve(a, b, k))
}

#[test]
fn gaussian_1d_f64_matches_cholesky() {
    for k in [1, 2] {
        let err = gaussian_1d::<f64>(1e-12, k);
        eprintln!("gaussian_1d::<f64>, {k} column(s): relative error {err:.2e}");
        assert!(err < 1e-8, "{k} columns: relative error {err:e}");
    }
}

#[test]
fn gaussian_1d_f32_matches_cholesky() {
    for k in [1, 2] {
        let err = gaussian_1d::<f32>(1e-6, k);
        eprintln!("gaussian_1d::<f32>, {k} column(s): relative error {err:.2e}");
        assert!(err < 1e-4, "{k} columns: relative error {err:e}");
    }
}

#[test]
fn laplacian_2d_f64_matches_cholesky() {
    for k in [1, 2] {
        let err = laplacian_2d::<f64>(1e-12, k);
        eprintln!("laplacian_2d::<f64>, {k} column(s): relative error {err:.2e}");
        assert!(err < 1e-8, "{k} columns: relative error {err:e}");
    }
}

#[test]
fn laplacian_2d_f32_matches_cholesky() {
    for k in [1, 2] {
        let err = laplacian_2d::<f32>(1e-6, k);
        eprintln!("laplacian_2d::<f32>, {k} column(s): relative error {err:.2e}");
        assert!(err < 1e-4, "{k} columns: relative error {err:e}");
    }
}

/// Each column of a multi-column right-hand side converges on its own: the same iterations (to
/// one) and (to rounding) the same coefficients as when solved alone; a zero column gives zero at
/// once.
#[test]
fn columns_converge_independently() {
    let mut rng = Rng::named("columns", 0);
    let (x, b2) = problem_1d(&mut rng, N);
    let s = 0.05;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    // Columns: the tutorial's signal, zero, noise.
    let noise = rough(&mut rng, N);
    let b2: Vec<f64> = b2
        .chunks(2)
        .zip(&noise)
        .flat_map(|(r, &e)| [r[0], e])
        .collect();
    let b: Vec<f64> = b2.chunks(2).flat_map(|r| [r[0], 0.0, r[1]]).collect();
    // A tight tolerance: two solves that both merely meet 1e-6 may differ by kappa * 1e-6.
    let cg = ConjugateGradient::new().tolerance(1e-12);
    let all = k.solve_with(&cg, View::new(&b, 3).unwrap(), 0.5).unwrap();
    assert_eq!(all.column_iterations[1], 0);
    assert_eq!(all.column_residuals[1], 0.0);
    assert!((0..N).all(|i| all.coefficients.row(i)[1] == 0.0));
    for (c, col) in [(0, 0), (2, 1)] {
        let bc: Vec<f64> = b2.chunks(2).map(|r| r[col]).collect();
        let one = k.solve_with(&cg, &bc, 0.5).unwrap();
        // One column takes the symmetric product (each pair once, for both rows), several the
        // plain one: their sums round differently, so at 1e-12 the last step may move by one.
        assert!(
            all.column_iterations[c].abs_diff(one.iterations) <= 1,
            "column {c}: {} iterations with the others, {} alone",
            all.column_iterations[c],
            one.iterations
        );
        for i in 0..N {
            let (p, q) = (all.coefficients.row(i)[c], one.coefficients[i]);
            assert!(
                (p - q).abs() <= 1e-8 * (1.0 + q.abs()),
                "column {c} row {i}: {p} vs {q}"
            );
        }
    }
    assert_ne!(all.column_iterations[0], all.column_iterations[2]);
}

/// A user's own operator: a dense symmetric positive definite matrix.
struct Dense(DMatrix<f64>);

impl LinearOperator<f64> for Dense {
    fn nrows(&self) -> usize {
        self.0.nrows()
    }
    fn ncols(&self) -> usize {
        self.0.ncols()
    }
    fn apply(&self, x: &[f64], k: usize, out: &mut [f64]) -> Result<(), KeopsError> {
        for i in 0..self.0.nrows() {
            for c in 0..k {
                out[i * k + c] = (0..self.0.ncols())
                    .map(|j| self.0[(i, j)] * x[j * k + c])
                    .sum();
            }
        }
        Ok(())
    }
}

#[test]
fn users_operator() {
    let mut rng = Rng::named("users_operator", 0);
    let n = 37;
    let m = DMatrix::from_fn(n, n, |_, _| rng.range(-1.0, 1.0));
    let spd = &m * m.transpose() + DMatrix::identity(n, n) * 0.1;
    let b = rng.vec(n, -1.0, 1.0);
    let cg = ConjugateGradient::new().tolerance(1e-13);
    let sol = cg.solve(&Dense(spd.clone()), &b).unwrap();
    let want = cholesky_solve(spd.clone(), &b, 1);
    assert!(column_rel_error(&sol.coefficients, &want) < 1e-9);
    // With a shift: (2 I + A) x = b.
    let sol = cg.solve_shifted(&Dense(spd.clone()), 2.0, &b).unwrap();
    let want = cholesky_solve(spd + DMatrix::identity(n, n) * 2.0, &b, 1);
    assert!(column_rel_error(&sol.coefficients, &want) < 1e-9);
}

#[test]
fn indefinite_operator_is_a_typed_error() {
    let n = 20;
    let d = DMatrix::from_fn(n, n, |i, j| {
        if i != j {
            0.0
        } else if i % 2 == 0 {
            1.0
        } else {
            -1.0
        }
    });
    let b: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
    match ConjugateGradient::new().solve(&Dense(d), &b) {
        Err(SolveError::Failed(KeopsError::NotPositiveDefinite { curvature, .. })) => {
            assert!(curvature <= 0.0)
        }
        other => panic!("expected NotPositiveDefinite, got {other:?}"),
    }
    // A negated kernel is negative definite.
    let x: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
    let k = kernel!(-exp(-sqnorm(x_i - y_j)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    let err = k.solve(&x, 0.0).unwrap_err();
    assert!(
        matches!(
            err,
            SolveError::Failed(KeopsError::NotPositiveDefinite { iteration: 1, .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not positive definite"), "{err}");
}

#[test]
fn non_convergence_keeps_the_iterate() {
    let mut rng = Rng::named("non_convergence", 0);
    let (x, b2) = problem_1d(&mut rng, N);
    let b: Vec<f64> = b2.chunks(2).map(|r| r[0]).collect();
    let s = 0.1;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    let cg = ConjugateGradient::new().max_iterations(3);
    let err = k.solve_with(&cg, &b, 1.0).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("did not converge") && msg.contains("after 3 iterations"),
        "{msg}"
    );
    let sol = match err {
        SolveError::NotConverged {
            solution,
            tolerance,
            stagnated,
        } => {
            assert_eq!(tolerance, 1e-6);
            assert!(!stagnated);
            solution
        }
        other => panic!("expected NotConverged, got {other:?}"),
    };
    assert_eq!(sol.iterations, 3);
    assert!(
        sol.residual > 1e-6 && sol.residual < 1.0,
        "{}",
        sol.residual
    );
    // The reported residual is the true one of the returned iterate.
    let a = dense(&x, 1, 1.0, gaussian, s);
    let res = dense_residuals(&a, &sol.coefficients, &b, 1)[0];
    assert!(
        (res - sol.residual).abs() < 1e-12,
        "{res} vs {}",
        sol.residual
    );
    // As a KeopsError (for `?`), the numbers survive.
    let err: KeopsError = k.solve_with(&cg, &b, 1.0).unwrap_err().into();
    assert!(
        matches!(err, KeopsError::NotConverged { iterations: 3, .. }),
        "{err:?}"
    );
    // Zero iterations allowed: the iterate is 0 and the residual 1.
    let sol = k
        .solve_with(&ConjugateGradient::new().max_iterations(0), &b, 1.0)
        .unwrap_err()
        .into_solution()
        .unwrap();
    assert_eq!((sol.iterations, sol.residual), (0, 1.0));
}

#[test]
fn bad_input_is_a_typed_error() {
    let x: Vec<f64> = (0..10).map(|i| i as f64 / 10.0).collect();
    let y: Vec<f64> = (0..11).map(|i| i as f64 / 11.0).collect();
    let g = kernel!(exp(-sqnorm(x_i - y_j)));
    let k = g.x_i(&x).y_j(&x).matrix().unwrap();
    let fail = |r: Result<Solution<f64>, SolveError<f64>>| match r {
        Err(SolveError::Failed(e)) => e,
        other => panic!("expected an input error, got {other:?}"),
    };
    assert!(matches!(
        fail(k.solve(&x, -1.0)),
        KeopsError::InvalidAlpha { .. }
    ));
    assert!(matches!(
        fail(k.solve(&x, f64::NAN)),
        KeopsError::InvalidAlpha { .. }
    ));
    assert!(matches!(
        fail(k.solve(&x, f64::INFINITY)),
        KeopsError::InvalidAlpha { .. }
    ));
    assert!(matches!(
        fail(k.solve(&y, 1.0)),
        KeopsError::OperandLength {
            expected: 10,
            found: 11
        }
    ));
    let mut bad = x.clone();
    bad[3] = f64::NAN;
    assert!(matches!(
        fail(k.solve(&bad, 1.0)),
        KeopsError::NonFinite { row: 3, .. }
    ));
    for tol in [0.0, -1.0, f64::NAN] {
        let cg = ConjugateGradient::new().tolerance(tol);
        assert!(matches!(
            fail(k.solve_with(&cg, &x, 1.0)),
            KeopsError::InvalidTolerance { .. }
        ));
    }
    let rect = g.x_i(&x).y_j(&y).matrix().unwrap();
    let e = fail(rect.solve(&y, 1.0));
    assert!(
        matches!(e, KeopsError::NotSquare { rows: 10, cols: 11 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("square"), "{e}");
    // A zero right-hand side: zero solution, no iteration.
    let sol = k.solve(&vec![0.0; 10], 1.0).unwrap();
    assert!(sol.coefficients.iter().all(|&v| v == 0.0));
    assert_eq!((sol.iterations, sol.residual), (0, 0.0));
}

/// In f32 the products' rounding puts a floor under the attainable residual; asking for less than
/// that floor ends in a `stagnated` NotConverged after a few restarts, not in 1000 iterations.
#[test]
fn f32_stagnation_is_detected() {
    let mut rng = Rng::named("stagnation", 0);
    let x: Vec<f32> = rng.reals(N, 0.0, 1.0);
    let b: Vec<f32> = rough(&mut rng, N).iter().map(|&v| v as f32).collect();
    let s = 0.1;
    let g = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let k = g.x_i(&x).y_j(&x).matrix().unwrap();
    let cg = ConjugateGradient::new().tolerance(1e-10);
    match k.solve_with(&cg, &b, 1.0) {
        Err(
            e @ SolveError::NotConverged {
                stagnated: true, ..
            },
        ) => {
            assert!(e.to_string().contains("stopped decreasing"), "{e}");
            let sol = e.into_solution().unwrap();
            assert!(sol.iterations < 200, "{} iterations", sol.iterations);
            assert!(
                sol.residual < 1e-4 && sol.residual > 1e-10,
                "{}",
                sol.residual
            );
        }
        other => panic!("expected a stagnated NotConverged, got {other:?}"),
    }
}
