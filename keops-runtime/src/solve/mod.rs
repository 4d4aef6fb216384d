//! Matrix-free solves of `(alpha I + A) x = b`, the kernel interpolation / kriging /
//! Gaussian-process system: `A` is only ever applied to vectors ([`LinearOperator`]), so a kernel
//! matrix is never stored.
//!
//! CG needs about `sqrt(cond)` iterations; a preconditioner `M ≈ alpha I + A` whose inverse is
//! cheap ([`Preconditioner`]) makes it work on `M^-1 (alpha I + A)` instead, whose condition
//! number is small when `M` captures the large eigenvalues of `A`: [`Jacobi`] from the diagonal,
//! [`NystromPreconditioner`] from a few columns (kernel matrices have a few large eigenvalues and
//! many small ones, which is what a Nyström approximation captures).
//!
//! - [`cg`]: the conjugate gradient's settings and host solves ([`ConjugateGradient`]);
//! - [`iteration`]: one iteration for every backend (its vectors behind
//!   [`iteration::CgVectors`]): best iterate, stagnation, restarts, breakdown diagnosis;
//! - [`control`]: what a solve reports and what steers it ([`Progress`], [`Termination`],
//!   [`PreconditionerFallback`]);
//! - [`host`]: its vectors in host memory, with a preconditioner;
//! - [`jacobi`], [`nystrom`] (its basis in [`basis`]): the preconditioners;
//! - [`mbcg`]: [`batched_cg`], the batched CG that also gives the Lanczos coefficients of each
//!   column (stochastic Lanczos quadrature of `log det(alpha I + A)`).

mod basis;
mod cg;
mod control;
mod host;
mod iteration;
mod jacobi;
mod mbcg;
mod nystrom;
#[cfg(test)]
mod tests;

#[cfg(feature = "cuda")]
pub(crate) use cg::col_dot;
pub use cg::{ConjugateGradient, Preconditioning};
#[cfg(feature = "cuda")]
pub(crate) use control::{column_scale, Conditioning};
pub use control::{Callback, NumericallySingular, PreconditionerFallback, Progress, Termination};
#[cfg(feature = "cuda")]
pub(crate) use iteration::{conjugate_gradient, CgOutcome, CgStart, CgVectors};
pub use jacobi::Jacobi;
pub use mbcg::{batched_cg, BatchedSolve, Tridiagonal};
pub use nystrom::sample_indices;
pub(crate) use nystrom::splitmix64;
pub use nystrom::{Landmarks, Nystrom, NystromPreconditioner};

use std::time::Duration;

use crate::{BoundKernel, KeopsError, KernelMatrix, ProductOut, Real, Rows};

