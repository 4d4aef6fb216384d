//! The SIMD CPU engine: a formula evaluated for `W` output rows at once (one per lane of a
//! [`Pack`](crate::simd::Pack); `W = 1`, plain reals, at the scalar level) against one reduction
//! index at a time, at the [`SimdLevel`] in use.
//!
//! Blocks of [`BLOCK`] output rows are prepared as `P = BLOCK / W` packs (the row-only part of the
//! formula, once per block); each pack then runs over the reduction index in tiles of [`TILE`],
//! adding in the data's precision within a tile and in f64 across tiles (block sums, as in the
//! scalar engine). Lanes run along the output rows, so a reduction needs no horizontal sums and
//! the reduction-index data is read as broadcasts.
//!
//! Products `K v` write into a [`MatvecWorkspace`], allocated on first use and reused: a solver's
//! iterations allocate nothing. When both point sets of a symmetric kernel are the same data
//! ([`matvec_symmetric`]), each pair `(i, j)` of different blocks is evaluated once and used for
//! row `i` and row `j`.

use std::ops::Range;

use super::plan::{par_chunks, par_pieces, part, splits, Span, Tiles, BLOCK, TILE};
use super::scalar::{RowKernel, Value};
use super::work::{kernel_work_scalar, zeroed, MatvecWorkspace};
use crate::simd::LaneOp;
use crate::{KernelWork, Num, ProductOut, Real, SimdLevel};

/// A formula with its data bound, evaluated for a pack of output rows (implemented by the
/// generated code for formulas whose operations all have lane versions).
///
/// `prepare(o0, last)` computes the row-only part for rows `o0..o0 + N::LANES` (rows past `last`
/// repeat row `last`: their lanes are computed and dropped); `eval(p, r)` the formula for those
/// rows and reduction index `r`.
pub trait LaneKernel<T: Real>: Sync {
    /// The row-only part of the formula for a pack of rows.
    type PreparedLanes<N: Num<Elem = T>>: Copy;
    /// The formula's value for a pack of rows.
    type ValueLanes<N: Num<Elem = T>>: LaneValue<N>;
    /// The row-only part for rows `o0..o0 + N::LANES` (rows past `last` repeat row `last`).
    fn prepare_lanes<N: Num<Elem = T>>(&self, o0: usize, last: usize) -> Self::PreparedLanes<N>;
    /// The formula for the prepared rows and reduction index `r`.
    fn eval_lanes<N: Num<Elem = T>>(
        &self,
        p: &Self::PreparedLanes<N>,
        r: usize,
    ) -> Self::ValueLanes<N>;
}

/// A formula's value for a pack of rows: a pack (scalar formula) or an array of packs.
pub trait LaneValue<N: Num>: Copy {
    /// Zero in every lane and entry.
    const ZEROS: Self;
    /// Entrywise sum.
    fn plus(self, o: Self) -> Self;
    /// Adds lane `l`'s first `acc.len()` entries to `acc`, in f64.
    fn spill(self, l: usize, acc: &mut [f64]);
    /// Entry 0 (the value of a scalar formula).
    fn first(self) -> N;
}

