//! Entropic optimal transport between two point clouds by Sinkhorn iterations in the log domain,
//! KeOps' classic use of `logsumexp`: with uniform weights `a_i = 1/N`, `b_j = 1/M`, the cost
//! `C_ij = |x_i - y_j|^2 / 2` and a blur `eps`, the dual potentials are updated as
//!
//! ```text
//! f_i = -eps log sum_j b_j exp((g_j - C_ij) / eps)     = -eps logsumexp_j(log b_j + (g_j - C_ij) / eps)
//! g_j = -eps log sum_i a_i exp((f_i - C_ij) / eps)     = -eps logsumexp_i(log a_i + (f_i - C_ij) / eps)
//! ```
//!
//! With a small `eps` the arguments reach -100 and below, where `exp` underflows in f32 (and any
//! naive `log(sum(exp))` gives -inf): `logsumexp` shifts by the running maximum and stays exact.
//! The example first checks a few iterations against a dense f64 implementation with plain loops
//! at N = M = 300, then runs N = M = 5000 in f32 and prints the time per iteration, the dual cost
//! and how far the row marginals are from `a`.
//!
//! ```text
//! cargo run --release --example sinkhorn [-- --n 5000 --iters 30 --eps 0.01]
//! cargo run --release --features cuda --example sinkhorn   # also on GPU 0, when there is one
//! ```

mod common;

use common::{best_of, Rng};
use keops::prelude::*;

/// Runs `iters` Sinkhorn iterations with keops from zero potentials: (f, g).
fn sinkhorn<T: Real>(
    x: &[[T; 3]],
    y: &[[T; 3]],
    eps: f64,
    iters: usize,
) -> Result<(Vec<T>, Vec<T>), KeopsError> {
    let (n, m) = (x.len(), y.len());
    let la = vec![T::from_f64(-(n as f64).ln()); n];
    let lb = vec![T::from_f64(-(m as f64).ln()); m];
    let (mut f, mut g) = (vec![T::ZERO; n], vec![T::ZERO; m]);
    let inv_eps = 1.0 / eps;
    let f_update =
        kernel!(lb_j: 1, g_j: 1 => logsumexp_j(lb_j + (g_j - sqdist(x_i, y_j) / 2) * inv_eps));
    let g_update =
        kernel!(la_i: 1, f_i: 1 => logsumexp_i(la_i + (f_i - sqdist(x_i, y_j) / 2) * inv_eps));
    let neg_eps = T::from_f64(-eps);
    for _ in 0..iters {
        let l = f_update.x_i(x).y_j(y).lb_j(&lb).g_j(&g).eval()?;
        f = l.iter().map(|&v| neg_eps * v).collect();
        let l = g_update.x_i(x).y_j(y).la_i(&la).f_i(&f).eval()?;
        g = l.iter().map(|&v| neg_eps * v).collect();
    }
    Ok((f, g))
}

/// The same iterations, dense, in f64 with plain loops.
#[allow(clippy::needless_range_loop)] // a plain index loop, on purpose
fn sinkhorn_dense(x: &[[f64; 3]], y: &[[f64; 3]], eps: f64, iters: usize) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (x.len(), y.len());
    let c = |i: usize, j: usize| (0..3).map(|k| (x[i][k] - y[j][k]).powi(2)).sum::<f64>() / 2.0;
    let lse = |v: &[f64]| {
        let mx = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        mx + v.iter().map(|a| (a - mx).exp()).sum::<f64>().ln()
    };
    let (mut f, mut g) = (vec![0.0; n], vec![0.0; m]);
    for _ in 0..iters {
        for i in 0..n {
            let args: Vec<f64> = (0..m)
                .map(|j| -(m as f64).ln() + (g[j] - c(i, j)) / eps)
                .collect();
            f[i] = -eps * lse(&args);
        }
        for j in 0..m {
            let args: Vec<f64> = (0..n)
                .map(|i| -(n as f64).ln() + (f[i] - c(i, j)) / eps)
                .collect();
            g[j] = -eps * lse(&args);
        }
    }
    (f, g)
}

fn cloud(rng: &mut Rng, n: usize, shift: f64) -> Vec<[f64; 3]> {
    (0..n)
        .map(|_| [rng.uniform() + shift, rng.uniform(), 0.5 * rng.uniform()])
        .collect()
}

fn to_t<T: Real>(p: &[[f64; 3]]) -> Vec<[T; 3]> {
    p.iter().map(|q| q.map(T::from_f64)).collect()
}

fn max_diff<T: Real>(a: &[T], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a.to_f64() - b).abs())
        .fold(0.0, f64::max)
}

