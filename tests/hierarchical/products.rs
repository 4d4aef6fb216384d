//! Hierarchical products against the exact engine in f64: four kernels, 1 to 3 dimensions, f32
//! and f64, uniform and clustered points, one and three columns, `K_xx` and `K_xy`.

use super::*;

/// What one build made and measured.
#[derive(Debug)]
pub(crate) struct Measured {
    pub tolerance: f64,
    /// `||K~ v - K v|| / ||K v||` over all rows, against the exact engine in f64.
    pub error: f64,
    /// `HierarchicalMatrix::sampled_error` on 400 rows (not in 3D).
    pub sampled: Option<f64>,
    /// The exact engine's own relative error in `T` (0 in f64), which the sampled error, measured
    /// against it, includes: in f32 about 2e-7.
    pub floor: f64,
    pub info: HierarchicalInfo,
}

/// The tolerances of a precision: 1e-3 and 1e-5, and 1e-7 in f64.
fn tolerances<T: Real>() -> &'static [f64] {
    if size_of::<T>() == 8 {
        &[1e-3, 1e-5, 1e-7]
    } else {
        &[1e-3, 1e-5]
    }
}

/// Default parameters at tolerance `t`.
fn default_params(t: f64) -> Hierarchical {
    Hierarchical::new().tolerance(t)
}

/// Leaves of 48 points: in 3D the default leaves (`1.5 p^3` points) leave no far field below
/// N ~ 20,000, and exact products cost less there; this makes a tree of 2 levels at N = 3,000.
fn small_leaves(t: f64) -> Hierarchical {
    Hierarchical::new().tolerance(t).leaf_size(48)
}

/// Builds the hierarchical matrix of `f` between `x` and `y` (`x` when `None`), points of
/// dimension `d` rounded to `T`, at each tolerance of `tols` (parameters from `params`), and
/// measures its product with a random `v` of `nv` columns (entries in [-1, 1]) against the exact
/// engine in f64 on the same (rounded) points.
pub(crate) fn measure<T: Real, F: Family>(
    f: F,
    x: &[f64],
    y: Option<&[f64]>,
    d: usize,
    nv: usize,
    tols: &[f64],
    params: impl Fn(f64) -> Hierarchical,
) -> Vec<Measured> {
    let xt = to_t::<T>(x);
    let yt = y.map(to_t::<T>);
    let yt = yt.as_deref().unwrap_or(&xt);
    let (x64, y64) = (wide(&xt), wide(yt));
    let (n, m) = (xt.len() / d, yt.len() / d);
    let mut rng = Rng::named("measure", (n * 31 + m * 7 + nv) as u64);
    let vt: Vec<T> = rng.reals(m * nv, -1.0, 1.0);
    let v64 = wide(&vt);
    let want = f.matrix(&x64, &y64, d).matvec(view(&v64, nv)).unwrap();
    let floor = if size_of::<T>() == 8 {
        0.0
    } else {
        let exact = f.matrix(&xt, yt, d).matvec(view(&vt, nv)).unwrap();
        rel_error(exact.as_slice(), want.as_slice())
    };
    let mut out = Vec::new();
    for &tol in tols {
        let h = f.matrix(&xt, yt, d).hierarchical(&params(tol)).unwrap();
        assert_eq!((h.nrows(), h.ncols()), (n, m));
        let got = h.matvec(view(&vt, nv)).unwrap();
        assert_eq!((got.rows(), got.dim()), (n, nv));
        let error = rel_error(got.as_slice(), want.as_slice());
        // In 3D the far field costs most (64 boxes of 216 nodes): one product fewer there.
        let sampled = (d < 3).then(|| h.sampled_error(view(&vt, nv), 400, 17).unwrap());
        let info = h.info().clone();
        println!(
            "{f:?} {d}D {} n {n} m {m} nv {nv}: tol {tol:.0e}: error {error:.2e} (engine \
             {floor:.1e}), sampled {}, estimated {:.2e}, order {}, levels {}, exact {:?}, built in {:.2} s",
            std::any::type_name::<T>(),
            sampled.map_or("-".into(), |s| format!("{s:.2e}")),
            info.estimated_error,
            info.order,
            info.levels,
            info.exact_reason,
            info.build_time.as_secs_f64(),
        );
        out.push(Measured {
            tolerance: tol,
            error,
            sampled,
            floor,
            info,
        });
    }
    out
}

