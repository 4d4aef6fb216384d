//! The one conjugate-gradient iteration every backend runs ([`conjugate_gradient`]): steps, the
//! periodic true-residual checkpoints that keep the best iterate and detect stagnation, the
//! restart policy, the diagnosis of a breakdown, the iteration callback and the per-column
//! bookkeeping. Where the vectors live and how they are combined is a [`CgVectors`].

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::control::{Callback, Conditioning, NumericallySingular, Progress, Termination};
use super::{ConjugateGradient, Solution, SolveError};
use crate::{KeopsError, Real, Rows};

/// Restarts from the true residual when the recurrence claims convergence but `b - A x` disagrees
/// (each must halve the worst residual, else the solve reports stagnation).
const MAX_RESTARTS: usize = 3;
/// Iterations between two checks of the true residual `b - (alpha I + A) x` of the columns still
/// iterating (one extra product each: about 3% more work on long solves, none on short ones).
pub(crate) const CHECK: usize = 32;
/// A column whose true residual has not halved over this many iterations, while `alpha` is below
/// the products' rounding or the recurrence has drifted from the true residual, has stagnated:
/// it stops iterating, and its best iterate is returned.
pub(crate) const STALL: usize = 8 * CHECK;

/// The vectors of one conjugate-gradient solve and the operations on them, wherever they live:
/// `(n, k)` blocks of f64, column `c` for right-hand side `c`: the iterate `x`, the best iterate
/// seen `x_best`, the residual `r`, the direction `p`, `ap = (alpha I + A) p`, and `z = M^-1 r`
/// when preconditioned (else `z` is `r`). [`conjugate_gradient`] decides what is computed, in
/// which order, and what it means; an implementation only computes it.
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
    /// `rr[c] = ||b - (alpha I + A) x'||^2` for the `active` columns, `x'` being `x` rounded to
    /// the data's precision, without changing `x`, `r`, `z` or `p` (`ap` may be overwritten).
    fn check_residual(&mut self, active: &[usize], rr: &mut [f64]) -> Result<(), KeopsError>;
    /// `p^T p` of column `c` (to diagnose a breakdown).
    fn direction_square(&mut self, c: usize) -> Result<f64, KeopsError>;
    /// `x_best = x` in column `c`.
    fn save_best(&mut self, c: usize) -> Result<(), KeopsError>;
    /// `x = x_best` in column `c`.
    fn restore_best(&mut self, c: usize) -> Result<(), KeopsError>;
}

/// How a solve went, per column of `b`.
pub(crate) struct CgOutcome {
    /// Iterations per column.
    pub(crate) iterations: Vec<usize>,
    /// True relative residual per column (0 for a zero column).
    pub(crate) residuals: Vec<f64>,
    /// Why the iteration ended.
    pub(crate) termination: Termination,
}

impl CgOutcome {
    /// How a block of columns solved one after another ended: the first reason other than
    /// convergence, stagnation ahead of the cap.
    #[cfg(feature = "cuda")]
    pub(crate) fn merge(&mut self, t: Termination) {
        match (self.termination, t) {
            (_, Termination::Converged) => {}
            (Termination::Converged, t) | (_, t @ Termination::Stagnated) => self.termination = t,
            _ => {}
        }
    }

    /// The [`Solution`] with the final `coefficients`, or [`SolveError::NotConverged`] holding it
    /// when a column's residual is above the tolerance of `cg`; `preconditioner` is its name and
    /// rank, then the setup's time and when the iterations started, and whether `alpha` is
    /// below the precision's rounding.
    pub(crate) fn into_solution<T: Real>(
        self,
        coefficients: Rows<T>,
        cg: &ConjugateGradient,
        (preconditioner, rank): (&'static str, usize),
        (setup_time, start): (Duration, Instant),
        singular: Option<NumericallySingular>,
    ) -> Result<Solution<T>, SolveError<T>> {
        let converged = self.residuals.iter().all(|&r| r <= cg.get_tolerance());
        let termination = if converged {
            Termination::Converged
        } else if self.termination == Termination::Converged {
            Termination::IterationLimit
        } else {
            self.termination
        };
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
            termination,
            fallback: None,
            singular,
            sampled_residual: None,
        };
        if converged {
            Ok(solution)
        } else {
            Err(SolveError::NotConverged {
                solution: Box::new(solution),
                tolerance: cg.get_tolerance(),
                stagnated: termination == Termination::Stagnated,
            })
        }
    }
}

/// How a solve starts and what it may consult.
pub(crate) struct CgStart<'c, 'f> {
    /// `b^T b` per column (one entry per column of `b`).
    pub(crate) b_squares: &'c [f64],
    /// `x` holds an initial guess (else `x = 0` and `r = p = b`).
    pub(crate) warm: bool,
    /// The operator's scale, to tell a breakdown from rounding.
    pub(crate) conditioning: Option<Conditioning>,
    /// Called after each iteration; can stop the solve.
    pub(crate) callback: Option<&'c mut Callback<'f>>,
}

