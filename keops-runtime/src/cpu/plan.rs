//! The tile plan both CPU engines share: output rows in blocks of [`BLOCK`] (one parallel task
//! each), the reduction index in tiles of [`TILE`] (the unit of block summation and of cache
//! reuse), and, when there are too few blocks to occupy the threads, the reduction range split in
//! parts of whole tiles.

use std::ops::Range;

use rayon::prelude::*;

use crate::{BlockSparsity, Ranges};

/// Output rows per parallel task (keops-abi's CPU `ROW_BLOCK`).
pub use keops_abi::cpu::ROW_BLOCK as BLOCK;
/// Reduction indices per tile (keops-abi's CPU `TILE`): the unit of block summation and of cache
/// reuse.
pub use keops_abi::cpu::TILE;

/// The tiles of sorted reduction ranges, in order: each range in tiles of [`TILE`] indices (its
/// last one shorter). One concrete type: an adaptor chain built inside the engines' generic code
/// (`flat_map` over the ranges) was instantiated for every arm, SIMD level and precision of every
/// formula, a tenth of the code of a test binary.
pub(super) struct Tiles<'r> {
    ranges: std::slice::Iter<'r, Range<usize>>,
    at: usize,
    end: usize,
}

impl<'r> Tiles<'r> {
    /// The tiles of `ranges`.
    pub(super) fn of(ranges: &'r [Range<usize>]) -> Self {
        Tiles {
            ranges: ranges.iter(),
            at: 0,
            end: 0,
        }
    }
}

impl Iterator for Tiles<'_> {
    type Item = Range<usize>;

    #[inline]
    fn next(&mut self) -> Option<Range<usize>> {
        while self.at >= self.end {
            let r = self.ranges.next()?;
            (self.at, self.end) = (r.start, r.end);
        }
        let r0 = self.at;
        self.at = (r0 + TILE).min(self.end);
        Some(r0..self.at)
    }
}

/// How many parts the reduction range is split into: 1 with enough blocks of rows for the
/// threads, else enough parts (of whole tiles, at least 4 tiles each) to occupy them.
pub(super) fn splits(blocks: usize, n_red: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let tiles = n_red.div_ceil(TILE).max(1);
    if blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(blocks).min(tiles.div_ceil(4)).max(1)
    }
}

/// Part `s` of `splits` of `0..n_red`, in whole tiles.
pub(super) fn part(s: usize, splits: usize, n_red: usize) -> Range<usize> {
    let per = n_red.div_ceil(TILE).max(1).div_ceil(splits) * TILE;
    (s * per).min(n_red)..((s + 1) * per).min(n_red)
}

/// `task(t, piece)` for every `chunk`-long piece `t` of `buf` (the last one shorter), in
/// parallel. Generic only over the element type: each formula's dimension arm hands its block of
/// work in as `task`, and rayon's machinery (job queues, joins, unwinding) is compiled a few times
/// in all instead of once per arm, precision and SIMD level, which was half of the code the
/// engines generated. The virtual call per task is nothing beside a block's work.
pub(super) fn par_chunks<U: Send>(
    buf: &mut [U],
    chunk: usize,
    task: &(dyn Fn(usize, &mut [U]) + Sync),
) {
    buf.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(t, piece)| task(t, piece));
}

/// What [`Span::pieces`] calls for each piece: its first row, its rows, its reduction ranges.
pub(super) type PieceFn<'f> = dyn FnMut(usize, usize, &[Range<usize>]) + 'f;

/// The pairs a reduction visits: every output row `o < n_out` against every reduction index
/// `r < n_red`, or, with [`Ranges`], only the blocks they keep (checked against `n_out` and `n_red`
/// when they were bound).
#[derive(Clone, Copy, Debug)]
pub struct Span<'s> {
    /// Output rows.
    pub n_out: usize,
    /// Reduction indices.
    pub n_red: usize,
    ranges: Option<&'s Ranges>,
    /// The reduction index, `'i'` or `'j'`: which direction of the ranges applies.
    over: char,
}

impl<'s> Span<'s> {
    /// `n_out` output rows reduced over `n_red` indices of index `over` (`'i'` or `'j'`), all of
    /// them or those `ranges` keep.
    pub fn new(n_out: usize, n_red: usize, ranges: Option<&'s Ranges>, over: char) -> Self {
        Span {
            n_out,
            n_red,
            ranges,
            over,
        }
    }

