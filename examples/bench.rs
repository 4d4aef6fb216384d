//! Throughput of the CPU engine on the KeOps tutorial's two kernels, as kernel evaluations per
//! second (`N * M` over the time of one product `K v`, so a pair evaluated once for two rows of a
//! symmetric `K_xx` counts twice), next to two references measured in the same run:
//!
//! - the ceiling: the 1D Gaussian's arithmetic alone, hand-vectorised, over data in L1
//!   (examples/common/ceiling.rs), on as many threads; the 1D Gaussian rows give their fraction of it;
//! - the baseline: a plain single-threaded Rust double loop doing the same arithmetic in f32.
//!
//! Then the tutorial's solves `(alpha I + K_xx) a = b` at N = 10,000 (and 100,000 with
//! `--large`; the kriging example's data), plain and preconditioned, and a nearly diagonal one.
//! Last, the 1D Gaussian product for shrinking widths (issue 16: kernel values that underflow must
//! not slow it down; `--widths` runs only that table). Prints Markdown tables (BENCHMARKS.md holds
//! a run).
//!
//! ```text
//! cargo run --release --example bench [-- --quick] [--large] [--widths] [--level scalar|avx2|avx512|neon] [--reps R]
//! ```

#[path = "common/ceiling.rs"]
mod ceiling;
mod common;

use std::hint::black_box;
use std::time::Instant;

use ceiling::{gaussian_1d_ceiling, CeilingReal};
use common::{best_of, tutorial_data, Rng};

use keops::prelude::*;
use keops::{set_simd_level, simd_level, SimdLevel};

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

