//! Gradients, against central finite differences in f64: `grad(F, v, e)` inside formulas (every
//! operation's rule, and a second derivative), and the generated gradient `grad(R, v, e)` of every
//! reduction with respect to variables indexed by i, by j, and parameters (through the arg indices
//! for min, max and kmin). Each gradient also runs as host-emulated CUDA and in f32.
//!
//! Finite differences: for `L(z) = sum_o <e_o, R_o(z)>`, `dL/dz_k ~ (L(z + h u_k) - L(z - h u_k)) / 2h`
//! with h = 1e-6, every entry of z perturbed in turn.

mod common;

use common::gpu_host::{self, Outcome};
use common::{check_close, Rng};
use keops::prelude::*;
use keops_runtime::BoundReduction;

const H: f64 = 1e-6;
const N: usize = 37;
const M: usize = 29;

/// `dL/dz` by central differences, `fwd(z)` giving R's rows.
fn fd(z: &[f64], e: &[f64], fwd: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    (0..z.len())
        .map(|k| {
            let (mut zp, mut zm) = (z.to_vec(), z.to_vec());
            zp[k] += H;
            zm[k] -= H;
            let (rp, rm) = (fwd(&zp), fwd(&zm));
            assert_eq!(rp.len(), e.len(), "the cotangent has R's shape");
            rp.iter()
                .zip(&rm)
                .zip(e)
                .map(|((p, m), e)| e * (p - m))
                .sum::<f64>()
                / (2.0 * H)
        })
        .collect()
}

/// The gradient matches finite differences to 1e-5 relative to its own size: the differences'
/// own error is about `eps |L| / h` (measured up to 8e-7 where L sums all rows), a wrong rule
/// is off by O(1).
fn assert_grad(what: &str, got: &[f64], want: &[f64]) {
    let top = want.iter().fold(0f64, |m, w| m.max(w.abs()));
    assert!(
        top > 1e-3,
        "{what}: a vanishing reference gradient tests nothing"
    );
    let scale: Vec<f64> = want.iter().map(|w| w.abs() + 1e-2 * top).collect();
    if let Err(e) = check_close(got, want, &scale, 1e-5) {
        panic!("{what}: gradient vs finite differences: {e}");
    }
    let worst = (got.iter().zip(want).zip(&scale))
        .map(|((g, w), s)| (g - w).abs() / s)
        .fold(0f64, f64::max);
    println!(
        "{what}: worst |grad - fd| / scale = {worst:.1e} ({} entries)",
        got.len()
    );
}

/// The bound gradient's values on the CPU engine equal its CUDA kernel's under host emulation
/// (split and not); `total` sums the kernel's rows first (a parameter's gradient).
fn assert_host<T: Real, B: BoundReduction<T, Output = Rows<T>>>(
    what: &str,
    red: &keops::Reduction<T, B>,
    tol: f64,
) {
    let cpu: Vec<f64> = red.eval().as_slice().iter().map(|v| v.to_f64()).collect();
    let task = red.gpu_task();
    let run = match gpu_host::run_reduction_splits(&task, &[None, Some(3)]) {
        Ok(Outcome::Ran(run)) => run,
        Ok(Outcome::Skipped(why)) => {
            eprintln!("{what}: host emulation skipped: {why}");
            return;
        }
        Err(e) => panic!("{what}: {e}"),
    };
    let dim = red.dim();
    for out in &run.outs {
        // A parameter's gradient: the kernel's rows are summed.
        let mut got = vec![0f64; cpu.len()];
        for (k, v) in out.iter().enumerate() {
            got[if out.len() == cpu.len() { k } else { k % dim }] += v.to_f64();
        }
        let top = cpu.iter().fold(0f64, |m, w| m.max(w.abs()));
        let scale: Vec<f64> = cpu.iter().map(|w| w.abs() + 1e-3 * top).collect();
        if let Err(e) = check_close(&got, &cpu, &scale, tol) {
            panic!(
                "{what}: host-emulated {} vs the CPU engine: {e}",
                run.kernel
            );
        }
    }
}

struct Data {
    x: Vec<f64>,
    y: Vec<f64>,
    b: Vec<f64>,
    s: f64,
}

fn data(name: &str) -> Data {
    let mut r = Rng::named(name, 1);
    Data {
        x: r.vec(N * 3, 0.0, 1.0),
        y: r.vec(M * 3, 0.0, 1.0),
        b: r.vec(M * 2, 0.5, 1.5),
        s: 0.6,
    }
}