impl<N: Num> LaneValue<N> for N {
    const ZEROS: Self = N::ZERO;
    #[inline(always)]
    fn plus(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    fn spill(self, l: usize, acc: &mut [f64]) {
        acc[0] += self.lane(l).to_f64();
    }
    #[inline(always)]
    fn first(self) -> N {
        self
    }
}

impl<N: Num, const C: usize> LaneValue<N> for [N; C] {
    const ZEROS: Self = [N::ZERO; C];
    #[inline(always)]
    fn plus(mut self, o: Self) -> Self {
        for (a, b) in self.iter_mut().zip(o) {
            *a += b;
        }
        self
    }
    #[inline(always)]
    fn spill(self, l: usize, acc: &mut [f64]) {
        for (a, v) in acc.iter_mut().zip(self) {
            *a += v.lane(l).to_f64();
        }
    }
    #[inline(always)]
    fn first(self) -> N {
        self[0]
    }
}

/// One block of output rows (first row, rows, reduction ranges, its f64 sums) of a lane engine.
type BlockFn<'a> = dyn Fn(usize, usize, &[Range<usize>], &mut [f64]) + Sync + 'a;

/// `out = K v` (or `alpha v + K v`) for a scalar formula with a lane version: `v` is
/// `(n_red, nv)`, the output `(n_out, nv)`, row-major.
pub(super) fn matvec_lanes<T, K>(
    k: &K,
    span: Span<'_>,
    v: &[T],
    nv: usize,
    out: ProductOut<'_, T>,
    ws: &mut MatvecWorkspace<T>,
) where
    T: Real,
    K: LaneKernel<T> + RowKernel<T, Value = T>,
{
    let n_out = span.n_out;
    debug_assert_eq!(out.len(), n_out * nv);
    if n_out == 0 || nv == 0 {
        return;
    }
    let level = crate::simd_level();
    // Behind `dyn`: the dense and the block-sparse paths share one instance of the block.
    let block: &BlockFn<'_> = &|o0, rows, direct, st| {
        let cols = &mut [];
        let (last, symmetric) = (n_out - 1, &[]);
        let p = ProductBlock {
            k,
            o0,
            rows,
            last,
            direct,
            symmetric,
            v,
            nv,
            st,
            cols,
        };
        run_at(level, p);
    };
    let splits = block_sums(span, nv, &mut ws.sums, block);
    let sums = &ws.sums[..];
    write_rows(out, v, nv, PartialSums::Split { sums, splits, nv });
}

/// Where a product left the f64 partial sums of its output entries.
#[derive(Clone, Copy)]
pub(super) enum PartialSums<'a> {
    /// [`matvec_lanes`]: for each block of rows, `splits` parts of the reduction range, each
    /// `(BLOCK, nv)`.
    Split {
        sums: &'a [f64],
        splits: usize,
        nv: usize,
    },
    /// [`matvec_symmetric`]: `tasks` buffers of `n` sums (one column).
    PerTask {
        sums: &'a [f64],
        tasks: usize,
        n: usize,
    },
}

impl PartialSums<'_> {
    /// The sum of output row `o`, column `c`: its parts added in order.
    #[inline]
    fn at(self, o: usize, c: usize) -> f64 {
        match self {
            PartialSums::Split { sums, splits, nv } => {
                let chunk = BLOCK * nv;
                let (b, e) = (o / BLOCK, (o % BLOCK) * nv + c);
                (0..splits)
                    .map(|s| sums[(b * splits + s) * chunk + e])
                    .sum()
            }
            PartialSums::PerTask { sums, tasks, n } => (0..tasks).map(|t| sums[t * n + o]).sum(),
        }
    }
}

/// Writes each output row `(o, c)` from its f64 sum, rounding to `T` or adding the shift.
/// Generic over the precision only (not the formula), as the sums' layout is data.
pub(super) fn write_rows<T: Real>(
    out: ProductOut<'_, T>,
    v: &[T],
    nv: usize,
    sums: PartialSums<'_>,
) {
    let sum = |o, c| sums.at(o, c);
    match out {
        ProductOut::Real(out) => par_chunks(out, BLOCK * nv, &|b, rows| {
            for (e, o) in rows.iter_mut().enumerate() {
                let i = b * BLOCK * nv + e;
                *o = T::from_f64(sum(i / nv, i % nv));
            }
        }),
        ProductOut::Shifted { out, alpha } => par_chunks(out, BLOCK * nv, &|b, rows| {
            for (e, o) in rows.iter_mut().enumerate() {
                let i = b * BLOCK * nv + e;
                *o = alpha * v[i].to_f64() + sum(i / nv, i % nv);
            }
        }),
    }
}

/// Runs a [`KernelWork`] for a scalar formula with a lane version: products on the SIMD engine
/// (the symmetric one when `symmetric`: a symmetric formula bound to the same points twice),
/// columns and diagonal on the scalar one.
pub fn kernel_work_lanes<T, K>(k: &K, symmetric: bool, span: Span<'_>, work: KernelWork<'_, T>)
where
    T: Real,
    K: LaneKernel<T> + RowKernel<T, Value = T>,
{
    match work {
        KernelWork::Product { v, nv, out, ws } if symmetric => {
            super::symmetric::matvec_symmetric(k, span, v, nv, out, ws)
        }
        KernelWork::Product { v, nv, out, ws } => matvec_lanes(k, span, v, nv, out, ws),
        work => kernel_work_scalar(k, span, work),
    }
}

