//! What a bound formula is to the user: a [`Reduction`] to evaluate, or a [`KernelMatrix`] to multiply.

use std::marker::PhantomData;

use crate::{GpuTask, IntoView, KeopsError, Real, Rows};

/// A `sum_j` / `sum_i` formula with its data bound (implemented by the macro's expansion).
pub trait BoundReduction<T: Real>: Sync {
    /// Output rows: the number of i points for `sum_j`, of j points for `sum_i`.
    fn out_rows(&self) -> usize;
    /// Entries per output row.
    fn out_dim(&self) -> usize;
    /// Runs the reduction; `out.len() == out_rows() * out_dim()` (checked by the caller).
    fn run_into(&self, out: &mut [T]);
    /// The formula and its data as a GPU kernel launch needs them.
    fn gpu_task(&self) -> GpuTask<'_, T>;
}

/// A scalar formula `K(x_i, y_j)` with its data bound (implemented by the macro's expansion).
pub trait BoundKernel<T: Real>: Sync {
    /// Number of i points.
    fn nrows(&self) -> usize;
    /// Number of j points.
    fn ncols(&self) -> usize;
    /// `out = K v`, `v` is `(ncols, nv)`, `out` is `(nrows, nv)`; lengths checked by the caller.
    fn matvec_run(&self, v: &[T], nv: usize, out: &mut [T]);
    /// The formula and its data as a GPU kernel launch needs them.
    fn gpu_task(&self) -> GpuTask<'_, T>;
}

/// A reduction `a_i = sum_j F(x_i, y_j, ...)` (or over i) with its data bound, ready to run.
#[derive(Debug, Clone)]
pub struct Reduction<T, B> {
    bound: B,
    _t: PhantomData<fn() -> T>,
}

impl<T: Real, B: BoundReduction<T>> Reduction<T, B> {
    #[doc(hidden)]
    pub fn new(bound: B) -> Self {
        Reduction {
            bound,
            _t: PhantomData,
        }
    }
    /// Output rows.
    pub fn rows(&self) -> usize {
        self.bound.out_rows()
    }
    /// Entries per output row.
    pub fn dim(&self) -> usize {
        self.bound.out_dim()
    }
    /// The formula and its data as a GPU kernel launch needs them.
    #[doc(hidden)]
    pub fn gpu_task(&self) -> GpuTask<'_, T> {
        self.bound.gpu_task()
    }
    /// Evaluates the reduction into a new `(rows, dim)` array.
    pub fn eval(&self) -> Rows<T> {
        let mut out = Rows::zeros(self.rows(), self.dim());
        self.bound.run_into(out.as_mut_slice());
        out
    }
    /// Evaluates the reduction into the caller's row-major buffer of length `rows * dim`.
    pub fn eval_into(&self, out: &mut [T]) -> Result<(), KeopsError> {
        let (rows, dim) = (self.rows(), self.dim());
        if out.len() != rows * dim {
            return Err(KeopsError::OutputLength {
                expected: rows * dim,
                found: out.len(),
                rows,
                dim,
            });
        }
        self.bound.run_into(out);
        Ok(())
    }
}

/// The kernel matrix `K_ij = K(x_i, y_j)` as a lazy operator: never stored, each product recomputes
/// its entries tile by tile, so memory stays linear in the number of points.
#[derive(Debug, Clone)]
pub struct KernelMatrix<T, B> {
    bound: B,
    _t: PhantomData<fn() -> T>,
}

impl<T: Real, B: BoundKernel<T>> KernelMatrix<T, B> {
    #[doc(hidden)]
    pub fn new(bound: B) -> Self {
        KernelMatrix {
            bound,
            _t: PhantomData,
        }
    }
    pub(crate) fn bound(&self) -> &B {
        &self.bound
    }
    /// Number of rows (i points).
    pub fn nrows(&self) -> usize {
        self.bound.nrows()
    }
    /// Number of columns (j points).
    pub fn ncols(&self) -> usize {
        self.bound.ncols()
    }
    /// The formula and its data as a GPU kernel launch needs them.
    #[doc(hidden)]
    pub fn gpu_task(&self) -> GpuTask<'_, T> {
        self.bound.gpu_task()
    }
    /// `K v` for `v` of shape `(ncols, k)`: `(K v)_i = sum_j K_ij v_j`, shape `(nrows, k)`.
    pub fn matvec<'v>(&self, v: impl IntoView<'v, T>) -> Result<Rows<T>, KeopsError> {
        let v = v.into_view();
        let mut out = Rows::zeros(self.nrows(), v.dim());
        self.matvec_into(v, out.as_mut_slice())?;
        Ok(out)
    }
    /// `K v` into the caller's row-major buffer of length `nrows * k`.
    pub fn matvec_into<'v>(
        &self,
        v: impl IntoView<'v, T>,
        out: &mut [T],
    ) -> Result<(), KeopsError> {
        let v = v.into_view();
        if v.dim() == 0 {
            return Err(KeopsError::ZeroDimension);
        }
        if v.rows() != self.ncols() {
            return Err(KeopsError::OperandLength {
                expected: self.ncols(),
                found: v.rows(),
            });
        }
        let expected = self.nrows() * v.dim();
        if out.len() != expected {
            return Err(KeopsError::OutputLength {
                expected,
                found: out.len(),
                rows: self.nrows(),
                dim: v.dim(),
            });
        }
        v.check_finite("the vector")?;
        self.bound.matvec_run(v.as_slice(), v.dim(), out);
        Ok(())
    }
}
