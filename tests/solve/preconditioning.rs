//! Preconditioners: fewer iterations, landmark choice, one setup shared by right-hand sides, a user's
//! operator and a user's preconditioner, typed errors.

use super::*;

/// The tutorial's two problems at N = 2000: every preconditioner needs at most the iterations of
/// plain CG, and the automatic one (Nyström, greedy landmarks) fewer (1D: far fewer).
fn preconditioning_cuts_iterations<T: Real>() {
    let n = 2000;
    let uniform = Nystrom::new().landmarks(Landmarks::Uniform { seed: 11 });
    let choices = [
        Preconditioning::Auto,
        Preconditioning::Jacobi,
        Preconditioning::Nystrom(uniform.rank(50)),
        Preconditioning::Nystrom(uniform.rank(200)),
        Preconditioning::Nystrom(Nystrom::new().rank(50)),
        Preconditioning::Nystrom(Nystrom::new().landmarks(sampled(400)).rank(50)),
    ];
    for dim in [1, 2] {
        let (x, b) = one_column_problem("cuts_iterations", dim, n);
        let (xt, bt) = (to_t::<T>(&x), to_t::<T>(&b));
        let solve = |pre| {
            let cg = ConjugateGradient::new().preconditioning(pre);
            let sol = if dim == 1 {
                gaussian_matrix(&xt, 0.1).solve_with(&cg, View::new(&bt, 1).unwrap(), 1.0)
            } else {
                laplacian_matrix(&xt, 0.1).solve_with(&cg, View::new(&bt, 1).unwrap(), 10.0)
            };
            sol.unwrap()
        };
        let plain = solve(Preconditioning::Off).iterations;
        for pre in choices {
            let sol = solve(pre);
            eprintln!(
                "{dim}D {}: plain {plain} iterations, {pre:?}: {} (rank {})",
                T::NAME,
                sol.iterations,
                sol.rank
            );
            assert!(
                sol.iterations <= plain,
                "{dim}D {pre:?}: {} > {plain}",
                sol.iterations
            );
            // At this N the 1D kernel is numerically low-rank (a few landmarks do), the 2D one
            // much less (N = 10,000: 39 -> 11 iterations, BENCHMARKS.md).
            if pre == Preconditioning::Auto {
                let factor = if dim == 1 { 3 } else { 1 };
                assert!(
                    factor * sol.iterations < plain,
                    "{dim}D: the automatic preconditioner saves little ({} vs {plain})",
                    sol.iterations
                );
            }
        }
    }
}

/// The tutorial's problem of dimension `dim` at `n` points (data drawn from a generator named
/// `name`), with the first column of its right-hand side.
fn one_column_problem(name: &str, dim: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng::named(name, dim as u64);
    let (x, b2) = if dim == 1 {
        problem_1d(&mut rng, n)
    } else {
        problem_2d(&mut rng, n)
    };
    (x, b2.chunks(2).map(|r| r[0]).collect())
}

/// Greedy landmarks among `rows` sampled points.
fn sampled(rows: usize) -> Landmarks {
    Landmarks::SampledGreedy { rows, seed: 7 }
}

/// Greedy landmarks chosen among sampled points: among all of them they are greedy's; among a
/// fifth of them, the automatic rank stops near greedy's (the energies are scaled up) and the
/// solve takes about as many iterations; either way the solution is the dense solve's.
#[test]
fn sampled_greedy_landmarks() {
    let n = 2000;
    for dim in [1, 2] {
        let (x, b) = one_column_problem("sampled_greedy", dim, n);
        if dim == 1 {
            let want = cholesky_solve(dense(&x, 1, 1.0, gaussian, 0.1), &b, 1);
            check_sampled(dim, &gaussian_matrix(&x, 0.1), 1.0, &b, &want);
        } else {
            let want = cholesky_solve(dense(&x, 2, 10.0, laplacian, 0.1), &b, 1);
            check_sampled(dim, &laplacian_matrix(&x, 0.1), 10.0, &b, &want);
        }
    }
}

