//! The order in which points were sorted into clusters, to sort more rows the same way and to
//! put results back in the caller's order.

use rayon::prelude::*;

use super::{check_length, first_position, ClusterError};
use crate::{Indices, IntoView, Real, Rows};

/// Rows per parallel task when copying rows.
const CHUNK: usize = 4096;

/// A reordering of `n` rows: sorted row `k` is original row `order()[k]`, i.e.
/// `sorted = original[order]`.
///
/// ```
/// use keops_runtime::ranges::cluster::Permutation;
/// use keops_runtime::Rows;
/// let p = Permutation::from_order(vec![2, 0, 1])?;
/// let sorted = p.sort_rows(&vec![10.0, 20.0, 30.0])?; // dimension 1
/// assert_eq!(sorted.as_slice(), [30.0, 10.0, 20.0]);
/// assert_eq!(p.unsort_rows(&sorted)?.as_slice(), [10.0, 20.0, 30.0]);
/// # Ok::<(), keops_runtime::KeopsError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permutation {
    order: Vec<usize>,
}

impl Permutation {
    /// The permutation whose sorted row `k` is original row `order[k]`; `order` must hold each of
    /// `0..order.len()` once.
    pub fn from_order(order: Vec<usize>) -> Result<Self, ClusterError> {
        let n = order.len();
        let mut seen = vec![false; n];
        for (position, &value) in order.iter().enumerate() {
            if value >= n || std::mem::replace(&mut seen[value], true) {
                return Err(ClusterError::NotAPermutation {
                    position,
                    value,
                    len: n,
                });
            }
        }
        Ok(Permutation { order })
    }

    /// Built by this module: a permutation by construction.
    pub(super) fn from_order_unchecked(order: Vec<usize>) -> Self {
        debug_assert!(Self::from_order(order.clone()).is_ok());
        Permutation { order }
    }

    /// `n` rows left in place.
    pub fn identity(n: usize) -> Self {
        Permutation {
            order: (0..n).collect(),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Sorted row `k` is original row `order()[k]`.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The original row that sorted row `k` came from.
    pub fn original(&self, k: usize) -> usize {
        self.order[k]
    }

    /// The inverse: its `order()[r]` is where original row `r` went.
    pub fn inverse(&self) -> Permutation {
        let mut inv = vec![0; self.order.len()];
        for (k, &r) in self.order.iter().enumerate() {
            inv[r] = k;
        }
        Permutation { order: inv }
    }

    /// Rows in sorted (cluster) order: row `k` of the result is row `order()[k]` of `rows`, of
    /// any dimension. Use it for every variable bound with the sorted points (weights, other
    /// features).
    pub fn sort_rows<'a, T: Real>(
        &self,
        rows: impl IntoView<'a, T>,
    ) -> Result<Rows<T>, ClusterError> {
        let v = rows.into_view();
        check_length(
            "rows",
            v.rows(),
            self.len(),
            "one per row of the permutation",
        )?;
        Ok(Rows::from_parts(
            gather(v.as_slice(), v.dim(), &self.order),
            v.rows(),
            v.dim(),
        ))
    }

    /// Rows in the original (the caller's) order: row `order()[k]` of the result is row `k` of
    /// `rows`, e.g. a reduction's output for the sorted points. Any dimension and any entries
    /// (values or [`Indices`]).
    pub fn unsort_rows<T: Copy + Send + Sync>(
        &self,
        rows: &Rows<T>,
    ) -> Result<Rows<T>, ClusterError> {
        check_length(
            "rows",
            rows.rows(),
            self.len(),
            "one per row of the permutation",
        )?;
        let inv = self.inverse();
        Ok(Rows::from_parts(
            gather(rows.as_slice(), rows.dim(), &inv.order),
            rows.rows(),
            rows.dim(),
        ))
    }

    /// Indices of sorted rows (an arg reduction over the sorted points: `argmin_j`,
    /// `argkmin_j`...) as indices of the original rows: each entry `k` becomes `order()[k]`. The
    /// rows stay where they are (use the other side's [`unsort_rows`](Self::unsort_rows) for
    /// them).
    pub fn original_indices(&self, indices: &Indices) -> Result<Indices, ClusterError> {
        let n = self.len();
        let data = indices.as_slice();
        if let Some(p) = first_position(data, |&k| k >= n) {
            return Err(ClusterError::IndexOutOfRange {
                row: p / indices.dim().max(1),
                value: data[p],
                len: n,
            });
        }
        let mapped = data.par_iter().map(|&k| self.order[k]).collect();
        Ok(Rows::from_parts(mapped, indices.rows(), indices.dim()))
    }
}

/// Rows `order[k]` of the row-major `data` (rows of `dim`), one after the other.
pub(crate) fn gather<T: Copy + Send + Sync>(data: &[T], dim: usize, order: &[usize]) -> Vec<T> {
    let Some(&first) = data.first() else {
        return Vec::new();
    };
    let mut out = vec![first; order.len() * dim];
    out.par_chunks_mut(CHUNK * dim)
        .zip(order.par_chunks(CHUNK))
        .for_each(|(out, order)| {
            for (o, &r) in out.chunks_exact_mut(dim).zip(order) {
                o.copy_from_slice(&data[r * dim..(r + 1) * dim]);
            }
        });
    out
}
