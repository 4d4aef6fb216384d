//! Grid clustering: points grouped by the integer coordinates of their cell, with no dense grid
//! (cells are keyed by their coordinates and sorted), and points sorted by cluster.

use std::ops::Range;

use rayon::prelude::*;

use super::permutation::{gather, Permutation};
use super::{check_cell, check_length, check_points, ClusterError};
use crate::{IntoView, Real, Rows, View};

/// `2^63`: cell coordinates must lie in `[-2^63, 2^63)` to be an `i64`.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// The cell coordinate `floor(x / cell)`, if it is an `i64`.
#[inline]
fn cell_coordinate(x: f64, cell: f64) -> Option<i64> {
    floor_i64(x / cell)
}

/// `floor(q)` if it is an `i64`, without a call to libm's `floor` (not inlined on baseline
/// x86-64, and this runs per coordinate).
#[inline]
pub(super) fn floor_i64(q: f64) -> Option<i64> {
    // NaN fails both comparisons.
    if !(-I64_LIMIT..I64_LIMIT).contains(&q) {
        return None;
    }
    // Truncation toward zero, exact here; one less for a negative non-integer.
    let t = q as i64;
    Some(if t as f64 > q { t - 1 } else { t })
}

/// Rows grouped by grid cell.
pub(super) struct CellSort {
    /// Rows in order of their cell's coordinates (lexicographic), then of row.
    pub order: Vec<usize>,
    /// Cell `c` holds `order[starts[c]..starts[c + 1]]`.
    pub starts: Vec<usize>,
    /// Cell `c`'s integer coordinates: `cells[c * dim..(c + 1) * dim]`.
    pub cells: Vec<i64>,
    /// When the cells were counted: every cell of the box by key, occupied or not.
    pub dense: Option<Dense>,
}

/// The cells of a box, numbered by [`Radix`], each with the start of its rows in
/// [`CellSort::order`]: the rows of a run of cells along the last coordinate are contiguous, found
/// without a search.
pub(super) struct Dense {
    pub radix: Radix,
    /// Cell `key` holds `order[first[key]..first[key + 1]]`.
    pub first: Vec<usize>,
}

impl CellSort {
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn cell(&self, c: usize, dim: usize) -> &[i64] {
        &self.cells[c * dim..(c + 1) * dim]
    }
}

/// Rows per parallel task in the passes over points.
const CHUNK: usize = 4096;

