//! Kernel interpolation (kriging, Gaussian-process regression), after KeOps' tutorial "Kernel
//! interpolation - PyTorch API": solve `(alpha I + K_xx) a = b` matrix-free by conjugate gradient,
//! then predict `K_tx a` at new points. Memory stays linear in the number of points.
//!
//! ```text
//! cargo run --release --example kriging                 # the tutorial: 1D and 2D, N = 10,000, f32
//! cargo run --release --example kriging -- --dim 2 --n 50000 --f64 --out figures
//! cargo run --release --example kriging -- --x X.npy --b B.npy --t T.npy --save-a A.npy --save-pred P.npy
//! ```
//! Run with `--help` for every flag. The demo writes `kriging_1d.png` and `kriging_2d.png`.

#[allow(dead_code)] // best_of is for the benchmarks
mod common;
#[path = "common/npy.rs"]
mod npy;
#[path = "common/plot.rs"]
mod plot;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use common::tutorial_data;
use keops::prelude::*;

const USAGE: &str = "\
Kernel interpolation (kriging): solve (alpha I + K_xx) a = b by conjugate gradient, predict K_tx a.

USAGE:
    kriging [--n N] [--dim 1|2] [--f64] [--out DIR]
        The KeOps tutorial on random data: 1D with a Gaussian kernel (alpha 1), 2D with a Laplacian
        kernel (alpha 10); writes DIR/kriging_1d.png and DIR/kriging_2d.png.
    kriging --x X.npy --b B.npy [--t T.npy] --save-a A.npy [--save-pred P.npy]
        Your data: X (n, d) or (n,), B (n, k) or (n,), T (m, d); float32 or float64 .npy files
        (little-endian, C order). The solve runs in X's precision and writes A (n, k) = the
        coefficients, P (m, k) = K_tx a, in that precision.

OPTIONS:
    --n N              demo: number of samples (default 10000)
    --dim 1|2          demo: run only the 1D or the 2D problem (default: both)
    --f64              demo: compute in f64 instead of f32
    --out DIR          demo: where the PNGs go (default target/kriging; created)
    --kernel NAME      gaussian: exp(-|x-y|^2 / (2 sigma^2)), or laplacian: exp(-|x-y| / sigma)
                       (default gaussian; the demo's 2D problem defaults to laplacian)
    --sigma S          kernel width (default 0.1)
    --alpha A          ridge regularisation, >= 0 (default 1; the demo's 2D problem: 10)
    --tol TOL          conjugate gradient: relative residual to reach (default 1e-6)
    --max-iter N       conjugate gradient: iteration cap (default 1000)
    --precond P        preconditioner: auto (default: Nyström with greedy landmarks and an
                       automatic rank, or none when it would not pay), off, jacobi, greedy
                       (Nyström, greedy pivoted Cholesky landmarks) or uniform (Nyström, landmarks
                       drawn uniformly, seed 0)
    --rank M           greedy / uniform: number of landmarks (default: chosen from n)
    -h, --help         this message";

/// Seeds of the demo's data, one per problem so that `--dim 2` draws the same data as a full run.
/// The 2D demo predicts on a `GRID x GRID` grid of the unit square.
const GRID: usize = 101;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
    Gaussian,
    Laplacian,
}

#[derive(Debug, Default)]
struct Args {
    n: Option<usize>,
    dim: Option<usize>,
    f64: bool,
    out: Option<PathBuf>,
    x: Option<PathBuf>,
    b: Option<PathBuf>,
    t: Option<PathBuf>,
    save_a: Option<PathBuf>,
    save_pred: Option<PathBuf>,
    kernel: Option<Kernel>,
    sigma: Option<f64>,
    alpha: Option<f64>,
    tol: Option<f64>,
    max_iter: Option<usize>,
    precond: Option<String>,
    rank: Option<usize>,
}

/// Why the example stopped: exit code 2 for what the user gave (flags, files, data), 1 for a
/// failure to write results.
#[derive(Debug)]
enum Failure {
    Input(String),
    Output(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Input(m) | Failure::Output(m) => f.write_str(m),
        }
    }
}

impl From<KeopsError> for Failure {
    fn from(e: KeopsError) -> Self {
        Failure::Input(e.to_string())
    }
}

