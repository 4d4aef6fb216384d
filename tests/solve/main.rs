//! The conjugate-gradient solve `(alpha I + K) a = b` against a dense Cholesky solve (nalgebra, f64),
//! on the tutorial's two problems at N = 500 (not a multiple of any tile size), in f32 and f64,
//! with one and several right-hand sides; and its typed errors.

#[path = "../common/mod.rs"]
mod common;

use common::Rng;
use keops::prelude::*;
use nalgebra::DMatrix;

mod cholesky;
mod columns;
mod operators;
mod preconditioning;
mod robust;

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
    let sampled = Nystrom::new().landmarks(Landmarks::SampledGreedy {
        rows: N / 3,
        seed: 3,
    });
    vec![
        (Preconditioning::Off, "none"),
        (Preconditioning::Auto, "nystrom"),
        (Preconditioning::Jacobi, "jacobi"),
        (Preconditioning::Nystrom(uniform.rank(37)), "nystrom"),
        (Preconditioning::Nystrom(Nystrom::new().rank(37)), "nystrom"),
        (Preconditioning::Nystrom(sampled.rank(37)), "nystrom"),
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
                Preconditioning::Nystrom(nys)
                    if matches!(nys.get_landmarks(), Landmarks::Uniform { .. }) =>
                {
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
