//! The CUDA backend (feature `cuda`): runs a bound formula's generated kernels on an NVIDIA GPU
//! through the driver API (cudarc, loaded at run time: a machine without a driver gets
//! [`KeopsError::NoCudaDriver`], never a panic).
//!
//! - [`Gpu::new`] opens a device once per process (the context and the loaded modules are
//!   cached and shared by every clone of the handle).
//! - Kernels come from the formula's PTX (`OUT_DIR/keops-cuda/<formula id>.ptx`, compiled by
//!   nvcc at build time and embedded by the `kernel!` expansion in its [`GpuTask`]); a kernel
//!   missing from it (no nvcc at build time, a formula the build step did not see, a PTX the
//!   driver rejects) is compiled at run time with NVRTC from the task's own CUDA source. [`Gpu::kernel_source`] and [`Gpu::log`] tell which path was taken.
//! - [`reduce`] and [`matvec`] upload a call's data, launch the reduction (split along the
//!   reduction index when there are few output rows, then a combining pass), and download the
//!   result; [`GpuKernelMatrix`] keeps a kernel matrix's data on the device for repeated products
//!   (the conjugate-gradient solve).
//! - [`Backend`] selects CPU or GPU per call: `Reduction::eval_on`, `KernelMatrix::matvec_on`.
//! - [`GpuKernelMatrix::solve`] runs the conjugate gradient on the device: its vectors stay in
//!   device memory (f64), each iteration reads back only a few hundred partial sums.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use cudarc::driver::sys::{CUdevice_attribute, CUresult};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, DeviceRepr,
    DriverError, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

use keops_abi::gpu::{prelude as prelude_kernels, CG_THREADS};

use crate::gpu::{GpuTask, KernelArgs, LaunchPlan, MATVEC_COLUMNS, THREADS};
use crate::matrix::check_operand_shape;
use crate::ReductionOutput;
use crate::{
    BoundKernel, BoundReduction, IntoView, KeopsError, KernelMatrix, LinearOperator, Real,
    Reduction, Rows,
};

/// The argument block of a launch: keops-abi's `KernelArgs`, given to cudarc by value.
#[repr(transparent)]
struct DeviceArgs(KernelArgs);

// SAFETY: `KernelArgs` is `#[repr(C)]`, `Copy`, and made only of `u64`, `i64` and `i32` fields
// and arrays of them (no padding, no pointers into host memory: addresses are device addresses
// stored as integers); `DeviceArgs` is transparent over it. Every module declares `KeopsArgs` from
// the same definition (keops_abi::gpu::cuda_header) and `static_assert`s its size and offsets
// against `KernelArgs`'s, so these bytes are exactly what a kernel taking `const KeopsArgs` by
// value expects.
unsafe impl DeviceRepr for DeviceArgs {}

/// Largest `gridDim.y` of a launch.
const MAX_GRID_Y: u32 = 65_535;

/// Where a computation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The GPU 0 when there is one and the formula has a GPU kernel for its dimensions, else
    /// the CPU engine.
    #[default]
    Auto,
    /// The CPU engine (tiled, multi-threaded).
    Cpu,
    /// The CUDA device with this ordinal; errors are reported, never hidden by a CPU fallback.
    Cuda(usize),
}

/// Where a loaded kernel came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KernelSource {
    /// The crate's PTX, compiled by nvcc at build time.
    Ptx,
    /// The formula's CUDA source, compiled at run time by NVRTC.
    Nvrtc,
}

/// An open CUDA device: its context, the stream every call runs on, and the kernels loaded so
/// far. Cheap to clone; [`Gpu::new`] returns the same device for the same ordinal.
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<Inner>,
}

struct Inner {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    sms: usize,
    compute_capability: (i32, i32),
    driver_version: (i32, i32),
    total_memory: usize,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// Address and length of a PTX text -> hash of its contents (every formula of a crate points
    /// at the same PTX; a binary may hold several copies of it).
    ptx_keys: HashMap<(usize, usize), u64>,
    /// Hash of a PTX text -> its module, or why it could not be loaded.
    ptx_modules: HashMap<u64, Result<Arc<CudaModule>, String>>,
    /// Formula id -> the module NVRTC compiled from its source.
    nvrtc_modules: HashMap<&'static str, Arc<CudaModule>>,
    /// Kernel name -> the kernel, its module's combining kernel, where it came from.
    kernels: HashMap<String, Kernel>,
    log: Vec<String>,
}

#[derive(Clone)]
struct Kernel {
    name: String,
    func: CudaFunction,
    combine: CudaFunction,
    /// The combining pass of the reductions other than the sum (`keops_combine_red_<T>`).
    combine_red: CudaFunction,
    source: KernelSource,
    /// The module it came from (which also holds the prelude's device-CG kernels).
    module: Arc<CudaModule>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("Gpu")
            .field("ordinal", &i.ordinal)
            .field("name", &i.name)
            .field("multiprocessors", &i.sms)
            .field("compute_capability", &i.compute_capability)
            .field("driver_version", &i.driver_version)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a cache lock leaves the cache consistent (entries are inserted
    // whole), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs `f`, turning a panic inside cudarc (a missing driver symbol, an unexpected null) into
/// `on_panic(message)`.
fn guarded<R>(
    f: impl FnOnce() -> Result<R, KeopsError>,
    on_panic: impl FnOnce(String) -> KeopsError,
) -> Result<R, KeopsError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(on_panic(panic_message(&*p))),
    }
}

/// `CUDA_ERROR_...: description` of a driver error.
fn reason(e: &DriverError) -> String {
    let name = e
        .error_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("{:?}", e.0));
    match e.error_string() {
        Ok(s) => format!("{name} ({})", s.to_string_lossy()),
        Err(_) => name,
    }
}

fn cuda_err(operation: &str, e: DriverError) -> KeopsError {
    if e.0 == CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        return KeopsError::CudaOutOfMemory { bytes: 0 };
    }
    KeopsError::Cuda {
        operation: operation.to_string(),
        reason: reason(&e),
    }
}

fn launch_err(kernel: &str, e: DriverError) -> KeopsError {
    KeopsError::CudaLaunch {
        kernel: kernel.to_string(),
        reason: reason(&e),
    }
}

fn no_driver(reason: impl Into<String>) -> KeopsError {
    KeopsError::NoCudaDriver {
        reason: reason.into(),
    }
}

/// The data of a slice of `f32`/`f64` as bytes.
fn as_bytes<T: Real>(s: &[T]) -> &[u8] {
    // SAFETY: `Real` is sealed to f32 and f64: plain old data with every byte initialised and no
    // padding; the byte slice covers exactly the slice's memory and u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
}

/// A mutable slice of `f32`/`f64` as bytes (any byte pattern is a valid f32/f64).
fn as_bytes_mut<T: Real>(s: &mut [T]) -> &mut [u8] {
    let len = std::mem::size_of_val(s);
    // SAFETY: as in `as_bytes`; moreover every bit pattern is a valid f32/f64, so writing any
    // bytes leaves valid values, and the exclusive borrow is held for the byte slice's lifetime.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<u8>(), len) }
}

