//! The conjugate gradient for `(alpha I + A) x = b`: its settings ([`ConjugateGradient`]), the
//! preconditioner a solve builds ([`Preconditioning`]) and the solves on the host. The iteration
//! itself, shared with the GPU, is [`super::iteration`].

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::control::{Callback, Conditioning, PreconditionerFallback, Progress};
use super::host::{solve_on_host, HostSolve};
use super::{Jacobi, Nystrom, NystromPreconditioner};
use super::{LinearOperator, Preconditioner, Solution, SolveError};
use crate::{BoundKernel, IntoView, KeopsError, KernelMatrix, Real, View};

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
    /// The preconditioner `how` asks for, and why the automatic choice set Nyström aside (when
    /// `alpha` is too small next to the diagonal, `cond`, for its factor to be accurate).
    fn new<T: Real, A: LinearOperator<T> + ?Sized>(
        how: Preconditioning,
        op: &A,
        alpha: f64,
        cond: &Conditioning,
    ) -> Result<(Self, Option<PreconditionerFallback>), KeopsError> {
        let built = match how {
            Preconditioning::Off => Built::None,
            Preconditioning::Jacobi => Built::Jacobi(Jacobi::new(op, alpha)?),
            Preconditioning::Nystrom(nys) => Built::Nystrom(nys.build(op, alpha)?),
            Preconditioning::Auto if alpha > 0.0 => {
                let limit = cond.nystrom_limit();
                if let Some(ratio) = cond.ratio().filter(|&r| r < limit) {
                    let why = PreconditionerFallback::AlphaTooSmall {
                        alpha,
                        ratio,
                        limit,
                    };
                    log::info!("{why}");
                    return Ok((Built::None, Some(why)));
                }
                match op.auto_nystrom().build(op, alpha) {
                    // Without landmarks M = alpha I: plain CG, without the extra pass.
                    Ok(p) if p.rank() > 0 => Built::Nystrom(p),
                    Ok(_) | Err(KeopsError::NoDiagonal) => Built::None,
                    Err(e) => return Err(e),
                }
            }
            Preconditioning::Auto => Built::None,
        };
        Ok((built, None))
    }
    fn get(&self) -> Option<&dyn Preconditioner> {
        match self {
            Built::None => None,
            Built::Jacobi(p) => Some(p),
            Built::Nystrom(p) => Some(p),
        }
    }
}

/// Why an automatic Nyström solve that ended so is worth running again without it: a breakdown
/// or a stagnation (not the iteration cap, nor the caller's stop).
fn retry_reason<T: Real>(result: &Result<Solution<T>, SolveError<T>>) -> Option<String> {
    match result {
        Ok(_) => None,
        Err(SolveError::NotConverged {
            solution,
            stagnated: true,
            ..
        }) => Some(format!(
            "the residual stagnated at {:.3e} after {} iterations",
            solution.residual, solution.iterations
        )),
        Err(SolveError::NotConverged { .. }) => None,
        Err(SolveError::Failed(
            e @ (KeopsError::AlphaTooSmall { .. }
            | KeopsError::NotPositiveDefinite { .. }
            | KeopsError::PreconditionerNotPositive { .. }),
        )) => Some(e.to_string()),
        Err(SolveError::Failed(_)) => None,
    }
}

/// The better of a failed preconditioned solve and its plain retry (`why` it was retried): the
/// retry unless it failed worse (a breakdown after a kept iterate, or a larger residual).
fn better_of<T: Real>(
    first: Result<Solution<T>, SolveError<T>>,
    retry: Result<Solution<T>, SolveError<T>>,
    why: PreconditionerFallback,
) -> Result<Solution<T>, SolveError<T>> {
    let keep_first = match (&first, &retry) {
        (
            Err(SolveError::NotConverged { solution: a, .. }),
            Err(SolveError::NotConverged { solution: b, .. }),
        ) => a.residual < b.residual,
        (Err(SolveError::NotConverged { .. }), Err(SolveError::Failed(_))) => true,
        _ => false,
    };
    if keep_first {
        return first;
    }
    with_fallback(retry, Some(why))
}

