//! Gaussian-process regression with `keops::gp`: `--fit` (the hyperparameters by maximising the
//! log marginal likelihood, then the posterior with them) and `--save-var` (the posterior
//! variance). Everything here computes in f64.
//!
//! The tool's own solve is a Gaussian process too: `(alpha I + K) a = b` with the kernel of
//! `--kernel` at width sigma is the posterior mean's system for that kernel as covariance (signal
//! variance 1, lengthscale sigma) and noise variance alpha, so its prediction `K_tx a` is the
//! posterior mean, and `--save-var` without `--fit` writes that process's variance.

use std::time::Instant;

use keops::gp::{
    Estimator, Family, GaussianProcess, GpError, Kernel as GpKernel, Lengthscale, Mean as GpMean,
    Posterior, Tuning, Variance, DENSE_MAX,
};
use keops::prelude::*;

use crate::cli::{Kernel, Mean};
use crate::memory::Need;
use crate::progress::Progress;
use crate::{thousands, Failure};

/// The fast posterior variance: within this fraction of the signal variance of the exact one
/// (an upper bound of it), from a Lanczos cache of at most [`MAX_RANK`] vectors.
const FAST_TOLERANCE: f64 = 1e-3;
const MAX_RANK: usize = 1024;

/// The family whose `Kernel::new(family, sigma)` is the tool's kernel of width sigma:
/// `exp(-r^2 / (2 sigma^2))` is the Gaussian family's `exp(-(r / l)^2 / 2)`, `exp(-r / sigma)`
/// the Laplacian's `exp(-r / l)`. Every tool kernel has one (the match is exhaustive: a kernel
/// added to the tool needs its family here, or a refusal of --fit with it in `Args::check`).
pub fn family(kernel: Kernel) -> Family {
    match kernel {
        Kernel::Gaussian => Family::Gaussian,
        Kernel::Laplacian => Family::Laplacian,
    }
}

/// The tool's name of a kernel, as `--kernel` spells it.
pub fn kernel_name(kernel: Kernel) -> &'static str {
    family(kernel).name()
}

/// A failure of the Gaussian process as the tool's: a covariance or likelihood that breaks down
/// numerically, or a fit that fails, is exit code 5; the engine's errors map as the solve's; the
/// rest (hyperparameters, too few points) are invalid input, exit code 2.
pub fn failure(e: GpError) -> Failure {
    match e {
        GpError::Keops(e) => Failure::from(e),
        GpError::Singular { .. }
        | GpError::NonFiniteLikelihood { .. }
        | GpError::FitFailed { .. }
        | GpError::NotConverged { .. } => Failure::Breakdown(e.to_string()),
        e => Failure::Input(e.to_string()),
    }
}

/// `v` with 6 significant digits, like C's `%g`: plain decimals from 1e-4 to 1e6, scientific
/// notation outside, no trailing zeros.
pub fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exponent = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&exponent) {
        return format!("{v:.5e}");
    }
    let decimals = (5 - exponent).max(0) as usize;
    let s = format!("{v:.decimals$}");
    match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => s,
    }
}

/// Fits the hyperparameters of the process with the kernel of `kernel` and the prior `mean` to
/// the values `y` (one column per output, sharing the hyperparameters) at the points `x`, and
/// prints them, the log marginal likelihood and the fitting time. An optimiser stopped at its
/// iteration cap keeps the best hyperparameters it found, with a warning.
pub fn fit(
    kernel: Kernel,
    mean: Option<Mean>,
    x: &View<'_, f64>,
    y: &View<'_, f64>,
) -> Result<GaussianProcess, Failure> {
    let mean = match mean {
        Some(Mean::Constant) => GpMean::Constant,
        Some(Mean::Zero) | None => GpMean::Zero,
    };
    say!(
        "Fitting a Gaussian process to {} samples in {}D: {} kernel, {} mean{}",
        thousands(x.rows()),
        x.dim(),
        kernel_name(kernel),
        if mean == GpMean::Constant {
            "constant"
        } else {
            "zero"
        },
        match y.dim() {
            1 => String::new(),
            k => format!(", {k} outputs sharing the hyperparameters"),
        }
    );
    // The start is read off the data (median distance, variance of the values): the width of
    // the kernel here only names the family.
    let gp = GaussianProcess::new(GpKernel::new(family(kernel), 1.0)).mean(mean);
    let progress = Progress::start("fitting the hyperparameters");
    let result = gp.fit_hyperparameters(x.reborrow(), y.reborrow(), &Tuning::default());
    drop(progress);
    let tuned = match result {
        Ok(tuned) => tuned,
        Err(GpError::NotConverged { iterations, best }) => {
            eprintln!(
                "warning: the hyperparameter fit stopped at its cap ({iterations} iterations, {} \
                 likelihood evaluations) before converging; using the best hyperparameters it \
                 found",
                best.evaluations
            );
            *best
        }
        Err(e) => return Err(failure(e)),
    };
    let p = &tuned.process;
    let lengthscale = match &p.kernel.lengthscale {
        Lengthscale::Isotropic(l) => significant(*l),
        Lengthscale::PerDimension(l) => join(l),
    };
    say!("Fitted lengthscale: {lengthscale}");
    say!("Fitted signal variance: {}", significant(p.kernel.variance));
    say!("Fitted noise variance: {}", significant(p.noise));
    if mean == GpMean::Constant {
        say!("Fitted mean: {}", join(&tuned.means));
    }
    let how = match p.resolved_estimator(x.rows()) {
        Estimator::Stochastic { probes, .. } => format!("stochastic estimate, {probes} probes"),
        _ => "exact".to_string(),
    };
    say!(
        "Log marginal likelihood: {} ({how})",
        significant(tuned.log_likelihood)
    );
    say!(
        "Fitting time: {:.3} s ({} iterations, {} likelihood evaluations)",
        tuned.time.as_secs_f64(),
        tuned.iterations,
        tuned.evaluations
    );
    Ok(tuned.process)
}