/// The driver library, probed once per process: its version `(major, minor)`, or why there is
/// no usable driver.
///
/// cudarc (feature `dynamic-loading`) loads libcuda on first use and panics when it cannot; so
/// the library's presence is checked first with cudarc's own probe (`is_culib_present`, which
/// tries the same file names `dlopen` would be given), then `cuInit` and `cuDriverGetVersion`
/// run under `catch_unwind` in case a symbol is missing from an old driver.
pub fn driver_version() -> Result<(i32, i32), KeopsError> {
    static PROBE: OnceLock<Result<(i32, i32), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let probe = || -> Result<(i32, i32), KeopsError> {
                // SAFETY: only opens (and closes again) candidate names of the driver library;
                // loading libcuda runs no code of ours.
                if !unsafe { cudarc::driver::sys::is_culib_present() } {
                    return Err(no_driver(
                        "the NVIDIA driver library (libcuda.so) was not found: no NVIDIA driver is installed, or the loader cannot see it (LD_LIBRARY_PATH)",
                    ));
                }
                cudarc::driver::result::init()
                    .map_err(|e| no_driver(format!("cuInit failed: {}", reason(&e))))?;
                let mut v = 0;
                // SAFETY: cuDriverGetVersion writes one int through a valid pointer.
                unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }
                    .result()
                    .map_err(|e| no_driver(format!("cuDriverGetVersion failed: {}", reason(&e))))?;
                Ok((v / 1000, (v % 1000) / 10))
            };
            guarded(probe, |m| no_driver(format!("loading the CUDA driver failed: {m}")))
                .map_err(|e| match e {
                    KeopsError::NoCudaDriver { reason } => reason,
                    other => other.to_string(),
                })
        })
        .clone()
        .map_err(no_driver)
}

/// Number of CUDA devices, or why there is none.
pub fn device_count() -> Result<usize, KeopsError> {
    driver_version()?;
    guarded(
        || {
            CudaContext::device_count()
                .map(|n| n.max(0) as usize)
                .map_err(|e| no_driver(format!("cuDeviceGetCount failed: {}", reason(&e))))
        },
        |m| no_driver(format!("cuDeviceGetCount panicked: {m}")),
    )
}

impl Gpu {
    /// Opens CUDA device `ordinal` (its primary context), once per process: later calls return
    /// the same device, with the kernels it loaded. Without a driver or without that device:
    /// [`KeopsError::NoCudaDriver`].
    pub fn new(ordinal: usize) -> Result<Gpu, KeopsError> {
        type Opened = Mutex<HashMap<usize, Result<Gpu, KeopsError>>>;
        static OPENED: OnceLock<Opened> = OnceLock::new();
        let mut opened = lock(OPENED.get_or_init(Default::default));
        opened
            .entry(ordinal)
            .or_insert_with(|| Gpu::open(ordinal))
            .clone()
    }

