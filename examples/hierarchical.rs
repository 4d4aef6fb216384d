//! Hierarchical kernel products against exact ones, on the KeOps tutorial's two problems (2D
//! Laplacian and 1D Gaussian, sigma 0.1, f32): product time and error against N, the crossover,
//! and the tutorial's solves.
//!
//! ```text
//! cargo run --release --example hierarchical                  # N = 1e4 .. 1e5, solves at 1e5
//! cargo run --release --example hierarchical -- --large       # + products and solves at 1e6
//! ```
//!
//! Exact products are timed up to `--exact-max` points (1e5) and extrapolated as N^2 beyond;
//! errors are over all rows where the exact product was computed, on 1,000 sampled rows beyond.

mod common;

use std::time::Instant;

use clap::Parser;
use common::{best_of, exit_code, machine_line, tutorial_data};
use keops::prelude::*;

#[derive(Parser)]
#[command(about = "Hierarchical products: time and error against N, crossover, solves")]
struct Args {
    /// Also N = 3e5 and 1e6 (products), and the solves at 1e6.
    #[arg(long)]
    large: bool,
    /// Largest N whose exact product is timed.
    #[arg(long, default_value_t = 100_000)]
    exact_max: usize,
    /// Relative tolerance of the products.
    #[arg(long, default_value_t = 1e-6)]
    tol: f64,
    /// Points per leaf box (default: the build's choice from the order).
    #[arg(long)]
    leaf: Option<usize>,
    /// Run only this part: products or solves.
    #[arg(long)]
    only: Option<String>,
}

fn main() -> std::process::ExitCode {
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", machine_line());
    let run = |part: &str| args.only.as_deref().is_none_or(|o| o == part);
    if run("products") {
        for dim in [2, 1] {
            products(&args, dim)?;
        }
    }
    if run("solves") {
        let sizes: &[usize] = if args.large {
            &[100_000, 1_000_000]
        } else {
            &[100_000]
        };
        for &n in sizes {
            for dim in [2, 1] {
                solve(&args, dim, n)?;
            }
        }
    }
    Ok(())
}

/// The tutorial's kernel for a dimension: 2D Laplacian, 1D Gaussian, both sigma 0.1.
macro_rules! with_kernel {
    ($dim:expr, |$f:ident| $body:expr) => {{
        let s = 0.1f64;
        if $dim == 2 {
            let $f = kernel!(exp(-norm(x_i - y_j) / s));
            $body
        } else {
            let $f = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
            $body
        }
    }};
}

