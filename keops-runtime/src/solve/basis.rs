//! The Nyström preconditioner's `n x m` basis (`C` or `L`) and the thin products with it.

use nalgebra::{DMatrix, DMatrixView};
use rayon::prelude::*;

use crate::{KeopsError, LinearOperator, Real};

/// Rows per parallel task of the thin products.
pub(super) const ROWS: usize = 2048;

/// The `n x m` basis, column-major: in f64, or in f32 for f32 data (half the memory and the
/// bandwidth of every application; the kernel's entries have no more precision than that, and
/// the factor is formed from the rounded basis, so the preconditioner stays exactly SPD).
#[derive(Debug)]
pub(super) enum Basis {
    /// f64 entries.
    F64(Vec<f64>),
    /// f32 entries (f32 data).
    F32(Vec<f32>),
}

/// An entry type of the basis.
pub(super) trait Entry: Copy + Send + Sync + Into<f64> {}
impl Entry for f32 {}
impl Entry for f64 {}

/// `$body` with `$b` the basis's entries, of either type.
macro_rules! with_basis {
    ($basis:expr, |$b:ident| $body:expr) => {
        match $basis {
            Basis::F64($b) => $body,
            Basis::F32($b) => $body,
        }
    };
}
pub(super) use with_basis;

impl Basis {
    pub(super) fn new(values: Vec<f64>, f32_data: bool) -> Basis {
        if f32_data {
            Basis::F32(values.into_iter().map(|v| v as f32).collect())
        } else {
            Basis::F64(values)
        }
    }
    pub(super) fn bytes(&self) -> usize {
        with_basis!(self, |b| b.len() * entry_size(b))
    }
}

/// Entry `i` of a basis, in f64.
pub(super) fn entry<S: Entry>(b: &[S], i: usize) -> f64 {
    b[i].into()
}

/// Bytes per entry of a basis.
fn entry_size<S>(_: &[S]) -> usize {
    size_of::<S>()
}

/// Columns `cols` of `A` as a basis: evaluated a few at a time for an f32 basis, which never
/// holds them all in f64.
pub(super) fn columns<T: Real, A: LinearOperator<T> + ?Sized>(
    op: &A,
    cols: &[usize],
    f32_data: bool,
) -> Result<Basis, KeopsError> {
    let n = op.nrows();
    if !f32_data {
        let mut c = vec![0.0; n * cols.len()];
        op.columns(cols, &mut c)?;
        return Ok(Basis::F64(c));
    }
    let mut out = Vec::with_capacity(n * cols.len());
    let mut buf = vec![0.0; n * cols.len().min(16)];
    for group in cols.chunks(16) {
        let b = &mut buf[..n * group.len()];
        op.columns(group, b)?;
        out.extend(b.iter().map(|&v| v as f32));
    }
    Ok(Basis::F32(out))
}

/// Below this many rows or columns nalgebra's `gemm` takes its generic path instead of
/// matrixmultiply's, which trips a debug assertion on these strided views: plain loops instead.
const SMALL: usize = 8;

/// `B^T B` for `B` (`n x m`, column-major), by blocks of rows in parallel, each widened to f64
/// (`gemm`).
pub(super) fn gram<S: Entry>(b: &[S], n: usize, m: usize) -> DMatrix<f64> {
    if m == 0 {
        return DMatrix::zeros(0, 0);
    }
    (0..n.div_ceil(ROWS))
        .into_par_iter()
        .fold(
            || (DMatrix::zeros(m, m), Vec::new()),
            |(mut g, mut part), t| {
                let i0 = t * ROWS;
                let rows = ROWS.min(n - i0);
                // Rows i0.. of B in f64, (rows x m) column-major.
                part.clear();
                for j in 0..m {
                    part.extend(b[j * n + i0..j * n + i0 + rows].iter().map(|&v| v.into()));
                }
                if m <= SMALL || rows <= SMALL {
                    for a in 0..m {
                        let ca = &part[a * rows..(a + 1) * rows];
                        for c in 0..=a {
                            let cc = &part[c * rows..(c + 1) * rows];
                            let v: f64 = ca.iter().zip(cc).map(|(x, y)| x * y).sum();
                            g[(a, c)] += v;
                            if c != a {
                                g[(c, a)] += v;
                            }
                        }
                    }
                    return (g, part);
                }
                let block = DMatrixView::from_slice(&part, rows, m);
                let block_t = DMatrixView::from_slice_with_strides(&part, m, rows, rows, 1);
                g.gemm(1.0, &block_t, &block, 1.0);
                (g, part)
            },
        )
        .map(|(g, _)| g)
        .reduce(|| DMatrix::zeros(m, m), |a, b| a + b)
}

/// `o -= B w` on the rows `i0..` of `B` (`n x w.len() / k`, column-major) that the block `o`
/// (`(rows, k)` row-major) holds, `w` being `(m, k)` row-major: one pass over each basis column.
pub(super) fn sub_rows<S: Entry>(b: &[S], n: usize, i0: usize, w: &[f64], k: usize, o: &mut [f64]) {
    let rows = o.len() / k;
    for (j, wj) in w.chunks_exact(k).enumerate() {
        let cj = &b[j * n + i0..j * n + i0 + rows];
        if k == 1 {
            let wj = wj[0];
            for (o, &c) in o.iter_mut().zip(cj) {
                *o -= c.into() * wj;
            }
        } else {
            for (o, &c) in o.chunks_exact_mut(k).zip(cj) {
                for (o, w) in o.iter_mut().zip(wj) {
                    *o -= c.into() * w;
                }
            }
        }
    }
}