/// Columns of `v` whose sums a product keeps in registers at once (with the kernel's value and
/// `v`'s entry: within AVX2's 16 vector registers); more columns take several passes over a
/// tile's kernel values, which are evaluated once.
const COLUMNS: usize = 8;

/// One block of output rows of a product: the reduction indices of `direct` add to the rows
/// only, those of `symmetric` (a symmetric kernel on one point set; all at or after the block's
/// end) to the rows and to `cols`, the sums of rows `o0 + rows..`.
pub(super) struct ProductBlock<'a, 's, T, K> {
    pub(super) k: &'a K,
    pub(super) o0: usize,
    pub(super) rows: usize,
    pub(super) last: usize,
    pub(super) direct: &'a [Range<usize>],
    pub(super) symmetric: &'a [Range<usize>],
    pub(super) v: &'a [T],
    pub(super) nv: usize,
    /// The block's f64 sums, `(BLOCK, nv)` (or `(rows, nv)`).
    pub(super) st: &'s mut [f64],
    pub(super) cols: &'s mut [f64],
}

impl<T, K> LaneOp<T> for ProductBlock<'_, '_, T, K>
where
    T: Real,
    K: LaneKernel<T> + RowKernel<T, Value = T>,
{
    type Output = ();

    #[inline(always)]
    fn run<N: Num<Elem = T>, const P: usize>(self) {
        let ProductBlock {
            k,
            o0,
            rows,
            last,
            direct,
            symmetric,
            v,
            nv,
            st,
            cols,
        } = self;
        let w = N::LANES;
        let (prepared, packs) = prepare_block::<T, K, N, P>(k, o0, rows, last);
        for tile in Tiles::of(direct) {
            for (p, prep) in prepared.iter().enumerate().take(packs) {
                let lanes = w.min(rows - p * w);
                let st = &mut st[p * w * nv..(p * w + lanes) * nv];
                pack_product(k, prep, tile.clone(), v, nv, st);
            }
        }
        // Pairs with later rows: one evaluation for row i (x v_j) and row j (x v_i).
        let base = o0 + rows;
        for Range { start: r0, end: r1 } in Tiles::of(symmetric) {
            debug_assert!(r0 >= base);
            let mut col = [N::ZERO; TILE];
            for (p, prep) in prepared.iter().enumerate().take(packs) {
                // Lanes past the rows (a partial last pack) repeat a row: their v_i is 0, so
                // they add nothing to the columns (their row sums are dropped).
                let lanes = w.min(rows - p * w);
                let vi = N::from_lanes(|l| {
                    if l < lanes {
                        v[o0 + p * w + l]
                    } else {
                        T::ZERO
                    }
                });
                let st = &mut st[p * w..p * w + lanes];
                pack_pairs(k, prep, r0..r1, v, vi, &mut col[..r1 - r0], st);
            }
            for (s, c) in cols[r0 - base..r1 - base].iter_mut().zip(&col) {
                *s += c.sum_lanes().to_f64();
            }
        }
    }
}

/// One pack of rows of a product over the reduction indices `rs` (one tile): adds
/// `sum_r K(o, r) v[r, c]` to `st[l * nv + c]` for the pack's `st.len() / nv` rows `o`. With
/// several columns, the tile's kernel values are evaluated once, kept (`TILE` packs, in L1),
/// and read once per group of columns, whose sums stay in registers.
#[inline(always)]
fn pack_product<T, K, N>(
    k: &K,
    prep: &K::PreparedLanes<N>,
    Range { start: r0, end: r1 }: Range<usize>,
    v: &[T],
    nv: usize,
    st: &mut [f64],
) where
    T: Real,
    K: LaneKernel<T>,
    N: Num<Elem = T>,
{
    if nv == 1 {
        let mut a = N::ZERO;
        for (r, &vr) in (r0..r1).zip(&v[r0..r1]) {
            a = k.eval_lanes(prep, r).first().mul_add(N::splat(vr), a);
        }
        for (l, s) in st.iter_mut().enumerate() {
            *s += a.lane(l).to_f64();
        }
        return;
    }
    let mut kt = [N::ZERO; TILE];
    let kt = &mut kt[..r1 - r0];
    for (kr, r) in kt.iter_mut().zip(r0..r1) {
        *kr = k.eval_lanes(prep, r).first();
    }
    let v = &v[r0 * nv..r1 * nv];
    let mut c0 = 0;
    while c0 < nv {
        // Groups of COLUMNS, then of 4, 2 and 1: fixed sizes, so that the sums stay in registers.
        c0 += match nv - c0 {
            left if left >= COLUMNS => column_group::<T, N, COLUMNS>(kt, v, nv, c0, st),
            left if left >= 4 => column_group::<T, N, 4>(kt, v, nv, c0, st),
            left if left >= 2 => column_group::<T, N, 2>(kt, v, nv, c0, st),
            _ => column_group::<T, N, 1>(kt, v, nv, c0, st),
        };
    }
}

