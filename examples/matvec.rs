//! One Gaussian kernel matvec `(K v)_i = sum_j exp(-|x_i - y_j|^2 / (2 s^2)) v_j` on random points,
//! to measure time and peak memory (run it under `/usr/bin/time -v`):
//!
//! ```text
//! cargo run --release --example matvec -- --n 1000000 --m 10000 [--dim 1] [--f64] [--threads T] [--reps R]
//! ```
//! Memory is linear in N + M: the N x M kernel matrix is never stored.

mod common;

use common::{best_of, Rng};

use keops::prelude::*;

struct Args {
    n: usize,
    m: usize,
    dim: usize,
    f64: bool,
    threads: usize,
    reps: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        n: 100_000,
        m: 10_000,
        dim: 1,
        f64: false,
        threads: 0,
        reps: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            it.next()
                .ok_or(format!("{name} needs a value"))?
                .replace('_', "")
                .parse()
                .map_err(|e| format!("{name}: {e}"))
        };
        match flag.as_str() {
            "--n" => a.n = num("--n")?,
            "--m" => a.m = num("--m")?,
            "--dim" => a.dim = num("--dim")?,
            "--threads" => a.threads = num("--threads")?,
            "--reps" => a.reps = num("--reps")?.max(1),
            "--f64" => a.f64 = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

fn run<T: Real>(a: &Args) -> Result<(), KeopsError> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut points =
        |n: usize| -> Vec<T> { (0..n * a.dim).map(|_| T::from_f64(rng.uniform())).collect() };
    let x = points(a.n);
    let y = points(a.m);
    let v: Vec<T> = (0..a.m)
        .map(|j| T::from_f64((j % 7) as f64 - 3.0))
        .collect();
    let s = 0.1;
    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let k = gauss
        .x_i(View::new(&x, a.dim)?)
        .y_j(View::new(&y, a.dim)?)
        .matrix()?;
    let mut out = vec![T::ZERO; a.n];
    let mut result = Ok(());
    let best = best_of(a.reps, || {
        result = result.clone().and(k.matvec_into(&v, &mut out))
    });
    result?;
    let evals = a.n as f64 * a.m as f64;
    println!(
        "gaussian matvec {} N={} M={} D={} threads={}: {:.4} s, {:.3e} evals/s (out[0] = {})",
        T::NAME,
        a.n,
        a.m,
        a.dim,
        rayon::current_num_threads(),
        best,
        evals / best,
        out[0]
    );
    Ok(())
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if a.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(a.threads)
            .build_global()
            .expect("thread pool configured once");
    }
    let r = if a.f64 {
        run::<f64>(&a)
    } else {
        run::<f32>(&a)
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