/// The values, comma-separated.
fn join(v: &[f64]) -> String {
    v.iter()
        .map(|&v| significant(v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tool's own Gaussian process: the kernel of `kernel` with lengthscale `sigma`, signal
/// variance 1, noise variance `alpha`, zero mean.
pub fn tool_process(kernel: Kernel, sigma: f64, alpha: f64) -> GaussianProcess {
    GaussianProcess::new(GpKernel::new(family(kernel), sigma)).noise(alpha)
}

/// Conditions `gp` on the values `y` at `x`.
pub fn condition(
    gp: &GaussianProcess,
    x: &View<'_, f64>,
    y: &View<'_, f64>,
) -> Result<Posterior, Failure> {
    let _progress = Progress::start("conditioning the Gaussian process");
    gp.fit(x.reborrow(), y.reborrow()).map_err(failure)
}

/// How the posterior variance is computed for `n` training points: exactly from the Cholesky
/// factor up to [`DENSE_MAX`] points, from a Lanczos cache above (conjugate gradients per test
/// point would cost a solve each).
fn variance_mode(n: usize) -> Variance {
    if n <= DENSE_MAX {
        Variance::Exact
    } else {
        Variance::Fast {
            tolerance: FAST_TOLERANCE,
            max_rank: MAX_RANK,
        }
    }
}

/// The posterior variance at `t` (of `f(t)`, the noise not included), with how and how long
/// it took on stdout.
pub fn variance(posterior: &Posterior, n: usize, t: &View<'_, f64>) -> Result<Vec<f64>, Failure> {
    let mode = variance_mode(n);
    let start = Instant::now();
    let progress = Progress::start("computing the posterior variance");
    let var = posterior
        .predict_variance_with(t.reborrow(), mode)
        .map_err(failure)?;
    drop(progress);
    let how = match mode {
        Variance::Exact => "exact".to_string(),
        _ => format!(
            "Lanczos, an upper bound within {FAST_TOLERANCE:.0e} of the signal variance, rank \
             <= {MAX_RANK}"
        ),
    };
    say!(
        "Posterior variance at {} points ({how}): {:.5}s",
        thousands(t.rows()),
        start.elapsed().as_secs_f64()
    );
    Ok(var)
}

/// The memory of the Gaussian process on `n` points of dimension `d` with `k` outputs (the fit's
/// likelihood evaluations, the posterior) and the variance at `m` points, in bytes: dense
/// matrices up to [`DENSE_MAX`] points (the covariance, its factor, a derivative and a solve,
/// `8 n^2` each), above it the batched conjugate gradient's vectors (targets, ones and 16
/// probes), the Nyström preconditioner and the Lanczos cache of the variance (four `n x rank`
/// blocks).
pub fn need(n: usize, d: usize, k: usize, m: usize) -> Need {
    let (nf, df, kf, mf) = (n as f64, d as f64, k as f64, m as f64);
    let (solver, preconditioner) = if n <= DENSE_MAX {
        (6.0 * 8.0 * nf * nf, 0.0)
    } else {
        let columns = kf + 17.0;
        let rank = MAX_RANK.min(n) as f64;
        let nystrom = crate::memory::preconditioner(None, None, n);
        (9.0 * 8.0 * nf * columns, nystrom + 4.0 * 8.0 * nf * rank)
    };
    Need {
        // The points twice (as given, and divided by the lengthscale), the values.
        inputs: 8.0 * (2.0 * (nf + mf) * df + nf * kf),
        solver,
        preconditioner,
        prediction: mf * (kf + 1.0) * 16.0,
    }
}
