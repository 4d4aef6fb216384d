//! Builds that fall back to exact products: a kernel that does not compress, too few points for
//! a far field. Their products are the exact engine's, bit for bit.

use super::*;

/// The hierarchical product and the exact engine's agree bit for bit, and the f64 reference to
/// the engine's rounding.
fn assert_exact_product<T: Real, B: BoundKernel<T>>(
    what: &str,
    h: &HierarchicalMatrix<T, B>,
    v: &[T],
    want: &[f64],
) {
    let got = h.matvec(v).unwrap();
    let exact = h.exact().matvec(v).unwrap();
    assert!(
        got.as_slice() == exact.as_slice(),
        "{what}: the product is not the exact engine's"
    );
    let err = rel_error(got.as_slice(), want);
    let floor = if size_of::<T>() == 8 { 1e-13 } else { 1e-5 };
    assert!(err <= floor, "{what}: error {err:e} to the f64 reference");
    let i = h.info();
    assert_eq!(
        (i.order, i.estimated_error, i.memory_bytes),
        (0, 0.0, 0),
        "{what}: {i:?}"
    );
}

/// `sin(100 |x - y|^2)` on `n` points in 2D at tolerance 1e-5, f64: not compressible by the
/// largest order (16 in 2D), an exact product.
fn oscillating_2d(n: usize) {
    let mut rng = Rng::named("oscillating", n as u64);
    let x = uniform(&mut rng, n, 2);
    let v = rng.vec(n, -1.0, 1.0);
    let f = Oscillating(100.0);
    let want = f.matrix(&x, &x, 2).matvec(&v[..]).unwrap();
    let tol = 1e-5;
    let h = f
        .matrix(&x, &x, 2)
        .hierarchical(&Hierarchical::new().tolerance(tol))
        .unwrap();
    println!("n = {n}: {}", h.info());
    match h.info().exact_reason {
        Some(ExactReason::NotCompressible {
            order,
            error,
            target,
        }) => {
            assert_eq!(order, 16, "the largest order in 2D");
            assert_eq!(target, 0.5 * tol);
            assert!(error > tol, "{error:e} meets the tolerance {tol:e}");
        }
        r => panic!(
            "n = {n}: expected NotCompressible, got {r:?} ({})",
            h.info()
        ),
    }
    assert!(h.info().to_string().contains("did not compress"));
    assert_exact_product(
        &format!("oscillating 2D f64, n = {n}"),
        &h,
        &v,
        want.as_slice(),
    );
}

/// `sin(100 |x - y|^2)` oscillates about 16 times across the unit square's diagonal: no order up
/// to the largest reaches 1e-5, and the build says so; in f32 with the largest order 8 too.
#[test]
fn oscillating_kernel_is_not_compressible() {
    oscillating_2d(6_007);

    let mut rng = Rng::named("oscillating f32", 0);
    let n = 3_001;
    let f = Oscillating(100.0);
    let xf: Vec<f32> = to_t(&uniform(&mut rng, n, 2));
    let vf: Vec<f32> = rng.reals(n, -1.0, 1.0);
    let want = f
        .matrix(&wide(&xf), &wide(&xf), 2)
        .matvec(&wide(&vf)[..])
        .unwrap();
    let h = f
        .matrix(&xf, &xf, 2)
        .hierarchical(&Hierarchical::new().tolerance(1e-3).max_order(8))
        .unwrap();
    match h.info().exact_reason {
        Some(ExactReason::NotCompressible {
            order,
            error,
            target,
        }) => {
            assert_eq!(order, 8);
            assert_eq!(target, 0.5e-3);
            assert!(error > 1e-3, "{error:e} meets the tolerance");
        }
        r => panic!("expected NotCompressible, got {r:?}"),
    }
    assert_exact_product("oscillating 2D f32", &h, &vf, want.as_slice());
}

/// At N = 3,001 the first orders tried have a far field (2 levels of boxes at order 8), so the
/// reason for exact products is that the kernel did not compress, not that the points are too
/// few for a far field (`ExactReason::NoFarField`).
#[test]
fn oscillating_kernel_reason_at_3001_points() {
    oscillating_2d(3_001);
}

/// A smooth kernel with the largest order capped below what the tolerance needs is reported as
/// not compressible at that order, with an error above the tolerance.
#[test]
fn largest_order_is_respected() {
    let mut rng = Rng::named("max order", 0);
    let n = 4_447;
    let x = uniform(&mut rng, n, 1);
    let v = rng.vec(n, -1.0, 1.0);
    let want = Gaussian(0.1).matrix(&x, &x, 1).matvec(&v[..]).unwrap();
    let h = Gaussian(0.1)
        .matrix(&x, &x, 1)
        .hierarchical(&Hierarchical::new().tolerance(1e-9).max_order(3))
        .unwrap();
    match h.info().exact_reason {
        Some(ExactReason::NotCompressible {
            order: 3,
            error,
            target,
        }) => assert!(
            error > target && target == 0.5e-9,
            "{error:e}, target {target:e}"
        ),
        r => panic!("expected NotCompressible at order 3, got {r:?}"),
    }
    assert_exact_product("max order 3", &h, &v, want.as_slice());
}

