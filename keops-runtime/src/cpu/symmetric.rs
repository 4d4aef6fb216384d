//! The symmetric product `K v` of a symmetric kernel bound to the same points twice: each pair
//! of points in different pieces of rows is evaluated once and added to both rows, dense or
//! with symmetric ranges (KeOps' block-sparse reductions).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use super::lanes::{matvec_lanes, run_at, write_rows, LaneKernel, PartialSums, ProductBlock};
use super::plan::{par_chunks, Span, BLOCK};
use super::scalar::RowKernel;
use super::work::{zeroed, MatvecWorkspace};
use crate::{ProductOut, Real};

/// [`matvec_lanes`] for a symmetric kernel `K(x_i, x_j) = K(x_j, x_i)` whose two point sets
/// are the same data (`n` points): pairs of points in different blocks of [`BLOCK`] rows are
/// evaluated once, the value added to both rows; pairs within a block are evaluated for each row.
/// About `n^2 / 2 + n * BLOCK / 2` evaluations instead of `n^2`. One column (`nv = 1`); other
/// products go to [`matvec_lanes`].
pub(super) fn matvec_symmetric<T, K>(
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
    let level = crate::simd_level();
    if nv != 1 || !span.symmetric() {
        return matvec_lanes(k, span, v, nv, out, ws);
    }
    if span.sparsity().is_some() {
        return matvec_symmetric_sparse(k, span, v, out, ws);
    }
    let n = span.n_out;
    debug_assert_eq!(out.len(), n);
    let blocks = n.div_ceil(BLOCK);
    // Block b costs about n - b * BLOCK evaluations: tasks take blocks in a snake order
    // (t, 2T - 1 - t, 2T + t, ...) so that their work is even. Each task owns a buffer of `n`
    // sums: its blocks' rows and the columns its pairs reach.
    let tasks = (2 * rayon::current_num_threads().max(1)).min(blocks);
    let sums = zeroed(&mut ws.sums, tasks * n, 0.0);
    par_chunks(sums, n, &|t, buf| {
        let mut b = t;
        let mut step = 0;
        while b < blocks {
            let o0 = b * BLOCK;
            let end = (o0 + BLOCK).min(n);
            let (rows_buf, cols) = buf.split_at_mut(end);
            run_at(
                level,
                ProductBlock {
                    k,
                    o0,
                    rows: end - o0,
                    last: n - 1,
                    direct: std::slice::from_ref(&(o0..end)),
                    symmetric: std::slice::from_ref(&(end..n)),
                    v,
                    nv: 1,
                    st: &mut rows_buf[o0..],
                    cols,
                },
            );
            // Snake order: the next block of this task.
            b += if step % 2 == 0 {
                2 * (tasks - t) - 1
            } else {
                2 * t + 1
            };
            step += 1;
        }
    });
    let sums = &ws.sums[..];
    write_rows(out, v, 1, PartialSums::PerTask { sums, tasks, n })
}

/// One piece of rows of a block-sparse symmetric product: its ranges within the piece
/// (`direct`, each pair evaluated for its row) and after it (`symmetric`, evaluated once for
/// both rows); the ranges before it were evaluated by earlier pieces.
struct Piece {
    o0: usize,
    rows: usize,
    direct: Vec<Range<usize>>,
    symmetric: Vec<Range<usize>>,
}

impl Piece {
    /// Kernel evaluations, the measure of the piece's work.
    fn work(&self) -> usize {
        let len = |rs: &[Range<usize>]| rs.iter().map(|r| r.len()).sum::<usize>();
        self.rows * (len(&self.direct) + len(&self.symmetric) + 1)
    }
}

/// [`matvec_symmetric`] with symmetric ranges: the clusters in pieces of at most [`BLOCK`] rows,
/// each visiting its cluster's ranges from the piece's first row on, the pieces shared among the
/// tasks by their work (largest first, each to the least loaded task).
fn matvec_symmetric_sparse<T, K>(
    k: &K,
    span: Span<'_>,
    v: &[T],
    out: ProductOut<'_, T>,
    ws: &mut MatvecWorkspace<T>,
) where
    T: Real,
    K: LaneKernel<T> + RowKernel<T, Value = T>,
{
    let n = span.n_out;
    let level = crate::simd_level();
    let pieces = symmetric_pieces(span);
    let tasks = (2 * rayon::current_num_threads().max(1))
        .min(pieces.len())
        .max(1);
    let assigned = share(&pieces, tasks);
    let sums = zeroed(&mut ws.sums, tasks * n, 0.0);
    par_chunks(sums, n, &|t, buf| {
        for &p in &assigned[t] {
            let Piece {
                o0,
                rows,
                ref direct,
                ref symmetric,
            } = pieces[p];
            let (rows_buf, cols) = buf.split_at_mut(o0 + rows);
            run_at(
                level,
                ProductBlock {
                    k,
                    o0,
                    rows,
                    last: n - 1,
                    direct,
                    symmetric,
                    v,
                    nv: 1,
                    st: &mut rows_buf[o0..],
                    cols,
                },
            );
        }
    });
    let sums = &ws.sums[..];
    write_rows(out, v, 1, PartialSums::PerTask { sums, tasks, n })
}

/// The pieces of a symmetric block-sparse product: those of [`Span::cluster_pieces`] (at most
/// [`BLOCK`] rows of a cluster, adjacent clusters visiting the same ranges merged, so packs of
/// rows stay full), their ranges cut at their own rows.
fn symmetric_pieces(span: Span<'_>) -> Vec<Piece> {
    let cut = |ranges: &[Range<usize>], lo: usize, hi: usize| -> Vec<Range<usize>> {
        ranges
            .iter()
            .map(|r| r.start.max(lo)..r.end.min(hi))
            .filter(|r| !r.is_empty())
            .collect()
    };
    let pieces = span.cluster_pieces().expect("a block-sparse span");
    pieces
        .into_iter()
        .map(|p| Piece {
            o0: p.rows.start,
            rows: p.rows.len(),
            direct: cut(p.ranges, p.rows.start, p.rows.end),
            symmetric: cut(p.ranges, p.rows.end, span.n_out),
        })
        .filter(|p| !(p.direct.is_empty() && p.symmetric.is_empty()))
        .collect()
}

/// The pieces of each of `tasks` tasks: largest first, each to the least loaded task so far.
fn share(pieces: &[Piece], tasks: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by_key(|&p| Reverse(pieces[p].work()));
    let mut load: BinaryHeap<Reverse<(usize, usize)>> =
        (0..tasks).map(|t| Reverse((0, t))).collect();
    let mut assigned = vec![Vec::new(); tasks];
    for p in order {
        let Reverse((l, t)) = load.pop().expect("at least one task");
        assigned[t].push(p);
        load.push(Reverse((l + pieces[p].work(), t)));
    }
    assigned
}
