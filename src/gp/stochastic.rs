//! The matrix-free path: one batched preconditioned conjugate gradient solves `K^ = K + noise I`
//! for the targets, the ones (a constant mean) and `probes` Gaussian probes `z ~ N(0, M)` drawn
//! from the Nyström preconditioner `M` (GPyTorch's recipe, Gardner et al. 2018):
//! - `log det K^ = log det M + log det(M^-1/2 K^ M^-1/2)`: the first exactly, the second by
//!   stochastic Lanczos quadrature, `E[|M^-1/2 z|^2 e1^T log(T_z) e1]` with the tridiagonal
//!   `T_z` the probe's CG coefficients define;
//! - `tr(K^-1 X) = E[(M^-1 z)^T X K^-1 z]` for the lengthscale derivatives `X`, whose products
//!   come from the compiler's `grad` of the kernel; for `X = I`, `tr(M^-1)` exactly plus
//!   `E[(M^-1 z)^T (K^-1 z - M^-1 z)]` (what `M` misses: a much smaller variance).

use std::sync::Mutex;

use keops_runtime::{batched_cg, Landmarks, Nystrom, NystromPreconditioner, Preconditioner, View};

use super::error::GpError;
use super::kernel::scaled;
use super::kernels::{bind_kernel, bind_log_lengthscale_derivative, log_lengthscale_products};
use super::likelihood::{interleave, profile_means, split, Data, Hyper, Terms};

/// Iterations of a probe's solve at most (the tridiagonal's size).
const MAX_ITERATIONS: usize = 1000;

/// The landmarks of the preconditioners of one hyperparameter fit: chosen greedily at its first
/// evaluation, then kept, so that the estimates are smooth functions of the hyperparameters
/// (greedy landmarks move with them, and the estimates jump by their sampling error).
#[derive(Debug, Default)]
pub(crate) struct SharedLandmarks(Mutex<Option<Vec<usize>>>);

/// Every term of the log marginal likelihood and its gradient, estimated; on the `shared`
/// landmarks if given.
pub(crate) fn terms(
    h: &Hyper,
    d: &Data<'_>,
    probes: usize,
    seed: u64,
    tolerance: f64,
    shared: Option<&SharedLandmarks>,
) -> Result<Terms, GpError> {
    let xs = scaled(d.x, &h.lengthscales)?;
    let n = xs.rows();
    let km = bind_kernel(h.family, h.variance, xs.clone(), xs.clone())?;
    let m = preconditioner(&km, h.noise, shared)?;
    let probes = probes.max(1);
    let z = m.sample(probes, seed);
    // Columns: the targets, the ones (constant mean), then the probes.
    let ys: Vec<Vec<f64>> = (0..d.k).map(|c| d.column(c)).collect();
    let mut columns = ys.clone();
    if d.constant_mean {
        columns.push(vec![1.0; n]);
    }
    let first_probe = columns.len();
    columns.extend((0..probes).map(|p| z.iter().skip(p).step_by(probes).copied().collect()));
    let b = interleave(&columns, n);
    let q = columns.len();
    let solved = batched_cg(&km, h.noise, &b, q, Some(&m), tolerance, MAX_ITERATIONS)?;
    let mut x = split(&solved.solutions, q);
    let u = x.split_off(first_probe);
    let k1 = d.constant_mean.then(|| x.pop().expect("the ones column"));
    let (means, quad, a_squares) = profile_means(&mut x, k1.as_deref(), &ys);
    // w_p = M^-1 z_p.
    let mut w = vec![0.0; n * probes];
    m.apply(&z, probes, &mut w);
    let w = split(&w, probes);
    let pf = probes as f64;
    let log_det = m.log_det()
        + (first_probe..q)
            .map(|c| solved.initial_rz[c] * solved.tridiagonals[c].quadrature(f64::ln))
            .sum::<f64>()
            / pf;
    // tr(M^-1) exactly, the probes only for what M misses: E[w^T (K^-1 z - w)].
    let correction: f64 = w.iter().zip(&u).map(|(w, u)| dot(w, u) - dot(w, w)).sum();
    let trace_inverse = m.trace_inverse() + correction / pf;
    let (trace_lengthscale, data_lengthscale) = lengthscale_terms(h, &xs, &w, &u, &x)?;
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

/// Nyström with greedy landmarks and the automatic rank (exact log determinant and sampling),
/// or on the `shared` ones once chosen; the scaled identity `noise I` when the kernel gives it
/// nothing (or it cannot be built).
fn preconditioner(
    km: &super::DynKernelMatrix<f64>,
    noise: f64,
    shared: Option<&SharedLandmarks>,
) -> Result<NystromPreconditioner, GpError> {
    let nystrom = Nystrom::new().landmarks(Landmarks::Greedy);
    let mut kept = shared.map(|s| s.0.lock().expect("not poisoned"));
    if let Some(Some(landmarks)) = kept.as_deref() {
        if let Ok(m) = nystrom.build_on(km, noise, landmarks) {
            return Ok(m);
        }
    }
    let m = match nystrom.build(km, noise) {
        Ok(m) => m,
        Err(_) => Nystrom::new()
            .landmarks(Landmarks::Greedy)
            .rank(0)
            .build(km, noise)?,
    };
    if let Some(kept) = kept.as_deref_mut() {
        *kept = Some(m.landmarks().to_vec());
    }
    Ok(m)
}

/// The estimates of `tr(K^-1 G)` and `sum_c a_c^T G a_c` for each lengthscale derivative `G`:
/// an isotropic one by products with its kernel matrix (all columns at once), one per dimension
/// by the per-dimension reduction (one column at a time).
fn lengthscale_terms(
    h: &Hyper,
    xs: &View<'static, f64>,
    w: &[Vec<f64>],
    u: &[Vec<f64>],
    a: &[Vec<f64>],
) -> Result<(Vec<f64>, Vec<f64>), GpError> {
    let pf = w.len() as f64;
    let n = xs.rows();
    if h.isotropic {
        let r = bind_log_lengthscale_derivative(h.family, h.variance, xs.clone(), xs.clone())?;
        let cols: Vec<Vec<f64>> = u.iter().chain(a).cloned().collect();
        let q = cols.len();
        let ru = split(
            r.matvec(View::new(&interleave(&cols, n), q)?)?.as_slice(),
            q,
        );
        let trace = w.iter().zip(&ru).map(|(w, ru)| dot(w, ru)).sum::<f64>() / pf;
        let data = a.iter().zip(&ru[u.len()..]).map(|(a, ra)| dot(a, ra)).sum();
        return Ok((vec![trace], vec![data]));
    }
    let dim = xs.dim();
    let (mut trace, mut data) = (vec![0.0; dim], vec![0.0; dim]);
    let accumulate = |left: &[f64], right: &[f64], acc: &mut [f64], scale: f64| {
        let g = log_lengthscale_products(h.family, h.variance, xs, xs, right)?;
        for (l, row) in left.iter().zip(g.chunks_exact(dim)) {
            acc.iter_mut()
                .zip(row)
                .for_each(|(acc, g)| *acc += scale * l * g);
        }
        Ok::<(), GpError>(())
    };
    for (w, u) in w.iter().zip(u) {
        accumulate(w, u, &mut trace, 1.0 / pf)?;
    }
    for a in a {
        accumulate(a, a, &mut data, 1.0)?;
    }
    Ok((trace, data))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}