/// A smooth kernel in f32 at a tolerance near f32's precision (1e-6, the products' own rounding
/// about 1e-7): the build aims at no less than 8 roundoffs, so the Gaussian compresses (1D, where
/// the interpolation reaches a few 1e-7) rather than falling back to exact products; a build that
/// does fall back must report an error above its target.
#[test]
fn f32_near_its_precision_still_compresses() {
    let mut rng = Rng::named("f32 floor", 0);
    let n = 5_009;
    let x: Vec<f32> = to_t(&uniform(&mut rng, n, 1));
    let v: Vec<f32> = rng.reals(n, -1.0, 1.0);
    let want = Gaussian(0.1)
        .matrix(&wide(&x), &wide(&x), 1)
        .matvec(&wide(&v)[..])
        .unwrap();
    let tol = 1e-6;
    let h = Gaussian(0.1)
        .matrix(&x, &x, 1)
        .hierarchical(&Hierarchical::new().tolerance(tol))
        .unwrap();
    println!("{}", h.info());
    if let Some(ExactReason::NotCompressible { error, target, .. }) = h.info().exact_reason {
        assert!(error > target && target >= 0.5 * tol, "{}", h.info());
    }
    assert_eq!(h.info().exact_reason, None, "{}", h.info());
    let err = rel_error(h.matvec(&v[..]).unwrap().as_slice(), want.as_slice());
    let floor = rel_error(
        h.exact().matvec(&v[..]).unwrap().as_slice(),
        want.as_slice(),
    );
    println!("error {err:.2e}, the exact f32 engine's {floor:.2e}");
    assert!(err <= tol, "error {err:e}");
}

/// 50 points: no two boxes are well separated, the product is exact, in 1, 2 and 3 dimensions,
/// f32 and f64, and for two point sets.
#[test]
fn few_points_have_no_far_field() {
    let mut rng = Rng::named("few points", 0);
    for d in 1..=3 {
        let x = uniform(&mut rng, 50, d);
        let y = uniform(&mut rng, 37, d);
        let v = rng.vec(50, -1.0, 1.0);
        let w = rng.vec(37, -1.0, 1.0);
        for tol in [1e-3, 1e-8] {
            let want = Laplacian(0.3).matrix(&x, &x, d).matvec(&v[..]).unwrap();
            let h = Laplacian(0.3)
                .matrix(&x, &x, d)
                .hierarchical(&Hierarchical::new().tolerance(tol))
                .unwrap();
            assert_eq!(h.info().exact_reason, Some(ExactReason::NoFarField), "{d}D");
            assert!(h.info().to_string().contains("too few points"));
            assert_exact_product(&format!("{d}D f64"), &h, &v, want.as_slice());

            let (xf, yf, wf) = (to_t::<f32>(&x), to_t::<f32>(&y), to_t::<f32>(&w));
            let want = Imq(0.2)
                .matrix(&wide(&xf), &wide(&yf), d)
                .matvec(&wide(&wf)[..])
                .unwrap();
            let h = Imq(0.2)
                .matrix(&xf, &yf, d)
                .hierarchical(&Hierarchical::new().tolerance(tol))
                .unwrap();
            assert_eq!(h.info().exact_reason, Some(ExactReason::NoFarField), "{d}D");
            assert_eq!((h.nrows(), h.ncols()), (50, 37));
            assert_exact_product(&format!("{d}D f32, K_xy"), &h, &wf, want.as_slice());
        }
    }
}

/// The order a tolerance needs raises the default leaf size (`1.5 p^d` points), and with it the
/// tree gets shallower: the build must not then report too few points for a far field
/// (`NoFarField`) when the points have one. The 2D Gaussian at 1e-10 on 3,001 points: order 13
/// has a far field (2 levels of boxes) but misses the target; with leaves of 200 points order 15
/// meets it; the default build reports `NoFarField`.
#[test]
fn smooth_kernel_keeps_its_far_field() {
    let mut rng = Rng::named("smooth 3001", 0);
    let n = 3_001;
    let x = uniform(&mut rng, n, 2);
    let tol = 1e-10;
    let build = |p: Hierarchical| {
        let h = Gaussian(0.1).matrix(&x, &x, 2).hierarchical(&p).unwrap();
        println!("{}", h.info());
        h.info().exact_reason
    };
    let capped = build(Hierarchical::new().tolerance(tol).max_order(13));
    assert!(
        matches!(capped, Some(ExactReason::NotCompressible { order: 13, .. })),
        "{capped:?}"
    );
    assert_eq!(
        build(Hierarchical::new().tolerance(tol).leaf_size(200)),
        None
    );
    let reason = build(Hierarchical::new().tolerance(tol));
    assert_ne!(
        reason,
        Some(ExactReason::NoFarField),
        "3,001 points have a far field at the orders tried"
    );
}