fn input<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Input(msg.into()))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kriging: {e}\nRun with --help for the usage.");
            return ExitCode::from(2);
        }
    };
    let result = if args.x.is_some() {
        run_data(&args)
    } else {
        run_demo(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kriging: {e}");
            ExitCode::from(match e {
                Failure::Input(_) => 2,
                Failure::Output(_) => 1,
            })
        }
    }
}

/// The flags, or `None` for `--help`.
fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, Failure> {
    fn number<N: std::str::FromStr>(flag: &str, v: &str) -> Result<N, Failure> {
        // Accept 10000, 10_000 and 10,000.
        v.replace(['_', ','], "")
            .parse()
            .or_else(|_| input(format!("{flag}: cannot read '{v}' as a number")))
    }
    fn positive(flag: &str, v: f64) -> Result<f64, Failure> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            input(format!("{flag} must be a positive number, not {v}"))
        }
    }
    let mut a = Args::default();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--f64" {
            a.f64 = true;
            continue;
        }
        let Some(v) = it.next() else {
            return match flag.as_str() {
                "--n" | "--dim" | "--out" | "--x" | "--b" | "--t" | "--save-a" | "--save-pred"
                | "--kernel" | "--sigma" | "--alpha" | "--tol" | "--max-iter" | "--precond"
                | "--rank" => input(format!("{flag} needs a value")),
                _ => input(format!("unknown flag '{flag}'")),
            };
        };
        match flag.as_str() {
            "--n" => match number(&flag, &v)? {
                0 => return input("--n must be at least 1"),
                n => a.n = Some(n),
            },
            "--dim" => match v.as_str() {
                "1" => a.dim = Some(1),
                "2" => a.dim = Some(2),
                _ => return input(format!("--dim must be 1 or 2, not '{v}'")),
            },
            "--out" => a.out = Some(v.into()),
            "--x" => a.x = Some(v.into()),
            "--b" => a.b = Some(v.into()),
            "--t" => a.t = Some(v.into()),
            "--save-a" => a.save_a = Some(v.into()),
            "--save-pred" => a.save_pred = Some(v.into()),
            "--kernel" => {
                a.kernel = Some(match v.to_ascii_lowercase().as_str() {
                    "gaussian" | "gauss" => Kernel::Gaussian,
                    "laplacian" | "laplace" | "exponential" => Kernel::Laplacian,
                    _ => {
                        return input(format!("--kernel must be gaussian or laplacian, not '{v}'"))
                    }
                })
            }
            "--sigma" => a.sigma = Some(positive(&flag, number(&flag, &v)?)?),
            "--alpha" => {
                let alpha: f64 = number(&flag, &v)?;
                if !(alpha.is_finite() && alpha >= 0.0) {
                    return input(format!("--alpha must be a number >= 0, not {v}"));
                }
                a.alpha = Some(alpha);
            }
            "--tol" => a.tol = Some(positive(&flag, number(&flag, &v)?)?),
            "--max-iter" => match number(&flag, &v)? {
                0 => return input("--max-iter must be at least 1"),
                n => a.max_iter = Some(n),
            },
            "--precond" => match v.as_str() {
                "auto" | "off" | "jacobi" | "greedy" | "uniform" => a.precond = Some(v),
                _ => {
                    return input(format!(
                        "--precond must be auto, off, jacobi, greedy or uniform, not '{v}'"
                    ))
                }
            },
            "--rank" => match number(&flag, &v)? {
                0 => return input("--rank must be at least 1"),
                m => a.rank = Some(m),
            },
            _ => return input(format!("unknown flag '{flag}'")),
        }
    }
    if a.rank.is_some() && !matches!(a.precond.as_deref(), Some("greedy" | "uniform")) {
        return input("--rank needs --precond greedy or --precond uniform");
    }
    if a.x.is_some() {
        for (given, flag) in [
            (a.n.is_some(), "--n"),
            (a.dim.is_some(), "--dim"),
            (a.out.is_some(), "--out"),
            (a.f64, "--f64"),
        ] {
            if given {
                return input(format!(
                    "{flag} is for the demo; with --x the data's own size, dimension and precision \
                     are used (convert X with x.astype(np.float64) to solve in f64)"
                ));
            }
        }
        if a.b.is_none() {
            return input("--x needs --b B.npy, the values at the points");
        }
        if a.save_a.is_none() {
            return input("--x needs --save-a A.npy, where to write the coefficients");
        }
        if a.save_pred.is_some() && a.t.is_none() {
            return input("--save-pred needs --t T.npy, the points to predict at");
        }
    } else {
        for (given, flag) in [
            (a.b.is_some(), "--b"),
            (a.t.is_some(), "--t"),
            (a.save_a.is_some(), "--save-a"),
            (a.save_pred.is_some(), "--save-pred"),
        ] {
            if given {
                return input(format!("{flag} needs --x X.npy"));
            }
        }
    }
    Ok(Some(a))
}

