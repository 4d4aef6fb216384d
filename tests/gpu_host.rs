//! The GPU path without a GPU: the CUDA kernels generated for a formula, compiled as host C++ and
//! run under keops_host.h's emulation of blocks, threads and `__syncthreads` (see
//! tests/common/gpu_host/), launched as the CUDA backend launches them, against dense f64
//! references written with plain loops.
//!
//! Covered: the tutorial's Gaussian and Laplacian kernel matrices times v of 1, 3, 9 and 17 columns
//! (9 and 17 cross the 8-column launches), `sum_j` and `sum_i` with vector outputs, every arm of
//! run-time dimensions, both schemes (one block along the reduction index, and the split scheme
//! with f64 partial sums and a combining pass: the plan's own choice and forced splits 2, 5 and
//! more than there are tiles), f32 and f64, output rows not a multiple of the 256-thread block and
//! reduction rows not a multiple of the tile. The harness itself: a kernel in which odd threads skip
//! a `__syncthreads` is reported as a timeout, a write past the output is caught, and wrong results
//! (a term dropped from the reference, or from the launch) fail the comparison.
//!
//! Tolerances, norm-wise per output entry as in tests/operations/: `|got - want| <= tol *
//! sum_terms |term|` with tol 1e-12 in f64 and 1e-4 in f32. The kernels accumulate like the CPU
//! engine (a tile of at most 256 terms summed in T, tile sums and split partial sums in f64), so the
//! same bounds hold: f64 255 * 1.1e-16 = 2.8e-14 per tile, f32 255 * 6e-8 = 1.5e-5. Dropping one
//! term of ~1000 positive comparable terms changes an entry by ~1e-3 of its scale: caught.

#![allow(clippy::needless_range_loop)] // the references are plain index loops, on purpose

mod common;

use std::time::{Duration, Instant};

use common::gpu_host::{self, HostRun, Outcome};
use common::{check_close, Rng};
use keops::prelude::*;

const TOL_F32: f64 = 1e-4;
const TOL_F64: f64 = 1e-12;

fn tol<T: Real>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        TOL_F32
    } else {
        TOL_F64
    }
}

/// The forced splits: the plan's own, 2, 5, and more blocks than there are tiles (clamped).
const SPLITS: [Option<usize>; 4] = [None, Some(2), Some(5), Some(100_000)];

/// The run, or `None` (with a note) when it was skipped; panics on an error.
fn ran<T>(what: &str, r: Result<Outcome<T>, String>) -> Option<HostRun<T>> {
    match r.unwrap_or_else(|e| panic!("{what}: {e}")) {
        Outcome::Ran(run) => Some(run),
        Outcome::Skipped(why) => {
            eprintln!("{what}: skipped: {why}");
            None
        }
    }
}

fn to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Checks every output of `run` against `want` / `scale`.
fn check_run<T: Real>(what: &str, run: &HostRun<T>, want: &[f64], scale: &[f64]) {
    for (k, out) in run.outs.iter().enumerate() {
        let p = &run.plans[k];
        check_close(&to_f64(out), want, scale, tol::<T>()).unwrap_or_else(|e| {
            panic!(
                "{what} in {}: {} with grid {}x{}, tile {}: {e}",
                T::NAME,
                run.kernel,
                p.grid_x,
                p.grid_y,
                p.tile
            )
        });
    }
    // The largest |got - want| / scale, for the record.
    let worst = run
        .outs
        .iter()
        .flat_map(|out| out.iter().zip(want).zip(scale))
        .map(|((g, w), s)| (g.to_f64() - w).abs() / s.max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max);
    eprintln!(
        "{what} in {}: {} ok (worst {worst:.1e}), grids {:?}, {:.1} ms",
        T::NAME,
        run.kernel,
        run.plans
            .iter()
            .map(|p| (p.grid_x, p.grid_y))
            .collect::<Vec<_>>(),
        run.secs.iter().sum::<f64>() * 1e3
    );
}

/// `(K v, sum |K_ij v_jc|)` for a dense `K` given entrywise, v `(m, nv)`.
fn dense_matvec(
    n: usize,
    m: usize,
    kij: impl Fn(usize, usize) -> f64,
    v: &[f64],
    nv: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut want, mut scale) = (vec![0.0; n * nv], vec![0.0; n * nv]);
    for i in 0..n {
        for j in 0..m {
            let k = kij(i, j);
            for c in 0..nv {
                want[i * nv + c] += k * v[j * nv + c];
                scale[i * nv + c] += (k * v[j * nv + c]).abs();
            }
        }
    }
    (want, scale)
}

