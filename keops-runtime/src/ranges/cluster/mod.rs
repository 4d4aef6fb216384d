//! Clustering helpers for block-sparse reductions, after pykeops' `cluster` module: points
//! sorted into grid cells, the cells' centroids and radii, and the [`Ranges`] of the cluster
//! pairs within a cut-off distance.
//!
//! The steps, each a function ([`Ranges::from_mask`] builds ranges from a boolean cluster-pair
//! mask instead of a cut-off):
//!
//! 1. [`grid_cluster`]: the grid cell of each point (a label, `0..cells` in lexicographic order
//!    of the cells' integer coordinates `floor(x / cell)`; only occupied cells count, so a point
//!    far away costs nothing);
//! 2. [`sort_clusters`]: the points sorted by label, the [`Permutation`] that did it and the
//!    clusters of contiguous rows;
//! 3. [`centroids`] and [`radii`]: each cluster's mean and the largest distance of its points
//!    to it;
//! 4. [`pairs_within`]: the cluster pairs whose centroids are closer than the cut-off plus both
//!    radii, and [`ranges_within`], the same as [`Ranges`].
//!
//! [`BlockSparse::new`] does it all for the common case. Bind the sorted points with the ranges;
//! the results come in cluster order, and [`Permutation::unsort_rows`] puts them back in the
//! caller's:
//!
//! ```
//! use keops_runtime::ranges::cluster::BlockSparse;
//! let x: Vec<[f64; 2]> = (0..1000)
//!     .map(|k| [(k as f64 * 0.618).fract(), (k as f64 * 0.377).fract()])
//!     .collect();
//! // Cells of 0.1, pairs of points closer than 0.2 (at least) kept.
//! let b = BlockSparse::new(&x, &x, 0.1, 0.2)?;
//! assert!(b.ranges.is_symmetric()); // the same points on both sides
//! assert_eq!(b.x.points.row(0), x[b.x.permutation.order()[0]]);
//! assert!(b.ranges.kept_pairs() < 1000 * 1000 / 2);
//! // A result per sorted point, e.g. each sorted row's x coordinate, back in the user's order:
//! let sorted = keops_runtime::Rows::from_vec(b.x.points.iter().step_by(2).copied().collect(), 1)?;
//! let back = b.x.permutation.unsort_rows(&sorted)?;
//! assert!((0..1000).all(|k| back.row(k)[0] == x[k][0]));
//! # Ok::<(), keops_runtime::KeopsError>(())
//! ```

mod grid;
mod pairs;
mod permutation;
mod search;
#[cfg(test)]
mod tests;

use std::ops::Range;

use rayon::prelude::*;

use super::{Ranges, RangesError};
use crate::data::same_data;
use crate::{IntoView, Real, View};

pub use grid::{grid_cluster, sort_clusters, SortedClusters};
pub use pairs::{centroids, pairs_within, radii, ranges_within};
pub(crate) use permutation::gather;
pub use permutation::Permutation;

