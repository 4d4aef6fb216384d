//! The GPU path without a GPU: runs the CUDA kernels generated for a bound formula as host C++
//! under the emulation of keops-formula's `keops_host.h` (blocks in turn, a block's 256 threads as
//! real threads meeting at a barrier for `__syncthreads`), launched exactly as the CUDA backend
//! launches them: the kernel named by `GpuTask::kernel_name`, the shape of `GpuTask::plan`, the
//! arguments of `GpuTask::args` (its `#[repr(C)]` bytes, so the mirror of `KeopsArgs` is checked
//! too), the f64 partial sums and `keops_combine_<T>` when the reduction range is split, and the
//! matvec columns in launches of at most 8.
//!
//! The kernels come from `OUT_DIR/keops.cu` (every formula the build script found), compiled with
//! `tests/host/driver.cpp` once per content hash and cached under `CARGO_TARGET_TMPDIR`. Formulas
//! the build-time scan cannot see (written inside `macro_rules!`) are registered as text with
//! [`register_formulas`] and compiled into a second driver. Each run is a child process (a hung
//! kernel is reported by the driver's barrier timeout, and the process is killed if it hangs
//! anyway). Without a C++ compiler (`g++`, or `KEOPS_HOST_CXX`) every run is skipped with a note.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use keops::Real;
use keops_abi::gpu::{KernelArgs, MATVEC_COLUMNS, MAX_PARAMS, MAX_VARS};
use keops_runtime::{GpuTask, LaunchPlan};

/// Multiprocessors of the emulated device: `plan` splits the reduction range when there are fewer
/// than `4 * SMS` row blocks, so small outputs exercise the split scheme.
pub const SMS: usize = 4;
/// The driver's timeout for one launch (a `__syncthreads` some thread never reaches).
pub const LAUNCH_TIMEOUT_MS: u32 = 20_000;
/// The driver process is killed after this long.
pub const KILL_AFTER: Duration = Duration::from_secs(60);

const OUT_DIR: &str = env!("OUT_DIR");
const HOST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/host");
const CACHE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/keops-host");
/// g++'s flags for the driver. Unoptimised: the module holds every formula's kernels (1.6 MB of
/// C++), which g++ -O1 compiles in ~75 s on one core and -O0 in ~22 s, while the emulated launches
/// (dominated by the threads meeting at barriers) run only ~20% slower.
const FLAGS: &[&str] = &["-std=c++20", "-DKEOPS_HOST", "-O0", "-pthread"];

// Pointer handles in `KernelArgs`, resolved by driver.cpp to its own buffers.
const H_VAR: u64 = 0x1000;
const H_PARAM: u64 = 0x2000;
const H_V: u64 = 0x3000;
const H_OUT: u64 = 0x4000;
const H_PARTIAL: u64 = 0x5000;
const H_OUT_IDX: u64 = 0x6000;
const REQUEST_MAGIC: u32 = 0x3152_484b;
const RESPONSE_MAGIC: u32 = 0x3153_484b;
/// driver.cpp's exit status for a launch that timed out.
pub const EXIT_TIMEOUT: i32 = 3;

/// A compiled driver and the kernels it holds.
#[derive(Debug)]
pub struct Driver {
    pub exe: PathBuf,
    names: HashSet<String>,
    /// Seconds the compilation took, `None` when the cached executable was used.
    pub compile_secs: Option<f64>,
}

/// What a run gave: the outputs, one per requested split, or why it did not run.
#[derive(Debug)]
pub enum Outcome<T> {
    Ran(HostRun<T>),
    /// Not a failure: no C++ compiler, or no GPU kernel for these dimensions (> 256).
    Skipped(String),
}

/// The outputs of one driver process.
#[derive(Debug)]
pub struct HostRun<T> {
    /// The kernel (the first of a matvec's launches).
    pub kernel: String,
    /// One output per job (per requested split), row-major: the values (empty for an arg
    /// reduction).
    pub outs: Vec<Vec<T>>,
    /// One output per job: the indices of an arg reduction (int64 on the device; empty for the
    /// others), row-major.
    pub idx: Vec<Vec<i64>>,
    /// The launch plan of each job's first launch.
    pub plans: Vec<LaunchPlan>,
    /// Seconds the driver spent in each job's launches.
    pub secs: Vec<f64>,
}

fn compiler() -> &'static Option<(String, String)> {
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

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Writes `bytes` to `path` atomically (another process may be writing the same file).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp.{}.{}", std::process::id(), unique()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))
}

fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Compiles driver.cpp with `module` (a generated `.cu`, or `None` for `OUT_DIR/keops.cu`), or
/// finds it in the cache. `Ok(None)`: no compiler. The sources are copied into the cache entry
/// first, so that the executable is built from exactly what its name hashes.
fn build(label: &str, module: Option<&str>) -> Result<Option<Driver>, String> {
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
fn driver_for(name: &str) -> Result<Option<&'static Driver>, String> {
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

const NO_COMPILER: &str = "no C++ compiler (g++ or KEOPS_HOST_CXX): host emulation skipped";

// ---------------------------------------------------------------------------------------------
// Requests.

struct Launch {
    name: String,
    plan: LaunchPlan,
    /// The combining pass: columns per output row, row stride of out, first column.
    combine: (usize, usize, usize),
    /// Reductions other than the sum: `keops_combine_red`'s kind code (0 for the sum), entries
    /// per row, K.
    red: (i32, usize, usize),
    /// f64 entries of the partial buffer (0: none).
    partial_len: usize,
    args: KernelArgs,
}

struct Job {
    out_len: usize,
    idx_len: usize,
    launches: Vec<Launch>,
}

fn put_u32(b: &mut Vec<u8>, x: u32) {
    b.extend_from_slice(&x.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, x: u64) {
    b.extend_from_slice(&x.to_le_bytes());
}
fn put_i32(b: &mut Vec<u8>, x: usize) {
    b.extend_from_slice(&i32::try_from(x).expect("fits an int").to_le_bytes());
}
fn put_reals<T: Real>(b: &mut Vec<u8>, xs: &[T]) {
    put_u64(b, xs.len() as u64);
    for x in xs {
        if std::mem::size_of::<T>() == 4 {
            b.extend_from_slice(&(x.to_f64() as f32).to_le_bytes());
        } else {
            b.extend_from_slice(&x.to_f64().to_le_bytes());
        }
    }
}

fn args_bytes(a: &KernelArgs) -> &[u8] {
    const _: () = assert!(std::mem::size_of::<KernelArgs>() == 392);
    // SAFETY: KernelArgs is #[repr(C)], made of u64/i64/i32 fields laid out without padding
    // (392 bytes: 35 eight-byte words, 20 four-byte ones, then one eight-byte word at offset
    // 384), so every byte is initialised.
    unsafe {
        std::slice::from_raw_parts(
            (a as *const KernelArgs).cast::<u8>(),
            std::mem::size_of::<KernelArgs>(),
        )
    }
}

fn request<T: Real>(
    timeout_ms: u32,
    vars: &[&[T]],
    params: &[&[T]],
    v: &[T],
    jobs: &[Job],
) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, REQUEST_MAGIC);
    put_u32(&mut b, std::mem::size_of::<T>() as u32);
    put_u32(&mut b, timeout_ms);
    put_u32(&mut b, vars.len() as u32);
    for x in vars {
        put_reals(&mut b, x);
    }
    put_u32(&mut b, params.len() as u32);
    for x in params {
        put_reals(&mut b, x);
    }
    put_reals(&mut b, v);
    put_u32(&mut b, jobs.len() as u32);
    for job in jobs {
        put_u64(&mut b, job.out_len as u64);
        put_u64(&mut b, job.idx_len as u64);
        put_u32(&mut b, job.launches.len() as u32);
        for l in &job.launches {
            put_u32(&mut b, l.name.len() as u32);
            b.extend_from_slice(l.name.as_bytes());
            put_u32(&mut b, l.plan.grid_x);
            put_u32(&mut b, l.plan.grid_y);
            put_u32(&mut b, l.plan.block);
            put_u64(&mut b, l.plan.shared_bytes as u64);
            put_i32(&mut b, l.combine.0);
            put_i32(&mut b, l.combine.1);
            put_i32(&mut b, l.combine.2);
            b.extend_from_slice(&l.red.0.to_le_bytes());
            put_i32(&mut b, l.red.1);
            put_i32(&mut b, l.red.2);
            put_u64(&mut b, l.partial_len as u64);
            put_u32(&mut b, std::mem::size_of::<KernelArgs>() as u32);
            b.extend_from_slice(args_bytes(&l.args));
        }
    }
    b
}

/// Runs `driver` on `req`; the response's outputs and per-job seconds.
type Response<T> = (Vec<Vec<T>>, Vec<Vec<i64>>, Vec<f64>);

