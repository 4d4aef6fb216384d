//! What a bound formula is to the user: a [`Reduction`] to evaluate, or a [`KernelMatrix`] to multiply.

use std::marker::PhantomData;
use std::sync::Mutex;

use crate::view::Indices;
use crate::{GpuTask, IntoView, KeopsError, MatvecWorkspace, ProductOut, Real, Rows};

/// What evaluating a reduction gives, by kind: values `Rows<T>` (`sum_j`, `min_j`, `kmin_j`,
/// `logsumexp_j`, `sumsoftmaxweight_j`), indices [`Indices`] = `Rows<usize>` (`argmin_j`,
/// `argmax_j`, `argkmin_j`), or both, `(Rows<T>, Indices)` (`min_argmin_j`, `max_argmax_j`,
/// `kmin_argkmin_j`). Both parts have the reduction's `(rows, dim)`.
pub trait ReductionOutput<T: Real>: Sized {
    /// Whether the result holds values.
    const VALUES: bool;
    /// Whether the result holds indices.
    const INDICES: bool;
    /// The caller's buffers for `eval_into`: `&mut [T]`, `&mut [usize]`, or
    /// `(&mut [T], &mut [usize])`, each row-major `(rows, dim)`.
    type Buffers<'o>;
    /// The result from its row-major parts (an empty `Vec` for a part it does not hold).
    #[doc(hidden)]
    fn from_parts(rows: usize, dim: usize, vals: Vec<T>, idx: Vec<usize>) -> Self;
    /// The caller's buffers as (values, indices), an empty slice for a part it does not hold.
    #[doc(hidden)]
    fn split<'o>(b: Self::Buffers<'o>) -> (&'o mut [T], &'o mut [usize]);
    /// The row-major parts (values, indices), an empty `Vec` for a part it does not hold.
    fn into_parts(self) -> (Vec<T>, Vec<usize>);
}

impl<T: Real> ReductionOutput<T> for Rows<T> {
    const VALUES: bool = true;
    const INDICES: bool = false;
    type Buffers<'o> = &'o mut [T];
    fn from_parts(rows: usize, dim: usize, vals: Vec<T>, _idx: Vec<usize>) -> Self {
        Rows::from_parts(vals, rows, dim)
    }
    fn split<'o>(b: Self::Buffers<'o>) -> (&'o mut [T], &'o mut [usize]) {
        (b, &mut [])
    }
    fn into_parts(self) -> (Vec<T>, Vec<usize>) {
        (self.into_vec(), Vec::new())
    }
}

impl<T: Real> ReductionOutput<T> for Indices {
    const VALUES: bool = false;
    const INDICES: bool = true;
    type Buffers<'o> = &'o mut [usize];
    fn from_parts(rows: usize, dim: usize, _vals: Vec<T>, idx: Vec<usize>) -> Self {
        Rows::from_parts(idx, rows, dim)
    }
    fn split<'o>(b: Self::Buffers<'o>) -> (&'o mut [T], &'o mut [usize]) {
        (&mut [], b)
    }
    fn into_parts(self) -> (Vec<T>, Vec<usize>) {
        (Vec::new(), self.into_vec())
    }
}

impl<T: Real> ReductionOutput<T> for (Rows<T>, Indices) {
    const VALUES: bool = true;
    const INDICES: bool = true;
    type Buffers<'o> = (&'o mut [T], &'o mut [usize]);
    fn from_parts(rows: usize, dim: usize, vals: Vec<T>, idx: Vec<usize>) -> Self {
        (
            Rows::from_parts(vals, rows, dim),
            Rows::from_parts(idx, rows, dim),
        )
    }
    fn split<'o>(b: Self::Buffers<'o>) -> (&'o mut [T], &'o mut [usize]) {
        b
    }
    fn into_parts(self) -> (Vec<T>, Vec<usize>) {
        (self.0.into_vec(), self.1.into_vec())
    }
}

