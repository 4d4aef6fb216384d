//! The posterior variance `k(t, t) - k_t^T (K + noise I)^-1 k_t`: exact (a Cholesky factor, or
//! conjugate gradients with `k_t` as right-hand sides), or fast from a Lanczos cache (GPyTorch's
//! LOVE, Pleiss et al. 2018).
//!
//! The cache: `r` steps of Lanczos on `K^ = K + noise I` (fully reorthogonalised) give `Q` with
//! orthonormal columns and `T = Q^T K^ Q`; `K^-1 ~ Q T^-1 Q^T = R R^T`, `R = Q L^-T`. The
//! variance reduction `k_t^T Q T^-1 Q^T k_t` is the exact one restricted to the Krylov space,
//! hence never larger: the fast variances are upper bounds of the exact ones (conservative),
//! and the cache grows until the bound is tight on sampled test points.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::error::GpError;
use super::kernels::bind_kernel;
use super::model::Posterior;
use crate::{IntoView, View};

/// How [`Posterior::predict_variance_with`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Variance {
    /// Exact up to the solver's tolerance: the Cholesky factor of the dense path, or conjugate
    /// gradients with `k_t` as right-hand sides (by blocks of 64 test points): for up to a few
    /// thousand test points.
    #[default]
    Exact,
    /// From a Lanczos cache of `K + noise I` built once and reused for every test point (one
    /// product of `K_tx` with the cache per call): upper bounds of the exact variances. The
    /// cache's rank grows by blocks of 32 until the variances of 64 test points (at a stride of
    /// the first call's) are within half of `tolerance` times the signal variance of the exact
    /// ones, up to `max_rank`; the other points are then typically within `tolerance` (smooth
    /// kernels converge fastest; a rough one, the Laplacian, may need a larger rank).
    Fast {
        /// Absolute error allowed, relative to the signal variance.
        tolerance: f64,
        /// Lanczos steps at most.
        max_rank: usize,
    },
}

/// Test points per block of an exact solve.
const BLOCK: usize = 64;

impl Posterior {
    /// The posterior variance of `f(t)` at each test point (exact: [`Variance::Exact`]); never
    /// negative. Add the noise variance for the variance of a new observation.
    pub fn predict_variance<'t>(&self, t: impl IntoView<'t, f64>) -> Result<Vec<f64>, GpError> {
        self.predict_variance_with(t, Variance::Exact)
    }

    /// [`predict_variance`](Self::predict_variance) in the given mode.
    pub fn predict_variance_with<'t>(
        &self,
        t: impl IntoView<'t, f64>,
        mode: Variance,
    ) -> Result<Vec<f64>, GpError> {
        let ts = self.scaled_test(t)?;
        let reduction = match mode {
            Variance::Exact => self.exact_reduction(&ts)?,
            Variance::Fast {
                tolerance,
                max_rank,
            } => self.lanczos_reduction(&ts, tolerance, max_rank)?,
        };
        let v = self.hyper.variance;
        Ok(reduction.iter().map(|r| (v - r).max(0.0)).collect())
    }

    /// `K_xt` for a block of scaled test points, column-major `(n, m)`.
    fn cross(&self, ts: &View<'static, f64>) -> Result<DMatrix<f64>, GpError> {
        let h = &self.hyper;
        let k = bind_kernel(h.family, h.variance, self.xs.clone(), ts.clone())?;
        let cols: Vec<usize> = (0..ts.rows()).collect();
        let mut out = vec![0.0; self.xs.rows() * cols.len()];
        k.columns_into(&cols, &mut out)?;
        Ok(DMatrix::from_vec(self.xs.rows(), cols.len(), out))
    }

    /// `k_t^T K^-1 k_t` for every test point, exactly.
    fn exact_reduction(&self, ts: &View<'static, f64>) -> Result<Vec<f64>, GpError> {
        let dim = ts.dim();
        let mut out = Vec::with_capacity(ts.rows());
        for block in ts.as_slice().chunks(BLOCK * dim) {
            let tb = View::from_vec(block.to_vec(), dim)?;
            let kxt = self.cross(&tb)?;
            let solved = match &self.factor {
                Some(chol) => chol.solve(&kxt),
                None => {
                    let cols: Vec<Vec<f64>> =
                        kxt.column_iter().map(|c| c.as_slice().to_vec()).collect();
                    let sol = self.process().solve_columns(&self.hyper, &self.xs, &cols)?;
                    DMatrix::from_fn(kxt.nrows(), kxt.ncols(), |i, j| sol[j][i])
                }
            };
            out.extend((0..kxt.ncols()).map(|j| kxt.column(j).dot(&solved.column(j))));
        }
        Ok(out)
    }
}

