//! The cluster pairs within a cut-off: candidates from a grid over the `j` centroids, each
//! tested once, so the time grows with the pairs kept rather than with all pairs.

use rayon::prelude::*;

use std::ops::Range;

use super::grid::{floor_i64, sort_into_cells, CellSort, Dense};
use super::permutation::gather;
use crate::ranges::{BlockSparsity, RangesError};
use crate::Real;

/// Cells of the centroids' search grid per reach (the largest distance at which a pair can be
/// kept): a query scans about `(2 + 1 / 3)^D reach^D` of space (`3^D` with 1 cell per reach) in
/// `7^(D - 1)` runs of cells.
const CELLS_PER_REACH: f64 = 3.0;

/// The relative slack `delta` of [`pairs_within`](super::pairs_within)'s test.
fn slack<T: Real>(dim: usize) -> f64 {
    let eps = if T::NAME == "f32" {
        f64::from(f32::EPSILON)
    } else {
        f64::EPSILON
    };
    (8.0 * (dim as f64 + 2.0) * eps).min(0.25)
}

/// The dimension, a constant for the common small ones so that the distance loops unroll.
trait Dim: Copy + Send + Sync {
    fn get(self) -> usize;
}

#[derive(Clone, Copy)]
struct Fixed<const D: usize>;

impl<const D: usize> Dim for Fixed<D> {
    #[inline(always)]
    fn get(self) -> usize {
        D
    }
}

#[derive(Clone, Copy)]
struct Any(usize);

impl Dim for Any {
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }
}

/// What every query reads.
struct Search {
    ci: Vec<f64>,
    ri: Vec<f64>,
    /// The j centroids and radii in grid order: a cell's members are contiguous in memory.
    packed_c: Vec<f64>,
    packed_r: Vec<f64>,
    grid: CellSort,
    /// The grid's cell side.
    cell: f64,
    cutoff: f64,
    delta: f64,
    /// `(1 + delta) / (1 - delta)` and a margin: a pair can be kept only when the centroids'
    /// distance is below `(cutoff + r_i + r_j) * widen`.
    widen: f64,
    rmax_j: f64,
    /// `u64` words of a bit set of the j clusters.
    words: usize,
}

impl Search {
    /// Prepares the queries of the centroids `ci` (row-major, `dim` each) against `cj`, with
    /// their radii (checked); `None` when a side has no cluster.
    fn new<T: Real>(
        dim: usize,
        (ci, ri): (&[T], &[T]),
        (cj, rj): (&[T], &[T]),
        cutoff: T,
    ) -> Option<Self> {
        if ri.is_empty() || rj.is_empty() {
            return None;
        }
        let to_f64 = |v: &[T]| v.par_iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
        let (ci, ri, cj, rj) = (to_f64(ci), to_f64(ri), to_f64(cj), to_f64(rj));
        let cutoff = cutoff.to_f64();
        let delta = slack::<T>(dim);
        // A pair is kept when d (1 - delta) < (cutoff + r_i + r_j) (1 + delta); the margin
        // covers the rounding of d itself.
        let widen = (1.0 + delta) / (1.0 - delta) * (1.0 + 1e-9);
        let largest = |v: &[f64]| v.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
        let rmax_j = largest(&rj);
        let reach_max = (cutoff + largest(&ri) + rmax_j) * widen;
        // Cells no smaller than 2^-52 of the largest coordinate keep cell coordinates within
        // i64; an infinite reach (a radius beyond f64) gives one cell and every pair.
        let cell = (reach_max / CELLS_PER_REACH)
            .max(largest(&cj) * f64::EPSILON)
            .min(f64::MAX);
        let grid = sort_into_cells(&cj, dim, cell).expect("cells keep coordinates within i64");
        Some(Search {
            packed_c: gather(&cj, dim, &grid.order),
            packed_r: gather(&rj, 1, &grid.order),
            words: rj.len().div_ceil(64),
            ci,
            ri,
            grid,
            cell,
            cutoff,
            delta,
            widen,
            rmax_j,
        })
    }

    /// `out(i, kept)` for each cluster `i`, with the j clusters kept with it in increasing
    /// order, in parallel.
    fn run<R: Send>(&self, dim: usize, out: impl Fn(usize, &[usize]) -> R + Sync) -> Vec<R> {
        match dim {
            1 => self.run_in(Fixed::<1>, &out),
            2 => self.run_in(Fixed::<2>, &out),
            3 => self.run_in(Fixed::<3>, &out),
            4 => self.run_in(Fixed::<4>, &out),
            _ => self.run_in(Any(dim), &out),
        }
    }

