//! The named covariance kernels, each a `kernel!` formula of unit lengthscale on points divided
//! by their lengthscale (so one compiled formula serves a scalar lengthscale and one per
//! dimension alike), times the signal variance `v`.
//!
//! Three formulas per family, all from the same expression: the kernel `v phi(|x - y|)`, its
//! derivative with respect to the log of an isotropic lengthscale (a kernel matrix, for the dense
//! path), and the products with the derivatives for every dimension's lengthscale at once (a
//! reduction with one output per dimension). The derivatives come from the compiler's `grad`:
//! for `x~ = x / l`, `dK / dlog l_d = (y~_d - x~_d) dK / dx~_d`.

use keops_runtime::{BoundKernel, KernelMatrix, Real, View};

use crate::{kernel, KeopsError};

/// `sqrt(3)` and `sqrt(5)`, the Matérn kernels' scales.
const SQRT3: f64 = 1.732_050_807_568_877_2;
const SQRT5: f64 = 2.236_067_977_499_79;

/// A kernel matrix of a formula chosen at run time.
pub type DynKernelMatrix<T> = KernelMatrix<T, Box<dyn BoundKernel<T>>>;

/// A stationary covariance `k(x, y) = v phi(r)`, `r = |(x - y) / l|`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Family {
    /// Squared exponential: `exp(-r^2 / 2)`.
    Gaussian,
    /// Exponential, Matérn 1/2: `exp(-r)`.
    Laplacian,
    /// Matérn 3/2: `(1 + sqrt(3) r) exp(-sqrt(3) r)`.
    Matern32,
    /// Matérn 5/2: `(1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)`.
    Matern52,
    /// Rational quadratic of shape `a > 0`: `(1 + r^2 / (2 a))^-a` (fixed while fitting).
    RationalQuadratic {
        /// The shape `a` (large `a` tends to the Gaussian).
        shape: f64,
    },
    /// Inverse multiquadric: `(1 + r^2)^(-1/2)`.
    InverseMultiquadric,
}

impl Family {
    /// Matérn 1/2 is the exponential (Laplacian) kernel.
    pub const MATERN12: Family = Family::Laplacian;

    /// The family's name, as the kriging tool spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Family::Gaussian => "gaussian",
            Family::Laplacian => "laplacian",
            Family::Matern32 => "matern32",
            Family::Matern52 => "matern52",
            Family::RationalQuadratic { .. } => "rational-quadratic",
            Family::InverseMultiquadric => "inverse-multiquadric",
        }
    }

    /// `phi(r)` in f64, for checks and the dense reference of the tests.
    pub fn profile(&self, r: f64) -> f64 {
        match *self {
            Family::Gaussian => (-r * r / 2.0).exp(),
            Family::Laplacian => (-r).exp(),
            Family::Matern32 => (1.0 + SQRT3 * r) * (-SQRT3 * r).exp(),
            Family::Matern52 => (1.0 + SQRT5 * r + 5.0 * r * r / 3.0) * (-SQRT5 * r).exp(),
            Family::RationalQuadratic { shape } => (1.0 + r * r / (2.0 * shape)).powf(-shape),
            Family::InverseMultiquadric => 1.0 / (1.0 + r * r).sqrt(),
        }
    }

    /// The shape of a rational quadratic (1 for the others), checked positive and finite.
    pub(crate) fn shape(&self) -> f64 {
        match *self {
            Family::RationalQuadratic { shape } => shape,
            _ => 1.0,
        }
    }
}