/// [`sampled_greedy_landmarks`] for one problem.
fn check_sampled<K: LinearOperator<f64>>(
    dim: usize,
    k: &K,
    alpha: f64,
    b: &[f64],
    want: &DMatrix<f64>,
) {
    let n = k.nrows();
    let greedy = Nystrom::new().build(k, alpha).unwrap();
    let all = Nystrom::new()
        .landmarks(sampled(n))
        .build(k, alpha)
        .unwrap();
    assert_eq!(all.landmarks(), greedy.landmarks(), "{dim}D");
    let fifth = Nystrom::new()
        .landmarks(sampled(n / 5))
        .build(k, alpha)
        .unwrap();
    let (m, mg) = (fifth.landmarks().len(), greedy.landmarks().len());
    assert!(
        2 * m >= mg && m <= 2 * mg,
        "{dim}D: {m} sampled landmarks, {mg} greedy ones"
    );
    let cg = ConjugateGradient::new().tolerance(1e-12);
    let solve =
        |pre: &keops::NystromPreconditioner| cg.solve_preconditioned(k, alpha, b, pre).unwrap();
    let (one, other) = (solve(&fifth), solve(&greedy));
    eprintln!(
        "{dim}D: sampled {m} landmarks, {} iterations; greedy {mg}, {}",
        one.iterations, other.iterations
    );
    assert!(one.iterations <= other.iterations + other.iterations / 2 + 2);
    assert!(column_rel_error(&one.coefficients, want) < 1e-8, "{dim}D");
}

#[test]
fn preconditioning_cuts_iterations_f32() {
    preconditioning_cuts_iterations::<f32>();
}

#[test]
fn preconditioning_cuts_iterations_f64() {
    preconditioning_cuts_iterations::<f64>();
}

/// A nearly diagonal system (kernel width far below the spacing of the points): the greedy
/// landmark choice finds nothing worth keeping, so the automatic solve is plain CG (its setup
/// costs two passes over the points); explicit landmarks still solve it correctly.
#[test]
fn nearly_diagonal_system_gets_no_landmark() {
    let n = 500;
    let x: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let s = 3e-4;
    for alpha in [1.0, 1e-3] {
        let solve = |pre| {
            let cg = ConjugateGradient::new()
                .tolerance(1e-12)
                .preconditioning(pre);
            gaussian_matrix(&x, s)
                .solve_with(&cg, View::new(&b, 1).unwrap(), alpha)
                .unwrap()
        };
        let plain = solve(Preconditioning::Off);
        let auto = solve(Preconditioning::Auto);
        assert_eq!(
            (auto.preconditioner, auto.rank),
            ("none", 0),
            "alpha {alpha}"
        );
        assert_eq!(auto.iterations, plain.iterations, "alpha {alpha}");
        let greedy = solve(Preconditioning::Nystrom(Nystrom::new()));
        assert_eq!(greedy.rank, 0, "alpha {alpha}");
        let uniform = Preconditioning::Nystrom(
            Nystrom::new()
                .landmarks(Landmarks::Uniform { seed: 1 })
                .rank(20),
        );
        let sol = solve(uniform);
        assert_eq!(sol.rank, 20);
        let want = cholesky_solve(dense(&x, 1, alpha, gaussian, s), &b, 1);
        assert!(column_rel_error(&sol.coefficients, &want) < 1e-9);
        assert!(sol.iterations <= plain.iterations + 1);
    }
}

