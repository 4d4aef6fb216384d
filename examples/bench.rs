//! Throughput of the tutorial's kernels as kernel evaluations per second, next to a baseline measured
//! in the same run: a plain single-threaded Rust double loop doing the same arithmetic.
//!
//! ```text
//! cargo run --release --example bench [-- --n 10000 --reps 5]
//! ```

mod common;

use std::hint::black_box;

use common::{best_of, Rng};

use keops::prelude::*;

/// The baseline: `out_i = sum_j exp(-(x_i - y_j)^2 / (2 s^2)) v_j`, one thread, in f32 like the data.
fn naive_gaussian_1d(x: &[f32], y: &[f32], v: &[f32], s: f32, out: &mut [f32]) {
    let c = 1.0 / (2.0 * s * s);
    for (o, xi) in out.iter_mut().zip(x) {
        let mut acc = 0.0f32;
        for (yj, vj) in y.iter().zip(v) {
            let d = xi - yj;
            acc += (-d * d * c).exp() * vj;
        }
        *o = acc;
    }
}

fn main() -> Result<(), KeopsError> {
    let mut n = 10_000usize;
    let mut reps = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.replace('_', "").parse().ok());
        match (a.as_str(), v) {
            ("--n", Some(v)) => n = v,
            ("--reps", Some(v)) => reps = v,
            _ => {
                eprintln!("usage: bench [--n N] [--reps R]");
                std::process::exit(2);
            }
        }
    }
    let mut rng = Rng(42);
    let x: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
    let v: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 - 0.5).collect();
    let x2: Vec<[f32; 2]> = (0..n)
        .map(|_| [rng.uniform() as f32, rng.uniform() as f32])
        .collect();
    let evals = (n * n) as f64;
    let s = 0.1f32;

    let mut base_out = vec![0f32; n];
    let base = best_of(reps.min(3), || {
        naive_gaussian_1d(black_box(&x), &x, &v, s, &mut base_out)
    });
    println!(
        "machine: {} threads available",
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    println!("N = M = {n}, f32, best of {reps}");
    println!(
        "{:<44} {:>10} {:>14} {:>10}",
        "case", "time (s)", "evals/s", "x baseline"
    );
    println!(
        "{:<44} {:>10.4} {:>14.3e} {:>10.2}",
        "baseline: naive loop, 1D Gaussian, 1 thread",
        base,
        evals / base,
        1.0
    );

    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let lap = kernel!(exp(-sqrt(sqnorm(x_i - y_j)) / s));
    let k1 = gauss.x_i(&x).y_j(&x).matrix()?;
    let k2 = lap.x_i(&x2).y_j(&x2).matrix()?;
    let mut out = vec![0f32; n];
    let max_threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    for threads in [1, max_threads] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let (t1, t2) = pool.install(|| -> Result<(f64, f64), KeopsError> {
            let mut r = Ok(());
            let t1 = best_of(reps, || r = r.clone().and(k1.matvec_into(&v, &mut out)));
            let t2 = best_of(reps, || r = r.clone().and(k2.matvec_into(&v, &mut out)));
            r?;
            Ok((t1, t2))
        })?;
        for (name, t) in [
            ("keops 1D Gaussian matvec", t1),
            ("keops 2D Laplacian matvec", t2),
        ] {
            println!(
                "{:<44} {:>10.4} {:>14.3e} {:>10.2}",
                format!("{name}, {threads} thread(s)"),
                t,
                evals / t,
                base / t
            );
        }
        if threads == max_threads {
            break;
        }
    }
    // The engine and the baseline compute the same numbers.
    k1.matvec_into(&v, &mut out)?;
    let err = out
        .iter()
        .zip(&base_out)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0f32, f32::max);
    println!("max relative difference engine vs baseline: {err:.2e}");
    Ok(())
}