    fn run_in<D: Dim, R: Send>(
        &self,
        dim: D,
        out: &(impl Fn(usize, &[usize]) -> R + Sync),
    ) -> Vec<R> {
        (0..self.ri.len())
            .into_par_iter()
            .map_init(
                || (vec![0u64; self.words], Vec::new()),
                |(bits, kept), i| {
                    self.kept_of(dim, i, bits, kept);
                    out(i, kept)
                },
            )
            .collect()
    }

    /// The j clusters kept with cluster `i`, in increasing order, into `kept`; `bits` is all
    /// zeros and left so.
    fn kept_of<D: Dim>(&self, dim: D, i: usize, bits: &mut [u64], kept: &mut Vec<usize>) {
        let n = dim.get();
        let a = &self.ci[i * n..(i + 1) * n];
        let ri = self.ri[i];
        let reach = (self.cutoff + ri + self.rmax_j) * self.widen;
        let (mut lo, mut hi) = (vec![0i64; n], vec![0i64; n]);
        for d in 0..n {
            // Widened by the rounding of a +- reach, so the floors bound every centroid within
            // reach (division and floor are monotone); saturated, a box beyond i64 is clipped to
            // the cells that exist.
            let r = reach * (1.0 + 1e-12) + a[d].abs() * 1e-15;
            let floor = |q: f64| floor_i64(q).unwrap_or(if q > 0.0 { i64::MAX } else { i64::MIN });
            lo[d] = floor((a[d] - r) / self.cell);
            hi[d] = floor((a[d] + r) / self.cell);
        }
        // Kept j as bits: read back in increasing order without sorting.
        let (mut first, mut last) = (usize::MAX, 0);
        let (cutoff, delta, widen) = (self.cutoff, self.delta, self.widen);
        let mut test = |members: Range<usize>| {
            for k in members {
                // `dim.get()` here, not `n`: a constant in this closure's own code.
                let b = &self.packed_c[k * dim.get()..(k + 1) * dim.get()];
                let mut d2 = 0.0;
                for d in 0..dim.get() {
                    let e = a[d] - b[d];
                    d2 += e * e;
                }
                let sum = ri + self.packed_r[k];
                // Far beyond reach (most candidates): no square root. Infinite radii pass.
                let bound = (cutoff + sum) * widen;
                if d2 > bound * bound * (1.0 + 1e-9) {
                    continue;
                }
                let dist = d2.sqrt();
                // Dropped only when the gap is known to reach the cut-off: NaN (infinite
                // radii) keeps the pair.
                let gap = (dist - sum).partial_cmp(&(cutoff + delta * (dist + sum + cutoff)));
                if !gap.is_some_and(|o| o.is_ge()) {
                    let j = self.grid.order[k];
                    bits[j / 64] |= 1 << (j % 64);
                    first = first.min(j / 64);
                    last = last.max(j / 64);
                }
            }
        };
        match &self.grid.dense {
            Some(dense) => visit_dense(dense, &lo, &hi, &mut test),
            None => visit_box(&self.grid, n, &lo, &hi, &mut test),
        }
        kept.clear();
        for (w, word) in bits.iter_mut().enumerate().take(last + 1).skip(first) {
            let mut b = std::mem::take(word);
            while b != 0 {
                kept.push(w * 64 + b.trailing_zeros() as usize);
                b &= b - 1;
            }
        }
    }
}

/// [`pairs_within`](super::pairs_within) of checked centroids (row-major, `dim` each) and radii.
pub(super) fn pairs<T: Real>(
    dim: usize,
    i: (&[T], &[T]),
    j: (&[T], &[T]),
    cutoff: T,
) -> Vec<(usize, usize)> {
    match Search::new(dim, i, j, cutoff) {
        Some(s) => flatten(s.run(dim, |_, kept| kept.to_vec())),
        None => Vec::new(),
    }
}

