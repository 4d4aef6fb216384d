//! The tutorial's problems against the dense Cholesky solve, with every preconditioner, and
//! multi-column right-hand sides.

use super::*;

#[test]
fn gaussian_1d_f64_matches_cholesky() {
    with_every_preconditioner::<f64>("gaussian_1d", 1e-8, |k, pre| gaussian_1d(1e-12, k, pre));
}

#[test]
fn gaussian_1d_f32_matches_cholesky() {
    with_every_preconditioner::<f32>("gaussian_1d", 1e-4, |k, pre| gaussian_1d(1e-6, k, pre));
}

#[test]
fn laplacian_2d_f64_matches_cholesky() {
    with_every_preconditioner::<f64>("laplacian_2d", 1e-8, |k, pre| laplacian_2d(1e-12, k, pre));
}

#[test]
fn laplacian_2d_f32_matches_cholesky() {
    with_every_preconditioner::<f32>("laplacian_2d", 1e-4, |k, pre| laplacian_2d(1e-6, k, pre));
}

/// Each column of a multi-column right-hand side converges on its own: the same iterations (to
/// one) and (to rounding) the same coefficients as when solved alone; a zero column gives zero at
/// once.
#[test]
fn columns_converge_independently() {
    let mut rng = Rng::named("columns", 0);
    let (x, b2) = problem_1d(&mut rng, N);
    let k = gaussian_matrix(&x, 0.05);
    // Columns: the tutorial's signal, zero, noise.
    let noise = rough(&mut rng, N);
    let b2: Vec<f64> = b2
        .chunks(2)
        .zip(&noise)
        .flat_map(|(r, &e)| [r[0], e])
        .collect();
    let b: Vec<f64> = b2.chunks(2).flat_map(|r| [r[0], 0.0, r[1]]).collect();
    // A tight tolerance: two solves that both merely meet 1e-6 may differ by kappa * 1e-6.
    // Plain CG: preconditioned, the signal and the noise converge in about as many iterations.
    let cg = ConjugateGradient::new()
        .tolerance(1e-12)
        .preconditioning(Preconditioning::Off);
    let all = k.solve_with(&cg, View::new(&b, 3).unwrap(), 0.5).unwrap();
    assert_eq!(all.column_iterations[1], 0);
    assert_eq!(all.column_residuals[1], 0.0);
    assert!((0..N).all(|i| all.coefficients.row(i)[1] == 0.0));
    for (c, col) in [(0, 0), (2, 1)] {
        let bc: Vec<f64> = b2.chunks(2).map(|r| r[col]).collect();
        let one = k.solve_with(&cg, &bc, 0.5).unwrap();
        // One column takes the symmetric product (each pair once, for both rows), several the
        // plain one: their sums round differently, so at 1e-12 the last step may move by one.
        assert!(
            all.column_iterations[c].abs_diff(one.iterations) <= 1,
            "column {c}: {} iterations with the others, {} alone",
            all.column_iterations[c],
            one.iterations
        );
        for i in 0..N {
            let (p, q) = (all.coefficients.row(i)[c], one.coefficients[i]);
            assert!(
                (p - q).abs() <= 1e-8 * (1.0 + q.abs()),
                "column {c} row {i}: {p} vs {q}"
            );
        }
    }
    assert_ne!(all.column_iterations[0], all.column_iterations[2]);
}
