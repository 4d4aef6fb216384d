//! Gaussian-process regression (keops::gp): hyperparameter fit, prediction and variance on the
//! KeOps tutorial's 1D data, recovery of known hyperparameters from data sampled from the
//! prior, and the fitted likelihood against scikit-learn's on the same data.
//!
//! ```text
//! cargo run --release --example gp                      # tutorial 1D at N = 1e4, recovery at 2,000
//! cargo run --release --example gp -- --n 20000 --only tutorial
//! cargo run --release --example gp -- --only sklearn    # installs scikit-learn (.ci/sklearn.sh)
//! ```

mod common;
#[path = "common/npy.rs"]
mod npy;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use common::{exit_code, machine_line, tutorial_data, Rng};
use keops::gp::{
    Estimator, Family, GaussianProcess, GpError, Kernel, Lengthscale, Mean, Tuned, Tuning, Variance,
};

#[derive(Parser)]
#[command(about = "Gaussian processes: fit + predict + variance, and hyperparameter recovery")]
struct Args {
    /// Points of the tutorial's 1D problem.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Run only this part: tutorial, recovery, evaluations (likelihood timings at --n) or
    /// sklearn (fitted likelihood against scikit-learn's, N = 2,000; not in the default run).
    #[arg(long)]
    only: Option<String>,
}

fn main() -> std::process::ExitCode {
    exit_code(run(&Args::parse()))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    print!("{}", machine_line());
    match args.only.as_deref() {
        Some("evaluations") => return evaluations(args.n),
        Some("sklearn") => return sklearn(),
        _ => {}
    }
    if args.only.as_deref() != Some("recovery") {
        tutorial(args.n)?;
    }
    if args.only.as_deref() != Some("tutorial") {
        for (family, l) in [(Family::Gaussian, 0.1), (Family::Matern52, 0.15)] {
            recovery(family, l)?;
        }
    }
    Ok(())
}

