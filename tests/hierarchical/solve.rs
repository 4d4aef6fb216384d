//! Solves `(alpha I + K~) a = b` through the hierarchical operator, against a dense Cholesky
//! solve (N = 2,003), the exact engine's CG solve (1D, N = 20,000) and the exact system's full
//! residual (2D, N = 20,000).
//!
//! A product error `e` perturbs the solution by at most `kappa e` relatively, `kappa = (alpha +
//! lambda_max) / alpha` bounded by Gershgorin (`lambda_max <= max_i sum_j K_ij`); the CG stopping
//! tolerances add theirs the same way. The exact system's residual `||b - (alpha I + K) a~|| /
//! ||b||` is at most `e ||K a~|| / ||b|| + cg_tol <= 2 e + cg_tol` or so, which `sampled_residual`
//! (on sampled rows) must show.

use nalgebra::DMatrix;

use super::*;

/// The tutorial's 1D signal with noise, in `[-0.6, 1.6]`.
fn signal_1d(rng: &mut Rng, x: &[f64]) -> Vec<f64> {
    x.iter()
        .map(|&x| x + 0.5 * (6.0 * x).sin() + 0.1 * (20.0 * x).sin() + rng.range(-0.1, 0.1))
        .collect()
}

/// The tutorial's 2D values: a noisy ring, the last quarter replaced by uniform outliers.
fn signal_2d(rng: &mut Rng, x: &[f64]) -> Vec<f64> {
    let n = x.len() / 2;
    x.chunks(2)
        .enumerate()
        .map(|(i, p)| {
            let r2 = (p[0] - 0.5).powi(2) + (p[1] - 0.5).powi(2);
            if i >= n - n / 4 {
                rng.unit()
            } else {
                f64::from(u8::from((0.09..=0.16).contains(&r2))) + rng.range(-0.1, 0.1)
            }
        })
        .collect()
}

/// Rounds to f32 and back: data that both precisions see exactly.
fn f32_exact(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| x as f32 as f64).collect()
}

/// `alpha I + K` densely, `k` a function of the squared distance.
fn dense(x: &[f64], d: usize, alpha: f64, k: impl Fn(f64) -> f64) -> DMatrix<f64> {
    let n = x.len() / d;
    DMatrix::from_fn(n, n, |i, j| {
        let r2: f64 = (0..d).map(|c| (x[i * d + c] - x[j * d + c]).powi(2)).sum();
        k(r2) + if i == j { alpha } else { 0.0 }
    })
}

/// The Gershgorin bound on the condition number of `alpha I + K` from its row sums.
fn kappa_bound(row_sums: impl Iterator<Item = f64>, alpha: f64) -> f64 {
    (alpha + row_sums.fold(0.0, f64::max)) / alpha
}

/// Solves through the hierarchical operator `h` (built at tolerance `tol`) with CG to `cg_tol`
/// (preconditioner `pre`);
/// checks the solution against `want` within `kappa (tol + 2 cg_tol)` and the sampled exact
/// residual; returns the relative error to `want`.
#[allow(clippy::too_many_arguments)]
fn check_solve<T: Real, B: BoundKernel<T>>(
    what: &str,
    h: &HierarchicalMatrix<T, B>,
    b: &[T],
    alpha: f64,
    (cg_tol, pre): (f64, Preconditioning),
    kappa: f64,
    want: &[f64],
) -> f64 {
    let tol = h.info().tolerance;
    assert_eq!(h.info().exact_reason, None, "{what}: {}", h.info());
    let cg = ConjugateGradient::new()
        .tolerance(cg_tol)
        .preconditioning(pre);
    let sol = h.solve_with(&cg, b, alpha).unwrap();
    let err = rel_error(sol.coefficients.as_slice(), want);
    let sampled = sol
        .sampled_residual
        .expect("a hierarchical solve samples its residual");
    println!(
        "{what} {} n {}: tolerance {tol:.0e}, CG {cg_tol:.0e}: {} iterations, residual {:.2e}, \
         sampled exact residual {sampled:.2e}, error {err:.2e} (bound {:.1e}, kappa <= \
         {kappa:.0}), {}",
        std::any::type_name::<T>(),
        b.len(),
        sol.iterations,
        sol.residual,
        kappa * (tol + 2.0 * cg_tol),
        h.info()
    );
    assert!(
        sol.residual <= cg_tol,
        "{what}: CG residual {:e}",
        sol.residual
    );
    assert!(
        err <= kappa * (tol + 2.0 * cg_tol),
        "{what}, tolerance {tol:e}: relative error {err:e} to the reference, kappa <= {kappa}"
    );
    assert!(
        sampled <= 2.0 * tol + 2.0 * cg_tol,
        "{what}, tolerance {tol:e}: sampled exact residual {sampled:e}"
    );
    err
}

