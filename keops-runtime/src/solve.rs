//! Matrix-free conjugate gradient for `(alpha I + A) x = b`, the kernel interpolation / kriging /
//! Gaussian-process solve: `A` is only ever applied to vectors, so a kernel matrix is never stored.

use crate::{IntoView, KeopsError, KernelMatrix, Real, Rows};

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
}

impl<T: Real, B: crate::BoundKernel<T>> LinearOperator<T> for KernelMatrix<T, B> {
    fn nrows(&self) -> usize {
        KernelMatrix::nrows(self)
    }
    fn ncols(&self) -> usize {
        KernelMatrix::ncols(self)
    }
    fn apply(&self, x: &[T], k: usize, out: &mut [T]) -> Result<(), KeopsError> {
        self.product(x, k, crate::ProductOut::Real(out));
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
        self.product(x, k, crate::ProductOut::Shifted { out, alpha });
        Ok(())
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
}

/// Why a solve failed. Non-convergence keeps the last iterate, so a caller can still use it.
#[derive(Debug, thiserror::Error)]
pub enum SolveError<T: Real> {
    /// The iteration cap was reached, or the true residual stopped decreasing above the tolerance
    /// (`stagnated`: the precision limit of the products, typically in `f32`), before every column
    /// met the tolerance.
    #[error("conjugate gradient did not converge: relative residual {:.3e} after {} iterations (tolerance {tolerance:.1e}){}", .solution.residual, .solution.iterations, crate::error::stagnation_hint(*.stagnated))]
    NotConverged {
        /// The last iterate, with its iterations and true residuals.
        solution: Box<Solution<T>>,
        tolerance: f64,
        stagnated: bool,
    },
    /// Invalid input or a breakdown ([`KeopsError::NotPositiveDefinite`]).
    #[error(transparent)]
    Failed(#[from] KeopsError),
}

impl<T: Real> SolveError<T> {
    /// The last iterate of a solve that did not converge.
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

/// Conjugate gradient for `(alpha I + A) x = b` with `A` symmetric positive semidefinite and
/// `alpha >= 0` (positive definite overall).
///
/// Unlike KeOps' `solve` it stops on a relative tolerance `||r|| / ||b|| <= tol` per column of `b`,
/// caps the iterations, keeps its vectors and inner products in `f64` (only the products with `A`
/// run in the data's precision), recomputes the true residual `b - (alpha I + A) x` at the end
/// (restarting from it, at most a few times, if rounding made the recurrence optimistic), and
/// reports `p^T (alpha I + A) p <= 0` as [`KeopsError::NotPositiveDefinite`] instead of diverging.
/// All buffers are allocated once per solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConjugateGradient {
    tolerance: f64,
    max_iterations: usize,
}

impl Default for ConjugateGradient {
    fn default() -> Self {
        ConjugateGradient {
            tolerance: 1e-6,
            max_iterations: 1000,
        }
    }
}

/// Restarts from the true residual when the recurrence claims convergence but `b - A x` disagrees
/// (each must halve the worst residual, else the solve reports stagnation).
pub(crate) const MAX_RESTARTS: usize = 3;

impl ConjugateGradient {
    /// Relative tolerance 1e-6, at most 1000 iterations.
    pub fn new() -> Self {
        Self::default()
    }
    /// Stop when `||b - (alpha I + A) x|| <= tolerance * ||b||` (per column). Must be finite, > 0.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }
    /// Give up (with [`SolveError::NotConverged`]) after this many iterations.
    pub fn max_iterations(mut self, max_iterations: usize) -> Self {
        self.max_iterations = max_iterations;
        self
    }
    /// The relative tolerance.
    pub fn get_tolerance(&self) -> f64 {
        self.tolerance
    }
    /// The iteration cap.
    pub fn get_max_iterations(&self) -> usize {
        self.max_iterations
    }

    /// Solves `A x = b` for `b` of shape `(n, k)`: each column converges on its own.
    pub fn solve<'b, T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        b: impl IntoView<'b, T>,
    ) -> Result<Solution<T>, SolveError<T>> {
        self.solve_shifted(op, 0.0, b)
    }

    /// Solves `(alpha I + A) x = b` for `b` of shape `(n, k)`; `alpha` must be finite and `>= 0`.
    pub fn solve_shifted<'b, T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        b: impl IntoView<'b, T>,
    ) -> Result<Solution<T>, SolveError<T>> {
        let b = b.into_view();
        self.check(op.nrows(), op.ncols(), alpha, &b)?;
        Cg::new(op, alpha, self, b.as_slice(), op.nrows(), b.dim()).run()
    }

