//! Hyperparameters by maximising the log marginal likelihood: argmin's L-BFGS (More-Thuente
//! line search) over the log hyperparameters, each mapped smoothly into its bounds, from a
//! start read off the data (median distance, variance of the targets).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{
    CostFunction, Executor, Gradient, State, TerminationReason, TerminationStatus, KV,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use keops_runtime::{sample_indices, IntoView, View};

use super::error::GpError;
use super::kernel::{positive, Lengthscale};
use super::model::{Estimator, GaussianProcess};
use super::stochastic::SharedLandmarks;

/// Runs L-BFGS with this line search from `u0`: (iterations, converged, why it stopped). A
/// failed line search ends the run where it is (the best point evaluated stands).
macro_rules! minimise {
    ($objective:expr, $linesearch:expr, $u0:expr, $tuning:expr, $tolerance:expr) => {{
        let solver = LBFGS::new($linesearch, 7)
            .with_tolerance_grad($tolerance)
            .and_then(|s| s.with_tolerance_cost(1e-12))
            .map_err(fit_failed)?;
        let iterations = Arc::new(AtomicU64::new(0));
        let run = Executor::new($objective, solver)
            .configure(|s| s.param($u0).max_iters($tuning.max_iterations))
            .add_observer(Iterations(iterations.clone()), ObserverMode::Always)
            .run();
        let done = iterations.load(Ordering::Relaxed);
        match &run {
            Ok(r) => {
                let status = r.state().get_termination_status();
                let converged = !matches!(
                    status,
                    TerminationStatus::Terminated(TerminationReason::MaxItersReached)
                );
                (done, converged, status.to_string())
            }
            Err(e) => (done, true, e.to_string()),
        }
    }};
}

/// Counts L-BFGS iterations (also of a run that ends with an error, such as a stationary point).
struct Iterations(Arc<AtomicU64>);

impl<I: State> Observe<I> for Iterations {
    fn observe_iter(&mut self, state: &I, _kv: &KV) -> Result<(), argmin::core::Error> {
        self.0.store(state.get_iter(), Ordering::Relaxed);
        Ok(())
    }
}

/// Lower and upper bounds of a hyperparameter, `0 < lower <= upper < inf`.
pub type Bounds = (f64, f64);

/// Settings of [`GaussianProcess::fit_hyperparameters`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// Bounds of the lengthscale(s); `None`: `1e-3` to `1e3` times the median distance.
    pub lengthscale: Option<Bounds>,
    /// Bounds of the signal variance; `None`: `1e-3` to `1e3` times the targets' variance.
    pub variance: Option<Bounds>,
    /// Bounds of the noise variance; `None`: `1e-6` to `10` times the targets' variance.
    pub noise: Option<Bounds>,
    /// Start from the process's own hyperparameters instead of the data's scales.
    pub start_from_process: bool,
    /// L-BFGS iterations at most.
    pub max_iterations: u64,
    /// Likelihood evaluations at most (the line searches' included): a stochastic estimate's
    /// gradient is not exactly its value's, and the line search may then evaluate many points.
    pub max_evaluations: usize,
    /// Stop when the gradient's norm (with respect to the log hyperparameters, per point) is
    /// below this; the stochastic estimator's gradients are no better than `1e-4` per point
    /// (at 10,000 points and 16 probes), which is then the tolerance if larger.
    pub gradient_tolerance: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            lengthscale: None,
            variance: None,
            noise: None,
            start_from_process: false,
            max_iterations: 100,
            max_evaluations: 300,
            gradient_tolerance: 1e-7,
        }
    }
}

/// The fitted process and how the fit went.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    /// The process with the fitted hyperparameters.
    pub process: GaussianProcess,
    /// The log marginal likelihood there.
    pub log_likelihood: f64,
    /// The constant mean per output (zeros for a zero mean).
    pub means: Vec<f64>,
    /// L-BFGS iterations.
    pub iterations: u64,
    /// Evaluations of the likelihood and its gradient.
    pub evaluations: usize,
    /// Wall time of the fit.
    pub time: Duration,
}

