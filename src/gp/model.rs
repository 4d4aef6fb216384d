//! The Gaussian process: its kernel, noise and mean; conditioned on data ([`Posterior`]), it
//! predicts means and variances.

use keops_runtime::{ConjugateGradient, IntoView, View};

use super::dense;
use super::error::GpError;
use super::kernel::{scaled, Kernel, Lengthscale};
use super::kernels::bind_kernel;
use super::likelihood::{interleave, profile_means, split, Data, Hyper, LogLikelihood};
use super::stochastic::{self, SharedLandmarks};

/// By default, up to this many points [`Estimator::Auto`] and [`GaussianProcess::fit`] use the dense exact
/// path (a Cholesky factor of `K + noise I`: `n^3 / 3` flops and `8 n^2` bytes); above it, the
/// matrix-free one (conjugate gradients and stochastic estimates).
pub const DENSE_MAX: usize = 2000;

/// The least relative tolerance of the stochastic estimator's solves: its estimates are no
/// better than their sampling error (a fraction of a percent), and twice as many iterations as
/// at 1e-5 buy nothing there.
const STOCHASTIC_TOLERANCE: f64 = 1e-5;

/// The prior mean of the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mean {
    /// Zero.
    #[default]
    Zero,
    /// A constant per output, estimated from the data (generalised least squares: the value
    /// that maximises the marginal likelihood).
    Constant,
}

/// How the log marginal likelihood and its gradient are computed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Estimator {
    /// [`Exact`](Self::Exact) up to [`DENSE_MAX`] points, [`Stochastic`](Self::Stochastic)
    /// with 16 probes and seed 0 above.
    #[default]
    Auto,
    /// Dense Cholesky: exact, `O(n^3)` time and `O(n^2)` memory.
    Exact,
    /// Matrix-free: the data term by preconditioned conjugate gradients, `log det` by stochastic
    /// Lanczos quadrature over `probes` Gaussian probes drawn from the Nyström preconditioner
    /// (whose own log determinant is exact), the traces of the gradient by the same probes.
    /// The error of the estimates shrinks like `1 / sqrt(probes)`; deterministic given `seed`.
    /// Its solves stop at a relative residual of 1e-5 (or the process's tolerance if larger).
    Stochastic {
        /// Probe vectors.
        probes: usize,
        /// Seed of the probes.
        seed: u64,
    },
}

/// A Gaussian process `f ~ GP(m, k)` observed with Gaussian noise: `y = f(x) + e`,
/// `e ~ N(0, noise)`.
///
/// ```
/// use keops::gp::{Family, GaussianProcess, Kernel};
///
/// let x: Vec<f64> = (0..200).map(|i| i as f64 / 200.0).collect();
/// let y: Vec<f64> = x.iter().map(|x| (6.0 * x).sin()).collect();
/// let gp = GaussianProcess::new(Kernel::new(Family::Gaussian, 0.2)).noise(1e-4);
/// let posterior = gp.fit(&x, &y)?;
/// let t = [0.5];
/// let mean = posterior.predict(&t[..])?;
/// assert!((mean[0] - 3.0f64.sin()).abs() < 1e-3);
/// let var = posterior.predict_variance(&t[..])?;
/// assert!(var[0] >= 0.0 && var[0] < 1e-3);
/// # Ok::<(), keops::gp::GpError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianProcess {
    /// The covariance of `f`.
    pub kernel: Kernel,
    /// The variance of the observation noise.
    pub noise: f64,
    /// The prior mean.
    pub mean: Mean,
    /// How the marginal likelihood is computed.
    pub estimator: Estimator,
    /// Relative tolerance of the conjugate gradients (the fit's solve and the stochastic
    /// estimates).
    pub tolerance: f64,
    /// Up to this many points the dense exact path is used ([`DENSE_MAX`] by default).
    pub dense_max: usize,
}

