//! [`batched_cg`], [`Tridiagonal::quadrature`] and the Nyström preconditioner's `log_det` and
//! `sample` against dense references (nalgebra) on a Gaussian kernel matrix of random points.

use std::sync::Mutex;

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::{batched_cg, Tridiagonal};
use crate::solve::splitmix64;
use crate::{KeopsError, Landmarks, LinearOperator, Nystrom, NystromPreconditioner};
use crate::{Preconditioner, Real};

/// Points: not a multiple of any block size.
const N: usize = 137;
const ALPHA: f64 = 0.1;
/// The kernel's width: narrow enough that rank 20 leaves work for CG, and that `W` of 20 random
/// landmarks is well conditioned (a numerically singular `W` makes a uniform `log_det` inexact).
const WIDTH: f64 = 0.25;

/// A dense symmetric matrix in `T` (row-major), applied with f64 sums; records the column count
/// of every product.
struct Dense<T> {
    n: usize,
    a: Vec<T>,
    widths: Mutex<Vec<usize>>,
}

impl<T: Real> Dense<T> {
    /// The Gaussian kernel `exp(-(x_i - x_j)^2 / (2 WIDTH^2))` of `n` random points in `[0, 10)`.
    fn gaussian(n: usize) -> Self {
        let x = uniform(n, 11, 10.0);
        let a = (0..n * n)
            .map(|e| T::from_f64((-((x[e / n] - x[e % n]) / WIDTH).powi(2) / 2.0).exp()))
            .collect();
        Dense::new(n, a)
    }
    fn new(n: usize, a: Vec<T>) -> Self {
        let widths = Mutex::new(Vec::new());
        Dense { n, a, widths }
    }
    /// `alpha I + A` in f64.
    fn shifted(&self, alpha: f64) -> DMatrix<f64> {
        let n = self.n;
        DMatrix::from_fn(n, n, |i, j| {
            self.a[i * n + j].to_f64() + if i == j { alpha } else { 0.0 }
        })
    }
}

impl<T: Real> LinearOperator<T> for Dense<T> {
    fn nrows(&self) -> usize {
        self.n
    }
    fn ncols(&self) -> usize {
        self.n
    }
    fn apply(&self, x: &[T], k: usize, out: &mut [T]) -> Result<(), KeopsError> {
        self.widths.lock().unwrap().push(k);
        let n = self.n;
        for i in 0..n {
            for c in 0..k {
                let s: f64 = (0..n)
                    .map(|j| self.a[i * n + j].to_f64() * x[j * k + c].to_f64())
                    .sum();
                out[i * k + c] = T::from_f64(s);
            }
        }
        Ok(())
    }
    fn diagonal(&self, out: &mut [f64]) -> Result<(), KeopsError> {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.a[i * self.n + i].to_f64();
        }
        Ok(())
    }
}

/// `n` reals in `[0, scale)` from a seed.
fn uniform(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| (splitmix64(&mut s) >> 11) as f64 / (1u64 << 53) as f64 * scale)
        .collect()
}

/// Column `c` of an `(n, k)` row-major block.
fn column(v: &[f64], k: usize, c: usize) -> DVector<f64> {
    DVector::from_iterator(v.len() / k, v.iter().skip(c).step_by(k).copied())
}

fn relative(x: &DVector<f64>, y: &DVector<f64>) -> f64 {
    (x - y).norm() / y.norm()
}

/// The three preconditioners: none, greedy and uniform Nyström of rank 20.
fn preconditioners<T: Real>(op: &Dense<T>) -> Vec<Option<NystromPreconditioner>> {
    let nys = Nystrom::new().rank(20);
    let greedy = nys.landmarks(Landmarks::Greedy).build(op, ALPHA).unwrap();
    let uniform = nys.landmarks(Landmarks::Uniform { seed: 3 });
    let uniform = uniform.build(op, ALPHA).unwrap();
    assert_eq!((greedy.rank(), uniform.rank()), (20, 20));
    vec![None, Some(greedy), Some(uniform)]
}