fn solver(args: &Args) -> ConjugateGradient {
    let mut cg = ConjugateGradient::new();
    if let Some(tol) = args.tol {
        cg = cg.tolerance(tol);
    }
    if let Some(max) = args.max_iter {
        cg = cg.max_iterations(max);
    }
    let nystrom = |landmarks| {
        let nys = Nystrom::new().landmarks(landmarks);
        Preconditioning::Nystrom(match args.rank {
            Some(m) => nys.rank(m),
            None => nys,
        })
    };
    cg.preconditioning(match args.precond.as_deref() {
        None | Some("auto") => Preconditioning::Auto,
        Some("off") => Preconditioning::Off,
        Some("jacobi") => Preconditioning::Jacobi,
        Some("greedy") => nystrom(Landmarks::Greedy),
        _ => nystrom(Landmarks::Uniform { seed: 0 }),
    })
}

/// `12345` as `12,345`, like Python's `{:,}`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A solve and, where `t` is given, a prediction: the coefficients `a`, `K_tx a`, and timings.
struct Fit<T> {
    a: Rows<T>,
    pred: Option<Rows<T>>,
    /// Seconds to build `K_xx` and solve, as the tutorial times it.
    fit_s: f64,
    /// Seconds to build `K_tx` and multiply.
    pred_s: f64,
    iterations: usize,
    residual: f64,
    /// The preconditioner, its rank (Nyström landmarks), setup and iteration seconds.
    preconditioner: &'static str,
    rank: usize,
    setup_s: f64,
    iterate_s: f64,
}

/// Solves `(alpha I + K_xx) a = b` and predicts `K_tx a`. A solve that stops short of the
/// tolerance is reported on stderr and its last iterate used.
#[allow(clippy::too_many_arguments)]
fn fit<T: Real>(
    kernel: Kernel,
    sigma: f64,
    alpha: f64,
    cg: &ConjugateGradient,
    x: View<'_, T>,
    b: View<'_, T>,
    t: Option<View<'_, T>>,
) -> Result<Fit<T>, KeopsError> {
    let s = sigma;
    // The two kernels are two types: the same steps for each.
    macro_rules! steps {
        ($k:expr) => {{
            let start = Instant::now();
            let kxx = $k.x_i(x.reborrow()).y_j(x.reborrow()).matrix()?;
            let sol = match kxx.solve_with(cg, b.reborrow(), alpha) {
                Ok(sol) => sol,
                Err(SolveError::NotConverged { solution, .. }) => {
                    eprintln!(
                        "warning: conjugate gradient stopped at relative residual {:.2e} after {} \
                         iterations, above the tolerance {:.1e}; using that iterate (see --tol, \
                         --max-iter)",
                        solution.residual,
                        solution.iterations,
                        cg.get_tolerance()
                    );
                    *solution
                }
                Err(SolveError::Failed(e)) => return Err(e),
            };
            let fit_s = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let pred = match t {
                Some(t) => Some(
                    $k.x_i(t)
                        .y_j(x.reborrow())
                        .matrix()?
                        .matvec(&sol.coefficients)?,
                ),
                None => None,
            };
            Ok(Fit {
                a: sol.coefficients,
                pred,
                fit_s,
                pred_s: start.elapsed().as_secs_f64(),
                iterations: sol.iterations,
                residual: sol.residual,
                preconditioner: sol.preconditioner,
                rank: sol.rank,
                setup_s: sol.setup_time.as_secs_f64(),
                iterate_s: sol.iteration_time.as_secs_f64(),
            })
        }};
    }
    match kernel {
        Kernel::Gaussian => {
            let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
            steps!(gauss)
        }
        Kernel::Laplacian => {
            let laplace = kernel!(exp(-norm(x_i - y_j) / s));
            steps!(laplace)
        }
    }
}