/// Columns `c0..c0 + C` of a pack's product over one tile, from its kernel values `kt` (one
/// pack per reduction index) and the tile's rows of `v` (`nv` per row): adds each row's sums to
/// `st[l * nv + c]`. Returns `C`.
#[inline(always)]
fn column_group<T: Real, N: Num<Elem = T>, const C: usize>(
    kt: &[N],
    v: &[T],
    nv: usize,
    c0: usize,
    st: &mut [f64],
) -> usize {
    let mut a = [N::ZERO; C];
    for (kr, vr) in kt.iter().zip(v.chunks_exact(nv)) {
        let vr: &[T; C] = vr[c0..c0 + C].try_into().expect("C columns");
        for c in 0..C {
            a[c] = kr.mul_add(N::splat(vr[c]), a[c]);
        }
    }
    for (l, row) in st.chunks_exact_mut(nv).enumerate() {
        for c in 0..C {
            row[c0 + c] += a[c].lane(l).to_f64();
        }
    }
    C
}

/// One full pack of rows `i` (values `vi`) against the later rows `rs` of a symmetric product:
/// each `K(i, r)` is evaluated once, added times `v[r]` to row `i` (`st`, one sum per lane) and
/// times `v[i]` to column `r` (`col`, per lane, summed across lanes by the caller).
#[inline(always)]
fn pack_pairs<T, K, N>(
    k: &K,
    prep: &K::PreparedLanes<N>,
    Range { start: r0, end: r1 }: Range<usize>,
    v: &[T],
    vi: N,
    col: &mut [N],
    st: &mut [f64],
) where
    T: Real,
    K: LaneKernel<T>,
    N: Num<Elem = T>,
{
    let mut a = N::ZERO;
    for ((r, &vr), c) in (r0..r1).zip(&v[r0..r1]).zip(col.iter_mut()) {
        let kv = k.eval_lanes(prep, r).first();
        a = kv.mul_add(N::splat(vr), a);
        *c = kv.mul_add(vi, *c);
    }
    for (l, s) in st.iter_mut().enumerate() {
        *s += a.lane(l).to_f64();
    }
}

/// `out[o] = sum_r F(o, r)` for a formula with a lane version (values of dimension `dim`,
/// `out` is `(n_out, dim)` row-major); the scalar engine at the scalar level.
pub fn sum_reduce_lanes<T, K>(k: &K, span: Span<'_>, dim: usize, out: &mut [T])
where
    T: Real,
    K: LaneKernel<T> + RowKernel<T>,
    <K as RowKernel<T>>::Value: Value<T>,
{
    let n_out = span.n_out;
    if n_out == 0 || dim == 0 {
        return;
    }
    let level = crate::simd_level();
    // Behind `dyn`: the dense and the block-sparse paths share one instance of the block.
    let block: &BlockFn<'_> = &|o0, rows, ranges, st| {
        let last = n_out - 1;
        run_at(
            level,
            SumBlock {
                k,
                o0,
                rows,
                last,
                ranges,
                dim,
                st,
            },
        );
    };
    let mut sums = Vec::new();
    let splits = block_sums(span, dim, &mut sums, block);
    finish_sums(&sums, splits, dim, out);
}

