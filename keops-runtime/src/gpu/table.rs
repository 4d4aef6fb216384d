//! The blocks of a block-sparse launch (KeOps' `GpuConv1D_ranges`): the output rows cut into
//! [`SparseBlock`]s of at most [`THREADS`] rows that visit the same reduction ranges, and the
//! ranges themselves, as the kernels read them ([`KernelArgs::blocks`](keops_abi::gpu::KernelArgs),
//! `ranges`). Driver-independent: the CUDA backend uploads it, the tests' host emulation too.

use std::ops::Range;

use keops_abi::gpu::{SparseBlock, THREADS};

use crate::BlockSparsity;

/// The table of a block-sparse launch: its blocks (one per `blockIdx.x`) and the reduction ranges
/// their spans index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockTable {
    /// One per block of threads, in row order; together they cover `0..n_out` exactly once.
    pub blocks: Vec<SparseBlock>,
    /// `(start, end)` of every cluster's ranges of the reduction index, one after the other
    /// (KeOps' `redranges`): the blocks' spans index these pairs.
    pub ranges: Vec<[i64; 2]>,
}

impl BlockTable {
    /// The blocks for `n_out` output rows reduced as `s` says. Every row is in exactly one block,
    /// rows in no cluster too (in blocks with no ranges: the kernel leaves them the reduction's
    /// neutral element, as a dense launch over no reduction rows would). Consecutive clusters
    /// visiting the same ranges, and the rows between clusters, share blocks: a mask that keeps
    /// everything launches the blocks of the dense scheme, and single-point clusters in a row
    /// with equal ranges do not each take a block of threads.
    pub fn new(s: &BlockSparsity, n_out: usize) -> Self {
        let mut blocks = Vec::with_capacity(n_out.div_ceil(THREADS as usize) + s.clusters().len());
        segments(s, n_out, |rows, span| cut(rows, span, &mut blocks));
        let ranges = (s.reduced().iter())
            .map(|r| [r.start as i64, r.end as i64])
            .collect();
        BlockTable { blocks, ranges }
    }

    /// The number of blocks [`new`](Self::new) makes, without making them.
    pub fn count(s: &BlockSparsity, n_out: usize) -> usize {
        let mut n = 0;
        segments(s, n_out, |rows, _| {
            n += rows.len().div_ceil(THREADS as usize)
        });
        n
    }

    /// The blocks' bytes, as the device reads `KeopsBlock`s (little-endian int64 fields in
    /// declaration order: what `#[repr(C)]` gives on every target CUDA runs on).
    pub fn block_bytes(&self) -> Vec<u8> {
        (self.blocks.iter())
            .flat_map(|b| [b.row0, b.row1, b.range0, b.range1])
            .flat_map(i64::to_le_bytes)
            .collect()
    }

    /// The ranges' bytes: `(start, end)` int64 pairs.
    pub fn range_bytes(&self) -> Vec<u8> {
        (self.ranges.iter().flatten())
            .flat_map(|x| x.to_le_bytes())
            .collect()
    }
}

/// Calls `f(rows, span)` for the runs of output rows `0..n_out` that visit the same ranges (a
/// span of [`BlockSparsity::reduced`], empty for none), in order: consecutive clusters with equal
/// ranges and the rows between them merged.
fn segments(s: &BlockSparsity, n_out: usize, mut f: impl FnMut(Range<usize>, Range<usize>)) {
    let span_of = |c: usize| {
        let start = if c == 0 { 0 } else { s.slices()[c - 1] };
        start..s.slices()[c]
    };
    // The run being built: its rows and its ranges (a span of `reduced`).
    let mut run: Option<(Range<usize>, Range<usize>)> = None;
    let mut add = |rows: Range<usize>, span: Range<usize>| {
        if rows.is_empty() {
            return;
        }
        let span = if span.is_empty() { 0..0 } else { span };
        match &mut run {
            Some((r, sp)) if s.reduced()[sp.clone()] == s.reduced()[span.clone()] => {
                r.end = rows.end;
            }
            _ => {
                if let Some((r, sp)) = run.replace((rows, span)) {
                    f(r, sp);
                }
            }
        }
    };
    let mut at = 0;
    for (c, rows) in s.clusters().iter().enumerate() {
        add(at..rows.start, 0..0);
        add(rows.clone(), span_of(c));
        at = at.max(rows.end);
    }
    add(at..n_out, 0..0);
    if let Some((r, sp)) = run {
        f(r, sp);
    }
}