fn sqdist(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for k in 0..a.len() {
        s += (a[k] - b[k]) * (a[k] - b[k]);
    }
    s
}

/// Random data in precision `T` and the same numbers in f64.
fn data<T: Real>(rng: &mut Rng, len: usize, lo: f64, hi: f64) -> (Vec<T>, Vec<f64>) {
    let t: Vec<T> = rng.reals(len, lo, hi);
    let r = to_f64(&t);
    (t, r)
}

/// The tutorial's Gaussian and Laplacian kernels (3D points, run-time dimension) times v of 1, 3,
/// 9 and 17 columns, every split.
fn tutorial_matvec<T: Real>() {
    let (n, m, d) = (1500, 2003, 3);
    let mut rng = Rng::named("tutorial_matvec", std::mem::size_of::<T>() as u64);
    let (x, xr) = data::<T>(&mut rng, n * d, 0.0, 1.0);
    let (y, yr) = data::<T>(&mut rng, m * d, 0.0, 1.0);
    let s = 0.25;
    let xv = View::new(&x, d).unwrap();
    let yv = View::new(&y, d).unwrap();
    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .matrix()
        .unwrap();
    let laplace = kernel!(exp(-norm(x_i - y_j) / s))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .matrix()
        .unwrap();
    let g = |i: usize, j: usize| {
        (-sqdist(&xr[i * d..(i + 1) * d], &yr[j * d..(j + 1) * d]) / (2.0 * s * s)).exp()
    };
    let l = |i: usize, j: usize| {
        (-sqdist(&xr[i * d..(i + 1) * d], &yr[j * d..(j + 1) * d]).sqrt() / s).exp()
    };
    for nv in [1, 3, 9, 17] {
        let (v, vr) = data::<T>(&mut rng, m * nv, -1.0, 1.0);
        for (name, k, kij) in [
            (
                "gaussian",
                gauss.gpu_task(),
                &g as &dyn Fn(usize, usize) -> f64,
            ),
            ("laplacian", laplace.gpu_task(), &l),
        ] {
            let what = format!("{name} matvec, (N, M) = ({n}, {m}), {nv} columns");
            let (want, scale) = dense_matvec(n, m, kij, &vr, nv);
            // Every split for one column; the plan's own (2 blocks along j) and one block per
            // tile for several (the emulation costs ~1 ms per block and __syncthreads).
            let splits: &[Option<usize>] = match nv {
                1 => &SPLITS,
                17 => &[None, Some(100_000)],
                _ => &[None],
            };
            if let Some(run) = ran(&what, gpu_host::run_matvec_splits(&k, &v, nv, splits)) {
                assert_eq!(run.outs.len(), splits.len());
                // The plan splits 6 row blocks (4 multiprocessors); forced splits do too.
                assert!(
                    run.plans.iter().all(|p| p.grid_x == 6 && p.grid_y > 1),
                    "{:?}",
                    run.plans
                );
                check_run(&what, &run, &want, &scale);
            }
        }
    }
}

#[test]
fn tutorial_matvec_f32() {
    tutorial_matvec::<f32>();
}

#[test]
fn tutorial_matvec_f64() {
    tutorial_matvec::<f64>();
}