/// Runs `block` over the output rows of `span` in parallel, `width` f64 sums per row in `sums`:
/// block-sparse, pieces aligned with the clusters and the sums row-major (one split); dense,
/// blocks of [`BLOCK`] rows, each in `splits` parts of the reduction range (`(BLOCK, width)` per
/// block and part). Returns `splits`. Not generic: compiled once rather than once per arm.
fn block_sums(span: Span<'_>, width: usize, sums: &mut Vec<f64>, block: &BlockFn<'_>) -> usize {
    let (n_out, n_red) = (span.n_out, span.n_red);
    if let Some(pieces) = span.cluster_pieces() {
        let sums = zeroed(sums, n_out * width, 0.0);
        par_pieces(sums, width, &pieces, &|p, st| {
            block(p.rows.start, p.rows.len(), p.ranges, st)
        });
        return 1;
    }
    let blocks = n_out.div_ceil(BLOCK);
    let splits = splits(blocks, n_red);
    let chunk = BLOCK * width;
    let sums = zeroed(sums, blocks * splits * chunk, 0.0);
    par_chunks(sums, chunk, &|t, st| {
        let (b, s) = (t / splits, t % splits);
        let o0 = b * BLOCK;
        block(o0, BLOCK.min(n_out - o0), &[part(s, splits, n_red)], st);
    });
    splits
}

/// `out` (`dim` entries per row) from the sums [`block_sums`] left: generic over the precision
/// only.
fn finish_sums<T: Real>(sums: &[f64], splits: usize, dim: usize, out: &mut [T]) {
    let chunk = BLOCK * dim;
    par_chunks(out, chunk, &|b, rows| {
        for (e, o) in rows.iter_mut().enumerate() {
            let s: f64 = (0..splits)
                .map(|s| sums[(b * splits + s) * chunk + e])
                .sum();
            *o = T::from_f64(s);
        }
    });
}

/// One block of output rows of a sum reduction over the indices `range`.
struct SumBlock<'a, 's, K> {
    k: &'a K,
    o0: usize,
    rows: usize,
    last: usize,
    ranges: &'a [Range<usize>],
    dim: usize,
    st: &'s mut [f64],
}

impl<T, K> LaneOp<T> for SumBlock<'_, '_, K>
where
    T: Real,
    K: LaneKernel<T> + RowKernel<T>,
    <K as RowKernel<T>>::Value: Value<T>,
{
    type Output = ();

    #[inline(always)]
    fn run<N: Num<Elem = T>, const P: usize>(self) {
        let SumBlock {
            k,
            o0,
            rows,
            last,
            ranges,
            dim,
            st,
        } = self;
        let w = N::LANES;
        let (prepared, packs) = prepare_block::<T, K, N, P>(k, o0, rows, last);
        for Range { start: r0, end: r1 } in Tiles::of(ranges) {
            for (p, prep) in prepared.iter().enumerate().take(packs) {
                let lanes = w.min(rows - p * w);
                let mut a = <K::ValueLanes<N> as LaneValue<N>>::ZEROS;
                for r in r0..r1 {
                    a = a.plus(k.eval_lanes(prep, r));
                }
                for l in 0..lanes {
                    let o = p * w + l;
                    a.spill(l, &mut st[o * dim..(o + 1) * dim]);
                }
            }
        }
    }
}

/// The row-only part of a block's `P` packs of rows from `o0` (rows past `last` repeat it), and
/// how many packs hold the block's `rows`.
#[inline(always)]
fn prepare_block<T: Real, K: LaneKernel<T>, N: Num<Elem = T>, const P: usize>(
    k: &K,
    o0: usize,
    rows: usize,
    last: usize,
) -> ([K::PreparedLanes<N>; P], usize) {
    let w = N::LANES;
    (
        std::array::from_fn(|p| k.prepare_lanes(o0 + p * w, last)),
        rows.div_ceil(w),
    )
}

/// Runs a block at a SIMD level, which [`crate::simd_level`] only returns when this CPU runs it.
#[inline(always)]
pub(super) fn run_at<T: Real, Op: LaneOp<T, Output = ()>>(level: SimdLevel, op: Op) {
    T::dispatch(level, op).expect("simd_level() returns levels this CPU runs");
}
