//! A CUDA device: the driver probed once per process ([`driver_version`]), each device opened
//! once ([`Gpu::new`]), and the kernels it loaded: from the formula's PTX (compiled by nvcc at
//! build time and embedded by the `kernel!` expansion in its [`GpuTask`]), else compiled at run
//! time with NVRTC from the task's own CUDA source (no nvcc at build time, a formula the build
//! step did not see, a PTX the driver rejects). [`Gpu::kernel_source`] and [`Gpu::log`] tell which
//! path was taken.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use cudarc::driver::sys::{CUdevice_attribute, CUresult};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, DriverError};
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

use keops_abi::gpu::prelude as prelude_kernels;

use super::GpuTask;
use crate::{KeopsError, Real};

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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    /// The stream every call runs on.
    pub(super) stream: Arc<CudaStream>,
    name: String,
    /// Streaming multiprocessors.
    pub(super) sms: usize,
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

/// A loaded formula kernel, with the combining passes of its module.
#[derive(Clone)]
pub(super) struct Kernel {
    pub(super) name: String,
    pub(super) func: CudaFunction,
    /// The combining pass of the sums (`keops_combine_<T>`).
    pub(super) combine: CudaFunction,
    /// The combining pass of the reductions other than the sum (`keops_combine_red_<T>`).
    pub(super) combine_red: CudaFunction,
    source: KernelSource,
    /// The module it came from (which also holds the prelude's device-CG kernels).
    pub(super) module: Arc<CudaModule>,
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
pub(super) fn guarded<R>(
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

pub(super) fn cuda_err(operation: &str, e: DriverError) -> KeopsError {
    if e.0 == CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        return KeopsError::CudaOutOfMemory { bytes: 0 };
    }
    KeopsError::Cuda {
        operation: operation.to_string(),
        reason: reason(&e),
    }
}

pub(super) fn launch_err(kernel: &str, e: DriverError) -> KeopsError {
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

    pub(super) fn bind(&self) -> Result<(), KeopsError> {
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
    pub(super) fn kernel<T: Real>(
        &self,
        task: &GpuTask<'_, T>,
        columns: usize,
    ) -> Result<Kernel, KeopsError> {
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

/// Prepended to a formula's source for NVRTC, which predefines neither macro (they appear in
/// the literal of a non-finite constant).
const NVRTC_HEADER: &str = "#ifndef INFINITY\n#define INFINITY __int_as_float(0x7f800000)\n#endif\n#ifndef NAN\n#define NAN __int_as_float(0x7fffffff)\n#endif\n";

#[cfg(test)]
mod tests {
    use super::*;

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