    /// The checks every solve makes before iterating: a square `(n, n)` operator, `alpha` finite
    /// and `>= 0`, a valid tolerance, `b` of shape `(n, k >= 1)` and finite.
    pub(crate) fn check<T: Real>(
        &self,
        nrows: usize,
        ncols: usize,
        alpha: f64,
        b: &crate::View<'_, T>,
    ) -> Result<(), KeopsError> {
        if ncols != nrows {
            return Err(KeopsError::NotSquare {
                rows: nrows,
                cols: ncols,
            });
        }
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(KeopsError::InvalidAlpha { alpha });
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(KeopsError::InvalidTolerance {
                tolerance: self.tolerance,
            });
        }
        if b.dim() == 0 {
            return Err(KeopsError::ZeroDimension);
        }
        if b.rows() != nrows {
            return Err(KeopsError::OperandLength {
                expected: nrows,
                found: b.rows(),
            });
        }
        b.check_finite("the right-hand side")
    }
}

/// State of one solve: `(n, k)` row-major blocks, vectors in f64, operator buffers in `T`.
struct Cg<'a, T: Real, A: ?Sized> {
    op: &'a A,
    alpha: f64,
    tol: f64,
    max_iter: usize,
    n: usize,
    k: usize,
    b: Vec<f64>,
    bnorm: Vec<f64>,
    x: Vec<f64>,
    r: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    rr: Vec<f64>,
    /// Operator input in the data's precision, `(n, active)` row-major, and the scratch of
    /// [`LinearOperator::apply_shifted`].
    t_in: Vec<T>,
    t_out: Vec<T>,
    /// `(alpha I + A) v` for the active columns, `(n, active)`, when not all are active.
    ap_active: Vec<f64>,
    active: Vec<usize>,
    iters: Vec<usize>,
    residual: Vec<f64>,
}

impl<'a, T: Real, A: LinearOperator<T> + ?Sized> Cg<'a, T, A> {
    fn new(op: &'a A, alpha: f64, cg: &ConjugateGradient, b: &[T], n: usize, k: usize) -> Self {
        let b: Vec<f64> = b.iter().map(|v| v.to_f64()).collect();
        let bnorm = (0..k).map(|c| col_dot(&b, &b, k, c).sqrt()).collect();
        Cg {
            op,
            alpha,
            tol: cg.tolerance,
            max_iter: cg.max_iterations,
            n,
            k,
            x: vec![0.0; n * k],
            r: b.clone(),
            p: b.clone(),
            ap: vec![0.0; n * k],
            rr: vec![0.0; k],
            t_in: vec![T::ZERO; n * k],
            t_out: vec![T::ZERO; n * k],
            ap_active: if k > 1 { vec![0.0; n * k] } else { Vec::new() },
            active: Vec::with_capacity(k),
            iters: vec![0; k],
            residual: vec![0.0; k],
            b,
            bnorm,
        }
    }

    fn run(mut self) -> Result<Solution<T>, SolveError<T>> {
        // x = 0: r = p = b. A zero column has the solution 0.
        for c in 0..self.k {
            self.rr[c] = self.bnorm[c] * self.bnorm[c];
            if self.bnorm[c] > 0.0 {
                self.active.push(c);
            }
        }
        let mut total = 0;
        let mut restarts = 0;
        let mut last_worst = f64::INFINITY;
        let mut stagnated = false;
        loop {
            while !self.active.is_empty() && total < self.max_iter {
                total += 1;
                self.iterate(total)?;
            }
            self.true_residual()?;
            let failing: Vec<usize> = (0..self.k)
                .filter(|&c| self.residual[c] > self.tol)
                .collect();
            if failing.is_empty() || total >= self.max_iter {
                break;
            }
            // Restarting only helps while it makes progress: products rounded to f32 put a floor
            // under the attainable residual (about 1e-7 to 1e-5 relative, more with cancellation).
            let worst = failing
                .iter()
                .map(|&c| self.residual[c])
                .fold(0.0, f64::max);
            if restarts == MAX_RESTARTS || worst > 0.5 * last_worst {
                stagnated = true;
                break;
            }
            last_worst = worst;
            // The recurrence drifted from b - A x: restart those columns from the true residual.
            restarts += 1;
            for &c in &failing {
                for i in 0..self.n {
                    self.p[i * self.k + c] = self.r[i * self.k + c];
                }
                self.rr[c] = col_dot(&self.r, &self.r, self.k, c);
            }
            self.active = failing;
        }
        let converged = self.residual.iter().all(|&r| r <= self.tol);
        let solution = Solution {
            coefficients: Rows::from_vec(self.x.iter().map(|&v| T::from_f64(v)).collect(), self.k)
                .expect("n * k buffer"),
            iterations: self.iters.iter().copied().max().unwrap_or(0),
            residual: self.residual.iter().copied().fold(0.0, f64::max),
            column_iterations: self.iters,
            column_residuals: self.residual,
        };
        if converged {
            Ok(solution)
        } else {
            Err(SolveError::NotConverged {
                solution: Box::new(solution),
                tolerance: self.tol,
                stagnated,
            })
        }
    }

