//! Typed errors naming the parameter at fault; never a NaN.

use super::*;
use keops::gp::{GpError, Tuning};

#[test]
fn bad_hyperparameters_are_named() {
    let x = vec![0.0, 0.5, 1.0];
    let y = vec![0.0, 1.0, 0.0];
    let cases: Vec<(GaussianProcess, &str)> = vec![
        (
            GaussianProcess::new(Kernel::new(Family::Gaussian, 0.0)),
            "lengthscale",
        ),
        (
            GaussianProcess::new(Kernel::new(Family::Gaussian, f64::NAN)),
            "lengthscale",
        ),
        (
            GaussianProcess::new(Kernel::new(Family::Gaussian, 1.0).variance(-1.0)),
            "signal variance",
        ),
        (
            GaussianProcess::new(Kernel::new(Family::Gaussian, 1.0)).noise(f64::INFINITY),
            "noise variance",
        ),
        (
            GaussianProcess::new(Kernel::new(Family::RationalQuadratic { shape: 0.0 }, 1.0)),
            "rational quadratic shape",
        ),
    ];
    for (gp, name) in cases {
        match gp.fit(&x, &y) {
            Err(GpError::NotPositive { parameter, .. }) => assert_eq!(parameter, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    let ard =
        GaussianProcess::new(Kernel::new(Family::Gaussian, 1.0).per_dimension(vec![1.0, -2.0]));
    match ard.fit(
        keops::View::new(&[0.0, 1.0, 2.0, 3.0], 2).unwrap(),
        &[1.0, 2.0][..],
    ) {
        Err(GpError::NotPositive { parameter, .. }) => assert_eq!(parameter, "lengthscale[1]"),
        other => panic!("{other:?}"),
    }
    let ard =
        GaussianProcess::new(Kernel::new(Family::Gaussian, 1.0).per_dimension(vec![1.0, 2.0]));
    assert!(matches!(
        ard.fit(&x, &y),
        Err(GpError::LengthscaleCount {
            lengthscales: 2,
            dim: 1
        })
    ));
}

#[test]
fn bad_data_and_bounds_are_typed() {
    let gp = GaussianProcess::new(Kernel::new(Family::Matern52, 0.3));
    let x = vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
    assert!(matches!(
        gp.fit(&x, &[1.0, 2.0][..]),
        Err(GpError::TargetRows {
            targets: 2,
            points: 6
        })
    ));
    let y = vec![0.0, 1.0, f64::NAN, 0.0, 1.0, 0.0];
    assert!(matches!(
        gp.fit(&x, &y),
        Err(GpError::NonFiniteTarget { row: 2, col: 0, .. })
    ));
    let y = vec![0.0, 1.0, 0.5, 0.0, 1.0, 0.0];
    let few = gp.fit_hyperparameters(&x[..3], &y[..3], &Tuning::default());
    assert!(
        matches!(
            few,
            Err(GpError::TooFewPoints {
                points: 3,
                parameters: 3,
                ..
            })
        ),
        "{few:?}"
    );
    let bounds = Tuning {
        noise: Some((1.0, 0.1)),
        ..Tuning::default()
    };
    match gp.fit_hyperparameters(&x, &y, &bounds) {
        Err(GpError::Bounds { parameter, .. }) => assert_eq!(parameter, "noise variance"),
        other => panic!("{other:?}"),
    }
    let t = keops::View::new(&[0.0, 1.0], 2).unwrap();
    let post = gp.fit(&x, &y).unwrap();
    assert!(matches!(
        post.predict(&t),
        Err(GpError::Dimension {
            expected: 1,
            found: 2
        })
    ));
}

/// Duplicate points with no noise: a singular covariance is an error naming the noise, not a
/// NaN.
#[test]
fn singular_covariance_is_an_error() {
    let x = vec![0.5; 50];
    let y: Vec<f64> = (0..50).map(|i| i as f64).collect();
    let gp = GaussianProcess::new(Kernel::new(Family::Gaussian, 1.0)).noise(1e-300);
    match gp.log_marginal_likelihood(&x, &y) {
        Err(e @ (GpError::Singular { .. } | GpError::NonFiniteLikelihood { .. })) => {
            assert!(e.to_string().contains("noise variance"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

/// A fit stopped by its cap on evaluations is `NotConverged`, with the best point it saw.
#[test]
fn capped_fit_keeps_its_best_point() {
    let x: Vec<f64> = (0..60).map(|i| (i as f64 * 0.618).fract()).collect();
    let y: Vec<f64> = x.iter().map(|x| (5.0 * x).sin()).collect();
    let gp = GaussianProcess::new(Kernel::new(Family::Gaussian, 1.0));
    let capped = Tuning {
        max_evaluations: 3,
        ..Tuning::default()
    };
    match gp.fit_hyperparameters(&x, &y, &capped) {
        Err(GpError::NotConverged { best, .. }) => {
            assert_eq!(best.evaluations, 3);
            let again = best.process.log_marginal_likelihood(&x, &y).unwrap();
            assert!((again.value - best.log_likelihood).abs() < 1e-9 * again.value.abs());
        }
        other => panic!("{other:?}"),
    }
}
