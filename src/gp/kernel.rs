//! A named kernel with its hyperparameters: the family, the lengthscale(s) and the signal
//! variance; usable as a kernel matrix like any `kernel!` formula.

use keops_runtime::{IntoView, Real, View};

use super::error::GpError;
use super::kernels::{bind_kernel, DynKernelMatrix, Family};

/// One lengthscale for every dimension, or one per dimension (automatic relevance
/// determination).
#[derive(Debug, Clone, PartialEq)]
pub enum Lengthscale {
    /// The same lengthscale in every direction.
    Isotropic(f64),
    /// One lengthscale per dimension of the points.
    PerDimension(Vec<f64>),
}

/// `k(x, y) = variance * phi(|(x - y) / lengthscale|)` for a [`Family`] `phi`.
///
/// ```
/// use keops::gp::{Family, Kernel};
///
/// let x: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
/// let k = Kernel::new(Family::Matern52, 0.2).variance(2.0).matrix(&x, &x)?;
/// let ones = vec![1.0; 100];
/// let row_sums = k.matvec(&ones)?;
/// assert!(row_sums[0] > 2.0); // k(x, x) = 2, plus its neighbours
/// # Ok::<(), keops::gp::GpError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// The shape of the covariance.
    pub family: Family,
    /// Its lengthscale(s).
    pub lengthscale: Lengthscale,
    /// The signal variance `k(x, x)`.
    pub variance: f64,
}

impl Kernel {
    /// A kernel of the family with an isotropic lengthscale and unit variance.
    pub fn new(family: Family, lengthscale: f64) -> Kernel {
        Kernel {
            family,
            lengthscale: Lengthscale::Isotropic(lengthscale),
            variance: 1.0,
        }
    }
    /// With this signal variance.
    pub fn variance(mut self, variance: f64) -> Kernel {
        self.variance = variance;
        self
    }
    /// With one lengthscale per dimension.
    pub fn per_dimension(mut self, lengthscales: Vec<f64>) -> Kernel {
        self.lengthscale = Lengthscale::PerDimension(lengthscales);
        self
    }

    /// The lengthscale of each of `dim` dimensions, every hyperparameter checked.
    pub fn lengthscales(&self, dim: usize) -> Result<Vec<f64>, GpError> {
        self.check()?;
        match &self.lengthscale {
            Lengthscale::Isotropic(l) => Ok(vec![*l; dim]),
            Lengthscale::PerDimension(l) if l.len() == dim => Ok(l.clone()),
            Lengthscale::PerDimension(l) => Err(GpError::LengthscaleCount {
                lengthscales: l.len(),
                dim,
            }),
        }
    }

    /// Every hyperparameter positive and finite.
    pub(crate) fn check(&self) -> Result<(), GpError> {
        match &self.lengthscale {
            Lengthscale::Isotropic(l) => positive("lengthscale", *l)?,
            Lengthscale::PerDimension(ls) => {
                for (d, l) in ls.iter().enumerate() {
                    positive(&format!("lengthscale[{d}]"), *l)?;
                }
            }
        }
        positive("signal variance", self.variance)?;
        if let Family::RationalQuadratic { shape } = self.family {
            positive("rational quadratic shape", shape)?;
        }
        Ok(())
    }

    /// The kernel matrix `k(x_i, y_j)`: a lazy operator like any `kernel!` formula's (products,
    /// columns, diagonal, solves, hierarchical products). The points are copied once, divided by
    /// their lengthscales.
    pub fn matrix<'x, 'y, T: Real>(
        &self,
        x: impl IntoView<'x, T>,
        y: impl IntoView<'y, T>,
    ) -> Result<DynKernelMatrix<T>, GpError> {
        let (x, y) = (x.into_view(), y.into_view());
        if x.dim() != y.dim() {
            return Err(GpError::Dimension {
                expected: x.dim(),
                found: y.dim(),
            });
        }
        let l = self.lengthscales(x.dim())?;
        Ok(bind_kernel(
            self.family,
            self.variance,
            scaled(&x, &l)?,
            scaled(&y, &l)?,
        )?)
    }
}

/// `value` positive and finite, else an error naming `parameter`.
pub(crate) fn positive(parameter: &str, value: f64) -> Result<(), GpError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(GpError::NotPositive {
            parameter: parameter.to_string(),
            value,
        })
    }
}

/// The points divided by their lengthscales, owned (the formulas have unit lengthscale).
pub(crate) fn scaled<T: Real>(x: &View<'_, T>, l: &[f64]) -> Result<View<'static, T>, GpError> {
    x.check_finite("the points")?;
    let data = x
        .as_slice()
        .chunks_exact(x.dim())
        .flat_map(|row| {
            row.iter()
                .zip(l)
                .map(|(&v, &l)| T::from_f64(v.to_f64() / l))
        })
        .collect();
    Ok(View::from_vec(data, x.dim())?)
}
