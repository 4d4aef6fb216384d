//! The log marginal likelihood and its gradient: exact path against the dense reference for
//! every family (isotropic and per-dimension lengthscales, zero and constant means, one and two
//! outputs); the stochastic estimates within stated errors that shrink with more probes.

use super::*;
use keops::gp::Estimator;

/// N = 301: not a multiple of any tile.
const N: usize = 301;

#[test]
fn exact_likelihood_and_gradient_match_the_dense_reference() {
    let mut rng = Rng::named("gp exact lml", 0);
    for (f, family) in FAMILIES.into_iter().enumerate() {
        for (d, per_dimension, mean, k) in [
            (1, false, Mean::Zero, 1),
            (2, true, Mean::Constant, 2),
            (3, false, Mean::Constant, 1),
        ] {
            let (x, y) = data(&mut rng, N, d, k);
            let mut kernel = Kernel::new(family, 0.3).variance(1.7);
            if per_dimension {
                kernel = kernel.per_dimension((0..d).map(|q| 0.2 + 0.15 * q as f64).collect());
            }
            let gp = GaussianProcess::new(kernel)
                .noise(0.05)
                .mean(mean)
                .estimator(Estimator::Exact);
            let xv = keops::View::new(&x, d).unwrap();
            let yv = keops::View::new(&y, k).unwrap();
            let ll = gp.log_marginal_likelihood(&xv, &yv).unwrap();
            let what = format!(
                "family {f} ({}), d = {d}, {mean:?}, {k} outputs",
                family.name()
            );
            assert_close(
                &format!("{what}: value"),
                &[ll.value],
                &[reference_lml(&gp, &x, d, &y, k)],
                1e-9,
            );
            assert_close(
                &format!("{what}: gradient"),
                &ll.gradient,
                &reference_gradient(&gp, &x, d, &y, k),
                1e-5,
            );
        }
    }
}

/// The stochastic estimator against the exact value: each family at 4 and 32 probes over 3
/// seeds. The stated accuracy at 32 probes: the value within 0.02 per point (the estimate of
/// `log det` has a standard deviation of `sqrt(2 / probes) |log(M^-1 K^)|_F`, large for rough
/// kernels whose spectrum the Nyström preconditioner leaves), the gradient within 5% of its
/// largest entry; the gradient's error smaller than at 4 probes for each family, the value's
/// summed over the families (one family's value error is too noisy over 3 seeds to order).
#[test]
fn stochastic_estimates_converge_with_probes() {
    let mut rng = Rng::named("gp stochastic lml", 0);
    let n = 411;
    let (mut sum4, mut sum32) = (0.0, 0.0);
    for family in FAMILIES {
        let (x, y) = data(&mut rng, n, 2, 1);
        let gp = GaussianProcess::new(Kernel::new(family, 0.25).variance(1.3))
            .noise(0.02)
            .mean(Mean::Constant);
        let xv = keops::View::new(&x, 2).unwrap();
        let exact = gp
            .clone()
            .estimator(Estimator::Exact)
            .log_marginal_likelihood(&xv, &y)
            .unwrap();
        let gscale = exact.gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let error = |probes: usize| {
            let (mut ev, mut eg) = (0.0, 0.0);
            for seed in 0..3 {
                let est = gp
                    .clone()
                    .estimator(Estimator::Stochastic { probes, seed })
                    .log_marginal_likelihood(&xv, &y)
                    .unwrap();
                ev += (est.value - exact.value).abs() / n as f64 / 3.0;
                let worst = est
                    .gradient
                    .iter()
                    .zip(&exact.gradient)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                eg += worst / gscale / 3.0;
                assert_close("means", &est.means, &exact.means, 1e-4);
            }
            (ev, eg)
        };
        let (v4, g4) = error(4);
        let (v32, g32) = error(32);
        let name = family.name();
        eprintln!(
            "{name}: per-point value error {v4:.2e} -> {v32:.2e}, gradient {g4:.2e} -> {g32:.2e}"
        );
        assert!(
            v32 < 2e-2 && g32 < 5e-2,
            "{name}: 32 probes: value error {v32:.2e} per point, gradient error {g32:.2e}"
        );
        assert!(
            g32 < g4,
            "{name}: gradient errors at 4 probes {g4:.2e}, at 32 {g32:.2e}"
        );
        sum4 += v4;
        sum32 += v32;
    }
    assert!(
        sum32 < sum4,
        "value errors summed: {sum4:.2e} at 4 probes, {sum32:.2e} at 32"
    );
}