/// A linear operator `y = A x` applied to `k` columns at once (row-major `(rows, k)` blocks).
///
/// [`KernelMatrix`] implements it; implement it for your own operator to use
/// [`ConjugateGradient`] with it. The solver needs `A` symmetric positive (semi)definite.
pub trait LinearOperator<T: Real>: Sync {
    /// Rows of `A` (the length of `A x`).
    fn nrows(&self) -> usize;
    /// Columns of `A` (the length of `x`).
    fn ncols(&self) -> usize;
    /// `out = A x` for `x` of shape `(ncols, k)` and `out` of shape `(nrows, k)`, both row-major.
    /// The solver calls it with exactly these lengths and finite `x`.
    fn apply(&self, x: &[T], k: usize, out: &mut [T]) -> Result<(), KeopsError>;
    /// `out = alpha x + A x` in f64, the solver's product with `alpha I + A`. `scratch` has the
    /// length of `out`, for an implementation that needs `A x` in `T` first (this default one).
    /// [`KernelMatrix`] adds `alpha x` to its f64 sums directly and needs no scratch.
    fn apply_shifted(
        &self,
        alpha: f64,
        x: &[T],
        k: usize,
        out: &mut [f64],
        scratch: &mut [T],
    ) -> Result<(), KeopsError> {
        self.apply(x, k, scratch)?;
        for ((o, s), x) in out.iter_mut().zip(scratch.iter()).zip(x) {
            *o = alpha * x.to_f64() + s.to_f64();
        }
        Ok(())
    }
    /// The columns `cols` of `A` in f64, column-major: `out[c * nrows + i] = A[i, cols[c]]`, for
    /// a Nyström preconditioner. This default applies `A` to unit vectors (one product per 64
    /// columns); a kernel matrix evaluates the entries directly.
    fn columns(&self, cols: &[usize], out: &mut [f64]) -> Result<(), KeopsError> {
        let (n, nc) = (self.nrows(), self.ncols());
        crate::bound::check_columns(n, nc, cols, out.len())?;
        const GROUP: usize = 64;
        for (g, group) in cols.chunks(GROUP).enumerate() {
            let q = group.len();
            let mut x = vec![T::ZERO; nc * q];
            for (c, &j) in group.iter().enumerate() {
                x[j * q + c] = T::ONE;
            }
            let mut y = vec![T::ZERO; n * q];
            self.apply(&x, q, &mut y)?;
            for c in 0..q {
                let dst = &mut out[(g * GROUP + c) * n..(g * GROUP + c + 1) * n];
                for (o, y) in dst.iter_mut().zip(y.iter().skip(c).step_by(q)) {
                    *o = y.to_f64();
                }
            }
        }
        Ok(())
    }
    /// The Nyström settings [`Preconditioning::Auto`] uses for this operator: greedy landmarks,
    /// automatic rank ([`Nystrom::new`]). An operator whose products cost much less than a
    /// kernel matrix's (a hierarchical one) asks for fewer landmarks, so that the setup (`n m^2`
    /// flops) stays within a few of its products.
    fn auto_nystrom(&self) -> Nystrom {
        Nystrom::new()
    }
    /// The diagonal `A_ii` in f64 (`out` has `nrows` entries), for the Jacobi preconditioner and
    /// greedy Nyström landmarks. This default reports [`KeopsError::NoDiagonal`].
    fn diagonal(&self, out: &mut [f64]) -> Result<(), KeopsError> {
        let _ = out;
        Err(KeopsError::NoDiagonal)
    }
}

impl<T: Real, B: BoundKernel<T>> LinearOperator<T> for KernelMatrix<T, B> {
    fn nrows(&self) -> usize {
        KernelMatrix::nrows(self)
    }
    fn ncols(&self) -> usize {
        KernelMatrix::ncols(self)
    }
    fn apply(&self, x: &[T], k: usize, out: &mut [T]) -> Result<(), KeopsError> {
        self.product(x, k, ProductOut::Real(out));
        Ok(())
    }
    fn apply_shifted(
        &self,
        alpha: f64,
        x: &[T],
        k: usize,
        out: &mut [f64],
        _scratch: &mut [T],
    ) -> Result<(), KeopsError> {
        self.product(x, k, ProductOut::Shifted { out, alpha });
        Ok(())
    }
    fn columns(&self, cols: &[usize], out: &mut [f64]) -> Result<(), KeopsError> {
        self.columns_into(cols, out)
    }
    fn diagonal(&self, out: &mut [f64]) -> Result<(), KeopsError> {
        if KernelMatrix::nrows(self) != KernelMatrix::ncols(self) {
            return Err(KeopsError::NotSquare {
                rows: KernelMatrix::nrows(self),
                cols: KernelMatrix::ncols(self),
            });
        }
        self.diagonal_into(out);
        Ok(())
    }
}

/// `z = M^-1 r` for a symmetric positive definite `M ≈ alpha I + A`, the matrix of a solve.
///
/// The solver applies it to its residuals (f64, row-major `(n, k)` blocks, one column per
/// right-hand side still iterating). Implement it for your own preconditioner and pass it to
/// [`ConjugateGradient::solve_preconditioned`](crate::ConjugateGradient::solve_preconditioned).
pub trait Preconditioner: Sync {
    /// Rows of `M` (the solve's `n`).
    fn size(&self) -> usize;
    /// `out = M^-1 r` for `r` and `out` of shape `(size, k)`, row-major. It must be the same
    /// symmetric positive definite linear map at every call.
    fn apply(&self, r: &[f64], k: usize, out: &mut [f64]);
    /// A name for [`Solution::preconditioner`](crate::Solution::preconditioner).
    fn name(&self) -> &'static str {
        "custom"
    }
    /// The rank of a low-rank part (Nyström landmarks), 0 without one.
    fn rank(&self) -> usize {
        0
    }
}

