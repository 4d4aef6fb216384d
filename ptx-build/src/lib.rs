//! Build-script helper: `ptx_build::build()` in a crate's build.rs finds every `kernel!(..)`
//! invocation in its `src/`, `examples/`, `tests/` and `benches/`, checks each formula with the
//! same compiler the macro uses (keops-formula: one source of truth) and, with the crate's `cuda`
//! feature, compiles their CUDA to PTX with nvcc.
//!
//! Files written to `OUT_DIR` (always, so that code including them compiles):
//! - `keops-formulas.txt`: the canonical formulas found, one per line after their file;
//! - `keops.cu`: one CUDA module with every formula's kernels (for the host emulation of the
//!   tests), and `keops_host.h` next to it;
//! - `keops-cuda/<formula id>.cu`: one module per formula (the prelude and its kernels), and with
//!   the `cuda` feature `keops-cuda/<formula id>.ptx`, compiled by nvcc (one process per formula,
//!   in parallel); no PTX without the feature, without nvcc, when nvcc fails (a build warning
//!   says why) and under docs.rs. The `kernel!` expansion embeds its formula's PTX when the file
//!   exists; otherwise the runtime compiles the embedded CUDA source with NVRTC;
//! - `keops-ptx-status.txt`: one line, `nvcc <version> <arch> (<n> formulas)` when the PTX was
//!   made, else `none: <reason>`.
//!
//! With the `cuda` feature, the environment steers nvcc (see [`GpuEnv`]): `NVCC` (the compiler;
//! else `nvcc` on `PATH`, then `$CUDA_HOME/bin`, `$CUDA_PATH/bin`, `/usr/local/cuda/bin`),
//! `KEOPS_CUDA_ARCH` (default `sm_80`: PTX for `compute_80`, which the driver compiles for the
//! card it runs on, Ampere and newer), `KEOPS_NVCC_FLAGS` (extra flags, e.g. `--use_fast_math`)
//! and `KEOPS_REQUIRE_NVCC=1` (a missing nvcc or an nvcc error fails the build instead of
//! leaving the kernels to NVRTC at run time).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use syn::visit::Visit;

/// One `kernel!` invocation found in the sources.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub file: PathBuf,
    /// The formula's canonical text (`None` when it does not compile; the macro reports why).
    pub canonical: Option<String>,
    /// The checked formula (`None` when it does not compile).
    pub formula: Option<keops_formula::Formula>,
}

