//! Gradients, of two kinds that build on each other:
//! - [`symbolic`]: `grad(F, v, e)` inside a formula, the vector-Jacobian product of an expression,
//!   built on the IR by one rule per operation;
//! - [`reduction`]: `grad(R, v, e)` of a whole reduction `R` (`sum_j(F)`, `logsumexp_j(F)`...),
//!   rewritten as a reduction of symbolic gradients of `F`, plus the forward reductions it reads.

pub(crate) mod reduction;
pub(crate) mod symbolic;
