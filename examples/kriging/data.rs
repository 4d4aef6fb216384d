//! A run on the user's `.npy` files: every check first (paths, memory, shapes, finite values),
//! then the solve (with `--fit`, the hyperparameters' fit and the Gaussian process' posterior),
//! the coefficients written, the prediction, its file, and the posterior variance's.

use std::path::Path;
use std::time::Instant;

use keops::prelude::*;

use crate::cli::Product;
use crate::cli::{Args, Kernel};
use crate::memory::{self, Need};
use crate::{
    fit, gpr, hierarchical_params, npy, paths, report_prediction, report_solve, solver, thousands,
    Failure, Problem,
};

/// Sizes of a run: `n` points of dimension `d`, `k` value columns, `m` prediction points.
struct Shape {
    n: usize,
    d: usize,
    k: usize,
    m: usize,
}

/// Runs `--x X.npy --b B.npy [--t T.npy] --save-a A.npy [--save-pred P.npy] [--save-var V.npy]
/// [--fit]`.
pub fn run(args: &Args) -> Result<(), Failure> {
    paths::check(args)?;
    let inputs = [("--x", &args.x), ("--b", &args.b), ("--t", &args.t)];
    let files: Vec<(&str, &Path)> = inputs
        .iter()
        .filter_map(|&(flag, p)| p.as_deref().map(|p| (flag, p)))
        .collect();
    file_memory(&files)?;
    let mut arrays = Vec::new();
    for (flag, path) in files {
        arrays.push(load(flag, path)?);
    }
    let (x, b, t) = (&arrays[0], &arrays[1], arrays.get(2));
    let shape = check_shapes(x, b, t)?;
    for (flag, name, a) in [
        ("--x", "X", Some(x)),
        ("--b", "B", Some(b)),
        ("--t", "T", t),
    ] {
        if let Some(a) = a {
            check_finite(flag, name, a)?;
        }
    }
    let single = matches!(x.data, npy::Data::F32(_));
    match (single, args.fit) {
        (true, false) => solve::<f32>(args, x, b, t, &shape),
        (true, true) => fitted::<f32>(args, x, b, t, &shape),
        (false, false) => solve::<f64>(args, x, b, t, &shape),
        (false, true) => fitted::<f64>(args, x, b, t, &shape),
    }
}

/// Reading a file takes its bytes and its values: refuse files too large for that up front.
fn file_memory(files: &[(&str, &Path)]) -> Result<(), Failure> {
    let size: u64 = files
        .iter()
        .filter_map(|(_, p)| p.metadata().ok())
        .map(|m| m.len())
        .sum();
    Need {
        inputs: 2.0 * size as f64,
        ..Need::default()
    }
    .check()
}

/// An array read from a user's file, with its name for messages.
fn load(flag: &str, path: &Path) -> Result<npy::Array, Failure> {
    npy::read(path).map_err(|e| Failure::Input(format!("{flag} {}: {e}", path.display())))
}

/// `(rows, columns)` of a 1D `(n,)` or 2D `(n, c)` array.
fn matrix_shape(flag: &str, what: &str, a: &npy::Array) -> Result<(usize, usize), Failure> {
    match a.shape[..] {
        [n] => Ok((n, 1)),
        [n, c] => Ok((n, c)),
        _ => Err(Failure::Input(format!(
            "{flag}: {what} must have shape (n,) or (n, {}), not {:?}",
            if what == "B" { "k" } else { "d" },
            a.shape
        ))),
    }
}

/// The run's sizes, with X, B and T consistent and non-empty.
fn check_shapes(x: &npy::Array, b: &npy::Array, t: Option<&npy::Array>) -> Result<Shape, Failure> {
    let fail = |m: String| Err(Failure::Input(m));
    let (n, d) = matrix_shape("--x", "X", x)?;
    let (nb, k) = matrix_shape("--b", "B", b)?;
    if n == 0 || d == 0 {
        return fail(format!("--x: X has shape {:?}: no points", x.shape));
    }
    if nb != n {
        return fail(format!(
            "--b: B has {nb} rows (shape {:?}) but X has {n} points (shape {:?})",
            b.shape, x.shape
        ));
    }
    if k == 0 {
        return fail(format!("--b: B has shape {:?}: no columns", b.shape));
    }
    let Some(t) = t else {
        return Ok(Shape { n, d, k, m: 0 });
    };
    let (m, dt) = matrix_shape("--t", "T", t)?;
    if dt != d {
        return fail(format!(
            "--t: T has points of dimension {dt} (shape {:?}) but X's have dimension {d} \
             (shape {:?})",
            t.shape, x.shape
        ));
    }
    if m == 0 {
        return fail(format!("--t: T has shape {:?}: no points", t.shape));
    }
    Ok(Shape { n, d, k, m })
}