/// [`check_solve`] through the hierarchical matrix of `f` at tolerance `tol` on the points `x`
/// (rounded to `T`).
#[allow(clippy::too_many_arguments)]
fn solve_and_check<T: Real, F: Family>(
    f: F,
    x: &[f64],
    d: usize,
    b: &[f64],
    alpha: f64,
    tol: f64,
    cg_tol: f64,
    kappa: f64,
    want: &[f64],
) -> f64 {
    let (xt, bt) = (to_t::<T>(x), to_t::<T>(b));
    let h = f
        .matrix(&xt, &xt, d)
        .hierarchical(&Hierarchical::new().tolerance(tol))
        .unwrap();
    let err = check_solve(
        &format!("{f:?} {d}D"),
        &h,
        &bt,
        alpha,
        (cg_tol, Preconditioning::Auto),
        kappa,
        want,
    );
    // With the default solver settings (CG to 1e-6) in f64.
    if size_of::<T>() == 8 && tol <= 1e-6 {
        let again = h.solve(&bt[..], alpha).unwrap();
        let s = again.sampled_residual.unwrap();
        assert!(again.residual <= 1e-6 && s <= 2.0 * tol + 2e-6, "{s:e}");
    }
    err
}

/// The 2D Laplacian (sigma 0.1, alpha 10) and the 1D Gaussian (sigma 0.1, alpha 1) at
/// N = 2,003 against dense Cholesky solves, in f64 at tolerances 1e-3 and 1e-6 (the error shrinks
/// with it) and in f32 at 1e-4.
#[test]
fn matches_dense_cholesky() {
    let s: f64 = 0.1;
    let mut rng = Rng::named("cholesky", 0);
    against_cholesky(Laplacian(s), 2, 10.0, |r2| (-r2.sqrt() / s).exp(), &mut rng);
    against_cholesky(
        Gaussian(s),
        1,
        1.0,
        |r2| (-r2 / (2.0 * s * s)).exp(),
        &mut rng,
    );
}

/// One case of [`matches_dense_cholesky`]: `f` is `k` of the squared distance.
fn against_cholesky<F: Family>(f: F, d: usize, alpha: f64, k: impl Fn(f64) -> f64, rng: &mut Rng) {
    let n = 2_003;
    let x = f32_exact(uniform(rng, n, d));
    let b = f32_exact(if d == 2 {
        signal_2d(rng, &x)
    } else {
        signal_1d(rng, &x)
    });
    let a = dense(&x, d, alpha, k);
    let kappa = kappa_bound(a.row_iter().map(|r| r.sum() - alpha), alpha);
    let want = a
        .cholesky()
        .unwrap()
        .solve(&DMatrix::from_column_slice(n, 1, &b));
    let want = want.as_slice();
    let errs: Vec<f64> = [1e-3, 1e-6]
        .into_iter()
        .map(|tol| solve_and_check::<f64, _>(f, &x, d, &b, alpha, tol, 1e-10, kappa, want))
        .collect();
    assert!(
        errs[1] < errs[0],
        "{d}D: the error does not shrink: {errs:?}"
    );
    solve_and_check::<f32, _>(f, &x, d, &b, alpha, 1e-4, 1e-5, kappa, want);
}

