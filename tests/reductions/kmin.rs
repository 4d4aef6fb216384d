//! The k smallest: `kmin`, `argkmin`, `kmin_argkmin`, ties, K beyond the reduction rows, k nearest
//! neighbours, and the split scheme on a GPU.

use super::*;

fn kmin_family<T: Prec>() {
    for &(n, m) in SIZES {
        let s = Xyab::<T>::new("kmin_family", n, m, 3);
        let (x, y) = (s.x(3), s.y(3));
        let (a, b) = (&s.a, &s.b);
        let what = |r: &str| format!("{r}(sqdist(x, y) + a b, 4) at ({n}, {m})");
        let (fj, fi) = (scalar_f(&s, false), scalar_f(&s, true));
        let red = kernel!(a_i: 1, b_j: 1 => kmin_j(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argkmin_j(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("argkmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => kmin_argkmin_j(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_argkmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => kmin_i(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argkmin_i(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("argkmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => kmin_argkmin_i(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_argkmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            4,
            false,
            false,
        );
        // A vector F of dimension 5 (a bucket arm on the GPU), K = 3, entry by entry.
        let v = Xyab::<T>::new("kmin_family_vector", n, m, 5);
        let (x5, y5, b5) = (v.x(5), v.y(5), &v.b);
        let what = |r: &str| format!("{r}(x * y - b, 3) (dimension 5) at ({n}, {m})");
        let (gj, gi) = (vector_f(&v, 5, false), vector_f(&v, 5, true));
        let red = kernel!(b_j: 1 => kmin_argkmin_j(x_i * y_j - b_j, 3));
        selection(
            &what("kmin_argkmin_j"),
            red.x_i(&x5).y_j(&y5).b_j(b5).bind().unwrap(),
            &gj,
            3,
            false,
            false,
        );
        let red = kernel!(b_j: 1 => argkmin_i(x_i * y_j - b_j, 3));
        selection(
            &what("argkmin_i"),
            red.x_i(&x5).y_j(&y5).b_j(b5).bind().unwrap(),
            &gi,
            3,
            false,
            false,
        );
    }
    eprintln!(
        "k smallest, {}: worst |err|/scale {:.2e}",
        T::NAME,
        take_worst()
    );
}

#[test]
fn kmin_family_f32() {
    kmin_family::<f32>();
}

#[test]
fn kmin_family_f64() {
    kmin_family::<f64>();
}

/// Integer-valued points: `sqdist` is exact and full of ties. The arg reductions give the first
/// index among equal values, the k smallest keep equal values in index order, on the CPU (with
/// and without a split of the reduction range: 3 rows split it) and on the GPU (one block along
/// the reduction index, and split ones merged by the combining pass).
fn ties<T: Prec>() {
    for &(n, m) in &[(3usize, 1037usize), (300, 1037)] {
        let mut rng = Rng::named("ties", (n + m) as u64);
        let mut ints = |len: usize| -> (Vec<T>, Vec<f64>) {
            let r: Vec<f64> = (0..len).map(|_| rng.int(0, 2) as f64).collect();
            (r.iter().map(|&v| T::from_f64(v)).collect(), r)
        };
        let ((x, xr), (y, yr)) = (ints(n * 2), ints(m * 2));
        let (xv, yv) = (View::new(&x, 2).unwrap(), View::new(&y, 2).unwrap());
        let fj = Dense::new(n, m, 1, |o, r, v| {
            v[0] = sqdist(&xr[o * 2..o * 2 + 2], &yr[r * 2..r * 2 + 2])
        });
        let fi = Dense::new(m, n, 1, |o, r, v| {
            v[0] = sqdist(&xr[r * 2..r * 2 + 2], &yr[o * 2..o * 2 + 2])
        });
        let what = |r: &str| format!("{r} with ties at ({n}, {m})");
        let red = kernel!(min_argmin_j(sqdist(x_i, y_j)));
        selection(
            &what("min_argmin_j"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fj,
            1,
            false,
            true,
        );
        let red = kernel!(max_argmax_j(sqdist(x_i, y_j)));
        selection(
            &what("max_argmax_j"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fj,
            1,
            true,
            true,
        );
        let red = kernel!(kmin_argkmin_j(sqdist(x_i, y_j), 7));
        selection(
            &what("kmin_argkmin_j"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fj,
            7,
            false,
            true,
        );
        let red = kernel!(argmin_i(sqdist(x_i, y_j)));
        selection(
            &what("argmin_i"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fi,
            1,
            false,
            true,
        );
        let red = kernel!(argkmin_i(sqdist(x_i, y_j), 3));
        selection(
            &what("argkmin_i"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fi,
            3,
            false,
            true,
        );
    }
}

#[test]
fn ties_keep_the_first_index_f32() {
    ties::<f32>();
}

#[test]
fn ties_keep_the_first_index_f64() {
    ties::<f64>();
}

/// K larger than the number of rows reduced over is a typed error when binding.
#[test]
fn k_larger_than_the_reduction_rows() {
    let x = vec![[0.0f32, 1.0]; 7];
    let y = vec![[1.0f32, 0.0]; 13];
    let red = kernel!(kmin_i(sqdist(x_i, y_j), 10));
    match red.x_i(&x).y_j(&y).bind() {
        Err(KeopsError::KTooLarge {
            reduction,
            k,
            index,
            rows,
        }) => {
            assert_eq!((reduction.as_str(), k, index, rows), ("kmin_i", 10, 'i', 7));
        }
        other => panic!("expected KTooLarge, got {:?}", other.map(|r| r.rows())),
    }
    let red = kernel!(argkmin_j(sqdist(x_i, y_j), 14));
    let err = red.x_i(&x).y_j(&y).eval().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`argkmin_j` keeps the 14 smallest values over j, but there are only 13"),
        "{err}"
    );
    // K equal to the rows is fine: every index, sorted.
    let red = kernel!(argkmin_j(sqdist(x_i, y_j), 13));
    let idx = red.x_i(&x).y_j(&y).eval().unwrap();
    assert_eq!(
        idx.row(0),
        (0..13).collect::<Vec<_>>(),
        "equal values in index order"
    );
}

/// K nearest neighbours: 10,000 random 3D points against 10,000 others, K = 10, compared with a
/// brute-force f64 search. Neighbour sets are compared allowing near-ties: every index returned is
/// within 1e-5 (f32 rounding of the distances) of the 10th smallest distance, and every point
/// clearly closer than it is returned.
#[test]
fn k_nearest_neighbours() {
    const K: usize = 10;
    let mut rng = Rng::named("knn", 0);
    let (x, xr) = data::<f32>(&mut rng, 30_000, 0.0, 1.0);
    let (y, yr) = data::<f32>(&mut rng, 30_000, 0.0, 1.0);
    let (xv, yv) = (View::new(&x, 3).unwrap(), View::new(&y, 3).unwrap());
    let knn = kernel!(argkmin_j(sqdist(x_i, y_j), 10));
    let t0 = std::time::Instant::now();
    let idx = knn.x_i(&xv).y_j(&yv).eval().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!((idx.rows(), idx.dim()), (10_000, K));
    let check = |name: &str, idx: &[usize], n: usize| {
        let mut d = vec![0.0; 10_000];
        for o in 0..n {
            for (r, d) in d.iter_mut().enumerate() {
                *d = sqdist(&xr[o * 3..o * 3 + 3], &yr[r * 3..r * 3 + 3]);
            }
            let mut sorted = d.clone();
            sorted.select_nth_unstable_by(K - 1, |a, b| a.partial_cmp(b).unwrap());
            let kth = sorted[K - 1];
            let got = &idx[o * K..(o + 1) * K];
            let mut seen = got.to_vec();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), K, "{name}: row {o}: repeated indices {got:?}");
            for w in got.windows(2) {
                assert!(d[w[0]] <= d[w[1]] + 1e-5, "{name}: row {o} not ascending");
            }
            for &r in got {
                assert!(
                    d[r] <= kth + 1e-5,
                    "{name}: row {o}: {r} at {} > {kth}",
                    d[r]
                );
            }
            for (r, &dr) in d.iter().enumerate() {
                if dr < kth - 1e-5 {
                    assert!(
                        got.contains(&r),
                        "{name}: row {o}: misses {r} at {dr} < {kth}"
                    );
                }
            }
        }
    };
    check("CPU engine", idx.as_slice(), 10_000);
    eprintln!("k nearest neighbours, 10,000 x 10,000, K = 10, f32: {secs:.2} s on the CPU");
    // The GPU kernel on the first 1,000 queries (the emulation runs 256 threads per block on the
    // host's cores), with the plan's own split of the 10,000 points and with 3 blocks along them.
    let head = View::new(&x[..3000], 3).unwrap();
    let task_red = knn.x_i(&head).y_j(&yv).bind().unwrap();
    match gpu_host::run_reduction_splits(&task_red.gpu_task(), &[None, Some(3)]) {
        Ok(Outcome::Ran(run)) => {
            for (i, p) in run.idx.iter().zip(&run.plans) {
                let i: Vec<usize> = i.iter().map(|&i| i as usize).collect();
                check(
                    &format!("host-emulated kernel, grid {}x{}", p.grid_x, p.grid_y),
                    &i,
                    1000,
                );
            }
        }
        Ok(Outcome::Skipped(why)) => eprintln!("host emulation skipped: {why}"),
        Err(e) => panic!("{e}"),
    }
    // On a GPU, the whole problem.
    #[cfg(feature = "cuda")]
    if let Some(gpu) = gpu() {
        let bound = knn.x_i(&xv).y_j(&yv).bind().unwrap();
        let t0 = std::time::Instant::now();
        let g = bound.eval_on(keops::Backend::Cuda(0)).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        check("GPU", g.as_slice(), 10_000);
        eprintln!(
            "k nearest neighbours on {}: {secs:.3} s (first call)",
            gpu.name()
        );
    }
}

/// With a GPU: few output rows and 200,000 reduction rows, so that the plan splits the reduction
/// range into ~200 blocks whose states `keops_combine_red` merges.
#[cfg(feature = "cuda")]
#[test]
fn many_splits_on_the_gpu() {
    fn case<T: Prec>() {
        let (n, m) = (100, 200_000);
        let s = Xyab::<T>::new("many_splits", n, m, 3);
        let (x, y, a, b) = (s.x(3), s.y(3), &s.a, &s.b);
        let fj = scalar_f(&s, false);
        let what = |r: &str| format!("{r} at ({n}, {m})");
        let red = kernel!(a_i: 1, b_j: 1 => min_argmin_j(sqdist(x_i, y_j) + a_i * b_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        let plan = r
            .gpu_task()
            .plan(0, gpu().map_or(1, |g| g.multiprocessors()), None);
        eprintln!("{}: plan {} x {} blocks", T::NAME, plan.grid_x, plan.grid_y);
        selection(&what("min_argmin_j"), r, &fj, 1, false, false);
        let red = kernel!(a_i: 1, b_j: 1 => kmin_argkmin_j(sqdist(x_i, y_j) + a_i * b_j, 10));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        selection(&what("kmin_argkmin_j"), r, &fj, 10, false, false);
        let red = kernel!(a_i: 1, b_j: 1 => max_argmax_j(sqdist(x_i, y_j) + a_i * b_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        selection(&what("max_argmax_j"), r, &fj, 1, true, false);
        let tol = if T::NAME == "f32" { 1e-5 } else { 1e-12 };
        let red = kernel!(a_i: 1, b_j: 1 => logsumexp_j(-4 * (sqdist(x_i, y_j) + a_i * b_j)));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        let f4 = Dense::new(n, m, 1, |o, r, v| v[0] = -4.0 * fj.at(o, r, 0));
        values(
            &what("logsumexp_j"),
            r,
            &shifted_exp_ref(&f4, None, false),
            &scale_of(&f4, 1),
            tol,
        );
        let red =
            kernel!(a_i: 1, b_j: 1 => sumsoftmaxweight_j(-4 * (sqdist(x_i, y_j) + a_i * b_j), y_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        let v = Dense::new(n, m, 3, |_, r, v| {
            v.copy_from_slice(&s.yr[r * 3..r * 3 + 3])
        });
        values(
            &what("sumsoftmaxweight_j"),
            r,
            &shifted_exp_ref(&f4, Some(&v), true),
            &scale_of(&f4, 3),
            tol,
        );
        eprintln!(
            "many splits, {}: worst |err|/scale {:.2e}",
            T::NAME,
            take_worst()
        );
    }
    if gpu().is_none() {
        return;
    }
    case::<f32>();
    case::<f64>();
}