#[cfg(any(test, feature = "cuda"))]
impl<'c> CgStart<'c, 'static> {
    /// A cold start with nothing to consult.
    pub(crate) fn plain(b_squares: &'c [f64]) -> Self {
        CgStart {
            b_squares,
            warm: false,
            conditioning: None,
            callback: None,
        }
    }
}

/// Runs the (preconditioned) conjugate gradient on `vectors`, which hold `x = 0` and `r = p = b`
/// (or, `start.warm`, an initial `x`). Each column stops on its own tolerance, or when its true
/// residual stagnates; the iteration cap counts the iterations of the block. Each column ends on
/// the best iterate seen (smallest true residual at a checkpoint or at the end). Allocates
/// nothing per iteration.
pub(crate) fn conjugate_gradient<V: CgVectors>(
    vectors: &mut V,
    cg: &ConjugateGradient,
    start: CgStart<'_, '_>,
) -> Result<CgOutcome, KeopsError> {
    let k = start.b_squares.len();
    Cg {
        v: vectors,
        tol: cg.get_tolerance(),
        max_iter: cg.get_max_iterations(),
        bnorm: start.b_squares.iter().map(|s| s.sqrt()).collect(),
        rz: vec![0.0; k],
        rz_new: vec![0.0; k],
        rr: start.b_squares.to_vec(),
        curvature: vec![0.0; k],
        checked: vec![0.0; k],
        active: Vec::with_capacity(k),
        iters: vec![0; k],
        residual: vec![0.0; k],
        progress: vec![0.0; k],
        best: vec![1.0; k],
        mark: vec![(1.0, 0); k],
        stalled: vec![false; k],
        total: 0,
        stopped: false,
        singular: start.conditioning.is_some_and(|c| c.singular().is_some()),
        conditioning: start.conditioning,
        callback: start.callback,
    }
    .run(start.warm)
}

/// The state of one solve beyond its vectors: per column.
struct Cg<'v, 'c, 'f, V> {
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
    /// `||b - (alpha I + A) x||^2` at the last checkpoint.
    checked: Vec<f64>,
    /// The columns still iterating.
    active: Vec<usize>,
    iters: Vec<usize>,
    /// True relative residuals (at the end).
    residual: Vec<f64>,
    /// Relative residuals of the recurrence, for the callback.
    progress: Vec<f64>,
    /// True relative residual of `x_best`.
    best: Vec<f64>,
    /// The last true residual that halved the one before it, and its iteration.
    mark: Vec<(f64, usize)>,
    /// Columns that stopped on stagnation.
    stalled: Vec<bool>,
    total: usize,
    stopped: bool,
    /// `alpha` is below the products' rounding ([`Conditioning::singular`]).
    singular: bool,
    conditioning: Option<Conditioning>,
    callback: Option<&'c mut Callback<'f>>,
}

