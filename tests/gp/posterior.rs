//! Posterior means and variances against the dense reference: exact mode to 1e-8 (dense path)
//! and through conjugate gradients (above `DENSE_MAX`), the fast Lanczos mode within its
//! tolerance and never below the exact variance; variances never negative.

use super::*;
use keops::gp::Variance;

/// Dense posterior mean and variance at the test points.
fn reference(
    gp: &GaussianProcess,
    x: &[f64],
    y: &[f64],
    t: &[f64],
    d: usize,
) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d;
    let chol = dense_covariance(gp, x, d).cholesky().unwrap();
    let l = lengthscales(&gp.kernel, d);
    let ones = DVector::from_element(n, 1.0);
    let yv = DVector::from_column_slice(y);
    let m = match gp.mean {
        Mean::Constant => ones.dot(&chol.solve(&yv)) / ones.dot(&chol.solve(&ones)),
        Mean::Zero => 0.0,
    };
    let a = chol.solve(&yv.add_scalar(-m));
    let (mut mean, mut var) = (Vec::new(), Vec::new());
    for p in t.chunks_exact(d) {
        let kt = DVector::from_fn(n, |j, _| {
            let r2: f64 = (0..d).map(|q| ((p[q] - x[j * d + q]) / l[q]).powi(2)).sum();
            gp.kernel.variance * gp.kernel.family.profile(r2.sqrt())
        });
        mean.push(m + kt.dot(&a));
        var.push(gp.kernel.variance - kt.dot(&chol.solve(&kt)));
    }
    (mean, var)
}

#[test]
fn exact_variance_and_mean_match_dense_at_1003_points() {
    let mut rng = Rng::named("gp posterior", 0);
    let (d, n) = (2, 1003);
    for family in [Family::Gaussian, Family::Matern52, Family::Laplacian] {
        let (x, y) = data(&mut rng, n, d, 1);
        let t = rng.vec(301 * d, -0.2, 1.2);
        let gp = GaussianProcess::new(Kernel::new(family, 0.3).per_dimension(vec![0.3, 0.5]))
            .noise(1e-3)
            .mean(Mean::Constant);
        let post = gp.fit(keops::View::new(&x, d).unwrap(), &y).unwrap();
        let (mean, var) = reference(&gp, &x, &y, &t, d);
        let tv = keops::View::new(&t, d).unwrap();
        assert_close(
            &format!("{} mean", family.name()),
            &post.predict(&tv).unwrap(),
            &mean,
            1e-8,
        );
        let got = post.predict_variance(&tv).unwrap();
        assert_close(&format!("{} variance", family.name()), &got, &var, 1e-8);
        assert!(got.iter().all(|v| *v >= 0.0));
        // Fast mode: an upper bound, within its tolerance for the smooth kernels.
        let max_rank = if family == Family::Laplacian {
            256
        } else {
            1003
        };
        let fast = post
            .predict_variance_with(
                &tv,
                Variance::Fast {
                    tolerance: 1e-3,
                    max_rank,
                },
            )
            .unwrap();
        for (q, (f, e)) in fast.iter().zip(&got).enumerate() {
            assert!(
                *f >= e - 1e-9,
                "{} fast variance {q}: {f:e} below exact {e:e}",
                family.name()
            );
            if family != Family::Laplacian {
                assert!(
                    f - e <= 1e-3,
                    "{} fast variance {q}: {f:e} vs exact {e:e}",
                    family.name()
                );
            }
        }
    }
}

/// Above the dense threshold, the fit solves by conjugate gradients and the exact variance by CG with
/// `k_t` as right-hand sides: both still match the dense reference.
#[test]
fn matrix_free_posterior_matches_dense() {
    let mut rng = Rng::named("gp posterior cg", 0);
    let (d, n) = (1, 677);
    let (x, y) = data(&mut rng, n, d, 1);
    let t = rng.vec(97, -0.1, 1.1);
    let gp = GaussianProcess::new(Kernel::new(Family::Matern32, 0.1))
        .noise(1e-2)
        .mean(Mean::Constant)
        .dense_max(500);
    let post = gp.fit(&x, &y).unwrap();
    let (mean, var) = reference(&gp, &x, &y, &t, d);
    assert_close("mean", &post.predict(&t[..]).unwrap(), &mean, 1e-6);
    let got = post.predict_variance(&t[..]).unwrap();
    assert_close("variance", &got, &var, 1e-6);
    let fast = post
        .predict_variance_with(
            &t[..],
            Variance::Fast {
                tolerance: 1e-4,
                max_rank: 512,
            },
        )
        .unwrap();
    assert_close("fast variance", &fast, &var, 2e-4);
}
