//! The CPU reduction engine: blocks of output rows in parallel (rayon), the reduction index in tiles
//! that stay in cache, block sums for accuracy.
//!
//! Every reduction is an accumulator: a state per output row (a fixed number of slots) initialised
//! once, folded tile by tile over the reduction index, merged with the state of a later part of the
//! reduction range when that range is split (few output rows), and finalised into the results
//! (values in `T`, indices as `usize`). Sums keep f64 slots; min / max and their args
//! `(value, index)` pairs; the k smallest a sorted buffer of `K` pairs per entry; the log-sum-exp
//! family the running maximum `m` and f64 sums `s = sum exp(F - m) W`.
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

/// Output rows per parallel task (keops-abi's CPU `ROW_BLOCK`).
pub use keops_abi::cpu::ROW_BLOCK as BLOCK;
/// Reduction indices per tile (keops-abi's CPU `TILE`): the unit of block summation and of cache
/// reuse.
pub use keops_abi::cpu::TILE;
/// Independent partial sums per tile, so consecutive evaluations do not wait on one accumulator.
const LANES: usize = 4;

/// A formula's value, scalar or vector.
pub trait Value<T: Real>: Copy + Send + Sync {
    fn zero() -> Self;
    fn add(self, other: Self) -> Self;
    /// Adds the first `acc.len()` entries to `acc`, in f64.
    fn add_to(self, acc: &mut [f64]);
    /// The entries (one for a scalar; a vector's first `dim` are meaningful).
    fn entries(&self) -> &[T];
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
    #[inline(always)]
    fn entries(&self) -> &[T] {
        std::slice::from_ref(self)
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
    #[inline(always)]
    fn entries(&self) -> &[T] {
        self
    }
}

/// A formula with its data bound, seen from one output row: the generated code implements it.
///
/// `prepare(o)` computes everything that depends only on the output row `o` (its variables and
/// the parameters), once per row; `eval(p, r)` computes the formula for the pair `(o, r)`: a
/// [`Value`], or for the log-sum-exp family a pair `(F, W)` of a scalar and a value.
pub trait RowKernel<T: Real>: Sync {
    type Prepared: Send + Sync;
    type Value: Copy + Send + Sync;
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
) where
    K::Value: Value<T>,
{
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [f64]| {
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
    };
    let acc = Acc::sums(dim);
    run(k, n_out, n_red, &acc, 0, tile, Out::values(out, dim));
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
    let acc = Acc::sums(nv);
    if nv == 1 {
        let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [f64]| {
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
        };
        run(k, n_out, n_red, &acc, 0, tile, Out::values(out, 1));
    } else {
        let tile = |p: &K::Prepared, rs: Range<usize>, scratch: &mut [T], acc: &mut [f64]| {
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
        };
        run(k, n_out, n_red, &acc, nv, tile, Out::values(out, nv));
    }
}

/// Entrywise minimum (`MAX = false`) or maximum of `F` over the reduction index, and the index
/// where it is reached: the first one among ties (KeOps' strict comparison, in index order). `vals`
/// is `(n_out, dim)` or empty (arg only), `idx` likewise (values only). NaN values never win; an
/// entry that is NaN for every index keeps the initial `(+inf, 0)` (`(-inf, 0)` for a maximum), as
/// in KeOps.
pub fn extremum_reduce<const MAX: bool, T: Real, K: RowKernel<T>>(
    k: &K,
    n_out: usize,
    n_red: usize,
    dim: usize,
    vals: &mut [T],
    idx: &mut [usize],
) where
    K::Value: Value<T>,
{
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [(T, usize)]| {
        for r in rs {
            let v = k.eval(p, r);
            for (a, &x) in acc.iter_mut().zip(v.entries()) {
                if better::<MAX, T>(x, a.0) {
                    *a = (x, r);
                }
            }
        }
    };
    let start = T::from_f64(if MAX {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    });
    let init = vec![(start, 0usize); dim];
    let acc = Acc {
        init,
        merge: Box::new(|into: &mut [(T, usize)], from: &[(T, usize)]| {
            for (a, b) in into.iter_mut().zip(from) {
                if better::<MAX, T>(b.0, a.0) {
                    *a = *b;
                }
            }
        }),
        finish: Box::new(|st: &[(T, usize)], v: &mut [T], i: &mut [usize]| {
            for (v, s) in v.iter_mut().zip(st) {
                *v = s.0;
            }
            for (i, s) in i.iter_mut().zip(st) {
                *i = s.1;
            }
        }),
    };
    let out = Out {
        vdim: if vals.is_empty() { 0 } else { dim },
        idim: if idx.is_empty() { 0 } else { dim },
        vals,
        idx,
    };
    run(k, n_out, n_red, &acc, 0, tile, out);
}

#[inline(always)]
fn better<const MAX: bool, T: Real>(x: T, than: T) -> bool {
    if MAX {
        x > than
    } else {
        x < than
    }
}

/// The `kk` smallest values of each entry of `F` over the reduction index, ascending, and their
/// indices (KeOps' KMin / ArgKMin / KMin_ArgKMin): `vals` and `idx` are `(n_out, kk * dim)` (or
/// empty when not wanted) with KeOps' layout, rank-major: entry `d` of the `q`-th smallest is at
/// `q * dim + d` of its row. Ties keep index order (strict comparison, as KeOps' insertion). Each
/// row keeps, per entry, a sorted buffer of `kk` (value, index) pairs that a value enters by
/// insertion when it is below the largest kept. `kk <= n_red` (checked when binding).
pub fn kmin_reduce<T: Real, K: RowKernel<T>>(
    k: &K,
    n_out: usize,
    n_red: usize,
    dim: usize,
    kk: usize,
    vals: &mut [T],
    idx: &mut [usize],
) where
    K::Value: Value<T>,
{
    assert!(kk >= 1, "K >= 1");
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [(T, usize)]| {
        for r in rs {
            let v = k.eval(p, r);
            for (buf, &x) in acc.chunks_exact_mut(kk).zip(v.entries()) {
                if x < buf[kk - 1].0 {
                    insert_sorted(buf, (x, r));
                }
            }
        }
    };
    let init = vec![(T::from_f64(f64::INFINITY), 0usize); dim * kk];
    let acc = Acc {
        init,
        merge: Box::new(|into: &mut [(T, usize)], from: &[(T, usize)]| {
            for (a, b) in into.chunks_exact_mut(kk).zip(from.chunks_exact(kk)) {
                // `b` is sorted: once one of its values does not enter, none after it does.
                for &e in b {
                    if e.0 < a[kk - 1].0 {
                        insert_sorted(a, e);
                    } else {
                        break;
                    }
                }
            }
        }),
        finish: Box::new(|st: &[(T, usize)], v: &mut [T], i: &mut [usize]| {
            for (d, buf) in st.chunks_exact(kk).enumerate() {
                for (q, e) in buf.iter().enumerate() {
                    if let Some(v) = v.get_mut(q * dim + d) {
                        *v = e.0;
                    }
                    if let Some(i) = i.get_mut(q * dim + d) {
                        *i = e.1;
                    }
                }
            }
        }),
    };
    let out = Out {
        vdim: if vals.is_empty() { 0 } else { dim * kk },
        idim: if idx.is_empty() { 0 } else { dim * kk },
        vals,
        idx,
    };
    run(k, n_out, n_red, &acc, 0, tile, out);
}

/// Inserts `e` into the ascending `buf`, dropping its last pair; `e.0 < buf[last].0`. Equal values
/// stay in index order: `e` goes after those already kept.
#[inline(always)]
fn insert_sorted<T: Real>(buf: &mut [(T, usize)], e: (T, usize)) {
    let mut q = buf.len() - 1;
    while q > 0 && e.0 < buf[q - 1].0 {
        buf[q] = buf[q - 1];
        q -= 1;
    }
    buf[q] = e;
}

/// The log-sum-exp family (KeOps' Max_SumShiftExpWeight): for a scalar `F` and a weight `W`
/// (`eval` returns the pair), the running maximum `m = max_r F` and `s = sum_r exp(F - m) W` in
/// f64, rescaled when `m` grows: stable for arguments far beyond exp's range. `out` is
/// `(n_out, dim)`, `dim` the dimension of `W`:
/// - `SOFTMAX = false`: `m + log(s)` = log sum_r exp(F) W (logsumexp; `W = 1` without a weight);
/// - `SOFTMAX = true`: `s / s0` with `s0 = sum_r exp(F - m)` (sumsoftmaxweight).
///
/// `exp` is computed in `T`, the sums in f64.
pub fn shifted_exp_reduce<const SOFTMAX: bool, T: Real, W: Value<T>, K>(
    k: &K,
    n_out: usize,
    n_red: usize,
    dim: usize,
    out: &mut [T],
) where
    K: RowKernel<T, Value = (T, W)>,
{
    // Slots: m, then (softmax) s0, then s[0..dim].
    let off = 1 + usize::from(SOFTMAX);
    let neg_inf = T::from_f64(f64::NEG_INFINITY);
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [f64]| {
        let (head, s) = acc.split_at_mut(off);
        let mut m = T::from_f64(head[0]);
        let mut s0 = if SOFTMAX { head[1] } else { 0.0 };
        for r in rs {
            let (f, w) = k.eval(p, r);
            let e = if f > m {
                // A new maximum: earlier terms are rescaled by exp(m_old - m_new) <= 1.
                let c = (m - f).exp().to_f64();
                for s in s.iter_mut() {
                    *s *= c;
                }
                s0 *= c;
                m = f;
                1.0
            } else if f == m {
                if m == neg_inf {
                    // exp(-inf) = 0: every term so far and this one vanish.
                    continue;
                }
                1.0
            } else {
                // Also a NaN `f`, which makes the result NaN.
                (f - m).exp().to_f64()
            };
            s0 += e;
            for (s, &w) in s.iter_mut().zip(w.entries()) {
                *s += e * w.to_f64();
            }
        }
        head[0] = m.to_f64();
        if SOFTMAX {
            head[1] = s0;
        }
    };
    let mut init = vec![0.0; off + dim];
    init[0] = f64::NEG_INFINITY;
    let acc = Acc {
        init,
        merge: Box::new(|into: &mut [f64], from: &[f64]| {
            let (m1, m2) = (into[0], from[0]);
            if m2 == f64::NEG_INFINITY {
                return;
            }
            if m1 == f64::NEG_INFINITY {
                into.copy_from_slice(from);
                return;
            }
            let m = m1.max(m2);
            let (c1, c2) = ((m1 - m).exp(), (m2 - m).exp());
            into[0] = m;
            for (a, b) in into[1..].iter_mut().zip(&from[1..]) {
                *a = *a * c1 + *b * c2;
            }
        }),
        finish: Box::new(|st: &[f64], v: &mut [T], _i: &mut [usize]| {
            for (v, s) in v.iter_mut().zip(&st[off..]) {
                *v = T::from_f64(if SOFTMAX { s / st[1] } else { st[0] + s.ln() });
            }
        }),
    };
    run(k, n_out, n_red, &acc, 0, tile, Out::values(out, dim));
}

/// An accumulator: the initial state of an output row (its `width = init.len()` slots), how the
/// state of a later part of the reduction range merges into that of an earlier part, and how a
/// row's final state becomes its values and indices.
struct Acc<'a, T, S> {
    init: Vec<S>,
    merge: Box<MergeFn<'a, S>>,
    finish: Box<FinishFn<'a, T, S>>,
}

