//! A user's own operator, and what the solve does when it cannot converge: typed errors, the kept
//! iterate, f32 stagnation.

use super::*;

#[test]
fn users_operator() {
    let mut rng = Rng::named("users_operator", 0);
    let n = 37;
    let m = DMatrix::from_fn(n, n, |_, _| rng.range(-1.0, 1.0));
    let spd = &m * m.transpose() + DMatrix::identity(n, n) * 0.1;
    let b = rng.vec(n, -1.0, 1.0);
    let cg = ConjugateGradient::new().tolerance(1e-13);
    let sol = cg.solve(&Dense(spd.clone(), false), &b).unwrap();
    let want = cholesky_solve(spd.clone(), &b, 1);
    assert!(column_rel_error(&sol.coefficients, &want) < 1e-9);
    // With a shift: (2 I + A) x = b.
    let sol = cg
        .solve_shifted(&Dense(spd.clone(), false), 2.0, &b)
        .unwrap();
    let want = cholesky_solve(spd + DMatrix::identity(n, n) * 2.0, &b, 1);
    assert!(column_rel_error(&sol.coefficients, &want) < 1e-9);
}

#[test]
fn indefinite_operator_is_a_typed_error() {
    let n = 20;
    let d = DMatrix::from_fn(n, n, |i, j| {
        if i != j {
            0.0
        } else if i % 2 == 0 {
            1.0
        } else {
            -1.0
        }
    });
    let b: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
    match ConjugateGradient::new().solve(&Dense(d, false), &b) {
        Err(SolveError::Failed(KeopsError::NotPositiveDefinite { curvature, .. })) => {
            assert!(curvature <= 0.0)
        }
        other => panic!("expected NotPositiveDefinite, got {other:?}"),
    }
    // A negated kernel is negative definite.
    let x: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
    let k = kernel!(-exp(-sqnorm(x_i - y_j)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    let err = k.solve(&x, 0.0).unwrap_err();
    assert!(
        matches!(
            err,
            SolveError::Failed(KeopsError::NotPositiveDefinite { iteration: 1, .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not positive definite"), "{err}");
}

#[test]
fn non_convergence_keeps_the_iterate() {
    let mut rng = Rng::named("non_convergence", 0);
    let (x, b2) = problem_1d(&mut rng, N);
    let b: Vec<f64> = b2.chunks(2).map(|r| r[0]).collect();
    let s = 0.1;
    let k = gaussian_matrix(&x, s);
    let cg = ConjugateGradient::new()
        .max_iterations(3)
        .preconditioning(Preconditioning::Off);
    let err = k.solve_with(&cg, &b, 1.0).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("did not converge") && msg.contains("after 3 iterations"),
        "{msg}"
    );
    let sol = match err {
        SolveError::NotConverged {
            solution,
            tolerance,
            stagnated,
        } => {
            assert_eq!(tolerance, 1e-6);
            assert!(!stagnated);
            solution
        }
        other => panic!("expected NotConverged, got {other:?}"),
    };
    assert_eq!(sol.iterations, 3);
    assert!(
        sol.residual > 1e-6 && sol.residual < 1.0,
        "{}",
        sol.residual
    );
    // The reported residual is the true one of the returned iterate.
    let a = dense(&x, 1, 1.0, gaussian, s);
    let res = dense_residuals(&a, &sol.coefficients, &b, 1)[0];
    assert!(
        (res - sol.residual).abs() < 1e-12,
        "{res} vs {}",
        sol.residual
    );
    // As a KeopsError (for `?`), the numbers survive.
    let err: KeopsError = k.solve_with(&cg, &b, 1.0).unwrap_err().into();
    assert!(
        matches!(err, KeopsError::NotConverged { iterations: 3, .. }),
        "{err:?}"
    );
    // Zero iterations allowed: the iterate is 0 and the residual 1.
    let sol = k
        .solve_with(&ConjugateGradient::new().max_iterations(0), &b, 1.0)
        .unwrap_err()
        .into_solution()
        .unwrap();
    assert_eq!((sol.iterations, sol.residual), (0, 1.0));
}

#[test]
fn bad_input_is_a_typed_error() {
    let x: Vec<f64> = (0..10).map(|i| i as f64 / 10.0).collect();
    let y: Vec<f64> = (0..11).map(|i| i as f64 / 11.0).collect();
    let g = kernel!(exp(-sqnorm(x_i - y_j)));
    let k = g.x_i(&x).y_j(&x).matrix().unwrap();
    let fail = |r: Result<Solution<f64>, SolveError<f64>>| match r {
        Err(SolveError::Failed(e)) => e,
        other => panic!("expected an input error, got {other:?}"),
    };
    assert!(matches!(
        fail(k.solve(&x, -1.0)),
        KeopsError::InvalidAlpha { .. }
    ));
    assert!(matches!(
        fail(k.solve(&x, f64::NAN)),
        KeopsError::InvalidAlpha { .. }
    ));
    assert!(matches!(
        fail(k.solve(&x, f64::INFINITY)),
        KeopsError::InvalidAlpha { .. }
    ));
    assert!(matches!(
        fail(k.solve(&y, 1.0)),
        KeopsError::OperandLength {
            expected: 10,
            found: 11
        }
    ));
    let mut bad = x.clone();
    bad[3] = f64::NAN;
    assert!(matches!(
        fail(k.solve(&bad, 1.0)),
        KeopsError::NonFinite { row: 3, .. }
    ));
    for tol in [0.0, -1.0, f64::NAN] {
        let cg = ConjugateGradient::new().tolerance(tol);
        assert!(matches!(
            fail(k.solve_with(&cg, &x, 1.0)),
            KeopsError::InvalidTolerance { .. }
        ));
    }
    let rect = g.x_i(&x).y_j(&y).matrix().unwrap();
    let e = fail(rect.solve(&y, 1.0));
    assert!(
        matches!(e, KeopsError::NotSquare { rows: 10, cols: 11 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("square"), "{e}");
    // A zero right-hand side: zero solution, no iteration.
    let sol = k.solve(&vec![0.0; 10], 1.0).unwrap();
    assert!(sol.coefficients.iter().all(|&v| v == 0.0));
    assert_eq!((sol.iterations, sol.residual), (0, 0.0));
}

/// In f32 the products' rounding puts a floor under the attainable residual; asking for less than
/// that floor ends in a `stagnated` NotConverged after a few restarts, not in 1000 iterations.
#[test]
fn f32_stagnation_is_detected() {
    let mut rng = Rng::named("stagnation", 0);
    let x: Vec<f32> = rng.reals(N, 0.0, 1.0);
    let b: Vec<f32> = rough(&mut rng, N).iter().map(|&v| v as f32).collect();
    let s = 0.1;
    let g = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let k = g.x_i(&x).y_j(&x).matrix().unwrap();
    let cg = ConjugateGradient::new().tolerance(1e-10);
    match k.solve_with(&cg, &b, 1.0) {
        Err(
            e @ SolveError::NotConverged {
                stagnated: true, ..
            },
        ) => {
            assert!(e.to_string().contains("stopped decreasing"), "{e}");
            let sol = e.into_solution().unwrap();
            assert!(sol.iterations < 200, "{} iterations", sol.iterations);
            assert!(
                sol.residual < 1e-4 && sol.residual > 1e-10,
                "{}",
                sol.residual
            );
        }
        other => panic!("expected a stagnated NotConverged, got {other:?}"),
    }
}
