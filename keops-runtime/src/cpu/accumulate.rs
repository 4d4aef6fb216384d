//! The scalar engine's driver: every reduction is an accumulator (a state per output row,
//! initialised once, folded tile by tile, merged across parts of a split reduction range,
//! finalised into values and indices), run over blocks of rows in parallel.

use std::ops::Range;

use rayon::prelude::*;

use super::plan::{part, splits, Span, Tiles, BLOCK};
use super::scalar::RowKernel;
use crate::Real;

/// An accumulator: the initial state of an output row (its `width = init.len()` slots), how the
/// state of a later part of the reduction range merges into that of an earlier part, and how a
/// row's final state becomes its values and indices.
pub(super) struct Acc<'a, T, S> {
    /// The state of a row before any reduction index.
    pub(super) init: Vec<S>,
    /// Merges the state of a later part of the reduction range into that of an earlier one.
    pub(super) merge: Box<MergeFn<'a, S>>,
    /// A row's final state into its values and indices.
    pub(super) finish: Box<FinishFn<'a, T, S>>,
}

pub(super) type MergeFn<'a, S> = dyn Fn(&mut [S], &[S]) + Sync + 'a;
pub(super) type FinishFn<'a, T, S> = dyn Fn(&[S], &mut [T], &mut [usize]) + Sync + 'a;

impl<T: Real> Acc<'static, T, f64> {
    /// f64 sums of `dim` entries (sums and matvecs), written back in `T`.
    pub(super) fn sums(dim: usize) -> Self {
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

impl<T, S: Copy> Acc<'_, T, S> {
    /// The initial states of `rows` rows.
    fn fresh(&self, rows: usize) -> Vec<S> {
        let mut st = Vec::with_capacity(rows * self.init.len());
        for _ in 0..rows {
            st.extend_from_slice(&self.init);
        }
        st
    }

    /// Writes the results of a block's rows from their final states `st`: values `vdim` per row,
    /// indices `idim`.
    fn finish_rows(
        &self,
        st: &[S],
        (v, vdim): (&mut [T], usize),
        (i, idim): (&mut [usize], usize),
    ) {
        for (r, s) in st.chunks_exact(self.init.len()).enumerate() {
            (self.finish)(
                s,
                &mut v[r * vdim..(r + 1) * vdim],
                &mut i[r * idim..(r + 1) * idim],
            );
        }
    }
}

/// Where a reduction's results go: values `(n_out, vdim)` and indices `(n_out, idim)`, row-major;
/// a dimension of 0 for a part the reduction does not produce.
pub(super) struct Out<'o, T> {
    pub(super) vals: &'o mut [T],
    pub(super) vdim: usize,
    pub(super) idx: &'o mut [usize],
    pub(super) idim: usize,
}

impl<'o, T> Out<'o, T> {
    pub(super) fn values(vals: &'o mut [T], vdim: usize) -> Self {
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
pub(super) fn run<T, K, S, F>(
    k: &K,
    span: Span<'_>,
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
    let block = |o0: usize, rows: usize, ranges: &[Range<usize>], state: &mut [S]| {
        // A plain loop, not an iterator chain: this is compiled for every arm of every formula.
        let mut prepared = Vec::with_capacity(rows);
        for o in o0..o0 + rows {
            prepared.push(k.prepare(o));
        }
        let mut scratch = vec![T::ZERO; scratch_dim];
        for t in Tiles::of(ranges) {
            for (p, st) in prepared.iter().zip(state.chunks_exact_mut(width)) {
                tile(p, t.clone(), &mut scratch, st);
            }
        }
    };
    drive(span, acc, out, &block);
}

/// Folds the reduction indices of `ranges` into the states (`rows * width` slots) of the output
/// rows `o0..o0 + rows`.
type BlockFn<'a, S> = dyn Fn(usize, usize, &[Range<usize>], &mut [S]) + Sync + 'a;

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
    span: Span<'_>,
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
    let (n_out, n_red) = (span.n_out, span.n_red);
    debug_assert_eq!(vals.len(), n_out * vdim);
    debug_assert_eq!(idx.len(), n_out * idim);
    let width = acc.init.len();
    if n_out == 0 || width == 0 || vdim + idim == 0 {
        return;
    }
    let blocks = n_out.div_ceil(BLOCK);
    // Block-sparse work is spread by its blocks of rows only.
    let splits = match span.sparsity() {
        Some(_) => 1,
        None => splits(blocks, n_red),
    };
    let range = |s: usize| part(s, splits, n_red);
    let finish = |st: &[S], v: &mut [T], i: &mut [usize]| acc.finish_rows(st, (v, vdim), (i, idim));
    let outs = per_block(vals, BLOCK * vdim, blocks)
        .into_iter()
        .zip(per_block(idx, BLOCK * idim, blocks));
    if splits == 1 {
        outs.collect::<Vec<_>>()
            .into_par_iter()
            .enumerate()
            .for_each(|(b, (v, i))| {
                let o0 = b * BLOCK;
                let rows = BLOCK.min(n_out - o0);
                let mut st = acc.fresh(rows);
                span.pieces(o0..o0 + rows, 0..n_red, &mut |p0, rows, ranges| {
                    let state = &mut st[(p0 - o0) * width..(p0 - o0 + rows) * width];
                    block(p0, rows, ranges, state);
                });
                finish(&st, v, i);
            });
    } else {
        let mut partials: Vec<Vec<S>> = (0..blocks * splits)
            .into_par_iter()
            .map(|t| {
                let (b, s) = (t / splits, t % splits);
                let rows = BLOCK.min(n_out - b * BLOCK);
                let mut st = acc.fresh(rows);
                block(b * BLOCK, rows, &[range(s)], &mut st);
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