/// One direction of the ranges of the cluster pairs within `cutoff`, straight from the search:
/// for each cluster of `i` rows the `j` rows of its kept clusters, adjacent ones merged and
/// empty ones dropped as [`Ranges::from_pairs`](crate::Ranges::from_pairs) does, with no list
/// of pairs. `names` are KeOps' arrays, for the errors.
pub(super) fn sparsity<T: Real>(
    dim: usize,
    (ci, ri, clusters_i): (&[T], &[T], &[Range<usize>]),
    (cj, rj, clusters_j): (&[T], &[T], &[Range<usize>]),
    cutoff: T,
    names: [&'static str; 3],
) -> Result<BlockSparsity, RangesError> {
    let runs = match Search::new(dim, (ci, ri), (cj, rj), cutoff) {
        Some(s) => s.run(dim, |_, kept| {
            let mut runs: Vec<Range<usize>> = Vec::new();
            for r in kept.iter().map(|&j| clusters_j[j].clone()) {
                match runs.last_mut() {
                    _ if r.is_empty() => {}
                    Some(last) if last.end == r.start => last.end = r.end,
                    _ => runs.push(r),
                }
            }
            runs
        }),
        None => vec![Vec::new(); clusters_i.len()],
    };
    let slices = runs
        .iter()
        .scan(0, |end, r| {
            *end += r.len();
            Some(*end)
        })
        .collect();
    BlockSparsity::new(names, clusters_i.to_vec(), slices, runs.concat())
}

/// `(i, j)` for each kept `j` of each `i`, filled in parallel (each i its own slice).
fn flatten(kept: Vec<Vec<usize>>) -> Vec<(usize, usize)> {
    let total = kept.iter().map(Vec::len).sum();
    let mut pairs = vec![(0, 0); total];
    let mut slices = Vec::with_capacity(kept.len());
    let mut rest = pairs.as_mut_slice();
    for js in &kept {
        let (head, tail) = rest.split_at_mut(js.len());
        slices.push(head);
        rest = tail;
    }
    slices
        .into_par_iter()
        .zip(kept.par_iter())
        .enumerate()
        .for_each(|(i, (out, js))| {
            for (o, &j) in out.iter_mut().zip(js) {
                *o = (i, j);
            }
        });
    pairs
}

/// Calls `f` on the rows (positions in the grid's order) of the cells in the box `lo..=hi`, one
/// range per run of cells along the last coordinate: cells keyed by the dense numbering, no
/// search.
fn visit_dense(dense: &Dense, lo: &[i64], hi: &[i64], mut f: impl FnMut(Range<usize>)) {
    let r = &dense.radix;
    let dim = lo.len();
    // The query box clipped to the grid's, as offsets from its first cell.
    let (mut from, mut to) = (vec![0usize; dim], vec![0usize; dim]);
    for d in 0..dim {
        let first = i128::from(r.lo[d]);
        let l = (i128::from(lo[d]) - first).max(0);
        let h = (i128::from(hi[d]) - first).min(i128::from(r.extents[d]) - 1);
        if l > h {
            return;
        }
        // Below the box's size, itself a usize (the cells were counted).
        (from[d], to[d]) = (l as usize, h as usize);
    }
    let last = dim - 1;
    let stride = |d: usize| r.strides[d] as usize;
    let mut at = from.clone();
    loop {
        let base: usize = (0..last).map(|d| at[d] * stride(d)).sum();
        f(dense.first[base + from[last]]..dense.first[base + to[last] + 1]);
        // The next run, the last prefix coordinate fastest.
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            if at[d] < to[d] {
                at[d] += 1;
                break;
            }
            at[d] = from[d];
        }
    }
}

/// [`visit_dense`] for cells too spread out to number densely: for each prefix of the first
/// `dim - 1` coordinates in the box, the occupied cells with that prefix are contiguous in the
/// grid's lexicographic order (one binary search); when the box has more prefixes than the grid
/// has cells (high dimensions), every cell is tested instead.
fn visit_box(grid: &CellSort, dim: usize, lo: &[i64], hi: &[i64], mut f: impl FnMut(Range<usize>)) {
    let n = grid.len();
    let prefixes: f64 = (0..dim - 1)
        .map(|d| (hi[d] as f64 - lo[d] as f64) + 1.0)
        .product();
    if prefixes > n as f64 {
        let inside = |cell: &[i64]| {
            cell.iter()
                .zip(lo.iter().zip(hi))
                .all(|(x, (l, h))| l <= x && x <= h)
        };
        for c in (0..n).filter(|&c| inside(grid.cell(c, dim))) {
            f(grid.starts[c]..grid.starts[c + 1]);
        }
        return;
    }
    let last = dim - 1;
    let mut key = lo.to_vec();
    let mut from = 0;
    loop {
        // The first cell not before `key`; later prefixes are larger, so the next search
        // resumes there.
        let (mut a, mut b) = (from, n);
        while a < b {
            let m = (a + b) / 2;
            if grid.cell(m, dim) < key.as_slice() {
                a = m + 1;
            } else {
                b = m;
            }
        }
        from = a;
        let mut c = a;
        while c < n {
            let cell = grid.cell(c, dim);
            if cell[..last] != key[..last] || cell[last] > hi[last] {
                break;
            }
            c += 1;
        }
        if c > a {
            f(grid.starts[a]..grid.starts[c]);
        }
        // The next prefix, its last coordinate fastest.
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            if key[d] < hi[d] {
                key[d] += 1;
                break;
            }
            key[d] = lo[d];
        }
    }
}