/// The bounds of the log hyperparameters. The optimiser moves `u` freely; the likelihood is
/// evaluated at `u` clamped into the bounds (its gradient is 0 across a bound), and a quadratic
/// penalty on the excess pulls `u` back: bounds by projection, keeping the logs' natural scale
/// (a sigmoid map flattens near the bounds and stalls there).
#[derive(Clone)]
struct SearchBox {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

/// Points of the exact fit that starts a matrix-free one ([`GaussianProcess::warm_start`]): its
/// evaluations cost about as much as one stochastic evaluation on 10,000 points.
const WARM_START_POINTS: usize = 500;

/// Seed of the rows of that fit.
const WARM_START_SEED: u64 = 0x05ee_df17;

/// The least gradient tolerance (per point) of a fit with the stochastic estimator: its
/// gradients' sampling error (about `1e-4` per point on the tutorial's data at 10,000 points
/// and 16 probes, smaller with more points); below it the line search only chases noise.
const STOCHASTIC_GRADIENT: f64 = 1e-4;

/// A rise of the estimated likelihood per point that counts as progress in a fit with the
/// stochastic estimator: below its sampling error, which fixed probes and landmarks make smooth
/// but not consistent with the estimated gradient.
const STOCHASTIC_STALL: f64 = 1e-7;

/// Weight of the penalty, per point and squared excess of a log.
const PENALTY: f64 = 10.0;

impl SearchBox {
    fn theta(&self, u: &[f64]) -> Vec<f64> {
        (0..u.len())
            .map(|q| u[q].clamp(self.lo[q], self.hi[q]))
            .collect()
    }
    fn u(&self, theta: &[f64]) -> Vec<f64> {
        theta.to_vec()
    }
    /// `d theta_q / d u_q`: 1 inside the bounds, 0 beyond.
    fn slope(&self, u: &[f64]) -> Vec<f64> {
        (0..u.len())
            .map(|q| f64::from(u[q] >= self.lo[q] && u[q] <= self.hi[q]))
            .collect()
    }
    /// `u - clamp(u)`, per entry.
    fn excess(&self, u: &[f64]) -> Vec<f64> {
        u.iter().zip(self.theta(u)).map(|(u, t)| u - t).collect()
    }
}

/// The negative log marginal likelihood per point of `u`, for argmin; the last evaluation is
/// kept (the line search asks for the cost and the gradient at the same point), and the first
/// error, to be returned typed.
struct Objective<'a> {
    gp: &'a GaussianProcess,
    x: &'a View<'a, f64>,
    y: &'a View<'a, f64>,
    bounds: SearchBox,
    scale: f64,
    last: Mutex<Option<(Vec<f64>, super::LogLikelihood)>>,
    /// The stochastic estimator's landmarks, shared by every evaluation.
    landmarks: SharedLandmarks,
    error: &'a Mutex<Option<GpError>>,
    best: &'a Mutex<Option<Best>>,
    max_evaluations: usize,
    /// The gradient tolerance (per point).
    tolerance: f64,
    /// The rise of the likelihood per point below which stochastic estimates stall (`None` for
    /// exact ones).
    stall: Option<f64>,
}

/// Why an objective refuses to evaluate: the cap on evaluations.
const EVALUATION_CAP: &str = "the cap on likelihood evaluations was reached";

/// Why an objective ends a fit: a point whose gradient is below the tolerance.
const STATIONARY: &str = "a stationary point was reached";

/// Why an objective ends a fit with stochastic estimates: no progress beyond their noise.
const STALLED: &str = "the likelihood stopped rising beyond its estimates' noise";

/// Evaluations without progress that end a fit with stochastic estimates.
const STALL_EVALUATIONS: usize = 10;

