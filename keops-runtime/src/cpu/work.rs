//! What a kernel matrix asks of its formula ([`KernelWork`]) on the scalar engine: products
//! `K v` (also `alpha v + K v` for the solver), whole columns and the diagonal in f64. The SIMD
//! engine takes the products of formulas with a lane version
//! ([`kernel_work_lanes`](super::kernel_work_lanes)) and hands the rest to
//! [`kernel_work_scalar`].

use rayon::prelude::*;

use super::plan::{Span, BLOCK};
use super::scalar::{matvec, RowKernel};
use crate::{KernelWork, ProductOut, Real};

/// Buffers a product needs beyond its output: partial sums per task, kept between calls so that
/// repeated products (a solver's iterations) allocate nothing once they have grown.
#[derive(Debug, Default)]
pub struct MatvecWorkspace<T> {
    /// f64 partial sums of the rows, per parallel task.
    pub(super) sums: Vec<f64>,
    /// `K v` in `T` before the shift, for the scalar engine's `alpha v + K v`.
    pub(super) reals: Vec<T>,
}

impl<T> MatvecWorkspace<T> {
    /// Empty buffers, grown by the first product.
    pub fn new() -> Self {
        MatvecWorkspace {
            sums: Vec::new(),
            reals: Vec::new(),
        }
    }
}

/// `len` zeros at the start of `v`, reusing its allocation.
pub(super) fn zeroed<U: Copy>(v: &mut Vec<U>, len: usize, zero: U) -> &mut [U] {
    v.clear();
    v.resize(len, zero);
    &mut v[..]
}

/// Runs a [`KernelWork`] on the scalar engine (formulas or dimensions without a lane version).
pub fn kernel_work_scalar<T: Real, K: RowKernel<T, Value = T>>(
    k: &K,
    span: Span<'_>,
    work: KernelWork<'_, T>,
) {
    match work {
        KernelWork::Product { v, nv, out, ws } => scalar_product(k, span, v, nv, out, ws),
        KernelWork::Columns { cols, out } => columns(k, span, cols, out),
        KernelWork::Diagonal { out } => diagonal(k, span, out),
    }
}

/// The scalar engine's product: at the scalar level, and for formulas or dimensions without a
/// lane version.
fn scalar_product<T: Real, K: RowKernel<T, Value = T>>(
    k: &K,
    span: Span<'_>,
    v: &[T],
    nv: usize,
    out: ProductOut<'_, T>,
    ws: &mut MatvecWorkspace<T>,
) {
    match out {
        ProductOut::Real(out) => matvec(k, span, v, nv, out),
        ProductOut::Shifted { out, alpha } => {
            let kv = zeroed(&mut ws.reals, span.n_out * nv, T::ZERO);
            matvec(k, span, v, nv, kv);
            for ((o, kv), v) in out.iter_mut().zip(kv.iter()).zip(v) {
                *o = alpha * v.to_f64() + kv.to_f64();
            }
        }
    }
}

/// `out[c * n_out + i] = K(i, cols[c])` in f64 for every output row `i`: whole columns of the
/// kernel matrix (each column split in blocks of rows, in parallel); 0 for the pairs block-sparse
/// ranges skip.
fn columns<T: Real, K: RowKernel<T, Value = T>>(
    k: &K,
    span: Span<'_>,
    cols: &[usize],
    out: &mut [f64],
) {
    debug_assert_eq!(out.len(), span.n_out * cols.len());
    let block = |j: usize, r0: usize, rows: &mut [f64]| {
        rows.fill(0.0);
        let block = r0..r0 + rows.len();
        span.pieces(block, 0..span.n_red, &mut |o0, n, ranges| {
            if visits(ranges, j) {
                for (o, x) in (o0..o0 + n).zip(&mut rows[o0 - r0..]) {
                    *x = k.eval(&k.prepare(o), j).to_f64();
                }
            }
        });
    };
    columns_in_blocks(span.n_out, cols, out, &block);
}

/// `out[i] = K(i, i)` in f64 for `i < out.len()`; 0 where block-sparse ranges skip `(i, i)`.
fn diagonal<T: Real, K: RowKernel<T, Value = T>>(k: &K, span: Span<'_>, out: &mut [f64]) {
    let block = |_: usize, r0: usize, rows: &mut [f64]| {
        rows.fill(0.0);
        let block = r0..r0 + rows.len();
        span.pieces(block, 0..span.n_red, &mut |o0, n, ranges| {
            for (i, x) in (o0..o0 + n).zip(&mut rows[o0 - r0..]) {
                if visits(ranges, i) {
                    *x = k.eval(&k.prepare(i), i).to_f64();
                }
            }
        });
    };
    columns_in_blocks(out.len(), &[0], out, &block);
}

/// Whether the sorted, disjoint `ranges` hold `r`.
fn visits(ranges: &[std::ops::Range<usize>], r: usize) -> bool {
    let k = ranges.partition_point(|x| x.end <= r);
    k < ranges.len() && ranges[k].contains(&r)
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
