//! The hyperparameter fit: its optimum against the dense reference's gradient. (Recovery of
//! known hyperparameters at N = 2,000: `cargo run --release --example gp -- --only recovery`.)

use super::*;
use keops::gp::Tuning;

/// The dense path's fit: the reference gradient vanishes at the fitted point (per-dimension
/// lengthscales, constant mean), and the likelihood beats the start.
#[test]
fn exact_fit_reaches_a_stationary_point() {
    let mut rng = Rng::named("gp exact fit", 0);
    let (x, y) = data(&mut rng, 400, 2, 1);
    let gp = GaussianProcess::new(Kernel::new(Family::Matern32, 1.0).per_dimension(vec![1.0, 1.0]))
        .mean(Mean::Constant);
    let tuned = gp
        .fit_hyperparameters(keops::View::new(&x, 2).unwrap(), &y, &Tuning::default())
        .unwrap();
    let g = reference_gradient(&tuned.process, &x, 2, &y, 1);
    let worst = g.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    assert!(worst < 1e-2 * 400.0, "gradient at the fit: {g:?}");
    assert!(
        (tuned.log_likelihood - reference_lml(&tuned.process, &x, 2, &y, 1)).abs()
            < 1e-6 * tuned.log_likelihood.abs()
    );
}

/// Samples `y ~ N(0, K + noise I)` at `n` points of `[0, width]` (dense Cholesky of the
/// reference).
fn sample(gp: &GaussianProcess, rng: &mut Rng, n: usize, width: f64) -> (Vec<f64>, Vec<f64>) {
    let x = rng.vec(n, 0.0, width);
    let l = dense_covariance(gp, &x, 1).cholesky().unwrap().unpack();
    let z = DVector::from_fn(n, |_, _| {
        let (u, v) = (1.0 - rng.unit(), rng.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    });
    (x, (l * z).as_slice().to_vec())
}

/// Data drawn from the prior with known hyperparameters are fitted back: lengthscale and noise
/// within 10% (exact path; N = 500 here for the test's time, N = 2,000 in
/// `cargo run --release --example gp -- --only recovery`). The points span 40 lengthscales: on
/// a domain of a few lengthscales only `variance / l^(2 nu)` of a Matérn kernel is identifiable
/// (Zhang 2004), and its fit trades the lengthscale against the variance (Matérn 5/2 on
/// [0, 1] with l = 0.15 came out at l = 0.128 and variance 0.45, the same `v / l^5`).
#[test]
fn recovers_lengthscale_and_noise() {
    for (family, l) in [(Family::Gaussian, 0.1), (Family::Matern52, 0.15)] {
        let truth = GaussianProcess::new(Kernel::new(family, l)).noise(0.01);
        let mut rng = Rng::named("gp recovery", 0);
        let (x, y) = sample(&truth, &mut rng, 500, 40.0 * l);
        let start = GaussianProcess::new(Kernel::new(family, 1.0));
        let tuned = start
            .fit_hyperparameters(&x, &y, &Tuning::default())
            .unwrap();
        let Lengthscale::Isotropic(lf) = tuned.process.kernel.lengthscale else {
            panic!("an isotropic start stays isotropic")
        };
        let (name, noise) = (family.name(), tuned.process.noise);
        eprintln!(
            "{name}: lengthscale {lf} for {l}, noise {noise} for 0.01, {} evaluations",
            tuned.evaluations
        );
        assert!(
            (lf / l - 1.0).abs() < 0.1,
            "{name}: lengthscale {lf} for {l}"
        );
        assert!(
            (noise / 0.01 - 1.0).abs() < 0.1,
            "{name}: noise {noise} for 0.01"
        );
    }
}

/// The matrix-free fit (stochastic estimates above `dense_max`, here lowered to 100): it starts
/// from the exact fit of 500 of the points and stops at its estimates' noise; its hyperparameters
/// are close to the exact fit's on all the points, in few evaluations of the full data.
#[test]
fn stochastic_fit_lands_near_the_exact_one() {
    let truth = GaussianProcess::new(Kernel::new(Family::Gaussian, 0.1)).noise(0.01);
    let mut rng = Rng::named("gp stochastic fit", 0);
    let (x, y) = sample(&truth, &mut rng, 803, 40.0 * 0.1);
    let start = GaussianProcess::new(Kernel::new(Family::Gaussian, 1.0));
    let exact = start
        .fit_hyperparameters(&x, &y, &Tuning::default())
        .unwrap();
    let stochastic = start
        .clone()
        .dense_max(100)
        .fit_hyperparameters(&x, &y, &Tuning::default())
        .unwrap();
    let (e, s) = (&exact.process, &stochastic.process);
    let (Lengthscale::Isotropic(le), Lengthscale::Isotropic(ls)) =
        (&e.kernel.lengthscale, &s.kernel.lengthscale)
    else {
        panic!("an isotropic start stays isotropic")
    };
    eprintln!(
        "exact: l {le}, v {}, noise {}, {} evaluations; stochastic: l {ls}, v {}, noise {}, {} \
         evaluations",
        e.kernel.variance,
        e.noise,
        exact.evaluations,
        s.kernel.variance,
        s.noise,
        stochastic.evaluations
    );
    assert!((ls / le - 1.0).abs() < 0.05, "lengthscale {ls} for {le}");
    assert!(
        (s.noise / e.noise - 1.0).abs() < 0.05,
        "noise {} for {}",
        s.noise,
        e.noise
    );
    assert!(
        stochastic.evaluations <= 20,
        "{} evaluations",
        stochastic.evaluations
    );
    // The exact likelihood at the stochastic fit is within the estimates' noise of the optimum.
    let at = reference_lml(s, &x, 1, &y, 1);
    assert!(
        at > exact.log_likelihood - 1e-3 * 803.0,
        "{at} for {}",
        exact.log_likelihood
    );
}
