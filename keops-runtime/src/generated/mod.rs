//! What the code `kernel!` generates calls besides the engines: the checks made when data is
//! bound, the helpers of gradients, and the entrywise vector operations of formulas ([`ops`]).
//! Reached only through `keops_runtime::__private`.

pub mod ops;

use crate::{Indices, KeopsError, Real, Rows, View};

/// Checks one variable's data when it is bound: dimension at least 1, non-empty and finite.
pub fn check_var<T: Real>(name: &str, v: &View<'_, T>) -> Result<(), KeopsError> {
    // `&Vec<[T; 0]>` and nalgebra matrices with no column give views of dimension 0.
    if v.dim() == 0 {
        return Err(KeopsError::ZeroDimension);
    }
    if v.rows() == 0 {
        return Err(KeopsError::Empty {
            var: name.to_string(),
        });
    }
    v.check_finite(name)
}

/// The sum of the rows of `rows` (`dim` entries each, summed in f64) into `out`: the
/// gradient of a reduction with respect to a parameter sums over both indices.
pub fn sum_rows_into<T: Real>(rows: &[T], dim: usize, out: &mut [T]) {
    let mut acc = vec![0.0f64; dim];
    for r in rows.chunks_exact(dim) {
        for (a, v) in acc.iter_mut().zip(r) {
            *a += v.to_f64();
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = T::from_f64(*a);
    }
}

/// A forward stage's indices as reals, for a gradient that compares them with the row index:
/// each must be exact in `T` (below 2^24 in f32).
pub fn indices_as_reals<T: Real>(idx: &Indices) -> Result<Rows<T>, KeopsError> {
    let mut vals = Vec::with_capacity(idx.as_slice().len());
    for &i in idx.as_slice() {
        let v = T::from_f64(i as f64);
        if v.to_f64() != i as f64 {
            return Err(KeopsError::IndexNotExact {
                index: i,
                bits: 8 * std::mem::size_of::<T>(),
            });
        }
        vals.push(v);
    }
    Ok(Rows::from_parts(vals, idx.rows(), idx.dim()))
}

/// Checks that all variables of one index have the same number of rows; returns it.
pub fn common_rows(index: char, vars: &[(&str, usize)]) -> Result<usize, KeopsError> {
    let (first, first_rows) = vars[0];
    for &(var, rows) in &vars[1..] {
        if rows != first_rows {
            return Err(KeopsError::LengthMismatch {
                index,
                first: first.to_string(),
                first_rows,
                var: var.to_string(),
                rows,
            });
        }
    }
    Ok(first_rows)
}
