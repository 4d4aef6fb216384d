//! Compiling the driver: the C++ compiler, the cache keyed by content hash, the main driver
//! (`OUT_DIR/keops.cu`) and the one for registered formulas.

use super::*;

pub(super) fn compiler() -> &'static Option<(String, String)> {
    static CXX: OnceLock<Option<(String, String)>> = OnceLock::new();
    CXX.get_or_init(|| {
        let cxx = std::env::var("KEOPS_HOST_CXX").unwrap_or_else(|_| "g++".into());
        let found = Command::new(&cxx)
            .arg("--version")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| {
                (
                    cxx.clone(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                )
            });
        if found.is_none() {
            // Straight to stderr, past the test harness's capture: once per test binary.
            let _ = writeln!(
                std::io::stderr(),
                "note: no C++ compiler `{cxx}` (set KEOPS_HOST_CXX): the CUDA kernels' host \
                 emulation is skipped"
            );
        }
        found
    })
}

pub(super) fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Writes `bytes` to `path` atomically (another process may be writing the same file).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp.{}.{}", std::process::id(), unique()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))
}

pub(super) fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Compiles driver.cpp with `module` (a generated `.cu`, or `None` for `OUT_DIR/keops.cu`), or
/// finds it in the cache. `Ok(None)`: no compiler. The sources are copied into the cache entry
/// first, so that the executable is built from exactly what its name hashes.
pub(super) fn build(label: &str, module: Option<&str>) -> Result<Option<Driver>, String> {
    let Some((cxx, version)) = compiler() else {
        return Ok(None);
    };
    let host = Path::new(HOST_DIR);
    let module = match module {
        Some(m) => m.to_string(),
        None => read(&Path::new(OUT_DIR).join("keops.cu"))?,
    };
    let sources = [
        ("module.cu", module),
        ("driver.cpp", read(&host.join("driver.cpp"))?),
        ("test_kernels.h", read(&host.join("test_kernels.h"))?),
        (
            "keops_host.h",
            read(&Path::new(OUT_DIR).join("keops_host.h"))?,
        ),
    ];
    let mut hash = keops_abi::Fnv1a::new();
    hash.write_piece(version.as_bytes());
    hash.write_piece(FLAGS.join(" ").as_bytes());
    for (_, text) in &sources {
        hash.write_piece(text.as_bytes());
    }
    let key = hash.finish();
    let dir = Path::new(CACHE).join(format!("{label}-{key:016x}"));
    let exe = dir.join("driver");
    let names = sources[0]
        .1
        .lines()
        .filter_map(|l| l.trim().strip_prefix("{\""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .chain(
            ["iota", "skip_sync_odd", "write_past_end"]
                .iter()
                .flat_map(|k| ["f32", "f64"].map(|t| format!("keops_test_{k}_{t}"))),
        )
        .collect();
    if exe.exists() {
        return Ok(Some(Driver {
            exe,
            names,
            compile_secs: None,
        }));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in &sources {
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    let tmp = dir.join(format!("driver.tmp.{}.{}", std::process::id(), unique()));
    let t0 = Instant::now();
    let out = Command::new(cxx)
        .args(FLAGS)
        .arg("-DKEOPS_MODULE=\"module.cu\"")
        .arg("driver.cpp")
        .arg("-o")
        .arg(&tmp)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cxx}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let head: String = err.chars().take(6000).collect();
        return Err(format!(
            "compiling the host driver in {} failed ({}):\n{head}",
            dir.display(),
            out.status
        ));
    }
    let secs = t0.elapsed().as_secs_f64();
    std::fs::rename(&tmp, &exe).map_err(|e| format!("cannot rename to {}: {e}", exe.display()))?;
    eprintln!(
        "gpu_host: compiled {label} driver in {secs:.1} s: {}",
        exe.display()
    );
    Ok(Some(Driver {
        exe,
        names,
        compile_secs: Some(secs),
    }))
}

/// The driver with every kernel of `OUT_DIR/keops.cu` (compiled on first use).
pub fn main_driver() -> Result<Option<&'static Driver>, String> {
    static MAIN: OnceLock<Result<Option<Driver>, String>> = OnceLock::new();
    match MAIN.get_or_init(|| build("main", None)) {
        Ok(d) => Ok(d.as_ref()),
        Err(e) => Err(e.clone()),
    }
}

/// Formulas (the text inside `kernel!(..)`) to compile beside `keops.cu`: those written inside a
/// `macro_rules!`, which the build-time scan does not see. Register them before running them.
pub fn register_formulas(texts: &[&'static str]) {
    let mut r = EXTRA.lock().unwrap_or_else(|e| e.into_inner());
    for t in texts {
        if !r.texts.contains(t) {
            r.texts.push(t);
        }
    }
}

type Built = Result<Option<&'static Driver>, String>;
/// The registered formulas, and the driver built for the first `n` of them.
struct Extra {
    texts: Vec<&'static str>,
    built: Option<(usize, Built)>,
}
static EXTRA: Mutex<Extra> = Mutex::new(Extra {
    texts: Vec::new(),
    built: None,
});

/// The driver with the registered formulas that `keops.cu` lacks (compiled again when the
/// registered set grew).
fn extra_driver() -> Built {
    let mut r = EXTRA.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((n, built)) = &r.built {
        if *n == r.texts.len() {
            return built.clone();
        }
    }
    let built = (|| {
        let main = read(&Path::new(OUT_DIR).join("keops.cu"))?;
        let mut formulas = Vec::new();
        for text in &r.texts {
            let f = keops_formula::analyze(
                syn::parse_str(text).map_err(|e| format!("cannot tokenize `{text}`: {e}"))?,
            )
            .map_err(|_| format!("`{text}` is not a valid formula"))?;
            let id = keops_formula::emit::cuda::formula_id(&f);
            if !main.contains(&format!("namespace {id} {{")) {
                formulas.push(f);
            }
        }
        let (module, _) = keops_formula::emit::cuda::emit_module(&formulas);
        Ok(build("extra", Some(&module))?.map(|d| &*Box::leak(Box::new(d))))
    })();
    r.built = Some((r.texts.len(), built.clone()));
    built
}

/// The driver holding kernel `name`.
pub(super) fn driver_for(name: &str) -> Result<Option<&'static Driver>, String> {
    let Some(main) = main_driver()? else {
        return Ok(None);
    };
    if main.names.contains(name) {
        return Ok(Some(main));
    }
    match extra_driver()? {
        Some(d) if d.names.contains(name) => Ok(Some(d)),
        _ => Err(format!(
            "kernel {name} is in no compiled module: its formula is neither in OUT_DIR/keops.cu \
             (build-time scan) nor registered with gpu_host::register_formulas"
        )),
    }
}

pub(super) const NO_COMPILER: &str =
    "no C++ compiler (g++ or KEOPS_HOST_CXX): host emulation skipped";