/// Every build made a far field, its product is within its tolerance (the measured error, the
/// sampled one and the build's estimate), the sampled error is within a factor 3 of the full one
/// (give or take the f32 engine's own error, which it measures against), and the error shrinks
/// with the tolerance.
fn assert_accurate(what: &str, ms: &[Measured]) {
    for m in ms {
        let tol = m.tolerance;
        let i = &m.info;
        assert_eq!(i.exact_reason, None, "{what}, tolerance {tol:e}: {i}");
        assert!(i.order >= 2 && i.levels >= 2, "{what}: {i}");
        assert!(
            i.far_evaluations > 0 && i.near_evaluations > 0,
            "{what}: {i:?}"
        );
        assert_eq!(i.tolerance, tol);
        assert!(
            m.error <= tol,
            "{what}: relative error {:e} above the tolerance {tol:e} ({i})",
            m.error
        );
        assert!(
            i.estimated_error <= tol,
            "{what}: estimated error {:e} above the tolerance {tol:e}",
            i.estimated_error
        );
        if let Some(sampled) = m.sampled {
            let (lo, hi) = ((m.error - m.floor) / 3.0, 3.0 * (m.error + m.floor));
            assert!(
                sampled <= tol && (lo..=hi).contains(&sampled),
                "{what}, tolerance {tol:e}: sampled error {sampled:e}, full error {:e} (the \
                 exact engine's {:e})",
                m.error,
                m.floor
            );
        }
    }
    for w in ms.windows(2) {
        assert!(
            w[1].error < w[0].error,
            "{what}: the error does not shrink with the tolerance: {:e} at {:e}, {:e} at {:e}",
            w[0].error,
            w[0].tolerance,
            w[1].error,
            w[1].tolerance
        );
    }
}

/// `f` on uniform points in 1D (N = 4,099) and 2D (N = 3,571) at every tolerance of `T`, and in
/// 3D (N = 3,001, leaves of 48 points) at the tolerances `three_d`. A 3D far field costs 1e8
/// evaluations per product at order 6 (tolerance 1e-3: 64 boxes of 216 nodes), 3e7 at order 5
/// (1e-2), so 3D is tested once per kernel, mostly at 1e-2 (the Matérn kernel between two point
/// sets).
fn uniform_1d_2d_3d<T: Real, F: Family>(f: F, three_d: &[f64]) {
    let mut rng = Rng::named(&format!("{f:?}"), size_of::<T>() as u64);
    for (d, n) in [(1, 4_099), (2, 3_571)] {
        let x = uniform(&mut rng, n, d);
        let ms = measure::<T, F>(f, &x, None, d, 1, tolerances::<T>(), default_params);
        assert_accurate(&format!("{f:?} {d}D"), &ms);
        assert_stored(&format!("{f:?} {d}D"), &ms);
    }
    if !three_d.is_empty() {
        let x = uniform(&mut rng, 3_001, 3);
        let ms = measure::<T, F>(f, &x, None, 3, 1, three_d, small_leaves);
        assert_accurate(&format!("{f:?} 3D"), &ms);
        assert_stored(&format!("{f:?} 3D"), &ms);
    }
}

/// A translation-invariant kernel's far field is stored at every level that has one (levels 2
/// to the leaves' on uniform points).
fn assert_stored(what: &str, ms: &[Measured]) {
    for m in ms {
        let i = &m.info;
        assert_eq!(i.stored_levels, i.levels - 1, "{what}: {i}");
    }
}

/// A kernel that is not translation invariant (a Gaussian times `1 + sum(x) sum(y)`): the
/// build finds the operators stored at one place wrong elsewhere and evaluates the kernel at
/// every level; the products still meet the tolerance.
#[test]
fn translation_variant_kernel_is_evaluated() {
    let mut rng = Rng::named("tilted", 0);
    for (d, n) in [(1, 4_099), (2, 3_571)] {
        let x = uniform(&mut rng, n, d);
        let ms = measure::<f64, _>(Tilted(0.1), &x, None, d, 1, &[1e-3, 1e-6], default_params);
        assert_accurate(&format!("tilted Gaussian {d}D f64"), &ms);
        for m in &ms {
            assert_eq!(m.info.stored_levels, 0, "{}", m.info);
        }
    }
    let x = uniform(&mut rng, 3_571, 2);
    let ms = measure::<f32, _>(Tilted(0.1), &x, None, 2, 1, &[1e-3], default_params);
    assert_accurate("tilted Gaussian 2D f32", &ms);
    assert_eq!(ms[0].info.stored_levels, 0, "{}", ms[0].info);
}