    fn open(ordinal: usize) -> Result<Gpu, KeopsError> {
        let driver_version = driver_version()?;
        let count = device_count()?;
        if ordinal >= count {
            return Err(no_driver(format!(
                "device {ordinal} was requested, the driver (CUDA {}.{}) sees {count} device(s)",
                driver_version.0, driver_version.1
            )));
        }
        let open = || -> Result<Gpu, KeopsError> {
            let ctx = CudaContext::new(ordinal).map_err(|e| {
                no_driver(format!(
                    "creating a context on device {ordinal} failed: {}",
                    reason(&e)
                ))
            })?;
            let attr = |a| {
                ctx.attribute(a)
                    .map_err(|e| cuda_err("cuDeviceGetAttribute", e))
            };
            let sms = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
            let compute_capability = ctx
                .compute_capability()
                .map_err(|e| cuda_err("cuDeviceGetAttribute", e))?;
            let name = ctx
                .name()
                .unwrap_or_else(|_| format!("CUDA device {ordinal}"));
            let total_memory = ctx.total_mem().unwrap_or(0);
            // The legacy default stream: every call of every thread is ordered on it, so the
            // device buffers of a GpuKernelMatrix are ready for any later call.
            let stream = ctx.default_stream();
            // SAFETY: this context object is ours alone (CudaContext::new returns a new handle
            // to the primary context), and every buffer it allocates is allocated, used by
            // kernels and copies, and freed on that one stream, which orders all of it; cudarc's
            // per-buffer events only synchronise across streams (two events per allocation).
            unsafe { ctx.disable_event_tracking() };
            Ok(Gpu {
                inner: Arc::new(Inner {
                    ordinal,
                    ctx,
                    stream,
                    name,
                    sms: sms.max(1) as usize,
                    compute_capability,
                    driver_version,
                    total_memory,
                    cache: Mutex::new(Cache::default()),
                }),
            })
        };
        guarded(open, |m| {
            no_driver(format!("opening device {ordinal} panicked: {m}"))
        })
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal
    }
    /// The device's name (`NVIDIA H100 80GB HBM3`...).
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// Streaming multiprocessors (the launch plan aims at four blocks per multiprocessor).
    pub fn multiprocessors(&self) -> usize {
        self.inner.sms
    }
    /// Compute capability `(major, minor)`.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.inner.compute_capability
    }
    /// The CUDA version the driver supports, `(major, minor)`.
    pub fn driver_version(&self) -> (i32, i32) {
        self.inner.driver_version
    }
    /// Device memory in bytes.
    pub fn total_memory(&self) -> usize {
        self.inner.total_memory
    }

    /// Where kernel `name` (`keops_<hash>_<kind>_<f32|f64>_<arm>`) was loaded from, if it was.
    pub fn kernel_source(&self, name: &str) -> Option<KernelSource> {
        lock(&self.inner.cache).kernels.get(name).map(|k| k.source)
    }

    /// The kernels loaded so far and where each came from, sorted by name.
    pub fn kernels(&self) -> Vec<(String, KernelSource)> {
        let cache = lock(&self.inner.cache);
        let mut v: Vec<_> = cache
            .kernels
            .values()
            .map(|k| (k.name.clone(), k.source))
            .collect();
        v.sort();
        v
    }

    /// What happened while loading kernels (PTX modules loaded or rejected, NVRTC compilations
    /// and their durations), oldest first.
    pub fn log(&self) -> Vec<String> {
        lock(&self.inner.cache).log.clone()
    }

    /// Loads the crate's PTX ahead of the first call (otherwise it is loaded on first use).
    /// An empty text (built without nvcc) loads nothing.
    pub fn load_ptx(&self, ptx: &'static str) -> Result<(), KeopsError> {
        self.bind()?;
        let mut cache = lock(&self.inner.cache);
        match self.ptx_module(&mut cache, ptx) {
            Some(Err(reason)) => Err(KeopsError::Cuda {
                operation: "loading the PTX module".into(),
                reason,
            }),
            _ => Ok(()),
        }
    }

    fn bind(&self) -> Result<(), KeopsError> {
        self.inner
            .ctx
            .bind_to_thread()
            .map_err(|e| cuda_err("binding the context to this thread", e))
    }

    fn push_log(cache: &mut Cache, line: String) {
        cache.log.push(line);
    }

    /// The module of a PTX text (loaded once per distinct text); `None` for an empty text.
    fn ptx_module(
        &self,
        cache: &mut Cache,
        ptx: &'static str,
    ) -> Option<Result<Arc<CudaModule>, String>> {
        if ptx.trim().is_empty() {
            return None;
        }
        let key = *cache
            .ptx_keys
            .entry((ptx.as_ptr() as usize, ptx.len()))
            .or_insert_with(|| keops_abi::fnv1a(ptx.as_bytes()));
        if let Some(m) = cache.ptx_modules.get(&key) {
            return Some(m.clone());
        }
        let t0 = Instant::now();
        let loaded = if ptx.contains('\0') {
            Err("the PTX text contains a NUL byte".to_string())
        } else {
            let ctx = &self.inner.ctx;
            catch_unwind(AssertUnwindSafe(|| {
                ctx.load_module(Ptx::from_src(ptx)).map_err(|e| reason(&e))
            }))
            .unwrap_or_else(|p| Err(format!("cudarc panicked: {}", panic_message(&*p))))
        };
        let line = match &loaded {
            Ok(_) => format!(
                "loaded the crate's PTX ({} bytes) in {:.2} s",
                ptx.len(),
                t0.elapsed().as_secs_f64()
            ),
            Err(r) => format!(
                "the driver rejected the crate's PTX ({} bytes): {r}; kernels will be compiled with NVRTC",
                ptx.len()
            ),
        };
        Self::push_log(cache, line);
        cache.ptx_modules.insert(key, loaded.clone());
        Some(loaded)
    }

    /// The module NVRTC compiles from a formula's source (once per formula).
    fn nvrtc_module<T: Real>(
        &self,
        cache: &mut Cache,
        task: &GpuTask<'_, T>,
        why: &str,
    ) -> Result<Arc<CudaModule>, KeopsError> {
        if let Some(m) = cache.nvrtc_modules.get(task.id) {
            return Ok(m.clone());
        }
        let missing = |reason: String| KeopsError::NoGpuKernel {
            formula: task.id.to_string(),
            reason,
        };
        if task.source.is_empty() {
            return Err(missing(format!(
                "{why}, and the formula carries no CUDA source (built without the `cuda` feature)"
            )));
        }
        if !nvrtc_available() {
            return Err(missing(format!(
                "{why}, and NVRTC (libnvrtc.so) was not found to compile it at run time"
            )));
        }
        let (major, minor) = self.inner.compute_capability;
        let arch = format!("compute_{major}{minor}");
        let t0 = Instant::now();
        let ptx = nvrtc(task.source, task.id, &arch)?;
        let seconds = t0.elapsed().as_secs_f64();
        let ctx = &self.inner.ctx;
        let module = catch_unwind(AssertUnwindSafe(|| ctx.load_module(ptx)))
            .map_err(|p| KeopsError::Cuda {
                operation: "loading the NVRTC module".into(),
                reason: format!("cudarc panicked: {}", panic_message(&*p)),
            })?
            .map_err(|e| cuda_err("loading the NVRTC module", e))?;
        Self::push_log(
            cache,
            format!(
                "NVRTC compiled {} for {arch} in {seconds:.2} s ({why})",
                task.id
            ),
        );
        cache.nvrtc_modules.insert(task.id, module.clone());
        Ok(module)
    }

    /// The kernel for `task` with `columns` matvec columns (0 for a reduction): from the cache,
    /// else the crate's PTX, else NVRTC.
    fn kernel<T: Real>(&self, task: &GpuTask<'_, T>, columns: usize) -> Result<Kernel, KeopsError> {
        let name = task
            .kernel_name(columns)
            .ok_or_else(|| KeopsError::NoGpuKernel {
                formula: task.id.to_string(),
                reason: format!(
                    "its run-time dimensions {:?} exceed the largest compiled for the GPU",
                    task.slot_dims
                ),
            })?;
        let mut cache = lock(&self.inner.cache);
        if let Some(k) = cache.kernels.get(&name) {
            return Ok(k.clone());
        }
        let combine = prelude_kernels::typed(prelude_kernels::COMBINE, T::NAME);
        let combine_red = prelude_kernels::typed(prelude_kernels::COMBINE_RED, T::NAME);
        // The kernel and its module's combining pass, or why not (with lazy module loading, a
        // JIT failure of one kernel surfaces here rather than at the module's load).
        let load = |module: &Arc<CudaModule>, source| -> Result<Kernel, DriverError> {
            Ok(Kernel {
                name: name.clone(),
                func: module.load_function(&name)?,
                combine: module.load_function(&combine)?,
                combine_red: module.load_function(&combine_red)?,
                source,
                module: module.clone(),
            })
        };
        let why = match self.ptx_module(&mut cache, task.ptx) {
            None => "the crate has no PTX (built without nvcc)".to_string(),
            Some(Err(r)) => format!("the driver rejected the crate's PTX ({r})"),
            Some(Ok(module)) => match load(&module, KernelSource::Ptx) {
                Ok(k) => {
                    cache.kernels.insert(k.name.clone(), k.clone());
                    return Ok(k);
                }
                Err(e) if e.0 == CUresult::CUDA_ERROR_NOT_FOUND => {
                    "the kernel is not in the crate's PTX".to_string()
                }
                Err(e) => format!("loading it from the crate's PTX failed ({})", reason(&e)),
            },
        };
        let module = self.nvrtc_module(&mut cache, task, &why)?;
        match load(&module, KernelSource::Nvrtc) {
            Ok(k) => {
                cache.kernels.insert(k.name.clone(), k.clone());
                Ok(k)
            }
            Err(e) if e.0 == CUresult::CUDA_ERROR_NOT_FOUND => Err(KeopsError::NoGpuKernel {
                formula: task.id.to_string(),
                reason: format!("NVRTC compiled its source but it has no kernel {name}"),
            }),
            Err(e) => Err(launch_err(&name, e)),
        }
    }

    /// Copies host data to a new device buffer.
    fn upload<T: Real>(&self, data: &[T], what: &str) -> Result<CudaSlice<u8>, KeopsError> {
        let bytes = as_bytes(data);
        self.inner.stream.clone_htod(bytes).map_err(|e| match e.0 {
            CUresult::CUDA_ERROR_OUT_OF_MEMORY => {
                KeopsError::CudaOutOfMemory { bytes: bytes.len() }
            }
            _ => cuda_err(&format!("upload of {what}"), e),
        })
    }

    /// A new zeroed device buffer of `bytes` bytes.
    fn zeros(&self, bytes: usize, what: &str) -> Result<CudaSlice<u8>, KeopsError> {
        self.inner
            .stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map_err(|e| match e.0 {
                CUresult::CUDA_ERROR_OUT_OF_MEMORY => KeopsError::CudaOutOfMemory { bytes },
                _ => cuda_err(&format!("allocation of {what}"), e),
            })
    }

    fn addr(&self, buf: &CudaSlice<u8>) -> u64 {
        let (ptr, _sync) = buf.device_ptr(&self.inner.stream);
        ptr
    }

    /// Copies a device buffer into `out`.
    fn download<T: Real>(&self, buf: &CudaSlice<u8>, out: &mut [T]) -> Result<(), KeopsError> {
        let bytes = as_bytes_mut(out);
        debug_assert!(buf.len() >= bytes.len());
        let view = buf.slice(..bytes.len());
        self.inner
            .stream
            .memcpy_dtoh(&view, bytes)
            .map_err(|e| cuda_err("download of the result", e))
    }

    /// Copies a device buffer of int64 (indices) into `out`.
    fn download_i64(&self, buf: &CudaSlice<u8>, out: &mut [i64]) -> Result<(), KeopsError> {
        // SAFETY: i64 has no padding and every bit pattern is valid; the byte view covers `out`.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                out.as_mut_ptr().cast::<u8>(),
                std::mem::size_of_val(out),
            )
        };
        let view = buf.slice(..bytes.len());
        self.inner
            .stream
            .memcpy_dtoh(&view, bytes)
            .map_err(|e| cuda_err("download of the indices", e))
    }

    /// Waits for the stream; a failure here is the failure of the kernels it ran.
    fn sync(&self, kernel: &str) -> Result<(), KeopsError> {
        self.inner
            .stream
            .synchronize()
            .map_err(|e| launch_err(kernel, e))
    }

    /// Launches a formula kernel with its one by-value argument.
    fn launch(&self, k: &Kernel, plan: &LaunchPlan, args: &KernelArgs) -> Result<(), KeopsError> {
        if plan.grid_y > MAX_GRID_Y {
            return Err(KeopsError::CudaLaunch {
                kernel: k.name.clone(),
                reason: format!(
                    "{} blocks along the reduction index, at most {MAX_GRID_Y}",
                    plan.grid_y
                ),
            });
        }
        let cfg = LaunchConfig {
            grid_dim: (plan.grid_x, plan.grid_y, 1),
            block_dim: (plan.block, 1, 1),
            shared_mem_bytes: plan.shared_bytes as u32,
        };
        let args = DeviceArgs(*args);
        let mut b = self.inner.stream.launch_builder(&k.func);
        b.arg(&args);
        // SAFETY: every generated kernel takes exactly one parameter, `const KeopsArgs` by value,
        // which `KernelArgs` mirrors byte for byte. The addresses in `args` are live allocations
        // of this context made by the caller with the sizes the kernel indexes (vars: rows x dim,
        // params: dim, v: n_red x nv, out: n_out x stride, partial: grid_y x n_out x columns),
        // kept alive until the stream is synchronised; shared memory is plan.shared_bytes, the
        // amount the kernel carves its tiles from.
        unsafe { b.launch(cfg) }.map_err(|e| launch_err(&k.name, e))?;
        Ok(())
    }

    /// `out[o * stride + col0 + c] = sum_y partial[y][o][c]` (prelude.cuh's keops_combine_<T>).
    #[allow(clippy::too_many_arguments)]
    fn combine(
        &self,
        k: &Kernel,
        partial: u64,
        out: u64,
        n_out: usize,
        cols: usize,
        nsplit: u32,
        stride: usize,
        col0: usize,
    ) -> Result<(), KeopsError> {
        let entries = n_out * cols;
        let cfg = LaunchConfig {
            grid_dim: (entries.div_ceil(THREADS as usize) as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let (n_out, cols, nsplit, stride, col0) = (
            n_out as i64,
            cols as i32,
            nsplit as i32,
            stride as i32,
            col0 as i32,
        );
        let mut b = self.inner.stream.launch_builder(&k.combine);
        b.arg(&partial)
            .arg(&out)
            .arg(&n_out)
            .arg(&cols)
            .arg(&nsplit)
            .arg(&stride)
            .arg(&col0);
        // SAFETY: keops_combine_<T>(const double* partial, T* out, long long n_out, int cols,
        // int nsplit, int out_stride, int col0): the arguments are pushed in that order with
        // those sizes (device addresses as u64). `partial` holds nsplit x n_out x cols f64
        // written by the previous launch on this stream and `out` n_out x stride entries of T.
        unsafe { b.launch(cfg) }.map_err(|e| launch_err(&format!("{} (combine)", k.name), e))?;
        Ok(())
    }

    /// Combines the split-j states of a reduction other than the sum and writes its outputs
    /// (prelude.cuh's keops_combine_red_<T>); `out` / `out_idx` are 0 for a missing part.
    fn combine_red<T: Real>(
        &self,
        k: &Kernel,
        task: &GpuTask<'_, T>,
        partial: u64,
        out: u64,
        out_idx: u64,
        nsplit: u32,
    ) -> Result<(), KeopsError> {
        let cfg = LaunchConfig {
            grid_dim: (task.n_out.div_ceil(THREADS as usize) as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let (n_out, kind, d, kk, nsplit) = (
            task.n_out as i64,
            task.reduce.combine() as i32,
            task.entry_dim() as i32,
            task.reduce.k() as i32,
            nsplit as i32,
        );
        let mut b = self.inner.stream.launch_builder(&k.combine_red);
        b.arg(&partial)
            .arg(&out)
            .arg(&out_idx)
            .arg(&n_out)
            .arg(&kind)
            .arg(&d)
            .arg(&kk)
            .arg(&nsplit);
        // SAFETY: keops_combine_red_<T>(double* partial, T* out, long long* out_idx, long long
        // n_out, int kind, int d, int k, int nsplit): the arguments are pushed in that order with
        // those sizes (device addresses as u64, 0 for null). `partial` holds nsplit x n_out x
        // ReduceKind::partial_width(d) f64 written by the previous launch on this stream; `out`
        // and `out_idx` hold n_out x out_dim entries of T / int64 (out_dim = k d) when not null.
        unsafe { b.launch(cfg) }
            .map_err(|e| launch_err(&format!("{} (combine_red)", k.name), e))?;
        Ok(())
    }

    /// Uploads a task's variables and parameters; returns the buffers and their addresses.
    fn upload_task<T: Real>(&self, task: &GpuTask<'_, T>) -> Result<DeviceData, KeopsError> {
        let mut bufs = Vec::with_capacity(task.vars.len() + task.params.len());
        let mut vars = Vec::with_capacity(task.vars.len());
        for (k, v) in task.vars.iter().enumerate() {
            let b = self.upload(v, &format!("variable {k}"))?;
            vars.push(self.addr(&b));
            bufs.push(b);
        }
        let mut params = Vec::with_capacity(task.params.len());
        for (k, p) in task.params.iter().enumerate() {
            let b = self.upload(p, &format!("parameter {k}"))?;
            params.push(self.addr(&b));
            bufs.push(b);
        }
        Ok(DeviceData {
            _bufs: bufs,
            vars,
            params,
        })
    }

    /// `out = K v` on the device for `v` (n_red, nv) and `out` (n_out, nv) already there: one
    /// launch per chunk of at most 8 columns (the 1-column kernel for a single column), each
    /// followed by the combining pass when it splits the reduction range.
    #[allow(clippy::too_many_arguments)]
    fn run_matvec<T: Real>(
        &self,
        task: &GpuTask<'_, T>,
        vars: &[u64],
        params: &[u64],
        v: u64,
        out: u64,
        nv: usize,
        split: Option<usize>,
    ) -> Result<(), KeopsError> {
        let wide = MATVEC_COLUMNS[1];
        let mut chunks = Vec::new();
        for col0 in (0..nv).step_by(wide) {
            let nvc = wide.min(nv - col0);
            let columns = if nvc == 1 { 1 } else { wide };
            let kernel = self.kernel(task, columns)?;
            let plan = task.plan(nvc, self.inner.sms, split);
            chunks.push((col0, nvc, kernel, plan));
        }
        let partial_len = chunks
            .iter()
            .filter(|c| c.3.grid_y > 1)
            .map(|&(_, nvc, _, p)| p.grid_y as usize * task.n_out * nvc)
            .max();
        let partial = match partial_len {
            Some(n) => Some(self.zeros(n * 8, "split-j partial sums")?),
            None => None,
        };
        let partial_addr = partial.as_ref().map_or(0, |p| self.addr(p));
        let mut last = String::new();
        for (col0, nvc, kernel, plan) in &chunks {
            let args = task.args(plan, vars, params, v, out, partial_addr, (nv, *col0, *nvc));
            self.launch(kernel, plan, &args)?;
            if plan.grid_y > 1 {
                self.combine(
                    kernel,
                    partial_addr,
                    out,
                    task.n_out,
                    *nvc,
                    plan.grid_y,
                    nv,
                    *col0,
                )?;
            }
            last.clone_from(&kernel.name);
        }
        // Launch failures surface here (and `partial` must outlive the kernels).
        self.sync(&last)?;
        drop(partial);
        Ok(())
    }
}

/// Whether the NVRTC library (libnvrtc.so, any CUDA 11 to 13 version) can be loaded; it needs
/// no driver and no GPU.
pub fn nvrtc_available() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only opens (and closes again) candidate names of the NVRTC library.
    *PRESENT.get_or_init(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
}

/// Compiles a formula's CUDA module source (`GpuTask::source`: the prelude and the formula) to
/// PTX for `arch` (`compute_90`...) with NVRTC, as the backend does for a kernel missing from the
/// crate's PTX. Needs NVRTC ([`nvrtc_available`]), not a driver or a GPU; `name` labels the
/// program in messages.
pub fn nvrtc_compile(source: &str, name: &str, arch: &str) -> Result<String, KeopsError> {
    if !nvrtc_available() {
        return Err(KeopsError::Nvrtc {
            log: "NVRTC (libnvrtc.so) was not found".into(),
        });
    }
    nvrtc(source, name, arch).map(|ptx| ptx.to_src())
}

/// NVRTC: `source` (behind [`NVRTC_HEADER`]) to PTX for `arch`; the library must be present.
fn nvrtc(source: &str, name: &str, arch: &str) -> Result<Ptx, KeopsError> {
    let opts = CompileOptions {
        options: vec![format!("--gpu-architecture={arch}")],
        name: Some(format!("{name}.cu")),
        ..Default::default()
    };
    let src = format!("{NVRTC_HEADER}{source}");
    if src.contains('\0') || name.contains('\0') {
        return Err(KeopsError::Nvrtc {
            log: format!("{name}: the CUDA source or its name contains a NUL byte"),
        });
    }
    let compiled = catch_unwind(AssertUnwindSafe(|| {
        cudarc::nvrtc::compile_ptx_with_opts(src, opts)
    }))
    .map_err(|p| KeopsError::Nvrtc {
        log: format!("{name}: cudarc panicked: {}", panic_message(&*p)),
    })?;
    compiled.map_err(|e| KeopsError::Nvrtc {
        log: match e {
            CompileError::CompileError { nvrtc, log, .. } => {
                format!("{name} ({nvrtc:?}, for {arch}):\n{}", log.to_string_lossy())
            }
            other => format!("{name}: {other:?}"),
        },
    })
}

/// A call's data on the device (freed when dropped, after the call's synchronisation).
struct DeviceData {
    _bufs: Vec<CudaSlice<u8>>,
    vars: Vec<u64>,
    params: Vec<u64>,
}

/// Prepended to a formula's source for NVRTC, which predefines neither macro (they appear in
/// the literal of a non-finite constant).
const NVRTC_HEADER: &str = "#ifndef INFINITY\n#define INFINITY __int_as_float(0x7f800000)\n#endif\n#ifndef NAN\n#define NAN __int_as_float(0x7fffffff)\n#endif\n";

fn not_a<T>(task: &GpuTask<'_, T>, wanted: &str, have: &str) -> KeopsError {
    KeopsError::NoGpuKernel {
        formula: task.id.to_string(),
        reason: format!("{wanted} was asked of a {have}"),
    }
}

/// Evaluates a reduction's values on the GPU: `(n_out, out_dim)` row-major (empty for an arg
/// reduction, whose indices [`reduce_parts`] gives).
pub fn reduce<T: Real>(gpu: &Gpu, task: &GpuTask<'_, T>) -> Result<Vec<T>, KeopsError> {
    reduce_with(gpu, task, None)
}

/// [`reduce`] with the number of blocks along the reduction index forced to `split` (clamped to
/// the number of tiles; `Some(1)`: no split, no combining pass but the k-min family's), for tests
/// and tuning.
pub fn reduce_with<T: Real>(
    gpu: &Gpu,
    task: &GpuTask<'_, T>,
    split: Option<usize>,
) -> Result<Vec<T>, KeopsError> {
    reduce_parts_with(gpu, task, split).map(|(v, _)| v)
}

/// Evaluates any reduction on the GPU: its values and its indices, each `(n_out, out_dim)`
/// row-major or empty when the reduction has no such part (the indices come back from the device
/// as int64).
pub fn reduce_parts<T: Real>(
    gpu: &Gpu,
    task: &GpuTask<'_, T>,
) -> Result<(Vec<T>, Vec<usize>), KeopsError> {
    reduce_parts_with(gpu, task, None)
}

/// [`reduce_parts`] with the split along the reduction index forced (see [`reduce_with`]).
pub fn reduce_parts_with<T: Real>(
    gpu: &Gpu,
    task: &GpuTask<'_, T>,
    split: Option<usize>,
) -> Result<(Vec<T>, Vec<usize>), KeopsError> {
    if task.matvec {
        return Err(not_a(task, "a reduction", "kernel matrix (use matvec)"));
    }
    guarded(
        || {
            gpu.bind()?;
            let kernel = gpu.kernel(task, 0)?;
            let data = gpu.upload_task(task)?;
            let plan = task.plan(0, gpu.inner.sms, split);
            let r = task.reduce;
            let entries = task.n_out * task.out_dim;
            let (n_vals, n_idx) = (
                if r.values() { entries } else { 0 },
                if r.indices() { entries } else { 0 },
            );
            let out = gpu.zeros(n_vals * std::mem::size_of::<T>(), "the output")?;
            let out_idx = gpu.zeros(n_idx * 8, "the output indices")?;
            let partial_len = task.partial_len(&plan, 0);
            let partial = if partial_len > 0 {
                Some(gpu.zeros(partial_len * 8, "split-j partial states")?)
            } else {
                None
            };
            let out_addr = if n_vals > 0 { gpu.addr(&out) } else { 0 };
            let idx_addr = if n_idx > 0 { gpu.addr(&out_idx) } else { 0 };
            let partial_addr = partial.as_ref().map_or(0, |p| gpu.addr(p));
            let mut args = task.args(
                &plan,
                &data.vars,
                &data.params,
                0,
                out_addr,
                partial_addr,
                (0, 0, 0),
            );
            args.out_idx = idx_addr;
            gpu.launch(&kernel, &plan, &args)?;
            if r == crate::gpu::ReduceKind::Sum {
                if plan.grid_y > 1 {
                    gpu.combine(
                        &kernel,
                        partial_addr,
                        out_addr,
                        task.n_out,
                        task.out_dim,
                        plan.grid_y,
                        task.out_dim,
                        0,
                    )?;
                }
            } else if partial.is_some() {
                gpu.combine_red(&kernel, task, partial_addr, out_addr, idx_addr, plan.grid_y)?;
            }
            gpu.sync(&kernel.name)?;
            let mut vals = vec![T::ZERO; n_vals];
            if n_vals > 0 {
                gpu.download(&out, &mut vals)?;
            }
            let mut idx = vec![0i64; n_idx];
            if n_idx > 0 {
                gpu.download_i64(&out_idx, &mut idx)?;
            }
            drop(partial);
            Ok((vals, idx.into_iter().map(|i| i as usize).collect()))
        },
        |m| KeopsError::Cuda {
            operation: format!("reduction {}", task.id),
            reason: format!("cudarc panicked: {m}"),
        },
    )
}

fn check_operand<T>(task: &GpuTask<'_, T>, v: &[T], nv: usize) -> Result<(), KeopsError> {
    if nv == 0 {
        return Err(KeopsError::ZeroDimension);
    }
    if v.len() != task.n_red * nv {
        return Err(KeopsError::OperandLength {
            expected: task.n_red,
            found: v.len() / nv,
        });
    }
    Ok(())
}

/// `K v` on the GPU for a kernel matrix's task, `v` of shape `(ncols, nv)` row-major; returns
/// `(nrows, nv)` row-major. The caller checks that `v` is finite (as `KernelMatrix::matvec`
/// does); lengths are checked here.
pub fn matvec<T: Real>(
    gpu: &Gpu,
    task: &GpuTask<'_, T>,
    v: &[T],
    nv: usize,
) -> Result<Vec<T>, KeopsError> {
    matvec_with(gpu, task, v, nv, None)
}

/// [`matvec`] with the split along the reduction index forced (see [`reduce_with`]).
pub fn matvec_with<T: Real>(
    gpu: &Gpu,
    task: &GpuTask<'_, T>,
    v: &[T],
    nv: usize,
    split: Option<usize>,
) -> Result<Vec<T>, KeopsError> {
    if !task.matvec {
        return Err(not_a(
            task,
            "a matrix-vector product",
            "reduction (use reduce)",
        ));
    }
    check_operand(task, v, nv)?;
    guarded(
        || {
            gpu.bind()?;
            let data = gpu.upload_task(task)?;
            let vbuf = gpu.upload(v, "the vector")?;
            let out = gpu.zeros(task.n_out * nv * std::mem::size_of::<T>(), "the output")?;
            gpu.run_matvec(
                task,
                &data.vars,
                &data.params,
                gpu.addr(&vbuf),
                gpu.addr(&out),
                nv,
                split,
            )?;
            let mut host = vec![T::ZERO; task.n_out * nv];
            gpu.download(&out, &mut host)?;
            Ok(host)
        },
        |m| KeopsError::Cuda {
            operation: format!("matvec {}", task.id),
            reason: format!("cudarc panicked: {m}"),
        },
    )
}

/// A kernel matrix whose data (points and parameters) lives on the GPU: uploaded once, reused
/// by every product. It is a [`LinearOperator`], so [`ConjugateGradient`](crate::ConjugateGradient)
/// solves with it: each product copies one block of vectors in and one out (the solver's
/// vectors and inner products stay on the host).
pub struct GpuKernelMatrix<T: Real> {
    gpu: Gpu,
    /// The formula's launch description, without host data.
    task: GpuTask<'static, T>,
    data: DeviceData,
    split: Option<usize>,
}

impl<T: Real> std::fmt::Debug for GpuKernelMatrix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuKernelMatrix")
            .field("formula", &self.task.id)
            .field("nrows", &self.task.n_out)
            .field("ncols", &self.task.n_red)
            .field("gpu", &self.gpu)
            .finish()
    }
}

impl<T: Real> GpuKernelMatrix<T> {
    /// Uploads a kernel matrix's data to `gpu` and loads its kernels (so a missing kernel is
    /// reported here, not at the first product).
    pub fn new<B: BoundKernel<T>>(gpu: &Gpu, k: &KernelMatrix<T, B>) -> Result<Self, KeopsError> {
        Self::from_task(gpu, &k.gpu_task())
    }

    /// As [`GpuKernelMatrix::new`], from the task of a bound kernel matrix.
    pub fn from_task(gpu: &Gpu, task: &GpuTask<'_, T>) -> Result<Self, KeopsError> {
        if !task.matvec {
            return Err(not_a(task, "a kernel matrix", "reduction"));
        }
        guarded(
            || {
                gpu.bind()?;
                for columns in MATVEC_COLUMNS {
                    gpu.kernel(task, columns)?;
                }
                let data = gpu.upload_task(task)?;
                Ok(GpuKernelMatrix {
                    gpu: gpu.clone(),
                    task: GpuTask {
                        id: task.id,
                        source: task.source,
                        ptx: task.ptx,
                        matvec: task.matvec,
                        slot_dims: task.slot_dims.clone(),
                        vars: Vec::new(),
                        params: Vec::new(),
                        dims: task.dims.clone(),
                        inner_width: task.inner_width,
                        n_out: task.n_out,
                        n_red: task.n_red,
                        out_dim: task.out_dim,
                        reduce: task.reduce,
                    },
                    data,
                    split: None,
                })
            },
            |m| KeopsError::Cuda {
                operation: format!("upload of kernel matrix {}", task.id),
                reason: format!("cudarc panicked: {m}"),
            },
        )
    }

    /// Forces the split along the reduction index of every product (see [`reduce_with`]).
    pub fn with_split(mut self, split: Option<usize>) -> Self {
        self.split = split;
        self
    }

    /// Rows (i points).
    pub fn nrows(&self) -> usize {
        self.task.n_out
    }
    /// Columns (j points).
    pub fn ncols(&self) -> usize {
        self.task.n_red
    }
    /// The device it lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// `K v` for `v` of shape `(ncols, k)`, shape `(nrows, k)`; `v` must be finite.
    pub fn matvec<'v>(&self, v: impl IntoView<'v, T>) -> Result<Rows<T>, KeopsError> {
        let v = v.into_view();
        check_operand_shape(self.ncols(), &v)?;
        v.check_finite("the vector")?;
        let mut out = Rows::zeros(self.nrows(), v.dim());
        self.apply(v.as_slice(), v.dim(), out.as_mut_slice())?;
        Ok(out)
    }
}