fn as_dyn(p: &Option<NystromPreconditioner>) -> Option<&dyn Preconditioner> {
    p.as_ref().map(|p| p as &dyn Preconditioner)
}

/// `M^-1` densely, from the preconditioner applied to the identity (`I` without one).
fn dense_inverse(pre: Option<&dyn Preconditioner>, n: usize) -> DMatrix<f64> {
    let identity = DMatrix::<f64>::identity(n, n);
    let Some(pre) = pre else { return identity };
    let mut out = vec![0.0; n * n];
    pre.apply(identity.as_slice(), n, &mut out);
    let m = DMatrix::from_row_slice(n, n, &out);
    (&m + m.transpose()) * 0.5
}

/// `f(S)` for a symmetric `S`.
fn function(s: DMatrix<f64>, f: impl Fn(f64) -> f64) -> DMatrix<f64> {
    let e = SymmetricEigen::new(s);
    let d = DMatrix::from_diagonal(&e.eigenvalues.map(f));
    &e.eigenvectors * d * e.eigenvectors.transpose()
}

fn ln_det(s: DMatrix<f64>) -> f64 {
    let l = s.cholesky().expect("SPD").unpack();
    2.0 * l.diagonal().iter().map(|d| d.ln()).sum::<f64>()
}

/// `(n, k)` random right-hand sides with column `zero` zero.
fn rhs(n: usize, k: usize, zero: usize) -> Vec<f64> {
    let mut b = uniform(n * k, 5, 2.0);
    b.iter_mut().for_each(|v| *v -= 1.0);
    (0..n).for_each(|i| b[i * k + zero] = 0.0);
    b
}

/// Solves like a dense Cholesky solve, with each preconditioner, in f64 and in f32.
fn check_solutions<T: Real>(tolerance: f64, accuracy: f64) {
    let op = Dense::<T>::gaussian(N);
    let (k, zero) = (4, 2);
    let b = rhs(N, k, zero);
    let chol = op.shifted(ALPHA).cholesky().unwrap();
    let mut iterations = Vec::new();
    for pre in &preconditioners(&op) {
        let s = batched_cg(&op, ALPHA, &b, k, as_dyn(pre), tolerance, 500).unwrap();
        for c in (0..k).filter(|&c| c != zero) {
            let exact = chol.solve(&column(&b, k, c));
            let err = relative(&column(&s.solutions, k, c), &exact);
            assert!(err < accuracy, "{} column {c}: {err:e}", T::NAME);
            assert!(s.residuals[c] <= tolerance, "{}", s.residuals[c]);
            assert_eq!(s.tridiagonals[c].diagonal.len(), s.column_iterations[c]);
            assert_eq!(
                s.tridiagonals[c].off_diagonal.len() + 1,
                s.column_iterations[c]
            );
        }
        assert!(column(&s.solutions, k, zero).iter().all(|&v| v == 0.0));
        assert_eq!(s.tridiagonals[zero], Tridiagonal::default());
        assert_eq!((s.column_iterations[zero], s.initial_rz[zero]), (0, 0.0));
        iterations.push(*s.column_iterations.iter().max().unwrap());
    }
    // Nyström pays: fewer iterations than without a preconditioner.
    assert!(
        iterations[1] < iterations[0] && iterations[2] < iterations[0],
        "{iterations:?}"
    );
}

#[test]
fn solutions_match_a_dense_cholesky_solve_in_f64() {
    check_solutions::<f64>(1e-11, 1e-8);
}

#[test]
fn solutions_match_a_dense_cholesky_solve_in_f32() {
    check_solutions::<f32>(1e-6, 1e-4);
}

