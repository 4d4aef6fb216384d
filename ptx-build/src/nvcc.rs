//! Running nvcc: one process per formula's module, in parallel, each skipped when its PTX is up to
//! date (`cache.rs`); and what a failure means for the build ([`resolve`]).

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::cache::{SharedCache, Stamp};
use crate::{GpuEnv, Nvcc};

/// Why a module's PTX could not be made.
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

/// nvcc's arguments: PTX for the virtual architecture `arch`, optimised, C++17 (no
/// `--use_fast_math` unless `extra` asks for it).
///
/// Nor `--ftz=true` (issue 16): nvcc's default `--ftz=false` keeps f32 subnormals (f64 always
/// keeps them), which slowed the CPU engine 10x on narrow kernels but costs a GPU nothing there:
/// NVIDIA GPUs since Fermi (sm_20) handle subnormal operands and results of add, multiply and FMA
/// in hardware at full speed; only multi-instruction sequences (IEEE division and square root,
/// `rsqrt`) take a slower path for them (NVIDIA, "CUDA Pro Tip: Flush Denormals with
/// Confidence"). A kernel sum's hot loop is FMAs and `exp`, so no flag is needed; the GPU results
/// keep the subnormal values the CPU engines flush to +0 (an absolute difference below 2^-126).
/// Not measured on a GPU yet: change the default only on a measurement
/// (`KEOPS_NVCC_FLAGS=--ftz=true` tries it).
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
    if let Some(c) = env.cache_dir.as_deref() {
        SharedCache(c).prune(stems.len());
    }
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
pub(crate) fn remove_ptx(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x == "ptx") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Compiles `out_dir/<stem>.cu` to `out_dir/<stem>.ptx`, unless the PTX there, or in the shared
/// cache, was made from the same module by the same compiler with the same flags (see
/// `cache.rs`). On error no `<stem>.ptx` is left.
pub fn compile_unit(
    env: &GpuEnv,
    tool: &Nvcc,
    out_dir: &Path,
    stem: &str,
) -> Result<PtxOutcome, PtxError> {
    let cu = format!("{stem}.cu");
    let source = fs::read(out_dir.join(&cu)).map_err(|e| PtxError::Failed {
        command: format!("read {cu}"),
        stderr: e.to_string(),
    })?;
    let ptx = out_dir.join(format!("{stem}.ptx"));
    let stamp_file = out_dir.join(format!("{stem}.ptx.stamp"));
    let tmp = &format!("{stem}.ptx.tmp");
    let args = nvcc_args(&tool.arch, &env.extra_flags, &cu, tmp);
    let stamp = Stamp::new(&source, &tool.path, &tool.version, &args);
    let outcome = |cached| PtxOutcome {
        status: format!("nvcc {} {}", tool.version, tool.arch),
        cached,
    };
    if stamp.is_current(&stamp_file, &ptx) {
        return Ok(outcome(true));
    }
    let _ = fs::remove_file(&stamp_file);
    let _ = fs::remove_file(&ptx);
    let shared = env.cache_dir.as_deref().map(SharedCache);
    if let Some(c) = &shared {
        if c.fetch(&stamp, &ptx) {
            if stamp.write(&stamp_file).is_ok() {
                return Ok(outcome(true));
            }
            let _ = fs::remove_file(&ptx);
        }
    }
    let command = format!("{} {}", tool.path.display(), args.join(" "));
    let fail = |stderr: String| PtxError::Failed {
        command: command.clone(),
        stderr,
    };
    run(&tool.path, &args, out_dir, tmp, &ptx).map_err(fail)?;
    stamp
        .write(&stamp_file)
        .map_err(|e| fail(format!("cannot write the stamp: {e}")))?;
    if let Some(c) = &shared {
        c.store(&stamp, &ptx);
    }
    Ok(outcome(false))
}

/// Runs nvcc in `dir` to write `tmp`, then moves it to `ptx`; `Err`: what went wrong, with nvcc's
/// stderr.
fn run(nvcc: &Path, args: &[String], dir: &Path, tmp: &str, ptx: &Path) -> Result<(), String> {
    let _ = fs::remove_file(dir.join(tmp));
    let out = Command::new(nvcc)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run nvcc: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(format!("{}\n{stderr}", out.status));
    }
    fs::rename(dir.join(tmp), ptx)
        .map_err(|e| format!("nvcc succeeded but wrote no {tmp} ({e})\n{stderr}"))
}

/// What the build script does with [`compile_all`]'s result: `Ok((status line, warning
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CACHE_KEEP;
    use crate::test_support::{lock, script, temp};

    /// Compiles `dir/keops.cu` (the tests' one module).
    fn compile_ptx(env: &GpuEnv, dir: &Path) -> Result<PtxOutcome, PtxError> {
        compile_unit(env, &Nvcc::find(env)?, dir, "keops")
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
        for i in 0..CACHE_KEEP + 4 {
            fs::write(other.join("keops.cu"), format!("module {i}")).unwrap();
            compile_all(&cache, &other).unwrap();
        }
        assert_eq!(cached(&d.join("cache")), CACHE_KEEP);
        // A build of more modules than that keeps them all: its next run compiles nothing.
        let many = CACHE_KEEP + 9;
        let build = |name: &str| {
            let dir = d.join(name);
            fs::create_dir_all(&dir).unwrap();
            for i in 0..many {
                fs::write(dir.join(format!("m{i}.cu")), format!("big module {i}")).unwrap();
            }
            compile_all(&cache, &dir).unwrap()
        };
        assert!(!build("big").cached);
        let before = runs();
        assert!(build("big-again").cached);
        assert_eq!(runs(), before);
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
