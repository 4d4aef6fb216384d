//! A bound kernel formula `K(x_i, y_j)`: the lazy [`KernelMatrix`] and the work it asks of the
//! formula's engine.

use std::marker::PhantomData;
use std::sync::Mutex;

use crate::{GpuTask, IntoView, KeopsError, MatvecWorkspace, Ranges, Real, Rows, View};

/// A scalar formula `K(x_i, y_j)` with its data bound (implemented by the macro's expansion).
pub trait BoundKernel<T: Real>: Sync {
    /// Number of i points.
    fn nrows(&self) -> usize;
    /// Number of j points.
    fn ncols(&self) -> usize;
    /// Computes `work` (a product, columns or the diagonal); lengths and indices checked by
    /// the caller.
    fn run(&self, work: KernelWork<'_, T>);
    /// The formula and its data as a GPU kernel launch needs them.
    fn gpu_task(&self) -> GpuTask<'_, T>;
    /// A symmetric formula bound to the same points twice: products evaluate each pair once.
    fn symmetric(&self) -> bool {
        false
    }
    /// The pairs visited, when block-sparse.
    fn ranges(&self) -> Option<&Ranges> {
        None
    }
    /// Where [`ranges`](Self::ranges) are kept (set by [`KernelMatrix::ranges`]).
    #[doc(hidden)]
    fn ranges_mut(&mut self) -> &mut Option<Ranges>;
    /// The i and j points, for a kernel of one i variable and one j variable (parameters aside):
    /// the geometry a hierarchical product clusters. `None` for other kernels.
    fn points(&self) -> Option<[View<'_, T>; 2]> {
        None
    }
    /// The same formula and parameters on other points of the same dimensions (`None` where
    /// [`points`](Self::points) is, or for points of other dimensions).
    #[doc(hidden)]
    fn with_points(
        &self,
        x: View<'static, T>,
        y: View<'static, T>,
    ) -> Option<Box<dyn BoundKernel<T>>> {
        let _ = (x, y);
        None
    }
}

/// A rebound kernel ([`BoundKernel::with_points`]) is a bound kernel.
impl<T: Real> BoundKernel<T> for Box<dyn BoundKernel<T>> {
    fn nrows(&self) -> usize {
        (**self).nrows()
    }
    fn ncols(&self) -> usize {
        (**self).ncols()
    }
    fn run(&self, work: KernelWork<'_, T>) {
        (**self).run(work)
    }
    fn gpu_task(&self) -> GpuTask<'_, T> {
        (**self).gpu_task()
    }
    fn symmetric(&self) -> bool {
        (**self).symmetric()
    }
    fn ranges(&self) -> Option<&Ranges> {
        (**self).ranges()
    }
    fn ranges_mut(&mut self) -> &mut Option<Ranges> {
        (**self).ranges_mut()
    }
    fn points(&self) -> Option<[View<'_, T>; 2]> {
        (**self).points()
    }
    fn with_points(
        &self,
        x: View<'static, T>,
        y: View<'static, T>,
    ) -> Option<Box<dyn BoundKernel<T>>> {
        (**self).with_points(x, y)
    }
}

/// What a bound kernel is asked to compute (see [`BoundKernel::run`]).
pub enum KernelWork<'w, T> {
    /// `out = K v` (or `alpha v + K v`, see [`ProductOut`]), `v` is `(ncols, nv)`, the output
    /// `(nrows, nv)`, row-major; `ws` holds the partial sums between calls.
    Product {
        /// The vector(s), `(ncols, nv)` row-major.
        v: &'w [T],
        /// Columns of `v`.
        nv: usize,
        /// Where the product goes.
        out: ProductOut<'w, T>,
        /// The engine's buffers, kept between products.
        ws: &'w mut MatvecWorkspace<T>,
    },
    /// The entries `K_ij` of every row `i` for the columns `j` in `cols`, in f64, column-major:
    /// `out[c * nrows + i] = K(i, cols[c])`. What a Nyström preconditioner stores.
    Columns {
        /// The columns, each below `ncols`.
        cols: &'w [usize],
        /// `nrows * cols.len()` entries.
        out: &'w mut [f64],
    },
    /// The diagonal `out[i] = K_ii` for `i < min(nrows, ncols)`, in f64 (the Jacobi
    /// preconditioner, the pivots of a pivoted Cholesky factorisation).
    Diagonal {
        /// `min(nrows, ncols)` entries.
        out: &'w mut [f64],
    },
}

