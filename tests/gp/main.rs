//! Gaussian-process regression (keops::gp) against dense references written here from the
//! kernels' closed forms (nalgebra Cholesky, f64): the log marginal likelihood and its gradient
//! (central differences of the reference), the stochastic estimates, posterior means and
//! variances, the hyperparameter fit, and the typed errors.

#[path = "../common/mod.rs"]
mod common;

use common::Rng;
use keops::gp::{Family, GaussianProcess, Kernel, Lengthscale, Mean};
use nalgebra::{DMatrix, DVector};

mod errors;
mod fit;
mod likelihood;
mod posterior;

/// Every named family.
const FAMILIES: [Family; 6] = [
    Family::Gaussian,
    Family::Laplacian,
    Family::Matern32,
    Family::Matern52,
    Family::RationalQuadratic { shape: 1.5 },
    Family::InverseMultiquadric,
];

/// `n` points in `[0, 1]^d` (row-major) and `k` smooth noisy outputs.
fn data(rng: &mut Rng, n: usize, d: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    let x = rng.vec(n * d, 0.0, 1.0);
    let mut y = Vec::with_capacity(n * k);
    for p in x.chunks_exact(d) {
        let s: f64 = p.iter().enumerate().map(|(q, v)| (q + 1) as f64 * v).sum();
        for c in 0..k {
            y.push((4.0 * s + c as f64).sin() + 0.3 * s + rng.range(-0.1, 0.1));
        }
    }
    (x, y)
}

/// The lengthscale per dimension.
fn lengthscales(kernel: &Kernel, d: usize) -> Vec<f64> {
    match &kernel.lengthscale {
        Lengthscale::Isotropic(l) => vec![*l; d],
        Lengthscale::PerDimension(l) => l.clone(),
    }
}

/// `K + noise I` from the closed form of the family.
fn dense_covariance(gp: &GaussianProcess, x: &[f64], d: usize) -> DMatrix<f64> {
    let n = x.len() / d;
    let l = lengthscales(&gp.kernel, d);
    DMatrix::from_fn(n, n, |i, j| {
        let r2: f64 = (0..d)
            .map(|q| ((x[i * d + q] - x[j * d + q]) / l[q]).powi(2))
            .sum();
        let k = gp.kernel.variance * gp.kernel.family.profile(r2.sqrt());
        if i == j {
            k + gp.noise
        } else {
            k
        }
    })
}

/// The log marginal likelihood, densely: the constant mean by generalised least squares.
fn reference_lml(gp: &GaussianProcess, x: &[f64], d: usize, y: &[f64], k: usize) -> f64 {
    let n = x.len() / d;
    let chol = dense_covariance(gp, x, d)
        .cholesky()
        .expect("positive definite");
    let log_det = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let ones = DVector::from_element(n, 1.0);
    let k1 = chol.solve(&ones);
    let mut value = 0.0;
    for c in 0..k {
        let yc = DVector::from_iterator(n, y.iter().skip(c).step_by(k).copied());
        let m = match gp.mean {
            Mean::Constant => ones.dot(&chol.solve(&yc)) / ones.dot(&k1),
            Mean::Zero => 0.0,
        };
        let r = yc.add_scalar(-m);
        value += -0.5 * r.dot(&chol.solve(&r));
    }
    value - 0.5 * k as f64 * log_det - 0.5 * (n * k) as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// The gradient of the reference with respect to the log hyperparameters, by central
/// differences (step 1e-5 in the logs).
fn reference_gradient(gp: &GaussianProcess, x: &[f64], d: usize, y: &[f64], k: usize) -> Vec<f64> {
    let theta = log_parameters(gp);
    (0..theta.len())
        .map(|q| {
            let h = 1e-5;
            let at = |s: f64| {
                let mut t = theta.clone();
                t[q] += s;
                reference_lml(&with_log_parameters(gp, &t), x, d, y, k)
            };
            (at(h) - at(-h)) / (2.0 * h)
        })
        .collect()
}

fn log_parameters(gp: &GaussianProcess) -> Vec<f64> {
    let mut t: Vec<f64> = match &gp.kernel.lengthscale {
        Lengthscale::Isotropic(l) => vec![l.ln()],
        Lengthscale::PerDimension(l) => l.iter().map(|l| l.ln()).collect(),
    };
    t.extend([gp.kernel.variance.ln(), gp.noise.ln()]);
    t
}

fn with_log_parameters(gp: &GaussianProcess, t: &[f64]) -> GaussianProcess {
    let mut gp = gp.clone();
    let q = t.len() - 2;
    gp.kernel.lengthscale = match gp.kernel.lengthscale {
        Lengthscale::Isotropic(_) => Lengthscale::Isotropic(t[0].exp()),
        Lengthscale::PerDimension(_) => {
            Lengthscale::PerDimension(t[..q].iter().map(|t| t.exp()).collect())
        }
    };
    gp.kernel.variance = t[q].exp();
    gp.noise = t[q + 1].exp();
    gp
}

/// `|got - want| <= tol * scale` entrywise, with a message naming the case.
fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (q, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}: entry {q}: got {g:.10e}, want {w:.10e} (tolerance {tol:e} x {scale:.3e})"
        );
    }
}
