//! Running a bound formula on a GPU.
//!
//! Independent of the driver (here): the kernel to call (named by the formula's hash and the arm
//! of its run-time dimensions), its arguments laid out as the CUDA `KeopsArgs` struct, the
//! launch shape, and for a block-sparse reduction (KeOps' ranges) the blocks of its launch
//! ([`BlockTable`], in `table`). The CUDA backend (feature `cuda`) and the host emulation of the
//! generated kernels in the tests both start from a [`GpuTask`].
//!
//! The CUDA backend (feature `cuda`; public as [`crate::cuda`]), through the driver API (cudarc,
//! loaded at run time: a machine without a driver gets [`KeopsError::NoCudaDriver`], never a
//! panic):
//! - `device`: the driver probe, a device ([`Gpu`]) and the kernels it loaded (PTX or NVRTC);
//! - `launch`: transfers, launches and the one-call [`reduce`] / [`matvec`];
//! - `matrix`: [`GpuKernelMatrix`], a kernel matrix whose data stays on the device;
//! - `solve`: its conjugate gradient, the solver's iteration over device vectors;
//! - `backend`: [`Backend`], CPU or GPU per call.
//!
//! [`KeopsError::NoCudaDriver`]: crate::KeopsError::NoCudaDriver
//! [`Gpu`]: crate::cuda::Gpu
//! [`reduce`]: crate::cuda::reduce
//! [`matvec`]: crate::cuda::matvec
//! [`GpuKernelMatrix`]: crate::cuda::GpuKernelMatrix
//! [`Backend`]: crate::cuda::Backend

#[cfg(feature = "cuda")]
pub(crate) mod backend;
#[cfg(feature = "cuda")]
pub(crate) mod device;
#[cfg(feature = "cuda")]
pub(crate) mod launch;
#[cfg(feature = "cuda")]
pub(crate) mod matrix;
#[cfg(feature = "cuda")]
mod solve;
mod table;

pub use keops_abi::gpu::ReduceKind;
#[cfg(feature = "cuda")]
use keops_abi::gpu::MATVEC_COLUMNS;
use keops_abi::gpu::{arm_for, arm_name, fits_kernel_args, kernel_name};
use keops_abi::gpu::{KernelArgs, KernelKind, MAX_TILE, SHARED_BYTES, THREADS};
pub use table::BlockTable;

use crate::Real;

/// A bound formula as the GPU sees it (built by the code `kernel!` generates).
#[derive(Debug, Clone)]
pub struct GpuTask<'a, T> {
    /// `keops_<hash of the canonical formula>`: the prefix of its kernels' names.
    pub id: &'static str,
    /// The formula's CUDA C++ with the prelude: a whole module for run-time compilation (NVRTC)
    /// when the PTX lacks its kernels; empty when built without the `cuda` feature.
    pub source: &'static str,
    /// This formula's PTX, compiled ahead of time by ptx-build (`OUT_DIR/keops-cuda/<id>.ptx`);
    /// empty without the `cuda` feature, without nvcc, or when ptx-build did not see the formula.
    pub ptx: &'static str,
    /// A kernel matrix (matvec kernels) rather than a `sum_j`/`sum_i` reduction.
    pub matvec: bool,
    /// Dimension of each run-time class, in slot order.
    pub slot_dims: Vec<usize>,
    /// Each variable's data, row-major, in the formula's order.
    pub vars: Vec<&'a [T]>,
    /// Each parameter's values, in the formula's order.
    pub params: Vec<&'a [T]>,
    /// Dimension of every class (the kernels receive only [`slot_dims`](Self::slot_dims)).
    pub dims: Vec<usize>,
    /// Sum of the dimensions of the variables indexed by the reduction index (shared memory).
    pub inner_width: usize,
    /// Output rows.
    pub n_out: usize,
    /// Rows of the reduction index.
    pub n_red: usize,
    /// Entries per output row of a reduction, of its values and of its indices (1 for a kernel
    /// matrix: per column of `v`): the formula's dimension (the weight's for the log-sum-exp
    /// family), times K for the k-min family.
    pub out_dim: usize,
    /// The reduction (`Sum` for a kernel matrix).
    pub reduce: ReduceKind,
    /// The clusters of output rows and the reduction ranges each visits, when block-sparse: the
    /// launch then runs the blocks of its [`BlockTable`] (one block along the reduction index).
    pub sparsity: Option<&'a crate::BlockSparsity>,
}

/// How many blocks, threads and shared memory one launch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchPlan {
    /// Blocks along the output rows (one thread per row): a block-sparse launch's blocks.
    pub grid_x: u32,
    /// Blocks along the reduction index (split-j scheme when > 1; 1 when block-sparse).
    pub grid_y: u32,
    /// Threads per block.
    pub block: u32,
    /// Reduction rows staged in shared memory at a time.
    pub tile: usize,
    /// Reduction rows per block along `grid_y` (whole tiles).
    pub red_chunk: usize,
    /// Shared memory per block, in bytes.
    pub shared_bytes: usize,
}