/// Finds `kernel!` invocations in the Rust files below `dirs`.
pub fn scan(dirs: &[PathBuf]) -> Vec<Invocation> {
    let mut files = Vec::new();
    for d in dirs {
        collect_rs(d, &mut files);
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let Ok(ast) = syn::parse_file(&text) else {
            continue;
        };
        let mut v = Finder(Vec::new());
        v.visit_file(&ast);
        for tokens in v.0 {
            let formula = keops_formula::analyze(tokens).ok();
            out.push(Invocation {
                file: file.clone(),
                canonical: formula.as_ref().map(|f| f.canonical()),
                formula,
            });
        }
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

struct Finder(Vec<proc_macro2::TokenStream>);

impl<'ast> Visit<'ast> for Finder {
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if m.path.segments.last().is_some_and(|s| s.ident == "kernel") {
            self.0.push(m.tokens.clone());
        }
        syn::visit::visit_macro(self, m);
    }
}

/// The architecture `keops.ptx` targets when `KEOPS_CUDA_ARCH` is unset: PTX for the virtual
/// `compute_80`, which the driver JIT-compiles for the card it finds (sm_80 and newer).
pub const DEFAULT_ARCH: &str = "compute_80";

/// The environment variables the GPU step reads (each one reruns the build script when it
/// changes; read only with the `cuda` feature, so a CPU build does not depend on them).
pub const ENV_VARS: &[&str] = &[
    "NVCC",
    "KEOPS_CUDA_ARCH",
    "KEOPS_REQUIRE_NVCC",
    "KEOPS_NVCC_FLAGS",
    "PATH",
    "CUDA_HOME",
    "CUDA_PATH",
    "KEOPS_PTX_CACHE",
];

/// Normalises `KEOPS_CUDA_ARCH` to the virtual architecture nvcc emits PTX for: `sm_86`,
/// `compute_86`, `86` and `8.6` all give `compute_86`; an `a`/`f` suffix (`sm_90a`: PTX with
/// architecture-specific features, which only that architecture runs) is kept.
pub fn parse_arch(s: &str) -> Result<String, String> {
    let t = s.trim().to_ascii_lowercase();
    let rest = t
        .strip_prefix("compute_")
        .or_else(|| t.strip_prefix("sm_"))
        .unwrap_or(&t);
    let rest = match rest.split_once('.') {
        Some((major, minor)) => format!("{major}{minor}"),
        None => rest.to_string(),
    };
    let digits = rest.trim_end_matches(['a', 'f']);
    let suffix = &rest[digits.len()..];
    let ok = (2..=3).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && suffix.len() <= 1;
    if ok {
        Ok(format!("compute_{digits}{suffix}"))
    } else {
        Err(format!(
            "KEOPS_CUDA_ARCH={s:?} is not a CUDA architecture (expected e.g. sm_80, compute_90, 86 or 8.6)"
        ))
    }
}

/// A yes/no environment variable: unset, empty, `0`, `false`, `no` and `off` are no.
pub fn parse_flag(v: Option<&str>) -> bool {
    v.map(|s| s.trim().to_ascii_lowercase())
        .is_some_and(|s| !matches!(s.as_str(), "" | "0" | "false" | "no" | "off"))
}

/// What the GPU step takes from the environment ([`GpuEnv::from_env`]); a plain struct so that
/// tests can build one.
#[derive(Debug, Clone, Default)]
pub struct GpuEnv {
    /// The package enables the `cuda` feature (`CARGO_FEATURE_CUDA`).
    pub cuda_feature: bool,
    /// `NVCC`: a path, or a name looked up on `PATH`.
    pub nvcc: Option<OsString>,
    /// `PATH`.
    pub path: Option<OsString>,
    /// Directories tried after `PATH`: `$CUDA_HOME/bin`, `$CUDA_PATH/bin`, `/usr/local/cuda/bin`.
    pub fallback_dirs: Vec<PathBuf>,
    /// `KEOPS_CUDA_ARCH`, unparsed (`None`: [`DEFAULT_ARCH`]).
    pub arch: Option<String>,
    /// `KEOPS_REQUIRE_NVCC`: no nvcc, or an nvcc error, fails the build.
    pub require: bool,
    /// `KEOPS_NVCC_FLAGS`, split at whitespace.
    pub extra_flags: Vec<String>,
    /// `KEOPS_PTX_CACHE`: a directory where compiled modules are kept by a hash of their source,
    /// compiler and flags, shared by every build (`cargo build`, `cargo clippy`, `--release`
    /// have distinct `OUT_DIR`s and would each run nvcc).
    pub cache_dir: Option<PathBuf>,
}

impl GpuEnv {
    /// Reads the build script's environment.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        let mut fallback_dirs: Vec<PathBuf> = ["CUDA_HOME", "CUDA_PATH"]
            .iter()
            .filter_map(std::env::var_os)
            .filter(|v| !v.is_empty())
            .map(|v| PathBuf::from(v).join("bin"))
            .collect();
        fallback_dirs.push(PathBuf::from("/usr/local/cuda/bin"));
        GpuEnv {
            cuda_feature: std::env::var_os("CARGO_FEATURE_CUDA").is_some(),
            nvcc: std::env::var_os("NVCC").filter(|v| !v.is_empty()),
            path: std::env::var_os("PATH"),
            fallback_dirs,
            arch: var("KEOPS_CUDA_ARCH"),
            require: parse_flag(var("KEOPS_REQUIRE_NVCC").as_deref()),
            extra_flags: var("KEOPS_NVCC_FLAGS")
                .map(|s| s.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            cache_dir: std::env::var_os("KEOPS_PTX_CACHE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    /// The architecture to compile for.
    pub fn arch(&self) -> Result<String, String> {
        self.arch
            .as_deref()
            .map_or_else(|| Ok(DEFAULT_ARCH.to_string()), parse_arch)
    }
}

fn is_executable(p: &Path) -> bool {
    let Ok(m) = fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        m.is_file()
    }
}

fn search(name: &OsStr, dirs: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    let exe = if cfg!(windows) && Path::new(name).extension().is_none() {
        let mut n = name.to_os_string();
        n.push(".exe");
        n
    } else {
        name.to_os_string()
    };
    dirs.into_iter()
        .map(|d| d.join(&exe))
        .find(|p| is_executable(p))
}

/// Finds nvcc: `NVCC` (a path, or a name on `PATH`), else `nvcc` on `PATH`, then in the fallback
/// directories. `Err` says why there is none.
pub fn find_nvcc(env: &GpuEnv) -> Result<PathBuf, String> {
    let path_dirs = || -> Vec<PathBuf> {
        env.path
            .as_deref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default()
    };
    if let Some(v) = &env.nvcc {
        let p = Path::new(v);
        return if p.components().count() > 1 || p.is_absolute() {
            if is_executable(p) {
                Ok(p.to_path_buf())
            } else {
                Err(format!("NVCC={} is not an executable file", p.display()))
            }
        } else {
            search(v, path_dirs()).ok_or_else(|| format!("NVCC={} is not on PATH", p.display()))
        };
    }
    search(
        OsStr::new("nvcc"),
        path_dirs()
            .into_iter()
            .chain(env.fallback_dirs.iter().cloned()),
    )
    .ok_or_else(|| "nvcc not found (set NVCC or put nvcc on PATH)".to_string())
}

/// Why `keops.ptx` could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PtxError {
    /// A setting is wrong (an unknown `KEOPS_CUDA_ARCH`): always fails the build.
    Config(String),
    /// No nvcc to run (the reason).
    NotFound(String),
    /// nvcc ran and failed.
    Failed {
        /// The command line, for the message.
        command: String,
        /// What went wrong and nvcc's stderr.
        stderr: String,
    },
}

/// A successful compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtxOutcome {
    /// The line for `keops-ptx-status.txt`: `nvcc <version> <arch>`.
    pub status: String,
    /// `keops.ptx` was already up to date (same module, compiler and flags): nvcc did not run.
    pub cached: bool,
}

/// nvcc's release from `nvcc --version` (`13.0.88` from "Cuda compilation tools, release 13.0,
/// V13.0.88"), else the output's last line.
pub fn nvcc_version(nvcc: &Path) -> Result<String, PtxError> {
    let command = format!("{} --version", nvcc.display());
    let out = Command::new(nvcc)
        .arg("--version")
        .output()
        .map_err(|e| PtxError::Failed {
            command: command.clone(),
            stderr: format!("cannot run it: {e}"),
        })?;
    if !out.status.success() {
        return Err(PtxError::Failed {
            command,
            stderr: format!(
                "{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .filter_map(|l| l.split_once(", V").map(|(_, v)| v.trim()))
        .find(|v| !v.is_empty())
        .or_else(|| text.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("(unknown version)");
    Ok(version.to_string())
}

/// nvcc's arguments: PTX for the virtual architecture `arch`, optimised, C++17 (no
/// `--use_fast_math` unless `extra` asks for it).
pub fn nvcc_args(arch: &str, extra: &[String], input: &str, output: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-ptx".into(),
        format!("-arch={arch}"),
        "-O3".into(),
        "-std=c++17".into(),
    ];
    args.extend(extra.iter().cloned());
    args.extend([input.to_string(), "-o".into(), output.to_string()]);
    args
}

/// Compiles `out_dir/keops.cu` to `out_dir/keops.ptx` with nvcc. Skips nvcc when `keops.ptx`
/// was made from the same module by the same compiler with the same flags (a stamp file records
/// them): editing a test that changes no formula does not pay nvcc's time again; with a
/// [`GpuEnv::cache_dir`], neither does another build of the same module. On error `keops.ptx` is
/// left absent; the caller writes the empty one.
pub fn compile_ptx(env: &GpuEnv, out_dir: &Path) -> Result<PtxOutcome, PtxError> {
    let tool = Nvcc::find(env)?;
    compile_unit(env, &tool, out_dir, "keops")
}

/// The nvcc to run, its release and the target architecture (found once per build).
#[derive(Debug, Clone)]
pub struct Nvcc {
    pub path: PathBuf,
    pub version: String,
    pub arch: String,
}

impl Nvcc {
    pub fn find(env: &GpuEnv) -> Result<Nvcc, PtxError> {
        let arch = env.arch().map_err(PtxError::Config)?;
        let nvcc = find_nvcc(env).map_err(PtxError::NotFound)?;
        // nvcc runs in OUT_DIR: a relative `NVCC` or `PATH` entry must not move with it.
        let path = std::path::absolute(&nvcc).unwrap_or(nvcc);
        let version = nvcc_version(&path)?;
        Ok(Nvcc {
            path,
            version,
            arch,
        })
    }
}

/// Compiles every `<stem>.cu` of `dir` (one per formula) to `<stem>.ptx`, on as many threads as
/// the machine has; the first failure wins. On failure no `.ptx` is left in `dir`.
pub fn compile_all(env: &GpuEnv, dir: &Path) -> Result<PtxOutcome, PtxError> {
    let tool = Nvcc::find(env)?;
    let mut stems: Vec<String> = fs::read_dir(dir)
        .map_err(|e| PtxError::Failed {
            command: format!("read {}", dir.display()),
            stderr: e.to_string(),
        })?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".cu").map(str::to_string)
        })
        .collect();
    stems.sort();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let results: Vec<Result<PtxOutcome, PtxError>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..workers.min(stems.len().max(1)))
            .map(|_| {
                sc.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(stem) = stems.get(k) else { break out };
                        out.push(compile_unit(env, &tool, dir, stem));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("an nvcc worker panicked"))
            .collect()
    });
    let mut cached = true;
    for r in results {
        match r {
            Ok(o) => cached &= o.cached,
            Err(e) => {
                remove_ptx(dir);
                return Err(e);
            }
        }
    }
    Ok(PtxOutcome {
        status: format!(
            "nvcc {} {} ({} formulas)",
            tool.version,
            tool.arch,
            stems.len()
        ),
        cached,
    })
}

