//! Kernel interpolation (kriging, Gaussian-process regression), after KeOps' tutorial "Kernel
//! interpolation - PyTorch API": solve `(alpha I + K_xx) a = b` matrix-free by conjugate gradient,
//! then predict `K_tx a` at new points. Memory stays linear in the number of points.
//!
//! ```text
//! cargo run --release --example kriging                 # the tutorial: 1D and 2D, N = 10,000, f32
//! cargo run --release --example kriging -- --dim 2 --n 50000 --f64 --out figures
//! cargo run --release --example kriging -- --dim 2 --n 100000 --product hierarchical
//! cargo run --release --example kriging -- --x X.npy --b B.npy --t T.npy --save-a A.npy --save-pred P.npy
//! cargo run --release --example kriging -- --fit        # Gaussian-process regression
//! cargo run --release --example kriging -- --fit --mean constant --x X.npy --b B.npy --t T.npy \
//!     --save-a A.npy --save-pred P.npy --save-var V.npy
//! ```
//! Run with `--help` for every flag and the exit codes. The demo writes `kriging_1d.png` and
//! `kriging_2d.png`, and with `--fit` `kriging_2d_std.png` (the posterior standard deviation).

#[allow(dead_code)] // best_of is for the benchmarks
#[path = "../common/mod.rs"]
mod common;
#[path = "../common/npy.rs"]
mod npy;
#[path = "../common/plot.rs"]
mod plot;

/// `println!` that ignores a closed stdout (`kriging | head`): the report is for reading, the
/// results are in files, so a reader that stops early is not an error (nor a panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod cli;
mod data;
mod demo;
mod gpr;
mod memory;
mod paths;
mod progress;

use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Instant;

use keops::prelude::*;
use keops::{HierarchicalError, HierarchicalInfo};

use cli::{Args, Kernel, Precond, Product};
use progress::Progress;

/// The number of points from which `--product auto` picks hierarchical products (for points in 1
/// to 3 dimensions): the measured crossover, where a hierarchical solve (its build included)
/// starts to beat the exact one (the tutorial's problems, f32, Intel Xeon AVX-512, 2 cores: at
/// 5,000 points 0.051 s against 0.071 s in 2D, 0.022 s against 0.027 s in 1D; at 3,000 one 1D
/// product is still faster exact). BENCHMARKS.md, "Hierarchical products".
pub const HIERARCHICAL_FROM: usize = 5_000;

/// Why the tool stopped; each kind has its exit code (listed in `--help`).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A result could not be written: exit code 1.
    #[error("{0}")]
    Output(String),
    /// Invalid flags or input data: exit code 2.
    #[error("{0}")]
    Input(String),
    /// The solve stopped short of the tolerance: exit code 3.
    #[error("{0}")]
    NotConverged(String),
    /// The run needs more memory than there is: exit code 4.
    #[error("{0}")]
    Memory(String),
    /// The solve broke down numerically: exit code 5.
    #[error("{0}")]
    Breakdown(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Output(_) => 1,
            Failure::Input(_) => 2,
            Failure::NotConverged(_) => 3,
            Failure::Memory(_) => 4,
            Failure::Breakdown(_) => 5,
        }
    }
}

