//! The command line: flags, value enums and `--help`, derived by clap; number parsers that refuse
//! ambiguous input (`0,5`), and the rules between flags that clap's attributes cannot say clearly.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::Failure;

/// The exit codes, shown at the end of `--help`.
const EXIT_CODES: &str = "\
EXIT CODES:
    0  success (also a solve stopped short of --tol with --accept-unconverged: a warning on stderr)
    1  a result could not be written (figures, --save-a, --save-pred, --save-var)
    2  invalid flags or input data (files, shapes, NaN or infinite values, paths that clash)
    3  the conjugate gradient stopped short of --tol (iteration cap or stagnation): nothing written
    4  the run needs more memory than the machine has available (the message says how much)
    5  the solve broke down numerically (the operator or the preconditioner lost positivity),
       or the hyperparameter fit (--fit) failed";

/// Kernel interpolation (kriging): solve (alpha I + K_xx) a = b by conjugate gradient, predict
/// K_tx a.
///
/// Without --x: the KeOps tutorial on random data, 1D with a Gaussian kernel (alpha 1) and 2D
/// with a Laplacian kernel (alpha 10); writes DIR/kriging_1d.png and DIR/kriging_2d.png.
///
/// With --x X.npy --b B.npy [--t T.npy] --save-a A.npy [--save-pred P.npy]: your data, X (n, d)
/// or (n,), B (n, k) or (n,), T (m, d); float32 or float64 .npy files (little-endian, C order).
/// The solve runs in X's precision and writes A (n, k) = the coefficients, then P (m, k) = K_tx a,
/// in that precision.
///
/// Gaussian-process regression: --fit first estimates the hyperparameters by maximising the log
/// marginal likelihood (the model: signal variance times the kernel of --kernel, whose
/// lengthscale is the tool's sigma, plus the noise variance on the diagonal; zero mean unless
/// --mean constant), prints them, then conditions and predicts with them. --save-var writes the
/// posterior variance at --t. The demo with --fit draws the 1D mean with a band of +-2 posterior
/// standard deviations and maps the 2D posterior standard deviation (DIR/kriging_2d_std.png).
#[derive(Debug, Parser)]
#[command(name = "kriging", after_help = EXIT_CODES, after_long_help = EXIT_CODES)]
pub struct Args {
    /// Number of samples [default: 10000]
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true, help_heading = "Demo")]
    pub n: Option<usize>,
    /// Run only the 1D or the 2D problem [default: both]
    #[arg(long, value_enum, value_name = "1|2", help_heading = "Demo")]
    pub dim: Option<Dim>,
    /// Compute in f64 instead of f32 (--fit always computes in f64)
    #[arg(long, help_heading = "Demo")]
    pub f64: bool,
    /// Where the PNGs go (created) [default: target/kriging]
    #[arg(long, value_name = "DIR", help_heading = "Demo")]
    pub out: Option<PathBuf>,
    /// The points, shape (n, d) or (n,)
    #[arg(long, value_name = "X.npy", help_heading = "Your data")]
    pub x: Option<PathBuf>,
    /// The values at the points, shape (n, k) or (n,)
    #[arg(long, value_name = "B.npy", help_heading = "Your data")]
    pub b: Option<PathBuf>,
    /// The points to predict at, shape (m, d) or (m,)
    #[arg(long, value_name = "T.npy", help_heading = "Your data")]
    pub t: Option<PathBuf>,
    /// Where to write the coefficients a, shape (n, k)
    #[arg(long, value_name = "A.npy", help_heading = "Your data")]
    pub save_a: Option<PathBuf>,
    /// Where to write the prediction K_tx a, shape (m, k)
    #[arg(long, value_name = "P.npy", help_heading = "Your data")]
    pub save_pred: Option<PathBuf>,
    /// Where to write the posterior variance at --t, shape (m,)
    ///
    /// The variance of the Gaussian process at each point of T (of f, the noise not included),
    /// the same for every column of B, in X's precision. With --fit, of the fitted process;
    /// without, of the tool's own: the kernel of --kernel with lengthscale --sigma, signal
    /// variance 1 and noise variance --alpha, whose posterior mean is the tool's prediction.
    #[arg(long, value_name = "VAR.npy", help_heading = "Your data")]
    pub save_var: Option<PathBuf>,
    /// Fit the hyperparameters by maximum likelihood, then condition and predict with them
    ///
    /// Estimates the lengthscale, the signal variance, the noise variance (and the constant
    /// mean with --mean constant) of the kernel of --kernel by maximising the log marginal
    /// likelihood (exact up to 2,000 points, a stochastic estimate above), prints them, the log
    /// marginal likelihood and the fitting time, then conditions the process on the data and
    /// predicts with it: in f64, with the library's own solver (not --sigma, --alpha nor the
    /// conjugate gradient's flags). The columns of B share the hyperparameters.
    #[arg(long, help_heading = "Gaussian process")]
    pub fit: bool,
    /// The prior mean of the values, with --fit: zero, or a constant per column of B fitted
    /// with the hyperparameters [default: zero]
    #[arg(long, value_enum, value_name = "M", help_heading = "Gaussian process")]
    pub mean: Option<Mean>,
    /// The kernel [default: gaussian; the demo's 2D problem: laplacian]
    #[arg(long, value_enum, ignore_case = true)]
    pub kernel: Option<Kernel>,
    /// Kernel width, > 0 [default: 0.1]
    #[arg(long, value_name = "S", value_parser = positive, allow_negative_numbers = true)]
    pub sigma: Option<f64>,
    /// Ridge regularisation, >= 0 [default: 1; the demo's 2D problem: 10]
    #[arg(long, value_name = "A", value_parser = non_negative, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Conjugate gradient: relative residual to reach, > 0 [default: 1e-6]
    #[arg(long, value_name = "TOL", value_parser = positive, allow_negative_numbers = true)]
    pub tol: Option<f64>,
    /// Conjugate gradient: iteration cap, >= 1 [default: 1000]
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub max_iter: Option<usize>,
    /// Keep the last iterate of a solve that stops short of --tol (exit 0 with a warning)
    /// instead of failing with exit code 3
    #[arg(long)]
    pub accept_unconverged: bool,
    /// Preconditioner [default: auto]
    #[arg(long, value_enum, value_name = "P")]
    pub precond: Option<Precond>,
    /// With greedy or uniform: number of landmarks, >= 1 [default: chosen from n]
    #[arg(long, value_name = "M", value_parser = at_least_one, allow_negative_numbers = true)]
    pub rank: Option<usize>,
    /// Kernel products in the solve and the prediction: exact, hierarchical (O(N) per product,
    /// to --product-tol; CPU only) or auto [default: auto]
    #[arg(long, value_enum, value_name = "P", long_help = product_help())]
    pub product: Option<Product>,
    /// Hierarchical products: relative error of a product to reach, in (0, 1) [default: 1e-6]
    #[arg(long, value_name = "TOL", value_parser = fraction, allow_negative_numbers = true)]
    pub product_tol: Option<f64>,
}

