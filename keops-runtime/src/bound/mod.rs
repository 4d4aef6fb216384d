//! A formula with its data bound, as the user sees it: a [`Reduction`] to evaluate, or a
//! [`KernelMatrix`] to multiply (and solve with). The macro's expansion implements
//! [`BoundReduction`] or [`BoundKernel`] for its bound data; these types run it.

mod kernel;
mod reduction;

pub(crate) use kernel::{check_columns, check_operand_shape};
pub use kernel::{BoundKernel, KernelMatrix, KernelWork, ProductOut};
pub use reduction::{BoundReduction, Reduction, ReductionOutput};