/// One preconditioner for several right-hand sides: a solve with three columns builds it once,
/// and a [`NystromPreconditioner`] built by the caller serves several solves, giving the same
/// coefficients for a column alone as with the others.
#[test]
fn right_hand_sides_share_one_setup() {
    let mut rng = Rng::named("share_setup", 0);
    let (x, b2) = problem_1d(&mut rng, N);
    let noise = rough(&mut rng, N);
    let b: Vec<f64> = b2
        .chunks(2)
        .zip(&noise)
        .flat_map(|(r, &e)| [r[0], r[1], e])
        .collect();
    let s = 0.1;
    let k = gaussian_matrix(&x, s);
    let cg = ConjugateGradient::new().tolerance(1e-12);
    let all = k.solve_with(&cg, View::new(&b, 3).unwrap(), 1.0).unwrap();
    assert_eq!(all.preconditioner, "nystrom");
    assert!(all.rank > 0);
    let want = cholesky_solve(dense(&x, 1, 1.0, gaussian, s), &b, 3);
    assert!(column_rel_error(&all.coefficients, &want) < 1e-9);

    let pre = Nystrom::new().build(&k, 1.0).unwrap();
    assert_eq!(pre.landmarks().len(), all.rank);
    let r = all.rank;
    assert_eq!(pre.memory(), 8 * N * r + 8 * r * r);
    // For f32 data the basis is kept in f32.
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let pre32 = Nystrom::new()
        .build(&gaussian_matrix(&x32, s), 1.0)
        .unwrap();
    let r = pre32.landmarks().len();
    assert_eq!(pre32.memory(), 4 * N * r + 8 * r * r);
    let shared = cg
        .solve_preconditioned(&k, 1.0, View::new(&b, 3).unwrap(), &pre)
        .unwrap();
    assert_eq!(shared.setup_time, std::time::Duration::ZERO);
    assert_eq!(shared.column_iterations, all.column_iterations);
    for c in 0..3 {
        let bc: Vec<f64> = b.chunks(3).map(|r| r[c]).collect();
        let one = cg.solve_preconditioned(&k, 1.0, &bc, &pre).unwrap();
        assert_eq!(one.iterations, shared.column_iterations[c], "column {c}");
        for i in 0..N {
            let (p, q) = (shared.coefficients.row(i)[c], one.coefficients[i]);
            assert!(
                (p - q).abs() <= 1e-8 * (1.0 + q.abs()),
                "column {c} row {i}: {p} vs {q}"
            );
        }
    }
}

/// Preconditioners on a user's operator: uniform landmarks through the default `columns`
/// (products with unit vectors), Jacobi and greedy landmarks when it gives its diagonal, typed
/// errors when it does not.
#[test]
fn users_operator_preconditioned() {
    let mut rng = Rng::named("users_operator_preconditioned", 0);
    let n = 37;
    // A few large eigenvalues (a low-rank part) and a varying diagonal.
    let u = DMatrix::from_fn(n, 3, |_, _| rng.range(-1.0, 1.0));
    let diag = DMatrix::from_fn(n, n, |i, j| if i == j { rng.range(0.1, 3.0) } else { 0.0 });
    let spd = &u * u.transpose() * 20.0 + diag;
    let b = rng.vec(n, -1.0, 1.0);
    let alpha = 0.5;
    let want = cholesky_solve(spd.clone() + DMatrix::identity(n, n) * alpha, &b, 1);
    let cg = ConjugateGradient::new().tolerance(1e-13);
    let uniform = Nystrom::new()
        .landmarks(Landmarks::Uniform { seed: 5 })
        .rank(6);
    let plain = cg
        .preconditioning(Preconditioning::Off)
        .solve_shifted(&Dense(spd.clone(), false), alpha, &b)
        .unwrap();
    for (op, pre, name, rank) in [
        (
            &Dense(spd.clone(), false) as &dyn LinearOperator<f64>,
            Preconditioning::Nystrom(uniform),
            "nystrom",
            6,
        ),
        (&Dense(spd.clone(), false), Preconditioning::Auto, "none", 0),
        (
            &Dense(spd.clone(), true),
            Preconditioning::Auto,
            "nystrom",
            3,
        ),
        (
            &Dense(spd.clone(), true),
            Preconditioning::Jacobi,
            "jacobi",
            0,
        ),
        (
            &Dense(spd.clone(), true),
            Preconditioning::Nystrom(Nystrom::new().rank(5)),
            "nystrom",
            5,
        ),
    ] {
        let sol = cg
            .preconditioning(pre)
            .solve_shifted(op, alpha, &b)
            .unwrap();
        assert_eq!(sol.preconditioner, name, "{pre:?}");
        if pre == Preconditioning::Auto && name == "nystrom" {
            // The three large eigenvalues, and not much of the diagonal part.
            assert!((rank..=rank + 2).contains(&sol.rank), "{}", sol.rank);
        } else {
            assert_eq!(sol.rank, rank, "{pre:?}");
        }
        assert!(column_rel_error(&sol.coefficients, &want) < 1e-9, "{pre:?}");
        assert!(sol.iterations <= plain.iterations, "{pre:?}");
    }
    for pre in [
        Preconditioning::Jacobi,
        Preconditioning::Nystrom(Nystrom::new()),
    ] {
        let err = cg
            .preconditioning(pre)
            .solve_shifted(&Dense(spd.clone(), false), alpha, &b)
            .unwrap_err();
        assert!(
            matches!(err, SolveError::Failed(KeopsError::NoDiagonal)),
            "{err:?}"
        );
        assert!(err.to_string().contains("diagonal"), "{err}");
    }
}