/// `v phi(|x~_i - y~_j|)` over scaled points.
pub(crate) fn bind_kernel<T: Real>(
    family: Family,
    v: f64,
    x: View<'static, T>,
    y: View<'static, T>,
) -> Result<DynKernelMatrix<T>, KeopsError> {
    let a = family.shape();
    Ok(match family {
        Family::Gaussian => kernel!(v * exp(-sqdist(x_i, y_j) / 2))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::Laplacian => kernel!(v * exp(-norm(x_i - y_j)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::Matern32 => {
            kernel!(let r = 1.7320508075688772 * norm(x_i - y_j); v * (1 + r) * exp(-r))
                .x_i(x)
                .y_j(y)
                .matrix()?
                .boxed()
        }
        Family::Matern52 => {
            kernel!(let r = 2.23606797749979 * norm(x_i - y_j); v * (1 + r + r * r / 3) * exp(-r))
                .x_i(x)
                .y_j(y)
                .matrix()?
                .boxed()
        }
        Family::RationalQuadratic { .. } => kernel!(v * powf(1 + sqdist(x_i, y_j) / (2 * a), -a))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::InverseMultiquadric => kernel!(v * rsqrt(1 + sqdist(x_i, y_j)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
    })
}

/// `dK / dlog l` for an isotropic lengthscale, `sum_d (y~_d - x~_d) dK / dx~_d`, over scaled
/// points: a kernel matrix (the dense path forms it; per dimension, entry `(i, j)` of
/// `dK / dlog l_d` is this entry times `(x~_id - y~_jd)^2 / r^2`).
pub(crate) fn bind_log_lengthscale_derivative<T: Real>(
    family: Family,
    v: f64,
    x: View<'static, T>,
    y: View<'static, T>,
) -> Result<DynKernelMatrix<T>, KeopsError> {
    let a = family.shape();
    Ok(match family {
        Family::Gaussian => kernel!(sum((y_j - x_i) * grad(v * exp(-sqdist(x_i, y_j) / 2), x_i, 1)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::Laplacian => kernel!(sum((y_j - x_i) * grad(v * exp(-norm(x_i - y_j)), x_i, 1)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::Matern32 => kernel!(let r = 1.7320508075688772 * norm(x_i - y_j); sum((y_j - x_i) * grad(v * (1 + r) * exp(-r), x_i, 1)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::Matern52 => kernel!(let r = 2.23606797749979 * norm(x_i - y_j); sum((y_j - x_i) * grad(v * (1 + r + r * r / 3) * exp(-r), x_i, 1)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::RationalQuadratic { .. } => kernel!(sum((y_j - x_i) * grad(v * powf(1 + sqdist(x_i, y_j) / (2 * a), -a), x_i, 1)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
        Family::InverseMultiquadric => kernel!(sum((y_j - x_i) * grad(v * rsqrt(1 + sqdist(x_i, y_j)), x_i, 1)))
            .x_i(x)
            .y_j(y)
            .matrix()?
            .boxed(),
    })
}

/// Row `i`: `sum_j dK_ij / dlog l_d w_j` for every dimension `d`, over scaled points (f64).
pub(crate) fn log_lengthscale_products(
    family: Family,
    v: f64,
    x: &View<'_, f64>,
    y: &View<'_, f64>,
    w: &[f64],
) -> Result<Vec<f64>, KeopsError> {
    let a = family.shape();
    let w = View::new(w, 1)?;
    let rows = match family {
        Family::Gaussian => kernel!(w_j: 1 => sum_j((y_j - x_i) * grad(v * exp(-sqdist(x_i, y_j) / 2), x_i, 1) * w_j))
            .x_i(x)
            .y_j(y)
            .w_j(&w)
            .eval()?,
        Family::Laplacian => kernel!(w_j: 1 => sum_j((y_j - x_i) * grad(v * exp(-norm(x_i - y_j)), x_i, 1) * w_j))
            .x_i(x)
            .y_j(y)
            .w_j(&w)
            .eval()?,
        Family::Matern32 => kernel!(w_j: 1 => let r = 1.7320508075688772 * norm(x_i - y_j); sum_j((y_j - x_i) * grad(v * (1 + r) * exp(-r), x_i, 1) * w_j))
            .x_i(x)
            .y_j(y)
            .w_j(&w)
            .eval()?,
        Family::Matern52 => kernel!(w_j: 1 => let r = 2.23606797749979 * norm(x_i - y_j); sum_j((y_j - x_i) * grad(v * (1 + r + r * r / 3) * exp(-r), x_i, 1) * w_j))
            .x_i(x)
            .y_j(y)
            .w_j(&w)
            .eval()?,
        Family::RationalQuadratic { .. } => kernel!(w_j: 1 => sum_j((y_j - x_i) * grad(v * powf(1 + sqdist(x_i, y_j) / (2 * a), -a), x_i, 1) * w_j))
            .x_i(x)
            .y_j(y)
            .w_j(&w)
            .eval()?,
        Family::InverseMultiquadric => kernel!(w_j: 1 => sum_j((y_j - x_i) * grad(v * rsqrt(1 + sqdist(x_i, y_j)), x_i, 1) * w_j))
            .x_i(x)
            .y_j(y)
            .w_j(&w)
            .eval()?,
    };
    Ok(rows.into_vec())
}