fn products(args: &Args, dim: usize) -> Result<(), Box<dyn std::error::Error>> {
    let name = if dim == 2 {
        "2D Laplacian"
    } else {
        "1D Gaussian"
    };
    println!(
        "Products, {name}, sigma 0.1, f32, tolerance {:.0e}",
        args.tol
    );
    println!(
        "{:>9} {:>10} {:>10} {:>9} {:>9} {:>9} {:>6} {:>7} {:>8}",
        "N", "exact s", "hier s", "ratio", "build s", "error", "order", "stored", "MB"
    );
    let mut sizes = vec![3_000, 10_000, 30_000, 100_000];
    if args.large {
        sizes.extend([300_000, 1_000_000]);
    }
    let mut rate = None; // exact seconds per pair, from the largest timed size
    let mut crossover = None;
    for n in sizes {
        let (x, _) = tutorial_data(dim, n);
        let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        with_kernel!(dim, |f| {
            let k = f
                .x_i(View::new(&x, dim)?)
                .y_j(View::new(&x, dim)?)
                .matrix()?;
            let timed = n <= args.exact_max;
            let mut exact = None;
            let exact_s = if timed {
                let t = best_of(2, || exact = Some(k.matvec(&v[..]).expect("exact product")));
                rate = Some(t / (n as f64).powi(2));
                t
            } else {
                rate.unwrap_or(f64::NAN) * (n as f64).powi(2)
            };
            let start = Instant::now();
            let h = k.hierarchical(&params(args, args.tol))?;
            let build = start.elapsed().as_secs_f64();
            let mut hv = None;
            let hier_s = best_of(2, || {
                hv = Some(h.matvec(&v[..]).expect("hierarchical product"))
            });
            let error = match (&exact, &hv) {
                (Some(e), Some(a)) => relative(a.as_slice(), e.as_slice()),
                _ => h.sampled_error(&v[..], 1000, 1)?,
            };
            if crossover.is_none() && hier_s < exact_s {
                crossover = Some(n);
            }
            let mark = if timed { "" } else { "*" };
            println!(
                "{n:>9} {:>9.3}{mark:1} {hier_s:>10.3} {:>9.1} {build:>9.3} {error:>9.1e} {:>6} {:>7} {:>8.1}",
                exact_s,
                exact_s / hier_s,
                h.info().order,
                // Levels with stored far-field operators, of those with a far field.
                format!("{}/{}", h.info().stored_levels, h.info().levels.saturating_sub(1)),
                h.info().memory_bytes as f64 / 1e6
            );
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
    }
    println!("(* extrapolated as N^2 from the largest timed size)");
    match crossover {
        Some(n) => println!("crossover: hierarchical products are faster from N = {n} on\n"),
        None => println!("crossover: not reached\n"),
    }
    Ok(())
}

/// The tutorial's solve at `n` points: hierarchical (and exact up to `--exact-max`).
fn solve(args: &Args, dim: usize, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (alpha, name) = if dim == 2 {
        (10.0, "2D Laplacian")
    } else {
        (1.0, "1D Gaussian")
    };
    let (x, b) = tutorial_data(dim, n);
    if dim == 1 {
        // The 1D system (alpha 1, K_ii = 1, row sums ~ 0.25 N) is beyond f32's resolution at
        // a 1e-6 residual: f64, as the tutorial's own f32 solve stagnates there too.
        return solve_in::<f64>(args, dim, n, (alpha, name), (args.tol, 1e-6), &x, &b);
    }
    // In 2D at 1e6 in f32, products and CG to 1e-5 (f32 stagnates near 1e-6 at that size).
    let tols = if n >= 1_000_000 {
        (1e-5, 1e-5)
    } else {
        (args.tol, 1e-6)
    };
    let cast = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    solve_in::<f32>(args, dim, n, (alpha, name), tols, &cast(&x), &cast(&b))
}

/// [`solve`] with the data in `T`.
/// `(tol, cg_tol)`: the products' tolerance and the solve's.
fn solve_in<T: Real>(
    args: &Args,
    dim: usize,
    n: usize,
    (alpha, name): (f64, &str),
    (tol, cg_tol): (f64, f64),
    x: &[T],
    b: &[T],
) -> Result<(), Box<dyn std::error::Error>> {
    with_kernel!(dim, |f| {
        let k = f.x_i(View::new(x, dim)?).y_j(View::new(x, dim)?).matrix()?;
        let start = Instant::now();
        let h = k.clone().hierarchical(&params(args, tol))?;
        let sol = h.solve_with(&ConjugateGradient::new().tolerance(cg_tol), b, alpha)?;
        let hier_s = start.elapsed().as_secs_f64();
        println!(
            "Solve, {name}, N = {n}, {}, alpha {alpha}, product tolerance {tol:.0e}, CG {cg_tol:.0e}: hierarchical \
             {hier_s:.2} s (build {:.2} s, {} iterations, Nyström m = {}, setup {:.2} s), CG \
             residual {:.1e}, sampled exact residual {:.1e}, {:.0} MB",
            T::NAME,
            h.info().build_time.as_secs_f64(),
            sol.iterations,
            sol.rank,
            sol.setup_time.as_secs_f64(),
            sol.residual,
            sol.sampled_residual.unwrap_or(f64::NAN),
            h.info().memory_bytes as f64 / 1e6
        );
        if n <= args.exact_max {
            let start = Instant::now();
            let exact = k.solve(b, alpha)?;
            println!(
                "  exact {:.2} s ({} iterations); coefficients' relative difference {:.1e}",
                start.elapsed().as_secs_f64(),
                exact.iterations,
                relative(sol.coefficients.as_slice(), exact.coefficients.as_slice())
            );
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

/// The build's parameters at tolerance `tol`.
fn params(args: &Args, tol: f64) -> Hierarchical {
    let p = Hierarchical::new().tolerance(tol);
    match args.leaf {
        Some(leaf) => p.leaf_size(leaf),
        None => p,
    }
}

/// `||a - b|| / ||b||`.
fn relative<T: Real>(a: &[T], b: &[T]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (a, b) in a.iter().zip(b) {
        num += (a.to_f64() - b.to_f64()).powi(2);
        den += b.to_f64().powi(2);
    }
    (num / den).sqrt()
}