impl From<KeopsError> for Failure {
    fn from(e: KeopsError) -> Self {
        match e {
            KeopsError::NotPositiveDefinite { .. }
            | KeopsError::AlphaTooSmall { .. }
            | KeopsError::PreconditionerNotPositive { .. }
            | KeopsError::NystromFactorization { .. } => Failure::Breakdown(e.to_string()),
            _ => Failure::Input(e.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let result = Args::parse_and_check().and_then(|args| match args.x {
        Some(_) => data::run(&args),
        None => demo::run(&args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kriging: {e}");
            if let Failure::Input(_) = e {
                eprintln!("Run with --help for the usage.");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// The conjugate gradient the flags ask for.
pub fn solver(args: &Args) -> ConjugateGradient {
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
    cg.preconditioning(match args.precond {
        None | Some(Precond::Auto) => Preconditioning::Auto,
        Some(Precond::Off) => Preconditioning::Off,
        Some(Precond::Jacobi) => Preconditioning::Jacobi,
        Some(Precond::Greedy) => nystrom(Landmarks::Greedy),
        Some(Precond::Uniform) => nystrom(Landmarks::Uniform { seed: 0 }),
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

/// A kernel solve and, where `t` is given, a prediction.
pub struct Problem<'a, T: Real> {
    /// The kernel.
    pub kernel: Kernel,
    /// The kernel's width.
    pub sigma: f64,
    /// The ridge: the system is `(alpha I + K_xx) a = b`.
    pub alpha: f64,
    /// The solver's settings.
    pub cg: ConjugateGradient,
    /// Keep the last iterate of a solve that stops short of the tolerance.
    pub accept_unconverged: bool,
    /// The points, `(n, d)`.
    pub x: View<'a, T>,
    /// The values, `(n, k)`.
    pub b: View<'a, T>,
    /// The points to predict at, `(m, d)`.
    pub t: Option<View<'a, T>>,
    /// How kernel products are computed.
    pub product: Product,
    /// How hierarchical products are built (tolerance, memory budget).
    pub hierarchical: Hierarchical,
}

impl<T: Real> Problem<'_, T> {
    /// Whether the products with `K_xx` are hierarchical.
    fn hierarchical_solve(&self) -> bool {
        hierarchical_for(self.product, self.x.rows(), self.x.dim())
    }
    /// Whether the prediction's product with `K_tx` is hierarchical: when the solve's is and the
    /// prediction points pass the same rule.
    fn hierarchical_prediction(&self, t: &View<'_, T>) -> bool {
        self.hierarchical_solve() && hierarchical_for(self.product, t.rows(), t.dim())
    }
}

/// Whether `--product` makes products over `n` points of dimension `d` hierarchical.
fn hierarchical_for(product: Product, n: usize, d: usize) -> bool {
    match product {
        Product::Exact => false,
        Product::Hierarchical => true,
        Product::Auto => d <= 3 && n >= HIERARCHICAL_FROM,
    }
}

/// The report's line for an exact product: the solve's (`prediction` false) or the
/// prediction's, with `--product auto`'s rule.
fn report_exact(prediction: bool, product: Product) {
    let from = thousands(HIERARCHICAL_FROM);
    match (product, prediction) {
        (Product::Auto, false) => say!(
            "Product: exact (--product auto: hierarchical from {from} points in 1 to 3 dimensions)"
        ),
        (Product::Auto, true) => say!(
            "Prediction product: exact (--product auto: hierarchical from {from} data points and \
             {from} prediction points in 1 to 3 dimensions)"
        ),
        (_, false) => say!("Product: exact"),
        (_, true) => say!("Prediction product: exact"),
    }
}

/// The report's line for a hierarchical product: its order, levels, measured error, memory and
/// build time, or why its products are exact.
fn report_hierarchical(what: &str, info: &HierarchicalInfo) {
    say!("{what}: hierarchical, {info}");
}

/// A failed hierarchical build as the tool's failure: over its memory budget is exit code 4.
fn build_failure(e: KeopsError) -> Failure {
    match e {
        KeopsError::Hierarchical(HierarchicalError::Memory { needed, budget }) => {
            Failure::Memory(format!(
                "the hierarchical product would need about {} of memory, over the {} available \
                 to it beyond the rest of the run: loosen --product-tol, use fewer points, or \
                 use --product exact (no memory beyond the points)",
                memory::bytes(needed as f64),
                memory::bytes(budget as f64)
            ))
        }
        e => Failure::from(e),
    }
}

/// The hierarchical products' settings: the tolerance from `--product-tol`, and as memory
/// budget what the machine has available beyond the rest of the run (`need`; the library's
/// default, 4 GiB, where the machine cannot say).
pub fn hierarchical_params(args: &Args, need: &memory::Need) -> Hierarchical {
    let params = Hierarchical::new().tolerance(args.product_tol.unwrap_or(1e-6));
    match memory::left(need) {
        Some(left) => params.memory_budget(left),
        None => params,
    }
}

/// Solves `(alpha I + op) a = b` with the tool's solver, spinner and failure kinds.
fn solve<T: Real, A: LinearOperator<T>>(
    p: &Problem<'_, T>,
    op: &A,
) -> Result<Solution<T>, Failure> {
    let progress = Progress::start("solving");
    let news = |it: &keops::Progress<'_>| {
        progress.report(|| format!("iteration {}, residual {:.2e}", it.iteration, it.residual()));
        ControlFlow::Continue(())
    };
    let sol = accepted(
        p.cg.solve_with_callback(op, p.alpha, p.b.reborrow(), news),
        p.accept_unconverged,
    );
    drop(progress);
    sol
}

/// The solution, or why there is none: a solve short of the tolerance is a failure unless the
/// user accepts it.
fn accepted<T: Real>(
    result: Result<Solution<T>, SolveError<T>>,
    accept: bool,
) -> Result<Solution<T>, Failure> {
    let (solution, tolerance, stagnated) = match result {
        Ok(sol) => return Ok(sol),
        Err(SolveError::Failed(e)) => return Err(e.into()),
        Err(SolveError::NotConverged {
            solution,
            tolerance,
            stagnated,
        }) => (solution, tolerance, stagnated),
    };
    // The cause, when the solver could name it: alpha below what the precision resolves.
    let cause = match (&solution.singular, stagnated) {
        (Some(singular), _) => format!(" ({singular})"),
        (None, true) => " (the residual stopped decreasing: the limit of the precision)".into(),
        (None, false) => String::new(),
    };
    let what = format!(
        "conjugate gradient stopped at relative residual {:.2e} after {} iterations, above the \
         tolerance {tolerance:.1e}{cause}",
        solution.residual, solution.iterations,
    );
    if accept {
        eprintln!("warning: {what}; using that iterate (--accept-unconverged)");
        Ok(*solution)
    } else {
        Err(Failure::NotConverged(format!(
            "{what}; nothing written. Raise --max-iter, loosen --tol, try another --precond, or \
             pass --accept-unconverged to keep the last iterate"
        )))
    }
}

/// What a caller does with a solution and the seconds it took, before the prediction.
pub type OnSolved<'a, T> = dyn FnMut(&Solution<T>, f64) -> Result<(), Failure> + 'a;

/// Solves `(alpha I + K_xx) a = b`, hands the solution and its seconds to `on_solved` (which
/// reports it and writes the coefficients), then predicts `K_tx a`: the prediction and its
/// seconds, `None` without `t`.
pub fn fit<T: Real>(
    p: &Problem<'_, T>,
    on_solved: &mut OnSolved<'_, T>,
) -> Result<Option<(Rows<T>, f64)>, Failure> {
    let s = p.sigma;
    // The two kernels are two types: the same steps for each.
    macro_rules! steps {
        ($k:expr) => {{
            let start = Instant::now();
            let kxx = $k.x_i(p.x.reborrow()).y_j(p.x.reborrow()).matrix()?;
            let sol = if p.hierarchical_solve() {
                let h = {
                    let _progress = Progress::start("building the hierarchical product");
                    kxx.hierarchical(&p.hierarchical).map_err(build_failure)?
                };
                report_hierarchical("Product", h.info());
                let mut sol = solve(p, &h)?;
                // The exact system's residual on sampled rows: the approximate system's, which
                // the solver reports, says nothing of the products' error.
                sol.sampled_residual =
                    Some(h.sampled_residual(p.b.reborrow(), p.alpha, &sol.coefficients)?);
                sol
            } else {
                report_exact(false, p.product);
                solve(p, &kxx)?
            };
            on_solved(&sol, start.elapsed().as_secs_f64())?;
            let Some(t) = &p.t else { return Ok(None) };
            let start = Instant::now();
            let kxt = $k.x_i(t.reborrow()).y_j(p.x.reborrow()).matrix()?;
            let pred = if p.hierarchical_prediction(t) {
                let h = {
                    let _progress =
                        Progress::start("building the prediction's hierarchical product");
                    kxt.hierarchical(&p.hierarchical).map_err(build_failure)?
                };
                report_hierarchical("Prediction product", h.info());
                let _progress = Progress::start("predicting");
                h.matvec(&sol.coefficients)?
            } else {
                report_exact(true, p.product);
                let _progress = Progress::start("predicting");
                kxt.matvec(&sol.coefficients)?
            };
            Ok(Some((pred, start.elapsed().as_secs_f64())))
        }};
    }
    match p.kernel {
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

/// Prints the solve's time, iterations, residual and preconditioner, as the tutorial does.
pub fn report_solve<T>(sol: &Solution<T>, seconds: f64, n: usize, dim: usize) {
    say!(
        "Time to perform an RBF interpolation with {} samples in {dim}D: {seconds:.5}s",
        thousands(n),
    );
    say!(
        "Conjugate gradient: {} iterations, relative residual {:.2e}",
        sol.iterations,
        sol.residual
    );
    if let Some(exact) = sol.sampled_residual {
        say!("Sampled exact residual: {exact:.2e} (the exact system's, on sampled rows)");
    }
    let precond = match sol.preconditioner {
        "nystrom" => format!("Nyström, m = {} landmarks", sol.rank),
        other => other.to_string(),
    };
    say!(
        "Preconditioner: {precond} (setup {:.4}s, iterations {:.4}s)",
        sol.setup_time.as_secs_f64(),
        sol.iteration_time.as_secs_f64()
    );
    if let Some(fallback) = &sol.fallback {
        eprintln!("note: {fallback}");
    }
}

/// Prints the prediction's time.
pub fn report_prediction(m: usize, seconds: f64) {
    say!("Time to predict at {} points: {seconds:.5}s", thousands(m));
}