/// Krylov block size and the number of test points the cache's accuracy is checked on.
const LANCZOS_BLOCK: usize = 32;
const CHECKED: usize = 64;

/// The Lanczos cache `R` (`K^-1 ~ R R^T`, `n x r`) and the tolerance it was checked to.
#[derive(Debug)]
pub(crate) struct LanczosCache {
    r: DMatrix<f64>,
    tolerance: f64,
}

impl Posterior {
    /// `k_t^T R R^T k_t` with a cache tight to `tolerance` (built on first use, reused after).
    fn lanczos_reduction(
        &self,
        ts: &View<'static, f64>,
        tolerance: f64,
        max_rank: usize,
    ) -> Result<Vec<f64>, GpError> {
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.as_ref().is_none_or(|c| c.tolerance > tolerance) {
            *cache = Some(self.build_cache(ts, tolerance, max_rank)?);
        }
        let r = &cache.as_ref().expect("just built").r;
        self.cached_reduction(ts, r)
    }

    /// `|R^T k_t|^2` per test point: one product of `K_tx` with the cache's columns.
    fn cached_reduction(
        &self,
        ts: &View<'static, f64>,
        r: &DMatrix<f64>,
    ) -> Result<Vec<f64>, GpError> {
        let h = &self.hyper;
        let k = bind_kernel(h.family, h.variance, ts.clone(), self.xs.clone())?;
        let rank = r.ncols();
        if rank == 0 {
            return Ok(vec![0.0; ts.rows()]);
        }
        let rows: Vec<f64> = (0..r.nrows())
            .flat_map(|i| r.row(i).iter().copied().collect::<Vec<_>>())
            .collect();
        let kr = k.matvec(View::new(&rows, rank)?)?;
        Ok(kr
            .as_slice()
            .par_chunks(rank)
            .map(|row| row.iter().map(|v| v * v).sum())
            .collect())
    }

    /// Block Lanczos from the columns of `K` at a stride of the training points, grown until
    /// the variances of sampled test points are within half of `tolerance` of the exact ones.
    fn build_cache(
        &self,
        ts: &View<'static, f64>,
        tolerance: f64,
        max_rank: usize,
    ) -> Result<LanczosCache, GpError> {
        let h = &self.hyper;
        let n = self.xs.rows();
        let max_rank = max_rank.clamp(1, n);
        let km = bind_kernel(h.family, h.variance, self.xs.clone(), self.xs.clone())?;
        let stride = n.div_ceil(LANCZOS_BLOCK).max(1);
        let start: Vec<usize> = (0..n).step_by(stride).collect();
        let mut v = vec![0.0; n * start.len()];
        km.columns_into(&start, &mut v)?;
        let mut block = DMatrix::from_vec(n, start.len(), v);
        let checked = sample_rows(ts, CHECKED)?;
        let exact = self.exact_reduction(&checked)?;
        let kxc = self.cross(&checked)?;
        let mut q = DMatrix::<f64>::zeros(n, 0);
        let mut t = DMatrix::<f64>::zeros(0, 0);
        // Q^T k_t for the checked points, grown with Q.
        let mut qk = DMatrix::<f64>::zeros(0, kxc.ncols());
        loop {
            let fresh = orthonormalise(&q, block, max_rank - q.ncols());
            if fresh.ncols() == 0 {
                break;
            }
            let kv = shifted_product(&km, h.noise, &fresh)?;
            t = extend_projection(&t, &q, &fresh, &kv);
            qk = stack_rows(qk, &(fresh.transpose() * &kxc));
            q = append_columns(q, &fresh);
            let worst = match nalgebra::Cholesky::new(t.clone()) {
                Some(c) => {
                    let y = c.l().solve_lower_triangular(&qk).expect("nonzero diagonal");
                    exact
                        .iter()
                        .zip(y.column_iter())
                        .map(|(e, y)| e - y.norm_squared())
                        .fold(0.0, f64::max)
                }
                None => f64::INFINITY,
            };
            if worst <= 0.5 * tolerance * h.variance || q.ncols() >= max_rank {
                break;
            }
            block = kv;
        }
        Ok(LanczosCache {
            r: cache_factor(&q, &t),
            tolerance,
        })
    }
}