/// NaN or infinity anywhere would poison every result: name the first one.
fn check_finite(flag: &str, name: &str, a: &npy::Array) -> Result<(), Failure> {
    let bad = match &a.data {
        npy::Data::F32(v) => v
            .iter()
            .position(|v| !v.is_finite())
            .map(|k| (k, v[k] as f64)),
        npy::Data::F64(v) => v.iter().position(|v| !v.is_finite()).map(|k| (k, v[k])),
    };
    let cols = a.shape.get(1).copied().unwrap_or(1).max(1);
    match bad {
        Some((k, v)) => Err(Failure::Input(format!(
            "{flag}: {name} holds {v} at row {}, column {}: remove or fill such values first",
            k / cols,
            k % cols
        ))),
        None => Ok(()),
    }
}

/// The memory of the whole run in precision `T`, the arrays as read included.
fn need<T>(args: &Args, s: &Shape, read: &[&npy::Array]) -> Need {
    let size = std::mem::size_of::<T>();
    let as_read: f64 = read.iter().map(|a| a.data.len() as f64 * 8.0).sum();
    let values = (s.n * s.d) as f64 + s.n as f64 * s.k as f64 + s.m as f64 * s.d as f64;
    Need {
        inputs: as_read + values * size as f64,
        solver: memory::solver(s.n, s.k, size),
        preconditioner: memory::preconditioner(args.precond, args.rank, s.n),
        prediction: memory::prediction(s.m, s.k, size),
    }
}

fn values<T: Real>(a: &npy::Array) -> Vec<T> {
    match &a.data {
        npy::Data::F32(v) => v.iter().map(|&x| T::from_f64(x as f64)).collect(),
        npy::Data::F64(v) => v.iter().map(|&x| T::from_f64(x)).collect(),
    }
}

/// Writes `rows` as a `.npy` file and says so.
fn save<T: Real + npy::Element>(flag: &str, path: &Path, rows: &Rows<T>) -> Result<(), Failure> {
    write(flag, path, &[rows.rows(), rows.dim()], rows.as_slice())
}

/// Writes f64 `values` in the precision `T` with `shape` as a `.npy` file and says so.
fn save_as<T: Real + npy::Element>(
    flag: &str,
    path: &Path,
    values: &[f64],
    shape: &[usize],
) -> Result<(), Failure> {
    let cast: Vec<T> = values.iter().map(|&v| T::from_f64(v)).collect();
    write(flag, path, shape, &cast)
}

/// Writes `values` with `shape` as a `.npy` file and says so (`Wrote P.npy (m x k, f32)`).
fn write<T: Real + npy::Element>(
    flag: &str,
    path: &Path,
    shape: &[usize],
    values: &[T],
) -> Result<(), Failure> {
    npy::write(path, shape, values)
        .map_err(|e| Failure::Output(format!("{flag} {}: {e}", path.display())))?;
    let shape: Vec<String> = shape.iter().map(usize::to_string).collect();
    say!(
        "Wrote {} ({}, {})",
        path.display(),
        shape.join(" x "),
        T::NAME
    );
    Ok(())
}

/// The Gaussian process' memory on top of the arrays as read.
fn gp_need(s: &Shape, read: &[&npy::Array]) -> Need {
    let mut need = gpr::need(s.n, s.d, s.k, s.m);
    need.inputs += read.iter().map(|a| a.data.len() as f64 * 8.0).sum::<f64>();
    need
}

