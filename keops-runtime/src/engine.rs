//! The CPU reduction engine: blocks of output rows in parallel (rayon), the reduction index in tiles
//! that stay in cache, block sums for accuracy.
//!
//! Accumulation ("block sums"): within a tile of [`TILE`] reduction indices the formula's values are
//! added in the data's precision `T`; each tile's partial sum is then added to an f64 accumulator.
//! For f32 data the rounding error therefore grows with the tile size (256 terms), not with the
//! number of points, so 10^6 terms keep about 1e-6 relative accuracy where a running f32 sum loses
//! about three digits. Within a tile, four interleaved partial sums break the dependency chain of a
//! single accumulator; the inner loop over one tile is the one a SIMD engine vectorises.

use std::ops::Range;

use rayon::prelude::*;

use crate::Real;

/// Reduction indices per tile: the unit of block summation and of cache reuse.
pub const TILE: usize = 256;
/// Output rows per parallel task.
pub const BLOCK: usize = 64;
/// Independent partial sums per tile, so consecutive evaluations do not wait on one accumulator.
const LANES: usize = 4;

/// A formula's value, scalar or vector.
pub trait Value<T: Real>: Copy + Send + Sync {
    fn zero() -> Self;
    fn add(self, other: Self) -> Self;
    /// Adds the first `acc.len()` entries to `acc`, in f64.
    fn add_to(self, acc: &mut [f64]);
}

impl<T: Real> Value<T> for T {
    #[inline(always)]
    fn zero() -> Self {
        T::ZERO
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64]) {
        acc[0] += self.to_f64();
    }
}

impl<T: Real, const C: usize> Value<T> for [T; C] {
    #[inline(always)]
    fn zero() -> Self {
        [T::ZERO; C]
    }
    #[inline(always)]
    fn add(mut self, other: Self) -> Self {
        for (a, b) in self.iter_mut().zip(other.iter()) {
            *a += *b;
        }
        self
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64]) {
        for (a, v) in acc.iter_mut().zip(self.iter()) {
            *a += v.to_f64();
        }
    }
}

/// A formula with its data bound, seen from one output row: the generated code implements it.
///
/// `prepare(o)` computes everything that depends only on the output row `o` (its variables and
/// the parameters), once per row; `eval(p, r)` computes the formula for the pair `(o, r)`.
pub trait RowKernel<T: Real>: Sync {
    type Prepared: Send + Sync;
    type Value: Value<T>;
    fn prepare(&self, o: usize) -> Self::Prepared;
    fn eval(&self, p: &Self::Prepared, r: usize) -> Self::Value;
}

/// `out[o] = sum_r F(o, r)` for `o < n_out`, `r < n_red`; `out` is `(n_out, dim)` row-major.
pub fn sum_reduce<T: Real, K: RowKernel<T>>(
    k: &K,
    n_out: usize,
    n_red: usize,
    dim: usize,
    out: &mut [T],
) {
    run(n_out, n_red, dim, out, k, |p, rs, _scratch, acc| {
        // LANES independent partial sums: no loop-carried dependency on a single accumulator.
        let mut a = [K::Value::zero(); LANES];
        let mut r = rs.start;
        while r + LANES <= rs.end {
            for (l, a) in a.iter_mut().enumerate() {
                *a = a.add(k.eval(p, r + l));
            }
            r += LANES;
        }
        for (a, r) in a.iter_mut().zip(r..rs.end) {
            *a = a.add(k.eval(p, r));
        }
        a[0].add(a[1]).add(a[2].add(a[3])).add_to(acc);
    });
}

/// `out = K v`: `out[o] = sum_r K(o, r) v[r]` for a scalar formula `K`; `v` is `(n_red, nv)` and
/// `out` is `(n_out, nv)`, row-major. Each kernel value is computed once for all `nv` columns.
pub fn matvec<T: Real, K: RowKernel<T, Value = T>>(
    k: &K,
    n_out: usize,
    n_red: usize,
    v: &[T],
    nv: usize,
    out: &mut [T],
) {
    if nv == 1 {
        run(n_out, n_red, 1, out, k, |p, rs, _scratch, acc| {
            let mut a = [T::ZERO; LANES];
            let v = &v[rs.clone()];
            let mut r = rs.start;
            for vs in v.chunks_exact(LANES) {
                for ((a, vr), l) in a.iter_mut().zip(vs).zip(0..) {
                    *a += k.eval(p, r + l) * *vr;
                }
                r += LANES;
            }
            for ((a, vr), r) in a.iter_mut().zip(v.chunks_exact(LANES).remainder()).zip(r..) {
                *a += k.eval(p, r) * *vr;
            }
            acc[0] += ((a[0] + a[1]) + (a[2] + a[3])).to_f64();
        });
    } else {
        run(n_out, n_red, nv, out, k, |p, rs, scratch, acc| {
            scratch.fill(T::ZERO);
            for r in rs {
                let kr = k.eval(p, r);
                for (s, vr) in scratch.iter_mut().zip(&v[r * nv..(r + 1) * nv]) {
                    *s += kr * *vr;
                }
            }
            for (a, s) in acc.iter_mut().zip(scratch.iter()) {
                *a += s.to_f64();
            }
        });
    }
}