/// The coefficients `a` of `(alpha I + A) a = b`, with how the solve went.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution<T> {
    /// `a`, shape `(n, k)` like `b`.
    pub coefficients: Rows<T>,
    /// Iterations of the column that needed most (each iteration is one product with `A`, shared
    /// by all columns still iterating).
    pub iterations: usize,
    /// Largest relative residual `||b - (alpha I + A) a|| / ||b||` over the columns, recomputed
    /// from `a` at the end (not the recurrence's estimate).
    pub residual: f64,
    /// Iterations per column of `b`.
    pub column_iterations: Vec<usize>,
    /// Relative residual per column of `b` (0 for a zero column, whose solution is 0).
    pub column_residuals: Vec<f64>,
    /// The preconditioner used: `"none"`, `"jacobi"`, `"nystrom"`, or a user's
    /// [`Preconditioner::name`].
    pub preconditioner: &'static str,
    /// Its rank: the number of Nyström landmarks `m` (0 for the others).
    pub rank: usize,
    /// Time spent building the preconditioner (zero when the caller built it).
    pub setup_time: Duration,
    /// Time spent iterating, the final true residual included.
    pub iteration_time: Duration,
    /// Why the iteration ended ([`Termination::Converged`] for a solution returned as `Ok`).
    pub termination: Termination,
    /// Why [`Preconditioning::Auto`] solved without its Nyström preconditioner, when it did so
    /// on purpose (`alpha` too small for its factor, or a failed preconditioned attempt).
    pub fallback: Option<PreconditionerFallback>,
    /// Set when `alpha` is too small next to the operator's diagonal for the data's precision
    /// (the system is numerically singular: expect stagnation); `None` when the operator does
    /// not give its diagonal.
    pub singular: Option<NumericallySingular>,
    /// For an approximate operator (a [`HierarchicalMatrix`](crate::HierarchicalMatrix)): the
    /// relative residual of the exact system, `||b - (alpha I + K) a|| / ||b||` on sampled rows
    /// with exact products, next to [`residual`](Self::residual), the approximate system's.
    pub sampled_residual: Option<f64>,
}

/// Why a solve failed. Non-convergence keeps the best iterate, so a caller can still use it.
#[derive(Debug, thiserror::Error)]
pub enum SolveError<T: Real> {
    /// The iteration cap was reached, the true residual stopped decreasing above the tolerance
    /// (`stagnated`: the precision limit of the products, typically in `f32`, or an `alpha` too
    /// small for the kernel's conditioning), or the iteration callback stopped the solve, before
    /// every column met the tolerance.
    #[error("conjugate gradient did not converge: relative residual {:.3e} after {} iterations (tolerance {tolerance:.1e}){}", .solution.residual, .solution.iterations, solution.hint())]
    NotConverged {
        /// The best iterate (smallest true residual seen), with its iterations and true
        /// residuals.
        solution: Box<Solution<T>>,
        /// The relative tolerance.
        tolerance: f64,
        /// The residual stopped decreasing before the iteration cap.
        stagnated: bool,
    },
    /// Invalid input or a breakdown ([`KeopsError::NotPositiveDefinite`]).
    #[error(transparent)]
    Failed(#[from] KeopsError),
}

impl<T: Real> Solution<T> {
    /// What a solve that did not converge tells its user.
    fn hint(&self) -> String {
        let mut hint = match (self.termination, &self.singular) {
            (Termination::Stopped, _) => "; stopped by the iteration callback".to_string(),
            // Rounding, not the iteration cap nor f32 alone, is what stops it.
            (_, Some(s)) => format!("; {s}"),
            (t, None) => crate::error::stagnation_hint(t == Termination::Stagnated).to_string(),
        };
        if let Some(f) = &self.fallback {
            hint.push_str(&format!(" ({f})"));
        }
        hint
    }
}

impl<T: Real> SolveError<T> {
    /// The best iterate of a solve that did not converge.
    pub fn into_solution(self) -> Option<Solution<T>> {
        match self {
            SolveError::NotConverged { solution, .. } => Some(*solution),
            SolveError::Failed(_) => None,
        }
    }
}

impl<T: Real> From<SolveError<T>> for KeopsError {
    fn from(e: SolveError<T>) -> Self {
        match e {
            SolveError::NotConverged {
                solution,
                tolerance,
                stagnated,
            } => KeopsError::NotConverged {
                iterations: solution.iterations,
                residual: solution.residual,
                tolerance,
                stagnated,
            },
            SolveError::Failed(e) => e,
        }
    }
}
