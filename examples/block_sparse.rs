//! Block-sparse reductions (KeOps' `ranges`): skip the blocks of a kernel matrix between
//! clusters of points farther apart than a cut-off.
//!
//! ```text
//! cargo run --release --example block_sparse                 # tutorial, efficiency, kriging
//! cargo run --release --example block_sparse -- --large      # + 3D, N = M = 1e6
//! ```
//!
//! 1. KeOps' block-sparse tutorial data: a spiral of M points and a Gaussian blob of N points in
//!    the unit square, a Gaussian kernel of width 0.05, cells of 0.05, cluster pairs farther
//!    than 4 widths skipped: the clustering time, the fraction of pairs kept, the dense and the
//!    block-sparse product's times and their largest difference.
//! 2. Time per kept pair against the dense product's time per pair (target: within 1.2x).
//! 3. Kriging on a truncated kernel: N = 1e5 points in 2D (the tutorial's ring), a Gaussian of
//!    width 0.02 truncated at 6 widths, solved block-sparse; its residual in the exact system.
//! 4. `--large`: 3D Gaussian, width 0.02, N = M = 1e6 uniform in the unit cube, cut-off 6
//!    widths, cells of 2 widths: one product (target: under 10 s on 2 cores), its relative
//!    difference to the exact product on sampled rows (target: below 1e-6), the clustering
//!    (target: under 0.5 s).

mod common;

use std::time::Instant;

use clap::Parser;
use common::{best_of, exit_code, machine_line, tutorial_data, Rng};
use keops::prelude::*;
use keops::BlockSparse;

#[derive(Parser)]
#[command(about = "Block-sparse reductions: KeOps' tutorial, efficiency, kriging, 3D at 1e6")]
struct Args {
    /// Points of the spiral and of the blob in the tutorial.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Points of the kriging run.
    #[arg(long, default_value_t = 100_000)]
    kriging_n: usize,
    /// Also the 3D product at N = M = 1e6.
    #[arg(long)]
    large: bool,
    /// Run only this part: tutorial, efficiency or kriging (and --large).
    #[arg(long)]
    only: Option<String>,
    /// Timed repetitions (the best is kept).
    #[arg(long, default_value_t = 3)]
    reps: usize,
}

fn main() -> std::process::ExitCode {
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", machine_line());
    let run = |part: &str| args.only.as_deref().is_none_or(|o| o == part);
    if run("tutorial") {
        tutorial(args.n, args.reps)?;
    }
    if run("efficiency") {
        efficiency(args.reps)?;
    }
    if run("kriging") {
        kriging(args.kriging_n)?;
    }
    if args.large {
        large(args.reps)?;
    }
    Ok(())
}

/// KeOps' tutorial: spiral `x` (M points), blob `y` (N points).
fn tutorial(n: usize, reps: usize) -> Result<(), KeopsError> {
    let mut rng = Rng(0x5EED_B10C);
    let normal = |rng: &mut Rng| rng.normal() as f32;
    let x: Vec<[f32; 2]> = (0..n)
        .map(|k| {
            let t = std::f32::consts::TAU * k as f32 / n as f32;
            let p = [0.4 + 0.4 * (t / 7.0) * t.cos(), 0.5 + 0.3 * t.sin()];
            [
                p[0] + 0.01 * normal(&mut rng),
                p[1] + 0.01 * normal(&mut rng),
            ]
        })
        .collect();
    let y: Vec<[f32; 2]> = (0..n)
        .map(|_| [0.6 + normal(&mut rng) / 10.0, 0.6 + normal(&mut rng) / 10.0])
        .collect();
    let b: Vec<f32> = (0..n).map(|_| normal(&mut rng)).collect();
    let s = 0.05f32;
    let start = Instant::now();
    let bs = BlockSparse::new(&x, &y, 0.05, 4.0 * s)?;
    let clustering = start.elapsed().as_secs_f64();
    let kept = bs.ranges.kept_pairs() as f64 / (n as f64 * n as f64);
    // b follows y's points: sorted like them.
    let b_sorted = bs.y.permutation.sort_rows(&b)?;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let dense = k.x_i(&bs.x.points).y_j(&bs.y.points).matrix()?;
    let sparse = k
        .x_i(&bs.x.points)
        .y_j(&bs.y.points)
        .matrix()?
        .ranges(&bs.ranges)?;
    let (mut full, mut part) = (vec![0.0; n], vec![0.0; n]);
    let t_dense = best_of(reps, || {
        dense.matvec_into(&b_sorted, &mut full).expect("checked")
    });
    let t_sparse = best_of(reps, || {
        sparse.matvec_into(&b_sorted, &mut part).expect("checked")
    });
    let diff = max_difference(&full, &part);
    println!("KeOps' block-sparse tutorial: M = N = {n}, Gaussian sigma {s}, cells 0.05, cut-off 4 sigma, f32");
    println!(
        "  clustering and ranges : {clustering:.4} s ({} x {} clusters)",
        bs.x.clusters.len(),
        bs.y.clusters.len()
    );
    println!("  pairs kept            : {:.2}%", 100.0 * kept);
    println!("  dense product         : {t_dense:.4} s");
    println!(
        "  block-sparse product  : {t_sparse:.4} s ({:.1}x faster, {:.2}x the dense time per pair)",
        t_dense / t_sparse,
        t_sparse / (kept * t_dense)
    );
    println!("  largest difference    : {diff:.2e} of the largest |K b| entry\n");
    Ok(())
}

