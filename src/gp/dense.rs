//! The exact path for small sets: `K^ = K + noise I` formed densely (from the formula's
//! entries) and factored by Cholesky. The tests' reference, and the default up to
//! [`DENSE_MAX`](super::DENSE_MAX) points.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::cholesky::Factor;
use super::error::GpError;
use super::kernel::scaled;
use super::kernels::{bind_kernel, bind_log_lengthscale_derivative};
use super::likelihood::{profile_means, Data, Hyper, Terms};
use crate::View;

/// The dense symmetric matrix of a kernel matrix over `x` (column-major, `n x n`).
fn dense(m: &super::DynKernelMatrix<f64>) -> Result<DMatrix<f64>, GpError> {
    let n = m.nrows();
    let cols: Vec<usize> = (0..n).collect();
    let mut out = vec![0.0; n * n];
    m.columns_into(&cols, &mut out)?;
    Ok(DMatrix::from_vec(n, n, out))
}

/// The Cholesky factor of `K + noise I` over the scaled points.
pub(crate) fn factor(h: &Hyper, xs: &View<'static, f64>) -> Result<Factor, GpError> {
    let mut k = dense(&bind_kernel(h.family, h.variance, xs.clone(), xs.clone())?)?;
    for i in 0..k.nrows() {
        k[(i, i)] += h.noise;
    }
    Factor::new(k).ok_or_else(|| GpError::Singular { at: h.describe() })
}

/// Every term of the log marginal likelihood and its gradient, exactly.
pub(crate) fn terms(h: &Hyper, d: &Data<'_>) -> Result<Terms, GpError> {
    let xs = scaled(d.x, &h.lengthscales)?;
    let n = xs.rows();
    let chol = factor(h, &xs)?;
    let log_det = chol.log_det();
    let ys: Vec<Vec<f64>> = (0..d.k).map(|c| d.column(c)).collect();
    let solve = |v: &[f64]| chol.solve_vec(v);
    let mut ky: Vec<Vec<f64>> = ys.iter().map(|y| solve(y)).collect();
    let k1 = d.constant_mean.then(|| solve(&vec![1.0; n]));
    let (means, quad, a_squares) = profile_means(&mut ky, k1.as_deref(), &ys);
    let w = chol.inverse();
    let trace_inverse = w.diagonal().sum();
    let r = dense(&bind_log_lengthscale_derivative(
        h.family,
        h.variance,
        xs.clone(),
        xs.clone(),
    )?)?;
    let (trace_lengthscale, data_lengthscale) = if h.isotropic {
        let trace = w.component_mul(&r).sum();
        let data = ky.iter().map(|a| quadratic(&r, a)).sum();
        (vec![trace], vec![data])
    } else {
        per_dimension(&w, &r, &xs, &ky)
    };
    Ok(Terms {
        n,
        noise: h.noise,
        quad,
        a_squares,
        log_det,
        trace_inverse,
        trace_lengthscale,
        data_lengthscale,
        means,
    })
}

/// `a^T M a` for a symmetric `M`.
fn quadratic(m: &DMatrix<f64>, a: &[f64]) -> f64 {
    let a = DVector::from_column_slice(a);
    a.dot(&(m * &a))
}

/// `tr(W G_d)` and `sum_c a_c^T G_d a_c` for each dimension, where `G_d` (the derivative with
/// respect to `log l_d`) is `R (x~_id - y~_jd)^2 / r^2` entrywise, `R` the isotropic one.
fn per_dimension(
    w: &DMatrix<f64>,
    r: &DMatrix<f64>,
    xs: &View<'_, f64>,
    a: &[Vec<f64>],
) -> (Vec<f64>, Vec<f64>) {
    let (n, dim) = (xs.rows(), xs.dim());
    let zero = || (vec![0.0; dim], vec![0.0; dim]);
    (0..n)
        .into_par_iter()
        .fold(zero, |(mut tr, mut data), j| {
            for i in 0..n {
                let delta: Vec<f64> = xs
                    .row(i)
                    .iter()
                    .zip(xs.row(j))
                    .map(|(p, q)| p - q)
                    .collect();
                let r2: f64 = delta.iter().map(|d| d * d).sum();
                if r2 == 0.0 {
                    continue;
                }
                let f = r[(i, j)] / r2;
                let aa: f64 = a.iter().map(|a| a[i] * a[j]).sum();
                for (q, dq) in delta.iter().enumerate() {
                    let g = f * dq * dq;
                    tr[q] += w[(i, j)] * g;
                    data[q] += aa * g;
                }
            }
            (tr, data)
        })
        .reduce(zero, |(mut t1, mut d1), (t2, d2)| {
            t1.iter_mut().zip(&t2).for_each(|(a, b)| *a += b);
            d1.iter_mut().zip(&d2).for_each(|(a, b)| *a += b);
            (t1, d1)
        })
}
