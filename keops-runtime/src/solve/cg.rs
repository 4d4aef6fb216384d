//! The conjugate gradient for `(alpha I + A) x = b`: its settings ([`ConjugateGradient`]), and
//! the one iteration every backend runs ([`conjugate_gradient`]): steps, the restart policy, the
//! true-residual check and the per-column bookkeeping. Where the vectors live and how they are
//! combined is a [`CgVectors`]: host memory ([`super::host`]) or a GPU's (the CUDA backend).

use std::time::{Duration, Instant};

use super::host::solve_on_host;
use super::{Jacobi, Nystrom, NystromPreconditioner};
use super::{LinearOperator, Preconditioner, Solution, SolveError};
use crate::{BoundKernel, IntoView, KeopsError, KernelMatrix, Real, Rows, View};

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
        solve_on_host(op, alpha, self, &b, built.get(), setup)
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
        solve_on_host(op, alpha, self, &b, Some(preconditioner), Duration::ZERO)
    }

    /// The checks every solve makes before iterating: a square `(n, n)` operator, `alpha` finite
    /// and `>= 0`, a valid tolerance, `b` of shape `(n, k >= 1)` and finite.
    pub(crate) fn check<T: Real>(
        &self,
        nrows: usize,
        ncols: usize,
        alpha: f64,
        b: &View<'_, T>,
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

/// Restarts from the true residual when the recurrence claims convergence but `b - A x` disagrees
/// (each must halve the worst residual, else the solve reports stagnation).
const MAX_RESTARTS: usize = 3;

/// The vectors of one conjugate-gradient solve and the operations on them, wherever they live:
/// `(n, k)` blocks of f64, column `c` for right-hand side `c`: the iterate `x`, the residual `r`,
/// the direction `p`, `ap = (alpha I + A) p`, and `z = M^-1 r` when preconditioned (else `z` is
/// `r`). [`conjugate_gradient`] decides what is computed, in which order, and what it means; an
/// implementation only computes it.
pub(crate) trait CgVectors {
    /// Whether [`precondition`](Self::precondition) computes a `z` of its own.
    fn preconditioned(&self) -> bool;
    /// `ap = (alpha I + A) p` for the `active` columns, `p` first rounded in place to the data's
    /// precision (so that `ap` is the product of the `p` it holds); `curvature[c] = p^T ap`.
    fn curvatures(&mut self, active: &[usize], curvature: &mut [f64]) -> Result<(), KeopsError>;
    /// `x += step p` and `r -= step ap` in column `c`; returns the new `r^T r`.
    fn step(&mut self, c: usize, step: f64) -> Result<f64, KeopsError>;
    /// `z = M^-1 r` for the `active` columns and `rz[c] = r^T z` (only when preconditioned).
    fn precondition(&mut self, active: &[usize], rz: &mut [f64]) -> Result<(), KeopsError>;
    /// `p = z + beta p` in column `c`.
    fn direction(&mut self, c: usize, beta: f64) -> Result<(), KeopsError>;
    /// `p = z` in column `c`: the first direction, or a restart's.
    fn restart_direction(&mut self, c: usize) -> Result<(), KeopsError>;
    /// `r = b - (alpha I + A) x` in every column, `x` first rounded in place as `p` is by
    /// [`curvatures`](Self::curvatures); `rr[c] = r^T r`.
    fn true_residual(&mut self, rr: &mut [f64]) -> Result<(), KeopsError>;
}

/// How a solve went, per column of `b`.
pub(crate) struct CgOutcome {
    /// Iterations per column.
    pub(crate) iterations: Vec<usize>,
    /// True relative residual per column (0 for a zero column).
    pub(crate) residuals: Vec<f64>,
    /// Restarts stopped halving the residual above the tolerance (the products' precision floor).
    pub(crate) stagnated: bool,
}

impl CgOutcome {
    /// The [`Solution`] with the final `coefficients`, or [`SolveError::NotConverged`] holding it
    /// when a column's residual is above the tolerance of `cg`; `preconditioner` is its name and
    /// rank, `start` when the iterations started.
    pub(crate) fn into_solution<T: Real>(
        self,
        coefficients: Rows<T>,
        cg: &ConjugateGradient,
        (preconditioner, rank): (&'static str, usize),
        setup_time: Duration,
        start: Instant,
    ) -> Result<Solution<T>, SolveError<T>> {
        let converged = self.residuals.iter().all(|&r| r <= cg.tolerance);
        let solution = Solution {
            coefficients,
            iterations: self.iterations.iter().copied().max().unwrap_or(0),
            residual: self.residuals.iter().copied().fold(0.0, f64::max),
            column_iterations: self.iterations,
            column_residuals: self.residuals,
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
                tolerance: cg.tolerance,
                stagnated: self.stagnated,
            })
        }
    }
}