fn report<T>(fit: &Fit<T>, n: usize, dim: usize, m: usize) {
    println!(
        "Time to perform an RBF interpolation with {} samples in {dim}D: {:.5}s",
        thousands(n),
        fit.fit_s
    );
    println!(
        "Conjugate gradient: {} iterations, relative residual {:.2e}",
        fit.iterations, fit.residual
    );
    let precond = match fit.preconditioner {
        "nystrom" => format!("Nyström, m = {} landmarks", fit.rank),
        "none" => "none".to_string(),
        other => other.to_string(),
    };
    println!(
        "Preconditioner: {precond} (setup {:.4}s, iterations {:.4}s)",
        fit.setup_s, fit.iterate_s
    );
    if fit.pred.is_some() {
        println!(
            "Time to predict at {} points: {:.5}s",
            thousands(m),
            fit.pred_s
        );
    }
}

fn to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn linspace(n: usize) -> Vec<f64> {
    (0..n).map(|k| k as f64 / (n - 1) as f64).collect()
}

fn run_demo(args: &Args) -> Result<(), Failure> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/kriging"));
    std::fs::create_dir_all(&out)
        .map_err(|e| Failure::Output(format!("cannot create {}: {e}", out.display())))?;
    let n = args.n.unwrap_or(10_000);
    for dim in [1, 2] {
        if args.dim.is_none_or(|d| d == dim) {
            if args.f64 {
                demo::<f64>(args, dim, n, &out)?;
            } else {
                demo::<f32>(args, dim, n, &out)?;
            }
        }
    }
    Ok(())
}

fn demo<T: Real>(args: &Args, dim: usize, n: usize, out: &Path) -> Result<(), Failure> {
    let (x, b) = tutorial_data(dim, n);
    let (default_kernel, default_alpha) = if dim == 1 {
        (Kernel::Gaussian, 1.0)
    } else {
        (Kernel::Laplacian, 10.0)
    };
    // The prediction points: linspace(0, 1, 1001), or the 101 x 101 grid in meshgrid 'ij' order
    // (t[i * 101 + j] = (lin[i], lin[j])) as in the tutorial.
    let t: Vec<f64> = if dim == 1 {
        linspace(1001)
    } else {
        let lin = linspace(GRID);
        lin.iter()
            .flat_map(|&u| lin.iter().flat_map(move |&v| [u, v]))
            .collect()
    };
    let cast = |v: &[f64]| -> Vec<T> { v.iter().map(|&v| T::from_f64(v)).collect() };
    let (xt, bt, tt) = (cast(&x), cast(&b), cast(&t));
    let fit = fit(
        args.kernel.unwrap_or(default_kernel),
        args.sigma.unwrap_or(0.1),
        args.alpha.unwrap_or(default_alpha),
        &solver(args),
        View::new(&xt, dim)?,
        View::new(&bt, 1)?,
        Some(View::new(&tt, dim)?),
    )?;
    report(&fit, n, dim, t.len() / dim);

    let mean = to_f64(fit.pred.as_ref().expect("predicted at t"));
    let path = out.join(format!("kriging_{dim}d.png"));
    let drawn = if dim == 1 {
        plot::plot_1d(&path, &x, &b, &t, &mean)
    } else {
        let points: Vec<[f64; 2]> = x.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
        plot::plot_2d(&path, &points, &b, &mean, GRID)
    };
    drawn.map_err(|e| Failure::Output(format!("cannot draw {}: {e}", path.display())))?;
    println!("Wrote {}", path.display());
    Ok(())
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
        _ => input(format!(
            "{flag}: {what} must have shape (n,) or (n, {}), not {:?}",
            if what.starts_with('X') { "d" } else { "k" },
            a.shape
        )),
    }
}

/// NaN or infinity anywhere would poison every result: name the first one.
fn check_finite(flag: &str, name: &str, a: &npy::Array) -> Result<(), Failure> {
    let v = a.data.to_f64();
    let cols = a.shape.get(1).copied().unwrap_or(1).max(1);
    match v.iter().position(|v| !v.is_finite()) {
        Some(k) => input(format!(
            "{flag}: {name} holds {} at row {}, column {}: remove or fill such values first",
            v[k],
            k / cols,
            k % cols
        )),
        None => Ok(()),
    }
}