/// Sorts the rows of `data` (rows of `dim >= 1` finite values) by their cells of side `cell`.
///
/// When the occupied cells' bounding box has at most 2^64 cells, each cell is one `u64` key
/// (mixed radix, the first coordinate most significant, so the keys' order is the lexicographic
/// order of the coordinates): counted when the box has few cells per point (uniform data: one
/// linear pass), sorted with their rows otherwise. Beyond 2^64 cells rows are sorted by their
/// coordinate tuples, slower but for any spread.
pub(super) fn sort_into_cells<T: Real>(
    data: &[T],
    dim: usize,
    cell: f64,
) -> Result<CellSort, ClusterError> {
    let n = data.len() / dim;
    if n == 0 {
        return Ok(CellSort {
            order: Vec::new(),
            starts: vec![0],
            cells: Vec::new(),
            dense: None,
        });
    }
    // The extreme values along each axis: division by the cell and floor are monotone, so their
    // cells bound every cell (and only they need the overflow check).
    let extremes = |rows: &[T]| {
        let (mut lo, mut hi) = (vec![f64::INFINITY; dim], vec![f64::NEG_INFINITY; dim]);
        for row in rows.chunks_exact(dim) {
            for (d, x) in row.iter().enumerate() {
                lo[d] = lo[d].min(x.to_f64());
                hi[d] = hi[d].max(x.to_f64());
            }
        }
        (lo, hi)
    };
    let (lo_x, hi_x) = data
        .par_chunks(dim * CHUNK)
        .map(extremes)
        .reduce_with(|(a, b), (c, d)| {
            let lo = a.iter().zip(&c).map(|(x, y)| x.min(*y)).collect();
            let hi = b.iter().zip(&d).map(|(x, y)| x.max(*y)).collect();
            (lo, hi)
        })
        .expect("at least one row");
    let (mut lo, mut hi) = (vec![0i64; dim], vec![0i64; dim]);
    for d in 0..dim {
        match (
            cell_coordinate(lo_x[d], cell),
            cell_coordinate(hi_x[d], cell),
        ) {
            (Some(l), Some(h)) => (lo[d], hi[d]) = (l, h),
            _ => {
                let p = data
                    .iter()
                    .position(|x| cell_coordinate(x.to_f64(), cell).is_none())
                    .expect("an extreme overflows");
                return Err(ClusterError::CellOverflow {
                    row: p / dim,
                    col: p % dim,
                    value: data[p].to_f64(),
                    cell,
                });
            }
        }
    }
    // Within the extremes' cells: the fallback never runs for finite data.
    let coordinate = |x: &T| cell_coordinate(x.to_f64(), cell).unwrap_or(0);
    let Some(radix) = Radix::new(&lo, &hi) else {
        let (order, starts, cells) = tuple_sort(data, dim, coordinate);
        return Ok(CellSort {
            order,
            starts,
            cells,
            dense: None,
        });
    };
    let keys: Vec<u64> = data
        .par_chunks(dim)
        .map(|row| radix.key(row.iter().map(coordinate)))
        .collect();
    let ((order, starts, occurring), first) = match usize::try_from(radix.size) {
        Ok(size) if size <= 4 * n + 1024 => {
            let (grouped, first) = counting_sort(&keys, size);
            (grouped, Some(first))
        }
        _ => (key_sort(keys), None),
    };
    let cells = occurring.iter().flat_map(|&k| radix.decode(k)).collect();
    Ok(CellSort {
        order,
        starts,
        cells,
        dense: first.map(|first| Dense { radix, first }),
    })
}

/// The cells of a box `lo..=hi` numbered by a `u64` in mixed radix, the last coordinate varying
/// fastest (so keys sort as the coordinates do, lexicographically).
pub(super) struct Radix {
    /// The box's first cell.
    pub lo: Vec<i64>,
    /// Its cells along each axis.
    pub extents: Vec<u64>,
    /// The key's step along each axis.
    pub strides: Vec<u64>,
    /// Cells in the box.
    pub size: u64,
}

impl Radix {
    /// `None` when the box has more than `u64::MAX` cells.
    fn new(lo: &[i64], hi: &[i64]) -> Option<Self> {
        let dim = lo.len();
        let (mut extents, mut strides) = (vec![0u64; dim], vec![0u64; dim]);
        let mut size: u64 = 1;
        for d in (0..dim).rev() {
            strides[d] = size;
            extents[d] = u64::try_from(i128::from(hi[d]) - i128::from(lo[d]) + 1).ok()?;
            size = size.checked_mul(extents[d])?;
        }
        Some(Radix {
            lo: lo.to_vec(),
            extents,
            strides,
            size,
        })
    }

    fn key(&self, coordinates: impl Iterator<Item = i64>) -> u64 {
        // Wrapping: the offset from `lo` is below 2^64 but may exceed i64.
        coordinates
            .zip(self.lo.iter().zip(&self.strides))
            .fold(0, |k, (c, (lo, s))| k + c.wrapping_sub(*lo) as u64 * s)
    }

    fn decode(&self, key: u64) -> impl Iterator<Item = i64> + '_ {
        (0..self.lo.len()).map(move |d| {
            let offset = key / self.strides[d] % self.extents[d];
            self.lo[d].wrapping_add(offset as i64)
        })
    }
}

/// Rows in order of `(key, row)`, the start of each occurring key's rows (and the number of
/// rows), the occurring keys.
type Grouped = (Vec<usize>, Vec<usize>, Vec<u64>);

