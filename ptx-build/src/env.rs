//! What the GPU step takes from the environment ([`GpuEnv`]) and how it finds nvcc: the settings
//! are read once into a plain struct, so that tests can build one.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::nvcc::PtxError;

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

/// The nvcc to run, its release and the target architecture (found once per build).
#[derive(Debug, Clone)]
pub struct Nvcc {
    /// The executable, absolute.
    pub path: PathBuf,
    /// Its release (`13.0.88`).
    pub version: String,
    /// The virtual architecture to compile for (`compute_80`).
    pub arch: String,
}

impl Nvcc {
    /// Finds nvcc and its release, and checks the architecture setting.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{lock, script, temp};

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
}