/// `--product`'s long help, with the crossover of `auto` from [`crate::HIERARCHICAL_FROM`].
fn product_help() -> String {
    format!(
        "Kernel products in the solve and the prediction [default: auto]\n\n\
         hierarchical: O(N) work per product, to the relative error --product-tol (measured on\n\
         sampled rows when built); the solve then also prints the exact system's residual on\n\
         sampled rows. auto: hierarchical for the solve when X has at least {} points in 1 to\n\
         3 dimensions, and for the prediction when the solve is and T has that many points too;\n\
         exact otherwise. The report says which product ran, and why a hierarchical one fell\n\
         back to exact (too few points, a kernel that does not compress). CPU only: the tool\n\
         has no GPU backend.",
        crate::thousands(crate::HIERARCHICAL_FROM)
    )
}

/// The demo's problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dim {
    /// The 1D problem only
    #[value(name = "1")]
    One,
    /// The 2D problem only
    #[value(name = "2")]
    Two,
}

impl Dim {
    /// The dimension as a number.
    pub fn get(self) -> usize {
        match self {
            Dim::One => 1,
            Dim::Two => 2,
        }
    }
}

/// The kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kernel {
    /// exp(-|x-y|^2 / (2 sigma^2))
    #[value(alias = "gauss")]
    Gaussian,
    /// exp(-|x-y| / sigma)
    #[value(aliases = ["laplace", "exponential"])]
    Laplacian,
}