/// The tiled, parallel driver. `tile(p, rs, scratch, acc)` adds the contribution of the reduction
/// indices `rs` (one tile) for one prepared output row to its f64 accumulator `acc` (`dim` values).
///
/// Only this small per-block function is generic over the kernel; the parallel part ([`drive`]) is
/// compiled once per precision, not once per formula and dimension, which keeps build times and
/// binary sizes down when a formula is dispatched over many run-time dimensions.
fn run<T, K, F>(n_out: usize, n_red: usize, dim: usize, out: &mut [T], k: &K, tile: F)
where
    T: Real,
    K: RowKernel<T>,
    F: Fn(&K::Prepared, Range<usize>, &mut [T], &mut [f64]) + Sync,
{
    let block = |o0: usize, rows: usize, rs: Range<usize>, acc: &mut [f64]| {
        let prepared: Vec<K::Prepared> = (o0..o0 + rows).map(|o| k.prepare(o)).collect();
        let mut scratch = vec![T::ZERO; dim];
        let mut r0 = rs.start;
        while r0 < rs.end {
            let r1 = (r0 + TILE).min(rs.end);
            for (p, acc) in prepared.iter().zip(acc.chunks_exact_mut(dim)) {
                tile(p, r0..r1, &mut scratch, acc);
            }
            r0 = r1;
        }
    };
    drive(n_out, n_red, dim, out, &block);
}

/// Adds to `acc` (`rows * dim` values) the sums over `rs` for the output rows `o0..o0 + rows`.
type BlockFn<'a> = dyn Fn(usize, usize, Range<usize>, &mut [f64]) + Sync + 'a;

/// Splits the work into parallel tasks and writes the results. With many output rows, tasks are
/// blocks of [`BLOCK`] rows. With few rows (fewer blocks than twice the threads), the reduction
/// range is split too, in whole tiles, and the partial sums are combined at the end.
fn drive<T: Real>(n_out: usize, n_red: usize, dim: usize, out: &mut [T], block: &BlockFn<'_>) {
    debug_assert_eq!(out.len(), n_out * dim);
    if n_out == 0 || dim == 0 {
        return;
    }
    let blocks = n_out.div_ceil(BLOCK);
    let threads = rayon::current_num_threads().max(1);
    let tiles = n_red.div_ceil(TILE).max(1);
    let splits = if blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(blocks).min(tiles.div_ceil(4)).max(1)
    };
    let tiles_per_split = tiles.div_ceil(splits);
    let range = |s: usize| {
        (s * tiles_per_split * TILE).min(n_red)..((s + 1) * tiles_per_split * TILE).min(n_red)
    };
    if splits == 1 {
        out.par_chunks_mut(BLOCK * dim)
            .enumerate()
            .for_each(|(b, chunk)| {
                let mut acc = vec![0f64; chunk.len()];
                block(b * BLOCK, chunk.len() / dim, 0..n_red, &mut acc);
                for (o, a) in chunk.iter_mut().zip(&acc) {
                    *o = T::from_f64(*a);
                }
            });
    } else {
        let partials: Vec<Vec<f64>> = (0..blocks * splits)
            .into_par_iter()
            .map(|t| {
                let (b, s) = (t / splits, t % splits);
                let rows = BLOCK.min(n_out - b * BLOCK);
                let mut acc = vec![0f64; rows * dim];
                block(b * BLOCK, rows, range(s), &mut acc);
                acc
            })
            .collect();
        for (b, chunk) in out.chunks_mut(BLOCK * dim).enumerate() {
            for (i, o) in chunk.iter_mut().enumerate() {
                let total: f64 = (0..splits).map(|s| partials[b * splits + s][i]).sum();
                *o = T::from_f64(total);
            }
        }
    }
}