impl<T: Real> LinearOperator<T> for GpuKernelMatrix<T> {
    fn nrows(&self) -> usize {
        self.task.n_out
    }
    fn ncols(&self) -> usize {
        self.task.n_red
    }
    fn apply(&self, x: &[T], k: usize, out: &mut [T]) -> Result<(), KeopsError> {
        check_operand(&self.task, x, k)?;
        if out.len() != self.task.n_out * k {
            return Err(KeopsError::OutputLength {
                expected: self.task.n_out * k,
                found: out.len(),
                rows: self.task.n_out,
                dim: k,
            });
        }
        let gpu = &self.gpu;
        guarded(
            || {
                gpu.bind()?;
                let xbuf = gpu.upload(x, "the vector")?;
                let obuf = gpu.zeros(std::mem::size_of_val(out), "the output")?;
                gpu.run_matvec(
                    &self.task,
                    &self.data.vars,
                    &self.data.params,
                    gpu.addr(&xbuf),
                    gpu.addr(&obuf),
                    k,
                    self.split,
                )?;
                gpu.download(&obuf, out)
            },
            |m| KeopsError::Cuda {
                operation: format!("product with kernel matrix {}", self.task.id),
                reason: format!("cudarc panicked: {m}"),
            },
        )
    }
}

/// The prelude's vector kernels for the device conjugate gradient (prelude.cuh, `keops_cg_*`).
struct CgKernels {
    round: CudaFunction,
    curv: CudaFunction,
    resid: CudaFunction,
    step: CudaFunction,
    direction: CudaFunction,
}

