//! The kriging tool (examples/kriging) run as a user runs it: each bad input ends with its exit
//! code and a clear message, and leaves every file as it was (nothing created, nothing changed).
//!
//! `cargo test` builds the example next to this test's binary; `cargo test --test kriging_cli`
//! alone does not (and may find an older one): `cargo build --example kriging` first.

#[path = "../../examples/common/npy.rs"]
mod npy;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The example's binary: `target/<profile>/deps/<test>` -> `target/<profile>/examples/kriging`.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile
        .join("examples")
        .join(format!("kriging{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build the example first (`cargo build --example kriging`, \
         or plain `cargo test`)",
        bin.display()
    );
    bin
}

/// A fresh, empty folder for one test.
fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("kriging_cli")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).expect("a readable folder").flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                files.insert(p.clone(), fs::read(&p).expect("a readable file"));
            }
        }
    }
    files
}

/// Runs the tool in `dir` with `args`.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the kriging binary runs")
}

/// Runs the tool in `dir` with `args`, checks that it exits with 0, and returns its stdout and
/// stderr.
fn succeeded(dir: &Path, args: &[&str]) -> (String, String) {
    let out = run(dir, args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "kriging {args:?}\n{stdout}{stderr}"
    );
    (stdout, stderr)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the tool and checks its exit code, that stderr holds `message`, that no solve started
/// (nothing on stdout), and that no file under `dir` was created or changed.
fn refused(dir: &Path, args: &[&str], code: i32, message: &str) -> String {
    let before = snapshot(dir);
    let out = run(dir, args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "kriging {args:?}: exit code\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(message),
        "kriging {args:?}: stderr lacks {message:?}:\n{stderr}"
    );
    assert!(
        !stdout.contains("Conjugate gradient"),
        "kriging {args:?}: solved before refusing:\n{stdout}"
    );
    assert_eq!(
        snapshot(dir),
        before,
        "kriging {args:?}: files created or changed"
    );
    stderr
}

/// `x` (n points in [0, 1], 1D) and `b = sin(6 x)`, as f32 files X.npy and B.npy in `dir`.
fn data(dir: &Path, n: usize) {
    let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.618).fract()).collect();
    let b: Vec<f32> = x.iter().map(|x| (6.0 * x).sin()).collect();
    npy::write(dir.join("X.npy"), &[n], &x).expect("X.npy");
    npy::write(dir.join("B.npy"), &[n], &b).expect("B.npy");
}

/// Writes `values` with `shape` as an f32 .npy file.
fn save(dir: &Path, name: &str, shape: &[usize], values: &[f32]) {
    npy::write(dir.join(name), shape, values).expect("a .npy file");
}

const SOLVE: [&str; 6] = ["--x", "X.npy", "--b", "B.npy", "--save-a", "A.npy"];

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