struct Opts {
    quick: bool,
    reps: usize,
    /// Also the solves at N = 100,000 (minutes: plain CG needs dozens of products of 1e10
    /// evaluations).
    large: bool,
    /// Only the table of widths (issue 16).
    widths_only: bool,
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// Times `K v` for the kernel `$k` on `dim`-dimensional points: `K_xx` (the same points twice:
/// the symmetric product) and `K_xy` (two point sets).
macro_rules! products {
    ($k:expr, $t:ty, $dim:expr, $n:expr, $reps:expr) => {{
        let (n, dim) = ($n, $dim);
        let mut rng = Rng(0xBE7C_0000 + n as u64);
        let x: Vec<$t> = (0..n * dim).map(|_| rng.uniform() as $t).collect();
        let y: Vec<$t> = (0..n * dim).map(|_| rng.uniform() as $t).collect();
        let v: Vec<$t> = (0..n).map(|_| rng.uniform() as $t - 0.5).collect();
        let (xr, yr) = (
            Rows::from_vec(x, dim).expect("rows"),
            Rows::from_vec(y, dim).expect("rows"),
        );
        let kxx = $k.x_i(&xr).y_j(&xr).matrix()?;
        let kxy = $k.x_i(&xr).y_j(&yr).matrix()?;
        let mut out = vec![0 as $t; n];
        let mut r = Ok(());
        let t_xx = best_of($reps, || r = r.clone().and(kxx.matvec_into(&v, &mut out)));
        let t_xy = best_of($reps, || r = r.clone().and(kxy.matvec_into(&v, &mut out)));
        r?;
        (t_xx, kxx.symmetric(), t_xy)
    }};
}

#[allow(clippy::too_many_arguments)]
fn row(
    case: &str,
    t_name: &str,
    n: usize,
    threads: usize,
    secs: f64,
    ceil: Option<f64>,
    base: f64,
) {
    let evals = (n as f64) * (n as f64) / secs;
    let frac = ceil.map_or("".to_string(), |c| format!("{:.0}%", 100.0 * evals / c));
    println!(
        "| {case} | {t_name} | {n} | {threads} | {secs:.4} | {evals:.3e} | {frac} | {:.1} |",
        evals / base
    );
}

fn kernels<T: CeilingReal + KernelsFor>(
    o: &Opts,
    threads: usize,
    ceiling: f64,
    base: f64,
) -> Result<(), KeopsError> {
    let sizes: &[usize] = if o.quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    for &n in sizes {
        let reps = if n >= 100_000 { 1 } else { o.reps };
        let (g_xx, sym, g_xy) = pool(threads).install(|| T::gaussian(n, reps))?;
        let sym = if sym { "K_xx, symmetric" } else { "K_xx" };
        row(
            &format!("1D Gaussian {sym}"),
            T::NAME,
            n,
            threads,
            g_xx,
            Some(ceiling),
            base,
        );
        row(
            "1D Gaussian K_xy",
            T::NAME,
            n,
            threads,
            g_xy,
            Some(ceiling),
            base,
        );
        let (l_xx, sym, l_xy) = pool(threads).install(|| T::laplacian(n, reps))?;
        let sym = if sym { "K_xx, symmetric" } else { "K_xx" };
        row(
            &format!("2D Laplacian {sym}"),
            T::NAME,
            n,
            threads,
            l_xx,
            None,
            base,
        );
        row("2D Laplacian K_xy", T::NAME, n, threads, l_xy, None, base);
    }
    Ok(())
}

/// The tutorial's kernels in one precision (the macro's expansion is per call site).
trait KernelsFor: Real {
    fn gaussian(n: usize, reps: usize) -> Result<(f64, bool, f64), KeopsError>;
    fn laplacian(n: usize, reps: usize) -> Result<(f64, bool, f64), KeopsError>;
}

macro_rules! kernels_for {
    ($t:ty) => {
        impl KernelsFor for $t {
            fn gaussian(n: usize, reps: usize) -> Result<(f64, bool, f64), KeopsError> {
                let s = 0.1 as $t;
                let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
                Ok(products!(k, $t, 1, n, reps))
            }
            fn laplacian(n: usize, reps: usize) -> Result<(f64, bool, f64), KeopsError> {
                let s = 0.1 as $t;
                let k = kernel!(exp(-norm(x_i - y_j) / s));
                Ok(products!(k, $t, 2, n, reps))
            }
        }
    };
}
kernels_for!(f32);
kernels_for!(f64);

/// One tutorial solve: `(alpha I + K_xx) a = b` with the kriging example's data, kernel and
/// alpha (1D Gaussian sigma 0.1 alpha 1, 2D Laplacian sigma 0.1 alpha 10; `sigma` overrides the
/// width), relative tolerance 1e-6. The best time of `reps` (building `K_xx` included) and the
/// last solution; a solve stopped by f32's precision floor counts, with its residual.
fn solve_once<T: Real>(
    dim: usize,
    n: usize,
    sigma: f64,
    pre: Preconditioning,
    reps: usize,
) -> Result<(f64, Solution<T>), KeopsError> {
    let (x, b) = tutorial_data(dim, n);
    let x: Vec<T> = x.iter().map(|&v| T::from_f64(v)).collect();
    let b: Vec<T> = b.iter().map(|&v| T::from_f64(v)).collect();
    let xr = Rows::from_vec(x, dim)?;
    let s = sigma;
    let cg = ConjugateGradient::new().preconditioning(pre);
    let mut last = None;
    let secs = best_of(reps, || {
        let start = Instant::now();
        let sol = if dim == 1 {
            let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
            k.x_i(&xr)
                .y_j(&xr)
                .matrix()
                .map_err(Into::into)
                .and_then(|k| k.solve_with(&cg, &b, 1.0))
        } else {
            let k = kernel!(exp(-norm(x_i - y_j) / s));
            k.x_i(&xr)
                .y_j(&xr)
                .matrix()
                .map_err(Into::into)
                .and_then(|k| k.solve_with(&cg, &b, 10.0))
        };
        black_box(start);
        last = Some(match sol {
            Err(SolveError::NotConverged { solution, .. }) => Ok(*solution),
            other => other.map_err(KeopsError::from),
        });
    });
    Ok((secs, last.expect("at least one run")?))
}

/// The tutorial's solves at each `n`, plain and preconditioned (the default, automatic choice),
/// and a nearly diagonal system (sigma 1e-4 in 1D: the kernel's width far below the spacing of the
/// points) where the preconditioner must cost nothing.
fn solves<T: Real>(sizes: &[usize], reps: usize) -> Result<(), KeopsError> {
    let threads = rayon::current_num_threads();
    let mut cases: Vec<(usize, usize, f64, &str)> = Vec::new();
    for &n in sizes {
        cases.push((1, n, 0.1, "1D Gaussian, alpha 1"));
        cases.push((2, n, 0.1, "2D Laplacian, alpha 10"));
    }
    cases.push((1, sizes[0], 1e-4, "1D Gaussian sigma 1e-4 (near-diagonal)"));
    for (dim, n, sigma, name) in cases {
        // One run of the slow plain solves at large N.
        let reps = if n > 20_000 { 1 } else { reps };
        let (plain_s, plain) = solve_once::<T>(dim, n, sigma, Preconditioning::Off, reps)?;
        let (pre_s, pre) = solve_once::<T>(dim, n, sigma, Preconditioning::Auto, reps)?;
        // Plain CG, then the default (automatic) choice, which may also be none.
        for (plain_cg, secs, sol) in [(true, plain_s, &plain), (false, pre_s, &pre)] {
            let m = match sol.preconditioner {
                _ if plain_cg => "off (plain CG)".to_string(),
                "nystrom" => format!("default: Nyström m = {}", sol.rank),
                other => format!("default: {other}"),
            };
            println!(
                "| {name} | {} | {n} | {threads} | {m} | {secs:.3} | {:.3} | {} | {:.1e} | {:.1}x |",
                T::NAME,
                sol.setup_time.as_secs_f64(),
                sol.iterations,
                sol.residual,
                plain_s / secs
            );
        }
    }
    Ok(())
}

fn main() -> Result<(), KeopsError> {
    let mut o = Opts {
        quick: false,
        reps: 5,
        large: false,
        widths_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--large" => o.large = true,
            "--widths" => o.widths_only = true,
            "--reps" => match args.next().and_then(|v| v.parse().ok()) {
                Some(r) if r > 0 => o.reps = r,
                _ => usage(),
            },
            "--level" => {
                let wanted = args.next().unwrap_or_default();
                let Some(level) = SimdLevel::ALL.into_iter().find(|l| l.name() == wanted) else {
                    usage()
                };
                set_simd_level(Some(level))?;
            }
            _ => usage(),
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    let cpu = common::cpu_name();
    println!(
        "machine: {cpu}, {threads} threads, SIMD level {}\n",
        simd_level()
    );
    if o.widths_only {
        return widths(threads, o.reps);
    }

    // References.
    let n = 10_000;
    let mut rng = Rng(42);
    let x: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
    let v: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 - 0.5).collect();
    let mut base_out = vec![0f32; n];
    let base_s = best_of(o.reps.min(3), || {
        naive_gaussian_1d(black_box(&x), &x, &v, 0.1, &mut base_out)
    });
    let base = (n * n) as f64 / base_s;
    let mut ceilings = Vec::new();
    println!("| reference | T | threads | evals/s |");
    println!("|---|---|---|---|");
    println!("| baseline: plain loop, 1D Gaussian | f32 | 1 | {base:.3e} |");
    for t in [1, threads] {
        let c32 = pool(t).install(|| gaussian_1d_ceiling::<f32>(0.3)).0;
        let c64 = pool(t).install(|| gaussian_1d_ceiling::<f64>(0.3)).0;
        println!("| ceiling: 1D Gaussian arithmetic in L1 | f32 | {t} | {c32:.3e} |");
        println!("| ceiling: 1D Gaussian arithmetic in L1 | f64 | {t} | {c64:.3e} |");
        ceilings.push((t, c32, c64));
        if t == threads {
            break;
        }
    }
    let ceiling = |t: usize, f64_: bool| {
        let c = ceilings.iter().find(|c| c.0 == t).expect("measured");
        if f64_ {
            c.2
        } else {
            c.1
        }
    };

    println!("\n| kernel product K v | T | N = M | threads | time (s) | evals/s | of ceiling | x baseline |");
    println!("|---|---|---|---|---|---|---|---|");
    if threads > 1 {
        kernels_one::<f32>(&o, ceiling(1, false), base)?;
    }
    kernels::<f32>(&o, threads, ceiling(threads, false), base)?;
    kernels::<f64>(&o, threads, ceiling(threads, true), base)?;

    println!("\n| tutorial solve | T | N | threads | preconditioner | time (s) | setup (s) | iterations | residual | speed-up |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let sizes: &[usize] = if o.large {
        &[10_000, 100_000]
    } else {
        &[10_000]
    };
    solves::<f32>(sizes, o.reps.min(3))?;
    solves::<f64>(sizes, o.reps.min(3))?;

    // The engine and the baseline compute the same numbers.
    let s = 0.1f32;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let out = k.x_i(&x).y_j(&x).matrix()?.matvec(&v)?;
    let err = out
        .as_slice()
        .iter()
        .zip(&base_out)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0f32, f32::max);
    println!("\nmax relative difference engine vs baseline (1D Gaussian, N = {n}, f32): {err:.2e}");
    println!();
    widths(threads, o.reps)
}