fn exec<T: Real>(driver: &Driver, req: &[u8], kill_after: Duration) -> Result<Response<T>, String> {
    let dir = Path::new(CACHE).join("runs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let base = dir.join(format!("{}-{}", std::process::id(), unique()));
    let (req_p, resp_p, err_p) = (
        base.with_extension("req"),
        base.with_extension("resp"),
        base.with_extension("err"),
    );
    let cleanup = || {
        for p in [&req_p, &resp_p, &err_p] {
            let _ = std::fs::remove_file(p);
        }
    };
    std::fs::write(&req_p, req).map_err(|e| format!("cannot write {}: {e}", req_p.display()))?;
    let err_file = std::fs::File::create(&err_p).map_err(|e| e.to_string())?;
    let mut child = Command::new(&driver.exe)
        .arg(&req_p)
        .arg(&resp_p)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", driver.exe.display()))?;
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if t0.elapsed() > kill_after {
            let _ = child.kill();
            let _ = child.wait();
            cleanup();
            return Err(format!(
                "the host driver was killed after {kill_after:?} (a kernel hangs)"
            ));
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let stderr = std::fs::read_to_string(&err_p).unwrap_or_default();
    if !status.success() {
        cleanup();
        return Err(format!(
            "host driver failed ({status}): {}",
            stderr.trim_end()
        ));
    }
    let resp = std::fs::read(&resp_p).map_err(|e| format!("no response: {e}"));
    cleanup();
    parse_response(&resp?)
}

fn parse_response<T: Real>(r: &[u8]) -> Result<Response<T>, String> {
    let mut pos = 0;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = r.get(pos..pos + n).ok_or("truncated response")?;
        pos += n;
        Ok(s)
    };
    let u32_of = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap());
    if u32_of(take(4)?) != RESPONSE_MAGIC {
        return Err("bad response".into());
    }
    let njobs = u32_of(take(4)?) as usize;
    let (mut outs, mut idx, mut secs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..njobs {
        secs.push(f64::from_le_bytes(take(8)?.try_into().unwrap()));
        let n = u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize;
        let size = std::mem::size_of::<T>();
        let data = take(n * size)?;
        outs.push(
            data.chunks_exact(size)
                .map(|c| {
                    T::from_f64(if size == 4 {
                        f32::from_le_bytes(c.try_into().unwrap()) as f64
                    } else {
                        f64::from_le_bytes(c.try_into().unwrap())
                    })
                })
                .collect(),
        );
        let n = u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize;
        let data = take(n * 8)?;
        idx.push(
            data.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        );
    }
    Ok((outs, idx, secs))
}

// ---------------------------------------------------------------------------------------------
// Running a bound formula's kernels.

fn launch_args<T: Real>(
    task: &GpuTask<'_, T>,
    plan: &LaunchPlan,
    v: bool,
    cols: (usize, usize, usize),
) -> KernelArgs {
    let vars: Vec<u64> = (0..task.vars.len() as u64).map(|k| H_VAR + k).collect();
    let params: Vec<u64> = (0..task.params.len() as u64).map(|k| H_PARAM + k).collect();
    let partial = if plan.grid_y > 1 || task.partial_len(plan, 0) > 0 {
        H_PARTIAL
    } else {
        0
    };
    let v = if v { H_V } else { 0 };
    let out = if task.reduce.values() { H_OUT } else { 0 };
    let mut a = task.args(plan, &vars, &params, v, out, partial, cols);
    if task.reduce.indices() {
        a.out_idx = H_OUT_IDX;
    }
    a
}

fn check_task<T: Real>(task: &GpuTask<'_, T>) -> Result<Option<String>, String> {
    // (More than MAX_SLOTS classes is fine while the run-time ones come first: the kernels read
    // `dims` only for run-time classes.)
    if task.vars.len() > MAX_VARS || task.params.len() > MAX_PARAMS {
        return Err(format!(
            "{}: more variables or parameters than KeopsArgs holds",
            task.id
        ));
    }
    Ok(match task.arm() {
        None => Some(format!(
            "{}: a dimension of {:?} exceeds every GPU kernel (the CPU engine runs it)",
            task.id, task.slot_dims
        )),
        Some(_) => None,
    })
}

fn run_jobs<T: Real>(task: &GpuTask<'_, T>, v: &[T], jobs: Vec<Job>) -> Result<Outcome<T>, String> {
    let kernel = jobs[0].launches[0].name.clone();
    let Some(driver) = driver_for(&kernel)? else {
        return Ok(Outcome::Skipped(NO_COMPILER.into()));
    };
    let plans: Vec<LaunchPlan> = jobs.iter().map(|j| j.launches[0].plan).collect();
    let req = request(LAUNCH_TIMEOUT_MS, &task.vars, &task.params, v, &jobs);
    let t0 = Instant::now();
    let (outs, idx, secs) =
        exec::<T>(driver, &req, KILL_AFTER).map_err(|e| format!("{kernel}: {e}"))?;
    if std::env::var_os("KEOPS_HOST_TRACE").is_some() {
        eprintln!(
            "gpu_host: {kernel} {:?}: {:.1} ms in the driver, {:.1} ms in all",
            plans
                .iter()
                .map(|p| (p.grid_x, p.grid_y))
                .collect::<Vec<_>>(),
            secs.iter().sum::<f64>() * 1e3,
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(Outcome::Ran(HostRun {
        kernel,
        outs,
        idx,
        plans,
        secs,
    }))
}

/// Runs a `sum_j` / `sum_i` formula's reduction kernel once per entry of `splits` (`None`: the
/// plan's own choice; `Some(s)`: `s` blocks along the reduction index, clamped to the tiles) in
/// one driver process. Each output is `(n_out, out_dim)` row-major: the values in
/// [`HostRun::outs`], the indices of an arg reduction in [`HostRun::idx`]. The reductions other
/// than the sum get the partial buffer `GpuTask::partial_len` sizes and `keops_combine_red_<T>`.
pub fn run_reduction_splits<T: Real>(
    task: &GpuTask<'_, T>,
    splits: &[Option<usize>],
) -> Result<Outcome<T>, String> {
    assert!(
        !task.matvec,
        "{}: a kernel matrix (use run_matvec)",
        task.id
    );
    if let Some(why) = check_task(task)? {
        return Ok(Outcome::Skipped(why));
    }
    let name = task.kernel_name(0).expect("arm checked");
    let jobs = splits
        .iter()
        .map(|&split| {
            let plan = task.plan(0, SMS, split);
            let d = task.out_dim;
            let r = task.reduce;
            let partial_len = task.partial_len(&plan, 0);
            Job {
                out_len: if r.values() { task.n_out * d } else { 0 },
                idx_len: if r.indices() { task.n_out * d } else { 0 },
                launches: vec![Launch {
                    name: name.clone(),
                    plan,
                    combine: (d, d, 0),
                    red: (r.combine() as i32, task.entry_dim(), r.k()),
                    partial_len,
                    args: launch_args(task, &plan, false, (0, 0, 0)),
                }],
            }
        })
        .collect();
    run_jobs(task, &[], jobs)
}

/// Runs a kernel matrix's matvec kernels for `v` (`(n_red, nv)` row-major) once per entry of
/// `splits`: columns in launches of at most 8 (`col0 += 8`), the 1-column kernel when `nv == 1`.
/// Each output is `(n_out, nv)` row-major.
pub fn run_matvec_splits<T: Real>(
    task: &GpuTask<'_, T>,
    v: &[T],
    nv: usize,
    splits: &[Option<usize>],
) -> Result<Outcome<T>, String> {
    assert!(task.matvec, "{}: a reduction (use run_reduction)", task.id);
    assert_eq!(v.len(), task.n_red * nv, "v is (n_red, nv)");
    if let Some(why) = check_task(task)? {
        return Ok(Outcome::Skipped(why));
    }
    let width = MATVEC_COLUMNS[1];
    let name = task
        .kernel_name(if nv == 1 { MATVEC_COLUMNS[0] } else { width })
        .expect("arm checked");
    let jobs = splits
        .iter()
        .map(|&split| Job {
            out_len: task.n_out * nv,
            idx_len: 0,
            launches: (0..nv)
                .step_by(width)
                .map(|col0| {
                    let nvc = width.min(nv - col0);
                    let plan = task.plan(nvc, SMS, split);
                    Launch {
                        name: name.clone(),
                        plan,
                        combine: (nvc, nv, col0),
                        red: (0, 0, 0),
                        partial_len: task.partial_len(&plan, nvc),
                        args: launch_args(task, &plan, true, (nv, col0, nvc)),
                    }
                })
                .collect(),
        })
        .collect();
    run_jobs(task, v, jobs)
}

/// [`run_reduction_splits`] for one split.
pub fn run_reduction<T: Real>(
    task: &GpuTask<'_, T>,
    split: Option<usize>,
) -> Result<Outcome<T>, String> {
    run_reduction_splits(task, &[split])
}

/// [`run_matvec_splits`] for one split.
pub fn run_matvec<T: Real>(
    task: &GpuTask<'_, T>,
    v: &[T],
    nv: usize,
    split: Option<usize>,
) -> Result<Outcome<T>, String> {
    run_matvec_splits(task, v, nv, &[split])
}

/// Runs one of tests/host/test_kernels.h's kernels (`keops_test_<kind>_<f32|f64>`) over `n_out`
/// rows, with the driver's launch timeout `timeout_ms` and the process killed after `kill_after`.
/// `Ok(None)`: no compiler.
pub fn run_test_kernel<T: Real>(
    kind: &str,
    n_out: usize,
    timeout_ms: u32,
    kill_after: Duration,
) -> Result<Option<Vec<T>>, String> {
    let Some(driver) = main_driver()? else {
        return Ok(None);
    };
    let plan = LaunchPlan {
        grid_x: n_out.div_ceil(256) as u32,
        grid_y: 1,
        block: 256,
        tile: 1,
        red_chunk: 1,
        shared_bytes: 0,
    };
    let args = KernelArgs {
        out: H_OUT,
        n_out: n_out as i64,
        ..KernelArgs::default()
    };
    let job = Job {
        out_len: n_out,
        idx_len: 0,
        launches: vec![Launch {
            name: format!("keops_test_{kind}_{}", T::NAME),
            plan,
            combine: (1, 1, 0),
            red: (0, 0, 0),
            partial_len: 0,
            args,
        }],
    };
    let req = request::<T>(timeout_ms, &[], &[], &[], &[job]);
    let (mut outs, _, _) = exec::<T>(driver, &req, kill_after)?;
    Ok(outs.pop())
}

// ---------------------------------------------------------------------------------------------
// Recording runs beside the CPU engine's (for tests that compare through a shared harness).

/// A host-emulated run recorded by [`record_reduction`] / [`record_matvec`]: its description and
/// output (as f64), or the error.
#[derive(Debug)]
pub struct Recorded {
    pub what: String,
    pub got: Result<Vec<f64>, String>,
    /// The indices of an arg reduction (empty for the others).
    pub idx: Vec<i64>,
}

thread_local! {
    static RECORDED: std::cell::RefCell<Vec<Recorded>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The splits a recorded run uses: the plan's own, and, when that is a single block along the
/// reduction index but there are at least 2 tiles, also 3 blocks (so the split scheme and its
/// combining pass run for every formula whose tests have a size with 2 tiles or more). `nvc`: the
/// matvec columns of the first launch (0 for a reduction).
pub fn record_splits<T: Real>(task: &GpuTask<'_, T>, nvc: usize) -> Vec<Option<usize>> {
    let own = task.plan(nvc, SMS, None);
    let forced = task.plan(nvc, SMS, Some(3));
    if own.grid_y == 1 && forced.grid_y > 1 {
        vec![None, Some(3)]
    } else {
        vec![None]
    }
}

fn record<T: Real>(r: Result<Outcome<T>, String>) {
    let entries = match r {
        Err(e) => vec![Recorded {
            what: "host emulation".into(),
            got: Err(e),
            idx: Vec::new(),
        }],
        // No GPU kernel for these dimensions, or no compiler (noted once): nothing to compare.
        Ok(Outcome::Skipped(_)) => Vec::new(),
        Ok(Outcome::Ran(run)) => run
            .outs
            .into_iter()
            .zip(run.idx)
            .zip(&run.plans)
            .map(|((out, idx), p)| Recorded {
                what: format!(
                    "host-emulated CUDA kernel {} (grid {}x{}, tile {})",
                    run.kernel, p.grid_x, p.grid_y, p.tile
                ),
                got: Ok(out.iter().map(|x| x.to_f64()).collect()),
                idx,
            })
            .collect(),
    };
    RECORDED.with(|r| r.borrow_mut().extend(entries));
}

/// Runs a reduction's kernel with [`record_splits`] and keeps the results for [`take_recorded`].
pub fn record_reduction<T: Real>(task: &GpuTask<'_, T>) {
    record(run_reduction_splits(task, &record_splits(task, 0)));
}

/// Runs a kernel matrix's matvec kernels with [`record_splits`] and keeps the results for
/// [`take_recorded`].
pub fn record_matvec<T: Real>(task: &GpuTask<'_, T>, v: &[T], nv: usize) {
    let splits = record_splits(task, nv.min(MATVEC_COLUMNS[1]));
    record(run_matvec_splits(task, v, nv, &splits));
}

/// The runs recorded on this thread since the last call.
pub fn take_recorded() -> Vec<Recorded> {
    RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

/// Whether host emulation runs here (a C++ compiler and a driver that compiled).
pub fn available() -> bool {
    matches!(main_driver(), Ok(Some(_)))
}
