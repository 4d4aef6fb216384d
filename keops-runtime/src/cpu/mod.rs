//! The CPU engines: blocks of output rows in parallel (rayon), the reduction index in tiles that
//! stay in cache, block sums for accuracy.
//!
//! - [`plan`]: the blocks, tiles and splits of the reduction range both engines share;
//! - [`scalar`] and [`accumulate`]: every reduction, one output row at a time;
//! - [`lanes`]: the SIMD engine, `W` output rows at once (one per lane of a
//!   [`Pack`](crate::simd::Pack)), for the sums and products of formulas with a lane version;
//! - [`work`]: what a kernel matrix asks of its formula (products, columns, the diagonal).
//!
//! Accumulation ("block sums"): within a tile of [`TILE`] reduction indices the formula's values are
//! added in the data's precision `T`; each tile's partial sum is then added to an f64 accumulator.
//! For f32 data the rounding error therefore grows with the tile size (256 terms), not with the
//! number of points, so 10^6 terms keep about 1e-6 relative accuracy where a running f32 sum loses
//! about three digits. Within a tile, independent partial sums break the dependency chain of a
//! single accumulator.

mod accumulate;
mod lanes;
mod plan;
mod scalar;
mod symmetric;
mod work;

pub use lanes::{kernel_work_lanes, sum_reduce_lanes, LaneKernel, LaneValue};
pub use plan::{Span, BLOCK, TILE};
pub use scalar::{
    extremum_reduce, kmin_reduce, matvec, shifted_exp_reduce, sum_reduce, RowKernel, Value,
};
pub use work::{kernel_work_scalar, MatvecWorkspace};