    /// `ap = (alpha I + A) v` for the active columns of `v` (`p` or `x`): one fused product,
    /// `alpha v` added to the operator's f64 sums. `v` is rounded to `T` in place first, so that
    /// `ap` is the product of the vector it holds. Allocates nothing.
    fn apply_active(&mut self, use_x: bool) -> Result<(), KeopsError> {
        let (n, k, na) = (self.n, self.k, self.active.len());
        let v = if use_x { &mut self.x } else { &mut self.p };
        for i in 0..n {
            for (a, &c) in self.active.iter().enumerate() {
                let t = T::from_f64(v[i * k + c]);
                v[i * k + c] = t.to_f64();
                self.t_in[i * na + a] = t;
            }
        }
        let (x, scratch) = (&self.t_in[..n * na], &mut self.t_out[..n * na]);
        if na == k {
            // Every column: straight into `ap`.
            return self
                .op
                .apply_shifted(self.alpha, x, na, &mut self.ap, scratch);
        }
        let ap = &mut self.ap_active[..n * na];
        self.op.apply_shifted(self.alpha, x, na, ap, scratch)?;
        for i in 0..n {
            for (a, &c) in self.active.iter().enumerate() {
                self.ap[i * k + c] = ap[i * na + a];
            }
        }
        Ok(())
    }

    /// One CG step for every active column; drops the columns that meet the tolerance.
    fn iterate(&mut self, iteration: usize) -> Result<(), KeopsError> {
        self.apply_active(false)?;
        let (n, k) = (self.n, self.k);
        let mut still = 0;
        for a in 0..self.active.len() {
            let c = self.active[a];
            self.iters[c] += 1;
            let curvature = col_dot(&self.p, &self.ap, k, c);
            if !(curvature > 0.0 && curvature.is_finite()) {
                return Err(KeopsError::NotPositiveDefinite {
                    iteration,
                    column: c,
                    curvature,
                });
            }
            let step = self.rr[c] / curvature;
            let mut rr_new = 0.0;
            for i in 0..n {
                let j = i * k + c;
                self.x[j] += step * self.p[j];
                self.r[j] -= step * self.ap[j];
                rr_new += self.r[j] * self.r[j];
            }
            let beta = rr_new / self.rr[c];
            self.rr[c] = rr_new;
            if rr_new.sqrt() <= self.tol * self.bnorm[c] {
                continue;
            }
            for i in 0..n {
                let j = i * k + c;
                self.p[j] = self.r[j] + beta * self.p[j];
            }
            self.active[still] = c;
            still += 1;
        }
        self.active.truncate(still);
        Ok(())
    }

    /// `r = b - (alpha I + A) x` and the relative residual of every column, from scratch.
    fn true_residual(&mut self) -> Result<(), KeopsError> {
        self.active.clear();
        self.active.extend(0..self.k);
        self.apply_active(true)?;
        self.active.clear();
        for (j, r) in self.r.iter_mut().enumerate() {
            *r = self.b[j] - self.ap[j];
        }
        for c in 0..self.k {
            self.residual[c] = if self.bnorm[c] > 0.0 {
                col_dot(&self.r, &self.r, self.k, c).sqrt() / self.bnorm[c]
            } else {
                0.0
            };
        }
        Ok(())
    }
}

/// `sum_i u[i, c] v[i, c]` over column `c` of two `(n, k)` row-major blocks.
fn col_dot(u: &[f64], v: &[f64], k: usize, c: usize) -> f64 {
    u.iter()
        .skip(c)
        .step_by(k)
        .zip(v.iter().skip(c).step_by(k))
        .map(|(a, b)| a * b)
        .sum()
}

impl<T: Real, B: crate::BoundKernel<T>> KernelMatrix<T, B> {
    /// Solves `(alpha I + K) a = b` by [`ConjugateGradient`] with its defaults (relative
    /// tolerance 1e-6, at most 1000 iterations); `b` may have several columns.
    ///
    /// `K` must be symmetric positive semidefinite: bind the same points to both variables of a
    /// symmetric kernel (`K_xx`). Predict at new points `t` with `K_tx.matvec(&a.coefficients)`.
    pub fn solve<'b>(
        &self,
        b: impl IntoView<'b, T>,
        alpha: f64,
    ) -> Result<Solution<T>, SolveError<T>> {
        ConjugateGradient::default().solve_shifted(self, alpha, b)
    }

    /// [`solve`](Self::solve) with the caller's solver settings.
    pub fn solve_with<'b>(
        &self,
        cg: &ConjugateGradient,
        b: impl IntoView<'b, T>,
        alpha: f64,
    ) -> Result<Solution<T>, SolveError<T>> {
        cg.solve_shifted(self, alpha, b)
    }
}
