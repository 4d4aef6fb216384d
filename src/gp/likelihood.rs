//! The log marginal likelihood and its gradient with respect to the log hyperparameters, from
//! the few scalars both paths compute (the dense one exactly, the matrix-free one by stochastic
//! estimates): `log p(y) = -1/2 sum_c r_c^T a_c - k/2 log det K^ - n k/2 log 2 pi`, with
//! `K^ = K + noise I`, `r_c = y_c - m_c` and `a_c = K^-1 r_c` for each of the `k` outputs.

use std::f64::consts::PI;

/// What the log marginal likelihood and its gradient are made of.
#[derive(Debug, Clone)]
pub(crate) struct Terms {
    /// Points `n`.
    pub n: usize,
    /// The noise variance.
    pub noise: f64,
    /// `r_c^T a_c` per output.
    pub quad: Vec<f64>,
    /// `|a_c|^2` per output.
    pub a_squares: Vec<f64>,
    /// `log det K^`.
    pub log_det: f64,
    /// `tr K^-1`.
    pub trace_inverse: f64,
    /// `tr(K^-1 dK / dlog l_d)` per lengthscale (one for an isotropic one).
    pub trace_lengthscale: Vec<f64>,
    /// `sum_c a_c^T (dK / dlog l_d) a_c` per lengthscale.
    pub data_lengthscale: Vec<f64>,
    /// The constant means `m_c` (zeros for a zero mean).
    pub means: Vec<f64>,
}

/// The log marginal likelihood at some hyperparameters, its gradient with respect to their logs
/// (the lengthscale(s), then the signal variance, then the noise variance), and the constant
/// mean per output that maximises it (zeros for a zero mean).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLikelihood {
    /// `log p(y | X, theta)`, summed over the outputs.
    pub value: f64,
    /// `d log p / d log theta_q`.
    pub gradient: Vec<f64>,
    /// The mean of each output (the generalised least-squares constant, or 0).
    pub means: Vec<f64>,
}

impl Terms {
    /// The log marginal likelihood and its gradient.
    pub fn assemble(&self) -> LogLikelihood {
        let k = self.quad.len() as f64;
        let n = self.n as f64;
        let quad: f64 = self.quad.iter().sum();
        let a2: f64 = self.a_squares.iter().sum();
        let value = -0.5 * quad - 0.5 * k * self.log_det - 0.5 * n * k * (2.0 * PI).ln();
        let mut gradient: Vec<f64> = self
            .data_lengthscale
            .iter()
            .zip(&self.trace_lengthscale)
            .map(|(data, trace)| 0.5 * data - 0.5 * k * trace)
            .collect();
        // dK^ / dlog v = K^ - noise I, dK^ / dlog noise = noise I.
        let s = self.noise;
        gradient.push(0.5 * (quad - s * a2) - 0.5 * k * (n - s * self.trace_inverse));
        gradient.push(0.5 * s * a2 - 0.5 * k * s * self.trace_inverse);
        LogLikelihood {
            value,
            gradient,
            means: self.means.clone(),
        }
    }
}

/// The hyperparameters of one evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Hyper {
    pub family: super::Family,
    /// One per dimension (repeated for an isotropic lengthscale).
    pub lengthscales: Vec<f64>,
    /// One lengthscale for every dimension (one gradient entry for it).
    pub isotropic: bool,
    pub variance: f64,
    pub noise: f64,
}

impl Hyper {
    /// `name = value` pairs, for error messages.
    pub fn describe(&self) -> String {
        let l = if self.isotropic {
            format!("lengthscale = {:e}", self.lengthscales[0])
        } else {
            let l: Vec<String> = self.lengthscales.iter().map(|l| format!("{l:e}")).collect();
            format!("lengthscales = [{}]", l.join(", "))
        };
        format!(
            "{l}, signal variance = {:e}, noise variance = {:e}",
            self.variance, self.noise
        )
    }
}

/// The training data: points, targets `(n, k)` row-major, and whether a constant mean is fitted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Data<'a> {
    pub x: &'a keops_runtime::View<'a, f64>,
    pub y: &'a [f64],
    pub k: usize,
    pub constant_mean: bool,
}

impl Data<'_> {
    /// Column `c` of the targets.
    pub fn column(&self, c: usize) -> Vec<f64> {
        self.y.iter().skip(c).step_by(self.k).copied().collect()
    }
}

/// The constant means `m_c = 1^T K^-1 y_c / 1^T K^-1 1` (generalised least squares) and
/// `a_c = K^-1 y_c - m_c K^-1 1`, from the solves `K^-1 y_c` and `K^-1 1` (`None`: zero mean).
pub(crate) fn profile_means(
    ky: &mut [Vec<f64>],
    k1: Option<&[f64]>,
    y: &[Vec<f64>],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut means = vec![0.0; ky.len()];
    if let Some(k1) = k1 {
        let ones: f64 = k1.iter().sum();
        for (m, a) in means.iter_mut().zip(ky.iter_mut()) {
            *m = a.iter().sum::<f64>() / ones;
            a.iter_mut().zip(k1).for_each(|(a, k1)| *a -= *m * k1);
        }
    }
    let quad = ky
        .iter()
        .zip(y)
        .zip(&means)
        .map(|((a, y), m)| a.iter().zip(y).map(|(a, y)| a * (y - m)).sum())
        .collect();
    let a2 = ky.iter().map(|a| a.iter().map(|a| a * a).sum()).collect();
    (means, quad, a2)
}

/// Columns of length `n` into one row-major `(n, q)` block.
pub(crate) fn interleave(columns: &[Vec<f64>], n: usize) -> Vec<f64> {
    let q = columns.len();
    let mut b = vec![0.0; n * q];
    for (c, col) in columns.iter().enumerate() {
        b.iter_mut()
            .skip(c)
            .step_by(q)
            .zip(col)
            .for_each(|(b, v)| *b = *v);
    }
    b
}

/// A row-major `(n, q)` block into its columns.
pub(crate) fn split(block: &[f64], q: usize) -> Vec<Vec<f64>> {
    (0..q)
        .map(|c| block.iter().skip(c).step_by(q).copied().collect())
        .collect()
}