/// The best point evaluated, the evaluations so far, and the last that raised the best value
/// by more than the stall threshold.
struct Best {
    theta: Vec<f64>,
    ll: super::LogLikelihood,
    evaluations: usize,
    progress: usize,
}

impl Objective<'_> {
    fn evaluate(&self, u: &[f64]) -> Result<super::LogLikelihood, argmin::core::Error> {
        if let Some((p, ll)) = &*self.last.lock().expect("not poisoned") {
            if p == u {
                return Ok(ll.clone());
            }
        }
        let theta = self.bounds.theta(u);
        let gp = with_theta(self.gp, &theta);
        if let Some((p, ll)) = &*self.last.lock().expect("not poisoned") {
            if self.bounds.theta(p) == theta {
                return Ok(ll.clone());
            }
        }
        let spent = self
            .best
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map_or(0, |b| b.evaluations);
        if spent >= self.max_evaluations {
            return Err(argmin::core::Error::msg(EVALUATION_CAP));
        }
        match gp.likelihood(self.x, self.y, Some(&self.landmarks)) {
            Ok(ll) => self.record(u, theta, ll),
            Err(e) => {
                let message = e.to_string();
                self.error.lock().expect("not poisoned").get_or_insert(e);
                Err(argmin::core::Error::msg(message))
            }
        }
    }

    /// Keeps `ll` (at `u`, the hyperparameters `theta`) as the last evaluation, and as the best
    /// if it is or if it is stationary: a gradient below the tolerance at any point evaluated
    /// (a line search's trial points included) ends the fit there. So does, with a `stall`
    /// threshold (stochastic estimates), a best value that has not risen by more than it per
    /// point for [`STALL_EVALUATIONS`] evaluations: the line search then only chases the
    /// estimates' noise.
    fn record(
        &self,
        u: &[f64],
        theta: Vec<f64>,
        ll: super::LogLikelihood,
    ) -> Result<super::LogLikelihood, argmin::core::Error> {
        *self.last.lock().expect("not poisoned") = Some((u.to_vec(), ll.clone()));
        let g = self.objective_gradient(u, &ll);
        let stationary = g.iter().map(|g| g * g).sum::<f64>().sqrt() < self.tolerance;
        let mut best = self.best.lock().expect("not poisoned");
        let evaluations = best.as_ref().map_or(0, |b| b.evaluations) + 1;
        let rise = self.stall.map_or(0.0, |s| s * self.scale);
        let progress = match &*best {
            Some(b) if ll.value > b.ll.value + rise => evaluations,
            Some(b) => b.progress,
            None => evaluations,
        };
        match &mut *best {
            Some(b) if b.ll.value >= ll.value && !stationary => {
                b.evaluations = evaluations;
                b.progress = progress;
            }
            _ => {
                *best = Some(Best {
                    theta,
                    ll: ll.clone(),
                    evaluations,
                    progress,
                })
            }
        }
        if stationary {
            return Err(argmin::core::Error::msg(STATIONARY));
        }
        if self.stall.is_some() && evaluations - progress >= STALL_EVALUATIONS {
            return Err(argmin::core::Error::msg(STALLED));
        }
        Ok(ll)
    }

    /// The gradient of the objective at `u` from the likelihood's there.
    fn objective_gradient(&self, u: &[f64], ll: &super::LogLikelihood) -> Vec<f64> {
        let slope = self.bounds.slope(u);
        let excess = self.bounds.excess(u);
        (0..u.len())
            .map(|q| -ll.gradient[q] * slope[q] / self.scale + PENALTY * excess[q])
            .collect()
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let penalty: f64 = self
            .bounds
            .excess(u)
            .iter()
            .map(|e| 0.5 * PENALTY * e * e)
            .sum();
        Ok(-self.evaluate(u)?.value / self.scale + penalty)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let ll = self.evaluate(u)?;
        Ok(self.objective_gradient(u, &ll))
    }
}