impl GaussianProcess {
    /// A zero-mean process with this kernel and a noise variance of `1e-6` times its signal
    /// variance.
    pub fn new(kernel: Kernel) -> GaussianProcess {
        let noise = 1e-6 * kernel.variance;
        GaussianProcess {
            kernel,
            noise,
            mean: Mean::Zero,
            estimator: Estimator::Auto,
            tolerance: 1e-8,
            dense_max: DENSE_MAX,
        }
    }
    /// With this noise variance.
    pub fn noise(mut self, noise: f64) -> Self {
        self.noise = noise;
        self
    }
    /// With this prior mean.
    pub fn mean(mut self, mean: Mean) -> Self {
        self.mean = mean;
        self
    }
    /// With this estimator of the marginal likelihood.
    pub fn estimator(mut self, estimator: Estimator) -> Self {
        self.estimator = estimator;
        self
    }
    /// With this relative tolerance for the conjugate gradients.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// With the dense exact path up to `n` points (0: always matrix-free).
    pub fn dense_max(mut self, n: usize) -> Self {
        self.dense_max = n;
        self
    }

    /// The hyperparameters for points of dimension `dim`, checked.
    pub(crate) fn hyper(&self, dim: usize) -> Result<Hyper, GpError> {
        let lengthscales = self.kernel.lengthscales(dim)?;
        super::kernel::positive("noise variance", self.noise)?;
        Ok(Hyper {
            family: self.kernel.family,
            lengthscales,
            isotropic: matches!(self.kernel.lengthscale, Lengthscale::Isotropic(_)),
            variance: self.kernel.variance,
            noise: self.noise,
        })
    }

    /// `log p(y | x)` and its gradient with respect to the log hyperparameters: the
    /// lengthscale (one entry, or one per dimension), the signal variance, the noise variance.
    /// `y` may have several columns (independent outputs sharing the hyperparameters).
    pub fn log_marginal_likelihood<'x, 'y>(
        &self,
        x: impl IntoView<'x, f64>,
        y: impl IntoView<'y, f64>,
    ) -> Result<LogLikelihood, GpError> {
        let (x, y) = (x.into_view(), y.into_view());
        self.likelihood(&x, &y, None)
    }

    /// [`log_marginal_likelihood`](Self::log_marginal_likelihood), the stochastic estimator's
    /// preconditioner on the `shared` landmarks if given (a fit's).
    pub(crate) fn likelihood(
        &self,
        x: &View<'_, f64>,
        y: &View<'_, f64>,
        shared: Option<&SharedLandmarks>,
    ) -> Result<LogLikelihood, GpError> {
        let data = self.data(x, y)?;
        let h = self.hyper(x.dim())?;
        let terms = match self.resolved_estimator(x.rows()) {
            Estimator::Stochastic { probes, seed } => {
                let tolerance = self.tolerance.max(STOCHASTIC_TOLERANCE);
                stochastic::terms(&h, &data, probes, seed, tolerance, shared)?
            }
            _ => dense::terms(&h, &data)?,
        };
        let ll = terms.assemble();
        if !ll.value.is_finite() || ll.gradient.iter().any(|g| !g.is_finite()) {
            return Err(GpError::NonFiniteLikelihood { at: h.describe() });
        }
        Ok(ll)
    }

    /// The estimator this process uses at `n` points ([`Estimator::Auto`] resolved).
    pub fn resolved_estimator(&self, n: usize) -> Estimator {
        match self.estimator {
            Estimator::Auto if n <= self.dense_max => Estimator::Exact,
            Estimator::Auto => Estimator::Stochastic {
                probes: 16,
                seed: 0,
            },
            e => e,
        }
    }

