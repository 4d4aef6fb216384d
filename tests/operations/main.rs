//! Every operation of the formula language and both reductions, against a dense f64 reference.
//!
//! Each case is a formula `F` (inside `sum_j(..)`, `sum_i(..)`, or a kernel matrix times a vector)
//! evaluated by the library on random inputs in f32 and in f64, and a plain-loop f64 reference of
//! the same sum computed on the same inputs (f32 inputs are rounded to f32 first, then widened, so
//! the reference sees exactly the numbers the library sees; parameters too).
//!
//! Tolerances are norm-wise, per output entry: `|got - want| <= tol * sum_terms |term|`, so that
//! cancellation in a sum does not cause false failures, while a wrong operation, a swapped sign or a
//! dropped / repeated term (relative size >= 1/1037 here) does fail:
//! - f64: `tol = 1e-12`. Each term is computed to a few ulps (~1e-15 relative, the functions are
//!   well conditioned on the chosen ranges) and tiles of 256 terms are summed in f64 (worst case
//!   255 * 1.1e-16 = 2.8e-14), so this leaves a margin of ~30.
//! - f32: `tol = 1e-4`. Terms to a few ulps (~1e-6), tiles of 256 summed in f32 (worst case
//!   255 * 6e-8 = 1.5e-5, typically ~1e-6), tiles combined in f64. Still 10x below the 1e-3 relative
//!   change that dropping one of 1037 comparable terms causes.
//!
//! Observed worst `|got - want| / sum |term|` over this file: f32 9e-6 (dot products of dimension
//! 1024), ~1e-6 elsewhere; f64 3e-14. The wrong implementations of `harness_rejects_wrong_results`
//! give >= 5e-4.
//!
//! Sizes (N output rows, M summed points): (1, 1), (7, 13), (1000, 1037), plus (65, 257) that
//! crosses a row block (64) and a reduction tile (256) boundary where large sizes would be slow.
//!
//! The GPU path: every formula evaluated here (through `eval` / `host_matvec`) also runs its
//! generated CUDA kernel as host C++ under keops_host.h's emulation (tests/common/gpu_host/),
//! launched as on a GPU of 4 multiprocessors: with the plan's own split of the reduction range
//! (at (1000, 1037): 2 blocks along it, f64 partial sums, then the combining kernel), and when
//! that is one block but there are 2 tiles or more, also with 3 blocks. Each result is compared
//! to the same reference with the same tolerance: the kernels accumulate as the CPU engine does
//! (tiles of at most 256 terms in T, tiles and partial sums in f64), so the bounds above hold for
//! them too. The largest size is emulated in f64 only (`HOST_F32_MAX_PAIRS`), dimensions above
//! 256 have no GPU kernel (skipped), and without a C++ compiler the emulation is skipped.

#![allow(clippy::needless_range_loop)] // the references are plain index loops, on purpose

#[path = "../common/mod.rs"]
mod common;

use common::cases::{
    self, assert_exact_both, assert_host_exact, both, check, check_labeled, check_matvec,
    host_matvec, matvec, times_b, try_case, Args, Inputs, Red, Runs, Spec,
};
use common::{gpu_host, Rng};
use keops::prelude::*;
use keops_runtime::BoundReduction;

mod bindings;
mod entrywise;
mod harness;
mod vector;

/// The sizes.
const ALL: &[(usize, usize)] = &[(1, 1), (7, 13), (1000, 1037)];
/// Cheaper sizes, for the variants of a case and for large dimensions.
const SMALL: &[(usize, usize)] = &[(1, 1), (7, 13), (65, 257)];
/// Dimensions for a case at run-time dimensions: the at every size, the others at the small
/// sizes (each exact arm, and `Upto` buckets of two sizes).
const DIMS: &[(usize, &[(usize, usize)])] = &[
    (1, ALL),
    (3, ALL),
    (2, SMALL),
    (4, SMALL),
    (7, SMALL),
    (20, SMALL),
];

/// [`cases::eval`], after registering the formulas `kernel!` receives inside this file's macros
/// (`MACRO_FORMULAS`), which the host emulation compiles itself.
fn eval<T: Real, B: BoundReduction<T, Output = Rows<T>>>(r: Reduction<T, B>) -> Rows<T> {
    gpu_host::register_formulas(entrywise::MACRO_FORMULAS);
    cases::eval(r)
}

// ---------------------------------------------------------------------------------------------
// Plain f64 definitions for the references (KeOps' definitions).

mod rf {
    pub fn sign(x: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    }
    pub fn step(x: f64) -> f64 {
        if x >= 0.0 {
            1.0
        } else {
            0.0
        }
    }
    pub fn relu(x: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            0.0
        }
    }
    pub fn clamp(x: f64, a: f64, b: f64) -> f64 {
        if x < a {
            a
        } else if x > b {
            b
        } else {
            x
        }
    }
    pub fn ifelse(c: f64, a: f64, b: f64) -> f64 {
        if c >= 0.0 {
            a
        } else {
            b
        }
    }
    pub fn dot(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mut s = 0.0;
        for k in 0..a.len() {
            s += a[k] * b[k];
        }
        s
    }
    pub fn sqdist(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mut s = 0.0;
        for k in 0..a.len() {
            s += (a[k] - b[k]) * (a[k] - b[k]);
        }
        s
    }
    pub fn sqnorm(a: &[f64]) -> f64 {
        dot(a, a)
    }
}