#[test]
fn one_product_per_iteration_for_every_active_column() {
    let op = Dense::<f64>::gaussian(N);
    // Columns that converge after 2, 5 and many iterations: CG needs as many as the distinct
    // eigenvalues in b.
    let k = 3;
    let mut b = rhs(N, k, 0);
    let eigen = SymmetricEigen::new(op.shifted(0.0)).eigenvectors;
    for i in 0..N {
        b[i * k] = eigen[(i, 0)] + eigen[(i, 1)];
        b[i * k + 1] = (10..15).map(|j| eigen[(i, j)]).sum();
    }
    op.widths.lock().unwrap().clear();
    let s = batched_cg(&op, ALPHA, &b, k, None, 1e-10, 500).unwrap();
    let widths = op.widths.lock().unwrap().clone();
    let its = &s.column_iterations;
    assert_eq!(widths.len(), *its.iter().max().unwrap());
    // The width of product j is the number of columns that needed more than j iterations.
    for (j, &w) in widths.iter().enumerate() {
        assert_eq!(
            w,
            its.iter().filter(|&&i| i > j).count(),
            "{widths:?} {its:?}"
        );
    }
    assert!(widths.windows(2).all(|w| w[0] >= w[1]));
    assert!(its[0] <= 3 && its[1] <= 6 && its[2] > 10, "{its:?}");
}

#[test]
fn stops_at_the_iteration_cap() {
    let op = Dense::<f64>::gaussian(N);
    let b = rhs(N, 2, 1);
    let s = batched_cg(&op, ALPHA, &b, 2, None, 1e-12, 3).unwrap();
    assert_eq!(s.column_iterations, vec![3, 0]);
    assert_eq!(s.tridiagonals[0].diagonal.len(), 3);
    assert!(s.residuals[0] > 1e-12);
    let s = batched_cg(&op, ALPHA, &b, 2, None, 1e-12, 0).unwrap();
    assert!(s.solutions.iter().all(|&v| v == 0.0));
    assert_eq!((s.residuals[0], s.column_iterations[0]), (1.0, 0));
    assert!(s.tridiagonals[0].diagonal.is_empty() && s.initial_rz[0] > 0.0);
}

#[test]
fn invalid_input_and_breakdowns_are_errors() {
    let op = Dense::<f64>::gaussian(N);
    let mut b = rhs(N, 2, 1);
    let run = |b: &[f64], k| batched_cg(&op, ALPHA, b, k, None, 1e-8, 100);
    assert!(matches!(run(&b, 0), Err(KeopsError::ZeroDimension)));
    assert!(matches!(
        run(&b[1..], 2),
        Err(KeopsError::OperandLength { .. })
    ));
    assert!(matches!(run(&b, 3), Err(KeopsError::OperandLength { .. })));
    b[2 * 5 + 1] = f64::NAN;
    let e = run(&b, 2);
    assert!(
        matches!(e, Err(KeopsError::NonFinite { row: 5, col: 1, .. })),
        "{e:?}"
    );
    // -I is negative definite: the first curvature is negative.
    let neg = Dense::new(3, vec![-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0]);
    let e = batched_cg(&neg, 0.0, &[1.0, 2.0, 3.0], 1, None, 1e-8, 10);
    assert!(matches!(
        e,
        Err(KeopsError::NotPositiveDefinite {
            iteration: 1,
            column: 0,
            ..
        })
    ));
}

#[test]
fn quadrature_reproduces_the_moments_of_t() {
    let t = Tridiagonal {
        diagonal: vec![2.0, 3.0, 5.0],
        off_diagonal: vec![0.5, 0.25],
    };
    // e1^T T e1 = T_11, e1^T T^2 e1 = T_11^2 + T_12^2, e1^T I e1 = 1.
    assert!((t.quadrature(|x| x) - 2.0).abs() < 1e-14);
    assert!((t.quadrature(|x| x * x) - 4.25).abs() < 1e-13);
    assert!((t.quadrature(|_| 1.0) - 1.0).abs() < 1e-14);
    assert_eq!(Tridiagonal::default().quadrature(f64::ln), 0.0);
}