/// The Gaussian process' prior mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mean {
    /// Zero
    Zero,
    /// A constant per output, estimated with the hyperparameters
    Constant,
}

/// The preconditioners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Precond {
    /// Nyström with greedy landmarks and an automatic rank, or none when it would not pay
    Auto,
    /// None: plain conjugate gradient
    Off,
    /// alpha I + diag(K)
    Jacobi,
    /// Nyström, greedy pivoted Cholesky landmarks
    Greedy,
    /// Nyström, landmarks drawn uniformly (seed 0)
    Uniform,
}

/// How kernel products are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Product {
    /// Every kernel value: exact to rounding, O(N^2) work per product
    Exact,
    /// Hierarchical (bbFMM): O(N) work per product, to --product-tol
    Hierarchical,
    /// Hierarchical for large point sets in 1 to 3 dimensions, exact otherwise
    Auto,
}

/// A float: `0.5`, `1e-6`, `1_000.5`. A comma is refused: `0,5` is a decimal comma in much of the
/// world and a thousands separator elsewhere, and guessing gives a silently wrong answer.
fn float(v: &str) -> Result<f64, String> {
    if v.contains(',') {
        return Err(format!(
            "'{v}' has a comma: write decimals with a point (0.5) and no thousands separators"
        ));
    }
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("cannot read '{v}' as a number"))
}

fn positive(v: &str) -> Result<f64, String> {
    match float(v)? {
        x if x.is_finite() && x > 0.0 => Ok(x),
        x => Err(format!("must be a positive number, not {x}")),
    }
}

/// A relative tolerance, strictly between 0 and 1.
fn fraction(v: &str) -> Result<f64, String> {
    match float(v)? {
        x if x.is_finite() && x > 0.0 && x < 1.0 => Ok(x),
        x => Err(format!("must be a number in (0, 1), not {x}")),
    }
}

fn non_negative(v: &str) -> Result<f64, String> {
    match float(v)? {
        x if x.is_finite() && x >= 0.0 => Ok(x),
        x => Err(format!("must be a number >= 0, not {x}")),
    }
}

/// A count: `10000`, `10_000`, `10,000` (commas between groups of three digits), or `1e4` (an
/// exact integer). Too large for this machine's `usize` is an error, not a wrap.
fn count(v: &str) -> Result<usize, String> {
    let plain = v.replace('_', "");
    if plain.contains(['e', 'E']) {
        return scientific(v, &plain);
    }
    let digits = thousands_free(v, &plain)?;
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("cannot read '{v}' as a whole number"));
    }
    digits
        .parse()
        .map_err(|_| format!("'{v}' is too large (at most {})", usize::MAX))
}

/// `plain` without its commas, which must separate groups of three digits (`10,000`).
fn thousands_free(v: &str, plain: &str) -> Result<String, String> {
    let mut groups = plain.split(',');
    let first = groups.next().unwrap_or_default();
    let rest: Vec<&str> = groups.collect();
    let grouped = (1..=3).contains(&first.len()) && rest.iter().all(|g| g.len() == 3);
    if !rest.is_empty() && !grouped {
        return Err(format!(
            "cannot read '{v}' as a whole number: commas may only separate thousands (10,000)"
        ));
    }
    Ok(plain.replace(',', ""))
}

/// `1e12`: a whole number written in scientific notation, exact in f64.
fn scientific(v: &str, plain: &str) -> Result<usize, String> {
    let x: f64 = plain
        .parse()
        .map_err(|_| format!("cannot read '{v}' as a whole number"))?;
    if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
        return Err(format!("'{v}' is not a whole number >= 0"));
    }
    if x >= 2f64.powi(53).min(usize::MAX as f64) {
        return Err(format!(
            "'{v}' is too large to write in scientific notation: write all its digits"
        ));
    }
    Ok(x as usize)
}

fn at_least_one(v: &str) -> Result<usize, String> {
    match count(v)? {
        0 => Err("must be at least 1".to_string()),
        n => Ok(n),
    }
}

