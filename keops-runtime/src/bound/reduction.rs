//! A bound reduction formula and what evaluating it gives.

use std::marker::PhantomData;

use crate::{GpuTask, Indices, KeopsError, Real, Rows};

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
    /// The pairs visited, when block-sparse.
    fn ranges(&self) -> Option<&crate::Ranges> {
        None
    }
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
    /// The block-sparse ranges it visits, if any (set on the formula before binding:
    /// `.ranges(&r)`).
    pub fn block_sparsity(&self) -> Option<&crate::Ranges> {
        self.bound.ranges()
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