#[test]
fn gaussian_f64() {
    uniform_1d_2d_3d::<f64, _>(Gaussian(0.1), &[1e-2, 1e-3]);
}

#[test]
fn gaussian_f32() {
    uniform_1d_2d_3d::<f32, _>(Gaussian(0.1), &[]);
}

#[test]
fn laplacian_f64() {
    uniform_1d_2d_3d::<f64, _>(Laplacian(0.1), &[]);
}

#[test]
fn laplacian_f32() {
    uniform_1d_2d_3d::<f32, _>(Laplacian(0.1), &[1e-2]);
}

#[test]
fn matern_f64() {
    uniform_1d_2d_3d::<f64, _>(Matern(0.2), &[]);
}

#[test]
fn matern_f32() {
    uniform_1d_2d_3d::<f32, _>(Matern(0.2), &[]);
}

#[test]
fn inverse_multiquadric_f64() {
    uniform_1d_2d_3d::<f64, _>(Imq(0.1), &[]);
}

#[test]
fn inverse_multiquadric_f32() {
    uniform_1d_2d_3d::<f32, _>(Imq(0.1), &[1e-2]);
}

/// Six tight blobs and a uniform background: a tree much deeper in the blobs, empty boxes.
#[test]
fn clustered_points() {
    let mut rng = Rng::named("clustered", 0);
    let (x1, x2) = (clustered(&mut rng, 4_567, 1), clustered(&mut rng, 4_327, 2));
    let ms = measure::<f64, _>(
        Gaussian(0.05),
        &x2,
        None,
        2,
        1,
        tolerances::<f64>(),
        default_params,
    );
    assert_accurate("clustered Gaussian 2D f64", &ms);
    let ms = measure::<f32, _>(
        Laplacian(0.1),
        &x1,
        None,
        1,
        1,
        tolerances::<f32>(),
        default_params,
    );
    assert_accurate("clustered Laplacian 1D f32", &ms);
    let ms = measure::<f32, _>(
        Matern(0.2),
        &x2,
        None,
        2,
        1,
        tolerances::<f32>(),
        default_params,
    );
    assert_accurate("clustered Matern 2D f32", &ms);
    let ms = measure::<f64, _>(
        Imq(0.1),
        &x1,
        None,
        1,
        1,
        tolerances::<f64>(),
        default_params,
    );
    assert_accurate("clustered inverse multiquadric 1D f64", &ms);
}

/// `v` of three columns: each column's product is the one-column product's (the error is
/// measured over the whole block).
#[test]
fn three_columns() {
    let mut rng = Rng::named("columns", 0);
    let x2 = uniform(&mut rng, 3_571, 2);
    let ms = measure::<f64, _>(
        Laplacian(0.1),
        &x2,
        None,
        2,
        3,
        tolerances::<f64>(),
        default_params,
    );
    assert_accurate("three columns, Laplacian 2D f64", &ms);
    let x1 = clustered(&mut rng, 4_211, 1);
    let ms = measure::<f32, _>(
        Matern(0.2),
        &x1,
        None,
        1,
        3,
        tolerances::<f32>(),
        default_params,
    );
    assert_accurate("three columns, Matern 1D f32", &ms);

    // Column by column, the block product is the one-column products.
    let s = 0.1;
    let x = to_t::<f64>(&x2);
    let h = Gaussian(s)
        .matrix(&x, &x, 2)
        .hierarchical(&default_params(1e-6))
        .unwrap();
    let v = rng.vec(3_571 * 3, -1.0, 1.0);
    let block = h.matvec(view(&v, 3)).unwrap();
    for c in 0..3 {
        let col: Vec<f64> = v.chunks(3).map(|r| r[c]).collect();
        let one = h.matvec(&col[..]).unwrap();
        let got: Vec<f64> = block.as_slice().chunks(3).map(|r| r[c]).collect();
        assert!(
            rel_error(&got, one.as_slice()) < 1e-12,
            "column {c} of the block differs from its own product"
        );
    }
}

