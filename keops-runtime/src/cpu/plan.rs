//! The tile plan both CPU engines share: output rows in blocks of [`BLOCK`] (one parallel task
//! each), the reduction index in tiles of [`TILE`] (the unit of block summation and of cache
//! reuse), and, when there are too few blocks to occupy the threads, the reduction range split in
//! parts of whole tiles.

use std::ops::Range;

use rayon::prelude::*;

/// Output rows per parallel task (keops-abi's CPU `ROW_BLOCK`).
pub use keops_abi::cpu::ROW_BLOCK as BLOCK;
/// Reduction indices per tile (keops-abi's CPU `TILE`): the unit of block summation and of cache
/// reuse.
pub use keops_abi::cpu::TILE;

/// `rs` in tiles of [`TILE`] indices (the last one shorter).
pub(super) fn tiles(rs: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    let end = rs.end;
    rs.step_by(TILE).map(move |r0| r0..(r0 + TILE).min(end))
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