#[test]
fn quadrature_of_a_converged_run_is_the_quadratic_form() {
    let op = Dense::<f64>::gaussian(N);
    let b = rhs(N, 1, 0).iter().map(|v| v + 0.5).collect::<Vec<_>>();
    let a = op.shifted(ALPHA);
    for pre in &preconditioners(&op) {
        let pre = as_dyn(pre);
        let s = batched_cg(&op, ALPHA, &b, 1, pre, 1e-13, N).unwrap();
        // b^T M^-1/2 ln(M^-1/2 (alpha I + A) M^-1/2) M^-1/2 b.
        let root = function(dense_inverse(pre, N), f64::sqrt);
        let log = function(&root * &a * &root, f64::ln);
        let v = &root * DVector::from_column_slice(&b);
        let exact = v.dot(&(log * &v));
        let quad = s.initial_rz[0] * s.tridiagonals[0].quadrature(f64::ln);
        assert!((quad - exact).abs() < 1e-8 * exact.abs(), "{quad} {exact}");
        assert!((s.initial_rz[0] - v.norm_squared()).abs() < 1e-12 * v.norm_squared());
    }
}

#[test]
fn slq_estimates_the_log_determinant() {
    let op = Dense::<f64>::gaussian(N);
    let exact = ln_det(op.shifted(ALPHA));
    // Rank 40: the probes' variance leaves a wide margin (rank 20 errs by up to 1e-2).
    let pre = Nystrom::new().rank(40).build(&op, ALPHA).unwrap();
    let probes = 64;
    let z = pre.sample(probes, 42);
    let s = batched_cg(&op, ALPHA, &z, probes, Some(&pre), 1e-10, N).unwrap();
    let quad = (0..probes)
        .map(|c| s.initial_rz[c] * s.tridiagonals[c].quadrature(f64::ln))
        .sum::<f64>();
    let estimate = pre.log_det() + quad / probes as f64;
    assert!(
        (estimate - exact).abs() < 1e-2 * exact.abs(),
        "{estimate} {exact}"
    );
    // The quadrature's part matters: without it the error is tens of times larger.
    let alone = (pre.log_det() - exact).abs();
    assert!(
        (estimate - exact).abs() < 0.1 * alone,
        "{estimate} {exact} {alone}"
    );
}

#[test]
fn log_det_is_that_of_the_preconditioner_applied() {
    let check = |pre: &NystromPreconditioner| {
        let exact = -ln_det(dense_inverse(Some(pre), N));
        let err = (pre.log_det() - exact).abs();
        assert!(
            err < 1e-10 * exact.abs(),
            "{} {exact} {:?}",
            pre.log_det(),
            pre
        );
    };
    preconditioners(&Dense::<f64>::gaussian(N))
        .iter()
        .flatten()
        .for_each(check);
    preconditioners(&Dense::<f32>::gaussian(N))
        .iter()
        .flatten()
        .for_each(check);
}

#[test]
fn trace_inverse_is_that_of_the_preconditioner_applied() {
    let check = |pre: &NystromPreconditioner| {
        let exact = dense_inverse(Some(pre), N).trace();
        let err = (pre.trace_inverse() - exact).abs();
        assert!(
            err < 1e-9 * exact,
            "{} {exact} {pre:?}",
            pre.trace_inverse()
        );
    };
    preconditioners(&Dense::<f64>::gaussian(N))
        .iter()
        .flatten()
        .for_each(check);
    preconditioners(&Dense::<f32>::gaussian(N))
        .iter()
        .flatten()
        .for_each(check);
}

#[test]
fn samples_have_covariance_m_and_are_reproducible() {
    let draws = 40_000;
    for pre in preconditioners(&Dense::<f64>::gaussian(N)).iter().flatten() {
        let z = pre.sample(draws, 9);
        assert_eq!(z, pre.sample(draws, 9));
        assert_ne!(z[..N], pre.sample(draws, 10)[..N]);
        let zm = DMatrix::from_row_slice(N, draws, &z);
        let cov = &zm * zm.transpose() / draws as f64;
        let m = dense_inverse(Some(pre), N).try_inverse().unwrap();
        let err = (&cov - &m).norm() / m.norm();
        assert!(err < 0.04, "covariance off by {err}");
        // M^-1/2 z is standard normal: E[z^T M^-1 z] = n.
        let mut w = vec![0.0; N * draws];
        pre.apply(&z, draws, &mut w);
        let whitened = z.iter().zip(&w).map(|(z, w)| z * w).sum::<f64>() / (N * draws) as f64;
        assert!((whitened - 1.0).abs() < 5e-3, "{whitened}");
    }
}
