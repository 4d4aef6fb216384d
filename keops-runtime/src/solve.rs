//! Matrix-free conjugate gradient for `(alpha I + A) x = b`, the kernel interpolation / kriging /
//! Gaussian-process solve: `A` is only ever applied to vectors, so a kernel matrix is never stored.

use std::time::{Duration, Instant};

use crate::precond::{Jacobi, Nystrom, NystromPreconditioner, Preconditioner};
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
    /// The columns `cols` of `A` in f64, column-major: `out[c * nrows + i] = A[i, cols[c]]`, for
    /// a Nyström preconditioner. This default applies `A` to unit vectors (one product per 64
    /// columns); a kernel matrix evaluates the entries directly.
    fn columns(&self, cols: &[usize], out: &mut [f64]) -> Result<(), KeopsError> {
        let (n, nc) = (self.nrows(), self.ncols());
        crate::matrix::check_columns(n, nc, cols, out.len())?;
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
    /// The diagonal `A_ii` in f64 (`out` has `nrows` entries), for the Jacobi preconditioner and
    /// greedy Nyström landmarks. This default reports [`KeopsError::NoDiagonal`].
    fn diagonal(&self, out: &mut [f64]) -> Result<(), KeopsError> {
        let _ = out;
        Err(KeopsError::NoDiagonal)
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
///
/// It is preconditioned by default ([`Preconditioning::Auto`]): with a Nyström approximation of
/// `A` the tutorial's kernel solves take a handful of iterations instead of dozens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConjugateGradient {
    tolerance: f64,
    max_iterations: usize,
    preconditioning: Preconditioning,
}

impl Default for ConjugateGradient {
    fn default() -> Self {
        ConjugateGradient {
            tolerance: 1e-6,
            max_iterations: 1000,
            preconditioning: Preconditioning::Auto,
        }
    }
}

/// Which preconditioner a solve builds (once, shared by all columns of `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preconditioning {
    /// Nyström with greedy landmarks and an automatic rank ([`Nystrom::new`]) when `alpha > 0`
    /// and the operator gives its diagonal (kernel matrices do); none otherwise, or when the
    /// greedy choice finds no landmark worth its cost (a nearly diagonal `A`).
    #[default]
    Auto,
    /// Plain conjugate gradient.
    Off,
    /// [`Jacobi`]: `M = alpha I + diag(A)`.
    Jacobi,
    /// [`Nystrom`] with the given settings; an error when it cannot be built.
    Nystrom(Nystrom),
}

/// The preconditioner a solve built.
enum Built {
    None,
    Jacobi(Jacobi),
    Nystrom(NystromPreconditioner),
}

