//! # keops: KeOps formulas compiled ahead of time
//!
//! Write a kernel formula in Rust; the [`kernel!`] macro turns it, at compile time, into a checked,
//! tiled, multi-threaded reduction whose memory is linear in the number of points: the `N x M`
//! kernel matrix is never stored.
//!
//! ```
//! use keops::prelude::*;
//!
//! let x: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
//! let b: Vec<f32> = x.iter().map(|x| x.sin()).collect();
//! let s = 0.1;
//! // K_ij = exp(-|x_i - y_j|^2 / (2 s^2)): no reduction, so a kernel matrix.
//! let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
//! let k = gauss.x_i(&x).y_j(&x).matrix()?;
//! let kb = k.matvec(&b)?; // (K b)_i = sum_j K_ij b_j
//! assert_eq!(kb.rows(), 1000);
//!
//! // The same as an explicit reduction with a vector output:
//! let red = kernel!(sum_j(exp(-sqnorm(x_i - y_j) / (2 * s * s)) * b_j));
//! let out = red.x_i(&x).y_j(&x).b_j(&b).eval()?;
//! assert!((out[0] - kb[0]).abs() < 1e-3);
//! # Ok::<(), keops::KeopsError>(())
//! ```
//!
//! ## The formula language
//! - Variables by name: `x_i` is indexed by the output index i, `y_j` by the reduction index j; any
//!   other name is a parameter captured by value from the enclosing scope: a number (a scalar that
//!   broadcasts), or an array `[f64; D]` / `Vec` annotated with its dimension (`c: 3`).
//! - Dimensions come from the data (`Vec<[T; D]>`, a slice with a dimension, nalgebra); annotate to
//!   fix them at compile time: `kernel!(x_i: 3, y_j: 3 => ...)`. A variable annotated `: 1` is a
//!   scalar that broadcasts against vectors.
//! - `+ - * /`, unary minus, literals and the functions `exp log sqrt rsqrt inv square pow powf abs
//!   sign step relu sin cos min max clamp ifelse sqnorm(=sqnorm2) norm(=norm2) dot sum sqdist
//!   normalize elem concat`, with KeOps' definitions and broadcasting.
//! - The whole formula is `sum_j(F)` (one row per i), `sum_i(F)` (one row per j), or a scalar `F`,
//!   a [`KernelMatrix`] whose `matvec` computes `sum_j K_ij v_j`.
//! - KeOps' other reductions, over j or over i (`_i`), with its semantics: `min_j(F)`, `max_j(F)`
//!   (entrywise for a vector `F`), `argmin_j(F)`, `argmax_j(F)` (the first index among ties),
//!   `min_argmin_j(F)`, `max_argmax_j(F)`, `kmin_j(F, K)`, `argkmin_j(F, K)`,
//!   `kmin_argkmin_j(F, K)` (the K smallest values ascending, K an integer literal; row layout
//!   rank-major as KeOps': entry `d` of the `q`-th smallest at `q * dim(F) + d`),
//!   `logsumexp_j(F)` = log sum_j exp(F), `logsumexp_j(F, W)` = log sum_j exp(F) W and
//!   `sumsoftmaxweight_j(F, V)` = sum_j exp(F) V / sum_j exp(F) (F scalar; stable: shifted by the
//!   running maximum). Values come as [`Rows<T>`](Rows), indices as [`Indices`]
//!   (`Rows<usize>`), both as a tuple `(Rows<T>, Indices)` (see [`ReductionOutput`]).
//!
//! ## Numbers
//! Inputs with NaN or infinity are rejected with [`KeopsError::NonFinite`]: one bad point would
//! silently poison every output row. Sums use block summation (tiles of 256 terms in the data's
//! precision, tiles combined in f64), see the runtime's engine.

extern crate self as keops;

#[cfg(feature = "gp")]
pub mod gp;

pub use keops_macros::kernel;
/// Block-sparse reductions (KeOps' `ranges`): [`Ranges`] and the clustering helpers.
pub use keops_runtime::ranges;
/// The CPU engine's SIMD levels, its packs, and the vectorised functions with their accuracy.
pub use keops_runtime::simd;
pub use keops_runtime::{set_simd_level, simd_level, Num, SimdLevel};
pub use keops_runtime::{
    BlockSparse, BlockSparsity, ClusterError, KeopsRanges, Permutation, Ranges, RangesError,
};
pub use keops_runtime::{
    Callback, ConjugateGradient, Indices, IntoParam, IntoView, Jacobi, KeopsError, KernelMatrix,
    Landmarks, LinearOperator, NumericallySingular, Nystrom, NystromPreconditioner, ParamValue,
    Preconditioner, PreconditionerFallback, Preconditioning, Progress, Real, Reduction,
    ReductionOutput, Rows, Solution, SolveError, Termination, View, MAX_DIM,
};
pub use keops_runtime::{
    ExactReason, Hierarchical, HierarchicalError, HierarchicalInfo, HierarchicalMatrix,
};

/// The CUDA backend (feature `cuda`): [`cuda::Gpu`], [`cuda::GpuKernelMatrix`], [`cuda::Backend`].
#[cfg(feature = "cuda")]
pub use keops_runtime::cuda;
#[cfg(feature = "cuda")]
pub use keops_runtime::{Backend, Gpu, GpuKernelMatrix};

/// `use keops::prelude::*` brings the macro and the types its results use.
pub mod prelude {
    pub use crate::{
        kernel, ConjugateGradient, Hierarchical, Indices, IntoView, KeopsError, KernelMatrix,
        Landmarks, LinearOperator, Nystrom, Preconditioning, Ranges, Real, Reduction, Rows,
        Solution, SolveError, View,
    };
}

#[doc(hidden)]
pub use keops_runtime::__private;

/// README.md's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
