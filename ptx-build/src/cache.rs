//! nvcc's work kept between builds. A stamp next to each PTX records the module's hash, the
//! compiler and its arguments: a rebuild that changes no formula (editing a test, say) skips nvcc.
//! With `KEOPS_PTX_CACHE`, a directory shared by every build keeps the modules by the hash of their
//! stamp: `cargo build`, `cargo clippy` and `--release` have distinct `OUT_DIR`s and would each run
//! nvcc otherwise.

use std::fs;
use std::path::{Path, PathBuf};

/// Modules kept in a [`GpuEnv::cache_dir`](crate::GpuEnv::cache_dir) at least (the most recently
/// used; one per formula and flags). A build of more formulas keeps twice its own count: a limit
/// below a build's count would evict each module before the next build asks for it (the modules
/// are used in the same order every time), and nothing would ever hit.
pub const CACHE_KEEP: usize = 256;

/// What a PTX was made from: the module's hash and length, the compiler, its release and its
/// arguments.
pub(crate) struct Stamp(String);

impl Stamp {
    pub(crate) fn new(source: &[u8], nvcc: &Path, version: &str, args: &[String]) -> Stamp {
        Stamp(format!(
            "{:016x} {}\n{}\n{version}\n{}\n",
            keops_abi::fnv1a(source),
            source.len(),
            nvcc.display(),
            args.join(" ")
        ))
    }

    /// Whether `ptx` was made from exactly this (its stamp file says so, and it is not empty).
    pub(crate) fn is_current(&self, stamp_file: &Path, ptx: &Path) -> bool {
        fs::read_to_string(stamp_file).is_ok_and(|s| s == self.0)
            && fs::metadata(ptx).is_ok_and(|m| m.len() > 0)
    }

    /// Records that the PTX next to `stamp_file` was made from this.
    pub(crate) fn write(&self, stamp_file: &Path) -> std::io::Result<()> {
        fs::write(stamp_file, &self.0)
    }
}

/// The shared cache directory (`KEOPS_PTX_CACHE`).
pub(crate) struct SharedCache<'a>(pub(crate) &'a Path);

impl SharedCache<'_> {
    fn entry(&self, stamp: &Stamp) -> PathBuf {
        (self.0).join(format!(
            "keops-{:016x}.ptx",
            keops_abi::fnv1a(stamp.0.as_bytes())
        ))
    }

    /// Copies the module made from `stamp` to `ptx`, if the cache has it.
    pub(crate) fn fetch(&self, stamp: &Stamp, ptx: &Path) -> bool {
        let c = self.entry(stamp);
        if !(fs::metadata(&c).is_ok_and(|m| m.len() > 0) && fs::copy(&c, ptx).is_ok()) {
            return false;
        }
        // Recently used entries survive pruning.
        let _ = fs::File::options()
            .append(true)
            .open(&c)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        true
    }

    /// Keeps `ptx`, made from `stamp` (best effort, atomic: a copy under a unique name, renamed
    /// into place). [`prune`](Self::prune) once the build's modules are all in.
    pub(crate) fn store(&self, stamp: &Stamp, ptx: &Path) {
        let c = self.entry(stamp);
        let tmp = c.with_extension(format!("tmp{}", std::process::id()));
        let stored = c.parent().is_some_and(|d| fs::create_dir_all(d).is_ok())
            && fs::copy(ptx, &tmp).is_ok()
            && fs::rename(&tmp, &c).is_ok();
        if !stored {
            let _ = fs::remove_file(&tmp);
        }
    }

    /// Removes all but the most recently used modules: [`CACHE_KEEP`], or twice the `modules`
    /// of the build that just used the cache if more.
    pub(crate) fn prune(&self, modules: usize) {
        prune(self.0, CACHE_KEEP.max(2 * modules));
    }
}

/// Removes all but the `keep` most recently modified modules of a cache directory.
fn prune(dir: &Path, keep: usize) {
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
