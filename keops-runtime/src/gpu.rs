//! What running a bound formula on a GPU needs, independent of the driver: the kernel to call
//! (named by the formula's hash and the arm of its run-time dimensions), its arguments laid out as
//! the CUDA `KeopsArgs` struct, and the launch shape. The CUDA backend (feature `cuda`) and the
//! host emulation of the generated kernels in the tests both start from a [`GpuTask`].

use crate::Real;

/// Threads per block of every generated reduction kernel (keops-formula's `emit_cuda::BLOCK`).
pub const BLOCK: u32 = 256;
/// Reduction rows per shared-memory tile, at most (the CPU engine's tile too).
pub const MAX_TILE: usize = 256;
/// Dynamic shared memory a launch may use (the default limit without opting in).
pub const SHARED_BYTES: usize = 48 * 1024;
/// Matvec kernels exist for 1 and for up to 8 columns of `v` per launch.
pub const MATVEC_COLUMNS: [usize; 2] = [1, 8];
/// Array lengths of `KeopsArgs` (prelude.cuh).
pub const MAX_VARS: usize = 16;
pub const MAX_PARAMS: usize = 16;
pub const MAX_CLASSES: usize = 16;

/// `KeopsArgs` of prelude.cuh, field for field; pointers are device addresses (host addresses
/// under host emulation).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelArgs {
    pub vars: [u64; MAX_VARS],
    pub params: [u64; MAX_PARAMS],
    pub v: u64,
    pub out: u64,
    pub partial: u64,
    pub n_out: i64,
    pub n_red: i64,
    pub red_chunk: i64,
    pub dims: [i32; MAX_CLASSES],
    pub tile: i32,
    pub nv: i32,
    pub col0: i32,
    pub nvc: i32,
    /// Indices of an arg reduction, `(n_out, out_dim)` int64, written when the kernel finishes
    /// its rows itself (a single block along the reduction index).
    pub out_idx: u64,
}

/// The reduction a formula's kernel computes, as [`GpuTask::reduce`] tells it: it decides the
/// outputs (values in `T`, indices in int64 on the device), the f64 state a block leaves in the
/// split-j partial buffer, and the pass that combines those states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReduceKind {
    /// `sum_j` (and a kernel matrix's products).
    #[default]
    Sum,
    Min,
    Max,
    ArgMin,
    ArgMax,
    MinArgMin,
    MaxArgMax,
    KMin(usize),
    ArgKMin(usize),
    KMinArgKMin(usize),
    LogSumExp,
    LogSumExpWeight,
    SumSoftMaxWeight,
}

impl ReduceKind {
    /// Whether the result holds values.
    pub fn values(self) -> bool {
        !matches!(
            self,
            ReduceKind::ArgMin | ReduceKind::ArgMax | ReduceKind::ArgKMin(_)
        )
    }
    /// Whether the result holds indices.
    pub fn indices(self) -> bool {
        matches!(
            self,
            ReduceKind::ArgMin
                | ReduceKind::ArgMax
                | ReduceKind::MinArgMin
                | ReduceKind::MaxArgMax
                | ReduceKind::ArgKMin(_)
                | ReduceKind::KMinArgKMin(_)
        )
    }
    /// K of the k-min family, else 1.
    pub fn k(self) -> usize {
        match self {
            ReduceKind::KMin(k) | ReduceKind::ArgKMin(k) | ReduceKind::KMinArgKMin(k) => k,
            _ => 1,
        }
    }
    /// The code of prelude.cuh's `keops_combine_red_<T>` for this kind (0 for the sum, which
    /// `keops_combine_<T>` combines): 1 min, 2 max (and their args), 3 the k smallest,
    /// 4 log-sum-exp, 5 soft-max weighted sum.
    pub fn combine_code(self) -> i32 {
        match self {
            ReduceKind::Sum => 0,
            ReduceKind::Min | ReduceKind::ArgMin | ReduceKind::MinArgMin => 1,
            ReduceKind::Max | ReduceKind::ArgMax | ReduceKind::MaxArgMax => 2,
            ReduceKind::KMin(_) | ReduceKind::ArgKMin(_) | ReduceKind::KMinArgKMin(_) => 3,
            ReduceKind::LogSumExp | ReduceKind::LogSumExpWeight => 4,
            ReduceKind::SumSoftMaxWeight => 5,
        }
    }
    /// f64 entries of one output row's state in the partial buffer, for entries of dimension
    /// `d` (the formula's, or the weight's for the log-sum-exp family): `d` sums; `(value,
    /// index)` as `[values d][indices d]`; K of those for the k-min family; `[m][s d]`, and
    /// `[m][s0][s d]` for the soft-max.
    pub fn partial_width(self, d: usize) -> usize {
        match self.combine_code() {
            0 => d,
            1 | 2 => 2 * d,
            3 => 2 * self.k() * d,
            4 => 1 + d,
            _ => 2 + d,
        }
    }
    /// The k-min family keeps its sorted buffers in the partial buffer, whatever the split: it
    /// always has one and always runs the combining pass (which writes the outputs).
    pub fn always_partial(self) -> bool {
        self.combine_code() == 3
    }
}

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
    /// Per slot, the exact dimensions and bucket capacities compiled (keops-formula's `gpu_arms`).
    pub arm_table: &'static [(&'static [usize], &'static [usize])],
    /// Each variable's data, row-major, in the formula's order.
    pub vars: Vec<&'a [T]>,
    /// Each parameter's values, in the formula's order.
    pub params: Vec<&'a [T]>,
    /// Dimension of every class (the kernels receive only [`slot_dims`](Self::slot_dims)).
    pub dims: Vec<usize>,
    /// Sum of the dimensions of the variables indexed by the reduction index (shared memory).
    pub inner_width: usize,
    /// Output rows and reduction rows.
    pub n_out: usize,
    pub n_red: usize,
    /// Entries per output row of a reduction, of its values and of its indices (1 for a kernel
    /// matrix: per column of `v`): the formula's dimension (the weight's for the log-sum-exp
    /// family), times K for the k-min family.
    pub out_dim: usize,
    /// The reduction (`Sum` for a kernel matrix).
    pub reduce: ReduceKind,
}

