//! Parameters: the values a formula captures from its enclosing scope, as a closure would.

use crate::{KeopsError, Real};

/// A captured parameter: a scalar (dimension 1, broadcast where a vector is needed) or a vector.
/// Held in f64 and converted to the data's precision when data is bound.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamValue {
    values: Vec<f64>,
}

impl ParamValue {
    /// A scalar.
    pub fn scalar(v: f64) -> Self {
        ParamValue { values: vec![v] }
    }
    /// A vector of `values.len()` entries.
    pub fn vector(values: Vec<f64>) -> Self {
        ParamValue { values }
    }
    /// Number of entries (1 for a scalar).
    pub fn dim(&self) -> usize {
        self.values.len()
    }
    /// The entries, in f64.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    /// The values in precision `T`, after checking they are finite and non-empty.
    pub fn to_real<T: Real>(&self, name: &str) -> Result<Vec<T>, KeopsError> {
        if self.values.is_empty() {
            return Err(KeopsError::Empty {
                var: name.to_string(),
            });
        }
        if let Some((p, v)) = self
            .values
            .iter()
            .enumerate()
            .find(|(_, v)| !T::from_f64(**v).is_finite())
        {
            return Err(KeopsError::NonFinite {
                var: name.to_string(),
                row: 0,
                col: p,
                value: *v,
            });
        }
        Ok(self.values.iter().map(|v| T::from_f64(*v)).collect())
    }
}

/// What a formula may capture as a parameter: numbers, fixed-size arrays, slices and vectors of numbers.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a formula parameter",
    note = "a parameter is a number (f32, f64, an integer) or a fixed-size array or Vec of f32/f64"
)]
pub trait IntoParam {
    /// The captured value, in f64.
    fn into_param(self) -> ParamValue;
}

/// A parameter whose dimension is checked against the formula's annotation `N`: at compile time
/// for arrays, which must have exactly `N` entries; when data is bound for `Vec`s, whose length
/// must be `N` (or 1: a scalar); scalars broadcast. An annotated parameter cannot be a slice `&[T]`:
/// capture an array or a `Vec` instead.
#[diagnostic::on_unimplemented(
    message = "parameter of type `{Self}` does not have the dimension {N} that the formula requires",
    label = "expected a scalar or an array of length {N}"
)]
pub trait ParamOfDim<const N: usize>: IntoParam {}

macro_rules! scalar_param {
    ($($t:ty),*) => {$(
        impl IntoParam for $t {
            #[inline]
            fn into_param(self) -> ParamValue {
                ParamValue::scalar(self as f64)
            }
        }
        impl IntoParam for &$t {
            #[inline]
            fn into_param(self) -> ParamValue {
                ParamValue::scalar(*self as f64)
            }
        }
        impl<const N: usize> ParamOfDim<N> for $t {}
        impl<const N: usize> ParamOfDim<N> for &$t {}
        impl ScalarParam for $t {}
        impl ScalarParam for &$t {}
    )*};
}
scalar_param!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, isize, usize);

macro_rules! vector_param {
    ($($t:ty),*) => {$(
        impl<const D: usize> IntoParam for [$t; D] {
            fn into_param(self) -> ParamValue {
                ParamValue::vector(self.iter().map(|v| *v as f64).collect())
            }
        }
        impl<const D: usize> IntoParam for &[$t; D] {
            fn into_param(self) -> ParamValue {
                ParamValue::vector(self.iter().map(|v| *v as f64).collect())
            }
        }
        impl<const D: usize> ParamOfDim<D> for [$t; D] {}
        impl<const D: usize> ParamOfDim<D> for &[$t; D] {}
        impl IntoParam for &[$t] {
            fn into_param(self) -> ParamValue {
                ParamValue::vector(self.iter().map(|v| *v as f64).collect())
            }
        }
        impl IntoParam for Vec<$t> {
            fn into_param(self) -> ParamValue {
                ParamValue::vector(self.iter().map(|v| *v as f64).collect())
            }
        }
        impl IntoParam for &Vec<$t> {
            fn into_param(self) -> ParamValue {
                ParamValue::vector(self.iter().map(|v| *v as f64).collect())
            }
        }
        // Lengths known only at run time: checked when data is bound (`DimensionMismatch`).
        impl<const N: usize> ParamOfDim<N> for Vec<$t> {}
        impl<const N: usize> ParamOfDim<N> for &Vec<$t> {}
    )*};
}
vector_param!(f32, f64);

/// A parameter the formula does not annotate: a scalar, which broadcasts. Arrays and `Vec`s must be
/// annotated with their dimension, so that a vector parameter is never mistaken for a scalar.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a scalar: a vector parameter needs its dimension in the formula",
    label = "a parameter without annotation is a scalar",
    note = "annotate the parameter with its dimension, e.g. `kernel!(c: 3 => sum_j(sqdist(x_i, c) * b_j))`"
)]
pub trait ScalarParam: IntoParam {}

/// Captures a scalar parameter `p` (used by the macro's expansion).
#[inline]
pub fn param<P: ScalarParam>(p: P) -> ParamValue {
    p.into_param()
}

/// Captures `p`, whose dimension the formula fixes to `N` (used by the macro's expansion).
#[inline]
pub fn param_of_dim<const N: usize, P: ParamOfDim<N>>(p: P) -> ParamValue {
    p.into_param()
}