/// Removes every `.ptx` of a per-formula directory.
fn remove_ptx(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x == "ptx") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Compiles `out_dir/<stem>.cu` to `out_dir/<stem>.ptx` (see [`compile_ptx`]).
pub fn compile_unit(
    env: &GpuEnv,
    tool: &Nvcc,
    out_dir: &Path,
    stem: &str,
) -> Result<PtxOutcome, PtxError> {
    let (nvcc, version, arch) = (&tool.path, &tool.version, &tool.arch);
    let cu = format!("{stem}.cu");
    let source = fs::read(out_dir.join(&cu)).map_err(|e| PtxError::Failed {
        command: format!("read {cu}"),
        stderr: e.to_string(),
    })?;
    let ptx = out_dir.join(format!("{stem}.ptx"));
    let stamp_path = out_dir.join(format!("{stem}.ptx.stamp"));
    let tmp = &format!("{stem}.ptx.tmp");
    let args = nvcc_args(arch, &env.extra_flags, &cu, tmp);
    let stamp = format!(
        "{:016x} {}\n{}\n{version}\n{}\n",
        keops_abi::fnv1a(&source),
        source.len(),
        nvcc.display(),
        args.join(" ")
    );
    let up_to_date = fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
        && fs::metadata(&ptx).is_ok_and(|m| m.len() > 0);
    let status = format!("nvcc {version} {arch}");
    if up_to_date {
        return Ok(PtxOutcome {
            status,
            cached: true,
        });
    }
    let _ = fs::remove_file(&stamp_path);
    let _ = fs::remove_file(&ptx);
    let cached = env.cache_dir.as_ref().map(|d| {
        d.join(format!(
            "keops-{:016x}.ptx",
            keops_abi::fnv1a(stamp.as_bytes())
        ))
    });
    if let Some(c) = &cached {
        if fs::metadata(c).is_ok_and(|m| m.len() > 0) && fs::copy(c, &ptx).is_ok() {
            // Recently used entries survive pruning.
            let _ = fs::File::options()
                .append(true)
                .open(c)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            if fs::write(&stamp_path, &stamp).is_ok() {
                return Ok(PtxOutcome {
                    status,
                    cached: true,
                });
            }
            let _ = fs::remove_file(&ptx);
        }
    }
    let _ = fs::remove_file(out_dir.join(tmp));
    let command = format!("{} {}", nvcc.display(), args.join(" "));
    let fail = |stderr: String| PtxError::Failed {
        command: command.clone(),
        stderr,
    };
    let out = Command::new(nvcc)
        .args(&args)
        .current_dir(out_dir)
        .output()
        .map_err(|e| fail(format!("cannot run nvcc: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(fail(format!("{}\n{stderr}", out.status)));
    }
    fs::rename(out_dir.join(tmp), &ptx)
        .map_err(|e| fail(format!("nvcc succeeded but wrote no {tmp} ({e})\n{stderr}")))?;
    fs::write(&stamp_path, stamp).map_err(|e| fail(format!("cannot write the stamp: {e}")))?;
    if let Some(c) = &cached {
        // Best effort, atomic: a copy under a unique name, renamed into place.
        let tmp = c.with_extension(format!("tmp{}", std::process::id()));
        let stored = c.parent().is_some_and(|d| fs::create_dir_all(d).is_ok())
            && fs::copy(&ptx, &tmp).is_ok()
            && fs::rename(&tmp, c).is_ok();
        if !stored {
            let _ = fs::remove_file(&tmp);
        }
        prune_cache(c.parent().unwrap_or(Path::new(".")), CACHE_KEEP);
    }
    Ok(PtxOutcome {
        status,
        cached: false,
    })
}

/// Modules kept in a [`GpuEnv::cache_dir`] (the most recently used; one per formula and flags).
pub const CACHE_KEEP: usize = 256;

/// Removes all but the `keep` most recently modified modules of a cache directory.
fn prune_cache(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut modules: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("keops-") && n.ends_with(".ptx"))
        })
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    modules.sort_by_key(|m| std::cmp::Reverse(m.0));
    for (_, p) in modules.into_iter().skip(keep) {
        let _ = fs::remove_file(p);
    }
}

