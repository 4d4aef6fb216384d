//! What a solve reports beyond its iterate, and what steers it from outside: the callback's view
//! of an iteration ([`Progress`]), why the iteration ended ([`Termination`]), why the automatic
//! preconditioner was set aside ([`PreconditionerFallback`]), and the operator's scale that tells
//! rounding from a genuine breakdown ([`Conditioning`]).

use std::fmt;
use std::ops::ControlFlow;

use crate::{KeopsError, LinearOperator, Real};

/// One iteration of a solve as an iteration callback sees it
/// ([`ConjugateGradient::solve_from`](crate::ConjugateGradient::solve_from)).
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The iteration just done (from 1; one product with the operator for the columns still
    /// iterating).
    pub iteration: usize,
    /// The relative residual `||r|| / ||b||` of the recurrence per column of `b` (a column that
    /// already converged keeps its last value; 0 for a zero column).
    pub residuals: &'a [f64],
}

impl Progress<'_> {
    /// The largest relative residual over the columns.
    pub fn residual(&self) -> f64 {
        self.residuals.iter().copied().fold(0.0, f64::max)
    }
}

/// An iteration callback: called after each iteration; [`ControlFlow::Break`] stops the solve,
/// which then returns its best iterate like a solve that reached its iteration cap.
pub type Callback<'c> = dyn FnMut(&Progress<'_>) -> ControlFlow<()> + 'c;

/// Why a solve stopped iterating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Every column met the tolerance.
    Converged,
    /// The iteration cap was reached first.
    IterationLimit,
    /// The true residual stopped decreasing above the tolerance (the products' precision limit,
    /// or a system that rounding makes numerically singular).
    Stagnated,
    /// The iteration callback asked to stop.
    Stopped,
}

/// Why [`Preconditioning::Auto`](crate::Preconditioning::Auto) solved without its Nyström
/// preconditioner (reported in [`Solution::fallback`](crate::Solution::fallback)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PreconditionerFallback {
    /// `alpha` is so small next to the kernel's diagonal that the Nyström factor cannot be
    /// applied accurately at this precision (`M^-1` divides by `alpha`): plain CG instead.
    AlphaTooSmall {
        /// The shift `alpha`.
        alpha: f64,
        /// `alpha / max_i A_ii`.
        ratio: f64,
        /// The smallest ratio the automatic choice accepts at this precision and size.
        limit: f64,
    },
    /// The Nyström-preconditioned iteration failed (breakdown or stagnation, `reason`); the solve
    /// was run again without a preconditioner.
    Retried {
        /// What went wrong with the preconditioner.
        reason: String,
    },
}

impl fmt::Display for PreconditionerFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlphaTooSmall {
                alpha,
                ratio,
                limit,
            } => write!(
                f,
                "the Nyström preconditioner was not used: alpha = {alpha:.1e} is {ratio:.1e} times \
                 the kernel's largest diagonal entry, below the {limit:.1e} at which it stays \
                 accurate; solved by plain conjugate gradient"
            ),
            Self::Retried { reason } => write!(
                f,
                "the Nyström-preconditioned solve failed ({reason}); solved again by plain \
                 conjugate gradient"
            ),
        }
    }
}

/// `alpha` below what the data's precision resolves next to the kernel's diagonal: rounding
/// makes `alpha I + K` numerically singular, so a solve may stagnate or break down however long
/// it iterates (reported in [`Solution::singular`](crate::Solution::singular)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericallySingular {
    /// The shift `alpha`.
    pub alpha: f64,
    /// `alpha / max_i A_ii`, the estimate.
    pub ratio: f64,
    /// The ratio below which the products' rounding (about `n` times the machine epsilon)
    /// dominates `alpha`.
    pub limit: f64,
    /// The data's precision.
    pub precision: &'static str,
    /// An `alpha` above the rounding: `limit * max_i A_ii`.
    pub suggested: f64,
}

impl fmt::Display for NumericallySingular {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alpha = {:.1e} is too small for this kernel's conditioning in {}: alpha / max K_ii = \
             {:.1e}, below the {:.1e} that the products' rounding resolves, so rounding makes \
             alpha I + K numerically singular; raise alpha to at least about {:.1e}",
            self.alpha, self.precision, self.ratio, self.limit, self.suggested
        )
    }
}

/// The scale of `alpha I + A` a solve needs to tell rounding from a genuine breakdown: the
/// operator's largest diagonal entry (when it gives its diagonal), `alpha`, the data's machine
/// epsilon and the size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Conditioning {
    pub(crate) alpha: f64,
    /// `max_i A_ii`, `None` when the operator does not give its diagonal.
    pub(crate) max_diag: Option<f64>,
    /// `min_i A_ii` (negative: `A` is not positive semidefinite).
    pub(crate) min_diag: Option<f64>,
    /// Machine epsilon of the data's precision.
    pub(crate) eps: f64,
    /// Its name (`"f32"`, `"f64"`).
    pub(crate) precision: &'static str,
    pub(crate) n: usize,
}