type MergeFn<'a, S> = dyn Fn(&mut [S], &[S]) + Sync + 'a;
type FinishFn<'a, T, S> = dyn Fn(&[S], &mut [T], &mut [usize]) + Sync + 'a;

impl<T: Real> Acc<'static, T, f64> {
    /// f64 sums of `dim` entries (sums and matvecs), written back in `T`.
    fn sums(dim: usize) -> Self {
        Acc {
            init: vec![0.0; dim],
            merge: Box::new(|into: &mut [f64], from: &[f64]| {
                for (a, b) in into.iter_mut().zip(from) {
                    *a += *b;
                }
            }),
            finish: Box::new(|st: &[f64], v: &mut [T], _i: &mut [usize]| {
                for (v, s) in v.iter_mut().zip(st) {
                    *v = T::from_f64(*s);
                }
            }),
        }
    }
}

/// Where a reduction's results go: values `(n_out, vdim)` and indices `(n_out, idim)`, row-major;
/// a dimension of 0 for a part the reduction does not produce.
struct Out<'o, T> {
    vals: &'o mut [T],
    vdim: usize,
    idx: &'o mut [usize],
    idim: usize,
}

impl<'o, T> Out<'o, T> {
    fn values(vals: &'o mut [T], vdim: usize) -> Self {
        Out {
            vals,
            vdim,
            idx: &mut [],
            idim: 0,
        }
    }
}