/// Device buffers of one column's solve: f64 vectors, `T` operands of the products, partial sums.
struct CgBuffers {
    b: CudaSlice<u8>,
    x: CudaSlice<u8>,
    r: CudaSlice<u8>,
    p: CudaSlice<u8>,
    ap: CudaSlice<u8>,
    t_in: CudaSlice<u8>,
    t_out: CudaSlice<u8>,
    partial: CudaSlice<u8>,
}

impl<T: Real> GpuKernelMatrix<T> {
    /// Solves `(alpha I + K) a = b` by conjugate gradient on the device, with the semantics of
    /// [`ConjugateGradient`](crate::ConjugateGradient) (relative tolerance per column, iteration
    /// cap, f64 vectors and inner products, true residual with restarts, typed breakdown and
    /// non-convergence). The vectors never leave the device: an iteration reads back two sums of
    /// at most a few hundred block partial sums. Columns of `b` are solved one after another.
    /// Not preconditioned (the CPU solver's Nyström preconditioner is not ported yet): `cg`'s
    /// [`Preconditioning`](crate::Preconditioning) is not used.
    pub fn solve<'b>(
        &self,
        b: impl IntoView<'b, T>,
        alpha: f64,
        cg: &crate::ConjugateGradient,
    ) -> Result<crate::Solution<T>, crate::SolveError<T>> {
        let b = b.into_view();
        cg.check(self.nrows(), self.ncols(), alpha, &b)?;
        let start = std::time::Instant::now();
        let (n, k) = (self.nrows(), b.dim());
        let tol = cg.get_tolerance();
        let gpu = &self.gpu;
        let mut coeffs = vec![T::ZERO; n * k];
        let (mut iters, mut residuals) = (vec![0; k], vec![0.0; k]);
        let mut stagnated = false;
        guarded(
            || {
                gpu.bind()?;
                let kernels = self.cg_kernels()?;
                let grid = n
                    .div_ceil(CG_THREADS as usize)
                    .clamp(1, 4 * gpu.inner.sms.max(1));
                let mut bufs = CgBuffers {
                    b: gpu.zeros(n * 8, "the right-hand side")?,
                    x: gpu.zeros(n * 8, "the solution")?,
                    r: gpu.zeros(n * 8, "the residual")?,
                    p: gpu.zeros(n * 8, "the search direction")?,
                    ap: gpu.zeros(n * 8, "the product")?,
                    t_in: gpu.zeros(n * std::mem::size_of::<T>(), "the product's operand")?,
                    t_out: gpu.zeros(n * std::mem::size_of::<T>(), "the product's result")?,
                    partial: gpu.zeros(grid * 8, "partial sums")?,
                };
                let mut col = vec![0.0f64; n];
                let mut xcol = vec![0.0f64; n];
                for c in 0..k {
                    for (i, v) in col.iter_mut().enumerate() {
                        *v = b.as_slice()[i * k + c].to_f64();
                    }
                    let (it, res, stag) =
                        self.solve_column(&kernels, &mut bufs, grid, &col, alpha, tol, cg)?;
                    iters[c] = it;
                    residuals[c] = res;
                    stagnated |= stag;
                    if it > 0 {
                        gpu.download(&bufs.x, &mut xcol)?;
                        for (i, v) in xcol.iter().enumerate() {
                            coeffs[i * k + c] = T::from_f64(*v);
                        }
                    }
                }
                Ok(())
            },
            |m| KeopsError::Cuda {
                operation: format!("device solve with kernel matrix {}", self.task.id),
                reason: format!("cudarc panicked: {m}"),
            },
        )?;
        let converged = residuals.iter().all(|&r| r <= tol);
        let solution = crate::Solution {
            coefficients: Rows::from_vec(coeffs, k).expect("n * k buffer"),
            iterations: iters.iter().copied().max().unwrap_or(0),
            residual: residuals.iter().copied().fold(0.0, f64::max),
            column_iterations: iters,
            column_residuals: residuals,
            preconditioner: "none",
            rank: 0,
            setup_time: std::time::Duration::ZERO,
            iteration_time: start.elapsed(),
        };
        if converged {
            Ok(solution)
        } else {
            Err(crate::SolveError::NotConverged {
                solution: Box::new(solution),
                tolerance: tol,
                stagnated,
            })
        }
    }

    fn cg_kernels(&self) -> Result<CgKernels, KeopsError> {
        let module = self.gpu.kernel(&self.task, 1)?.module;
        let f = |name: String| {
            module
                .load_function(&name)
                .map_err(|e| launch_err(&name, e))
        };
        Ok(CgKernels {
            round: f(prelude_kernels::typed(prelude_kernels::CG_ROUND, T::NAME))?,
            curv: f(prelude_kernels::typed(prelude_kernels::CG_CURV, T::NAME))?,
            resid: f(prelude_kernels::typed(prelude_kernels::CG_RESID, T::NAME))?,
            step: f(prelude_kernels::CG_STEP.into())?,
            direction: f(prelude_kernels::CG_DIRECTION.into())?,
        })
    }

    /// Sum of the `grid` block partial sums the last reduction kernel left in `partial`.
    fn partial_sum(&self, bufs: &CgBuffers, grid: usize) -> Result<f64, KeopsError> {
        let mut host = vec![0.0f64; grid];
        self.gpu.download(&bufs.partial, &mut host)?;
        Ok(host.iter().sum())
    }

    /// `t_out = K t_in` (one column) with the matrix's device data.
    fn product(&self, bufs: &CgBuffers) -> Result<(), KeopsError> {
        let g = &self.gpu;
        g.run_matvec(
            &self.task,
            &self.data.vars,
            &self.data.params,
            g.addr(&bufs.t_in),
            g.addr(&bufs.t_out),
            1,
            self.split,
        )
    }

    /// `v` rounded to `T` into `t_in` (and in place), then `t_out = K t_in`.
    fn rounded_product(
        &self,
        ks: &CgKernels,
        bufs: &CgBuffers,
        va: u64,
        grid: usize,
    ) -> Result<(), KeopsError> {
        let g = &self.gpu;
        let n = self.nrows() as i64;
        let ta = g.addr(&bufs.t_in);
        let mut l = g.inner.stream.launch_builder(&ks.round);
        l.arg(&va).arg(&ta).arg(&n);
        // SAFETY: keops_cg_round_<T>(double* p, T* pt, long long n): v holds n f64, t_in n T.
        unsafe { l.launch(cg_config(grid)) }.map_err(|e| launch_err("keops_cg_round", e))?;
        self.product(bufs)
    }

    /// One column: returns (iterations, true relative residual, stagnated); the solution is left
    /// in `bufs.x`.
    #[allow(clippy::too_many_arguments)]
    fn solve_column(
        &self,
        ks: &CgKernels,
        bufs: &mut CgBuffers,
        grid: usize,
        b: &[f64],
        alpha: f64,
        tol: f64,
        cg: &crate::ConjugateGradient,
    ) -> Result<(usize, f64, bool), KeopsError> {
        let g = &self.gpu;
        let s = &g.inner.stream;
        let n = self.nrows() as i64;
        let bnorm = b.iter().map(|v| v * v).sum::<f64>().sqrt();
        if bnorm == 0.0 {
            return Ok((0, 0.0, false));
        }
        let zero = vec![0.0f64; b.len()];
        s.memcpy_htod(as_bytes(&zero), &mut bufs.x)
            .map_err(|e| cuda_err("clearing the solution", e))?;
        for (dst, what) in [
            (&mut bufs.b, "the right-hand side"),
            (&mut bufs.r, "the residual"),
            (&mut bufs.p, "the search direction"),
        ] {
            s.memcpy_htod(as_bytes(b), dst)
                .map_err(|e| cuda_err(&format!("upload of {what}"), e))?;
        }
        let (bx, br, bp, bap, bb) = (
            g.addr(&bufs.x),
            g.addr(&bufs.r),
            g.addr(&bufs.p),
            g.addr(&bufs.ap),
            g.addr(&bufs.b),
        );
        let (tout, part) = (g.addr(&bufs.t_out), g.addr(&bufs.partial));
        let cfg = cg_config(grid);
        let mut rr = bnorm * bnorm;
        let (mut iters, mut restarts) = (0usize, 0usize);
        let mut last_worst = f64::INFINITY;
        let max_iter = cg.get_max_iterations();
        loop {
            while iters < max_iter {
                iters += 1;
                self.rounded_product(ks, bufs, bp, grid)?;
                let mut l = s.launch_builder(&ks.curv);
                l.arg(&bp)
                    .arg(&tout)
                    .arg(&alpha)
                    .arg(&bap)
                    .arg(&n)
                    .arg(&part);
                // SAFETY: keops_cg_curv_<T>(const double* p, const T* apt, double alpha,
                // double* ap, long long n, double* partial): n entries each, `grid` partials.
                unsafe { l.launch(cfg) }.map_err(|e| launch_err("keops_cg_curv", e))?;
                let curvature = self.partial_sum(bufs, grid)?;
                if !(curvature > 0.0 && curvature.is_finite()) {
                    return Err(KeopsError::NotPositiveDefinite {
                        iteration: iters,
                        column: 0,
                        curvature,
                    });
                }
                let step = rr / curvature;
                let mut l = s.launch_builder(&ks.step);
                l.arg(&bx)
                    .arg(&br)
                    .arg(&bp)
                    .arg(&bap)
                    .arg(&step)
                    .arg(&n)
                    .arg(&part);
                // SAFETY: keops_cg_step(double* x, double* r, const double* p, const double* ap,
                // double step, long long n, double* partial): n f64 each, `grid` partials.
                unsafe { l.launch(cfg) }.map_err(|e| launch_err("keops_cg_step", e))?;
                let rr_new = self.partial_sum(bufs, grid)?;
                let beta = rr_new / rr;
                rr = rr_new;
                if rr_new.sqrt() <= tol * bnorm {
                    break;
                }
                let mut l = s.launch_builder(&ks.direction);
                l.arg(&bp).arg(&br).arg(&beta).arg(&n);
                // SAFETY: keops_cg_direction(double* p, const double* r, double beta, long long n).
                unsafe { l.launch(cfg) }.map_err(|e| launch_err("keops_cg_direction", e))?;
            }
            // The true residual r = b - alpha x - K x, from x rounded to T (what is returned).
            self.rounded_product(ks, bufs, bx, grid)?;
            let mut l = s.launch_builder(&ks.resid);
            l.arg(&bb)
                .arg(&bx)
                .arg(&tout)
                .arg(&alpha)
                .arg(&br)
                .arg(&n)
                .arg(&part);
            // SAFETY: keops_cg_resid_<T>(const double* b, const double* x, const T* axt,
            // double alpha, double* r, long long n, double* partial).
            unsafe { l.launch(cfg) }.map_err(|e| launch_err("keops_cg_resid", e))?;
            let rtrue = self.partial_sum(bufs, grid)?;
            let res = rtrue.sqrt() / bnorm;
            if res <= tol || iters >= max_iter {
                return Ok((iters, res, false));
            }
            if restarts == crate::solve::MAX_RESTARTS || res > 0.5 * last_worst {
                return Ok((iters, res, true));
            }
            // Restart from the true residual: p = r.
            restarts += 1;
            last_worst = res;
            rr = rtrue;
            s.memcpy_dtod(&bufs.r, &mut bufs.p)
                .map_err(|e| cuda_err("restarting the search direction", e))?;
        }
    }
}

