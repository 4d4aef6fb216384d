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

/// The Gaussian kernel matrix of width `s` on 1D points `x` (`K_xx`): the one 1D Gaussian
/// formula of these tests.
fn gaussian_matrix<T: Real>(
    x: &[T],
    s: f64,
) -> KernelMatrix<T, impl keops::__private::BoundKernel<T> + '_> {
    kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(x)
        .y_j(x)
        .matrix()
        .unwrap()
}

/// The Laplacian kernel matrix `exp(-|x - y| / s)` on 2D points (flat `x`).
fn laplacian_matrix<T: Real>(
    x: &[T],
    s: f64,
) -> KernelMatrix<T, impl keops::__private::BoundKernel<T> + '_> {
    kernel!(exp(-norm(x_i - y_j) / s))
        .x_i(View::new(x, 2).unwrap())
        .y_j(View::new(x, 2).unwrap())
        .matrix()
        .unwrap()
}

/// Solves the 1D Gaussian problem (sigma 0.1, alpha 1) in precision T, returns the relative error
/// to the dense solve and checks the reported residuals.
fn gaussian_1d<T: Real>(tol: f64, columns: usize, pre: Preconditioning) -> (f64, Solution<T>) {
    let mut rng = Rng::named("gaussian_1d", columns as u64);
    let (x, b2) = problem_1d(&mut rng, N);
    let b: Vec<f64> = b2.chunks(2).flat_map(|r| &r[..columns]).copied().collect();
    let (xt, bt) = (to_t::<T>(&x), to_t::<T>(&b));
    let (x, b) = (round::<T>(&x), round::<T>(&b));
    let s = 0.1;
    let cg = ConjugateGradient::new().tolerance(tol).preconditioning(pre);
    let sol = gaussian_matrix(&xt, s)
        .solve_with(&cg, View::new(&bt, columns).unwrap(), 1.0)
        .unwrap();
    let err = check_solution(&sol, dense(&x, 1, 1.0, gaussian, s), &b, columns, tol);
    (err, sol)
}

fn laplacian_2d<T: Real>(tol: f64, columns: usize, pre: Preconditioning) -> (f64, Solution<T>) {
    let mut rng = Rng::named("laplacian_2d", columns as u64);
    let (x, b2) = problem_2d(&mut rng, N);
    let b: Vec<f64> = b2.chunks(2).flat_map(|r| &r[..columns]).copied().collect();
    let (xt, bt) = (to_t::<T>(&x), to_t::<T>(&b));
    let (x, b) = (round::<T>(&x), round::<T>(&b));
    let s = 0.1;
    let cg = ConjugateGradient::new().tolerance(tol).preconditioning(pre);
    let sol = laplacian_matrix(&xt, s)
        .solve_with(&cg, View::new(&bt, columns).unwrap(), 10.0)
        .unwrap();
    let err = check_solution(&sol, dense(&x, 2, 10.0, laplacian, s), &b, columns, tol);
    (err, sol)
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
    assert!(sol.iterations >= 1 && sol.iterations < N);
    column_rel_error(&sol.coefficients, &cholesky_solve(a, b, k))
}

/// Every preconditioner choice, and the name and rank the solution reports for it.
fn preconditioners() -> Vec<(Preconditioning, &'static str)> {
    let uniform = Nystrom::new().landmarks(Landmarks::Uniform { seed: 3 });
    vec![
        (Preconditioning::Off, "none"),
        (Preconditioning::Auto, "nystrom"),
        (Preconditioning::Jacobi, "jacobi"),
        (Preconditioning::Nystrom(uniform.rank(37)), "nystrom"),
        (Preconditioning::Nystrom(Nystrom::new().rank(37)), "nystrom"),
    ]
}

