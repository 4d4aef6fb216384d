//! SIMD evaluation: formulas computed for several output rows at once, one row per lane.
//!
//! The generated code is generic over [`Num`](crate::Num); the engine instantiates it with a [`Pack`] of
//! `W` reals (`W` = 16 f32 or 8 f64 with AVX-512, 8 / 4 with AVX2+FMA, 4 / 2 with NEON) and runs
//! it inside a function compiled for that instruction set, chosen at run time ([`SimdLevel`];
//! `pulp` detects the CPU and provides the target-feature context). A pack's operations are loops
//! over its lanes, written so that the compiler turns each into one or two vector instructions;
//! `exp`, `ln`, `sin` and `cos` use the branch-free polynomial versions of [`math`] (accuracy in
//! its documentation: at most 1.1 ulp for `exp` and `ln`, 1.6 ulp for `sin` and `cos` up to
//! [`math::SIN_COS_F32_MAX`] / [`math::SIN_COS_F64_MAX`], std's functions for a pack with a lane
//! beyond); `sqrt`, `abs`, `floor`, `min` and `max` compile to the instructions (`sqrt` correctly
//! rounded); the rarer functions call the scalar ones lane by lane. A formula's value may thus
//! differ by an ulp or two between levels, and (for `sin`/`cos` near the bound) between packs.
//!
//! Without a SIMD level (an x86-64 CPU without AVX2+FMA, or `KEOPS_SIMD=scalar`) the engine runs
//! the scalar code, with std's functions.

mod level;
pub mod math;
mod pack;

pub use level::{set_simd_level, simd_level, SimdLevel};
pub use pack::{LaneMath, LaneOp, Pack};
