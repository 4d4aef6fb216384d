//! Row-major `(N, D)` views of point sets, and the row-major results of reductions.

use std::borrow::Cow;

use crate::{KeopsError, Real};

/// A row-major `(rows, dim)` array of points: row `r` is `data[r * dim..(r + 1) * dim]`.
///
/// Borrowed when the caller's memory is already row-major, owned (packed once) otherwise, e.g. for a
/// column-major nalgebra matrix. Either way the engine reads contiguous rows.
#[derive(Debug, Clone)]
pub struct View<'a, T: Clone> {
    data: Cow<'a, [T]>,
    rows: usize,
    dim: usize,
}

impl<'a, T: Real> View<'a, T> {
    /// Views a flat row-major slice as rows of dimension `dim`.
    pub fn new(data: &'a [T], dim: usize) -> Result<Self, KeopsError> {
        if dim == 0 {
            return Err(KeopsError::ZeroDimension);
        }
        if !data.len().is_multiple_of(dim) {
            return Err(KeopsError::RaggedData {
                len: data.len(),
                dim,
            });
        }
        Ok(View {
            rows: data.len() / dim,
            data: Cow::Borrowed(data),
            dim,
        })
    }

    /// Takes ownership of a flat row-major buffer.
    pub fn from_vec(data: Vec<T>, dim: usize) -> Result<View<'static, T>, KeopsError> {
        if dim == 0 {
            return Err(KeopsError::ZeroDimension);
        }
        if !data.len().is_multiple_of(dim) {
            return Err(KeopsError::RaggedData {
                len: data.len(),
                dim,
            });
        }
        Ok(View {
            rows: data.len() / dim,
            data: Cow::Owned(data),
            dim,
        })
    }

    /// Views fixed-size points `[[T; D]]` without copying. Points of dimension 0 give a view of
    /// dimension 0, which binding rejects with [`KeopsError::ZeroDimension`].
    pub fn from_points<const D: usize>(points: &'a [[T; D]]) -> Self {
        View {
            rows: points.len(),
            data: Cow::Borrowed(points.as_flattened()),
            dim: D,
        }
    }

    /// Number of points.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Dimension of each point.
    #[inline]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The flat row-major data.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// Row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &[T] {
        &self.data[r * self.dim..(r + 1) * self.dim]
    }

    /// A view borrowing this one.
    pub fn reborrow(&self) -> View<'_, T> {
        View {
            data: Cow::Borrowed(&self.data),
            rows: self.rows,
            dim: self.dim,
        }
    }

    /// [`KeopsError::NonFinite`] naming `name` and the first NaN or infinite entry, if any.
    pub fn check_finite(&self, name: &str) -> Result<(), KeopsError> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(p) => Err(KeopsError::NonFinite {
                var: name.to_string(),
                row: p / self.dim,
                col: p % self.dim,
                value: self.data[p].to_f64(),
            }),
        }
    }
}

/// Anything that can be seen as a row-major point set: `&[T]` and `&Vec<T>` (dimension 1),
/// `&[[T; D]]` and `&Vec<[T; D]>`, a [`View`], and nalgebra matrices whose rows are points.
pub trait IntoView<'a, T: Real> {
    /// The rows, borrowed when they are already row-major.
    fn into_view(self) -> View<'a, T>;
}

impl<'a, T: Real> IntoView<'a, T> for View<'a, T> {
    fn into_view(self) -> View<'a, T> {
        self
    }
}
impl<'a, T: Real> IntoView<'a, T> for &'a View<'_, T> {
    fn into_view(self) -> View<'a, T> {
        self.reborrow()
    }
}
impl<'a, T: Real> IntoView<'a, T> for &'a [T] {
    fn into_view(self) -> View<'a, T> {
        View {
            rows: self.len(),
            data: Cow::Borrowed(self),
            dim: 1,
        }
    }
}
impl<'a, T: Real> IntoView<'a, T> for &'a Vec<T> {
    fn into_view(self) -> View<'a, T> {
        self.as_slice().into_view()
    }
}
impl<'a, T: Real, const D: usize> IntoView<'a, T> for &'a [[T; D]] {
    fn into_view(self) -> View<'a, T> {
        View::from_points(self)
    }
}
impl<'a, T: Real, const D: usize> IntoView<'a, T> for &'a Vec<[T; D]> {
    fn into_view(self) -> View<'a, T> {
        View::from_points(self.as_slice())
    }
}
impl<'a, T: Real> IntoView<'a, T> for &'a Rows<T> {
    fn into_view(self) -> View<'a, T> {
        View {
            rows: self.rows,
            data: Cow::Borrowed(&self.data),
            dim: self.dim,
        }
    }
}

#[cfg(feature = "nalgebra")]
mod nalgebra_views {
    use super::*;
    use nalgebra::{Dim, Matrix, RawStorage, Scalar};