/// Runs the (preconditioned) conjugate gradient on `vectors`, which hold `x = 0` and `r = p = b`;
/// `b_squares[c] = b^T b` of column `c` (one entry per column). Each column stops on its own
/// tolerance; the iteration cap counts the iterations of the block. Allocates nothing per
/// iteration.
pub(crate) fn conjugate_gradient<V: CgVectors>(
    vectors: &mut V,
    cg: &ConjugateGradient,
    b_squares: &[f64],
) -> Result<CgOutcome, KeopsError> {
    let k = b_squares.len();
    Cg {
        v: vectors,
        tol: cg.tolerance,
        max_iter: cg.max_iterations,
        bnorm: b_squares.iter().map(|s| s.sqrt()).collect(),
        rz: vec![0.0; k],
        rz_new: vec![0.0; k],
        rr: b_squares.to_vec(),
        curvature: vec![0.0; k],
        active: Vec::with_capacity(k),
        iters: vec![0; k],
        residual: vec![0.0; k],
    }
    .run()
}

/// The state of one solve beyond its vectors: per column.
struct Cg<'v, V> {
    v: &'v mut V,
    tol: f64,
    max_iter: usize,
    bnorm: Vec<f64>,
    /// `r^T z` (`r^T r` without a preconditioner), and its value for the new `z`.
    rz: Vec<f64>,
    rz_new: Vec<f64>,
    /// `r^T r` after the last step, or of the true residual.
    rr: Vec<f64>,
    /// `p^T (alpha I + A) p` of the last product.
    curvature: Vec<f64>,
    /// The columns still iterating.
    active: Vec<usize>,
    iters: Vec<usize>,
    residual: Vec<f64>,
}

impl<V: CgVectors> Cg<'_, V> {
    fn run(mut self) -> Result<CgOutcome, KeopsError> {
        let k = self.bnorm.len();
        // x = 0: r = b, p = z = M^-1 r. A zero column has the solution 0.
        self.active.extend((0..k).filter(|&c| self.bnorm[c] > 0.0));
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
            let failing: Vec<usize> = (0..k).filter(|&c| self.residual[c] > self.tol).collect();
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
        Ok(CgOutcome {
            iterations: self.iters,
            residuals: self.residual,
            stagnated,
        })
    }

    /// `p = z = M^-1 r` and `rz = r^T z` for the active columns (a start or a restart).
    fn restart_directions(&mut self, iteration: usize) -> Result<(), KeopsError> {
        self.precondition(iteration)?;
        let pre = self.v.preconditioned();
        for &c in &self.active {
            self.rz[c] = if pre { self.rz_new[c] } else { self.rr[c] };
            self.v.restart_direction(c)?;
        }
        Ok(())
    }

    /// `z = M^-1 r` and `rz_new = r^T z` for the active columns (nothing without a
    /// preconditioner); checks `r^T z > 0`.
    fn precondition(&mut self, iteration: usize) -> Result<(), KeopsError> {
        if !self.v.preconditioned() || self.active.is_empty() {
            return Ok(());
        }
        self.v.precondition(&self.active, &mut self.rz_new)?;
        for &c in &self.active {
            let rz = self.rz_new[c];
            if !(rz > 0.0 && rz.is_finite()) {
                return Err(KeopsError::PreconditionerNotPositive {
                    what: format!("r^T M^-1 r (iteration {iteration}, right-hand side column {c})"),
                    value: rz,
                });
            }
        }
        Ok(())
    }

    /// One (preconditioned) CG step for every active column; drops the columns that meet the
    /// tolerance.
    fn iterate(&mut self, iteration: usize) -> Result<(), KeopsError> {
        self.v.curvatures(&self.active, &mut self.curvature)?;
        let mut still = 0;
        for a in 0..self.active.len() {
            let c = self.active[a];
            self.iters[c] += 1;
            let curvature = self.curvature[c];
            if !(curvature > 0.0 && curvature.is_finite()) {
                return Err(KeopsError::NotPositiveDefinite {
                    iteration,
                    column: c,
                    curvature,
                });
            }
            let rr = self.v.step(c, self.rz[c] / curvature)?;
            self.rr[c] = rr;
            if rr.sqrt() <= self.tol * self.bnorm[c] {
                continue;
            }
            self.active[still] = c;
            still += 1;
        }
        self.active.truncate(still);
        // New directions p = z + beta p, z = M^-1 r, beta = r^T z / (r^T z)_previous.
        self.precondition(iteration)?;
        let pre = self.v.preconditioned();
        for &c in &self.active {
            let rz = if pre { self.rz_new[c] } else { self.rr[c] };
            let beta = rz / self.rz[c];
            self.rz[c] = rz;
            self.v.direction(c, beta)?;
        }
        Ok(())
    }

    /// `r = b - (alpha I + A) x` and the relative residual of every column, from scratch.
    fn true_residual(&mut self) -> Result<(), KeopsError> {
        self.active.clear();
        self.v.true_residual(&mut self.rr)?;
        for (c, res) in self.residual.iter_mut().enumerate() {
            *res = if self.bnorm[c] > 0.0 {
                self.rr[c].sqrt() / self.bnorm[c]
            } else {
                0.0
            };
        }
        Ok(())
    }
}

/// `sum_i u[i, c] v[i, c]` over column `c` of two `(n, k)` row-major blocks.
pub(crate) fn col_dot(u: &[f64], v: &[f64], k: usize, c: usize) -> f64 {
    u.iter()
        .skip(c)
        .step_by(k)
        .zip(v.iter().skip(c).step_by(k))
        .map(|(a, b)| a * b)
        .sum()
}

impl<T: Real, B: BoundKernel<T>> KernelMatrix<T, B> {
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