/// `sum_j` with a vector output (dimension 3) and `sum_i`, sizes not multiples of 256, every split,
/// and a size the plan does not split.
fn vector_reductions<T: Real>() {
    let (dx, db) = (2, 3);
    for (n, m) in [(1000, 1037), (7, 13), (300, 255), (1, 1)] {
        let mut rng = Rng::named("vector_reductions", (n * 10_000 + m) as u64);
        let (x, xr) = data::<T>(&mut rng, n * dx, -1.0, 1.0);
        let (y, yr) = data::<T>(&mut rng, m * dx, -1.0, 1.0);
        let (b, br) = data::<T>(&mut rng, m * db, -1.0, 1.0);
        let (a, ar) = data::<T>(&mut rng, n * db, -1.0, 1.0);
        let red_j = kernel!(sum_j(exp(-sqdist(x_i, y_j)) * b_j))
            .x_i(View::new(&x, dx).unwrap())
            .y_j(View::new(&y, dx).unwrap())
            .b_j(View::new(&b, db).unwrap())
            .bind()
            .unwrap();
        let red_i = kernel!(sum_i(exp(-sqdist(x_i, y_j)) * a_i - sqnorm(y_j)))
            .x_i(View::new(&x, dx).unwrap())
            .y_j(View::new(&y, dx).unwrap())
            .a_i(View::new(&a, db).unwrap())
            .bind()
            .unwrap();
        let g = |i: usize, j: usize| {
            (-sqdist(&xr[i * dx..(i + 1) * dx], &yr[j * dx..(j + 1) * dx])).exp()
        };
        // sum_j: out (n, db).
        let (mut want, mut scale) = (vec![0.0; n * db], vec![0.0; n * db]);
        for i in 0..n {
            for j in 0..m {
                for c in 0..db {
                    let t = g(i, j) * br[j * db + c];
                    want[i * db + c] += t;
                    scale[i * db + c] += t.abs();
                }
            }
        }
        let what = format!("sum_j vector, (N, M) = ({n}, {m})");
        if let Some(run) = ran(
            &what,
            gpu_host::run_reduction_splits(&red_j.gpu_task(), &SPLITS),
        ) {
            check_run(&what, &run, &want, &scale);
        }
        // sum_i: out (m, db).
        let (mut want, mut scale) = (vec![0.0; m * db], vec![0.0; m * db]);
        for j in 0..m {
            let sy: f64 = yr[j * dx..(j + 1) * dx].iter().map(|v| v * v).sum();
            for i in 0..n {
                for c in 0..db {
                    let t = g(i, j) * ar[i * db + c] - sy;
                    want[j * db + c] += t;
                    scale[j * db + c] += t.abs();
                }
            }
        }
        let what = format!("sum_i vector, (N, M) = ({n}, {m})");
        if let Some(run) = ran(
            &what,
            gpu_host::run_reduction_splits(&red_i.gpu_task(), &SPLITS),
        ) {
            check_run(&what, &run, &want, &scale);
        }
    }
}

#[test]
fn vector_reductions_f32() {
    vector_reductions::<f32>();
}

#[test]
fn vector_reductions_f64() {
    vector_reductions::<f64>();
}

/// One formula with two run-time classes at every arm: exact dimensions 1..=4 and the buckets of
/// the first class (16, 256), exact 1..=3 and the bucket of the second; a dimension above 256 has
/// no GPU kernel and is skipped.
#[test]
fn runtime_dimension_arms() {
    fn case<T: Real>(dx: usize, db: usize) -> Option<String> {
        let (n, m) = (65, 257);
        let mut rng = Rng::named("arms", (dx * 1000 + db) as u64);
        let (x, xr) = data::<T>(&mut rng, n * dx, -1.0, 1.0);
        let (y, yr) = data::<T>(&mut rng, m * dx, -1.0, 1.0);
        let (b, br) = data::<T>(&mut rng, m * db, -1.0, 1.0);
        let red = kernel!(sum_j(
            exp(-sqdist(x_i, y_j) / 4) * normalize(b_j + 2) + sum(x_i * y_j)
        ))
        .x_i(View::new(&x, dx).unwrap())
        .y_j(View::new(&y, dx).unwrap())
        .b_j(View::new(&b, db).unwrap())
        .bind()
        .unwrap();
        let (mut want, mut scale) = (vec![0.0; n * db], vec![0.0; n * db]);
        for i in 0..n {
            let xi = &xr[i * dx..(i + 1) * dx];
            for j in 0..m {
                let yj = &yr[j * dx..(j + 1) * dx];
                let bj = &br[j * db..(j + 1) * db];
                let g = (-sqdist(xi, yj) / 4.0).exp();
                let nb: f64 = bj.iter().map(|v| (v + 2.0) * (v + 2.0)).sum::<f64>().sqrt();
                let sxy: f64 = (0..dx).map(|k| xi[k] * yj[k]).sum();
                for c in 0..db {
                    let t = g * (bj[c] + 2.0) / nb + sxy;
                    want[i * db + c] += t;
                    scale[i * db + c] += t.abs();
                }
            }
        }
        let what = format!("arms, dims ({dx}, {db})");
        let run = ran(
            &what,
            gpu_host::run_reduction_splits(&red.gpu_task(), &[None, Some(2)]),
        )?;
        check_run(&what, &run, &want, &scale);
        Some(run.kernel)
    }
    let mut kernels = Vec::new();
    for (dx, db) in [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 1),
        (5, 2),
        (16, 4),
        (17, 3),
        (256, 7),
        (1, 256),
    ] {
        kernels.extend(case::<f32>(dx, db));
        kernels.extend(case::<f64>(dx, db));
    }
    if !kernels.is_empty() {
        let arms: Vec<&str> = kernels
            .iter()
            .map(|k| k.splitn(5, '_').nth(4).unwrap())
            .collect();
        for want in [
            "e1_e1",
            "e2_e2",
            "e3_e3",
            "e4_e1",
            "u16_e2",
            "u16_u256",
            "u256_e3",
            "u256_u256",
            "e1_u256",
        ] {
            assert!(arms.contains(&want), "arm {want} not run: {arms:?}");
        }
    }
    // A dimension above 256: no GPU kernel.
    let x = vec![0.5f32; 3 * 300];
    let red = kernel!(sum_j(
        exp(-sqdist(x_i, y_j) / 4) * normalize(b_j + 2) + sum(x_i * y_j)
    ))
    .x_i(View::new(&x, 300).unwrap())
    .y_j(View::new(&x, 300).unwrap())
    .b_j(View::new(&x, 300).unwrap())
    .bind()
    .unwrap();
    match gpu_host::run_reduction(&red.gpu_task(), None) {
        Ok(Outcome::Skipped(why)) => assert!(why.contains("exceeds"), "{why}"),
        other => panic!("dimension 300 has no GPU kernel, got {other:?}"),
    }
}