/// Where the rows of a product `K v` go.
pub enum ProductOut<'o, T> {
    /// `out = K v`, in the data's precision.
    Real(&'o mut [T]),
    /// `out = alpha v + K v` in f64, for a square `K`: the solver's `(alpha I + K) v`, with the
    /// shift added to the f64 sums before any rounding.
    Shifted {
        /// The rows, `(nrows, nv)` row-major.
        out: &'o mut [f64],
        /// The shift.
        alpha: f64,
    },
}

impl<T> ProductOut<'_, T> {
    /// Entries of the output.
    pub(crate) fn len(&self) -> usize {
        match self {
            ProductOut::Real(o) => o.len(),
            ProductOut::Shifted { out, .. } => out.len(),
        }
    }
}

/// The kernel matrix `K_ij = K(x_i, y_j)` as a lazy operator: never stored, each product recomputes
/// its entries tile by tile, so memory stays linear in the number of points.
///
/// A symmetric kernel (`K(x, y) = K(y, x)`, proven from the formula at compile time) bound to the
/// same points twice evaluates each pair once per product. The partial sums of a product are kept
/// for the next one, so repeated products (a solver's iterations) allocate nothing.
#[derive(Debug)]
pub struct KernelMatrix<T, B> {
    bound: B,
    /// Reused by products; a product finding it in use (a concurrent one) makes its own.
    workspace: Mutex<MatvecWorkspace<T>>,
    _t: PhantomData<fn() -> T>,
}

impl<T, B: Clone> Clone for KernelMatrix<T, B> {
    fn clone(&self) -> Self {
        KernelMatrix {
            bound: self.bound.clone(),
            workspace: Mutex::new(MatvecWorkspace::new()),
            _t: PhantomData,
        }
    }
}

impl<T: Real, B: BoundKernel<T>> KernelMatrix<T, B> {
    #[doc(hidden)]
    pub fn new(bound: B) -> Self {
        KernelMatrix {
            bound,
            workspace: Mutex::new(MatvecWorkspace::new()),
            _t: PhantomData,
        }
    }
    /// The same matrix behind a boxed bound kernel: one type for kernel matrices of different
    /// formulas (a choice of formula made at run time, such as a named kernel's family).
    pub fn boxed(self) -> KernelMatrix<T, Box<dyn BoundKernel<T>>>
    where
        B: 'static,
    {
        KernelMatrix::new(Box::new(self.bound))
    }
    /// `K v` (or `alpha v + K v`) with the kept workspace; lengths and values already checked.
    pub(crate) fn product(&self, v: &[T], nv: usize, out: ProductOut<'_, T>) {
        match self.workspace.try_lock() {
            Ok(mut ws) => self.bound.run(KernelWork::Product {
                v,
                nv,
                out,
                ws: &mut ws,
            }),
            // In use by a concurrent product (or poisoned by a panic in one): a fresh one.
            Err(_) => self.bound.run(KernelWork::Product {
                v,
                nv,
                out,
                ws: &mut MatvecWorkspace::new(),
            }),
        }
    }
    /// The bound formula.
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
    /// Whether products use the symmetry `K_ij = K_ji`: the formula is symmetric in its two
    /// variables (proven when it is compiled), both are bound to the same points, and the
    /// block-sparse ranges, if any, keep symmetric pairs; so each pair is evaluated once for rows
    /// `i` and `j` (one-column products on the SIMD levels).
    pub fn symmetric(&self) -> bool {
        self.bound.symmetric() && self.bound.ranges().is_none_or(Ranges::is_symmetric)
    }