/// `--fit`: the hyperparameters fitted on X and B (the columns of B share them), the posterior
/// with them, and its coefficients, mean (the constant mean included) and variance written in
/// X's precision `T`.
fn fitted<T: Real + npy::Element>(
    args: &Args,
    x: &npy::Array,
    b: &npy::Array,
    t: Option<&npy::Array>,
    s: &Shape,
) -> Result<(), Failure> {
    let read: Vec<&npy::Array> = [Some(x), Some(b), t].into_iter().flatten().collect();
    gp_need(s, &read).check()?;
    let (xv, bv) = (x.data.to_f64(), b.data.to_f64());
    let tv = t.map(|t| t.data.to_f64());
    let (xw, bw) = (View::new(&xv, s.d)?, View::new(&bv, s.k)?);
    let gp = gpr::fit(args.kernel.unwrap_or(Kernel::Gaussian), args.mean, &xw, &bw)?;
    let start = Instant::now();
    let posterior = gpr::condition(&gp, &xw, &bw)?;
    say!(
        "Time to condition the Gaussian process on {} samples: {:.5}s",
        thousands(s.n),
        start.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.save_a {
        let a: Vec<f64> = (0..s.n)
            .flat_map(|i| (0..s.k).map(move |c| (i, c)))
            .map(|(i, c)| posterior.coefficients(c)[i])
            .collect();
        save_as::<T>("--save-a", path, &a, &[s.n, s.k])?;
    }
    let Some(tv) = &tv else { return Ok(()) };
    let tw = View::new(tv, s.d)?;
    let start = Instant::now();
    let pred = posterior.predict(tw.reborrow()).map_err(gpr::failure)?;
    report_prediction(s.m, start.elapsed().as_secs_f64());
    if let Some(path) = &args.save_pred {
        save_as::<T>("--save-pred", path, pred.as_slice(), &[s.m, s.k])?;
    }
    if let Some(path) = &args.save_var {
        let var = gpr::variance(&posterior, s.n, &tw)?;
        save_as::<T>("--save-var", path, &var, &[s.m])?;
    }
    Ok(())
}

/// `--save-var` without `--fit`: the posterior variance at T of the tool's own Gaussian process
/// (the kernel of `--kernel` with lengthscale sigma, signal variance 1, noise variance alpha),
/// whose posterior mean is the tool's prediction.
fn tool_variance<T: Real + npy::Element>(
    args: &Args,
    path: &Path,
    x: &npy::Array,
    t: &npy::Array,
    s: &Shape,
) -> Result<(), Failure> {
    let (xv, tv) = (x.data.to_f64(), t.data.to_f64());
    let (xw, tw) = (View::new(&xv, s.d)?, View::new(&tv, s.d)?);
    let gp = gpr::tool_process(
        args.kernel.unwrap_or(Kernel::Gaussian),
        args.sigma.unwrap_or(0.1),
        args.alpha.unwrap_or(1.0),
    );
    // The variance does not depend on the values: conditioning on zeros skips B's solves.
    let zeros = vec![0.0; s.n];
    let posterior = gpr::condition(&gp, &xw, &View::new(&zeros, 1)?)?;
    let var = gpr::variance(&posterior, s.n, &tw)?;
    save_as::<T>("--save-var", path, &var, &[s.m])
}

fn solve<T: Real + npy::Element>(
    args: &Args,
    x: &npy::Array,
    b: &npy::Array,
    t: Option<&npy::Array>,
    s: &Shape,
) -> Result<(), Failure> {
    let read: Vec<&npy::Array> = [Some(x), Some(b), t].into_iter().flatten().collect();
    let mut need = need::<T>(args, s, &read);
    if args.save_var.is_some() {
        // The Gaussian process of the variance, alive with the rest of the run.
        need += gpr::need(s.n, s.d, 1, s.m);
    }
    need.check()?;
    let (xv, bv) = (values::<T>(x), values::<T>(b));
    let tv = t.map(values::<T>);
    let problem = Problem {
        kernel: args.kernel.unwrap_or(Kernel::Gaussian),
        sigma: args.sigma.unwrap_or(0.1),
        alpha: args.alpha.unwrap_or(1.0),
        cg: solver(args),
        accept_unconverged: args.accept_unconverged,
        x: View::new(&xv, s.d)?,
        b: View::new(&bv, s.k)?,
        t: tv.as_ref().map(|t| View::new(t, s.d)).transpose()?,
        product: args.product.unwrap_or(Product::Auto),
        hierarchical: hierarchical_params(args, &need),
    };
    let mut on_solved = |sol: &Solution<T>, seconds: f64| {
        report_solve(sol, seconds, s.n, s.d);
        match &args.save_a {
            Some(p) => save("--save-a", p, &sol.coefficients),
            None => Ok(()),
        }
    };
    let Some((pred, seconds)) = fit(&problem, &mut on_solved)? else {
        return Ok(());
    };
    report_prediction(s.m, seconds);
    if let Some(p) = &args.save_pred {
        save("--save-pred", p, &pred)?;
    }
    match (&args.save_var, t) {
        (Some(path), Some(t)) => tool_variance::<T>(args, path, x, t, s),
        _ => Ok(()),
    }
}