impl Conditioning {
    /// From the operator's diagonal: a non-finite entry is [`KeopsError::KernelUndefined`] (a
    /// kernel parameter out of range, such as a width whose square underflows). Without a
    /// diagonal, only `alpha`, the precision and the size are known.
    pub(crate) fn of<T: Real, A: LinearOperator<T> + ?Sized>(
        op: &A,
        alpha: f64,
    ) -> Result<Self, KeopsError> {
        let n = op.nrows();
        let mut d = vec![0.0; n];
        let (max_diag, min_diag) = match op.diagonal(&mut d) {
            Ok(()) => {
                if let Some(row) = d.iter().position(|v| !v.is_finite()) {
                    return Err(KeopsError::KernelUndefined { row, value: d[row] });
                }
                let max = d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let min = d.iter().copied().fold(f64::INFINITY, f64::min);
                (Some(max), Some(min))
            }
            // An operator that cannot give its diagonal (for whatever reason) is solved without
            // this diagnosis, as before; the preconditioners that need it report the error.
            Err(e) => {
                log::debug!("no diagonal for the solver's diagnosis: {e}");
                (None, None)
            }
        };
        Ok(Conditioning {
            alpha,
            max_diag,
            min_diag,
            eps: epsilon::<T>(),
            precision: T::NAME,
            n,
        })
    }

    /// `alpha / max_i A_ii`, when the diagonal is known and positive.
    pub(crate) fn ratio(&self) -> Option<f64> {
        self.max_diag.filter(|&d| d > 0.0).map(|d| self.alpha / d)
    }

    /// The size of `p^T (alpha I + A) p` that rounding alone can produce for `||p||^2 = pp`: the
    /// kernel's values and the products' sums carry relative errors of a few `eps`, summed over
    /// `n` terms.
    fn rounding(&self, pp: f64) -> Option<f64> {
        let d = self.max_diag.filter(|&d| d > 0.0)?;
        Some(8.0 * self.eps * self.n as f64 * d * pp)
    }

    /// The smallest `alpha / max A_ii` at which a breakdown cannot come from rounding.
    pub(crate) fn singular_limit(&self) -> f64 {
        8.0 * self.eps * self.n as f64
    }

    /// Whether `alpha` is below the products' rounding (see [`NumericallySingular`]).
    pub(crate) fn singular(&self) -> Option<NumericallySingular> {
        let d = self.max_diag.filter(|&d| d > 0.0)?;
        let (ratio, limit) = (self.alpha / d, self.singular_limit());
        (ratio < limit).then_some(NumericallySingular {
            alpha: self.alpha,
            ratio,
            limit,
            precision: self.precision,
            suggested: limit * d,
        })
    }

    /// The smallest `alpha / max A_ii` at which the automatic choice uses a Nyström factor.
    pub(crate) fn nystrom_limit(&self) -> f64 {
        100.0 * self.eps * (self.n as f64).sqrt()
    }

    /// The error for `p^T (alpha I + A) p = curvature` (not positive, or not finite) with
    /// `||p||^2 = pp`: [`KeopsError::AlphaTooSmall`] when rounding explains it (a positive
    /// semidefinite diagonal, `alpha` below the rounding of the products, and a curvature within
    /// that rounding or not finite), [`KeopsError::NotPositiveDefinite`] otherwise.
    pub(crate) fn breakdown(
        &self,
        iteration: usize,
        column: usize,
        curvature: f64,
        pp: f64,
    ) -> KeopsError {
        let psd = self.min_diag.is_some_and(|d| d >= 0.0);
        let small = self.ratio().is_some_and(|r| r < self.singular_limit());
        let within = match self.rounding(pp) {
            Some(limit) => !curvature.is_finite() || !pp.is_finite() || -curvature <= limit,
            None => false,
        };
        if psd && small && within {
            let d = self.max_diag.unwrap_or(1.0);
            KeopsError::AlphaTooSmall {
                alpha: self.alpha,
                ratio: self.alpha / d,
                precision: self.precision,
                suggested: self.singular_limit() * d,
                detail: format!(
                    "p^T (alpha I + K) p = {curvature:.3e} at iteration {iteration} (right-hand side column {column})"
                ),
            }
        } else {
            KeopsError::NotPositiveDefinite {
                iteration,
                column,
                curvature,
            }
        }
    }
}

/// Machine epsilon of `T`.
pub(crate) fn epsilon<T: Real>() -> f64 {
    if T::NAME == "f32" {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    }
}

/// A power of two `s` with `max_abs * s` in `[1, 2)` (1 for zero or non-finite): the solver works
/// on `s b`, whose squared norms cannot overflow, and returns `x / s`; a power of two scales
/// every rounding exactly, so the iterates are those of `b` itself, bit for bit.
pub(crate) fn column_scale(max_abs: f64) -> f64 {
    if !(max_abs.is_finite() && max_abs > 0.0) {
        return 1.0;
    }
    let e = (max_abs.log2().floor() as i32).clamp(-1022, 1023);
    2f64.powi(-e)
}

/// [`column_scale`] of each column of the row-major `(n, k)` block `b`.
pub(crate) fn column_scales(b: &[f64], k: usize) -> Vec<f64> {
    (0..k)
        .map(|c| {
            let m = b
                .iter()
                .skip(c)
                .step_by(k)
                .fold(0.0f64, |m, v| m.max(v.abs()));
            column_scale(m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_powers_of_two_that_normalise() {
        for &m in &[1.0, 1.5, 3.0, 1e300, 1e-300, 5e-324, f64::MAX] {
            let s = column_scale(m);
            assert_eq!(s.log2().fract(), 0.0, "{m}");
            let v = m * s;
            assert!(v.is_finite() && v > 0.0, "{m}: {v}");
            if m > 1e-290 {
                assert!(
                    (1.0..2.0).contains(&v) || (v - 2.0).abs() < 1e-12,
                    "{m}: {v}"
                );
            }
        }
        assert_eq!(column_scale(1.0), 1.0);
        assert_eq!(column_scale(0.0), 1.0);
        assert_eq!(column_scale(f64::NAN), 1.0);
    }
}