/// Issue 16: the 1D Gaussian product at N = 10,000 in f32 for widths from the tutorial's 0.1 down
/// to 1e-4 (the points' mean spacing). The narrower the kernel, the more of its values fall below
/// f32's normal range; arithmetic on subnormals costs 10-100x on many x86 CPUs, so without care the
/// narrow kernels run several times slower on the same number of evaluations. Each time is also
/// given as a ratio to sigma 0.1's (target: at most 1.3).
fn widths(threads: usize, reps: usize) -> Result<(), KeopsError> {
    let n = 10_000;
    println!("| 1D Gaussian K v, sigma | T | N = M | threads | K_xx, symmetric (s) | ratio | K_xy (s) | ratio |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut first: Option<(f64, f64)> = None;
    for s in [0.1f32, 1e-2, 1e-3, 1e-4] {
        let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
        let (t_xx, _, t_xy) = pool(threads)
            .install(|| -> Result<_, KeopsError> { Ok(products!(k, f32, 1, n, reps)) })?;
        let (r_xx, r_xy) = first.get_or_insert((t_xx, t_xy));
        println!(
            "| {s:e} | f32 | {n} | {threads} | {t_xx:.4} | {:.2} | {t_xy:.4} | {:.2} |",
            t_xx / *r_xx,
            t_xy / *r_xy
        );
    }
    Ok(())
}

/// One thread, 1D Gaussian in f32 at N = 10,000.
fn kernels_one<T: CeilingReal + KernelsFor>(
    o: &Opts,
    ceiling: f64,
    base: f64,
) -> Result<(), KeopsError> {
    let n = 10_000;
    let (g_xx, sym, g_xy) = pool(1).install(|| T::gaussian(n, o.reps))?;
    let sym = if sym { "K_xx, symmetric" } else { "K_xx" };
    row(
        &format!("1D Gaussian {sym}"),
        T::NAME,
        n,
        1,
        g_xx,
        Some(ceiling),
        base,
    );
    row("1D Gaussian K_xy", T::NAME, n, 1, g_xy, Some(ceiling), base);
    Ok(())
}

fn usage() -> ! {
    eprintln!(
        "usage: bench [--quick] [--large] [--widths] [--reps R] [--level scalar|avx2|avx512|neon]"
    );
    std::process::exit(2);
}
