//! What can go wrong in Gaussian-process regression, each error naming what is at fault.

use crate::KeopsError;

/// Why a Gaussian process could not be built, conditioned, evaluated or fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GpError {
    /// A hyperparameter that must be positive and finite is not.
    #[error("the {parameter} must be positive and finite (got {value})")]
    NotPositive {
        /// The hyperparameter (`lengthscale`, `lengthscale[2]`, `signal variance`, ...).
        parameter: String,
        /// Its value.
        value: f64,
    },
    /// Bounds for a hyperparameter that are not `0 < lower <= upper < inf`, or a starting value
    /// outside them.
    #[error("invalid bounds for the {parameter}: [{lower}, {upper}]{}", if *.start_outside { " do not contain its starting value" } else { "" })]
    Bounds {
        /// The hyperparameter.
        parameter: String,
        /// The lower bound.
        lower: f64,
        /// The upper bound.
        upper: f64,
        /// The bounds are valid but the starting value lies outside.
        start_outside: bool,
    },
    /// Per-dimension lengthscales whose number is not the points' dimension.
    #[error("{lengthscales} lengthscales for points of dimension {dim}")]
    LengthscaleCount {
        /// Lengthscales given.
        lengthscales: usize,
        /// The points' dimension.
        dim: usize,
    },
    /// Training or test points of another dimension than the model's.
    #[error("points of dimension {found}, the model was conditioned on dimension {expected}")]
    Dimension {
        /// The model's dimension.
        expected: usize,
        /// The points'.
        found: usize,
    },
    /// Targets whose rows are not the points'.
    #[error("{targets} target rows for {points} points")]
    TargetRows {
        /// Rows of the targets.
        targets: usize,
        /// Points.
        points: usize,
    },
    /// Too few points to fit the hyperparameters.
    #[error(
        "{points} points cannot determine {parameters} hyperparameters: need at least {needed}"
    )]
    TooFewPoints {
        /// Points given.
        points: usize,
        /// Hyperparameters to fit.
        parameters: usize,
        /// The least number of points accepted.
        needed: usize,
    },
    /// A non-finite value in the targets.
    #[error("target row {row}, column {col} is not finite ({value})")]
    NonFiniteTarget {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value.
        value: f64,
    },
    /// The log marginal likelihood or its gradient came out non-finite at these
    /// hyperparameters (a covariance too close to singular for the precision).
    #[error("the log marginal likelihood is not finite at {at}")]
    NonFiniteLikelihood {
        /// The hyperparameters, as `name = value` pairs.
        at: String,
    },
    /// The covariance `K + noise I` is not positive definite at the working precision at these
    /// hyperparameters (a noise variance too small for the kernel's conditioning).
    #[error("the covariance is numerically singular at {at}: raise the noise variance")]
    Singular {
        /// The hyperparameters, as `name = value` pairs.
        at: String,
    },
    /// The optimiser reached its cap on iterations or evaluations before the gradient's
    /// tolerance; the best hyperparameters it found are kept.
    #[error("hyperparameter fit did not converge in {iterations} iterations, {} evaluations (log marginal likelihood {:.6e} at its best)", .best.evaluations, .best.log_likelihood)]
    NotConverged {
        /// L-BFGS iterations.
        iterations: u64,
        /// The best point found.
        best: Box<super::Tuned>,
    },
    /// The optimiser stopped without improving on its start, or failed.
    #[error("hyperparameter fit failed: {reason}")]
    FitFailed {
        /// What the optimiser reported.
        reason: String,
    },
    /// The engine or a solve failed (bad data, a solve that did not converge, ...).
    #[error(transparent)]
    Keops(#[from] KeopsError),
}
