//! Gradients, against central finite differences in f64: `grad(F, v, e)` inside formulas (every
//! operation's rule, and a second derivative), and the generated gradient `grad(R, v, e)` of every
//! reduction with respect to variables indexed by i, by j, and parameters (through the arg indices
//! for min, max and kmin). Each gradient also runs as host-emulated CUDA and in f32.
//!
//! Finite differences: for `L(z) = sum_o <e_o, R_o(z)>`, `dL/dz_k ~ (L(z + h u_k) - L(z - h u_k)) / 2h`
//! with h = 1e-6, every entry of z perturbed in turn.

#[path = "../common/mod.rs"]
mod common;

use common::gpu_host::{self, Outcome};
use common::{check_close, Rng};
use keops::prelude::*;
use keops_runtime::BoundReduction;

mod operations;
mod reductions;
mod vectors;

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
