//! GPyTorch's modified batched conjugate gradient (mBCG, Gardner et al. 2018): one solve of
//! `(alpha I + A) X = B` for many columns that also gives, per column, the Lanczos tridiagonal
//! matrix its CG coefficients define, for Gaussian-process log marginal likelihoods.
//!
//! With probes `z_c ~ N(0, M)` ([`NystromPreconditioner::sample`]) among the columns,
//! stochastic Lanczos quadrature estimates
//!
//! `log det(alpha I + A) ≈ log det M + (1/P) Σ_c rz0_c e1^T ln(T_c) e1`
//!
//! ([`NystromPreconditioner::log_det`], [`BatchedSolve::initial_rz`],
//! [`Tridiagonal::quadrature`]) from the same products that solve for the data.
//!
//! [`NystromPreconditioner::sample`]: crate::NystromPreconditioner::sample
//! [`NystromPreconditioner::log_det`]: crate::NystromPreconditioner::log_det

mod batch;
#[cfg(test)]
mod tests;

use nalgebra::{DMatrix, SymmetricEigen};

use super::control::column_scales;
use super::{LinearOperator, Preconditioner};
use crate::{KeopsError, Real};
use batch::{dots, Batch};

/// The Lanczos tridiagonal matrix of one column of a batched CG (symmetric: diagonal and
/// off-diagonal), of the preconditioned operator `M^-1/2 (alpha I + A) M^-1/2` started at
/// `M^-1/2 b / ||M^-1/2 b||`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tridiagonal {
    /// `T_jj`, one per iteration.
    pub diagonal: Vec<f64>,
    /// `T_j,j+1`, one fewer.
    pub off_diagonal: Vec<f64>,
}

impl Tridiagonal {
    /// `e1^T f(T) e1` by the eigen-decomposition of `T` (small: one row per iteration): the
    /// Gauss quadrature of `f` for the spectral measure of the start vector, so that
    /// `rz0 * quadrature(f) ≈ b^T M^-1/2 f(M^-1/2 (alpha I + A) M^-1/2) M^-1/2 b`. 0 when empty.
    pub fn quadrature(&self, f: impl Fn(f64) -> f64) -> f64 {
        let (d, e) = (&self.diagonal, &self.off_diagonal);
        let m = d.len();
        if m == 0 {
            return 0.0;
        }
        let t = DMatrix::from_fn(m, m, |i, j| match i.abs_diff(j) {
            0 => d[i],
            1 => e[i.min(j)],
            _ => 0.0,
        });
        let eig = SymmetricEigen::new(t);
        let weights = eig.eigenvectors.row(0);
        eig.eigenvalues
            .iter()
            .zip(weights.iter())
            .map(|(&l, &q)| f(l) * q * q)
            .sum()
    }
}

/// What [`batched_cg`] returns: the solutions and, per column, its Lanczos coefficients.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchedSolve {
    /// `X`, `(n, k)` row-major like `B`.
    pub solutions: Vec<f64>,
    /// Per column, the Lanczos matrix of its iterations (empty for a zero column).
    pub tridiagonals: Vec<Tridiagonal>,
    /// Per column, its iterations (0 for a zero column).
    pub column_iterations: Vec<usize>,
    /// Per column, the recurrence's relative residual `||r|| / ||b||` where it stopped (0 for
    /// a zero column).
    pub residuals: Vec<f64>,
    /// Per column, `r0^T M^-1 r0 = ||M^-1/2 b||^2`, the weight of its quadrature.
    pub initial_rz: Vec<f64>,
}