fn values<T: Real>(a: &npy::Array) -> Vec<T> {
    match &a.data {
        npy::Data::F32(v) => v.iter().map(|&x| T::from_f64(x as f64)).collect(),
        npy::Data::F64(v) => v.iter().map(|&x| T::from_f64(x)).collect(),
    }
}

fn run_data(args: &Args) -> Result<(), Failure> {
    // Checked by `parse`: --x, --b and --save-a are given.
    let path = |p: &Option<PathBuf>| p.clone().expect("checked by parse");
    // Catch a mistyped output folder before the solve rather than after it.
    for (flag, p) in [("--save-a", &args.save_a), ("--save-pred", &args.save_pred)] {
        if let Some(dir) = p.as_ref().and_then(|p| p.parent()) {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                return input(format!("{flag}: no folder {}", dir.display()));
            }
        }
    }
    let x = load("--x", &path(&args.x))?;
    let b = load("--b", &path(&args.b))?;
    let t = match &args.t {
        Some(p) => Some(load("--t", p)?),
        None => None,
    };
    let (n, d) = matrix_shape("--x", "X", &x)?;
    let (nb, k) = matrix_shape("--b", "B", &b)?;
    if n == 0 || d == 0 {
        return input(format!("--x: X has shape {:?}: no points", x.shape));
    }
    if nb != n {
        return input(format!(
            "--b: B has {nb} rows (shape {:?}) but X has {n} points (shape {:?})",
            b.shape, x.shape
        ));
    }
    if k == 0 {
        return input(format!("--b: B has shape {:?}: no columns", b.shape));
    }
    if let Some(t) = &t {
        let (m, dt) = matrix_shape("--t", "T", t)?;
        if dt != d {
            return input(format!(
                "--t: T has points of dimension {dt} (shape {:?}) but X's have dimension {d} \
                 (shape {:?})",
                t.shape, x.shape
            ));
        }
        if m == 0 {
            return input(format!("--t: T has shape {:?}: no points", t.shape));
        }
    }
    for (flag, name, a) in [
        ("--x", "X", Some(&x)),
        ("--b", "B", Some(&b)),
        ("--t", "T", t.as_ref()),
    ] {
        if let Some(a) = a {
            check_finite(flag, name, a)?;
        }
    }
    match x.data {
        npy::Data::F32(_) => solve_data::<f32>(args, &x, &b, t.as_ref(), d, k),
        npy::Data::F64(_) => solve_data::<f64>(args, &x, &b, t.as_ref(), d, k),
    }
}

fn solve_data<T: Real + npy::Element>(
    args: &Args,
    x: &npy::Array,
    b: &npy::Array,
    t: Option<&npy::Array>,
    d: usize,
    k: usize,
) -> Result<(), Failure> {
    let (xv, bv) = (values::<T>(x), values::<T>(b));
    let tv = t.map(values::<T>);
    let fit = fit(
        args.kernel.unwrap_or(Kernel::Gaussian),
        args.sigma.unwrap_or(0.1),
        args.alpha.unwrap_or(1.0),
        &solver(args),
        View::new(&xv, d)?,
        View::new(&bv, k)?,
        tv.as_ref().map(|t| View::new(t, d)).transpose()?,
    )?;
    let n = xv.len() / d;
    report(&fit, n, d, tv.as_ref().map_or(0, |t| t.len() / d));
    let save = |flag: &str, path: &Path, rows: &Rows<T>| -> Result<(), Failure> {
        npy::write(path, &[rows.rows(), rows.dim()], rows.as_slice())
            .map_err(|e| Failure::Output(format!("{flag} {}: {e}", path.display())))?;
        println!(
            "Wrote {} ({} x {}, {})",
            path.display(),
            rows.rows(),
            rows.dim(),
            T::NAME
        );
        Ok(())
    };
    if let Some(p) = &args.save_a {
        save("--save-a", p, &fit.a)?;
    }
    if let (Some(p), Some(pred)) = (&args.save_pred, &fit.pred) {
        save("--save-pred", p, pred)?;
    }
    Ok(())
}
