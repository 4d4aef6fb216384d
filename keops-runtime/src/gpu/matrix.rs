//! A kernel matrix whose data lives on a GPU, for repeated products (solves).

use super::device::{guarded, Gpu};
use super::launch::{check_operand, not_a, DeviceData, DeviceTable};
use super::{GpuTask, MATVEC_COLUMNS};
use crate::bound::check_operand_shape;
use crate::{
    BlockSparsity, BoundKernel, IntoView, KeopsError, KernelMatrix, LinearOperator, Real, Rows,
};

/// A kernel matrix whose data (points and parameters) lives on the GPU: uploaded once, reused
/// by every product. It is a [`LinearOperator`], so [`ConjugateGradient`](crate::ConjugateGradient)
/// solves with it: each product copies one block of vectors in and one out (the solver's
/// vectors and inner products stay on the host). A kernel matrix with
/// [`ranges`](KernelMatrix::ranges) keeps them: its products visit only the blocks they keep.
pub struct GpuKernelMatrix<T: Real> {
    pub(super) gpu: Gpu,
    /// The formula's launch description, without host data (nor ranges: see [`task`](Self::task)).
    task: GpuTask<'static, T>,
    pub(super) data: DeviceData,
    /// The kernel matrix's ranges (over j), owned: the task's borrow does not outlive `new`.
    sparsity: Option<BlockSparsity>,
    /// Their launch table, uploaded once.
    pub(super) table: Option<DeviceTable>,
    /// The forced split along the reduction index, if any.
    pub(super) split: Option<usize>,
}

impl<T: Real> std::fmt::Debug for GpuKernelMatrix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuKernelMatrix")
            .field("formula", &self.task.id)
            .field("nrows", &self.task.n_out)
            .field("ncols", &self.task.n_red)
            .field("block_sparse", &self.sparsity.is_some())
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
                let sparsity = task.sparsity.cloned();
                let table = gpu.upload_table(task)?;
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
                        sparsity: None,
                    },
                    data,
                    sparsity,
                    table,
                    split: None,
                })
            },
            |m| KeopsError::Cuda {
                operation: format!("upload of kernel matrix {}", task.id),
                reason: format!("cudarc panicked: {m}"),
            },
        )
    }

    /// The launch description, with the ranges when block-sparse.
    pub(super) fn task(&self) -> GpuTask<'_, T> {
        GpuTask {
            sparsity: self.sparsity.as_ref(),
            ..self.task.clone()
        }
    }

    /// Forces the split along the reduction index of every product (see
    /// [`reduce_with`](crate::cuda::reduce_with)); a block-sparse matrix never splits.
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
                    &self.task(),
                    &self.data,
                    gpu.addr(&xbuf),
                    gpu.addr(&obuf),
                    k,
                    self.split,
                    self.table.as_ref(),
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