fn stack_rows(a: DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let r = a.nrows();
    let mut out = a.resize_vertically(r + b.nrows(), 0.0);
    out.view_mut((r, 0), b.shape()).copy_from(b);
    out
}

/// Up to `m` test points at a regular stride.
fn sample_rows(ts: &View<'static, f64>, m: usize) -> Result<View<'static, f64>, GpError> {
    let stride = ts.rows().div_ceil(m).max(1);
    let rows = (0..ts.rows())
        .step_by(stride)
        .flat_map(|i| ts.row(i).to_vec());
    Ok(View::from_vec(rows.collect(), ts.dim())?)
}

/// The columns of `v` made orthonormal and orthogonal to `q` (Gram-Schmidt twice), dropping the
/// ones that are (numerically) in the span already; at most `room` of them.
fn orthonormalise(q: &DMatrix<f64>, mut v: DMatrix<f64>, room: usize) -> DMatrix<f64> {
    for _ in 0..2 {
        if q.ncols() > 0 {
            let proj = q.transpose() * &v;
            v -= q * proj;
        }
    }
    let scale = v.column_iter().map(|c| c.norm()).fold(0.0, f64::max);
    let mut kept: Vec<DVector<f64>> = Vec::new();
    for c in v.column_iter() {
        let mut c = c.into_owned();
        for _ in 0..2 {
            for k in &kept {
                let d = k.dot(&c);
                c.axpy(-d, k, 1.0);
            }
        }
        let norm = c.norm();
        if norm > 1e-10 * scale && kept.len() < room {
            kept.push(c / norm);
        }
    }
    if kept.is_empty() {
        return DMatrix::zeros(q.nrows(), 0);
    }
    DMatrix::from_columns(&kept)
}

/// `(K + noise I) v` for the columns of `v`.
fn shifted_product(
    km: &super::DynKernelMatrix<f64>,
    noise: f64,
    v: &DMatrix<f64>,
) -> Result<DMatrix<f64>, GpError> {
    let (n, b) = v.shape();
    let rows: Vec<f64> = (0..n)
        .flat_map(|i| v.row(i).iter().copied().collect::<Vec<_>>())
        .collect();
    let kv = km.matvec(View::new(&rows, b)?)?;
    Ok(DMatrix::from_fn(n, b, |i, j| {
        kv[i * b + j] + noise * v[(i, j)]
    }))
}

/// `[Q V]^T K^ [Q V]` from `T = Q^T K^ Q` and `K^ V` (symmetric).
fn extend_projection(
    t: &DMatrix<f64>,
    q: &DMatrix<f64>,
    v: &DMatrix<f64>,
    kv: &DMatrix<f64>,
) -> DMatrix<f64> {
    let (r, b) = (q.ncols(), v.ncols());
    let qkv = q.transpose() * kv;
    let vkv = v.transpose() * kv;
    let mut out = DMatrix::zeros(r + b, r + b);
    out.view_mut((0, 0), (r, r)).copy_from(t);
    out.view_mut((0, r), (r, b)).copy_from(&qkv);
    out.view_mut((r, 0), (b, r)).copy_from(&qkv.transpose());
    out.view_mut((r, r), (b, b))
        .copy_from(&((&vkv + vkv.transpose()) * 0.5));
    out
}

fn append_columns(q: DMatrix<f64>, v: &DMatrix<f64>) -> DMatrix<f64> {
    let r = q.ncols();
    let mut out = q.resize_horizontally(r + v.ncols(), 0.0);
    out.view_mut((0, r), v.shape()).copy_from(v);
    out
}

/// `R = Q L^-T` for `T = L L^T` (`T` is positive definite: a projection of `K^`).
fn cache_factor(q: &DMatrix<f64>, t: &DMatrix<f64>) -> DMatrix<f64> {
    match nalgebra::Cholesky::new(t.clone()) {
        Some(c) => {
            // R^T = L^-1 Q^T.
            let rt = c
                .l()
                .solve_lower_triangular(&q.transpose())
                .expect("a Cholesky factor has a nonzero diagonal");
            rt.transpose()
        }
        None => DMatrix::zeros(q.nrows(), 0),
    }
}