/// Why clustering failed: bad sizes or coordinates, or inputs that do not fit together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A cell size that is NaN, infinite, zero or negative.
    #[error("the cell size must be finite and > 0 (got {value})")]
    CellSize {
        /// The value given.
        value: f64,
    },
    /// A cut-off that is NaN, infinite, zero or negative.
    #[error("the cut-off must be finite and > 0 (got {value})")]
    Cutoff {
        /// The value given.
        value: f64,
    },
    /// Points of dimension 0.
    #[error("points of dimension 0 cannot be clustered")]
    ZeroDimension,
    /// NaN or infinity among coordinates: no cell or distance would make sense.
    #[error("`{what}` holds a non-finite value ({value}) at row {row}, column {col}")]
    NonFinite {
        /// The input (`points`, `x`, `centroids_i`...).
        what: &'static str,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value (in f64).
        value: f64,
    },
    /// Two point sets that must have the same dimension do not.
    #[error("`{first}` has dimension {first_dim}, but `{second}` has dimension {second_dim}")]
    DimensionMismatch {
        /// The first input.
        first: &'static str,
        /// Its dimension.
        first_dim: usize,
        /// The second input.
        second: &'static str,
        /// Its dimension.
        second_dim: usize,
    },
    /// An input with the wrong number of rows (labels, radii, centroids, rows to permute).
    #[error("`{what}` has {found} rows, but {expected} are needed ({why})")]
    Length {
        /// The input.
        what: &'static str,
        /// Its rows.
        found: usize,
        /// The rows needed.
        expected: usize,
        /// Why.
        why: &'static str,
    },
    /// A cell coordinate `floor(x / cell)` beyond the range of `i64`.
    #[error("the cell coordinate floor({value} / {cell}) of row {row}, column {col} does not fit in an i64: use a larger cell size")]
    CellOverflow {
        /// Row of the coordinate.
        row: usize,
        /// Its column.
        col: usize,
        /// The coordinate.
        value: f64,
        /// The cell size.
        cell: f64,
    },
    /// A cluster that is not a range of the points' rows.
    #[error("cluster {cluster} = {start}..{end} is not a range of the {rows} points")]
    ClusterRange {
        /// The cluster.
        cluster: usize,
        /// Its start.
        start: usize,
        /// Its end.
        end: usize,
        /// The number of points.
        rows: usize,
    },
    /// A cluster whose centroid is not finite (coordinates near the largest float, far apart).
    #[error(
        "the centroid of cluster {cluster} is not finite: its points' coordinates are too large"
    )]
    CentroidOverflow {
        /// The cluster.
        cluster: usize,
    },
    /// A radius that is negative or NaN.
    #[error("`{what}`[{cluster}] = {value}: a radius must be >= 0 and not NaN")]
    Radius {
        /// The input (`radii_i` or `radii_j`).
        what: &'static str,
        /// The cluster.
        cluster: usize,
        /// The value (in f64).
        value: f64,
    },
    /// An order that is not a permutation of `0..len`.
    #[error(
        "not a permutation of 0..{len}: entry {position} is {value}, out of range or repeated"
    )]
    NotAPermutation {
        /// The first entry at fault.
        position: usize,
        /// Its value.
        value: usize,
        /// The length.
        len: usize,
    },
    /// An index beyond the rows of a permutation.
    #[error("index {value} at row {row} is not below the permutation's length {len}")]
    IndexOutOfRange {
        /// The row holding it.
        row: usize,
        /// The index.
        value: usize,
        /// The permutation's length.
        len: usize,
    },
    /// The ranges built from the clusters are invalid (clusters unsorted or overlapping).
    #[error(transparent)]
    Ranges(#[from] RangesError),
}

/// The points of both sides sorted into grid cells, and the ranges of the cluster pairs within
/// the cut-off: [`BlockSparse::new`].
#[derive(Clone, Debug)]
pub struct BlockSparse<T> {
    /// The i points (`x`) sorted by cell, their permutation and clusters.
    pub x: SortedClusters<T>,
    /// The j points (`y`) sorted by cell, their permutation and clusters.
    pub y: SortedClusters<T>,
    /// Which pairs of sorted rows a reduction visits: every pair of clusters whose points may
    /// be closer than the cut-off (see [`pairs_within`]), indexed by sorted rows.
    pub ranges: Ranges,
}

impl<T: Real> BlockSparse<T> {
    /// Clusters `x` and `y` on a grid of cells of side `cell` ([`grid_cluster`],
    /// [`sort_clusters`]) and keeps the cluster pairs whose points may be closer than `cutoff`
    /// ([`ranges_within`]): no pair of points closer than `cutoff` is dropped.
    ///
    /// When `x` and `y` hold the same values, `y` is a copy of `x` and the ranges are symmetric
    /// ([`Ranges::is_symmetric`]), so a symmetric kernel keeps evaluating each pair once.
    ///
    /// A cell about a third of the cut-off is a fair start: larger cells keep more pairs that
    /// are far apart, smaller ones make more, smaller blocks.
    pub fn new<'a, 'b>(
        x: impl IntoView<'a, T>,
        y: impl IntoView<'b, T>,
        cell: T,
        cutoff: T,
    ) -> Result<Self, ClusterError> {
        let (x, y) = (x.into_view(), y.into_view());
        let cell = check_cell(cell)?;
        check_cutoff(cutoff)?;
        check_points("x", &x)?;
        check_points("y", &y)?;
        check_same_dim(("x", x.dim()), ("y", y.dim()))?;
        let side = |v: &View<'_, T>| -> Result<_, ClusterError> {
            let s = grid::sorted_by_cell(v, cell)?;
            let (c, r) = pairs::centroids_and_radii(&(&s.points).into_view(), &s.clusters)?;
            Ok((s, c, r))
        };
        let (sx, cx, rx) = side(&x)?;
        let dim = x.dim();
        let i = (cx.as_slice(), rx.as_slice(), sx.clusters.as_slice());
        if same_data(&x, &y) {
            let ranges = ranges_by_search(dim, i, i, cutoff, true)?;
            return Ok(BlockSparse {
                y: sx.clone(),
                x: sx,
                ranges,
            });
        }
        let (sy, cy, ry) = side(&y)?;
        let j = (cy.as_slice(), ry.as_slice(), sy.clusters.as_slice());
        let ranges = ranges_by_search(dim, i, j, cutoff, false)?;
        Ok(BlockSparse {
            x: sx,
            y: sy,
            ranges,
        })
    }
}