/// Runs `solve` for 1 and 2 columns with every preconditioner; checks the error bound and the
/// reported preconditioner.
fn with_every_preconditioner<T: Real>(
    name: &str,
    bound: f64,
    solve: fn(usize, Preconditioning) -> (f64, Solution<T>),
) {
    for k in [1, 2] {
        for (pre, kind) in preconditioners() {
            let (err, sol) = solve(k, pre);
            eprintln!(
                "{name}::<{}>, {k} column(s), {pre:?}: {} iterations, rank {}, relative error {err:.2e}",
                T::NAME,
                sol.iterations,
                sol.rank
            );
            assert!(err < bound, "{k} columns, {pre:?}: relative error {err:e}");
            if pre != Preconditioning::Auto {
                assert_eq!(sol.preconditioner, kind, "{pre:?}");
            }
            match pre {
                Preconditioning::Nystrom(nys) if nys.get_landmarks() != Landmarks::Greedy => {
                    assert_eq!(sol.rank, 37)
                }
                Preconditioning::Nystrom(_) => {
                    assert!(sol.rank > 0 && sol.rank <= 37, "{}", sol.rank)
                }
                // No landmark worth its cost: plain CG.
                Preconditioning::Auto if sol.preconditioner == "none" => assert_eq!(sol.rank, 0),
                Preconditioning::Auto => assert!(sol.rank > 0 && sol.rank < N, "{}", sol.rank),
                _ => assert_eq!(sol.rank, 0),
            }
        }
    }
}

#[test]
fn gaussian_1d_f64_matches_cholesky() {
    with_every_preconditioner::<f64>("gaussian_1d", 1e-8, |k, pre| gaussian_1d(1e-12, k, pre));
}

#[test]
fn gaussian_1d_f32_matches_cholesky() {
    with_every_preconditioner::<f32>("gaussian_1d", 1e-4, |k, pre| gaussian_1d(1e-6, k, pre));
}

#[test]
fn laplacian_2d_f64_matches_cholesky() {
    with_every_preconditioner::<f64>("laplacian_2d", 1e-8, |k, pre| laplacian_2d(1e-12, k, pre));
}

#[test]
fn laplacian_2d_f32_matches_cholesky() {
    with_every_preconditioner::<f32>("laplacian_2d", 1e-4, |k, pre| laplacian_2d(1e-6, k, pre));
}