/// `max |a - b| / max |a|`.
fn max_difference(a: &[f32], b: &[f32]) -> f64 {
    let scale = a.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let diff = a
        .iter()
        .zip(b)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
    diff / scale
}

/// Time per kept pair against the dense product's, 2D points uniform in the unit square, cells
/// of 0.05 and 0.02, cut-offs from everything kept down to ~2%; K_xy and the symmetric K_xx.
fn efficiency(reps: usize) -> Result<(), KeopsError> {
    let n = 50_000;
    let mut rng = Rng(0xEFF1_C1E7);
    let pts = |rng: &mut Rng| -> Vec<[f32; 2]> {
        (0..n)
            .map(|_| [rng.uniform() as f32, rng.uniform() as f32])
            .collect()
    };
    let (x, y) = (pts(&mut rng), pts(&mut rng));
    let v: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 - 0.5).collect();
    let s = 0.05f32;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    println!("Time per kept pair / dense time per pair (target <= 1.2): N = M = {n}, 2D, f32");
    println!(
        "  {:>6} {:>8} {:>8} {:>10} {:>10} {:>8}   {:>10} {:>10} {:>8}",
        "cells", "cut-off", "kept", "K_xy s", "dense s", "ratio", "K_xx s", "dense s", "ratio"
    );
    // Cells of 0.05 hold ~125 points; of 0.02, ~20 (a pack of 16 lanes then runs 20 rows in 2).
    for (cell, cutoff) in [
        (0.05f32, 2.0f32),
        (0.05, 0.4),
        (0.05, 0.2),
        (0.05, 0.1),
        (0.02, 0.2),
        (0.02, 0.1),
    ] {
        let xy = BlockSparse::new(&x, &y, cell, cutoff)?;
        let xx = BlockSparse::new(&x, &x, cell, cutoff)?;
        let kept = xy.ranges.kept_pairs() as f64 / (n as f64 * n as f64);
        let kept_xx = xx.ranges.kept_pairs() as f64 / (n as f64 * n as f64);
        let v_y = xy.y.permutation.sort_rows(&v)?;
        let v_x = xx.x.permutation.sort_rows(&v)?;
        let time = |m: &KernelMatrix<f32, _>, v: &Rows<f32>| {
            best_of(reps, || drop(m.matvec(v).expect("checked")))
        };
        let dense_xy = k.x_i(&xy.x.points).y_j(&xy.y.points).matrix()?;
        let sparse_xy = k
            .x_i(&xy.x.points)
            .y_j(&xy.y.points)
            .matrix()?
            .ranges(&xy.ranges)?;
        let dense_xx = k.x_i(&xx.x.points).y_j(&xx.x.points).matrix()?;
        let sparse_xx = k
            .x_i(&xx.x.points)
            .y_j(&xx.x.points)
            .matrix()?
            .ranges(&xx.ranges)?;
        let (txy, dxy) = (time(&sparse_xy, &v_y), time(&dense_xy, &v_y));
        let (txx, dxx) = (time(&sparse_xx, &v_x), time(&dense_xx, &v_x));
        println!(
            "  {cell:>6} {cutoff:>8} {:>7.2}% {txy:>10.4} {dxy:>10.4} {:>8.2}   {txx:>10.4} {dxx:>10.4} {:>8.2}",
            100.0 * kept,
            txy / (kept * dxy),
            txx / (kept_xx * dxx)
        );
    }
    println!();
    Ok(())
}

