//! The tutorial on its random data: 1D (Gaussian kernel, alpha 1) and 2D (Laplacian kernel,
//! alpha 10), N = 10,000 by default, and its two figures. With `--fit`, a Gaussian process with
//! fitted hyperparameters instead: the 1D figure with a band of +-2 posterior standard
//! deviations, and a third figure, the 2D posterior standard deviation.

use std::path::{Path, PathBuf};
use std::time::Instant;

use keops::prelude::*;

use crate::cli::Product;
use crate::cli::{Args, Kernel};
use crate::common::tutorial_data;
use crate::memory::{self, Need};
use crate::{
    fit, gpr, hierarchical_params, plot, report_prediction, report_solve, solver, thousands,
    Failure, Problem,
};

/// The 2D demo predicts on a `GRID x GRID` grid of the unit square.
const GRID: usize = 101;
/// The 1D demo predicts at this many points of `[0, 1]`.
const LINE: usize = 1001;

/// Runs the demo's problems (both, or the one `--dim` names).
pub fn run(args: &Args) -> Result<(), Failure> {
    let n = args.n.unwrap_or(10_000);
    let dims: Vec<usize> = [1, 2]
        .into_iter()
        .filter(|&d| args.dim.is_none_or(|want| want.get() == d))
        .collect();
    for &dim in &dims {
        need(args, n, dim).check()?;
        if n.checked_mul(dim).is_none() {
            return Err(Failure::Memory(format!(
                "--n {n} in {dim}D: {n} x {dim} coordinates do not fit this machine's address space"
            )));
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/kriging"));
    std::fs::create_dir_all(&out)
        .map_err(|e| Failure::Output(format!("cannot create {}: {e}", out.display())))?;
    for dim in dims {
        if args.fit {
            fitted(args, dim, n, &out)?;
        } else if args.f64 {
            problem::<f64>(args, dim, n, &out)?;
        } else {
            problem::<f32>(args, dim, n, &out)?;
        }
    }
    Ok(())
}

/// The memory of one problem: `n` points of dimension `dim` (in f64, then in the precision).
fn need(args: &Args, n: usize, dim: usize) -> Need {
    if args.fit {
        let mut need = gpr::need(n, dim, 1, targets_len(dim));
        // The tutorial's data as generated.
        need.inputs += 8.0 * n as f64 * (dim + 1) as f64;
        return need;
    }
    let size = if args.f64 { 8 } else { 4 };
    let m = targets_len(dim);
    let values = n as f64 * (dim + 1) as f64 + (m * dim) as f64;
    Need {
        inputs: values * (8 + size) as f64,
        solver: memory::solver(n, 1, size),
        preconditioner: memory::preconditioner(args.precond, args.rank, n),
        prediction: memory::prediction(m, 1, size),
    }
}

/// The number of prediction points of the problem in `dim`.
fn targets_len(dim: usize) -> usize {
    if dim == 1 {
        LINE
    } else {
        GRID * GRID
    }
}

fn linspace(n: usize) -> Vec<f64> {
    (0..n).map(|k| k as f64 / (n - 1) as f64).collect()
}

/// The prediction points: linspace(0, 1, 1001), or the 101 x 101 grid in meshgrid 'ij' order
/// (t[i * 101 + j] = (lin[i], lin[j])) as in the tutorial.
fn targets(dim: usize) -> Vec<f64> {
    if dim == 1 {
        return linspace(LINE);
    }
    let lin = linspace(GRID);
    lin.iter()
        .flat_map(|&u| lin.iter().flat_map(move |&v| [u, v]))
        .collect()
}

/// One problem of the tutorial, solved in `T`, and its figure.
fn problem<T: Real>(args: &Args, dim: usize, n: usize, out: &Path) -> Result<(), Failure> {
    let (x, b) = tutorial_data(dim, n);
    let (default_kernel, default_alpha) = if dim == 1 {
        (Kernel::Gaussian, 1.0)
    } else {
        (Kernel::Laplacian, 10.0)
    };
    let t = targets(dim);
    let cast = |v: &[f64]| -> Vec<T> { v.iter().map(|&v| T::from_f64(v)).collect() };
    let (xt, bt, tt) = (cast(&x), cast(&b), cast(&t));
    let problem = Problem {
        kernel: args.kernel.unwrap_or(default_kernel),
        sigma: args.sigma.unwrap_or(0.1),
        alpha: args.alpha.unwrap_or(default_alpha),
        cg: solver(args),
        accept_unconverged: args.accept_unconverged,
        x: View::new(&xt, dim)?,
        b: View::new(&bt, 1)?,
        t: Some(View::new(&tt, dim)?),
        product: args.product.unwrap_or(Product::Auto),
        hierarchical: hierarchical_params(args, &need(args, n, dim)),
    };
    let mut on_solved = |sol: &Solution<T>, seconds: f64| {
        report_solve(sol, seconds, n, dim);
        Ok(())
    };
    let Some((pred, seconds)) = fit(&problem, &mut on_solved)? else {
        return Ok(());
    };
    report_prediction(t.len() / dim, seconds);
    let mean: Vec<f64> = pred.as_slice().iter().map(|v| v.to_f64()).collect();
    draw(dim, out, &x, &b, &t, &mean, None)
}

/// One problem of the tutorial with a Gaussian process: the hyperparameters fitted (the kernel
/// of `--kernel`, or the problem's), the posterior mean and variance at the prediction points,
/// and the figures: in 1D the mean with a band of +-2 standard deviations, in 2D the mean and a
/// map of the standard deviation.
fn fitted(args: &Args, dim: usize, n: usize, out: &Path) -> Result<(), Failure> {
    let (x, b) = tutorial_data(dim, n);
    let kernel = args.kernel.unwrap_or(if dim == 1 {
        Kernel::Gaussian
    } else {
        Kernel::Laplacian
    });
    let t = targets(dim);
    let (xv, bv, tv) = (View::new(&x, dim)?, View::new(&b, 1)?, View::new(&t, dim)?);
    let gp = gpr::fit(kernel, args.mean, &xv, &bv)?;
    let start = Instant::now();
    let posterior = gpr::condition(&gp, &xv, &bv)?;
    let mean = posterior.predict(tv.reborrow()).map_err(gpr::failure)?;
    say!(
        "Time to condition on {} samples and predict at {} points: {:.5}s",
        thousands(n),
        thousands(tv.rows()),
        start.elapsed().as_secs_f64()
    );
    let var = gpr::variance(&posterior, n, &tv)?;
    let std: Vec<f64> = var.iter().map(|v| v.sqrt()).collect();
    draw(dim, out, &x, &b, &t, mean.as_slice(), Some(&std))?;
    if dim == 2 {
        let path = out.join("kriging_2d_std.png");
        plot::plot_std(&path, &std, GRID).map_err(|e| drawing(&path, e))?;
        say!("Wrote {}", path.display());
    }
    Ok(())
}

/// The tutorial's figure for `dim`, written to `out/kriging_{dim}d.png`; in 1D with the band
/// `mean +- 2 std` where `std` is given.
fn draw(
    dim: usize,
    out: &Path,
    x: &[f64],
    b: &[f64],
    t: &[f64],
    mean: &[f64],
    std: Option<&[f64]>,
) -> Result<(), Failure> {
    let path = out.join(format!("kriging_{dim}d.png"));
    let drawn = if dim == 1 {
        plot::plot_1d(&path, x, b, t, mean, std)
    } else {
        let points: Vec<[f64; 2]> = x.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
        plot::plot_2d(&path, &points, b, mean, GRID)
    };
    drawn.map_err(|e| drawing(&path, e))?;
    say!("Wrote {}", path.display());
    Ok(())
}

/// A figure that could not be drawn or written.
fn drawing(path: &Path, e: Box<dyn std::error::Error>) -> Failure {
    Failure::Output(format!("cannot draw {}: {e}", path.display()))
}