    /// An `(N, D)` nalgebra matrix: row `r` is point `r`. nalgebra stores columns contiguously, so the
    /// rows are packed once into a row-major buffer (`N * D` values) unless `D == 1`.
    impl<'a, T, R, C, S> IntoView<'a, T> for &'a Matrix<T, R, C, S>
    where
        T: Real + Scalar,
        R: Dim,
        C: Dim,
        S: RawStorage<T, R, C>,
    {
        fn into_view(self) -> View<'a, T> {
            let (rows, dim) = self.shape();
            let mut data = Vec::with_capacity(rows * dim);
            for r in 0..rows {
                for c in 0..dim {
                    data.push(self[(r, c)]);
                }
            }
            View {
                rows,
                dim,
                data: Cow::Owned(data),
            }
        }
    }
}

#[cfg(feature = "ndarray")]
mod ndarray_views {
    use super::*;
    use ndarray::{ArrayBase, Data, Ix1, Ix2};

    /// An `(N, D)` array: row `r` is point `r`. Borrowed when in standard (row-major, contiguous)
    /// layout, packed once otherwise (a transposed or sliced view).
    impl<'a, T: Real, S: Data<Elem = T>> IntoView<'a, T> for &'a ArrayBase<S, Ix2> {
        fn into_view(self) -> View<'a, T> {
            let (rows, dim) = self.dim();
            let data = match self.as_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(self.iter().copied().collect()),
            };
            View { data, rows, dim }
        }
    }

    /// `N` points of dimension 1.
    impl<'a, T: Real, S: Data<Elem = T>> IntoView<'a, T> for &'a ArrayBase<S, Ix1> {
        fn into_view(self) -> View<'a, T> {
            let rows = self.len();
            let data = match self.as_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(self.iter().copied().collect()),
            };
            View { data, rows, dim: 1 }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use ndarray::{array, Array1};

        #[test]
        fn rows_are_points_borrowed_or_packed() {
            let a = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]];
            let v = (&a).into_view();
            assert_eq!((v.rows(), v.dim()), (2, 3));
            assert_eq!(v.row(1), [4.0, 5.0, 6.0]);
            assert!(
                matches!(v.data, Cow::Borrowed(_)),
                "standard layout is borrowed"
            );
            let t = a.t();
            let v = (&t).into_view();
            assert_eq!((v.rows(), v.dim()), (3, 2));
            assert_eq!(v.as_slice(), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
            let x: Array1<f32> = Array1::linspace(0.0, 1.0, 5);
            let strided = x.slice(ndarray::s![..;2]);
            let v = (&strided).into_view();
            assert_eq!((v.rows(), v.dim()), (3, 1));
            assert_eq!(v.as_slice(), [0.0, 0.5, 1.0]);
        }
    }
}

/// A row-major `(rows, dim)` result: one row per output index of a reduction. Values are
/// `Rows<T>`; the indices of `argmin_j`, `argkmin_j`... are `Rows<usize>` ([`Indices`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rows<T> {
    data: Vec<T>,
    rows: usize,
    dim: usize,
}

/// The indices an arg reduction returns (`argmin_j`, `argkmin_j`, the second part of
/// `min_argmin_j`...): row `o` holds, per entry, an index of the reduction variable (a `j` for a
/// reduction over j).
pub type Indices = Rows<usize>;

impl<T: Real> Rows<T> {
    /// Wraps a row-major buffer; `data.len()` must be `rows * dim`.
    pub fn from_vec(data: Vec<T>, dim: usize) -> Result<Self, KeopsError> {
        let view = View::new(&data, dim)?;
        let rows = view.rows();
        Ok(Rows { data, rows, dim })
    }
    /// As an `(rows, dim)` nalgebra matrix.
    #[cfg(feature = "nalgebra")]
    pub fn to_dmatrix(&self) -> nalgebra::DMatrix<T>
    where
        T: nalgebra::Scalar,
    {
        nalgebra::DMatrix::from_row_slice(self.rows, self.dim, &self.data)
    }
}

impl<T> Rows<T> {
    /// `rows` rows of `dim` entries from a row-major buffer of exactly that length.
    pub(crate) fn from_parts(data: Vec<T>, rows: usize, dim: usize) -> Self {
        assert_eq!(data.len(), rows * dim, "a (rows, dim) buffer");
        Rows { data, rows, dim }
    }
    pub(crate) fn filled(rows: usize, dim: usize, value: T) -> Self
    where
        T: Clone,
    {
        Rows {
            data: vec![value; rows * dim],
            rows,
            dim,
        }
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Entries per row.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Row `r`.
    pub fn row(&self, r: usize) -> &[T] {
        &self.data[r * self.dim..(r + 1) * self.dim]
    }
    /// The flat row-major data.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }
    /// The flat row-major buffer.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
}

impl<T: Real> Rows<T> {
    pub(crate) fn zeros(rows: usize, dim: usize) -> Self {
        Self::filled(rows, dim, T::ZERO)
    }
}

impl<T> std::ops::Deref for Rows<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.data
    }
}

/// Whether two views hold the same rows (the same memory, or bitwise equal values): a symmetric
/// kernel bound to them is a symmetric matrix.
pub fn same_data<T: Real>(a: &View<'_, T>, b: &View<'_, T>) -> bool {
    let (x, y) = (a.as_slice(), b.as_slice());
    a.dim() == b.dim()
        && x.len() == y.len()
        && (std::ptr::eq(x, y)
            || x.iter()
                .zip(y)
                .all(|(p, q)| p.to_f64().to_bits() == q.to_f64().to_bits()))
}
