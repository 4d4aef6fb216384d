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