/// The log hyperparameters in the gradient's order: lengthscale(s), signal variance, noise.
pub(crate) fn theta_of(gp: &GaussianProcess) -> Vec<f64> {
    let mut t: Vec<f64> = match &gp.kernel.lengthscale {
        Lengthscale::Isotropic(l) => vec![l.ln()],
        Lengthscale::PerDimension(l) => l.iter().map(|l| l.ln()).collect(),
    };
    t.push(gp.kernel.variance.ln());
    t.push(gp.noise.ln());
    t
}

/// The process with the log hyperparameters `theta`.
pub(crate) fn with_theta(gp: &GaussianProcess, theta: &[f64]) -> GaussianProcess {
    let mut gp = gp.clone();
    let q = theta.len() - 2;
    gp.kernel.lengthscale = match gp.kernel.lengthscale {
        Lengthscale::Isotropic(_) => Lengthscale::Isotropic(theta[0].exp()),
        Lengthscale::PerDimension(_) => {
            Lengthscale::PerDimension(theta[..q].iter().map(|t| t.exp()).collect())
        }
    };
    gp.kernel.variance = theta[q].exp();
    gp.noise = theta[q + 1].exp();
    gp
}

/// The median distance between points (over at most 1,000 of them), per dimension for
/// per-dimension lengthscales: the data's own length scale.
fn median_distances(x: &View<'_, f64>, per_dimension: bool) -> Vec<f64> {
    let n = x.rows();
    let step = n.div_ceil(1000).max(1);
    let rows: Vec<&[f64]> = (0..n).step_by(step).map(|i| x.row(i)).collect();
    let dims = if per_dimension { x.dim() } else { 1 };
    (0..dims)
        .map(|d| {
            let mut dist = Vec::new();
            for (a, p) in rows.iter().enumerate() {
                for q in &rows[a + 1..] {
                    let r2: f64 = if per_dimension {
                        (p[d] - q[d]).powi(2)
                    } else {
                        p.iter().zip(*q).map(|(p, q)| (p - q).powi(2)).sum()
                    };
                    if r2 > 0.0 {
                        dist.push(r2.sqrt());
                    }
                }
            }
            dist.sort_by(f64::total_cmp);
            dist.get(dist.len() / 2).copied().unwrap_or(1.0)
        })
        .collect()
}

/// The variance of the targets (over all outputs, about each output's mean); 1 when constant.
fn target_variance(y: &View<'_, f64>) -> f64 {
    let (n, k) = (y.rows() as f64, y.dim());
    let mut var = 0.0;
    for c in 0..k {
        let col: Vec<f64> = y.as_slice().iter().skip(c).step_by(k).copied().collect();
        let mean = col.iter().sum::<f64>() / n;
        var += col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    }
    let var = var / k as f64;
    if var > 0.0 && var.is_finite() {
        var
    } else {
        1.0
    }
}

/// Checked bounds of one hyperparameter, in logs.
fn log_bounds(parameter: &str, b: Bounds) -> Result<(f64, f64), GpError> {
    let bad = GpError::Bounds {
        parameter: parameter.to_string(),
        lower: b.0,
        upper: b.1,
        start_outside: false,
    };
    if positive(parameter, b.0).is_err() || positive(parameter, b.1).is_err() || b.0 > b.1 {
        return Err(bad);
    }
    Ok((b.0.ln(), b.1.ln()))
}