#[test]
fn help_lists_the_flags_and_the_exit_codes() {
    let dir = folder("help");
    let out = run(&dir, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for want in [
        "--sigma",
        "--save-pred",
        "--accept-unconverged",
        "gaussian",
        "laplacian",
        "jacobi",
        "--product <P>",
        "hierarchical",
        "--product-tol",
        "EXIT CODES",
        "3  the conjugate gradient stopped short",
        "4  the run needs more memory",
        "--fit",
        "--mean <M>",
        "--save-var <VAR.npy>",
    ] {
        assert!(help.contains(want), "--help lacks {want:?}:\n{help}");
    }
    refused(&dir, &["--sigma"], 2, "a value is required");
    refused(&dir, &["--frobnicate"], 2, "unexpected argument");
    refused(&dir, &["--kernel", "cosine"], 2, "invalid value 'cosine'");
    refused(&dir, &["--dim", "3"], 2, "invalid value '3'");
    refused(&dir, &["--rank", "3"], 2, "--rank needs --precond greedy");
    refused(&dir, &["--b", "B.npy"], 2, "--b needs --x X.npy");
}

#[test]
fn a_comma_in_a_float_flag_is_refused() {
    let dir = folder("comma");
    for flag in ["--sigma", "--alpha", "--tol"] {
        refused(
            &dir,
            &[flag, "0,5", "--n", "10", "--out", "."],
            2,
            "has a comma",
        );
    }
    refused(
        &dir,
        &["--n", "1,5"],
        2,
        "commas may only separate thousands",
    );
    refused(&dir, &["--sigma", "-1"], 2, "must be a positive number");
    refused(&dir, &["--n", "0"], 2, "must be at least 1");
    refused(
        &dir,
        &["--n", "-5"],
        2,
        "cannot read '-5' as a whole number",
    );
}

#[test]
fn sizes_too_large_are_refused_with_the_memory_they_need() {
    let dir = folder("sizes");
    let out = ["--out", "figures"];
    let e = refused(&dir, &with(&["--n", "1e12"], &out), 4, "would need about");
    assert!(e.contains("TiB"), "{e}");
    let huge = ["--n", "9223372036854775808", "--dim", "2"];
    refused(&dir, &with(&huge, &out), 4, "would need about");
    refused(
        &dir,
        &with(&["--n", "18446744073709551615"], &out),
        4,
        "would need about",
    );
    refused(&dir, &["--n", "18446744073709551616"], 2, "too large");
    refused(&dir, &["--n", "1e30"], 2, "too large");
}

#[test]
fn a_prediction_too_large_is_refused_before_the_solve() {
    let dir = folder("prediction");
    // 10 points, 100,000 columns of values, 1,000,000 prediction points: 10^11 values out.
    let x: Vec<f32> = (0..10).map(|i| i as f32 / 10.0).collect();
    save(&dir, "X.npy", &[10], &x);
    save(&dir, "B.npy", &[10, 100_000], &vec![1.0; 1_000_000]);
    save(&dir, "T.npy", &[1_000_000], &vec![0.5; 1_000_000]);
    let args = with(&SOLVE, &["--t", "T.npy", "--save-pred", "P.npy"]);
    let e = refused(&dir, &args, 4, "would need about");
    assert!(e.contains("prediction"), "{e}");
}

#[test]
fn outputs_that_clash_with_inputs_or_each_other_are_refused() {
    let dir = folder("clash");
    data(&dir, 20);
    save(&dir, "T.npy", &[3], &[0.1, 0.5, 0.9]);
    let base = ["--x", "X.npy", "--b", "B.npy", "--t", "T.npy"];
    for (a, p) in [
        ("A.npy", "A.npy"),
        ("A.npy", "./A.npy"),
        ("X.npy", "P.npy"),
        ("B.npy", "P.npy"),
        ("T.npy", "P.npy"),
        ("A.npy", "X.npy"),
        ("A.npy", "T.npy"),
    ] {
        let args = with(&base, &["--save-a", a, "--save-pred", p]);
        refused(&dir, &args, 2, "is the same file as");
    }
}

#[test]
fn coefficients_are_written_before_the_prediction() {
    let dir = folder("order");
    data(&dir, 20);
    save(&dir, "T.npy", &[3], &[0.1, 0.5, 0.9]);
    let args = with(&SOLVE, &["--t", "T.npy", "--save-pred", "P.npy"]);
    let out = run(&dir, &args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let wrote_a = stdout.find("Wrote A.npy").expect("A written");
    let predicted = stdout.find("Time to predict").expect("predicted");
    assert!(wrote_a < predicted, "{stdout}");
    let a = npy::read(dir.join("A.npy")).expect("A.npy");
    let p = npy::read(dir.join("P.npy")).expect("P.npy");
    assert_eq!((a.shape, p.shape), (vec![20, 1], vec![3, 1]));
}

#[test]
fn a_solve_short_of_the_tolerance_fails_unless_accepted() {
    let dir = folder("unconverged");
    data(&dir, 50);
    let short = ["--precond", "off", "--alpha", "1e-3", "--max-iter", "1"];
    let e = refused(&dir, &with(&SOLVE, &short), 3, "above the tolerance");
    assert!(e.contains("--accept-unconverged"), "{e}");
    let out = run(
        &dir,
        &with(&SOLVE, &with(&short, &["--accept-unconverged"])),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: conjugate gradient stopped"));
    assert!(dir.join("A.npy").is_file());
}

#[test]
fn bad_prediction_points_are_refused_before_the_solve() {
    let dir = folder("bad_t");
    data(&dir, 20);
    let args = with(&SOLVE, &["--t", "T.npy", "--save-pred", "P.npy"]);
    save(&dir, "T.npy", &[3], &[0.1, f32::NAN, 0.9]);
    refused(&dir, &args, 2, "--t: T holds NaN at row 1, column 0");
    save(&dir, "T.npy", &[2, 2], &[0.1, 0.2, 0.3, 0.4]);
    refused(&dir, &args, 2, "T has points of dimension 2");
    save(&dir, "T.npy", &[1, 1, 2], &[0.1, 0.2]);
    refused(&dir, &args, 2, "--t: T must have shape");
    save(&dir, "T.npy", &[0], &[]);
    refused(&dir, &args, 2, "no points");
}

/// `bytes` with the first `from` replaced by `to` (of the same length).
fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the pattern");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn malformed_npy_files_are_refused() {
    let dir = folder("malformed");
    data(&dir, 20);
    let good = fs::read(dir.join("X.npy")).expect("X.npy");
    let cases: [(&str, Vec<u8>); 4] = [
        ("truncated .npy header", good[..30].to_vec()),
        ("announces shape [20]", good[..good.len() - 4].to_vec()),
        ("not a .npy file", b"x,y\n1,2\n".to_vec()),
        ("unsupported dtype '<i4'", replaced(&good, b"<f4", b"<i4")),
    ];
    for (message, bytes) in cases {
        fs::write(dir.join("bad.npy"), bytes).expect("bad.npy");
        for flag in [1, 3] {
            let mut args = SOLVE.to_vec();
            args[flag] = "bad.npy";
            refused(&dir, &args, 2, message);
        }
    }
    let mut args = SOLVE.to_vec();
    args[1] = "missing.npy";
    refused(&dir, &args, 2, "--x missing.npy");
}

#[test]
fn bad_values_and_shapes_are_refused() {
    let dir = folder("values");
    data(&dir, 20);
    save(
        &dir,
        "NaN.npy",
        &[20],
        &[[0.5; 19].as_slice(), &[f32::NAN]].concat(),
    );
    save(
        &dir,
        "Inf.npy",
        &[10, 2],
        &[[0.5; 19].as_slice(), &[f32::INFINITY]].concat(),
    );
    save(&dir, "B10.npy", &[10], &[0.5; 10]);
    save(&dir, "Short.npy", &[19], &[0.5; 19]);
    save(&dir, "Empty.npy", &[20, 0], &[]);
    let cases = [
        (1, "NaN.npy", "--x: X holds NaN at row 19, column 0"),
        (3, "NaN.npy", "--b: B holds NaN at row 19"),
        (3, "Short.npy", "B has 19 rows"),
        (3, "Empty.npy", "no columns"),
        (1, "Empty.npy", "no points"),
    ];
    for (at, file, message) in cases {
        let mut args = SOLVE.to_vec();
        args[at] = file;
        refused(&dir, &args, 2, message);
    }
    let inf = ["--x", "Inf.npy", "--b", "B10.npy", "--save-a", "A.npy"];
    refused(&dir, &inf, 2, "--x: X holds inf at row 9, column 1");
}

#[test]
fn unwritable_outputs_are_refused_before_the_solve() {
    let dir = folder("unwritable");
    data(&dir, 20);
    fs::create_dir(dir.join("sub")).expect("sub");
    let mut args = SOLVE.to_vec();
    for (out, message) in [
        ("nowhere/A.npy", "no folder nowhere"),
        ("sub", "is a folder"),
        ("X.npy/A.npy", "is not a folder"),
    ] {
        args[5] = out;
        refused(&dir, &args, 2, message);
    }
    read_only(&dir);
}

/// A read-only folder and a read-only file (by their permissions, which root could ignore).
#[cfg(unix)]
fn read_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let locked = dir.join("locked");
    fs::create_dir(&locked).expect("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).expect("chmod");
    let mut args = SOLVE.to_vec();
    args[5] = "locked/A.npy";
    refused(dir, &args, 2, "is read-only");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(dir.join("A.npy"), b"keep").expect("A.npy");
    fs::set_permissions(dir.join("A.npy"), fs::Permissions::from_mode(0o444)).expect("chmod");
    refused(dir, &SOLVE, 2, "the file is read-only");
}

#[cfg(not(unix))]
fn read_only(_: &Path) {}

#[test]
fn the_demo_runs_on_a_few_points() {
    let dir = folder("demo");
    let out = run(&dir, &["--n", "50", "--dim", "1", "--out", "figures"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Conjugate gradient"));
    assert!(dir.join("figures/kriging_1d.png").is_file());
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

/// A reader that stops early (`kriging | head -1`) is not an error: stdout closed before the
/// report is written ends the run normally, without a panic.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = folder("closed_stdout");
    let mut child = Command::new(binary())
        .args(["--n", "300", "--dim", "1", "--out", "figures"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kriging binary runs");
    drop(child.stdout.take()); // closed before the solve ends: every write meets a broken pipe
    let out = child.wait_with_output().expect("the kriging binary ends");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    assert!(dir.join("figures/kriging_1d.png").is_file());
}

#[test]
fn the_old_spellings_still_work() {
    let dir = folder("spellings");
    let args = [
        "--n",
        "1_00",
        "--max-iter",
        "1,000",
        "--dim",
        "1",
        "--kernel",
        "Gauss",
        "--precond",
        "jacobi",
        "--sigma",
        "1_0e-2",
        "--out",
        "figures",
    ];
    let out = run(&dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("100 samples in 1D"));
    assert!(text(&out.stdout).contains("Preconditioner: jacobi"));
}

#[test]
fn a_figure_folder_that_cannot_be_made_exits_1() {
    let dir = folder("figures");
    fs::write(dir.join("taken"), b"a file").expect("taken");
    refused(
        &dir,
        &["--n", "10", "--out", "taken"],
        1,
        "cannot create taken",
    );
}

/// A system that rounding makes singular names the cause and the fix: alpha below what the
/// precision resolves stops with exit 3 (stagnation) or 5 (the rounding breaks the iteration
/// down), and a width whose square underflows makes the kernel undefined (exit 2).
#[test]
fn numerically_singular_systems_name_the_cause() {
    let dir = folder("singular");
    data(&dir, 200);
    let tiny = with(&SOLVE, &["--alpha", "1e-20"]);
    let e = refused(
        &dir,
        &tiny,
        3,
        "is too small for this kernel's conditioning in f32",
    );
    assert!(e.contains("raise alpha to at least about"), "{e}");
    let nan = with(&SOLVE, &["--alpha", "1e-200", "--precond", "greedy"]);
    let e = refused(&dir, &nan, 5, "numerically singular");
    assert!(!e.contains("not positive definite"), "{e}");
    refused(
        &dir,
        &with(&SOLVE, &["--sigma", "1e-30"]),
        2,
        "the kernel is undefined",
    );
}

/// The values of a `.npy` file in `dir`, as f64.
fn values(dir: &Path, name: &str) -> Vec<f64> {
    npy::read(dir.join(name)).expect(name).data.to_f64()
}

/// `||a - b|| / ||scale||`.
fn relative(a: &[f64], b: &[f64], scale: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = scale.iter().map(|s| s * s).sum();
    (diff / norm).sqrt()
}

/// The number after `label` on stdout.
fn reported(stdout: &str, label: &str) -> f64 {
    let at = stdout
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in:\n{stdout}"));
    let rest = &stdout[at + label.len()..];
    let word = rest.split_whitespace().next().expect("a number");
    word.parse()
        .unwrap_or_else(|_| panic!("{word:?} after {label:?}"))
}

/// `--product hierarchical` solves and predicts with hierarchical products, reports them and
/// the exact system's sampled residual, and agrees with `--product exact`. In f64: in f32 the
/// default --product-tol 1e-6 is at the precision's floor, where a build may fall back to exact
/// products.
///
/// The tolerance: with alpha = 1 and K positive semi-definite, the eigenvalues of `alpha I + K`
/// are at least 1, so `a_h - a_e = (I + K)^-1 (r_h - r_e)` for the exact system's residuals of
/// the two solutions, and `||a_h - a_e|| <= ||r_h|| + ||r_e||`. Each solve stops at a residual
/// of 1e-6 ||b|| (--tol), and the hierarchical one's exact residual adds the products' error,
/// 1e-6 (--product-tol) times `||K a|| = ||b - a|| <= 2 ||b||`: at most about 4e-6 ||b|| in all.
/// The prediction `K_tx a` maps that error through `K_tx (I + K)^-1`, whose gain is about 1 for
/// points among the data (it interpolates the residual), and adds its own product's relative
/// 1e-6. 2e-5 leaves a factor 5 for the products' error being measured on a random vector
/// rather than on `a`.
#[test]
fn hierarchical_products_agree_with_exact_ones() {
    let dir = folder("hierarchical");
    let n = 1000;
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.618).fract()).collect();
    let b: Vec<f64> = x.iter().map(|x| (6.0 * x).sin()).collect();
    let t: Vec<f64> = (0..300).map(|i| i as f64 / 299.0).collect();
    for (name, v) in [("X.npy", &x), ("B.npy", &b), ("T.npy", &t)] {
        npy::write(dir.join(name), &[v.len()], v).expect(name);
    }
    let run_with = |product: &str, a: &str, p: &str| {
        let args = with(
            &["--x", "X.npy", "--b", "B.npy", "--t", "T.npy"],
            &["--save-a", a, "--save-pred", p, "--product", product],
        );
        let out = run(&dir, &args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        stdout
    };
    let exact = run_with("exact", "Ae.npy", "Pe.npy");
    assert!(exact.contains("Product: exact\n"), "{exact}");
    assert!(exact.contains("Prediction product: exact\n"), "{exact}");
    assert!(!exact.contains("Sampled exact residual"), "{exact}");
    let hier = run_with("hierarchical", "Ah.npy", "Ph.npy");
    assert!(hier.contains("Product: hierarchical, order "), "{hier}");
    assert!(
        hier.contains("Prediction product: hierarchical, order "),
        "{hier}"
    );
    let sampled = reported(&hier, "Sampled exact residual:");
    assert!(sampled < 1e-5, "{hier}");
    let (ae, ah) = (values(&dir, "Ae.npy"), values(&dir, "Ah.npy"));
    let (pe, ph) = (values(&dir, "Pe.npy"), values(&dir, "Ph.npy"));
    let da = relative(&ah, &ae, &b);
    let dp = relative(&ph, &pe, &pe);
    eprintln!("||a_h - a_e|| / ||b|| = {da:.2e}, ||p_h - p_e|| / ||p_e|| = {dp:.2e}");
    assert!(da < 2e-5, "||a_h - a_e|| / ||b|| = {da:.2e}\n{hier}");
    assert!(dp < 2e-5, "||p_h - p_e|| / ||p_e|| = {dp:.2e}\n{hier}");
}

/// Too few points for a far field: `--product hierarchical` says its products are exact, and
/// `--product auto` on a small problem picks exact products and says why.
#[test]
fn small_problems_say_why_their_products_are_exact() {
    let dir = folder("product_small");
    let demo = ["--n", "50", "--dim", "1", "--out", "figures"];
    let out = run(&dir, &with(&demo, &["--product", "hierarchical"]));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("Product: hierarchical, exact products (too few points for a far field)"),
        "{stdout}"
    );
    assert!(stdout.contains("Sampled exact residual:"), "{stdout}");
    let out = run(&dir, &demo);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("Product: exact (--product auto: hierarchical from "),
        "{stdout}"
    );
}

#[test]
fn invalid_product_flags_are_refused() {
    let dir = folder("product_flags");
    let demo = ["--n", "10", "--out", "."];
    for tol in ["0", "1", "1.5", "-0.5", "nan", "inf"] {
        let args = with(&demo, &["--product-tol", tol]);
        refused(&dir, &args, 2, "must be a number in (0, 1)");
    }
    let cases: [(&[&str], &str); 4] = [
        (
            &["--product-tol", "1e-6x"],
            "cannot read '1e-6x' as a number",
        ),
        (&["--product-tol", "0,5"], "has a comma"),
        (&["--product", "fast"], "invalid value 'fast'"),
        (
            &["--product", "exact", "--product-tol", "1e-3"],
            "--product-tol is for hierarchical products",
        ),
    ];
    refused_all(&dir, &demo, &cases);
}

/// [`refused`] with exit code 2 for each `(flags, message)`, the flags after `base`.
fn refused_all(dir: &Path, base: &[&str], cases: &[(&[&str], &str)]) {
    for (flags, message) in cases {
        refused(dir, &with(base, flags), 2, message);
    }
}

mod gp;