/// [`Grouped`] by counting (keys below `size`), and the start of every key's rows (`size + 1`
/// entries).
fn counting_sort(keys: &[u64], size: usize) -> (Grouped, Vec<usize>) {
    let mut first = vec![0usize; size + 1];
    for &k in keys {
        first[k as usize + 1] += 1;
    }
    let (mut starts, mut occurring) = (Vec::new(), Vec::new());
    for k in 0..size {
        if first[k + 1] > 0 {
            starts.push(first[k]);
            occurring.push(k as u64);
        }
        first[k + 1] += first[k];
    }
    starts.push(keys.len());
    let mut next = first.clone();
    let mut order = vec![0; keys.len()];
    for (r, &k) in keys.iter().enumerate() {
        order[next[k as usize]] = r;
        next[k as usize] += 1;
    }
    ((order, starts, occurring), first)
}

/// [`counting_sort`] by sorting `(key, row)` pairs, for keys spread too thin to count.
fn key_sort(keys: Vec<u64>) -> Grouped {
    let n = keys.len();
    let mut pairs: Vec<(u64, usize)> = keys.into_iter().enumerate().map(|(r, k)| (k, r)).collect();
    pairs.par_sort_unstable();
    let (mut starts, mut occurring) = (Vec::new(), Vec::new());
    for (p, &(k, _)) in pairs.iter().enumerate() {
        if p == 0 || pairs[p - 1].0 != k {
            starts.push(p);
            occurring.push(k);
        }
    }
    starts.push(n);
    (
        pairs.into_iter().map(|(_, r)| r).collect(),
        starts,
        occurring,
    )
}

/// Rows sorted by their cells' coordinate tuples, then row, for cells too spread out to number
/// (a box of more than 2^64 cells): the order, the start of each cell's rows, the cells.
fn tuple_sort<T: Real>(
    data: &[T],
    dim: usize,
    coordinate: impl Fn(&T) -> i64 + Sync + Send,
) -> (Vec<usize>, Vec<usize>, Vec<i64>) {
    let n = data.len() / dim;
    let coords: Vec<i64> = data.par_iter().map(&coordinate).collect();
    let row = |r: usize| &coords[r * dim..(r + 1) * dim];
    let mut order: Vec<usize> = (0..n).collect();
    order.par_sort_unstable_by(|&a, &b| row(a).cmp(row(b)).then(a.cmp(&b)));
    let (mut starts, mut cells) = (Vec::new(), Vec::new());
    for (k, &r) in order.iter().enumerate() {
        if k == 0 || row(order[k - 1]) != row(r) {
            starts.push(k);
            cells.extend_from_slice(row(r));
        }
    }
    starts.push(n);
    (order, starts, cells)
}

/// Labels each point with its grid cell, KeOps' `grid_cluster`: the cells are cubes of side
/// `cell`, the cell of `x` has integer coordinates `floor(x / cell)` (computed in f64), and the
/// labels are `0..cells` with only occupied cells numbered, in lexicographic order of the cells'
/// coordinates. No grid is allocated: points far apart cost no more than points close together.
///
/// Errors: a cell size that is not finite and positive, points of dimension 0 or with
/// non-finite coordinates, a cell coordinate beyond `i64`.
///
/// ```
/// use keops_runtime::ranges::cluster::grid_cluster;
/// let x = vec![[0.1, 0.1], [5.5, -3.0], [0.3, 0.2], [1e12, 0.0]];
/// // Cells (0, 0), (5, -3), (0, 0), (1e12, 0): numbered in lexicographic order.
/// assert_eq!(grid_cluster(&x, 1.0)?, vec![0, 1, 0, 2]);
/// # Ok::<(), keops_runtime::ranges::cluster::ClusterError>(())
/// ```
pub fn grid_cluster<'a, T: Real>(
    points: impl IntoView<'a, T>,
    cell: T,
) -> Result<Vec<usize>, ClusterError> {
    let points = points.into_view();
    let cell = check_cell(cell)?;
    check_points("points", &points)?;
    let cells = sort_into_cells(points.as_slice(), points.dim(), cell)?;
    let mut labels = vec![0; points.rows()];
    for (c, w) in cells.starts.windows(2).enumerate() {
        for &r in &cells.order[w[0]..w[1]] {
            labels[r] = c;
        }
    }
    Ok(labels)
}

