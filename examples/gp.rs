//! Gaussian-process regression (keops::gp): hyperparameter fit, prediction and variance on the
//! KeOps tutorial's 1D data, and recovery of known hyperparameters from data sampled from the
//! prior.
//!
//! ```text
//! cargo run --release --example gp                      # tutorial 1D at N = 1e4, recovery at 2,000
//! cargo run --release --example gp -- --n 20000 --only tutorial
//! ```

mod common;

use std::time::Instant;

use clap::Parser;
use common::{exit_code, machine_line, tutorial_data, Rng};
use keops::gp::{Estimator, Family, GaussianProcess, Kernel, Lengthscale, Mean, Tuning, Variance};

#[derive(Parser)]
#[command(about = "Gaussian processes: fit + predict + variance, and hyperparameter recovery")]
struct Args {
    /// Points of the tutorial's 1D problem.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Run only this part: tutorial or recovery.
    #[arg(long)]
    only: Option<String>,
}

fn main() -> std::process::ExitCode {
    exit_code(run(&Args::parse()))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    print!("{}", machine_line());
    if args.only.as_deref() == Some("evaluations") {
        return evaluations(args.n);
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
    let posterior = tuned.process.fit(&x, &y)?;
    let mean = posterior.predict(&t[..])?;
    let variance = Variance::Fast {
        tolerance: 1e-3,
        max_rank: 1024,
    };
    let var = posterior.predict_variance_with(&t[..], variance)?;
    let total = start.elapsed().as_secs_f64();
    let p = &tuned.process;
    println!(
        "tutorial 1D, N = {n}: lengthscale {:?}, signal variance {:.4e}, noise {:.4e}, mean {:.4}, \
         log p = {:.3}, {} evaluations, fit {fit_time:.2} s, fit + predict + variance {total:.2} s \
         (mean at 0.5: {:.4}, sd {:.4})",
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
    let n = 2000;
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
    let y = (chol.l() * z).as_slice().to_vec();
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