    /// The training data, checked: targets with one row per point, finite.
    pub(crate) fn data<'a>(
        &self,
        x: &'a View<'a, f64>,
        y: &'a View<'a, f64>,
    ) -> Result<Data<'a>, GpError> {
        if y.rows() != x.rows() {
            return Err(GpError::TargetRows {
                targets: y.rows(),
                points: x.rows(),
            });
        }
        if let Some(p) = y.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(GpError::NonFiniteTarget {
                row: p / y.dim(),
                col: p % y.dim(),
                value: y.as_slice()[p],
            });
        }
        x.check_finite("the points")?;
        Ok(Data {
            x,
            y: y.as_slice(),
            k: y.dim(),
            constant_mean: self.mean == Mean::Constant,
        })
    }

    /// Conditions the process on observations `y` (one row per point, one column per output):
    /// solves `(K + noise I) a = y - m` (dense Cholesky up to [`DENSE_MAX`] points, else the
    /// preconditioned conjugate gradient).
    pub fn fit<'x, 'y>(
        &self,
        x: impl IntoView<'x, f64>,
        y: impl IntoView<'y, f64>,
    ) -> Result<Posterior, GpError> {
        let (x, y) = (x.into_view(), y.into_view());
        let data = self.data(&x, &y)?;
        let h = self.hyper(x.dim())?;
        let xs = scaled(&x, &h.lengthscales)?;
        let n = x.rows();
        let ys: Vec<Vec<f64>> = (0..data.k).map(|c| data.column(c)).collect();
        let mut rhs = ys.clone();
        if data.constant_mean {
            rhs.push(vec![1.0; n]);
        }
        let (mut sol, factor) = if n <= self.dense_max {
            let chol = dense::factor(&h, &xs)?;
            let sol = rhs.iter().map(|b| chol.solve_vec(b)).collect();
            (sol, Some(chol))
        } else {
            (self.solve_columns(&h, &xs, &rhs)?, None)
        };
        let k1 = data
            .constant_mean
            .then(|| sol.pop().expect("the ones column"));
        let (means, _, _) = profile_means(&mut sol, k1.as_deref(), &ys);
        Ok(Posterior {
            gp: self.clone(),
            hyper: h,
            xs,
            coefficients: sol,
            means,
            factor,
            cache: std::sync::Mutex::new(None),
        })
    }

    /// `(K + noise I)^-1 b` for each column, by the preconditioned conjugate gradient.
    pub(crate) fn solve_columns(
        &self,
        h: &Hyper,
        xs: &View<'static, f64>,
        columns: &[Vec<f64>],
    ) -> Result<Vec<Vec<f64>>, GpError> {
        let k = bind_kernel(h.family, h.variance, xs.clone(), xs.clone())?;
        let q = columns.len();
        let b = interleave(columns, xs.rows());
        let cg = ConjugateGradient::new().tolerance(self.tolerance.max(1e-12));
        let sol = cg
            .solve_shifted(&k, h.noise, View::new(&b, q)?)
            .map_err(keops_runtime::KeopsError::from)?;
        Ok(split(sol.coefficients.as_slice(), q))
    }
}

/// A Gaussian process conditioned on data: the coefficients `a = (K + noise I)^-1 (y - m)`
/// behind its predictions.
#[derive(Debug)]
pub struct Posterior {
    gp: GaussianProcess,
    pub(crate) hyper: Hyper,
    /// The training points divided by their lengthscales.
    pub(crate) xs: View<'static, f64>,
    /// `a_c` per output.
    coefficients: Vec<Vec<f64>>,
    means: Vec<f64>,
    /// The Cholesky factor of `K + noise I` (dense path).
    pub(crate) factor: Option<super::cholesky::Factor>,
    /// The fast variance's Lanczos cache, built on first use.
    pub(crate) cache: std::sync::Mutex<Option<super::variance::LanczosCache>>,
}

impl Posterior {
    /// The process it was conditioned with.
    pub fn process(&self) -> &GaussianProcess {
        &self.gp
    }
    /// The constant mean per output (zeros for a zero mean).
    pub fn means(&self) -> &[f64] {
        &self.means
    }
    /// The coefficients of output `c`: `(K + noise I)^-1 (y_c - m_c)`.
    pub fn coefficients(&self, c: usize) -> &[f64] {
        &self.coefficients[c]
    }

    /// Test points divided by the lengthscales, checked against the training dimension.
    pub(crate) fn scaled_test<'t>(
        &self,
        t: impl IntoView<'t, f64>,
    ) -> Result<View<'static, f64>, GpError> {
        let t = t.into_view();
        if t.dim() != self.xs.dim() {
            return Err(GpError::Dimension {
                expected: self.xs.dim(),
                found: t.dim(),
            });
        }
        scaled(&t, &self.hyper.lengthscales)
    }

    /// The posterior mean at `t`, `m + K_tx a`: one row per point, one column per output.
    pub fn predict<'t>(&self, t: impl IntoView<'t, f64>) -> Result<crate::Rows<f64>, GpError> {
        let ts = self.scaled_test(t)?;
        let q = self.coefficients.len();
        let a = interleave(&self.coefficients, self.xs.rows());
        let h = &self.hyper;
        let k = bind_kernel(h.family, h.variance, ts, self.xs.clone())?;
        let mut out = k.matvec(View::new(&a, q)?)?.into_vec();
        for row in out.chunks_exact_mut(q) {
            row.iter_mut().zip(&self.means).for_each(|(o, m)| *o += m);
        }
        Ok(crate::Rows::from_vec(out, q)?)
    }
}