fn v3(z: &[f64]) -> View<'_, f64> {
    View::new(z, 3).unwrap()
}
fn v2(z: &[f64]) -> View<'_, f64> {
    View::new(z, 2).unwrap()
}

#[test]
fn sum_gaussian_with_vector_weights() {
    let d = data("sum");
    let mut r = Rng::named("sum-e", 2);
    let e = r.vec(N * 2, -1.0, 1.0);
    let (x, y, b, s) = (&d.x, &d.y, &d.b, d.s);
    let fwd = |x: &[f64], y: &[f64], b: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, b_j: 2 => sum_j(exp(-sqdist(x_i, y_j) / s) * b_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let gx =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), x_i, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .bind()
            .unwrap();
    assert_eq!((gx.rows(), gx.dim()), (N, 3));
    assert_grad("sum_j, x_i", &gx.eval(), &fd(x, &e, &|z| fwd(z, y, b, s)));
    assert_host("sum_j, x_i", &gx, 1e-12);
    let gy =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), y_j, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .bind()
            .unwrap();
    assert_eq!((gy.rows(), gy.dim()), (M, 3));
    assert_grad("sum_j, y_j", &gy.eval(), &fd(y, &e, &|z| fwd(x, z, b, s)));
    assert_host("sum_j, y_j", &gy, 1e-12);
    let gb =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), b_j, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .eval()
            .unwrap();
    assert_grad("sum_j, b_j", &gb, &fd(b, &e, &|z| fwd(x, y, z, s)));
    let gs =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), s, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .bind()
            .unwrap();
    assert_eq!(
        (gs.rows(), gs.dim()),
        (1, 1),
        "a parameter's gradient is one row"
    );
    assert_grad(
        "sum_j, s",
        &gs.eval(),
        &fd(&[s], &e, &|z| fwd(x, y, b, z[0])),
    );
    assert_host("sum_j, s", &gs, 1e-12);
}

