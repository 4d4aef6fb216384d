//! The GPU path without a GPU: runs the CUDA kernels generated for a bound formula as host C++
//! under the emulation of keops-formula's `keops_host.h` (blocks in turn, a block's 256 threads as
//! real threads meeting at a barrier for `__syncthreads`), launched exactly as the CUDA backend
//! launches them: the kernel named by `GpuTask::kernel_name`, the shape of `GpuTask::plan`, the
//! arguments of `GpuTask::args` (its `#[repr(C)]` bytes, so the mirror of `KeopsArgs` is checked
//! too), the f64 partial sums and `keops_combine_<T>` when the reduction range is split, the
//! matvec columns in launches of at most 8, and a block-sparse task's `GpuTask::block_table`.
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
use keops_runtime::{BlockTable, GpuTask, LaunchPlan};

mod driver;
mod wire;

use driver::*;
// Each test binary uses part of this interface (as `dead_code` is allowed in common/mod.rs).
#[allow(unused_imports)]
pub use driver::{main_driver, register_formulas};
use wire::*;

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
const H_BLOCKS: u64 = 0x7000;
const H_RANGES: u64 = 0x8000;
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
    // A block-sparse launch reads the request's table (`GpuTask::block_table`).
    if task.sparsity.is_some() {
        a.blocks = H_BLOCKS;
        a.ranges = H_RANGES;
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
    let table = task.block_table();
    let req = request(
        LAUNCH_TIMEOUT_MS,
        (&task.vars, &task.params, v),
        table.as_ref(),
        &jobs,
    );
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
/// plan's own choice; `Some(s)`: `s` blocks along the reduction index, clamped to the tiles; a
/// block-sparse task's plan never splits) in one driver process. Each output is `(n_out,
/// out_dim)` row-major: the values in [`HostRun::outs`], the indices of an arg reduction in
/// [`HostRun::idx`]. The reductions other than the sum get the partial buffer
/// `GpuTask::partial_len` sizes and `keops_combine_red_<T>`.
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
    let req = request::<T>(timeout_ms, (&[], &[], &[]), None, &[job]);
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