/// The tiled, parallel driver. `tile(p, rs, scratch, state)` folds the reduction indices `rs` (one
/// tile) into the state of one prepared output row (`acc.init.len()` slots); `scratch` holds
/// `scratch_dim` values of `T` for it to use.
///
/// Only this small per-block function is generic over the kernel; the parallel part ([`drive`]) is
/// compiled once per precision and kind of state, not once per formula and dimension, which keeps
/// build times and binary sizes down when a formula is dispatched over many run-time dimensions.
fn run<T, K, S, F>(
    k: &K,
    n_out: usize,
    n_red: usize,
    acc: &Acc<'_, T, S>,
    scratch_dim: usize,
    tile: F,
    out: Out<'_, T>,
) where
    T: Real,
    K: RowKernel<T>,
    S: Copy + Send + Sync,
    F: Fn(&K::Prepared, Range<usize>, &mut [T], &mut [S]) + Sync,
{
    let width = acc.init.len();
    let block = |o0: usize, rows: usize, rs: Range<usize>, state: &mut [S]| {
        let prepared: Vec<K::Prepared> = (o0..o0 + rows).map(|o| k.prepare(o)).collect();
        let mut scratch = vec![T::ZERO; scratch_dim];
        for t in tiles(rs) {
            for (p, st) in prepared.iter().zip(state.chunks_exact_mut(width)) {
                tile(p, t.clone(), &mut scratch, st);
            }
        }
    };
    drive(n_out, n_red, acc, out, &block);
}