impl<V: CgVectors> Cg<'_, '_, '_, V> {
    fn run(mut self, warm: bool) -> Result<CgOutcome, KeopsError> {
        let k = self.bnorm.len();
        if warm {
            self.warm_start()?;
        } else {
            // x = 0: r = b, p = z = M^-1 r. A zero column has the solution 0.
            self.active.extend((0..k).filter(|&c| self.bnorm[c] > 0.0));
            self.progress.iter_mut().for_each(|p| *p = 1.0);
        }
        self.restart_directions(0)?;
        let mut restarts = 0;
        let mut last_worst = f64::INFINITY;
        let mut restart_stalled = false;
        loop {
            self.iterate_block()?;
            self.finish()?;
            let failing: Vec<usize> = (0..k)
                .filter(|&c| self.residual[c] > self.tol && !self.stalled[c])
                .collect();
            if failing.is_empty() || self.total >= self.max_iter || self.stopped {
                break;
            }
            // Restarting only helps while it makes progress: products rounded to f32 put a floor
            // under the attainable residual (about 1e-7 to 1e-5 relative, more with cancellation).
            let worst = failing
                .iter()
                .map(|&c| self.residual[c])
                .fold(0.0, f64::max);
            if restarts == MAX_RESTARTS || worst > 0.5 * last_worst {
                restart_stalled = true;
                break;
            }
            last_worst = worst;
            // The recurrence drifted from b - A x: restart those columns from the true residual.
            restarts += 1;
            self.active = failing;
            self.restart_directions(self.total)?;
        }
        let stalled = (0..k).any(|c| self.stalled[c] && self.residual[c] > self.tol);
        let termination = if self.residual.iter().all(|&r| r <= self.tol) {
            Termination::Converged
        } else if self.stopped {
            Termination::Stopped
        } else if restart_stalled || stalled {
            Termination::Stagnated
        } else {
            Termination::IterationLimit
        };
        Ok(CgOutcome {
            iterations: self.iters,
            residuals: self.residual,
            termination,
        })
    }

    /// `r = b - (alpha I + A) x0`: the columns already within the tolerance (and zero columns)
    /// do not iterate; the guess is the first best iterate.
    fn warm_start(&mut self) -> Result<(), KeopsError> {
        self.v.true_residual(&mut self.rr)?;
        for c in 0..self.bnorm.len() {
            if self.bnorm[c] == 0.0 {
                continue;
            }
            let res = self.rr[c].sqrt() / self.bnorm[c];
            self.progress[c] = res;
            if res.is_finite() {
                self.best[c] = res;
                self.mark[c] = (res, 0);
                self.v.save_best(c)?;
            } else {
                // A guess whose residual overflows is worse than 0.
                self.best[c] = f64::INFINITY;
            }
            if res.is_nan() || res > self.tol {
                self.active.push(c);
            }
        }
        Ok(())
    }

    /// Iterations until every column has converged, stalled or been stopped, or the cap.
    fn iterate_block(&mut self) -> Result<(), KeopsError> {
        while !self.active.is_empty() && self.total < self.max_iter {
            self.total += 1;
            self.iterate(self.total)?;
            if self.total.is_multiple_of(CHECK) {
                self.checkpoint()?;
            }
            if self.report().is_break() {
                self.stopped = true;
                self.active.clear();
            }
        }
        Ok(())
    }

    /// The callback's view of the iteration just done.
    fn report(&mut self) -> ControlFlow<()> {
        match self.callback.as_mut() {
            Some(f) => f(&Progress {
                iteration: self.total,
                residuals: &self.progress,
            }),
            None => ControlFlow::Continue(()),
        }
    }

    /// The true residual of the active columns: a column within the tolerance is done; a better
    /// one becomes the best iterate; one that has not halved its residual for [`STALL`]
    /// iterations has stagnated.
    fn checkpoint(&mut self) -> Result<(), KeopsError> {
        if self.active.is_empty() {
            return Ok(());
        }
        self.v.check_residual(&self.active, &mut self.checked)?;
        let mut still = 0;
        for a in 0..self.active.len() {
            let c = self.active[a];
            let res = self.checked[c].sqrt() / self.bnorm[c];
            if res < self.best[c] {
                self.best[c] = res;
                self.v.save_best(c)?;
            }
            if res <= self.tol {
                continue;
            }
            let (mark, at) = self.mark[c];
            // Stuck for good: alpha is below the rounding of the products, or the recurrence has
            // left the true residual behind (the products' precision floor). Otherwise a slow
            // but sound system (CG's residual norm is not monotone) iterates on to the cap.
            let stuck = self.singular || self.progress[c] < 0.1 * res;
            if res <= 0.5 * mark {
                self.mark[c] = (res, self.total);
            } else if self.total - at >= STALL && stuck {
                log::debug!(
                    "conjugate gradient: column {c} stagnated at iteration {}: true residual {res:.3e}, best {:.3e}",
                    self.total,
                    self.best[c]
                );
                self.stalled[c] = true;
                continue;
            }
            self.active[still] = c;
            still += 1;
        }
        self.active.truncate(still);
        Ok(())
    }

    /// The true residual of every column; a column whose end is worse than its best iterate gets
    /// the best iterate back (and its true residual is recomputed).
    fn finish(&mut self) -> Result<(), KeopsError> {
        self.true_residual()?;
        let mut restored = false;
        for c in 0..self.bnorm.len() {
            if self.bnorm[c] == 0.0 {
                continue;
            }
            if self.residual[c] <= self.best[c] {
                self.best[c] = self.residual[c];
                self.v.save_best(c)?;
            } else {
                log::debug!(
                    "conjugate gradient: column {c} returns its best iterate (residual {:.3e}) instead of the last ({:.3e})",
                    self.best[c],
                    self.residual[c]
                );
                self.v.restore_best(c)?;
                restored = true;
            }
        }
        if restored {
            self.true_residual()?;
        }
        Ok(())
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
                return Err(self.breakdown(iteration, c, curvature));
            }
            let rr = self.v.step(c, self.rz[c] / curvature)?;
            self.rr[c] = rr;
            self.progress[c] = rr.sqrt() / self.bnorm[c];
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

    /// The error for `p^T (alpha I + A) p = curvature` (not positive, or not finite) in column
    /// `c`: rounding ([`KeopsError::AlphaTooSmall`]) or a genuine breakdown.
    fn breakdown(&mut self, iteration: usize, c: usize, curvature: f64) -> KeopsError {
        let not_pd = KeopsError::NotPositiveDefinite {
            iteration,
            column: c,
            curvature,
        };
        let Some(cond) = self.conditioning else {
            return not_pd;
        };
        match self.v.direction_square(c) {
            Ok(pp) => cond.breakdown(iteration, c, curvature, pp),
            Err(e) => e,
        }
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