#[test]
fn sum_over_i() {
    let d = data("sum_i");
    let mut r = Rng::named("sum_i-e", 2);
    let e = r.vec(M, -1.0, 1.0);
    let a = r.vec(N, -1.0, 1.0);
    let (x, y, s) = (&d.x, &d.y, d.s);
    let fwd = |x: &[f64], y: &[f64], a: &[f64], s: f64| {
        kernel!(a_i: 1, x_i: 3, y_j: 3 => sum_i(exp(-sqdist(x_i, y_j) / s) * a_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .a_i(a)
            .eval()
            .unwrap()
            .into_vec()
    };
    let g =
        kernel!(a_i: 1, x_i: 3, y_j: 3 => grad(sum_i(exp(-sqdist(x_i, y_j) / s) * a_i), x_i, e_j));
    let gx = g.x_i(v3(x)).y_j(v3(y)).a_i(&a).e_j(&e).eval().unwrap();
    assert_grad("sum_i, x_i", &gx, &fd(x, &e, &|z| fwd(z, y, &a, s)));
    let g =
        kernel!(a_i: 1, x_i: 3, y_j: 3 => grad(sum_i(exp(-sqdist(x_i, y_j) / s) * a_i), y_j, e_j));
    let gy = g.x_i(v3(x)).y_j(v3(y)).a_i(&a).e_j(&e).bind().unwrap();
    assert_grad("sum_i, y_j", &gy.eval(), &fd(y, &e, &|z| fwd(x, z, &a, s)));
    assert_host("sum_i, y_j", &gy, 1e-12);
    let g =
        kernel!(a_i: 1, x_i: 3, y_j: 3 => grad(sum_i(exp(-sqdist(x_i, y_j) / s) * a_i), s, e_j));
    let gs = g.x_i(v3(x)).y_j(v3(y)).a_i(&a).e_j(&e).eval().unwrap();
    assert_grad("sum_i, s", &gs, &fd(&[s], &e, &|z| fwd(x, y, &a, z[0])));
}

#[test]
fn min_max_through_arg_indices() {
    let d = data("min");
    let mut r = Rng::named("min-e", 2);
    let e = r.vec(N * 2, -1.0, 1.0);
    let (x, y, b, s) = (&d.x, &d.y, &d.b, d.s);
    // F is a vector (dimension 2): each entry has its own minimizing j.
    let fmin = |x: &[f64], y: &[f64], b: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, b_j: 2 => min_j(sqdist(x_i, y_j) * s + b_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let bind = |x, y, b, e| (v3(x), v3(y), v2(b), v2(e));
    let (xv, yv, bv, ev) = bind(x, y, b, &e);
    let gx = kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_j(sqdist(x_i, y_j) * s + b_j), x_i, e_i))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .b_j(bv.clone())
        .e_i(ev.clone())
        .bind()
        .unwrap();
    assert_grad("min_j, x_i", &gx.eval(), &fd(x, &e, &|z| fmin(z, y, b, s)));
    assert_host("min_j, x_i", &gx, 1e-12);
    let gy = kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_j(sqdist(x_i, y_j) * s + b_j), y_j, e_i))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .b_j(bv.clone())
        .e_i(ev.clone())
        .bind()
        .unwrap();
    assert_grad("min_j, y_j", &gy.eval(), &fd(y, &e, &|z| fmin(x, z, b, s)));
    assert_host("min_j, y_j", &gy, 1e-12);
    let gb =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_argmin_j(sqdist(x_i, y_j) * s + b_j), b_j, e_i))
            .x_i(xv.clone())
            .y_j(yv.clone())
            .b_j(bv.clone())
            .e_i(ev.clone())
            .eval()
            .unwrap();
    assert_grad("min_argmin_j, b_j", &gb, &fd(b, &e, &|z| fmin(x, y, z, s)));
    let gs = kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_j(sqdist(x_i, y_j) * s + b_j), s, e_i))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .b_j(bv.clone())
        .e_i(ev.clone())
        .eval()
        .unwrap();
    assert_grad("min_j, s", &gs, &fd(&[s], &e, &|z| fmin(x, y, b, z[0])));

    let fmax = |x: &[f64], y: &[f64]| {
        kernel!(x_i: 3, y_j: 3, b_j: 2 => max_j(-sqdist(x_i, y_j) * b_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let gy =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(max_argmax_j(-sqdist(x_i, y_j) * b_j), y_j, e_i))
            .x_i(xv.clone())
            .y_j(yv.clone())
            .b_j(bv.clone())
            .e_i(ev.clone())
            .bind()
            .unwrap();
    assert_grad("max_argmax_j, y_j", &gy.eval(), &fd(y, &e, &|z| fmax(x, z)));
    assert_host("max_argmax_j, y_j", &gy, 1e-12);
}

#[test]
fn kmin_through_arg_indices() {
    let d = data("kmin");
    let mut r = Rng::named("kmin-e", 2);
    let (x, y, b) = (&d.x, &d.y, &d.b);
    // Vector F (dimension 2), K = 3: the cotangent has K * 2 entries per row, rank-major.
    let e = r.vec(N * 6, -1.0, 1.0);
    let fk = |x: &[f64], y: &[f64], b: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => kmin_j(sqdist(x_i, y_j) * b_j, 3))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_j(sqdist(x_i, y_j) * b_j, 3), x_i, e_i));
    let gx = g
        .x_i(v3(x))
        .y_j(v3(y))
        .b_j(v2(b))
        .e_i(View::new(&e, 6).unwrap());
    let gx = gx.bind().unwrap();
    assert_grad("kmin_j, x_i", &gx.eval(), &fd(x, &e, &|z| fk(z, y, b)));
    assert_host("kmin_j, x_i", &gx, 1e-12);
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_argkmin_j(sqdist(x_i, y_j) * b_j, 3), y_j, e_i));
    let gy = g
        .x_i(v3(x))
        .y_j(v3(y))
        .b_j(v2(b))
        .e_i(View::new(&e, 6).unwrap());
    let gy = gy.bind().unwrap();
    assert_grad(
        "kmin_argkmin_j, y_j",
        &gy.eval(),
        &fd(y, &e, &|z| fk(x, z, b)),
    );
    assert_host("kmin_argkmin_j, y_j", &gy, 1e-12);
    // A cotangent without K times F's dimension is a typed error, not an out-of-bounds read.
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_j(sqdist(x_i, y_j) * b_j, 3), x_i, e_i));
    let bad = g
        .x_i(v3(x))
        .y_j(v3(y))
        .b_j(v2(b))
        .e_i(View::new(&e[..N * 4], 4).unwrap())
        .eval();
    assert!(
        matches!(bad, Err(KeopsError::DimensionMismatch { .. })),
        "{bad:?}"
    );
    // Scalar F, K = 4.
    let e4 = r.vec(M * 4, -1.0, 1.0);
    let fk = |x: &[f64], y: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => kmin_i(sqdist(x_i, y_j), 4))
            .x_i(v3(x))
            .y_j(v3(y))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_i(sqdist(x_i, y_j), 4), x_i, e_j));
    let gx = g.x_i(v3(x)).y_j(v3(y)).e_j(View::new(&e4, 4).unwrap());
    assert_grad(
        "kmin_i, x_i",
        &gx.eval().unwrap(),
        &fd(x, &e4, &|z| fk(z, y)),
    );
}

