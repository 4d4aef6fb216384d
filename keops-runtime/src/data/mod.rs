//! The data a formula meets: views of the caller's point sets and the rows of results, captured
//! parameters, the dimensions decided when data is bound, and the numbers computed with (reals and
//! SIMD packs of them).

mod dims;
mod param;
mod real;
mod view;

pub use dims::{ClassSpec, DimSpec, ElemSpec, OperandSpec, MAX_DIM};
pub use param::{param, param_of_dim, IntoParam, ParamOfDim, ParamValue, ScalarParam};
pub use real::{Num, Real};
pub use view::{same_data, Indices, IntoView, Rows, View};