impl GaussianProcess {
    /// Fits the kernel's lengthscale(s) and signal variance and the noise variance (and the
    /// constant mean, with [`Mean::Constant`](super::Mean::Constant)) by maximising the log
    /// marginal likelihood ([`log_marginal_likelihood`](Self::log_marginal_likelihood), with
    /// this process's [`Estimator`](super::Estimator)): L-BFGS on the log hyperparameters
    /// within their bounds. Deterministic (the stochastic estimator's probes are seeded).
    ///
    /// The family (and a rational quadratic's shape) and the mean's kind stay as they are.
    pub fn fit_hyperparameters<'x, 'y>(
        &self,
        x: impl IntoView<'x, f64>,
        y: impl IntoView<'y, f64>,
        tuning: &Tuning,
    ) -> Result<Tuned, GpError> {
        let started = Instant::now();
        let (x, y) = (x.into_view(), y.into_view());
        self.data(&x, &y)?;
        let per_dimension = matches!(self.kernel.lengthscale, Lengthscale::PerDimension(_));
        let parameters = if per_dimension { x.dim() } else { 1 } + 2;
        let needed = parameters + 1 + usize::from(self.mean == super::Mean::Constant);
        if x.rows() < needed {
            return Err(GpError::TooFewPoints {
                points: x.rows(),
                parameters,
                needed,
            });
        }
        let (bounds, start) = self.search_box(&x, &y, tuning, per_dimension)?;
        let start = match self.warm_start(&x, &y, tuning, &bounds, &start)? {
            Some(theta) => theta,
            None => start,
        };
        self.maximise(&x, &y, tuning, bounds, start, started)
    }

    /// L-BFGS on the log hyperparameters within `bounds` from `start` (see
    /// [`fit_hyperparameters`](Self::fit_hyperparameters)), timed from `started`.
    fn maximise(
        &self,
        x: &View<'_, f64>,
        y: &View<'_, f64>,
        tuning: &Tuning,
        bounds: SearchBox,
        start: Vec<f64>,
        started: Instant,
    ) -> Result<Tuned, GpError> {
        let u0 = bounds.u(&start);
        let (tolerance, stall) = match self.resolved_estimator(x.rows()) {
            Estimator::Stochastic { .. } => (
                tuning.gradient_tolerance.max(STOCHASTIC_GRADIENT),
                Some(STOCHASTIC_STALL),
            ),
            _ => (tuning.gradient_tolerance, None),
        };
        let (error, best) = (Mutex::new(None), Mutex::new(None));
        let objective = Objective {
            gp: self,
            x,
            y,
            bounds,
            scale: (x.rows() * y.dim()) as f64,
            last: Mutex::new(None),
            landmarks: SharedLandmarks::default(),
            error: &error,
            best: &best,
            max_evaluations: tuning.max_evaluations.max(1),
            tolerance,
            stall,
        };
        let (iterations, mut converged, reason) = minimise!(
            objective,
            MoreThuenteLineSearch::new(),
            u0,
            tuning,
            tolerance
        );
        if let Some(e) = error.lock().expect("not poisoned").take() {
            return Err(e);
        }
        converged &= !reason.contains(EVALUATION_CAP);
        let best = best.lock().expect("not poisoned").take();
        let Some(best) = best else {
            return Err(GpError::FitFailed { reason });
        };
        let tuned = Tuned {
            process: with_theta(self, &best.theta),
            log_likelihood: best.ll.value,
            means: best.ll.means,
            iterations,
            evaluations: best.evaluations,
            time: started.elapsed(),
        };
        if converged {
            Ok(tuned)
        } else {
            Err(GpError::NotConverged {
                iterations,
                best: Box::new(tuned),
            })
        }
    }