/// What the build script does with [`compile_ptx`]'s result: `Ok((status line, warning
/// lines))`, or `Err(message)` to fail the build (`require`, or a wrong setting).
pub fn resolve(
    result: Result<PtxOutcome, PtxError>,
    require: bool,
) -> Result<(String, Vec<String>), String> {
    const FALLBACK: &str =
        "the GPU kernels will be compiled at run time by NVRTC if available (or the CPU is used)";
    match result {
        Ok(o) => Ok((o.status, Vec::new())),
        Err(PtxError::Config(msg)) => Err(msg),
        Err(PtxError::NotFound(reason)) if require => Err(format!(
            "KEOPS_REQUIRE_NVCC is set but {reason}: cannot compile the GPU kernels"
        )),
        Err(PtxError::NotFound(reason)) => Ok((
            format!("none: {reason}"),
            vec![format!("{reason}: {FALLBACK}")],
        )),
        Err(PtxError::Failed { command, stderr }) if require => {
            let lines: Vec<&str> = stderr.lines().collect();
            let shown = lines.len().min(200);
            Err(format!(
                "KEOPS_REQUIRE_NVCC is set and nvcc failed:\n$ {command}\n{}{}",
                lines[..shown].join("\n"),
                if shown < lines.len() {
                    format!("\n... ({} more lines)", lines.len() - shown)
                } else {
                    String::new()
                }
            ))
        }
        Err(PtxError::Failed { command, stderr }) => {
            let mut warnings = vec![format!("nvcc failed, so {FALLBACK}; `{command}` said:")];
            warnings.extend(
                first_lines(&stderr, 10)
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
            Ok((
                "none: nvcc failed (see the build warnings)".into(),
                warnings,
            ))
        }
    }
}

/// Up to `n` lines of nvcc's stderr, its errors first (its warnings are mostly noise here).
fn first_lines(stderr: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    let chosen = if errors.is_empty() { lines } else { errors };
    chosen.into_iter().take(n).map(String::from).collect()
}

fn write_out(out: &Path, name: &str, contents: &str) {
    fs::write(out.join(name), contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.join(name).display()));
}