impl<T: Real> GpuTask<'_, T> {
    /// The arm name (`e1`, `e2_u256`, `fixed`...), or `None` when a dimension is larger than any
    /// kernel was compiled for.
    pub fn arm(&self) -> Option<String> {
        if !fits_kernel_args(self.vars.len(), self.params.len(), self.slot_dims.len()) {
            return None;
        }
        Some(arm_name(&arm_for(&self.slot_dims)?))
    }

    /// Name of the kernel for this arm: `<id>_<red|mv1|mv8>_<f32|f64>_<arm>` (block-sparse or
    /// not); `columns` is the matvec kernel's column capacity (ignored for reductions).
    pub fn kernel_name(&self, columns: usize) -> Option<String> {
        let kind = if self.matvec {
            KernelKind::Matvec(columns)
        } else {
            KernelKind::Reduce
        };
        Some(kernel_name(self.id, kind, T::NAME, &self.arm()?))
    }

    /// The launch for `nvc` matvec columns (0 for a reduction) on a device with `sms`
    /// multiprocessors; `split` forces the number of blocks along the reduction index. A
    /// block-sparse task gets [`sparse_plan`](Self::sparse_plan) (`sms` and `split` unused).
    pub fn plan(&self, nvc: usize, sms: usize, split: Option<usize>) -> LaunchPlan {
        if let Some(s) = self.sparsity {
            return self.sparse_plan(nvc, BlockTable::count(s, self.n_out));
        }
        let (tile, shared_bytes) = self.tile(nvc);
        let grid_x = self.n_out.div_ceil(THREADS as usize).max(1);
        let tiles = self.n_red.div_ceil(tile).max(1);
        // Few output rows leave the GPU idle: split the reduction range so that there are about
        // four blocks per multiprocessor, keeping at least four tiles per block.
        let want = split.unwrap_or_else(|| {
            let target = 4 * sms.max(1);
            if grid_x >= target {
                1
            } else {
                target.div_ceil(grid_x).min(tiles.div_ceil(4))
            }
        });
        let nsplit = want.clamp(1, tiles);
        let red_chunk = tiles.div_ceil(nsplit) * tile;
        let grid_y = self.n_red.div_ceil(red_chunk).max(1);
        LaunchPlan {
            grid_x: grid_x as u32,
            grid_y: grid_y as u32,
            block: THREADS,
            tile,
            red_chunk,
            shared_bytes,
        }
    }

    /// The launch of a block-sparse task whose [`BlockTable`] has `blocks` blocks, for `nvc`
    /// matvec columns: one block of threads per table block, none along the reduction index (a
    /// block visits its rows' ranges whole, as KeOps' `GpuConv1D_ranges`).
    pub fn sparse_plan(&self, nvc: usize, blocks: usize) -> LaunchPlan {
        debug_assert!(blocks > 0, "a table covers n_out >= 1 rows");
        let (tile, shared_bytes) = self.tile(nvc);
        LaunchPlan {
            grid_x: blocks as u32,
            grid_y: 1,
            block: THREADS,
            tile,
            red_chunk: self.n_red.max(1),
            shared_bytes,
        }
    }

    /// Reduction rows per shared-memory tile for `nvc` matvec columns, and its bytes.
    fn tile(&self, nvc: usize) -> (usize, usize) {
        let row = (self.inner_width + nvc).max(1) * std::mem::size_of::<T>();
        let tile = (SHARED_BYTES / row).clamp(1, MAX_TILE);
        (tile, tile * row)
    }

    /// The table of a block-sparse launch (`None` for a dense task).
    pub fn block_table(&self) -> Option<BlockTable> {
        self.sparsity.map(|s| BlockTable::new(s, self.n_out))
    }

    /// Entries per output row the reduction works on: [`out_dim`](Self::out_dim) over K.
    pub fn entry_dim(&self) -> usize {
        self.out_dim / self.reduce.k()
    }

    /// f64 entries of the partial buffer for `plan` (0 when it needs none): the state of every
    /// output row for each block along the reduction index; `nvc` matvec columns per launch (0
    /// for a reduction).
    pub fn partial_len(&self, plan: &LaunchPlan, nvc: usize) -> usize {
        let width = if self.matvec {
            nvc
        } else {
            self.reduce.partial_width(self.entry_dim())
        };
        if plan.grid_y > 1 || self.reduce.always_partial() {
            plan.grid_y as usize * self.n_out * width
        } else {
            0
        }
    }

    /// The kernel arguments for `plan`, with the caller's addresses for the data (`vars`,
    /// `params`, `v`, `out`, `partial`), and matvec columns `col0..col0 + nvc` of `nv`. A
    /// block-sparse launch also needs the addresses of its table's blocks and ranges
    /// ([`KernelArgs::blocks`], [`KernelArgs::ranges`]), set by the caller.
    #[allow(clippy::too_many_arguments)]
    pub fn args(
        &self,
        plan: &LaunchPlan,
        vars: &[u64],
        params: &[u64],
        v: u64,
        out: u64,
        partial: u64,
        (nv, col0, nvc): (usize, usize, usize),
    ) -> KernelArgs {
        let mut a = KernelArgs {
            v,
            out,
            partial,
            n_out: self.n_out as i64,
            n_red: self.n_red as i64,
            red_chunk: plan.red_chunk as i64,
            tile: plan.tile as i32,
            nv: nv as i32,
            col0: col0 as i32,
            nvc: nvc as i32,
            ..KernelArgs::default()
        };
        a.vars[..vars.len()].copy_from_slice(vars);
        a.params[..params.len()].copy_from_slice(params);
        for (d, &n) in a.dims.iter_mut().zip(&self.slot_dims) {
            *d = n as i32;
        }
        a
    }
}

/// The formula's CUDA source, kept in the binary only with the `cuda` feature (for NVRTC).
#[cfg(feature = "cuda")]
#[doc(hidden)]
#[macro_export]
macro_rules! __keops_cuda_source {
    ($s:literal) => {
        $s
    };
}

/// The formula's CUDA source, kept in the binary only with the `cuda` feature (for NVRTC).
#[cfg(not(feature = "cuda"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __keops_cuda_source {
    ($s:literal) => {
        ""
    };
}