/// The time of one likelihood-and-gradient evaluation on the tutorial's 1D data, per path.
fn evaluations(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (x, y) = tutorial_data(1, n);
    let gp = GaussianProcess::new(Kernel::new(Family::Gaussian, 0.1))
        .noise(1e-2)
        .mean(Mean::Constant);
    let mut paths = vec![Estimator::Stochastic {
        probes: 16,
        seed: 0,
    }];
    if n <= 4000 {
        paths.push(Estimator::Exact);
    }
    for estimator in paths {
        let start = Instant::now();
        let ll = gp
            .clone()
            .estimator(estimator)
            .log_marginal_likelihood(&x, &y)?;
        println!(
            "N = {n}, {estimator:?}: log p = {:.4}, gradient {:?}, {:.3} s",
            ll.value,
            ll.gradient,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Fit, predict at 1,000 points, and the fast variance there, on the tutorial's 1D data.
fn tutorial(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (x, y) = tutorial_data(1, n);
    let start = Instant::now();
    let gp = GaussianProcess::new(Kernel::new(Family::Gaussian, 0.1)).mean(Mean::Constant);
    let tuned = gp.fit_hyperparameters(&x, &y, &Tuning::default())?;
    let fit_time = start.elapsed().as_secs_f64();
    let t: Vec<f64> = (0..1000).map(|i| i as f64 / 999.0).collect();
    let lap = Instant::now();
    let posterior = tuned.process.fit(&x, &y)?;
    let condition_time = lap.elapsed().as_secs_f64();
    let lap = Instant::now();
    let mean = posterior.predict(&t[..])?;
    let predict_time = lap.elapsed().as_secs_f64();
    let lap = Instant::now();
    let variance = Variance::Fast {
        tolerance: 1e-3,
        max_rank: 1024,
    };
    let var = posterior.predict_variance_with(&t[..], variance)?;
    let variance_time = lap.elapsed().as_secs_f64();
    let total = start.elapsed().as_secs_f64();
    let p = &tuned.process;
    println!(
        "tutorial 1D, N = {n}: lengthscale {:?}, signal variance {:.4e}, noise {:.4e}, mean {:.4}, \
         log p = {:.3}, {} evaluations, fit {fit_time:.2} s, fit + predict + variance {total:.2} s \
         (condition {condition_time:.2} s, predict {predict_time:.3} s, variance \
         {variance_time:.2} s; mean at 0.5: {:.4}, sd {:.4})",
        p.kernel.lengthscale,
        p.kernel.variance,
        p.noise,
        tuned.means[0],
        tuned.log_likelihood,
        tuned.evaluations,
        mean[500],
        var[500].sqrt()
    );
    Ok(())
}

/// Samples 2,000 points of `[0, 40 l]` from the prior with known hyperparameters (dense
/// Cholesky) and fits them back, with the exact and the stochastic estimators.
fn recovery(family: Family, l: f64) -> Result<(), Box<dyn std::error::Error>> {
    let (x, y) = prior_sample(family, l, 2000)?;
    for estimator in [
        Estimator::Exact,
        Estimator::Stochastic {
            probes: 16,
            seed: 0,
        },
    ] {
        let start = Instant::now();
        let gp = GaussianProcess::new(Kernel::new(family, 1.0)).estimator(estimator);
        let tuned = gp.fit_hyperparameters(&x, &y, &Tuning::default())?;
        let Lengthscale::Isotropic(lf) = tuned.process.kernel.lengthscale else {
            unreachable!("an isotropic start stays isotropic")
        };
        println!(
            "recovery {} (l = {l}, noise 0.01), {estimator:?}: lengthscale {lf:.4} ({:+.1}%), \
             noise {:.4e} ({:+.1}%), signal variance {:.3}, log p = {:.3}, {} evaluations, {:.2} s",
            family.name(),
            100.0 * (lf / l - 1.0),
            tuned.process.noise,
            100.0 * (tuned.process.noise / 0.01 - 1.0),
            tuned.process.kernel.variance,
            tuned.log_likelihood,
            tuned.evaluations,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `n` points of `[0, 40 l]` and values sampled from the zero-mean prior with this family,
/// lengthscale `l`, unit signal variance and noise 0.01 (dense Cholesky).
fn prior_sample(
    family: Family,
    l: f64,
    n: usize,
) -> Result<(Vec<f64>, Vec<f64>), Box<dyn std::error::Error>> {
    let mut rng = Rng(7);
    // Over 40 lengthscales: on a few, only v / l^(2 nu) of a Matérn kernel is identifiable.
    let x: Vec<f64> = (0..n).map(|_| 40.0 * l * rng.uniform()).collect();
    let k = nalgebra::DMatrix::from_fn(n, n, |i, j| {
        let r = (x[i] - x[j]).abs() / l;
        family.profile(r) + if i == j { 0.01 } else { 0.0 }
    });
    let chol = k
        .cholesky()
        .ok_or("the prior covariance is not positive definite")?;
    let z = nalgebra::DVector::from_fn(n, |_, _| rng.normal());
    Ok((x, (chol.l() * z).as_slice().to_vec()))
}

/// Points of the comparison with scikit-learn: the exact (dense) path's largest size.
const SKLEARN_N: usize = 2000;

/// The fitted log marginal likelihood against scikit-learn's GaussianProcessRegressor on the
/// same data and kernel (constant * RBF or Matérn 5/2 + white noise, zero mean, one L-BFGS-B
/// run: benches/gp_sklearn.py), both fits timed in this run; and ours evaluated at scikit-learn's
/// hyperparameters, which must match its own value. Data: the tutorial's 1D signal, and a sample
/// of each family's prior. The .npy files go to target/gp-sklearn/. Our fit is
/// `Tuning::default()`'s.
fn sklearn() -> Result<(), Box<dyn std::error::Error>> {
    let tuning = Tuning::default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/gp-sklearn");
    std::fs::create_dir_all(&dir)?;
    let python = stdout_of(
        Command::new("bash").arg(root.join(".ci/sklearn.sh")),
        ".ci/sklearn.sh",
    )?
    .trim()
    .to_string();
    let tutorial = tutorial_data(1, SKLEARN_N);
    let mut all = true;
    for family in [Family::Gaussian, Family::Matern52] {
        let data = ("tutorial 1D", "tutorial", &tutorial.0[..], &tutorial.1[..]);
        all &= compare(&python, &dir, family, data, &tuning)?;
    }
    for (family, l) in [(Family::Gaussian, 0.1), (Family::Matern52, 0.15)] {
        let (x, y) = prior_sample(family, l, SKLEARN_N)?;
        let name = format!("{} prior sample (l = {l}, noise 0.01)", family.name());
        let stem = format!("prior-{}", family.name());
        all &= compare(
            &python,
            &dir,
            family,
            (&name, &stem, &x[..], &y[..]),
            &tuning,
        )?;
    }
    println!(
        "keops >= sklearn on every problem: {}",
        if all { "yes" } else { "no" }
    );
    Ok(())
}

/// One problem of [`sklearn`]: `data` is its name, the stem of its .npy files, points and
/// values. Whether our fitted log marginal likelihood is at least scikit-learn's.
fn compare(
    python: &str,
    dir: &Path,
    family: Family,
    (name, stem, x, y): (&str, &str, &[f64], &[f64]),
    tuning: &Tuning,
) -> Result<bool, Box<dyn std::error::Error>> {
    let n = x.len();
    let (x_path, y_path) = (
        dir.join(format!("{stem}-x.npy")),
        dir.join(format!("{stem}-y.npy")),
    );
    npy::write(&x_path, &[n, 1], x)?;
    npy::write(&y_path, &[n], y)?;
    let line = stdout_of(
        Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gp_sklearn.py"))
            .arg(&x_path)
            .arg(&y_path)
            .args(["--kernel", family.name()]),
        "benches/gp_sklearn.py",
    )?;
    let report: serde_json::Value = serde_json::from_str(&line)?;
    let number = |key: &str| {
        report[key]
            .as_f64()
            .ok_or_else(|| format!("no number \"{key}\" in {line}"))
    };
    let (sk_l, sk_v, sk_s) = (
        number("lengthscale")?,
        number("signal_variance")?,
        number("noise")?,
    );
    let (sk_ll, sk_time) = (number("log_marginal_likelihood")?, number("seconds")?);
    let sk_evaluations = number("evaluations")?;
    let sk_converged = report["converged"].as_bool() == Some(true);

    let gp = GaussianProcess::new(Kernel::new(family, 1.0)).estimator(Estimator::Exact);
    let (tuned, converged) = match gp.fit_hyperparameters(x, y, tuning) {
        Ok(t) => (t, true),
        Err(GpError::NotConverged { best, .. }) => (*best, false),
        Err(e) => return Err(e.into()),
    };
    let Tuned {
        process: ours,
        log_likelihood: ll,
        ..
    } = &tuned;
    let Lengthscale::Isotropic(l) = ours.kernel.lengthscale else {
        unreachable!("an isotropic start stays isotropic")
    };
    let at_theirs = GaussianProcess::new(Kernel::new(family, sk_l).variance(sk_v))
        .noise(sk_s)
        .estimator(Estimator::Exact)
        .log_marginal_likelihood(x, y)?
        .value;
    let note = |c: bool| if c { "" } else { ", not converged" };
    println!(
        "sklearn comparison, {name}, N = {n}, {} kernel, zero mean:",
        family.name()
    );
    println!(
        "  scikit-learn {}: log p = {sk_ll:.6}, lengthscale {sk_l:.6}, signal variance {sk_v:.6e}, \
         noise {sk_s:.6e}, {sk_evaluations} evaluations, {sk_time:.2} s{}",
        report["sklearn"].as_str().unwrap_or("?"),
        note(sk_converged)
    );
    println!(
        "  keops:              log p = {ll:.6}, lengthscale {l:.6}, signal variance {:.6e}, \
         noise {:.6e}, {} evaluations, {:.2} s{}",
        ours.kernel.variance,
        ours.noise,
        tuned.evaluations,
        tuned.time.as_secs_f64(),
        note(converged)
    );
    println!(
        "  keops's log p at scikit-learn's hyperparameters: {at_theirs:.6} (scikit-learn's own \
         {sk_ll:.6}, difference {:+.3e})",
        at_theirs - sk_ll
    );
    let better = *ll >= sk_ll;
    println!(
        "  keops - sklearn: {:+.3e}; keops >= sklearn: {}",
        ll - sk_ll,
        if better { "yes" } else { "no" }
    );
    Ok(better)
}

/// The standard output of `command` (`name` in the error), which must succeed.
fn stdout_of(command: &mut Command, name: &str) -> Result<String, Box<dyn std::error::Error>> {
    let run = command.output()?;
    if !run.status.success() {
        let stderr = String::from_utf8_lossy(&run.stderr);
        return Err(format!("{name} failed: {}", stderr.trim()).into());
    }
    Ok(String::from_utf8(run.stdout)?)
}