/// Kriging at N points in 2D with a Gaussian truncated at 6 widths: `(alpha I + K_trunc) a = b`.
fn kriging(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (x, b) = tutorial_data(2, n);
    let x: Vec<[f32; 2]> = x
        .chunks_exact(2)
        .map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    let b: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    let (s, alpha) = (0.02f32, 1.0);
    let start = Instant::now();
    let bs = BlockSparse::new(&x, &x, 2.0 * s, 6.0 * s)?;
    let clustering = start.elapsed().as_secs_f64();
    let b_sorted = bs.x.permutation.sort_rows(&b)?;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let truncated = k
        .x_i(&bs.x.points)
        .y_j(&bs.x.points)
        .matrix()?
        .ranges(&bs.ranges)?;
    let start = Instant::now();
    // f32 products resolve a relative residual of about 1e-6 at this size: ask for 1e-5.
    let cg = ConjugateGradient::new().tolerance(1e-5);
    let sol = truncated.solve_with(&cg, &b_sorted, alpha)?;
    let solve = start.elapsed().as_secs_f64();
    // The residual in the exact (untruncated) system: one dense product.
    let exact = k.x_i(&bs.x.points).y_j(&bs.x.points).matrix()?;
    let start = Instant::now();
    let ka = exact.matvec(&sol.coefficients)?;
    let t_exact = start.elapsed().as_secs_f64();
    let a = sol.coefficients.as_slice();
    let r2: f64 = (0..n)
        .map(|i| (b_sorted[i] as f64 - alpha * a[i] as f64 - ka[i] as f64).powi(2))
        .sum();
    let b2: f64 = b.iter().map(|&v| (v as f64).powi(2)).sum();
    // The coefficients in the user's order.
    let coefficients = bs.x.permutation.unsort_rows(&sol.coefficients)?;
    println!("Kriging on a truncated kernel: N = {n}, 2D, Gaussian sigma {s}, cut-off 6 sigma, alpha {alpha}, f32");
    println!(
        "  clustering and ranges : {clustering:.3} s, {:.2}% of the pairs kept",
        100.0 * bs.ranges.kept_pairs() as f64 / (n as f64 * n as f64)
    );
    println!("  block-sparse solve    : {solve:.3} s, {} iterations ({} preconditioner, m = {}), residual {:.1e}", sol.iterations, sol.preconditioner, sol.rank, sol.residual);
    println!(
        "  exact-system residual : {:.1e} (one dense product: {t_exact:.2} s)",
        (r2 / b2).sqrt()
    );
    println!("  a[0] in the user's order: {:.4e}\n", coefficients[0]);
    Ok(())
}

/// 3D Gaussian at N = M = 1e6: one block-sparse product, checked on sampled rows.
fn large(reps: usize) -> Result<(), KeopsError> {
    let n = 1_000_000;
    let s = 0.02f32;
    let mut rng = Rng(0x3D3D_1E06);
    let x: Vec<[f32; 3]> = (0..n)
        .map(|_| [0, 1, 2].map(|_| rng.uniform() as f32))
        .collect();
    let v: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
    let clustering = best_of(reps, || {
        drop(BlockSparse::new(&x, &x, 2.0 * s, 6.0 * s).expect("valid"))
    });
    let bs = BlockSparse::new(&x, &x, 2.0 * s, 6.0 * s)?;
    let v_sorted = bs.x.permutation.sort_rows(&v)?;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let sparse = k
        .x_i(&bs.x.points)
        .y_j(&bs.x.points)
        .matrix()?
        .ranges(&bs.ranges)?;
    let mut kv = vec![0.0; n];
    let t = best_of(reps, || {
        sparse.matvec_into(&v_sorted, &mut kv).expect("checked")
    });
    // The exact product on 1,000 sampled rows: a dense reduction over all 1e6 points.
    let rows: Vec<usize> = (0..1000)
        .map(|_| (rng.uniform() * n as f64) as usize)
        .collect();
    let xs: Vec<f32> = rows
        .iter()
        .flat_map(|&r| bs.x.points.row(r).to_vec())
        .collect();
    let exact = k
        .x_i(View::new(&xs, 3)?)
        .y_j(&bs.x.points)
        .matrix()?
        .matvec(&v_sorted)?;
    let rel = rows
        .iter()
        .enumerate()
        .map(|(q, &r)| ((kv[r] - exact[q]) as f64 / exact[q] as f64).abs())
        .fold(0.0, f64::max);
    let kept = bs.ranges.kept_pairs() as f64 / (n as f64 * n as f64);
    println!("3D Gaussian, N = M = {n}, sigma {s}, cut-off 6 sigma, cells 2 sigma, f32 (K_xx, symmetric)");
    println!("  clustering and ranges : {clustering:.3} s (target 0.5 s)");
    println!(
        "  pairs kept            : {:.3}% ({:.2e} evaluations, {:.2e} with the symmetry)",
        100.0 * kept,
        kept * 1e12,
        kept * 5e11
    );
    println!("  block-sparse product  : {t:.2} s (target 10 s; dense: 1e12 evaluations)");
    println!("  largest relative difference to the exact product on 1,000 sampled rows: {rel:.1e} (target 1e-6)");
    Ok(())
}