/// `z = -r`: not positive definite.
struct Negate(usize);

impl keops::Preconditioner for Negate {
    fn size(&self) -> usize {
        self.0
    }
    fn apply(&self, r: &[f64], _k: usize, out: &mut [f64]) {
        for (o, r) in out.iter_mut().zip(r) {
            *o = -r;
        }
    }
}

#[test]
fn preconditioner_errors_are_typed() {
    let x: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
    let b: Vec<f64> = x.iter().map(|v| v.sin()).collect();
    let k = gaussian_matrix(&x, 0.1);
    let cg = |pre| ConjugateGradient::new().preconditioning(pre);
    let fail = |r: Result<Solution<f64>, SolveError<f64>>| -> KeopsError {
        match r {
            Err(SolveError::Failed(e)) => e,
            other => panic!("expected a typed error, got {other:?}"),
        }
    };
    let nys = Preconditioning::Nystrom(Nystrom::new());
    let e = fail(k.solve_with(&cg(nys), &b, 0.0));
    assert!(
        matches!(e, KeopsError::NystromAlpha { alpha } if alpha == 0.0),
        "{e:?}"
    );
    // Alpha 0 with the automatic choice: plain CG.
    let sol = k.solve_with(&cg(Preconditioning::Auto), &b, 0.0);
    assert_eq!(sol.map(|s| s.preconditioner).unwrap_or("none"), "none");
    let e = fail(k.solve_with(
        &cg(Preconditioning::Nystrom(Nystrom::new().rank(51))),
        &b,
        1.0,
    ));
    assert!(
        matches!(e, KeopsError::NystromRank { rank: 51, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("only 50 points"), "{e}");
    let small = Nystrom::new().rank(40).memory_budget(8 * 50 * 20);
    let e = fail(k.solve_with(&cg(Preconditioning::Nystrom(small)), &b, 1.0));
    assert!(e.to_string().contains("memory budget"), "{e}");
    // The automatic rank respects the budget.
    let sol = k
        .solve_with(
            &cg(Preconditioning::Nystrom(
                Nystrom::new().memory_budget(8 * 60 * 4),
            )),
            &b,
            1.0,
        )
        .unwrap();
    assert!(
        sol.rank > 0 && 8 * sol.rank * (50 + 2 * sol.rank) <= 8 * 60 * 4,
        "{}",
        sol.rank
    );
    // Jacobi with alpha + A_ii <= 0.
    let neg = Dense(DMatrix::identity(4, 4) * -1.0, true);
    let e = fail(cg(Preconditioning::Jacobi).solve_shifted(&neg, 0.5, &[1.0; 4][..]));
    assert!(
        matches!(e, KeopsError::PreconditionerNotPositive { .. }),
        "{e:?}"
    );
    // The small system of uniform landmarks on -I: -alpha I + I, indefinite for alpha = 2.
    let uniform = Nystrom::new()
        .landmarks(Landmarks::Uniform { seed: 0 })
        .rank(2);
    let e = fail(cg(Preconditioning::Nystrom(uniform)).solve_shifted(&neg, 2.0, &[1.0; 4][..]));
    assert!(
        matches!(e, KeopsError::NystromFactorization { rank: 2, .. }),
        "{e:?}"
    );
    // A preconditioner that is not positive definite, or of the wrong size.
    let e = fail(ConjugateGradient::new().solve_preconditioned(&k, 1.0, &b, &Negate(50)));
    assert!(
        matches!(e, KeopsError::PreconditionerNotPositive { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("not positive definite"), "{e}");
    let e = fail(ConjugateGradient::new().solve_preconditioned(&k, 1.0, &b, &Negate(49)));
    assert!(
        matches!(
            e,
            KeopsError::OperandLength {
                expected: 50,
                found: 49
            }
        ),
        "{e:?}"
    );
}