/// Solves `(alpha I + A) X = B` for `k` columns at once by preconditioned CG without restarts,
/// recording for every column the Lanczos tridiagonal matrix of the preconditioned operator
/// `M^-1/2 (alpha I + A) M^-1/2` that its CG coefficients define (`T_jj = 1/a_j +
/// b_{j-1}/a_{j-1}`, `T_j,j+1 = sqrt(b_j)/a_j`; GPyTorch's modified batched CG, Gardner et al.
/// 2018). No restarts, best iterate nor true residual, unlike [`ConjugateGradient`]: they
/// would break the Lanczos relation.
///
/// `b` is `(n, k)` row-major. Each iteration is one [`LinearOperator::apply_shifted`] for all
/// columns still iterating; a column stops when its recurrence's `||r|| / ||b||` is at most
/// `tolerance`, or after `max_iterations`. Errors: invalid input, a curvature `p^T (alpha I +
/// A) p` that is not positive ([`KeopsError::NotPositiveDefinite`]), or a preconditioner that
/// is not ([`KeopsError::PreconditionerNotPositive`]).
///
/// [`ConjugateGradient`]: crate::ConjugateGradient
pub fn batched_cg<T: Real, A: LinearOperator<T> + ?Sized>(
    op: &A,
    alpha: f64,
    b: &[f64],
    k: usize,
    preconditioner: Option<&dyn Preconditioner>,
    tolerance: f64,
    max_iterations: usize,
) -> Result<BatchedSolve, KeopsError> {
    let n = check(op, alpha, b, k, preconditioner, tolerance)?;
    // Powers of two, exact: no squared norm overflows (see `column_scale`).
    let scale = column_scales(b, k);
    let scaled: Vec<f64> = (b.iter().enumerate())
        .map(|(j, v)| v * scale[j % k])
        .collect();
    let norms: Vec<f64> = dots(&scaled, &scaled, k).iter().map(|v| v.sqrt()).collect();
    let mut out = BatchedSolve {
        solutions: vec![0.0; n * k],
        tridiagonals: vec![Tridiagonal::default(); k],
        column_iterations: vec![0; k],
        residuals: vec![0.0; k],
        initial_rz: vec![0.0; k],
    };
    let cols = (0..k).filter(|&c| norms[c] > 0.0).collect();
    let mut batch = Batch::<T>::new(&scaled, k, cols, preconditioner)?;
    for (&c, &rz) in batch.cols.iter().zip(&batch.rz) {
        out.initial_rz[c] = rz / (scale[c] * scale[c]);
        out.residuals[c] = 1.0;
    }
    // Per column, CG's step sizes a_j and ratios b_j.
    let mut lanczos = vec![(Vec::new(), Vec::new()); k];
    let mut iteration = 0;
    while !batch.cols.is_empty() && iteration < max_iterations {
        iteration += 1;
        let steps = batch.steps(op, alpha, iteration)?;
        let rr = batch.step(&steps);
        let last = iteration == max_iterations;
        let done: Vec<bool> = (batch.cols.iter().zip(steps.iter().zip(&rr)))
            .map(|(&c, (&a, rr))| {
                lanczos[c].0.push(a);
                out.residuals[c] = rr.sqrt() / norms[c];
                out.column_iterations[c] = iteration;
                last || out.residuals[c] <= tolerance
            })
            .collect();
        batch.retire(&done, &mut out.solutions, &scale);
        if !batch.cols.is_empty() {
            for (c, beta) in batch.next_direction(preconditioner, iteration)? {
                lanczos[c].1.push(beta);
            }
        }
    }
    for (t, (a, b)) in out.tridiagonals.iter_mut().zip(&lanczos) {
        *t = tridiagonal(a, b);
    }
    Ok(out)
}

/// The Lanczos matrix from CG's step sizes `a` and ratios `b` (one fewer).
fn tridiagonal(a: &[f64], b: &[f64]) -> Tridiagonal {
    let diagonal = (0..a.len())
        .map(|j| 1.0 / a[j] + if j > 0 { b[j - 1] / a[j - 1] } else { 0.0 })
        .collect();
    let off_diagonal = b.iter().zip(a).map(|(b, a)| b.sqrt() / a).collect();
    Tridiagonal {
        diagonal,
        off_diagonal,
    }
}

/// Checks the input as [`ConjugateGradient`](crate::ConjugateGradient) does; returns `n`.
fn check<T: Real, A: LinearOperator<T> + ?Sized>(
    op: &A,
    alpha: f64,
    b: &[f64],
    k: usize,
    pre: Option<&dyn Preconditioner>,
    tolerance: f64,
) -> Result<usize, KeopsError> {
    let n = op.nrows();
    if op.ncols() != n {
        let cols = op.ncols();
        return Err(KeopsError::NotSquare { rows: n, cols });
    }
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(KeopsError::InvalidAlpha { alpha });
    }
    if !(tolerance.is_finite() && tolerance > 0.0) {
        return Err(KeopsError::InvalidTolerance { tolerance });
    }
    if k == 0 {
        return Err(KeopsError::ZeroDimension);
    }
    let rows = b.len() / k;
    let size = pre.map_or(n, |p| p.size());
    if let Some(found) = [rows, size].into_iter().find(|&f| f != n) {
        return Err(KeopsError::OperandLength { expected: n, found });
    }
    if !b.len().is_multiple_of(k) {
        return Err(KeopsError::OperandLength {
            expected: n,
            found: rows,
        });
    }
    match b.iter().position(|v| !v.is_finite()) {
        Some(j) => Err(KeopsError::NonFinite {
            var: "the right-hand side".into(),
            row: j / k,
            col: j % k,
            value: b[j],
        }),
        None => Ok(n),
    }
}