impl Args {
    /// The flags from the command line; `--help` and clap's own errors exit here (code 2 for an
    /// error), the rules between flags are checked by [`Args::check`].
    pub fn parse_and_check() -> Result<Args, Failure> {
        let args = Args::parse();
        args.check()?;
        Ok(args)
    }

    /// The rules between flags.
    fn check(&self) -> Result<(), Failure> {
        if self.rank.is_some() && !matches!(self.precond, Some(Precond::Greedy | Precond::Uniform))
        {
            return input("--rank needs --precond greedy or --precond uniform");
        }
        if self.product_tol.is_some() && self.product == Some(Product::Exact) {
            return input(
                "--product-tol is for hierarchical products: it needs --product \
                 hierarchical or --product auto",
            );
        }
        self.check_gp()?;
        if self.x.is_some() {
            self.check_data()
        } else {
            self.check_demo()
        }
    }

    fn check_data(&self) -> Result<(), Failure> {
        let demo = [
            (self.n.is_some(), "--n"),
            (self.dim.is_some(), "--dim"),
            (self.out.is_some(), "--out"),
            (self.f64, "--f64"),
        ];
        if let Some((_, flag)) = demo.iter().find(|(given, _)| *given) {
            return input(format!(
                "{flag} is for the demo; with --x the data's own size, dimension and precision \
                 are used (convert X with x.astype(np.float64) to solve in f64)"
            ));
        }
        if self.b.is_none() {
            return input("--x needs --b B.npy, the values at the points");
        }
        if self.save_a.is_none() {
            return input("--x needs --save-a A.npy, where to write the coefficients");
        }
        if self.save_pred.is_some() && self.t.is_none() {
            return input("--save-pred needs --t T.npy, the points to predict at");
        }
        if self.save_var.is_some() && self.t.is_none() {
            return input("--save-var needs --t T.npy, the points to compute the variance at");
        }
        if self.save_var.is_some() && !self.fit && self.alpha == Some(0.0) {
            return input(
                "--save-var without --fit needs --alpha > 0: alpha is the noise variance of \
                 the Gaussian process whose posterior variance it writes",
            );
        }
        Ok(())
    }

    /// The rules of `--fit` and `--mean`: the fit estimates what `--sigma` and `--alpha` set and
    /// conditions with its own solver, so the tool's solve flags would be silently ignored.
    fn check_gp(&self) -> Result<(), Failure> {
        if !self.fit {
            if self.mean == Some(Mean::Constant) {
                return input(
                    "--mean constant needs --fit: the tool's own solve has a zero mean (and \
                     the posterior variance does not depend on the mean)",
                );
            }
            return Ok(());
        }
        if self.sigma.is_some() {
            return input(
                "--fit estimates the lengthscale (the tool's sigma) itself: drop --sigma",
            );
        }
        if self.alpha.is_some() {
            return input(
                "--fit estimates the noise variance (the tool's alpha) itself: drop --alpha",
            );
        }
        let solve = [
            (self.tol.is_some(), "--tol"),
            (self.max_iter.is_some(), "--max-iter"),
            (self.accept_unconverged, "--accept-unconverged"),
            (self.precond.is_some(), "--precond"),
            (self.rank.is_some(), "--rank"),
            (self.product.is_some(), "--product"),
            (self.product_tol.is_some(), "--product-tol"),
        ];
        match solve.iter().find(|(given, _)| *given) {
            Some((_, flag)) => input(format!(
                "{flag} sets the tool's conjugate gradient solve, which --fit does not use (the \
                 Gaussian process conditions with its own solver): drop {flag}"
            )),
            None => Ok(()),
        }
    }

    fn check_demo(&self) -> Result<(), Failure> {
        let data = [
            (self.b.is_some(), "--b"),
            (self.t.is_some(), "--t"),
            (self.save_a.is_some(), "--save-a"),
            (self.save_pred.is_some(), "--save-pred"),
            (self.save_var.is_some(), "--save-var"),
        ];
        match data.iter().find(|(given, _)| *given) {
            Some((_, flag)) => input(format!("{flag} needs --x X.npy")),
            None => Ok(()),
        }
    }
}

fn input<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Input(msg.into()))
}
