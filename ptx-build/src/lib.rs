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
//!
//! The crate in four rooms: `scan` finds the formulas, `env` reads the settings and finds nvcc,
//! `nvcc` runs it (in parallel, one module per formula) and says what a failure means for the
//! build, `cache` keeps its work between builds (stamps, and the shared `KEOPS_PTX_CACHE`).

mod cache;
mod env;
mod nvcc;
mod scan;

use std::fs;
use std::path::{Path, PathBuf};

pub use cache::CACHE_KEEP;
pub use env::{find_nvcc, parse_arch, parse_flag, GpuEnv, Nvcc, DEFAULT_ARCH, ENV_VARS};
use nvcc::remove_ptx;
pub use nvcc::{compile_all, compile_unit, nvcc_args, resolve, PtxError, PtxOutcome};
pub use scan::{scan, Invocation};

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
/// modules and, with the `cuda` feature, their PTX to `OUT_DIR` (see the crate's documentation).
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
    write_modules(&out, &found);
    let env = GpuEnv::from_env();
    if !env.cuda_feature {
        // A CPU build neither runs nvcc nor depends on its environment.
        write_no_ptx(&out, "none: built without the `cuda` feature");
        return;
    }
    for v in ENV_VARS {
        println!("cargo:rerun-if-env-changed={v}");
    }
    match resolve(compile_all(&env, &out.join(PER_FORMULA_DIR)), env.require) {
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

/// Writes the formulas `found` to `out`: their canonical texts, one CUDA module with all of them
/// (for the tests' host emulation), and one module per formula in [`PER_FORMULA_DIR`] (so that a
/// binary loads, and the driver JIT-compiles, only the kernels of the formulas it runs); modules
/// of formulas no longer present are removed, unchanged ones keep their time stamp.
fn write_modules(out: &Path, found: &[Invocation]) {
    let mut text = String::new();
    for inv in found {
        if let Some(c) = &inv.canonical {
            text += &format!("{}\t{}\n", inv.file.display(), c);
        }
    }
    write_out(out, "keops-formulas.txt", &text);
    let formulas = || {
        (found.iter())
            .filter_map(|i| i.formula.as_ref())
            .flat_map(|f| f.with_stages())
    };
    // The prelude once, formulas deduplicated.
    let (cu, _names) = keops_formula::emit::cuda::emit_module(formulas());
    write_out(out, "keops.cu", &cu);
    write_out(out, "keops_host.h", keops_formula::emit::cuda::HOST_HEADER);
    let per = out.join(PER_FORMULA_DIR);
    fs::create_dir_all(&per).expect("OUT_DIR is writable");
    let mut wanted = std::collections::HashMap::new();
    for f in formulas() {
        let id = keops_formula::emit::cuda::formula_id(f);
        wanted.entry(id).or_insert_with(|| {
            format!(
                "{}\n{}",
                keops_formula::emit::cuda::prelude(),
                keops_formula::emit::cuda::emit(f).0
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
}

#[cfg(test)]
mod test_support {
    use std::fs;
    use std::path::{Path, PathBuf};

    /// Tests that create executables and run processes take this lock: a script still open for
    /// writing in one thread while another forks cannot be executed (ETXTBSY).
    static PROCESSES: std::sync::Mutex<()> = std::sync::Mutex::new(());

    pub(crate) fn lock() -> std::sync::MutexGuard<'static, ()> {
        PROCESSES.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ptx-build-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[cfg(unix)]
    pub(crate) fn script(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}
