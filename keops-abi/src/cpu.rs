//! The CPU engine's contract with the generated code: how output rows are blocked, how the
//! reduction index is tiled, and which dimensions get their own monomorphised arm.

/// Output rows per parallel task of the CPU engine (and per SIMD block: `ROW_BLOCK / LANES`
/// packs).
pub const ROW_BLOCK: usize = 64;

/// Reduction indices per CPU tile: the unit of block summation (terms summed in the data's
/// precision, tiles in f64) and of cache reuse.
pub const TILE: usize = 256;

/// The largest vector dimension (class capacity) of an arm that gets the SIMD lane version: its
/// stack arrays hold a pack per entry, for a block of rows.
pub const LANE_MAX_DIM: usize = 16;

/// Arms per formula with a SIMD lane version (the first ones in dispatch order, small dimensions
/// first): each is compiled once per SIMD level and precision, which bounds build times.
pub const LANE_MAX_ARMS: usize = 8;

/// The run-time dimension arms the macro compiles for the `s`-th run-time dimension class:
/// dimensions with an exact arm (loops fully unrolled), then the capacities of buckets, in
/// increasing order; dimensions above the last bucket, up to [`MAX_DIM`](crate::MAX_DIM), take a
/// last arm of capacity `MAX_DIM`.
///
/// ```
/// let (exact, buckets) = keops_abi::cpu::arms(0);
/// assert_eq!((exact[0], *buckets.last().unwrap()), (1, 256));
/// ```
pub fn arms(s: usize) -> (&'static [usize], &'static [usize]) {
    match s {
        0 => (&[1, 2, 3, 4], &[8, 16, 64, 256]),
        1 => (&[1, 2, 3], &[16, 64]),
        _ => (&[1], &[16]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_increase_and_stay_below_max_dim() {
        for s in 0..4 {
            let (exact, buckets) = arms(s);
            let all: Vec<usize> = exact.iter().chain(buckets).copied().collect();
            assert!(all.windows(2).all(|w| w[0] < w[1]), "slot {s}: {all:?}");
            assert!(*all.last().unwrap() < crate::MAX_DIM);
        }
        assert_eq!(ROW_BLOCK % 16, 0, "a block holds whole AVX-512 f32 packs");
    }
}