/// `rs` in tiles of [`TILE`] indices (the last one shorter).
pub(crate) fn tiles(rs: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    let end = rs.end;
    rs.step_by(TILE).map(move |r0| r0..(r0 + TILE).min(end))
}

/// How many parts the reduction range is split into: 1 with enough blocks of rows for the
/// threads, else enough parts (of whole tiles, at least 4 tiles each) to occupy them.
pub(crate) fn splits(blocks: usize, n_red: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let tiles = n_red.div_ceil(TILE).max(1);
    if blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(blocks).min(tiles.div_ceil(4)).max(1)
    }
}

/// Part `s` of `splits` of `0..n_red`, in whole tiles.
pub(crate) fn part(s: usize, splits: usize, n_red: usize) -> Range<usize> {
    let per = n_red.div_ceil(TILE).max(1).div_ceil(splits) * TILE;
    (s * per).min(n_red)..((s + 1) * per).min(n_red)
}

/// Folds the reduction indices `rs` into the states (`rows * width` slots) of the output rows
/// `o0..o0 + rows`.
type BlockFn<'a, S> = dyn Fn(usize, usize, Range<usize>, &mut [S]) + Sync + 'a;

/// `s` in chunks of `chunk` (one per block of rows), or `blocks` empty slices when `chunk == 0`.
fn per_block<U>(s: &mut [U], chunk: usize, blocks: usize) -> Vec<&mut [U]> {
    if chunk == 0 {
        (0..blocks).map(|_| <&mut [U]>::default()).collect()
    } else {
        s.chunks_mut(chunk).collect()
    }
}