/// The PTX outputs when nvcc does not run: no `keops-cuda/*.ptx`, and the reason.
fn write_no_ptx(out: &Path, status: &str) {
    remove_ptx(&out.join(PER_FORMULA_DIR));
    write_out(out, "keops-ptx-status.txt", &format!("{status}\n"));
}

/// Where each formula's module (`<formula id>.cu`, prelude included) and PTX go, below `OUT_DIR`.
/// The `kernel!` expansion includes `<id>.ptx` from there when it exists.
pub const PER_FORMULA_DIR: &str = keops_abi::gpu::PTX_DIR;

/// Call from a build script. Scans the package's sources, writes the formulas found, their CUDA
/// module and, with the `cuda` feature, its PTX to `OUT_DIR` (see the crate's documentation).
/// Under docs.rs only empty files are written.
pub fn build() {
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("run from a build script"));
    if std::env::var_os("DOCS_RS").is_some() {
        for f in ["keops-formulas.txt", "keops.cu", "keops_host.h"] {
            write_out(&out, f, "");
        }
        let _ = fs::create_dir_all(out.join(PER_FORMULA_DIR));
        write_no_ptx(&out, "none: docs.rs build");
        return;
    }
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run from a build script"));
    let dirs: Vec<PathBuf> = ["src", "examples", "tests", "benches"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    for d in &dirs {
        if d.exists() {
            println!("cargo:rerun-if-changed={}", d.display());
        }
    }
    let found = scan(&dirs);
    let mut text = String::new();
    for inv in &found {
        if let Some(c) = &inv.canonical {
            text += &format!("{}\t{}\n", inv.file.display(), c);
        }
    }
    write_out(&out, "keops-formulas.txt", &text);
    // One CUDA module with every formula's kernels (the prelude once, formulas deduplicated).
    let (cu, _names) = keops_formula::emit_cuda::emit_module(
        found
            .iter()
            .filter_map(|i| i.formula.as_ref())
            .flat_map(|f| f.with_stages()),
    );
    write_out(&out, "keops.cu", &cu);
    write_out(&out, "keops_host.h", keops_formula::emit_cuda::HOST_HEADER);
    // One module per formula, so that a binary loads (and the driver JIT-compiles) only the
    // kernels of the formulas it runs. Stale modules of formulas no longer present are removed.
    let per = out.join(PER_FORMULA_DIR);
    fs::create_dir_all(&per).expect("OUT_DIR is writable");
    let mut wanted = std::collections::HashMap::new();
    for f in (found.iter())
        .filter_map(|i| i.formula.as_ref())
        .flat_map(|f| f.with_stages())
    {
        let id = keops_formula::emit_cuda::formula_id(f);
        wanted.entry(id).or_insert_with(|| {
            format!(
                "{}\n{}",
                keops_formula::emit_cuda::prelude(),
                keops_formula::emit_cuda::emit(f).0
            )
        });
    }
    for e in fs::read_dir(&per).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stem = name.split('.').next().unwrap_or_default().to_string();
        if !wanted.contains_key(&stem) {
            let _ = fs::remove_file(e.path());
        }
    }
    for (id, text) in &wanted {
        let path = per.join(format!("{id}.cu"));
        // Unchanged modules keep their time stamp (and their stamp-file check stays valid).
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            write_out(&per, &format!("{id}.cu"), text);
        }
    }

    let env = GpuEnv::from_env();
    if !env.cuda_feature {
        // A CPU build neither runs nvcc nor depends on its environment.
        write_no_ptx(&out, "none: built without the `cuda` feature");
        return;
    }
    for v in ENV_VARS {
        println!("cargo:rerun-if-env-changed={v}");
    }
    match resolve(compile_all(&env, &per), env.require) {
        Ok((status, warnings)) => {
            for w in warnings {
                println!("cargo:warning={w}");
            }
            if status.starts_with("none") {
                write_no_ptx(&out, &status);
            } else {
                write_out(&out, "keops-ptx-status.txt", &format!("{status}\n"));
            }
        }
        Err(msg) => panic!("{msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_kernel_invocations_and_checks_them() {
        let dir = std::env::temp_dir().join(format!("ptx-build-scan-{}", std::process::id()));
        let nested = dir.join("nested");
        fs::create_dir_all(&nested).unwrap();
        fs::write(
            dir.join("a.rs"),
            "fn f() { let s = 1.0; let k = keops::kernel!(exp(-sqnorm(x_i - y_j) / s)); }",
        )
        .unwrap();
        fs::write(
            nested.join("b.rs"),
            "fn g() { let k = kernel!(sum_j(expp(x_i) * b_j)); let v = vec![1]; }",
        )
        .unwrap();
        fs::write(dir.join("c.txt"), "kernel!(exp(x_i))").unwrap();
        let found = scan(std::slice::from_ref(&dir));
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        let ok = found[0].canonical.as_deref().expect("a.rs compiles");
        assert!(ok.starts_with("Kernel;x_i:i:"), "{ok}");
        assert!(ok.contains("exp("), "{ok}");
        assert!(found[1].canonical.is_none(), "unknown function `expp`");
    }

    #[test]
    fn arch_accepts_the_usual_spellings() {
        for (input, want) in [
            ("sm_80", "compute_80"),
            ("compute_80", "compute_80"),
            ("80", "compute_80"),
            ("8.0", "compute_80"),
            (" SM_86 ", "compute_86"),
            ("sm_90a", "compute_90a"),
            ("9.0a", "compute_90a"),
            ("12.0", "compute_120"),
            ("sm_100f", "compute_100f"),
        ] {
            assert_eq!(parse_arch(input).as_deref(), Ok(want), "{input:?}");
        }
        for bad in [
            "", "sm_", "ampere", "sm_8", "sm_1000", "sm_80x", "sm_90aa", "08", "native",
        ] {
            let e = parse_arch(bad).expect_err(bad);
            assert!(e.contains("KEOPS_CUDA_ARCH"), "{e}");
        }
        let env = GpuEnv::default();
        assert_eq!(env.arch().as_deref(), Ok(DEFAULT_ARCH));
        assert_eq!(DEFAULT_ARCH, "compute_80");
    }

    #[test]
    fn flags_parse_like_cargo_users_expect() {
        for yes in ["1", "true", "YES", "on", " 1 "] {
            assert!(parse_flag(Some(yes)), "{yes:?}");
        }
        for no in ["", "0", "false", "No", "off"] {
            assert!(!parse_flag(Some(no)), "{no:?}");
        }
        assert!(!parse_flag(None));
    }

    #[test]
    fn nvcc_arguments_make_ptx_without_fast_math() {
        let a = nvcc_args("compute_80", &[], "keops.cu", "keops.ptx");
        assert_eq!(
            a,
            [
                "-ptx",
                "-arch=compute_80",
                "-O3",
                "-std=c++17",
                "keops.cu",
                "-o",
                "keops.ptx"
            ]
        );
        let a = nvcc_args("compute_90", &["--use_fast_math".into()], "a.cu", "a.ptx");
        assert_eq!(a[4], "--use_fast_math");
        assert_eq!(a[1], "-arch=compute_90");
    }

    /// Tests that create executables and run processes take this lock: a script still open for
    /// writing in one thread while another forks cannot be executed (ETXTBSY).
    static PROCESSES: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn lock() -> std::sync::MutexGuard<'static, ()> {
        PROCESSES.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ptx-build-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[cfg(unix)]
    fn script(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A fake nvcc: `--version` prints a release, anything else records its arguments, counts
    /// its runs and writes `$PTX_BODY` to the file after `-o`.
    #[cfg(unix)]
    const FAKE_NVCC: &str = r#"
if [ "$1" = "--version" ]; then
  echo "nvcc: NVIDIA (R) Cuda compiler driver"
  echo "Cuda compilation tools, release 13.0, V13.0.88"
  exit 0
fi
echo "$@" > "$(dirname "$0")/args.txt"
echo x >> "$(dirname "$0")/runs.txt"
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = "-o" ]; then out="$a"; fi
  prev="$a"
done
printf '.version 9.0\n.target sm_80\n// from %s\n' "$(cat keops.cu)" > "$out"
"#;

    #[cfg(unix)]
    #[test]
    fn finds_nvcc_from_env_path_and_fallbacks() {
        let _g = lock();
        let d = temp("find");
        let (a, b) = (d.join("a"), d.join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        script(&b.join("nvcc"), "exit 0");
        fs::write(a.join("nvcc"), "not executable").unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        let env = GpuEnv {
            path: Some(path.clone()),
            ..GpuEnv::default()
        };
        assert_eq!(
            find_nvcc(&env),
            Ok(b.join("nvcc")),
            "skips the non-executable a/nvcc"
        );
        let env = GpuEnv {
            path: Some(a.clone().into_os_string()),
            fallback_dirs: vec![d.join("none"), b.clone()],
            ..GpuEnv::default()
        };
        assert_eq!(find_nvcc(&env), Ok(b.join("nvcc")), "fallback directory");
        let env = GpuEnv {
            path: Some(a.clone().into_os_string()),
            ..GpuEnv::default()
        };
        assert!(find_nvcc(&env).unwrap_err().contains("nvcc not found"));
        script(&a.join("my-nvcc"), "exit 0");
        let env = GpuEnv {
            nvcc: Some("my-nvcc".into()),
            path: Some(path),
            ..GpuEnv::default()
        };
        assert_eq!(
            find_nvcc(&env),
            Ok(a.join("my-nvcc")),
            "NVCC as a name on PATH"
        );
        let env = GpuEnv {
            nvcc: Some(d.join("missing").into_os_string()),
            path: Some(b.clone().into_os_string()),
            ..GpuEnv::default()
        };
        let e = find_nvcc(&env).unwrap_err();
        assert!(
            e.starts_with("NVCC=") && e.contains("missing"),
            "{e}: NVCC wins over PATH"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn fake_nvcc_compiles_and_caches() {
        let _g = lock();
        let d = temp("fake");
        let nvcc = d.join("nvcc");
        script(&nvcc, FAKE_NVCC);
        let out = d.join("out");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("keops.cu"), "module one").unwrap();
        let env = GpuEnv {
            cuda_feature: true,
            nvcc: Some(nvcc.clone().into_os_string()),
            arch: Some("sm_86".into()),
            ..GpuEnv::default()
        };
        let runs = || fs::read_to_string(d.join("runs.txt")).map_or(0, |s| s.lines().count());
        let r = compile_ptx(&env, &out).unwrap();
        assert_eq!(r.status, "nvcc 13.0.88 compute_86");
        assert!(!r.cached);
        let ptx = fs::read_to_string(out.join("keops.ptx")).unwrap();
        assert!(ptx.contains("// from module one"), "{ptx}");
        let args = fs::read_to_string(d.join("args.txt")).unwrap();
        assert!(
            args.starts_with("-ptx -arch=compute_86 -O3 -std=c++17 keops.cu -o "),
            "{args}"
        );
        assert!(!args.contains("fast_math"), "{args}");
        assert_eq!(
            resolve(Ok(r), true),
            Ok(("nvcc 13.0.88 compute_86".into(), vec![]))
        );
        assert_eq!(runs(), 1);
        // Same module, compiler and flags: nvcc does not run again.
        let r = compile_ptx(&env, &out).unwrap();
        assert!(r.cached);
        assert_eq!(runs(), 1);
        // A new module, or new flags: it does.
        fs::write(out.join("keops.cu"), "module two").unwrap();
        assert!(!compile_ptx(&env, &out).unwrap().cached);
        assert_eq!(runs(), 2);
        let ptx = fs::read_to_string(out.join("keops.ptx")).unwrap();
        assert!(ptx.contains("// from module two"), "{ptx}");
        let fast = GpuEnv {
            extra_flags: vec!["--use_fast_math".into()],
            ..env.clone()
        };
        assert!(!compile_ptx(&fast, &out).unwrap().cached);
        assert_eq!(runs(), 3);
        let args = fs::read_to_string(d.join("args.txt")).unwrap();
        assert!(args.contains(" --use_fast_math keops.cu"), "{args}");

        // A shared cache: a second OUT_DIR with the same module gets the first one's PTX.
        let cache = GpuEnv {
            cache_dir: Some(d.join("cache")),
            ..env.clone()
        };
        assert!(!compile_ptx(&cache, &out).unwrap().cached);
        assert_eq!(runs(), 4);
        let other = d.join("other");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("keops.cu"), "module two").unwrap();
        let r = compile_ptx(&cache, &other).unwrap();
        assert!(r.cached, "{r:?}");
        assert_eq!(runs(), 4);
        let ptx = fs::read_to_string(other.join("keops.ptx")).unwrap();
        assert!(ptx.contains("// from module two"), "{ptx}");
        // ... and only for the same module.
        fs::write(other.join("keops.cu"), "module three").unwrap();
        assert!(!compile_ptx(&cache, &other).unwrap().cached);
        assert_eq!(runs(), 5);
        let ptx = fs::read_to_string(other.join("keops.ptx")).unwrap();
        assert!(ptx.contains("// from module three"), "{ptx}");
        let cached = |d: &Path| fs::read_dir(d).unwrap().count();
        assert_eq!(
            cached(&d.join("cache")),
            2,
            "one module per (source, flags)"
        );
        // The cache keeps the most recently used modules only.
        for i in 0..CACHE_KEEP {
            fs::write(other.join("keops.cu"), format!("module {i}")).unwrap();
            compile_ptx(&cache, &other).unwrap();
        }
        assert_eq!(cached(&d.join("cache")), CACHE_KEEP);
        fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn failing_nvcc_warns_or_fails_the_build_when_required() {
        let _g = lock();
        let d = temp("fail");
        let out = d.join("out");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("keops.cu"), "module").unwrap();
        // /bin/false: even `--version` fails.
        let env = GpuEnv {
            nvcc: Some("/bin/false".into()),
            ..GpuEnv::default()
        };
        let r = compile_ptx(&env, &out);
        assert!(
            matches!(&r, Err(PtxError::Failed { command, .. }) if command.contains("--version")),
            "{r:?}"
        );
        let (status, warnings) = resolve(r.clone(), false).unwrap();
        assert!(status.starts_with("none: nvcc failed"), "{status}");
        assert!(warnings[0].contains("NVRTC"), "{warnings:?}");
        let e = resolve(r, true).unwrap_err();
        assert!(
            e.contains("KEOPS_REQUIRE_NVCC") && e.contains("/bin/false --version"),
            "{e}"
        );

        // An nvcc whose compilation fails: its errors come first in the warnings, all of
        // stderr in the error, and no PTX is left behind.
        let nvcc = d.join("nvcc");
        script(
            &nvcc,
            r#"if [ "$1" = "--version" ]; then echo "Cuda compilation tools, release 12.4, V12.4.131"; exit 0; fi
echo 'keops.cu(7): warning #177-D: variable "l3" was declared but never referenced' >&2
echo 'keops.cu(9): error: identifier "foo" is undefined' >&2
echo '1 error detected in the compilation of "keops.cu".' >&2
exit 2"#,
        );
        fs::write(out.join("keops.ptx"), "stale").unwrap();
        let env = GpuEnv {
            nvcc: Some(nvcc.into_os_string()),
            ..GpuEnv::default()
        };
        let r = compile_ptx(&env, &out);
        assert!(!out.join("keops.ptx").exists(), "stale PTX removed");
        let (status, warnings) = resolve(r.clone(), false).unwrap();
        assert!(status.starts_with("none:"), "{status}");
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[1].contains("error: identifier \"foo\""),
            "{warnings:?}"
        );
        assert!(warnings[2].contains("1 error detected"), "{warnings:?}");
        let e = resolve(r, true).unwrap_err();
        assert!(
            e.contains("-arch=compute_80")
                && e.contains("warning #177-D")
                && e.contains("error: identifier"),
            "{e}"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_nvcc_warns_once_or_fails_when_required() {
        let _g = lock();
        let d = temp("missing");
        let env = GpuEnv {
            path: Some(d.clone().into_os_string()),
            ..GpuEnv::default()
        };
        let r = compile_ptx(&env, &d);
        assert!(matches!(&r, Err(PtxError::NotFound(_))), "{r:?}");
        let (status, warnings) = resolve(r.clone(), false).unwrap();
        assert_eq!(
            status,
            "none: nvcc not found (set NVCC or put nvcc on PATH)"
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("compiled at run time by NVRTC"),
            "{warnings:?}"
        );
        assert!(resolve(r, true)
            .unwrap_err()
            .contains("KEOPS_REQUIRE_NVCC is set but nvcc not found"));
        // A wrong architecture fails the build even without KEOPS_REQUIRE_NVCC.
        let env = GpuEnv {
            arch: Some("ampere".into()),
            ..env
        };
        let r = compile_ptx(&env, &d);
        assert!(matches!(&r, Err(PtxError::Config(_))), "{r:?}");
        assert!(resolve(r, false).unwrap_err().contains("ampere"));
        fs::remove_dir_all(&d).unwrap();
    }
}