    /// The block-sparse kernel matrix: entries outside the blocks `ranges` keeps are 0, and
    /// products evaluate only the kept ones (KeOps' `ranges`). Checked against the points.
    ///
    /// A truncated kernel is still symmetric when the ranges are ([`Ranges::is_symmetric`]),
    /// but may not be positive definite any more: the solver then stops with
    /// [`KeopsError::NotPositiveDefinite`] (or needs a larger `alpha`); truncating at a
    /// distance where the kernel is below the solver's tolerance keeps it safe in practice.
    ///
    /// README.md's section "Block-sparse reductions" has an example.
    pub fn ranges(mut self, ranges: &Ranges) -> Result<Self, KeopsError> {
        ranges.check(self.nrows(), self.ncols())?;
        *self.bound.ranges_mut() = Some(ranges.clone());
        Ok(self)
    }

    /// The block-sparse ranges in use, if any.
    pub fn block_sparsity(&self) -> Option<&Ranges> {
        self.bound.ranges()
    }
    /// The formula and its data as a GPU kernel launch needs them.
    #[doc(hidden)]
    pub fn gpu_task(&self) -> GpuTask<'_, T> {
        self.bound.gpu_task()
    }
    /// The entries `K_ij` of every row `i` for the columns `j` in `cols`, evaluated in `T` and
    /// stored in f64, column-major: `out[c * nrows + i] = K(i, cols[c])` (`out` has length
    /// `nrows * cols.len()`). The only way a few columns of `K` are ever stored.
    pub fn columns_into(&self, cols: &[usize], out: &mut [f64]) -> Result<(), KeopsError> {
        check_columns(self.nrows(), self.ncols(), cols, out.len())?;
        if !out.is_empty() {
            self.bound.run(KernelWork::Columns { cols, out });
        }
        Ok(())
    }
    /// The diagonal `K_ii`, `i < min(nrows, ncols)`, evaluated in `T` and returned in f64.
    pub fn diagonal(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.nrows().min(self.ncols())];
        self.diagonal_into(&mut out);
        out
    }
    /// [`diagonal`](Self::diagonal) into `out` of length `min(nrows, ncols)`.
    pub(crate) fn diagonal_into(&self, out: &mut [f64]) {
        self.bound.run(KernelWork::Diagonal { out });
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
        check_operand_shape(self.ncols(), &v)?;
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
        self.product(v.as_slice(), v.dim(), ProductOut::Real(out));
        Ok(())
    }
}

/// Columns `cols` of an `(nrows, ncols)` matrix into a buffer of length `out_len`: every index
/// below `ncols`, `out_len = nrows * cols.len()`.
pub(crate) fn check_columns(
    nrows: usize,
    ncols: usize,
    cols: &[usize],
    out_len: usize,
) -> Result<(), KeopsError> {
    if let Some(&col) = cols.iter().find(|&&c| c >= ncols) {
        return Err(KeopsError::ColumnOutOfRange { col, ncols });
    }
    if out_len != nrows * cols.len() {
        return Err(KeopsError::OutputLength {
            expected: nrows * cols.len(),
            found: out_len,
            rows: nrows,
            dim: cols.len(),
        });
    }
    Ok(())
}

/// The vector of a product `K v` has at least one column and one row per column of `K`.
pub(crate) fn check_operand_shape<T: Real>(
    ncols: usize,
    v: &crate::View<'_, T>,
) -> Result<(), KeopsError> {
    if v.dim() == 0 {
        return Err(KeopsError::ZeroDimension);
    }
    if v.rows() != ncols {
        return Err(KeopsError::OperandLength {
            expected: ncols,
            found: v.rows(),
        });
    }
    Ok(())
}