/// How many blocks, threads and shared memory one launch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchPlan {
    pub grid_x: u32,
    /// Blocks along the reduction index (split-j scheme when > 1).
    pub grid_y: u32,
    pub block: u32,
    pub tile: usize,
    pub red_chunk: usize,
    pub shared_bytes: usize,
}

impl<T: Real> GpuTask<'_, T> {
    /// The arm name (`e1`, `e2_u256`, `fixed`...), or `None` when a dimension is larger than any
    /// kernel was compiled for.
    pub fn arm(&self) -> Option<String> {
        if !fits_kernel_args(self.vars.len(), self.params.len(), self.slot_dims.len()) {
            return None;
        }
        arm_name(&self.slot_dims, self.arm_table)
    }

    /// Name of the kernel for this arm: `<id>_<red|mv1|mv8>_<f32|f64>_<arm>`; `columns` is the
    /// matvec kernel's column capacity (ignored for reductions).
    pub fn kernel_name(&self, columns: usize) -> Option<String> {
        let kind = if self.matvec {
            format!("mv{columns}")
        } else {
            "red".to_string()
        };
        Some(format!("{}_{kind}_{}_{}", self.id, T::NAME, self.arm()?))
    }

    /// The launch for `nvc` matvec columns (0 for a reduction) on a device with `sms`
    /// multiprocessors; `split` forces the number of blocks along the reduction index.
    pub fn plan(&self, nvc: usize, sms: usize, split: Option<usize>) -> LaunchPlan {
        let row = (self.inner_width + nvc).max(1) * std::mem::size_of::<T>();
        let tile = (SHARED_BYTES / row).clamp(1, MAX_TILE);
        let grid_x = self.n_out.div_ceil(BLOCK as usize).max(1);
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
            block: BLOCK,
            tile,
            red_chunk,
            shared_bytes: tile * row,
        }
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
    /// `params`, `v`, `out`, `partial`), and matvec columns `col0..col0 + nvc` of `nv`.
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

/// Whether `KernelArgs` holds this many variables, parameters and run-time dimensions (formulas
/// with more have no GPU kernel: keops-formula's `emit_cuda::fits_kernel_args`).
pub fn fits_kernel_args(vars: usize, params: usize, slots: usize) -> bool {
    vars <= MAX_VARS && params <= MAX_PARAMS && slots <= MAX_CLASSES
}

/// The arm for run-time dimensions `dims` given per-slot tables of exact dimensions and bucket
/// capacities: `e<d>` for an exact one, `u<cap>` for the smallest bucket that holds it.
pub fn arm_name(dims: &[usize], table: &[(&[usize], &[usize])]) -> Option<String> {
    if dims.is_empty() {
        return Some("fixed".into());
    }
    let parts: Option<Vec<String>> = dims
        .iter()
        .enumerate()
        .map(|(s, &d)| {
            let (exact, buckets) = table[s.min(table.len() - 1)];
            if exact.contains(&d) {
                Some(format!("e{d}"))
            } else {
                buckets.iter().find(|&&c| d <= c).map(|c| format!("u{c}"))
            }
        })
        .collect();
    Some(parts?.join("_"))
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