/// The whole `keops.cu` (every formula of the package) compiles as host C++.
#[test]
fn module_compiles() {
    match gpu_host::main_driver() {
        Ok(Some(d)) => eprintln!(
            "host driver {} ({})",
            d.exe.display(),
            match d.compile_secs {
                Some(s) => format!("compiled in {s:.1} s"),
                None => "cached".into(),
            }
        ),
        Ok(None) => eprintln!("no C++ compiler: host emulation skipped"),
        Err(e) => panic!("{e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The harness can fail.

/// A kernel in which odd threads skip a `__syncthreads` hangs its block: the driver reports a
/// timeout (and, if the driver itself hung, the process would be killed). A correct kernel through
/// the same path is the control.
#[test]
fn hanging_kernel_is_reported() {
    let Some(out) = gpu_host::run_test_kernel::<f32>("iota", 300, 2000, gpu_host::KILL_AFTER)
        .unwrap_or_else(|e| panic!("control kernel: {e}"))
    else {
        eprintln!("no C++ compiler: skipped");
        return;
    };
    assert_eq!(out, (1..=300).map(|v| v as f32).collect::<Vec<_>>());
    // The driver's own timeout, 2 s here (20 s for the formulas' kernels).
    let t0 = Instant::now();
    let err = gpu_host::run_test_kernel::<f64>("skip_sync_odd", 300, 2000, gpu_host::KILL_AFTER)
        .expect_err("a kernel that skips a __syncthreads must not complete");
    let took = t0.elapsed();
    assert!(
        err.contains("timeout: a __syncthreads was not reached by every thread"),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(
        took >= Duration::from_millis(1900),
        "{took:?}: the timeout must have waited"
    );
    // The process is killed when the driver does not give up by itself (timeout 60 s, kill 1 s).
    let t0 = Instant::now();
    let err =
        gpu_host::run_test_kernel::<f32>("skip_sync_odd", 300, 60_000, Duration::from_secs(1))
            .expect_err("a kernel that skips a __syncthreads must not complete");
    assert!(err.contains("killed"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert!(
        gpu_host::LAUNCH_TIMEOUT_MS <= 20_000 && gpu_host::KILL_AFTER <= Duration::from_secs(60)
    );
}

#[test]
fn write_past_end_is_caught() {
    match gpu_host::run_test_kernel::<f64>("write_past_end", 300, 2000, gpu_host::KILL_AFTER) {
        Ok(None) => eprintln!("no C++ compiler: skipped"),
        Ok(Some(out)) => panic!(
            "a write past the output went unnoticed: {} entries",
            out.len()
        ),
        Err(e) => assert!(e.contains("out-of-bounds write: out[300]"), "{e}"),
    }
}

/// Wrong results fail: the kernel's output against a reference with one term dropped, and a launch
/// with one reduction row too few against the right reference.
#[test]
fn wrong_results_are_detected() {
    fn case<T: Real>() {
        let (n, m) = (1000, 1037);
        let mut rng = Rng::named("wrong", std::mem::size_of::<T>() as u64);
        let (x, xr) = data::<T>(&mut rng, n * 3, -1.0, 1.0);
        let (y, yr) = data::<T>(&mut rng, m * 3, -1.0, 1.0);
        // Positive b: no cancellation.
        let (b, br) = data::<T>(&mut rng, m, 0.5, 1.0);
        let red = kernel!(x_i: 3 => sum_j(exp(-sqdist(x_i, y_j)) * b_j))
            .x_i(View::new(&x, 3).unwrap())
            .y_j(View::new(&y, 3).unwrap())
            .b_j(&b)
            .bind()
            .unwrap();
        let reference = |m: usize| {
            let (mut want, mut scale) = (vec![0.0; n], vec![0.0; n]);
            for i in 0..n {
                for j in 0..m {
                    let t = (-sqdist(&xr[i * 3..i * 3 + 3], &yr[j * 3..j * 3 + 3])).exp() * br[j];
                    want[i] += t;
                    scale[i] += t.abs();
                }
            }
            (want, scale)
        };
        let (want, scale) = reference(m);
        let (short, short_scale) = reference(m - 1);
        let task = red.gpu_task();
        let Some(run) = ran(
            "wrong",
            gpu_host::run_reduction_splits(&task, &[None, Some(1)]),
        ) else {
            return;
        };
        check_run("right", &run, &want, &scale);
        for out in &run.outs {
            assert!(
                check_close(&to_f64(out), &short, &short_scale, tol::<T>()).is_err(),
                "a reference without its last term passed in {}",
                T::NAME
            );
        }
        let mut dropped = task.clone();
        dropped.n_red -= 1;
        let run = ran(
            "dropped",
            gpu_host::run_reduction_splits(&dropped, &[None, Some(1)]),
        )
        .unwrap();
        for out in &run.outs {
            assert!(
                check_close(&to_f64(out), &want, &scale, tol::<T>()).is_err(),
                "a launch without the last term passed in {}",
                T::NAME
            );
        }
    }
    case::<f32>();
    case::<f64>();
}

/// A formula with more than 16 dimension classes whose run-time class comes after 16 others (16
/// nested concatenations, each a class, then `b_j`). Regression: `KeopsArgs::dims` once was
/// indexed by class, so the u16 arm read `dims[16]` past the array (the `tile` field) and overran
/// the shared-memory tile; it is now indexed by run-time slot.
#[test]
fn run_time_class_after_sixteen_classes() {
    let (n, m, db) = (5, 7, 5);
    let x: Vec<f64> = (0..n).map(|v| v as f64 * 0.1).collect();
    let b: Vec<f64> = (0..m * db).map(|v| v as f64 * 0.01).collect();
    let red = kernel!(x_i: 1 => sum_j(
        sum(concat(concat(concat(concat(concat(concat(concat(concat(concat(concat(concat(concat(
            concat(concat(concat(concat(x_i, x_i), x_i), x_i), x_i), x_i), x_i), x_i), x_i), x_i),
            x_i), x_i), x_i), x_i), x_i), x_i), x_i)) * sqnorm(b_j)
    ))
    .x_i(&x)
    .b_j(View::new(&b, db).unwrap())
    .bind()
    .unwrap();
    let sq: f64 = b.iter().map(|v| v * v).sum();
    let want: Vec<f64> = x.iter().map(|xi| 17.0 * xi * sq).collect();
    let scale: Vec<f64> = want.iter().map(|w| w.abs()).collect();
    let task = red.gpu_task();
    assert!(task.dims.len() > 16 && task.arm().as_deref() == Some("u16"));
    check_close(red.eval().as_slice(), &want, &scale, TOL_F64).expect("CPU engine");
    if let Some(run) = ran("17 classes", gpu_host::run_reduction(&task, None)) {
        check_run("17 classes", &run, &want, &scale);
    }
}