/// Appends the blocks of one run: `rows` in slices of at most [`THREADS`], each visiting `span`.
fn cut(rows: Range<usize>, span: Range<usize>, blocks: &mut Vec<SparseBlock>) {
    let end = rows.end;
    for row0 in rows.step_by(THREADS as usize) {
        blocks.push(SparseBlock {
            row0: row0 as i64,
            row1: end.min(row0 + THREADS as usize) as i64,
            range0: span.start as i64,
            range1: span.end as i64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ranges;

    /// Every row in one block, each block within THREADS rows, its ranges those of its rows.
    fn check(r: &Ranges, n_i: usize) -> BlockTable {
        let s = r.over_j();
        let t = BlockTable::new(s, n_i);
        assert_eq!(t.blocks.len(), BlockTable::count(s, n_i));
        let mut next = 0;
        for b in &t.blocks {
            assert_eq!(b.row0 as usize, next, "{:?}", t.blocks);
            assert!(b.row1 > b.row0 && b.row1 - b.row0 <= THREADS as i64);
            next = b.row1 as usize;
            let ranges = &t.ranges[b.range0 as usize..b.range1 as usize];
            for o in b.row0 as usize..b.row1 as usize {
                let want: Vec<[i64; 2]> = match s.cluster_of(o) {
                    Some(c) => (s.ranges_of(c).iter())
                        .map(|r| [r.start as i64, r.end as i64])
                        .collect(),
                    None => Vec::new(),
                };
                assert_eq!(ranges, want, "row {o}");
            }
        }
        assert_eq!(next, n_i);
        assert_eq!(t.block_bytes().len(), 32 * t.blocks.len());
        assert_eq!(t.range_bytes().len(), 16 * t.ranges.len());
        t
    }

    #[test]
    fn blocks_cover_the_rows_once() {
        // Gaps before, between and after clusters; an empty cluster; a cluster of one point; a
        // cluster longer than a block; two clusters with equal ranges (merged).
        let ci = [3..5, 5..5, 5..6, 10..600, 600..610, 700..701];
        let cj = [0..4, 4..9, 9..20];
        let keep = [
            true, false, true, // 3..5
            true, true, true, // empty
            false, true, false, // 5..6
            true, true, false, // 10..600
            true, true, false, // 600..610: as 10..600
            false, false, false, // 700..701: nothing, as the gaps
        ];
        let r = Ranges::from_mask(&ci, &cj, &keep).unwrap();
        let t = check(&r, 800);
        // 0..3, 3..5, 5..6, 6..10, 10..610 in 3 blocks, 610..800 (with the empty cluster).
        let rows: Vec<(i64, i64)> = t.blocks.iter().map(|b| (b.row0, b.row1)).collect();
        assert_eq!(
            rows,
            [
                (0, 3),
                (3, 5),
                (5, 6),
                (6, 10),
                (10, 266),
                (266, 522),
                (522, 610),
                (610, 800)
            ]
        );
        // Everything kept: the dense blocks, one range each.
        let t = check(&Ranges::dense(1000, 7), 1000);
        assert_eq!(t.blocks.len(), 4);
        assert!(t.blocks.iter().all(|b| (b.range0, b.range1) == (0, 1)));
        // Nothing kept: blocks without ranges.
        let r = Ranges::from_mask(&ci, &cj, &[false; 18]).unwrap();
        let t = check(&r, 800);
        assert!(t.blocks.iter().all(|b| b.range0 == b.range1));
        assert_eq!(t.blocks.len(), 4);
    }
}