#[test]
fn logsumexp_and_softmax() {
    let d = data("lse");
    let mut r = Rng::named("lse-e", 2);
    let (x, y, b, s) = (&d.x, &d.y, &d.b, d.s);
    let e1 = r.vec(N, -1.0, 1.0);
    let e2 = r.vec(N * 2, -1.0, 1.0);
    let lse = |x: &[f64], y: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3 => logsumexp_j(-sqdist(x_i, y_j) / s))
            .x_i(v3(x))
            .y_j(v3(y))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), x_i, e_i));
    let gx = g.x_i(v3(x)).y_j(v3(y)).e_i(&e1).bind().unwrap();
    assert_grad(
        "logsumexp_j, x_i",
        &gx.eval(),
        &fd(x, &e1, &|z| lse(z, y, s)),
    );
    assert_host("logsumexp_j, x_i", &gx, 1e-12);
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), y_j, e_i));
    let gy = g.x_i(v3(x)).y_j(v3(y)).e_i(&e1).eval().unwrap();
    assert_grad("logsumexp_j, y_j", &gy, &fd(y, &e1, &|z| lse(x, z, s)));
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), s, e_i));
    let gs = g.x_i(v3(x)).y_j(v3(y)).e_i(&e1).eval().unwrap();
    assert_grad("logsumexp_j, s", &gs, &fd(&[s], &e1, &|z| lse(x, y, z[0])));

    // With a vector weight: log sum_j exp(F) w_j, entry by entry.
    let lsew = |x: &[f64], y: &[f64], w: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, w_j: 2 => logsumexp_j(-sqdist(x_i, y_j) / s, w_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .w_j(v2(w))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g =
        kernel!(x_i: 3, y_j: 3, w_j: 2 => grad(logsumexp_j(-sqdist(x_i, y_j) / s, w_j), y_j, e_i));
    let gy = g
        .x_i(v3(x))
        .y_j(v3(y))
        .w_j(v2(b))
        .e_i(v2(&e2))
        .bind()
        .unwrap();
    assert_grad(
        "logsumexp_j(F, w), y_j",
        &gy.eval(),
        &fd(y, &e2, &|z| lsew(x, z, b, s)),
    );
    assert_host("logsumexp_j(F, w), y_j", &gy, 1e-12);
    let g =
        kernel!(x_i: 3, y_j: 3, w_j: 2 => grad(logsumexp_j(-sqdist(x_i, y_j) / s, w_j), w_j, e_i));
    let gw = g
        .x_i(v3(x))
        .y_j(v3(y))
        .w_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "logsumexp_j(F, w), w_j",
        &gw,
        &fd(b, &e2, &|z| lsew(x, y, z, s)),
    );
    let g =
        kernel!(x_i: 3, y_j: 3, w_j: 2 => grad(logsumexp_j(-sqdist(x_i, y_j) / s, w_j), x_i, e_i));
    let gx = g
        .x_i(v3(x))
        .y_j(v3(y))
        .w_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "logsumexp_j(F, w), x_i",
        &gx,
        &fd(x, &e2, &|z| lsew(z, y, b, s)),
    );

    let ssw = |x: &[f64], y: &[f64], v: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, v_j: 2 => sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .v_j(v2(v))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(
        sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j),
        x_i,
        e_i
    ));
    let gx = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .bind()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, x_i",
        &gx.eval(),
        &fd(x, &e2, &|z| ssw(z, y, b, s)),
    );
    assert_host("sumsoftmaxweight_j, x_i", &gx, 1e-12);
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(
        sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j),
        y_j,
        e_i
    ));
    let gy = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, y_j",
        &gy,
        &fd(y, &e2, &|z| ssw(x, z, b, s)),
    );
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(
        sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j),
        v_j,
        e_i
    ));
    let gv = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, v_j",
        &gv,
        &fd(b, &e2, &|z| ssw(x, y, z, s)),
    );
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j), s, e_i));
    let gs = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, s",
        &gs,
        &fd(&[s], &e2, &|z| ssw(x, y, b, z[0])),
    );
}