/// Launch shape of the device-CG vector kernels (keops-abi's `CG_THREADS` threads).
fn cg_config(grid: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (grid as u32, 1, 1),
        block_dim: (CG_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The GPU for `backend` (`None`: the CPU), and whether a missing GPU or kernel falls back.
fn pick(backend: Backend) -> Result<Option<(Gpu, bool)>, KeopsError> {
    match backend {
        Backend::Cpu => Ok(None),
        Backend::Cuda(o) => Gpu::new(o).map(|g| Some((g, false))),
        Backend::Auto => Ok(Gpu::new(0).ok().map(|g| (g, true))),
    }
}

fn falls_back(e: &KeopsError) -> bool {
    matches!(
        e,
        KeopsError::NoCudaDriver { .. } | KeopsError::NoGpuKernel { .. }
    )
}

impl<T: Real, B: BoundReduction<T>> Reduction<T, B> {
    /// Evaluates the reduction on `backend` (see [`Backend`]): `Auto` uses GPU 0 when there is
    /// one and the formula has a kernel for its dimensions, else the CPU.
    pub fn eval_on(&self, backend: Backend) -> Result<B::Output, KeopsError> {
        if let Some((gpu, fallback)) = pick(backend)? {
            match reduce_parts(&gpu, &self.gpu_task()) {
                Ok((vals, idx)) => {
                    let (rows, dim) = (self.rows(), self.dim());
                    // A gradient with respect to a parameter: the kernel gives one row per
                    // output index, which are summed.
                    let vals = if !vals.is_empty() && vals.len() != rows * dim {
                        let mut total = vec![T::ZERO; rows * dim];
                        crate::__private::sum_rows_into(&vals, dim, &mut total);
                        total
                    } else {
                        vals
                    };
                    return Ok(B::Output::from_parts(rows, dim, vals, idx));
                }
                Err(e) if fallback && falls_back(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.eval())
    }
}

impl<T: Real, B: BoundKernel<T>> KernelMatrix<T, B> {
    /// `K v` on `backend` (see [`Backend`]), with the checks of
    /// [`matvec`](KernelMatrix::matvec).
    pub fn matvec_on<'v>(
        &self,
        v: impl IntoView<'v, T>,
        backend: Backend,
    ) -> Result<Rows<T>, KeopsError> {
        let v = v.into_view();
        if let Some((gpu, fallback)) = pick(backend)? {
            check_operand_shape(self.ncols(), &v)?;
            v.check_finite("the vector")?;
            match matvec(&gpu, &self.gpu_task(), v.as_slice(), v.dim()) {
                Ok(out) => return Rows::from_vec(out, v.dim()),
                Err(e) if fallback && falls_back(&e) => {}
                Err(e) => return Err(e),
            }
        }
        self.matvec(v)
    }

    /// This kernel matrix with its data uploaded to `gpu`, for repeated products (solves).
    pub fn to_gpu(&self, gpu: &Gpu) -> Result<GpuKernelMatrix<T>, KeopsError> {
        GpuKernelMatrix::new(gpu, self)
    }

    /// `(alpha I + K) a = b` on `backend`: on a GPU the conjugate gradient runs on the device
    /// ([`GpuKernelMatrix::solve`]); `Auto` falls back to the CPU solver when there is no GPU or
    /// no kernel for the formula's dimensions.
    pub fn solve_on<'b>(
        &self,
        b: impl IntoView<'b, T>,
        alpha: f64,
        cg: &crate::ConjugateGradient,
        backend: Backend,
    ) -> Result<crate::Solution<T>, crate::SolveError<T>> {
        let b = b.into_view();
        if let Some((gpu, fallback)) = pick(backend)? {
            match self.to_gpu(&gpu) {
                Ok(gk) => return gk.solve(b, alpha, cg),
                Err(e) if fallback && falls_back(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        cg.solve_shifted(self, alpha, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_views_cover_the_values() {
        let mut v = [1.5f32, -2.0];
        assert_eq!(as_bytes(&v), [0, 0, 192, 63, 0, 0, 0, 192]);
        as_bytes_mut(&mut v)[3] = 64; // 0x3fc00000 (1.5) -> 0x40c00000 (6.0)
        assert_eq!(v, [6.0, -2.0]);
        let d = [0.5f64];
        assert_eq!(as_bytes(&d), 0.5f64.to_le_bytes());
    }

    #[test]
    fn a_missing_driver_is_an_error_not_a_panic() {
        // On a machine with a GPU this opens it; without one, every entry point says why.
        match Gpu::new(0) {
            Ok(gpu) => assert!(gpu.multiprocessors() >= 1),
            Err(KeopsError::NoCudaDriver { reason }) => {
                assert!(!reason.is_empty());
                // Cached: the same answer, and still no panic.
                assert_eq!(
                    Gpu::new(0).unwrap_err(),
                    KeopsError::NoCudaDriver { reason }
                );
                assert!(matches!(Gpu::new(7), Err(KeopsError::NoCudaDriver { .. })));
                assert!(device_count().is_err());
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}
