//! Transfers and launches on a [`Gpu`]: uploads and downloads, the formula kernels and their
//! combining passes (a launch splits the reduction range when there are few output rows; a
//! block-sparse one runs the blocks of its uploaded [`BlockTable`](super::BlockTable) instead),
//! and the one-call entry points [`reduce`] and [`matvec`], which upload a call's data, run it and
//! download the result.

use cudarc::driver::sys::CUresult;
use cudarc::driver::{CudaSlice, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg};

use super::device::{cuda_err, guarded, launch_err, Gpu, Kernel};
use super::{GpuTask, KernelArgs, LaunchPlan, ReduceKind, MATVEC_COLUMNS, THREADS};
use crate::{KeopsError, Real};

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

/// The data of a slice of `f32`/`f64` as bytes.
pub(super) fn as_bytes<T: Real>(s: &[T]) -> &[u8] {
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

impl Gpu {
    /// Copies host data to a new device buffer.
    pub(super) fn upload<T: Real>(
        &self,
        data: &[T],
        what: &str,
    ) -> Result<CudaSlice<u8>, KeopsError> {
        self.upload_bytes(as_bytes(data), what)
    }

    /// Copies bytes to a new device buffer.
    fn upload_bytes(&self, bytes: &[u8], what: &str) -> Result<CudaSlice<u8>, KeopsError> {
        self.inner.stream.clone_htod(bytes).map_err(|e| match e.0 {
            CUresult::CUDA_ERROR_OUT_OF_MEMORY => {
                KeopsError::CudaOutOfMemory { bytes: bytes.len() }
            }
            _ => cuda_err(&format!("upload of {what}"), e),
        })
    }

    /// A new zeroed device buffer of `bytes` bytes.
    pub(super) fn zeros(&self, bytes: usize, what: &str) -> Result<CudaSlice<u8>, KeopsError> {
        self.inner
            .stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map_err(|e| match e.0 {
                CUresult::CUDA_ERROR_OUT_OF_MEMORY => KeopsError::CudaOutOfMemory { bytes },
                _ => cuda_err(&format!("allocation of {what}"), e),
            })
    }

    pub(super) fn addr(&self, buf: &CudaSlice<u8>) -> u64 {
        let (ptr, _sync) = buf.device_ptr(&self.inner.stream);
        ptr
    }

    /// Copies a device buffer into `out`.
    pub(super) fn download<T: Real>(
        &self,
        buf: &CudaSlice<u8>,
        out: &mut [T],
    ) -> Result<(), KeopsError> {
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
    pub(super) fn sync(&self, kernel: &str) -> Result<(), KeopsError> {
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
        // params: dim, v: n_red x nv, out: n_out x stride, partial: grid_y x n_out x columns;
        // a block-sparse launch's table: grid_x blocks, whose rows are < n_out, and the ranges
        // they index, each within n_red), kept alive until the stream is synchronised; shared
        // memory is plan.shared_bytes, the amount the kernel carves its tiles from.
        unsafe { b.launch(cfg) }.map_err(|e| launch_err(&k.name, e))?;
        Ok(())
    }

    /// `out[o * stride + col0 + c] = sum_y partial[y][o][c]` (prelude.cuh's `keops_combine_<T>`).
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
    /// (prelude.cuh's `keops_combine_red_<T>`); `out` / `out_idx` are 0 for a missing part.
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
    pub(super) fn upload_task<T: Real>(
        &self,
        task: &GpuTask<'_, T>,
    ) -> Result<DeviceData, KeopsError> {
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

    /// Uploads the launch table of a block-sparse task ([`GpuTask::block_table`]): its blocks, then
    /// its ranges, in one buffer. None for a dense task.
    pub(super) fn upload_table<T: Real>(
        &self,
        task: &GpuTask<'_, T>,
    ) -> Result<Option<DeviceTable>, KeopsError> {
        let Some(table) = task.block_table() else {
            return Ok(None);
        };
        let mut bytes = table.block_bytes();
        let offset = bytes.len() as u64;
        bytes.extend(table.range_bytes());
        // A mask that keeps nothing has no ranges: the buffer still exists (one byte at least).
        bytes.resize(bytes.len().max(1), 0);
        let buf = self.upload_bytes(&bytes, "the block-sparse launch table")?;
        let blocks = self.addr(&buf);
        Ok(Some(DeviceTable {
            _buf: buf,
            blocks,
            ranges: blocks + offset,
            count: table.blocks.len(),
        }))
    }

    /// The plan of a launch: the dense one, or that of the block-sparse table.
    fn plan_of<T: Real>(
        &self,
        task: &GpuTask<'_, T>,
        nvc: usize,
        split: Option<usize>,
        table: Option<&DeviceTable>,
    ) -> LaunchPlan {
        // A block-sparse launch runs the table's blocks (the kernel reads it: `blocks` non-null).
        debug_assert_eq!(table.is_some(), task.sparsity.is_some());
        match table {
            Some(t) => task.sparse_plan(nvc, t.count),
            None => task.plan(nvc, self.inner.sms, split),
        }
    }

    /// `out = K v` on the device for `v` (n_red, nv) and `out` (n_out, nv) already there: one
    /// launch per chunk of at most 8 columns (the 1-column kernel for a single column), each
    /// followed by the combining pass when it splits the reduction range. Block-sparse with
    /// `table`, the upload of the task's ranges.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_matvec<T: Real>(
        &self,
        task: &GpuTask<'_, T>,
        data: &DeviceData,
        v: u64,
        out: u64,
        nv: usize,
        split: Option<usize>,
        table: Option<&DeviceTable>,
    ) -> Result<(), KeopsError> {
        let wide = MATVEC_COLUMNS[1];
        let mut chunks = Vec::new();
        for col0 in (0..nv).step_by(wide) {
            let nvc = wide.min(nv - col0);
            let columns = if nvc == 1 { 1 } else { wide };
            let kernel = self.kernel(task, columns)?;
            let plan = self.plan_of(task, nvc, split, table);
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
            let mut args = task.args(
                plan,
                &data.vars,
                &data.params,
                v,
                out,
                partial_addr,
                (nv, *col0, *nvc),
            );
            if let Some(t) = table {
                t.set(&mut args);
            }
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

/// A call's data on the device (freed when dropped, after the call's synchronisation).
pub(super) struct DeviceData {
    _bufs: Vec<CudaSlice<u8>>,
    /// Device addresses of the variables, in the formula's order.
    pub(super) vars: Vec<u64>,
    /// Device addresses of the parameters, in the formula's order.
    pub(super) params: Vec<u64>,
}

/// The table of a block-sparse launch on the device (freed when dropped, after the launches'
/// synchronisation).
pub(super) struct DeviceTable {
    _buf: CudaSlice<u8>,
    /// Device address of the blocks (`KeopsBlock`s).
    blocks: u64,
    /// Device address of the ranges (int64 pairs), in the same buffer.
    ranges: u64,
    /// The number of blocks: the launch's `gridDim.x`.
    count: usize,
}

impl DeviceTable {
    /// Points a launch's arguments at the table.
    fn set(&self, args: &mut KernelArgs) {
        args.blocks = self.blocks;
        args.ranges = self.ranges;
    }
}

/// The error of a kernel asked of the wrong kind of task.
pub(super) fn not_a<T>(task: &GpuTask<'_, T>, wanted: &str, have: &str) -> KeopsError {
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
/// and tuning. A block-sparse task never splits (`split` is not used).
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
            let table = gpu.upload_table(task)?;
            let plan = gpu.plan_of(task, 0, split, table.as_ref());
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
            if let Some(t) = &table {
                t.set(&mut args);
            }
            gpu.launch(&kernel, &plan, &args)?;
            if r == ReduceKind::Sum {
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
            drop((partial, table));
            Ok((vals, idx.into_iter().map(|i| i as usize).collect()))
        },
        |m| KeopsError::Cuda {
            operation: format!("reduction {}", task.id),
            reason: format!("cudarc panicked: {m}"),
        },
    )
}

/// `v` has one row of `nv >= 1` entries per reduction index.
pub(super) fn check_operand<T>(
    task: &GpuTask<'_, T>,
    v: &[T],
    nv: usize,
) -> Result<(), KeopsError> {
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
            let table = gpu.upload_table(task)?;
            let vbuf = gpu.upload(v, "the vector")?;
            let out = gpu.zeros(task.n_out * nv * std::mem::size_of::<T>(), "the output")?;
            gpu.run_matvec(
                task,
                &data,
                gpu.addr(&vbuf),
                gpu.addr(&out),
                nv,
                split,
                table.as_ref(),
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
}
