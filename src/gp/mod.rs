//! Gaussian-process regression on the engine: named kernels, posterior means and variances,
//! and hyperparameters fitted by maximising the log marginal likelihood, with gradients from
//! the formula compiler's `grad`.
//!
//! - [`Kernel`], [`Family`]: the covariance, a `kernel!` formula per family;
//! - [`GaussianProcess`]: kernel, noise, mean; [`fit`](GaussianProcess::fit) conditions it on
//!   data ([`Posterior`]: [`predict`](Posterior::predict),
//!   [`predict_variance`](Posterior::predict_variance));
//! - [`GaussianProcess::log_marginal_likelihood`]: exact (dense Cholesky) for small sets,
//!   stochastic (batched conjugate gradients, Lanczos quadrature) for large ones ([`Estimator`]);
//! - data: anything that views as points (`&[f64]`, `&Vec<[f64; D]>`, `View`, nalgebra
//!   matrices, ndarray arrays with the feature `ndarray`), rows are points; targets one row per
//!   point, one column per output;
//! - the rooms: `kernels` (the formulas), `kernel` (hyperparameters), `likelihood` (the terms
//!   both paths compute), `dense`, `stochastic`, `model`.

mod cholesky;
mod dense;
mod error;
mod kernel;
mod kernels;
mod likelihood;
mod model;
mod stochastic;
mod tune;
mod variance;

pub use error::GpError;
pub use kernel::{Kernel, Lengthscale};
pub use kernels::{DynKernelMatrix, Family};
pub use likelihood::LogLikelihood;
pub use model::{Estimator, GaussianProcess, Mean, Posterior, DENSE_MAX};
pub use tune::{Bounds, Tuned, Tuning};
pub use variance::Variance;
