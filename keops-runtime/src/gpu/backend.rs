//! Where a computation runs, chosen per call: [`Backend`], and the `*_on` methods of
//! [`Reduction`] and [`KernelMatrix`] that take it.

use super::device::Gpu;
use super::launch::{matvec, reduce_parts};
use super::matrix::GpuKernelMatrix;
use crate::bound::check_operand_shape;
use crate::generated::sum_rows_into;
use crate::{
    BoundKernel, BoundReduction, ConjugateGradient, IntoView, KeopsError, KernelMatrix, Real,
    Reduction, ReductionOutput, Rows, Solution, SolveError,
};

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
                        sum_rows_into(&vals, dim, &mut total);
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
        cg: &ConjugateGradient,
        backend: Backend,
    ) -> Result<Solution<T>, SolveError<T>> {
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