impl Built {
    fn new<T: Real, A: LinearOperator<T> + ?Sized>(
        how: Preconditioning,
        op: &A,
        alpha: f64,
    ) -> Result<Self, KeopsError> {
        Ok(match how {
            Preconditioning::Off => Built::None,
            Preconditioning::Jacobi => Built::Jacobi(Jacobi::new(op, alpha)?),
            Preconditioning::Nystrom(nys) => Built::Nystrom(nys.build(op, alpha)?),
            Preconditioning::Auto if alpha > 0.0 => match Nystrom::new().build(op, alpha) {
                // Without landmarks M = alpha I: plain CG, without the extra pass.
                Ok(p) if p.rank() > 0 => Built::Nystrom(p),
                Ok(_) | Err(KeopsError::NoDiagonal) => Built::None,
                Err(e) => return Err(e),
            },
            Preconditioning::Auto => Built::None,
        })
    }
    fn get(&self) -> Option<&dyn Preconditioner> {
        match self {
            Built::None => None,
            Built::Jacobi(p) => Some(p),
            Built::Nystrom(p) => Some(p),
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
    /// The preconditioner each solve builds ([`Preconditioning::Auto`] by default).
    pub fn preconditioning(mut self, preconditioning: Preconditioning) -> Self {
        self.preconditioning = preconditioning;
        self
    }
    /// The preconditioner choice.
    pub fn get_preconditioning(&self) -> Preconditioning {
        self.preconditioning
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
        let start = Instant::now();
        let built = Built::new(self.preconditioning, op, alpha)?;
        let setup = start.elapsed();
        let (name, rank) = match built.get() {
            Some(p) => (p.name(), p.rank()),
            None => ("none", 0),
        };
        Cg::new(
            op,
            alpha,
            self,
            b.as_slice(),
            op.nrows(),
            b.dim(),
            built.get(),
        )
        .run(name, rank, setup)
    }

    /// Solves `(alpha I + A) x = b` with a preconditioner built by the caller (a
    /// [`NystromPreconditioner`] reused for several solves, or one's own [`Preconditioner`]);
    /// this solver's [`Preconditioning`] is not used.
    pub fn solve_preconditioned<'b, T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        b: impl IntoView<'b, T>,
        preconditioner: &dyn Preconditioner,
    ) -> Result<Solution<T>, SolveError<T>> {
        let b = b.into_view();
        self.check(op.nrows(), op.ncols(), alpha, &b)?;
        if preconditioner.size() != op.nrows() {
            return Err(KeopsError::OperandLength {
                expected: op.nrows(),
                found: preconditioner.size(),
            }
            .into());
        }
        let (name, rank) = (preconditioner.name(), preconditioner.rank());
        Cg::new(
            op,
            alpha,
            self,
            b.as_slice(),
            op.nrows(),
            b.dim(),
            Some(preconditioner),
        )
        .run(name, rank, Duration::ZERO)
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
    pre: Option<&'a dyn Preconditioner>,
    alpha: f64,
    tol: f64,
    max_iter: usize,
    n: usize,
    k: usize,
    b: Vec<f64>,
    bnorm: Vec<f64>,
    x: Vec<f64>,
    r: Vec<f64>,
    /// `M^-1 r` (empty without a preconditioner: `z = r`).
    z: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    /// `r^T z` per column (`r^T r` without a preconditioner), and its value for the new `z`.
    rz: Vec<f64>,
    rz_new: Vec<f64>,
    /// `r^T r` per column after the last step.
    rr: Vec<f64>,
    /// Operator input in the data's precision, `(n, active)` row-major, and the scratch of
    /// [`LinearOperator::apply_shifted`].
    t_in: Vec<T>,
    t_out: Vec<T>,
    /// `(alpha I + A) v` for the active columns, `(n, active)`, when not all are active; the
    /// active columns of `r` and of `z` likewise, for the preconditioner.
    ap_active: Vec<f64>,
    r_active: Vec<f64>,
    z_active: Vec<f64>,
    active: Vec<usize>,
    iters: Vec<usize>,
    residual: Vec<f64>,
}

impl<'a, T: Real, A: LinearOperator<T> + ?Sized> Cg<'a, T, A> {
    fn new(
        op: &'a A,
        alpha: f64,
        cg: &ConjugateGradient,
        b: &[T],
        n: usize,
        k: usize,
        pre: Option<&'a dyn Preconditioner>,
    ) -> Self {
        let b: Vec<f64> = b.iter().map(|v| v.to_f64()).collect();
        let bnorm = (0..k).map(|c| col_dot(&b, &b, k, c).sqrt()).collect();
        let several = |on: bool| {
            if on && k > 1 {
                vec![0.0; n * k]
            } else {
                Vec::new()
            }
        };
        Cg {
            op,
            pre,
            alpha,
            tol: cg.tolerance,
            max_iter: cg.max_iterations,
            n,
            k,
            x: vec![0.0; n * k],
            r: b.clone(),
            z: if pre.is_some() {
                vec![0.0; n * k]
            } else {
                Vec::new()
            },
            p: b.clone(),
            ap: vec![0.0; n * k],
            rz: vec![0.0; k],
            rz_new: vec![0.0; k],
            rr: vec![0.0; k],
            t_in: vec![T::ZERO; n * k],
            t_out: vec![T::ZERO; n * k],
            ap_active: several(true),
            r_active: several(pre.is_some()),
            z_active: several(pre.is_some()),
            active: Vec::with_capacity(k),
            iters: vec![0; k],
            residual: vec![0.0; k],
            b,
            bnorm,
        }
    }

    fn run(
        mut self,
        preconditioner: &'static str,
        rank: usize,
        setup_time: Duration,
    ) -> Result<Solution<T>, SolveError<T>> {
        let start = Instant::now();
        // x = 0: r = b, p = z = M^-1 r. A zero column has the solution 0.
        for c in 0..self.k {
            self.rr[c] = self.bnorm[c] * self.bnorm[c];
            if self.bnorm[c] > 0.0 {
                self.active.push(c);
            }
        }
        self.restart_directions(0)?;
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
            self.active = failing;
            self.restart_directions(total)?;
        }
        let converged = self.residual.iter().all(|&r| r <= self.tol);
        let solution = Solution {
            coefficients: Rows::from_vec(self.x.iter().map(|&v| T::from_f64(v)).collect(), self.k)
                .expect("n * k buffer"),
            iterations: self.iters.iter().copied().max().unwrap_or(0),
            residual: self.residual.iter().copied().fold(0.0, f64::max),
            column_iterations: self.iters,
            column_residuals: self.residual,
            preconditioner,
            rank,
            setup_time,
            iteration_time: start.elapsed(),
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

    /// `p = z = M^-1 r` and `rz = r^T z` for the active columns (a start or a restart).
    fn restart_directions(&mut self, iteration: usize) -> Result<(), KeopsError> {
        self.precondition(iteration)?;
        let (n, k) = (self.n, self.k);
        for &c in &self.active {
            let (z, rz) = match self.pre {
                Some(_) => (&self.z, self.rz_new[c]),
                None => (&self.r, col_dot(&self.r, &self.r, k, c)),
            };
            for i in 0..n {
                self.p[i * k + c] = z[i * k + c];
            }
            self.rz[c] = rz;
        }
        Ok(())
    }

    /// `z = M^-1 r` and `rz_new = r^T z` for the active columns (nothing without a
    /// preconditioner); checks `r^T z > 0`. Allocates nothing.
    fn precondition(&mut self, iteration: usize) -> Result<(), KeopsError> {
        let Some(pre) = self.pre else {
            return Ok(());
        };
        let (n, k, na) = (self.n, self.k, self.active.len());
        if na == 0 {
            return Ok(());
        }
        if na == k {
            pre.apply(&self.r, k, &mut self.z);
        } else {
            let (ra, za) = (&mut self.r_active[..n * na], &mut self.z_active[..n * na]);
            for i in 0..n {
                for (a, &c) in self.active.iter().enumerate() {
                    ra[i * na + a] = self.r[i * k + c];
                }
            }
            pre.apply(ra, na, za);
            for i in 0..n {
                for (a, &c) in self.active.iter().enumerate() {
                    self.z[i * k + c] = za[i * na + a];
                }
            }
        }
        for &c in &self.active {
            let rz = col_dot(&self.r, &self.z, k, c);
            self.rz_new[c] = rz;
            if !(rz > 0.0 && rz.is_finite()) {
                return Err(KeopsError::PreconditionerNotPositive {
                    what: format!("r^T M^-1 r (iteration {iteration}, right-hand side column {c})"),
                    value: rz,
                });
            }
        }
        Ok(())
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

    /// One (preconditioned) CG step for every active column; drops the columns that meet the
    /// tolerance.
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
            let step = self.rz[c] / curvature;
            let mut rr_new = 0.0;
            for i in 0..n {
                let j = i * k + c;
                self.x[j] += step * self.p[j];
                self.r[j] -= step * self.ap[j];
                rr_new += self.r[j] * self.r[j];
            }
            self.rr[c] = rr_new;
            if rr_new.sqrt() <= self.tol * self.bnorm[c] {
                continue;
            }
            self.active[still] = c;
            still += 1;
        }
        self.active.truncate(still);
        // New directions p = z + beta p, z = M^-1 r, beta = r^T z / (r^T z)_previous.
        self.precondition(iteration)?;
        for &c in &self.active {
            let (z, rz_new) = match self.pre {
                Some(_) => (&self.z, self.rz_new[c]),
                None => (&self.r, self.rr[c]),
            };
            let beta = rz_new / self.rz[c];
            self.rz[c] = rz_new;
            for i in 0..n {
                let j = i * k + c;
                self.p[j] = z[j] + beta * self.p[j];
            }
        }
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