    /// The start of a matrix-free fit of more than [`WARM_START_POINTS`] points: the exact fit
    /// of that many of them (drawn with a fixed seed), within the same bounds from the same
    /// start. Its hyperparameters are close to the full data's (the likelihood per point
    /// changes slowly with the number of points), so the full data's stochastic estimates,
    /// whose gradients are noisy, are needed for a few steps only. `None` where the fit is
    /// exact anyway, starts from the process, or the subset's fit fails (the data's start
    /// stands).
    fn warm_start(
        &self,
        x: &View<'_, f64>,
        y: &View<'_, f64>,
        tuning: &Tuning,
        bounds: &SearchBox,
        start: &[f64],
    ) -> Result<Option<Vec<f64>>, GpError> {
        let n = x.rows();
        let exact = matches!(self.resolved_estimator(n), Estimator::Exact);
        if exact || tuning.start_from_process || n <= WARM_START_POINTS {
            return Ok(None);
        }
        let rows = sample_indices(n, WARM_START_POINTS, WARM_START_SEED);
        let pick = |v: &View<'_, f64>| -> Vec<f64> {
            rows.iter()
                .flat_map(|&i| v.row(i).iter().copied())
                .collect()
        };
        let (xs, ys) = (pick(x), pick(y));
        let (xs, ys) = (View::new(&xs, x.dim())?, View::new(&ys, y.dim())?);
        let subset = self.clone().estimator(Estimator::Exact);
        let r = subset.maximise(
            &xs,
            &ys,
            tuning,
            bounds.clone(),
            start.to_vec(),
            Instant::now(),
        );
        match r {
            Ok(t) => Ok(Some(theta_of(&t.process))),
            Err(GpError::NotConverged { best, .. }) => Ok(Some(theta_of(&best.process))),
            Err(_) => Ok(None),
        }
    }

    /// The bounds of the log hyperparameters and the start, from the data's scales unless
    /// asked to start from this process.
    fn search_box(
        &self,
        x: &View<'_, f64>,
        y: &View<'_, f64>,
        tuning: &Tuning,
        per_dimension: bool,
    ) -> Result<(SearchBox, Vec<f64>), GpError> {
        let median = median_distances(x, per_dimension);
        let var = target_variance(y);
        let mut lo = Vec::new();
        let mut hi = Vec::new();
        let mut start = Vec::new();
        for (d, m) in median.iter().enumerate() {
            let name = if per_dimension {
                format!("lengthscale[{d}]")
            } else {
                "lengthscale".to_string()
            };
            let b = log_bounds(&name, tuning.lengthscale.unwrap_or((m * 1e-3, m * 1e3)))?;
            lo.push(b.0);
            hi.push(b.1);
            start.push(m.ln());
        }
        let v = log_bounds(
            "signal variance",
            tuning.variance.unwrap_or((var * 1e-3, var * 1e3)),
        )?;
        let s = log_bounds(
            "noise variance",
            tuning.noise.unwrap_or((var * 1e-6, var * 10.0)),
        )?;
        lo.extend([v.0, s.0]);
        hi.extend([v.1, s.1]);
        start.extend([var.ln(), (var * 1e-2).ln()]);
        if tuning.start_from_process {
            self.hyper(x.dim())?;
            start = theta_of(self);
            let names = parameter_names(start.len() - 2, per_dimension);
            for (q, name) in names.iter().enumerate() {
                if start[q] < lo[q] || start[q] > hi[q] {
                    return Err(GpError::Bounds {
                        parameter: name.clone(),
                        lower: lo[q].exp(),
                        upper: hi[q].exp(),
                        start_outside: true,
                    });
                }
            }
        }
        // A start outside bounds the user set is clamped into them.
        let start = (0..start.len())
            .map(|q| start[q].clamp(lo[q], hi[q]))
            .collect();
        Ok((SearchBox { lo, hi }, start))
    }
}

fn fit_failed(e: argmin::core::Error) -> GpError {
    GpError::FitFailed {
        reason: e.to_string(),
    }
}

/// The hyperparameters' names in the gradient's order.
pub(crate) fn parameter_names(lengthscales: usize, per_dimension: bool) -> Vec<String> {
    let mut names: Vec<String> = if per_dimension {
        (0..lengthscales)
            .map(|d| format!("lengthscale[{d}]"))
            .collect()
    } else {
        vec!["lengthscale".to_string()]
    };
    names.push("signal variance".to_string());
    names.push("noise variance".to_string());
    names
}