/// Points sorted so that each cluster's rows are contiguous: [`sort_clusters`],
/// [`BlockSparse`](super::BlockSparse).
#[derive(Clone, Debug, PartialEq)]
pub struct SortedClusters<T> {
    /// The points in cluster order.
    pub points: Rows<T>,
    /// `points` row `k` is the original row `permutation.order()[k]`.
    pub permutation: Permutation,
    /// The clusters' rows in `points`: sorted, contiguous, none empty.
    pub clusters: Vec<Range<usize>>,
}

/// Sorts points by label, KeOps' `sort_clusters`: clusters come in increasing label order, the
/// points of one cluster in their original order; labels no point has make no cluster (so none
/// is empty), and the clusters are the labels' ranks, not the labels.
///
/// Errors: points of dimension 0, not one label per point.
///
/// ```
/// use keops_runtime::ranges::cluster::sort_clusters;
/// let x = vec![[0.0], [1.0], [2.0], [3.0]];
/// let s = sort_clusters(&x, &[7, 2, 7, 2])?;
/// assert_eq!(s.points.as_slice(), [1.0, 3.0, 0.0, 2.0]);
/// assert_eq!(s.permutation.order(), [1, 3, 0, 2]);
/// assert_eq!(s.clusters, vec![0..2, 2..4]);
/// # Ok::<(), keops_runtime::ranges::cluster::ClusterError>(())
/// ```
pub fn sort_clusters<'a, T: Real>(
    points: impl IntoView<'a, T>,
    labels: &[usize],
) -> Result<SortedClusters<T>, ClusterError> {
    let points = points.into_view();
    if points.dim() == 0 {
        return Err(ClusterError::ZeroDimension);
    }
    let n = points.rows();
    check_length("labels", labels.len(), n, "one label per point")?;
    let max = labels.par_iter().copied().max().unwrap_or(0);
    // A counting sort when the labels are few enough (grid_cluster's are at most n); a sort of
    // (label, row) pairs otherwise. Both give the order of (label, row).
    let (order, sorted_labels) = if max <= 4 * n + 1024 {
        let mut starts = vec![0usize; max + 2];
        for &l in labels {
            starts[l + 1] += 1;
        }
        for l in 0..=max {
            starts[l + 1] += starts[l];
        }
        let mut order = vec![0; n];
        for (r, &l) in labels.iter().enumerate() {
            order[starts[l]] = r;
            starts[l] += 1;
        }
        let sorted = order.iter().map(|&r| labels[r]).collect::<Vec<_>>();
        (order, sorted)
    } else {
        let mut pairs: Vec<(usize, usize)> =
            labels.iter().enumerate().map(|(r, &l)| (l, r)).collect();
        pairs.par_sort_unstable();
        pairs.into_iter().map(|(l, r)| (r, l)).unzip()
    };
    let clusters = runs(&sorted_labels);
    Ok(SortedClusters {
        points: Rows::from_parts(
            gather(points.as_slice(), points.dim(), &order),
            n,
            points.dim(),
        ),
        permutation: Permutation::from_order_unchecked(order),
        clusters,
    })
}

/// The ranges of equal consecutive labels.
fn runs(sorted: &[usize]) -> Vec<Range<usize>> {
    let mut clusters = Vec::new();
    let mut start = 0;
    for k in 1..=sorted.len() {
        if k == sorted.len() || sorted[k] != sorted[k - 1] {
            clusters.push(start..k);
            start = k;
        }
    }
    clusters
}

/// [`grid_cluster`] then [`sort_clusters`] in one sort, for checked points and cell.
pub(super) fn sorted_by_cell<T: Real>(
    points: &View<'_, T>,
    cell: f64,
) -> Result<SortedClusters<T>, ClusterError> {
    let (n, dim) = (points.rows(), points.dim());
    let cells = sort_into_cells(points.as_slice(), dim, cell)?;
    let clusters = cells.starts.windows(2).map(|w| w[0]..w[1]).collect();
    Ok(SortedClusters {
        points: Rows::from_parts(gather(points.as_slice(), dim, &cells.order), n, dim),
        permutation: Permutation::from_order_unchecked(cells.order),
        clusters,
    })
}