/// `result` with [`Solution::fallback`] set.
fn with_fallback<T: Real>(
    result: Result<Solution<T>, SolveError<T>>,
    fallback: Option<PreconditionerFallback>,
) -> Result<Solution<T>, SolveError<T>> {
    if fallback.is_none() {
        return result;
    }
    match result {
        Ok(mut s) => {
            s.fallback = fallback;
            Ok(s)
        }
        Err(SolveError::NotConverged {
            mut solution,
            tolerance,
            stagnated,
        }) => {
            solution.fallback = fallback;
            Err(SolveError::NotConverged {
                solution,
                tolerance,
                stagnated,
            })
        }
        Err(e) => Err(e),
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
        self.run(op, 0.0, &b.into_view(), None, None)
    }

    /// Solves `(alpha I + A) x = b` for `b` of shape `(n, k)`; `alpha` must be finite and `>= 0`.
    pub fn solve_shifted<'b, T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        b: impl IntoView<'b, T>,
    ) -> Result<Solution<T>, SolveError<T>> {
        self.run(op, alpha, &b.into_view(), None, None)
    }

    /// [`solve_shifted`](Self::solve_shifted) from an initial guess `x0` of the shape of `b`
    /// (a warm start: the previous solution of a nearby system, say): the iteration starts from
    /// the residual `b - (alpha I + A) x0`, and a column whose guess already meets the tolerance
    /// takes no iteration. The tolerance stays relative to `||b||`.
    ///
    /// ```
    /// use keops_runtime::{ConjugateGradient, LinearOperator, KeopsError};
    /// # struct Diag(Vec<f64>);
    /// # impl LinearOperator<f64> for Diag {
    /// #     fn nrows(&self) -> usize { self.0.len() }
    /// #     fn ncols(&self) -> usize { self.0.len() }
    /// #     fn apply(&self, x: &[f64], _k: usize, out: &mut [f64]) -> Result<(), KeopsError> {
    /// #         for ((o, x), d) in out.iter_mut().zip(x).zip(&self.0) { *o = d * x; }
    /// #         Ok(())
    /// #     }
    /// # }
    /// // A = diag(1, 2, 3, 4): solve (1 I + A) x = b, then a nearby b from that solution.
    /// let a = Diag(vec![1.0, 2.0, 3.0, 4.0]);
    /// let cg = ConjugateGradient::new().tolerance(1e-10);
    /// let first = cg.solve_shifted(&a, 1.0, &[2.0, 3.0, 4.0, 5.0][..]).unwrap();
    /// let x0 = first.coefficients.as_slice().to_vec();
    /// let next = cg
    ///     .solve_with_guess(&a, 1.0, &[2.0, 3.0, 4.0, 5.5][..], &x0[..])
    ///     .unwrap();
    /// assert!((next.coefficients.as_slice()[3] - 1.1).abs() < 1e-9);
    /// // The exact guess of an unchanged system takes no iteration.
    /// let again = cg.solve_with_guess(&a, 1.0, &[2.0, 3.0, 4.0, 5.0][..], &x0[..]).unwrap();
    /// assert_eq!(again.iterations, 0);
    /// ```
    pub fn solve_with_guess<'b, 'g, T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        b: impl IntoView<'b, T>,
        x0: impl IntoView<'g, T>,
    ) -> Result<Solution<T>, SolveError<T>> {
        self.run(op, alpha, &b.into_view(), Some(&x0.into_view()), None)
    }

    /// [`solve_shifted`](Self::solve_shifted) calling `callback` after each iteration with its
    /// number and the relative residuals of the recurrence ([`Progress`]); returning
    /// [`ControlFlow::Break`] stops the solve, which then ends like one that reached its
    /// iteration cap ([`SolveError::NotConverged`] with the best iterate, unless every column
    /// already meets the tolerance), its [`Solution::termination`] being
    /// [`Termination::Stopped`](crate::Termination::Stopped).
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use keops_runtime::{ConjugateGradient, LinearOperator, KeopsError, Termination};
    /// # struct Diag(Vec<f64>);
    /// # impl LinearOperator<f64> for Diag {
    /// #     fn nrows(&self) -> usize { self.0.len() }
    /// #     fn ncols(&self) -> usize { self.0.len() }
    /// #     fn apply(&self, x: &[f64], _k: usize, out: &mut [f64]) -> Result<(), KeopsError> {
    /// #         for ((o, x), d) in out.iter_mut().zip(x).zip(&self.0) { *o = d * x; }
    /// #         Ok(())
    /// #     }
    /// # }
    /// let a = Diag((1..=40).map(|i| i as f64).collect());
    /// let b = vec![1.0; 40];
    /// let mut seen = Vec::new();
    /// // Stop after 3 iterations, whatever the residual.
    /// let err = ConjugateGradient::new()
    ///     .solve_with_callback(&a, 0.0, &b[..], |p| {
    ///         seen.push((p.iteration, p.residual()));
    ///         if p.iteration == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(seen.len(), 3);
    /// let best = err.into_solution().unwrap();
    /// assert_eq!((best.iterations, best.termination), (3, Termination::Stopped));
    /// ```
    pub fn solve_with_callback<'b, T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        b: impl IntoView<'b, T>,
        mut callback: impl FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Solution<T>, SolveError<T>> {
        self.run(op, alpha, &b.into_view(), None, Some(&mut callback))
    }

    /// Both: an initial guess `x0` (`None`: 0) and an iteration callback (see
    /// [`solve_with_guess`](Self::solve_with_guess) and
    /// [`solve_with_callback`](Self::solve_with_callback)).
    pub fn solve_from<'b, 'g, T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        b: impl IntoView<'b, T>,
        x0: Option<View<'g, T>>,
        mut callback: impl FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Solution<T>, SolveError<T>> {
        self.run(op, alpha, &b.into_view(), x0.as_ref(), Some(&mut callback))
    }

    /// Every solve with the preconditioner of [`Preconditioning`]: checks, the operator's scale,
    /// the preconditioner, the iteration, and (automatic choice) a plain retry when Nyström
    /// broke down or stagnated.
    fn run<T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        b: &View<'_, T>,
        guess: Option<&View<'_, T>>,
        mut callback: Option<&mut Callback<'_>>,
    ) -> Result<Solution<T>, SolveError<T>> {
        self.check(op.nrows(), op.ncols(), alpha, b)?;
        check_guess(b, guess)?;
        let cond = Conditioning::of(op, alpha)?;
        let start = Instant::now();
        let (built, fallback) = Built::new(self.preconditioning, op, alpha, &cond)?;
        let solve = HostSolve {
            op,
            alpha,
            cg: self,
            b,
            guess,
            pre: built.get(),
            setup_time: start.elapsed(),
            conditioning: Some(cond),
        };
        let first = solve_on_host(&solve, callback.as_deref_mut());
        let auto_nystrom =
            self.preconditioning == Preconditioning::Auto && matches!(built, Built::Nystrom(_));
        let Some(reason) = retry_reason(&first).filter(|_| auto_nystrom) else {
            return with_fallback(first, fallback);
        };
        log::info!("the Nyström-preconditioned solve failed ({reason}); retrying without it");
        let plain = HostSolve { pre: None, ..solve };
        let retry = solve_on_host(&plain, callback);
        better_of(first, retry, PreconditionerFallback::Retried { reason })
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
        let cond = Conditioning::of(op, alpha)?;
        let solve = HostSolve {
            op,
            alpha,
            cg: self,
            b: &b,
            guess: None,
            pre: Some(preconditioner),
            setup_time: Duration::ZERO,
            conditioning: Some(cond),
        };
        solve_on_host(&solve, None)
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

/// An initial guess must have the shape of `b` and be finite.
fn check_guess<T: Real>(b: &View<'_, T>, guess: Option<&View<'_, T>>) -> Result<(), KeopsError> {
    let Some(g) = guess else {
        return Ok(());
    };
    if g.rows() != b.rows() {
        return Err(KeopsError::OperandLength {
            expected: b.rows(),
            found: g.rows(),
        });
    }
    if g.dim() != b.dim() {
        return Err(KeopsError::DimensionMismatch {
            var: "the initial guess".into(),
            expected: b.dim(),
            found: g.dim(),
            hint: " (one column per column of b)".into(),
        });
    }
    g.check_finite("the initial guess")
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