/// N = 20,000: the hierarchical solve against the exact engine's CG solve, within
/// `kappa (tol + 2 cg_tol)`, `kappa` from the row sums `K 1` (hierarchical); `pre` is both
/// solves' preconditioner (each iteration of the exact one is an exact product, 4e8
/// evaluations).
fn matches_exact_cg<T: Real, F: Family>(
    f: F,
    d: usize,
    alpha: f64,
    tol: f64,
    cg_tol: f64,
    pre: Preconditioning,
) {
    let n = 20_000;
    let mut rng = Rng::named("exact cg", d as u64);
    let x = uniform(&mut rng, n, d);
    let b = if d == 2 {
        signal_2d(&mut rng, &x)
    } else {
        signal_1d(&mut rng, &x)
    };
    let (xt, bt) = (to_t::<T>(&x), to_t::<T>(&b));
    let k = f.matrix(&xt, &xt, d);
    let cg = ConjugateGradient::new()
        .tolerance(cg_tol)
        .preconditioning(pre);
    let exact = k.solve_with(&cg, &bt[..], alpha).unwrap();
    assert!(exact.residual <= cg_tol);
    assert_eq!(
        exact.sampled_residual, None,
        "an exact solve has no sampled residual"
    );
    println!(
        "exact CG: {} iterations, residual {:.2e}, {:.1} s",
        exact.iterations,
        exact.residual,
        (exact.setup_time + exact.iteration_time).as_secs_f64()
    );
    let h = k.hierarchical(&Hierarchical::new().tolerance(tol)).unwrap();
    let ones = vec![T::from_f64(1.0); n];
    let sums = h.matvec(&ones[..]).unwrap();
    let kappa = kappa_bound(sums.as_slice().iter().map(|s| s.to_f64()), alpha) * (1.0 + tol);
    let want = wide(exact.coefficients.as_slice());
    check_solve(
        &format!("{f:?} {d}D"),
        &h,
        &bt,
        alpha,
        (cg_tol, pre),
        kappa,
        &want,
    );
}

/// The KeOps tutorial's 2D problem at N = 20,000 in f32, checked against the exact system
/// rather than an exact CG solve (11 exact products): one exact product gives the full residual
/// `r = b - (alpha I + K) a~`, and since `K` is positive semidefinite the exact solution `a*`
/// is within `||r|| / alpha` of `a~`, a bound at least as tight as comparing two CG solves
/// stopped at the same tolerance.
#[test]
fn matches_the_exact_system_laplacian_2d() {
    let (n, d, alpha, tol, cg_tol) = (20_000, 2, 10.0, 1e-5, 1e-5);
    let mut rng = Rng::named("exact system", 2);
    let x = uniform(&mut rng, n, d);
    let b = signal_2d(&mut rng, &x);
    let (xt, bt) = (to_t::<f32>(&x), to_t::<f32>(&b));
    let f = Laplacian(0.1);
    let h = f
        .matrix(&xt, &xt, d)
        .hierarchical(&Hierarchical::new().tolerance(tol))
        .unwrap();
    assert_eq!(h.info().exact_reason, None, "{}", h.info());
    let cg = ConjugateGradient::new().tolerance(cg_tol);
    let sol = h.solve_with(&cg, &bt[..], alpha).unwrap();
    let a = wide(sol.coefficients.as_slice());
    // The exact product in f64 (the f32 engine's own error would blur the residual).
    let x64 = f.matrix(&x, &x, d);
    let ka = x64.matvec(&a[..]).unwrap();
    let r: Vec<f64> = (0..n)
        .map(|i| b[i] - alpha * a[i] - ka.as_slice()[i])
        .collect();
    let (r_norm, b_norm, a_norm) = (norm(&r), norm(&b), norm(&a));
    let residual = r_norm / b_norm;
    let distance = r_norm / alpha / a_norm;
    let sampled = sol.sampled_residual.unwrap();
    println!(
        "2D Laplacian n {n}: {} iterations, CG residual {:.2e}, exact residual {residual:.2e}, \
         sampled {sampled:.2e}, ||a~ - a*|| / ||a~|| <= {distance:.2e}, {}",
        sol.iterations,
        sol.residual,
        h.info()
    );
    // The product error (<= tol relative, on K a~ of size about ||b||) plus the CG's own, and
    // the f32 rounding of a~.
    assert!(
        residual <= 2.0 * tol + 2.0 * cg_tol,
        "exact residual {residual:e}"
    );
    assert!(
        sampled <= 2.0 * tol + 2.0 * cg_tol,
        "sampled residual {sampled:e}"
    );
    assert!(
        (sampled / residual).max(residual / sampled) < 3.0,
        "the sampled residual {sampled:e} misjudges the exact one {residual:e}"
    );
    assert!(
        distance <= 1e-4,
        "distance to the exact solution {distance:e}"
    );
}

/// `||v||_2`.
fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The 1D Gaussian in f64, both solves with their default preconditioner, CG to 1e-6.
#[test]
fn matches_exact_cg_gaussian_1d() {
    matches_exact_cg::<f64, _>(Gaussian(0.1), 1, 1.0, 1e-6, 1e-6, Preconditioning::Auto);
}