/// `grad(F, x_i, e_i)` inside `sum_j` for formulas that use every differentiable operation; the
/// reference differentiates `sum_j(F)`.
#[test]
fn every_operation_rule() {
    let mut r = Rng::named("ops", 3);
    let x = r.vec(N * 3, 0.2, 0.9);
    let y = r.vec(M * 3, 0.2, 0.9);
    let e = r.vec(N, -1.0, 1.0);
    let fa = |x: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            log(1 + square(sum(x_i * y_j)))
                + sqrt(sqnorm(x_i) + 1) * rsqrt(sqnorm(y_j) + 1)
                + inv(1 + abs(elem(x_i, 0) - elem(y_j, 1)))
                + sin(elem(x_i, 1)) * cos(elem(y_j, 0))
                + pow(elem(x_i, 2) - elem(y_j, 2), 3)
                + powf(elem(x_i, 0) + 1, elem(y_j, 1) + elem(x_i, 1))
                + atan(dot(x_i, y_j))
                + atan2(elem(x_i, 1), elem(y_j, 2) - elem(x_i, 0))
                + xlogx(norm(x_i))
                + sinxdivx(elem(x_i, 2) + 0.3)
                + exp(-sqdist(x_i, y_j)) / (1 + elem(x_i, 0))
        ))
        .x_i(v3(x))
        .y_j(v3(&y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let g = kernel!(e_i: 1, x_i: 3, y_j: 3 => sum_j(grad(
        log(1 + square(sum(x_i * y_j))) + sqrt(sqnorm(x_i) + 1) * rsqrt(sqnorm(y_j) + 1)
            + inv(1 + abs(elem(x_i, 0) - elem(y_j, 1)))
            + sin(elem(x_i, 1)) * cos(elem(y_j, 0))
            + pow(elem(x_i, 2) - elem(y_j, 2), 3)
            + powf(elem(x_i, 0) + 1, elem(y_j, 1) + elem(x_i, 1))
            + atan(dot(x_i, y_j))
            + atan2(elem(x_i, 1), elem(y_j, 2) - elem(x_i, 0))
            + xlogx(norm(x_i))
            + sinxdivx(elem(x_i, 2) + 0.3)
            + exp(-sqdist(x_i, y_j)) / (1 + elem(x_i, 0)),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).bind().unwrap();
    assert_grad("elementary functions", &got.eval(), &fd(&x, &e, &fa));
    assert_host("elementary functions", &got, 1e-11);

    let fb = |x: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            sum(normalize(x_i - y_j) * y_j)
                + min(elem(x_i, 0), elem(y_j, 0))
                + max(elem(x_i, 1) * 2, elem(y_j, 2))
                + clamp(elem(x_i, 2) - elem(y_j, 0), -0.2, 0.2)
                + clampint(elem(x_i, 2) * 3 - 1, 0, 1)
                + ifelse(elem(x_i, 0) - elem(y_j, 1), square(elem(x_i, 1)), exp(elem(x_i, 2)))
                + relu(elem(x_i, 1) - elem(y_j, 1))
                + asin(elem(x_i, 0) / 3)
                + acos(elem(x_i, 1) / 3)
                + dot(concat(x_i, elem(y_j, 0)), concat(y_j, elem(x_i, 2)))
        ))
        .x_i(v3(x))
        .y_j(v3(&y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3, e_i: 1 => sum_j(grad(
        sum(normalize(x_i - y_j) * y_j)
            + min(elem(x_i, 0), elem(y_j, 0))
            + max(elem(x_i, 1) * 2, elem(y_j, 2))
            + clamp(elem(x_i, 2) - elem(y_j, 0), -0.2, 0.2)
            + clampint(elem(x_i, 2) * 3 - 1, 0, 1)
            + ifelse(elem(x_i, 0) - elem(y_j, 1), square(elem(x_i, 1)), exp(elem(x_i, 2)))
            + relu(elem(x_i, 1) - elem(y_j, 1))
            + asin(elem(x_i, 0) / 3)
            + acos(elem(x_i, 1) / 3)
            + dot(concat(x_i, elem(y_j, 0)), concat(y_j, elem(x_i, 2))),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).bind().unwrap();
    assert_grad(
        "piecewise and vector operations",
        &got.eval(),
        &fd(&x, &e, &fb),
    );
    assert_host("piecewise and vector operations", &got, 1e-11);
}

/// Operations with jumps (finite differences across a jump are meaningless): `modulo` has slope
/// 1 in its argument, `sign`, `step`, `floor`, `round` and the comparisons slope 0; checked
/// against the closed form `3 * M * e_i` for the first entry of `x_i`, 0 for the others.
#[test]
fn piecewise_constant_rules() {
    let mut r = Rng::named("jumps", 6);
    let x = r.vec(N * 3, 0.0, 1.0);
    let y = r.vec(M * 3, 0.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let g = kernel!(x_i: 3, e_i: 1, y_j: 3 => sum_j(grad(
        modulo(elem(x_i, 0) * 3 + elem(y_j, 2), 0.7)
            + sign(elem(x_i, 1) - 0.5) * step(elem(y_j, 1) - 0.5) * floor(elem(x_i, 2) * 4)
            + round(elem(x_i, 1), 1) + (elem(x_i, 2) < elem(y_j, 0)),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    let want: Vec<f64> = (0..N * 3)
        .map(|k| {
            if k % 3 == 0 {
                3.0 * M as f64 * e[k / 3]
            } else {
                0.0
            }
        })
        .collect();
    let scale = vec![3.0 * M as f64; N * 3];
    check_close(&got, &want, &scale, 1e-12).unwrap();
}

/// A gradient is a formula, so it differentiates again: the gradient of the sum of the entries
/// of a gradient (a Laplacian-like second derivative).
#[test]
fn second_derivative() {
    let mut r = Rng::named("second", 4);
    let x = r.vec(N * 3, 0.0, 1.0);
    let y = r.vec(M * 3, 0.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let first = |x: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(sum(grad(
            exp(-sqdist(x_i, y_j)) * sin(elem(x_i, 0)),
            x_i,
            1
        ))))
        .x_i(v3(x))
        .y_j(v3(&y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let g = kernel!(e_i: 1, x_i: 3, y_j: 3 => sum_j(grad(
        sum(grad(exp(-sqdist(x_i, y_j)) * sin(elem(x_i, 0)), x_i, 1)),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    assert_grad("second derivative", &got, &fd(&x, &e, &first));
}

/// f32 gradients agree with f64 ones at sizes that are not multiples of the tiles.
#[test]
fn f32_matches_f64() {
    let mut r = Rng::named("f32", 5);
    let (n, m) = (300, 1037);
    let x = r.vec(n * 3, 0.0, 1.0);
    let y = r.vec(m * 3, 0.0, 1.0);
    let e = r.vec(n, -1.0, 1.0);
    let s = 0.5;
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let (x32, y32, e32) = (f32s(&x), f32s(&y), f32s(&e));
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), y_j, e_i));
    let want = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    let got = g
        .x_i(View::new(&x32, 3).unwrap())
        .y_j(View::new(&y32, 3).unwrap())
        .e_i(&e32)
        .bind()
        .unwrap();
    let got64: Vec<f64> = got.eval().iter().map(|&v| f64::from(v)).collect();
    let top = want.iter().fold(0f64, |a, w| a.max(w.abs()));
    let scale: Vec<f64> = want.iter().map(|w| w.abs() + 1e-2 * top).collect();
    check_close(&got64, &want, &scale, 1e-4).unwrap();
    assert_host("logsumexp_j, y_j, f32", &got, 1e-4);

    let g = kernel!(x_i: 3, y_j: 3 => grad(min_j(sqdist(x_i, y_j)), x_i, e_i));
    let want = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    let got = g
        .x_i(View::new(&x32, 3).unwrap())
        .y_j(View::new(&y32, 3).unwrap())
        .e_i(&e32)
        .eval()
        .unwrap();
    let got64: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
    let top = want.iter().fold(0f64, |a, w| a.max(w.abs()));
    let scale: Vec<f64> = want.iter().map(|w| w.abs() + 1e-2 * top).collect();
    check_close(&got64, &want, &scale, 1e-4).unwrap();
}

/// The tensor operations and weighted norms: their gradients are contractions too.
#[test]
fn tensor_operation_rules() {
    let mut r = Rng::named("tensor", 7);
    let x = r.vec(N * 3, -1.0, 1.0);
    let y = r.vec(M * 3, -1.0, 1.0);
    let a = r.vec(M * 6, -1.0, 1.0);
    let b = r.vec(M * 6, -1.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let w: [f64; 9] = [2.0, 0.3, 0.1, 0.3, 1.5, -0.2, 0.1, -0.2, 1.0];
    let d: [f64; 3] = [0.5, 1.0, 2.0];
    let s = 0.7;
    let fwd = |x: &[f64], a: &[f64]| {
        kernel!(x_i: 3, y_j: 3, a_j: 6, b_j: 6, w: 9, d: 3 => sum_j(
            dot(matvec(a_j, x_i), vecmat(x_i, b_j))
                + sum(square(tensorprod(x_i, y_j))) * 0.1
                + weightedsqnorm(w, x_i - y_j)
                + weightedsqdist(s, x_i, y_j)
                + weightedsqdist(d, x_i, y_j)
                + sum(kron(x_i, y_j, [3], [3]) * tensorprod(y_j, x_i))
                + sum(tensordot(tensorprod(x_i, y_j), a_j, [3, 3], [2, 3], [1], [1]))
        ))
        .x_i(v3(x))
        .y_j(v3(&y))
        .a_j(View::new(a, 6).unwrap())
        .b_j(View::new(&b, 6).unwrap())
        .eval()
        .unwrap()
        .into_vec()
    };
    let gx = kernel!(x_i: 3, y_j: 3, a_j: 6, b_j: 6, w: 9, d: 3 => grad(sum_j(
        dot(matvec(a_j, x_i), vecmat(x_i, b_j))
            + sum(square(tensorprod(x_i, y_j))) * 0.1
            + weightedsqnorm(w, x_i - y_j)
            + weightedsqdist(s, x_i, y_j)
            + weightedsqdist(d, x_i, y_j)
            + sum(kron(x_i, y_j, [3], [3]) * tensorprod(y_j, x_i))
            + sum(tensordot(tensorprod(x_i, y_j), a_j, [3, 3], [2, 3], [1], [1]))
    ), x_i, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .a_j(View::new(&a, 6).unwrap())
    .b_j(View::new(&b, 6).unwrap())
    .e_i(&e)
    .bind()
    .unwrap();
    assert_grad(
        "tensor operations, x_i",
        &gx.eval(),
        &fd(&x, &e, &|z| fwd(z, &a)),
    );
    assert_host("tensor operations, x_i", &gx, 1e-11);
    let ga = kernel!(x_i: 3, y_j: 3, a_j: 6, b_j: 6, w: 9, d: 3 => grad(sum_j(
        dot(matvec(a_j, x_i), vecmat(x_i, b_j))
            + sum(square(tensorprod(x_i, y_j))) * 0.1
            + weightedsqnorm(w, x_i - y_j)
            + weightedsqdist(s, x_i, y_j)
            + weightedsqdist(d, x_i, y_j)
            + sum(kron(x_i, y_j, [3], [3]) * tensorprod(y_j, x_i))
            + sum(tensordot(tensorprod(x_i, y_j), a_j, [3, 3], [2, 3], [1], [1]))
    ), a_j, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .a_j(View::new(&a, 6).unwrap())
    .b_j(View::new(&b, 6).unwrap())
    .e_i(&e)
    .eval()
    .unwrap();
    assert_grad("tensor operations, a_j", &ga, &fd(&a, &e, &|z| fwd(&x, z)));
}

/// The operations over a vector's entries: `min(f)`/`max(f)` send the adjoint to the chosen entry
/// (a one-hot of its arg), `extract`/`extract_t`/`elem_t` to the entries they move, `onehot`,
/// `argmin` and `zero` nowhere.
#[test]
fn vector_operation_rules() {
    let mut r = Rng::named("vector", 8);
    let x = r.vec(N * 3, -1.0, 1.0);
    let y = r.vec(M * 3, -1.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let fwd = |x: &[f64], y: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            min(x_i * y_j) + max(x_i - y_j) * 2
                + sum(extract(concat(x_i, y_j), 2, 3) * y_j)
                + dot(extract_t(x_i, 1, 5), extract_t(y_j * y_j, 0, 5))
                + sum(elem_t(elem(x_i, 0), 4, 2) * extract(concat(x_i, y_j), 1, 4))
                + sum(zero(3) + x_i * elem(y_j, 1))
                + sum(onehot(elem(y_j, 0) * 2 + 1, 3) * x_i)
                + argmin(x_i + y_j) * elem(x_i, 2)
        ))
        .x_i(v3(x))
        .y_j(v3(y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let gx = kernel!(x_i: 3, y_j: 3 => grad(sum_j(
        min(x_i * y_j) + max(x_i - y_j) * 2
            + sum(extract(concat(x_i, y_j), 2, 3) * y_j)
            + dot(extract_t(x_i, 1, 5), extract_t(y_j * y_j, 0, 5))
            + sum(elem_t(elem(x_i, 0), 4, 2) * extract(concat(x_i, y_j), 1, 4))
            + sum(zero(3) + x_i * elem(y_j, 1))
            + sum(onehot(elem(y_j, 0) * 2 + 1, 3) * x_i)
            + argmin(x_i + y_j) * elem(x_i, 2)
    ), x_i, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .e_i(&e)
    .bind()
    .unwrap();
    assert_grad(
        "vector operations, x_i",
        &gx.eval(),
        &fd(&x, &e, &|z| fwd(z, &y)),
    );
    assert_host("vector operations, x_i", &gx, 1e-11);
    let gy = kernel!(x_i: 3, y_j: 3 => grad(sum_j(
        min(x_i * y_j) + max(x_i - y_j) * 2
            + sum(extract(concat(x_i, y_j), 2, 3) * y_j)
            + dot(extract_t(x_i, 1, 5), extract_t(y_j * y_j, 0, 5))
            + sum(elem_t(elem(x_i, 0), 4, 2) * extract(concat(x_i, y_j), 1, 4))
            + sum(zero(3) + x_i * elem(y_j, 1))
            + sum(onehot(elem(y_j, 0) * 2 + 1, 3) * x_i)
            + argmin(x_i + y_j) * elem(x_i, 2)
    ), y_j, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .e_i(&e)
    .bind()
    .unwrap();
    assert_grad(
        "vector operations, y_j",
        &gy.eval(),
        &fd(&y, &e, &|z| fwd(&x, z)),
    );
    assert_host("vector operations, y_j", &gy, 1e-11);
}

/// Concatenations of run-time dimensions send each part its slice of the adjoint (the second
/// part's from the end: `Tail`).
#[test]
fn concat_of_runtime_dimensions() {
    let mut r = Rng::named("concat", 9);
    let x = r.vec(N * 3, -1.0, 1.0);
    let b = r.vec(M * 2, -1.0, 1.0);
    let c = r.vec(M * 5, -1.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let fwd = |x: &[f64]| {
        kernel!(sum_j(exp(-sqnorm(concat(x_i, b_j) - c_j))))
            .x_i(v3(x))
            .b_j(v2(&b))
            .c_j(View::new(&c, 5).unwrap())
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(grad(sum_j(exp(-sqnorm(concat(x_i, b_j) - c_j))), x_i, e_i))
        .x_i(v3(&x))
        .b_j(v2(&b))
        .c_j(View::new(&c, 5).unwrap())
        .e_i(&e)
        .bind()
        .unwrap();
    assert_grad("concat, x_i", &g.eval(), &fd(&x, &e, &fwd));
    assert_host("concat, x_i", &g, 1e-12);
}

/// KeOps' Divergence and Laplacian written with `grad`, `onehot` and `elem` (see
/// docs/keops-parity.md): the Laplacian of a Gaussian in 3D, `(4 r^2 - 6) exp(-r^2)`.
#[test]
fn laplacian_from_grad_and_onehot() {
    let mut r = Rng::named("laplacian", 10);
    let x = r.vec(N * 3, 0.0, 1.0);
    let y = r.vec(M * 3, 0.0, 1.0);
    let lap = kernel!(x_i: 3, y_j: 3 =>
        let g = grad(exp(-sqdist(x_i, y_j)), x_i, 1);
        sum_j(
            elem(grad(g, x_i, onehot(0, 3)), 0)
                + elem(grad(g, x_i, onehot(1, 3)), 1)
                + elem(grad(g, x_i, onehot(2, 3)), 2)
        )
    );
    let got = lap.x_i(v3(&x)).y_j(v3(&y)).eval().unwrap();
    let (mut want, mut scale) = (vec![0.0; N], vec![0.0; N]);
    for i in 0..N {
        for j in 0..M {
            let r2: f64 = (0..3).map(|k| (x[i * 3 + k] - y[j * 3 + k]).powi(2)).sum();
            let t = (4.0 * r2 - 6.0) * (-r2).exp();
            want[i] += t;
            scale[i] += t.abs();
        }
    }
    check_close(&got, &want, &scale, 1e-13).unwrap();
}