/// Splits the work into parallel tasks and writes the results. With many output rows, tasks are
/// blocks of [`BLOCK`] rows. With few rows (fewer blocks than twice the threads), the reduction
/// range is split too, in whole tiles, and the states of its parts are merged in order at the end.
fn drive<T: Real, S: Copy + Send + Sync>(
    n_out: usize,
    n_red: usize,
    acc: &Acc<'_, T, S>,
    out: Out<'_, T>,
    block: &BlockFn<'_, S>,
) {
    let Out {
        vals,
        vdim,
        idx,
        idim,
    } = out;
    debug_assert_eq!(vals.len(), n_out * vdim);
    debug_assert_eq!(idx.len(), n_out * idim);
    let width = acc.init.len();
    if n_out == 0 || width == 0 || vdim + idim == 0 {
        return;
    }
    let blocks = n_out.div_ceil(BLOCK);
    let splits = splits(blocks, n_red);
    let range = |s: usize| part(s, splits, n_red);
    let fresh = |rows: usize| -> Vec<S> {
        let mut st = Vec::with_capacity(rows * width);
        for _ in 0..rows {
            st.extend_from_slice(&acc.init);
        }
        st
    };
    // Writes the results of a block's rows from their final states.
    let finish = |st: &[S], v: &mut [T], i: &mut [usize]| {
        for (r, s) in st.chunks_exact(width).enumerate() {
            (acc.finish)(
                s,
                &mut v[r * vdim..(r + 1) * vdim],
                &mut i[r * idim..(r + 1) * idim],
            );
        }
    };
    let outs = per_block(vals, BLOCK * vdim, blocks)
        .into_iter()
        .zip(per_block(idx, BLOCK * idim, blocks));
    if splits == 1 {
        outs.collect::<Vec<_>>()
            .into_par_iter()
            .enumerate()
            .for_each(|(b, (v, i))| {
                let rows = BLOCK.min(n_out - b * BLOCK);
                let mut st = fresh(rows);
                block(b * BLOCK, rows, 0..n_red, &mut st);
                finish(&st, v, i);
            });
    } else {
        let mut partials: Vec<Vec<S>> = (0..blocks * splits)
            .into_par_iter()
            .map(|t| {
                let (b, s) = (t / splits, t % splits);
                let rows = BLOCK.min(n_out - b * BLOCK);
                let mut st = fresh(rows);
                block(b * BLOCK, rows, range(s), &mut st);
                st
            })
            .collect();
        for (b, (v, i)) in outs.enumerate() {
            let (first, later) = partials[b * splits..(b + 1) * splits].split_at_mut(1);
            for p in later.iter() {
                for (into, from) in first[0].chunks_exact_mut(width).zip(p.chunks_exact(width)) {
                    (acc.merge)(into, from);
                }
            }
            finish(&first[0], v, i);
        }
    }
}

/// `out[c * n_out + i] = K(i, cols[c])` in f64 for every output row `i`: whole columns of the
/// kernel matrix (each column split in blocks of rows, in parallel).
pub(crate) fn columns<T: Real, K: RowKernel<T, Value = T>>(
    k: &K,
    n_out: usize,
    cols: &[usize],
    out: &mut [f64],
) {
    debug_assert_eq!(out.len(), n_out * cols.len());
    let block = |j: usize, r0: usize, rows: &mut [f64]| {
        for (r, o) in rows.iter_mut().enumerate() {
            *o = k.eval(&k.prepare(r0 + r), j).to_f64();
        }
    };
    columns_in_blocks(n_out, cols, out, &block);
}

/// `out[i] = K(i, i)` in f64 for `i < out.len()`.
pub(crate) fn diagonal<T: Real, K: RowKernel<T, Value = T>>(k: &K, out: &mut [f64]) {
    let block = |_: usize, r0: usize, rows: &mut [f64]| {
        for (r, o) in rows.iter_mut().enumerate() {
            let i = r0 + r;
            *o = k.eval(&k.prepare(i), i).to_f64();
        }
    };
    columns_in_blocks(out.len(), &[0], out, &block);
}

/// The parallel loop of [`columns`] and [`diagonal`]: `block(j, r0, rows)` fills rows
/// `r0..r0 + rows.len()` of column `j`, for blocks of [`BLOCK`] rows of each column of `cols`.
/// Not generic, so that each formula's dimension arm instantiates only its small `block`
/// (these run once per solve setup, the virtual call per block is nothing to them).
fn columns_in_blocks(
    n_out: usize,
    cols: &[usize],
    out: &mut [f64],
    block: &(dyn Fn(usize, usize, &mut [f64]) + Sync),
) {
    if n_out == 0 {
        return;
    }
    out.par_chunks_mut(n_out)
        .zip(cols.par_iter())
        .for_each(|(col, &j)| {
            col.par_chunks_mut(BLOCK)
                .enumerate()
                .for_each(|(b, rows)| block(j, b * BLOCK, rows))
        });
}