/// `K_xy` with two point sets of different sizes: prediction at new points (N = 4,001 targets,
/// M = 2,503 sources), and the other way round.
#[test]
fn two_point_sets() {
    let mut rng = Rng::named("two sets", 0);
    let (x2, y2) = (uniform(&mut rng, 4_001, 2), clustered(&mut rng, 2_503, 2));
    let ms = measure::<f64, _>(
        Gaussian(0.1),
        &x2,
        Some(&y2),
        2,
        1,
        tolerances::<f64>(),
        default_params,
    );
    assert_accurate("K_xy Gaussian 2D f64", &ms);
    let ms = measure::<f32, _>(
        Laplacian(0.1),
        &y2,
        Some(&x2),
        2,
        1,
        tolerances::<f32>(),
        default_params,
    );
    assert_accurate("K_yx Laplacian 2D f32", &ms);
    let (x1, y1) = (uniform(&mut rng, 4_001, 1), uniform(&mut rng, 2_503, 1));
    let ms = measure::<f32, _>(
        Imq(0.1),
        &x1,
        Some(&y1),
        1,
        3,
        tolerances::<f32>(),
        default_params,
    );
    assert_accurate("K_xy inverse multiquadric 1D f32, 3 columns", &ms);
    let (x3, y3) = (uniform(&mut rng, 3_001, 3), uniform(&mut rng, 2_111, 3));
    let ms = measure::<f64, _>(Matern(0.2), &x3, Some(&y3), 3, 1, &[1e-2], small_leaves);
    assert_accurate("K_xy Matern 3D f64", &ms);
}

/// `sampled_error` on all rows is the full relative error (the exact engine's own rounding
/// aside), and on a few rows agrees with it within a factor 3; the build's own estimate too.
#[test]
fn sampled_error_agrees_with_the_full_error() {
    let mut rng = Rng::named("sampled", 0);
    let n = 4_813;
    let x = uniform(&mut rng, n, 2);
    let v = rng.vec(n, -1.0, 1.0);
    let want = Laplacian(0.1).matrix(&x, &x, 2).matvec(&v[..]).unwrap();
    for tol in [1e-3, 1e-6] {
        let h = Laplacian(0.1)
            .matrix(&x, &x, 2)
            .hierarchical(&default_params(tol))
            .unwrap();
        let full = rel_error(h.matvec(&v[..]).unwrap().as_slice(), want.as_slice());
        let all = h.sampled_error(&v[..], n, 3).unwrap();
        assert!(
            (all - full).abs() <= 1e-3 * full,
            "tolerance {tol:e}: sampled error on all rows {all:e}, full error {full:e}"
        );
        for (rows, seed) in [(200, 1), (1_000, 2), (50, 3)] {
            let s = h.sampled_error(&v[..], rows, seed).unwrap();
            println!("tol {tol:.0e}: {rows} rows: sampled {s:.2e}, full {full:.2e}");
            assert!(
                s <= tol && (full / 3.0..=3.0 * full).contains(&s),
                "tolerance {tol:e}: {rows} rows: sampled error {s:e}, full error {full:e}"
            );
        }
        // The same rows give the same estimate; the build's own lies within the same factor.
        assert_eq!(
            h.sampled_error(&v[..], 200, 1).unwrap(),
            h.sampled_error(&v[..], 200, 1).unwrap()
        );
        let est = h.info().estimated_error;
        assert!(
            (full / 3.0..=3.0 * full).contains(&est),
            "tolerance {tol:e}: estimated {est:e}, full error {full:e}"
        );
    }
}

/// The operator is a `LinearOperator`: `apply` is `matvec`, its diagonal and columns are the
/// exact kernel's.
#[test]
fn linear_operator() {
    let mut rng = Rng::named("operator", 0);
    let n = 3_137;
    let x = uniform(&mut rng, n, 2);
    let h = Matern(0.2)
        .matrix(&x, &x, 2)
        .hierarchical(&default_params(1e-5))
        .unwrap();
    assert_eq!(h.info().exact_reason, None);
    let v = rng.vec(2 * n, -1.0, 1.0);
    let mut out = vec![0.0; 2 * n];
    LinearOperator::apply(&h, &v, 2, &mut out).unwrap();
    assert_eq!(out, h.matvec(view(&v, 2)).unwrap().as_slice());
    assert_eq!(
        (LinearOperator::nrows(&h), LinearOperator::ncols(&h)),
        (n, n)
    );
    let mut diag = vec![0.0; n];
    LinearOperator::diagonal(&h, &mut diag).unwrap();
    assert!(diag.iter().all(|&k| (k - 1.0).abs() < 1e-12));
    let cols = [0, 17, n - 1];
    let mut got = vec![0.0; n * 3];
    LinearOperator::columns(&h, &cols, &mut got).unwrap();
    let mut want = vec![0.0; n * 3];
    h.exact().columns_into(&cols, &mut want).unwrap();
    assert_eq!(got, want);
}