fn main() -> Result<(), KeopsError> {
    let (mut n, mut iters, mut eps) = (5000usize, 30usize, 0.01f64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v) {
            ("--n", Some(v)) => n = v.replace('_', "").parse().expect("--n N"),
            ("--iters", Some(v)) => iters = v.parse().expect("--iters K"),
            ("--eps", Some(v)) => eps = v.parse().expect("--eps E"),
            _ => {
                eprintln!("usage: sinkhorn [--n N] [--iters K] [--eps EPS]");
                std::process::exit(2);
            }
        }
    }
    let mut rng = Rng(0x51_4b40);

    // 1. Against the dense f64 iterations at a small size (points exactly representable in f32,
    //    so both precisions start from the same data).
    let xs: Vec<[f64; 3]> = to_t::<f32>(&cloud(&mut rng, 300, 0.0))
        .iter()
        .map(|p| p.map(f64::from))
        .collect();
    let ys: Vec<[f64; 3]> = to_t::<f32>(&cloud(&mut rng, 300, 0.3))
        .iter()
        .map(|p| p.map(f64::from))
        .collect();
    let check_eps = 0.05;
    let (fr, gr) = sinkhorn_dense(&xs, &ys, check_eps, 10);
    let (f64f, f64g) = sinkhorn(&xs, &ys, check_eps, 10)?;
    let (f32f, f32g) = sinkhorn(&to_t::<f32>(&xs), &to_t::<f32>(&ys), check_eps, 10)?;
    let e64 = max_diff(&f64f, &fr).max(max_diff(&f64g, &gr));
    let e32 = max_diff(&f32f, &fr).max(max_diff(&f32g, &gr));
    println!(
        "check, N = M = 300, eps = {check_eps}, 10 iterations, max |potential - dense f64|: f64 {e64:.2e}, f32 {e32:.2e}"
    );
    if !(e64 < 1e-10 && e32 < 1e-4) {
        eprintln!("the potentials differ from the dense f64 iterations");
        std::process::exit(1);
    }

    // 2. A larger problem in f32.
    let x = to_t::<f32>(&cloud(&mut rng, n, 0.0));
    let y = to_t::<f32>(&cloud(&mut rng, n, 0.3));
    let mut fg = (Vec::new(), Vec::new());
    let mut r = Ok(());
    let secs = best_of(1, || match sinkhorn(&x, &y, eps, iters) {
        Ok(v) => fg = v,
        Err(e) => r = Err(e),
    });
    r?;
    let (f, g) = fg;
    // The dual cost <a, f> + <b, g>, and the row marginals of the plan after the last g update:
    // sum_j P_ij / a_i = exp((f_i - f_new_i) / eps) with f_new the next f update.
    let cost = f.iter().map(|&v| v as f64).sum::<f64>() / n as f64
        + g.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let (f_next, _) = {
        let inv_eps = 1.0 / eps;
        let lb = vec![-(n as f32).ln(); n];
        let l =
            kernel!(lb_j: 1, g_j: 1 => logsumexp_j(lb_j + (g_j - sqdist(x_i, y_j) / 2) * inv_eps))
                .x_i(&x)
                .y_j(&y)
                .lb_j(&lb)
                .g_j(&g)
                .eval()?;
        (l.iter().map(|&v| -eps * v as f64).collect::<Vec<f64>>(), ())
    };
    let marginal = f
        .iter()
        .zip(&f_next)
        .map(|(&a, &b)| ((a as f64 - b) / eps).exp() - 1.0)
        .fold(0.0f64, |m, e| m.max(e.abs()));
    // What a naive log(sum(exp)) in f32 would meet: the arguments of the first f update in row 0.
    let min_arg = y
        .iter()
        .map(|q| {
            -(n as f64).ln()
                - (0..3).map(|k| (x[0][k] - q[k]).powi(2) as f64).sum::<f64>() / 2.0 / eps
        })
        .fold(f64::INFINITY, f64::min);
    println!(
        "N = M = {n}, f32, eps = {eps}, {iters} iterations in {secs:.2} s ({:.3} s per iteration, {} threads)",
        secs / iters as f64,
        rayon::current_num_threads()
    );
    println!(
        "dual cost {cost:.6}, max relative error of the row marginals {marginal:.2e} (in row 0 the first update's arguments of exp reach {min_arg:.0}; exp underflows f32 below -104)"
    );

    #[cfg(feature = "cuda")]
    match keops::Gpu::new(0) {
        Ok(gpu) => {
            // The same iterations, each reduction on the GPU.
            let inv_eps = 1.0 / eps;
            let (la, lb) = (vec![-(n as f32).ln(); n], vec![-(n as f32).ln(); n]);
            let f_update = kernel!(lb_j: 1, g_j: 1 => logsumexp_j(lb_j + (g_j - sqdist(x_i, y_j) / 2) * inv_eps));
            let g_update = kernel!(la_i: 1, f_i: 1 => logsumexp_i(la_i + (f_i - sqdist(x_i, y_j) / 2) * inv_eps));
            let t0 = std::time::Instant::now();
            let (mut gf, mut gg) = (vec![0f32; n], vec![0f32; n]);
            for _ in 0..iters {
                let l = f_update
                    .x_i(&x)
                    .y_j(&y)
                    .lb_j(&lb)
                    .g_j(&gg)
                    .bind()?
                    .eval_on(keops::Backend::Cuda(0))?;
                gf = l.iter().map(|&v| -(eps as f32) * v).collect();
                let l = g_update
                    .x_i(&x)
                    .y_j(&y)
                    .la_i(&la)
                    .f_i(&gf)
                    .bind()?
                    .eval_on(keops::Backend::Cuda(0))?;
                gg = l.iter().map(|&v| -(eps as f32) * v).collect();
            }
            let gsecs = t0.elapsed().as_secs_f64();
            let diff = gf
                .iter()
                .zip(&f)
                .chain(gg.iter().zip(&g))
                .map(|(a, b)| (a - b).abs() as f64)
                .fold(0.0, f64::max);
            println!(
                "GPU {}: {iters} iterations in {gsecs:.2} s (uploads included), max |potential GPU - CPU| {diff:.2e}",
                gpu.name()
            );
        }
        Err(e) => println!("no GPU: {e}"),
    }
    Ok(())
}