    /// The clusters of output rows and their reduction ranges, for a block-sparse reduction.
    pub(super) fn sparsity(&self) -> Option<&'s BlockSparsity> {
        self.ranges.map(|r| r.reducing_over(self.over))
    }

    /// Whether the visited pairs are symmetric (all of them, or symmetric ranges).
    pub(super) fn symmetric(&self) -> bool {
        self.ranges.is_none_or(Ranges::is_symmetric)
    }

    /// `f(o0, rows, ranges)` for the pieces of the output rows `block` that visit the same
    /// reduction ranges: the whole block visiting `dense` without ranges; else its intersections
    /// with the clusters, consecutive adjacent clusters that visit the same ranges as one piece
    /// (a dense mask gives whole blocks again). Rows in no cluster visit nothing.
    pub(super) fn pieces(&self, block: Range<usize>, dense: Range<usize>, f: &mut PieceFn<'_>) {
        let Some(s) = self.sparsity() else {
            return f(block.start, block.len(), std::slice::from_ref(&dense));
        };
        let clusters = s.clusters();
        let mut c = s.first_cluster_after(block.start);
        while c < clusters.len() && clusters[c].start < block.end {
            let ranges = s.ranges_of(c);
            let start = clusters[c].start.max(block.start);
            let mut end = clusters[c].end.min(block.end);
            while c + 1 < clusters.len()
                && clusters[c + 1].start == end
                && end < block.end
                && s.ranges_of(c + 1) == ranges
            {
                c += 1;
                end = clusters[c].end.min(block.end);
            }
            if end > start && !ranges.is_empty() {
                f(start, end - start, ranges);
            }
            c += 1;
        }
    }
}

/// Rows `rows` of a block-sparse reduction that visit the same reduction `ranges`: a piece of at
/// most [`BLOCK`] rows of one cluster (or of adjacent clusters visiting the same ranges).
pub(super) struct Piece<'s> {
    pub(super) rows: Range<usize>,
    pub(super) ranges: &'s [Range<usize>],
}

impl<'s> Span<'s> {
    /// The pieces of a block-sparse reduction, aligned with its clusters rather than with blocks
    /// of [`BLOCK`] rows, so that the SIMD engine's packs of rows start at a cluster's first row
    /// (a piece cut by a block boundary would leave lanes idle). None without ranges.
    pub(super) fn cluster_pieces(&self) -> Option<Vec<Piece<'s>>> {
        let s = self.sparsity()?;
        let clusters = s.clusters();
        let mut pieces = Vec::new();
        let mut c = 0;
        while c < clusters.len() {
            let ranges = s.ranges_of(c);
            let start = clusters[c].start;
            while c + 1 < clusters.len()
                && clusters[c + 1].start == clusters[c].end
                && s.ranges_of(c + 1) == ranges
            {
                c += 1;
            }
            let end = clusters[c].end;
            if !ranges.is_empty() {
                for o0 in (start..end).step_by(BLOCK) {
                    let rows = o0..(o0 + BLOCK).min(end);
                    pieces.push(Piece { rows, ranges });
                }
            }
            c += 1;
        }
        Some(pieces)
    }
}

/// `task(piece, sums)` for every piece in parallel, `sums` the piece's rows of `buf` (`width`
/// entries per row; the pieces' rows are disjoint). Generic only over the element type, like
/// [`par_chunks`].
pub(super) fn par_pieces<U: Send>(
    buf: &mut [U],
    width: usize,
    pieces: &[Piece<'_>],
    task: &(dyn Fn(&Piece<'_>, &mut [U]) + Sync),
) {
    let mut slices = Vec::with_capacity(pieces.len());
    let mut rest = buf;
    let mut at = 0;
    for p in pieces {
        let (_, tail) = rest.split_at_mut((p.rows.start - at) * width);
        let (mine, tail) = tail.split_at_mut(p.rows.len() * width);
        slices.push((p, mine));
        rest = tail;
        at = p.rows.end;
    }
    slices.into_par_iter().for_each(|(p, st)| task(p, st));
}