/// A reduction formula (`sum_j`, `min_i`, `kmin_j`...) with its data bound (implemented by the
/// macro's expansion).
pub trait BoundReduction<T: Real>: Sync {
    /// What evaluating it gives (see [`ReductionOutput`]).
    type Output: ReductionOutput<T>;
    /// Output rows: the number of i points for a reduction over j, of j points over i.
    fn out_rows(&self) -> usize;
    /// Entries per output row (of the values and of the indices): the formula's dimension, times
    /// K for the k-min family.
    fn out_dim(&self) -> usize;
    /// Runs the reduction: `vals` is `(out_rows, out_dim)` when the output holds values, else
    /// empty, `idx` likewise (checked by the caller).
    fn run_into(&self, vals: &mut [T], idx: &mut [usize]);
    /// The formula and its data as a GPU kernel launch needs them.
    fn gpu_task(&self) -> GpuTask<'_, T>;
}

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
}

/// What a bound kernel is asked to compute (see [`BoundKernel::run`]).
pub enum KernelWork<'w, T> {
    /// `out = K v` (or `alpha v + K v`, see [`ProductOut`]), `v` is `(ncols, nv)`, the output
    /// `(nrows, nv)`, row-major; `ws` holds the partial sums between calls.
    Product {
        v: &'w [T],
        nv: usize,
        out: ProductOut<'w, T>,
        ws: &'w mut MatvecWorkspace<T>,
    },
    /// The entries `K_ij` of every row `i` for the columns `j` in `cols`, in f64, column-major:
    /// `out[c * nrows + i] = K(i, cols[c])`. What a Nyström preconditioner stores.
    Columns {
        cols: &'w [usize],
        out: &'w mut [f64],
    },
    /// The diagonal `out[i] = K_ii` for `i < min(nrows, ncols)`, in f64 (the Jacobi
    /// preconditioner, the pivots of a pivoted Cholesky factorisation).
    Diagonal { out: &'w mut [f64] },
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
    /// Evaluates the reduction: `Rows<T>` of shape `(rows, dim)` for the sums and the other
    /// reductions to values, [`Indices`] for the arg reductions, both for `min_argmin_j` and its
    /// kin (see [`ReductionOutput`]).
    pub fn eval(&self) -> B::Output {
        let (rows, dim) = (self.rows(), self.dim());
        let mut vals = if B::Output::VALUES {
            vec![T::ZERO; rows * dim]
        } else {
            Vec::new()
        };
        let mut idx = if B::Output::INDICES {
            vec![0; rows * dim]
        } else {
            Vec::new()
        };
        self.bound.run_into(&mut vals, &mut idx);
        B::Output::from_parts(rows, dim, vals, idx)
    }
    /// Evaluates the reduction into the caller's row-major buffers of length `rows * dim`:
    /// `&mut [T]` for values, `&mut [usize]` for indices, `(&mut [T], &mut [usize])` for both.
    pub fn eval_into(
        &self,
        out: <B::Output as ReductionOutput<T>>::Buffers<'_>,
    ) -> Result<(), KeopsError> {
        let (rows, dim) = (self.rows(), self.dim());
        let (vals, idx) = B::Output::split(out);
        for (wanted, found) in [
            (B::Output::VALUES, vals.len()),
            (B::Output::INDICES, idx.len()),
        ] {
            if wanted && found != rows * dim {
                return Err(KeopsError::OutputLength {
                    expected: rows * dim,
                    found,
                    rows,
                    dim,
                });
            }
        }
        self.bound.run_into(vals, idx);
        Ok(())
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
    /// Number of rows (i points).
    pub fn nrows(&self) -> usize {
        self.bound.nrows()
    }
    /// Number of columns (j points).
    pub fn ncols(&self) -> usize {
        self.bound.ncols()
    }
    /// Whether products use the symmetry `K_ij = K_ji`: the formula is symmetric in its two
    /// variables (proven when it is compiled) and both are bound to the same points, so each pair
    /// is evaluated once for rows `i` and `j` (one-column products on the SIMD levels).
    pub fn symmetric(&self) -> bool {
        self.bound.symmetric()
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