/// Each column of a multi-column right-hand side converges on its own: the same iterations (to
/// one) and (to rounding) the same coefficients as when solved alone; a zero column gives zero at
/// once.
#[test]
fn columns_converge_independently() {
    let mut rng = Rng::named("columns", 0);
    let (x, b2) = problem_1d(&mut rng, N);
    let k = gaussian_matrix(&x, 0.05);
    // Columns: the tutorial's signal, zero, noise.
    let noise = rough(&mut rng, N);
    let b2: Vec<f64> = b2
        .chunks(2)
        .zip(&noise)
        .flat_map(|(r, &e)| [r[0], e])
        .collect();
    let b: Vec<f64> = b2.chunks(2).flat_map(|r| [r[0], 0.0, r[1]]).collect();
    // A tight tolerance: two solves that both merely meet 1e-6 may differ by kappa * 1e-6.
    // Plain CG: preconditioned, the signal and the noise converge in about as many iterations.
    let cg = ConjugateGradient::new()
        .tolerance(1e-12)
        .preconditioning(Preconditioning::Off);
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

/// A user's own operator: a dense symmetric positive definite matrix, which gives its diagonal
/// (for Jacobi and greedy Nyström landmarks) when the flag says so, as an operator may or not.
struct Dense(DMatrix<f64>, bool);

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
    fn diagonal(&self, out: &mut [f64]) -> Result<(), KeopsError> {
        if !self.1 {
            return Err(KeopsError::NoDiagonal);
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.0[(i, i)];
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
    let sol = cg.solve(&Dense(spd.clone(), false), &b).unwrap();
    let want = cholesky_solve(spd.clone(), &b, 1);
    assert!(column_rel_error(&sol.coefficients, &want) < 1e-9);
    // With a shift: (2 I + A) x = b.
    let sol = cg
        .solve_shifted(&Dense(spd.clone(), false), 2.0, &b)
        .unwrap();
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
    match ConjugateGradient::new().solve(&Dense(d, false), &b) {
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
    let k = gaussian_matrix(&x, s);
    let cg = ConjugateGradient::new()
        .max_iterations(3)
        .preconditioning(Preconditioning::Off);
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

/// The tutorial's two problems at N = 2000: every preconditioner needs at most the iterations of
/// plain CG, and the automatic one (Nyström, greedy landmarks) fewer (1D: far fewer).
fn preconditioning_cuts_iterations<T: Real>() {
    let n = 2000;
    let uniform = Nystrom::new().landmarks(Landmarks::Uniform { seed: 11 });
    let choices = [
        Preconditioning::Auto,
        Preconditioning::Jacobi,
        Preconditioning::Nystrom(uniform.rank(50)),
        Preconditioning::Nystrom(uniform.rank(200)),
        Preconditioning::Nystrom(Nystrom::new().rank(50)),
    ];
    for dim in [1, 2] {
        let mut rng = Rng::named("cuts_iterations", dim as u64);
        let (x, b2) = if dim == 1 {
            problem_1d(&mut rng, n)
        } else {
            problem_2d(&mut rng, n)
        };
        let b: Vec<f64> = b2.chunks(2).map(|r| r[0]).collect();
        let (xt, bt) = (to_t::<T>(&x), to_t::<T>(&b));
        let solve = |pre| {
            let cg = ConjugateGradient::new().preconditioning(pre);
            let sol = if dim == 1 {
                gaussian_matrix(&xt, 0.1).solve_with(&cg, View::new(&bt, 1).unwrap(), 1.0)
            } else {
                laplacian_matrix(&xt, 0.1).solve_with(&cg, View::new(&bt, 1).unwrap(), 10.0)
            };
            sol.unwrap()
        };
        let plain = solve(Preconditioning::Off).iterations;
        for pre in choices {
            let sol = solve(pre);
            eprintln!(
                "{dim}D {}: plain {plain} iterations, {pre:?}: {} (rank {})",
                T::NAME,
                sol.iterations,
                sol.rank
            );
            assert!(
                sol.iterations <= plain,
                "{dim}D {pre:?}: {} > {plain}",
                sol.iterations
            );
            // At this N the 1D kernel is numerically low-rank (a few landmarks do), the 2D one
            // much less (N = 10,000: 39 -> 11 iterations, BENCHMARKS.md).
            if pre == Preconditioning::Auto {
                let factor = if dim == 1 { 3 } else { 1 };
                assert!(
                    factor * sol.iterations < plain,
                    "{dim}D: the automatic preconditioner saves little ({} vs {plain})",
                    sol.iterations
                );
            }
        }
    }
}

#[test]
fn preconditioning_cuts_iterations_f32() {
    preconditioning_cuts_iterations::<f32>();
}

#[test]
fn preconditioning_cuts_iterations_f64() {
    preconditioning_cuts_iterations::<f64>();
}

/// A nearly diagonal system (kernel width far below the spacing of the points): the greedy
/// landmark choice finds nothing worth keeping, so the automatic solve is plain CG (its setup
/// costs two passes over the points); explicit landmarks still solve it correctly.
#[test]
fn nearly_diagonal_system_gets_no_landmark() {
    let n = 500;
    let x: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let s = 3e-4;
    for alpha in [1.0, 1e-3] {
        let solve = |pre| {
            let cg = ConjugateGradient::new()
                .tolerance(1e-12)
                .preconditioning(pre);
            gaussian_matrix(&x, s)
                .solve_with(&cg, View::new(&b, 1).unwrap(), alpha)
                .unwrap()
        };
        let plain = solve(Preconditioning::Off);
        let auto = solve(Preconditioning::Auto);
        assert_eq!(
            (auto.preconditioner, auto.rank),
            ("none", 0),
            "alpha {alpha}"
        );
        assert_eq!(auto.iterations, plain.iterations, "alpha {alpha}");
        let greedy = solve(Preconditioning::Nystrom(Nystrom::new()));
        assert_eq!(greedy.rank, 0, "alpha {alpha}");
        let uniform = Preconditioning::Nystrom(
            Nystrom::new()
                .landmarks(Landmarks::Uniform { seed: 1 })
                .rank(20),
        );
        let sol = solve(uniform);
        assert_eq!(sol.rank, 20);
        let want = cholesky_solve(dense(&x, 1, alpha, gaussian, s), &b, 1);
        assert!(column_rel_error(&sol.coefficients, &want) < 1e-9);
        assert!(sol.iterations <= plain.iterations + 1);
    }
}

/// One preconditioner for several right-hand sides: a solve with three columns builds it once,
/// and a [`NystromPreconditioner`] built by the caller serves several solves, giving the same
/// coefficients for a column alone as with the others.
#[test]
fn right_hand_sides_share_one_setup() {
    let mut rng = Rng::named("share_setup", 0);
    let (x, b2) = problem_1d(&mut rng, N);
    let noise = rough(&mut rng, N);
    let b: Vec<f64> = b2
        .chunks(2)
        .zip(&noise)
        .flat_map(|(r, &e)| [r[0], r[1], e])
        .collect();
    let s = 0.1;
    let k = gaussian_matrix(&x, s);
    let cg = ConjugateGradient::new().tolerance(1e-12);
    let all = k.solve_with(&cg, View::new(&b, 3).unwrap(), 1.0).unwrap();
    assert_eq!(all.preconditioner, "nystrom");
    assert!(all.rank > 0);
    let want = cholesky_solve(dense(&x, 1, 1.0, gaussian, s), &b, 3);
    assert!(column_rel_error(&all.coefficients, &want) < 1e-9);

    let pre = Nystrom::new().build(&k, 1.0).unwrap();
    assert_eq!(pre.landmarks().len(), all.rank);
    assert!(pre.memory() >= 8 * N * all.rank);
    let shared = cg
        .solve_preconditioned(&k, 1.0, View::new(&b, 3).unwrap(), &pre)
        .unwrap();
    assert_eq!(shared.setup_time, std::time::Duration::ZERO);
    assert_eq!(shared.column_iterations, all.column_iterations);
    for c in 0..3 {
        let bc: Vec<f64> = b.chunks(3).map(|r| r[c]).collect();
        let one = cg.solve_preconditioned(&k, 1.0, &bc, &pre).unwrap();
        assert_eq!(one.iterations, shared.column_iterations[c], "column {c}");
        for i in 0..N {
            let (p, q) = (shared.coefficients.row(i)[c], one.coefficients[i]);
            assert!(
                (p - q).abs() <= 1e-8 * (1.0 + q.abs()),
                "column {c} row {i}: {p} vs {q}"
            );
        }
    }
}

/// Preconditioners on a user's operator: uniform landmarks through the default `columns`
/// (products with unit vectors), Jacobi and greedy landmarks when it gives its diagonal, typed
/// errors when it does not.
#[test]
fn users_operator_preconditioned() {
    let mut rng = Rng::named("users_operator_preconditioned", 0);
    let n = 37;
    // A few large eigenvalues (a low-rank part) and a varying diagonal.
    let u = DMatrix::from_fn(n, 3, |_, _| rng.range(-1.0, 1.0));
    let diag = DMatrix::from_fn(n, n, |i, j| if i == j { rng.range(0.1, 3.0) } else { 0.0 });
    let spd = &u * u.transpose() * 20.0 + diag;
    let b = rng.vec(n, -1.0, 1.0);
    let alpha = 0.5;
    let want = cholesky_solve(spd.clone() + DMatrix::identity(n, n) * alpha, &b, 1);
    let cg = ConjugateGradient::new().tolerance(1e-13);
    let uniform = Nystrom::new()
        .landmarks(Landmarks::Uniform { seed: 5 })
        .rank(6);
    let plain = cg
        .preconditioning(Preconditioning::Off)
        .solve_shifted(&Dense(spd.clone(), false), alpha, &b)
        .unwrap();
    for (op, pre, name, rank) in [
        (
            &Dense(spd.clone(), false) as &dyn LinearOperator<f64>,
            Preconditioning::Nystrom(uniform),
            "nystrom",
            6,
        ),
        (&Dense(spd.clone(), false), Preconditioning::Auto, "none", 0),
        (
            &Dense(spd.clone(), true),
            Preconditioning::Auto,
            "nystrom",
            3,
        ),
        (
            &Dense(spd.clone(), true),
            Preconditioning::Jacobi,
            "jacobi",
            0,
        ),
        (
            &Dense(spd.clone(), true),
            Preconditioning::Nystrom(Nystrom::new().rank(5)),
            "nystrom",
            5,
        ),
    ] {
        let sol = cg
            .preconditioning(pre)
            .solve_shifted(op, alpha, &b)
            .unwrap();
        assert_eq!(sol.preconditioner, name, "{pre:?}");
        if pre == Preconditioning::Auto && name == "nystrom" {
            // The three large eigenvalues, and not much of the diagonal part.
            assert!((rank..=rank + 2).contains(&sol.rank), "{}", sol.rank);
        } else {
            assert_eq!(sol.rank, rank, "{pre:?}");
        }
        assert!(column_rel_error(&sol.coefficients, &want) < 1e-9, "{pre:?}");
        assert!(sol.iterations <= plain.iterations, "{pre:?}");
    }
    for pre in [
        Preconditioning::Jacobi,
        Preconditioning::Nystrom(Nystrom::new()),
    ] {
        let err = cg
            .preconditioning(pre)
            .solve_shifted(&Dense(spd.clone(), false), alpha, &b)
            .unwrap_err();
        assert!(
            matches!(err, SolveError::Failed(KeopsError::NoDiagonal)),
            "{err:?}"
        );
        assert!(err.to_string().contains("diagonal"), "{err}");
    }
}

/// `z = -r`: not positive definite.
struct Negate(usize);

impl keops::Preconditioner for Negate {
    fn size(&self) -> usize {
        self.0
    }
    fn apply(&self, r: &[f64], _k: usize, out: &mut [f64]) {
        for (o, r) in out.iter_mut().zip(r) {
            *o = -r;
        }
    }
}

#[test]
fn preconditioner_errors_are_typed() {
    let x: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
    let b: Vec<f64> = x.iter().map(|v| v.sin()).collect();
    let k = gaussian_matrix(&x, 0.1);
    let cg = |pre| ConjugateGradient::new().preconditioning(pre);
    let fail = |r: Result<Solution<f64>, SolveError<f64>>| -> KeopsError {
        match r {
            Err(SolveError::Failed(e)) => e,
            other => panic!("expected a typed error, got {other:?}"),
        }
    };
    let nys = Preconditioning::Nystrom(Nystrom::new());
    let e = fail(k.solve_with(&cg(nys), &b, 0.0));
    assert!(
        matches!(e, KeopsError::NystromAlpha { alpha } if alpha == 0.0),
        "{e:?}"
    );
    // Alpha 0 with the automatic choice: plain CG.
    let sol = k.solve_with(&cg(Preconditioning::Auto), &b, 0.0);
    assert_eq!(sol.map(|s| s.preconditioner).unwrap_or("none"), "none");
    let e = fail(k.solve_with(
        &cg(Preconditioning::Nystrom(Nystrom::new().rank(51))),
        &b,
        1.0,
    ));
    assert!(
        matches!(e, KeopsError::NystromRank { rank: 51, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("only 50 points"), "{e}");
    let small = Nystrom::new().rank(40).memory_budget(8 * 50 * 20);
    let e = fail(k.solve_with(&cg(Preconditioning::Nystrom(small)), &b, 1.0));
    assert!(e.to_string().contains("memory budget"), "{e}");
    // The automatic rank respects the budget.
    let sol = k
        .solve_with(
            &cg(Preconditioning::Nystrom(
                Nystrom::new().memory_budget(8 * 60 * 4),
            )),
            &b,
            1.0,
        )
        .unwrap();
    assert!(
        sol.rank > 0 && 8 * sol.rank * (50 + 2 * sol.rank) <= 8 * 60 * 4,
        "{}",
        sol.rank
    );
    // Jacobi with alpha + A_ii <= 0.
    let neg = Dense(DMatrix::identity(4, 4) * -1.0, true);
    let e = fail(cg(Preconditioning::Jacobi).solve_shifted(&neg, 0.5, &[1.0; 4][..]));
    assert!(
        matches!(e, KeopsError::PreconditionerNotPositive { .. }),
        "{e:?}"
    );
    // The small system of uniform landmarks on -I: -alpha I + I, indefinite for alpha = 2.
    let uniform = Nystrom::new()
        .landmarks(Landmarks::Uniform { seed: 0 })
        .rank(2);
    let e = fail(cg(Preconditioning::Nystrom(uniform)).solve_shifted(&neg, 2.0, &[1.0; 4][..]));
    assert!(
        matches!(e, KeopsError::NystromFactorization { rank: 2, .. }),
        "{e:?}"
    );
    // A preconditioner that is not positive definite, or of the wrong size.
    let e = fail(ConjugateGradient::new().solve_preconditioned(&k, 1.0, &b, &Negate(50)));
    assert!(
        matches!(e, KeopsError::PreconditionerNotPositive { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("not positive definite"), "{e}");
    let e = fail(ConjugateGradient::new().solve_preconditioned(&k, 1.0, &b, &Negate(49)));
    assert!(
        matches!(
            e,
            KeopsError::OperandLength {
                expected: 50,
                found: 49
            }
        ),
        "{e:?}"
    );
}

/// Columns and diagonal of a kernel matrix, evaluated directly, against dense f64 entries; and
/// the default `columns` of a user's operator (products with unit vectors).
#[test]
fn kernel_columns_match_dense() {
    let mut rng = Rng::named("columns", 1);
    let n = 300;
    let x = rng.vec(2 * n, 0.0, 1.0);
    let cols = [0, 7, 299, 7, 130];
    let s = 0.2;
    let mut out = vec![0.0; n * cols.len()];
    laplacian_matrix(&x, s)
        .columns_into(&cols, &mut out)
        .unwrap();
    let xf: Vec<f32> = to_t(&x);
    let mut out32 = vec![0.0; n * cols.len()];
    laplacian_matrix(&xf, s)
        .columns_into(&cols, &mut out32)
        .unwrap();
    let xr = round::<f32>(&x);
    for (c, &j) in cols.iter().enumerate() {
        for i in 0..n {
            let want = laplacian(&x[2 * i..2 * i + 2], &x[2 * j..2 * j + 2], s);
            assert!((out[c * n + i] - want).abs() < 1e-14, "({i}, {j})");
            let want = laplacian(&xr[2 * i..2 * i + 2], &xr[2 * j..2 * j + 2], s);
            assert!((out32[c * n + i] - want).abs() < 1e-6, "f32 ({i}, {j})");
        }
    }
    let d = laplacian_matrix(&x, s).diagonal();
    assert_eq!(d, vec![1.0; n]);
    let e = laplacian_matrix(&x, s)
        .columns_into(&[300], &mut vec![0.0; n])
        .unwrap_err();
    assert!(
        matches!(
            e,
            KeopsError::ColumnOutOfRange {
                col: 300,
                ncols: 300
            }
        ),
        "{e:?}"
    );
    let e = laplacian_matrix(&x, s)
        .columns_into(&[1], &mut vec![0.0; n - 1])
        .unwrap_err();
    assert!(matches!(e, KeopsError::OutputLength { .. }), "{e:?}");
    // The default through products: 70 columns (two groups of products).
    let a = DMatrix::from_fn(n, n, |i, j| (i * 3 + j * 5) as f64 % 7.0);
    let cols: Vec<usize> = (0..70).map(|c| (c * 13) % n).collect();
    let mut out = vec![0.0; n * cols.len()];
    Dense(a.clone(), false).columns(&cols, &mut out).unwrap();
    for (c, &j) in cols.iter().enumerate() {
        for i in 0..n {
            assert_eq!(out[c * n + i], a[(i, j)]);
        }
    }
}