/// A side of a search: centroids (row-major), radii, clusters of rows.
type Side<'s, T> = (&'s [T], &'s [T], &'s [Range<usize>]);

/// The ranges of the cluster pairs within `cutoff` (see [`pairs_within`]), each direction
/// straight from a search: no list of millions of pairs to build, sort and transpose, as
/// [`Ranges::from_pairs`] would. `same`: both sides are the same centroids, radii and clusters,
/// so the kept pairs are symmetric and one search serves both directions.
fn ranges_by_search<T: Real>(
    dim: usize,
    i: Side<'_, T>,
    j: Side<'_, T>,
    cutoff: T,
    same: bool,
) -> Result<Ranges, ClusterError> {
    let over_j = search::sparsity(dim, i, j, cutoff, ["ranges_i", "slices_i", "redranges_j"])?;
    let (over_i, symmetric) = if same {
        (over_j.clone(), true)
    } else {
        let over_i = search::sparsity(dim, j, i, cutoff, ["ranges_j", "slices_j", "redranges_i"])?;
        // As `from_pairs` decides it: the same clusters, and each direction the other's mirror.
        let symmetric = i.2 == j.2 && over_i == over_j;
        (over_i, symmetric)
    };
    // The two directions as `from_pairs` would have built them from the same pairs (the tests
    // compare them), without its serial transpose of millions of pairs.
    Ok(Ranges::from_directions(over_j, over_i, symmetric))
}

/// The cell size in f64, if finite and positive.
fn check_cell<T: Real>(cell: T) -> Result<f64, ClusterError> {
    let value = cell.to_f64();
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ClusterError::CellSize { value })
    }
}

/// The cut-off in f64, if finite and positive.
fn check_cutoff<T: Real>(cutoff: T) -> Result<f64, ClusterError> {
    let value = cutoff.to_f64();
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ClusterError::Cutoff { value })
    }
}

/// Dimension at least 1, every coordinate finite (the first bad one reported).
fn check_points<T: Real>(what: &'static str, v: &View<'_, T>) -> Result<(), ClusterError> {
    if v.dim() == 0 {
        return Err(ClusterError::ZeroDimension);
    }
    match first_position(v.as_slice(), |x| !x.is_finite()) {
        None => Ok(()),
        Some(p) => Err(ClusterError::NonFinite {
            what,
            row: p / v.dim(),
            col: p % v.dim(),
            value: v.as_slice()[p].to_f64(),
        }),
    }
}

/// The first position where `p` holds: a parallel test by blocks, then a plain search in the
/// (rare) failing case, much cheaper than rayon's `position_first` item by item.
fn first_position<T: Sync>(data: &[T], p: impl Fn(&T) -> bool + Sync) -> Option<usize> {
    if data.par_chunks(1 << 14).any(|c| c.iter().any(&p)) {
        data.iter().position(p)
    } else {
        None
    }
}

fn check_same_dim(
    (first, first_dim): (&'static str, usize),
    (second, second_dim): (&'static str, usize),
) -> Result<(), ClusterError> {
    if first_dim == second_dim {
        Ok(())
    } else {
        Err(ClusterError::DimensionMismatch {
            first,
            first_dim,
            second,
            second_dim,
        })
    }
}

fn check_length(
    what: &'static str,
    found: usize,
    expected: usize,
    why: &'static str,
) -> Result<(), ClusterError> {
    if found == expected {
        Ok(())
    } else {
        Err(ClusterError::Length {
            what,
            found,
            expected,
            why,
        })
    }
}
