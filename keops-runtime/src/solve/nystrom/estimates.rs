//! What a stochastic estimator needs of the preconditioner `M` besides its application: its
//! exact log determinant and trace of `M^-1` (the parts of `log det` and `tr` of `(alpha I +
//! A)^-1` that the probes then only correct), and draws `z ~ N(0, M)`.

use nalgebra::{DMatrix, DMatrixViewMut};
use rayon::prelude::*;

use super::{entry, factor, splitmix64, sub_rows, with_basis, Basis, NystromPreconditioner, ROWS};
use crate::KeopsError;

impl NystromPreconditioner {
    /// `log det M` of the `M` that [`apply`](crate::Preconditioner::apply) inverts:
    /// `(n - m) ln alpha + ln det(alpha W + C^T C) - ln det W` (`W = I` for greedy landmarks;
    /// both with the jitter their factorisations needed), the part of `log det(alpha I + A)`
    /// that a stochastic Lanczos quadrature of `M^-1/2 (alpha I + A) M^-1/2` leaves out
    /// ([`batched_cg`]).
    ///
    /// Exact up to rounding for greedy landmarks. Sampled ones need a well-conditioned `W =
    /// A[S, S]` (landmarks not much closer than the kernel's width): with a numerically singular
    /// `W` the ratio `det(alpha W + C^T C) / det W` is decided by rounding. NaN when `W` cannot
    /// be factored even with jitter (an operator that is not positive semidefinite).
    ///
    /// [`batched_cg`]: crate::batched_cg
    pub fn log_det(&self) -> f64 {
        let (n, m) = (self.n, self.landmarks.len());
        let ln_det = |l: &DMatrix<f64>| 2.0 * l.diagonal().iter().map(|d| d.ln()).sum::<f64>();
        match self.inner_factor() {
            Ok(h) => (n - m) as f64 * self.alpha.ln() + ln_det(&self.core) - ln_det(&h),
            Err(_) => f64::NAN,
        }
    }

    /// `k` independent draws `z ~ N(0, M)`, `(n, k)` row-major, the same for the same seed
    /// whatever the number of threads: the probes of a stochastic Lanczos quadrature, for which
    /// `M^-1/2 z` is standard normal. `z = sqrt(alpha) g + C R^-T h` with `g`, `h` standard
    /// normal and `R` the lower Cholesky factor of `W` (`W = I` for greedy landmarks; with the
    /// jitter of [`log_det`](Self::log_det)), so that `cov(z) = alpha I + C W^-1 C^T = M`.
    ///
    /// # Panics
    ///
    /// When `W` cannot be factored even with jitter (an operator that is not positive
    /// semidefinite).
    pub fn sample(&self, k: usize, seed: u64) -> Vec<f64> {
        let (n, m) = (self.n, self.landmarks.len());
        if k == 0 {
            return Vec::new();
        }
        // y = R^-T h, (m, k) row-major; -C y is drawn as C y is (a centred Gaussian).
        let mut y = vec![0.0; m * k];
        normals(&mut y, stream(seed, 0));
        if m > 0 {
            let r = self.inner_factor().expect(
                "the landmarks' W does not factor: the operator is not positive semidefinite",
            );
            let mut yv = DMatrixViewMut::from_slice_with_strides_mut(&mut y, m, k, k, 1);
            r.tr_solve_lower_triangular_mut(&mut yv);
        }
        let scale = self.alpha.sqrt();
        let mut z = vec![0.0; n * k];
        // One generator per block of rows: reproducible whatever the threads.
        z.par_chunks_mut(ROWS * k).enumerate().for_each(|(t, o)| {
            normals(o, stream(seed, t as u64 + 1));
            o.iter_mut().for_each(|v| *v *= scale);
            with_basis!(&self.basis, |b| sub_rows(b, n, t * ROWS, &y, k, o));
        });
        z
    }

    /// The lower Cholesky factor of `H = W + (jitter / alpha) I` (`W = I` for greedy landmarks,
    /// `C[S, :]` for sampled ones): `M = alpha I + C H^-1 C^T` is what `apply` inverts.
    fn inner_factor(&self) -> Result<DMatrix<f64>, KeopsError> {
        let (n, m) = (self.n, self.landmarks.len());
        let mut h = if self.uniform {
            let s = &self.landmarks;
            DMatrix::from_fn(m, m, |a, b| {
                with_basis!(&self.basis, |c| entry(c, b * n + s[a]))
            })
        } else {
            DMatrix::identity(m, m)
        };
        for i in 0..m {
            h[(i, i)] += self.jitter / self.alpha;
        }
        Ok(factor(h, matches!(self.basis, Basis::F32(_)))?.0)
    }

    /// `tr(M^-1)` of the `M` that [`apply`](crate::Preconditioner::apply) inverts, exactly:
    /// `(n - m + alpha tr(G^-1 H)) / alpha` with `G = alpha H + C^T C` (its factor kept) and `H`
    /// as in [`log_det`](Self::log_det) (`m^3 / 3` flops). With probes `z ~ N(0, M)` and
    /// `w = M^-1 z`, `tr((alpha I + A)^-1) = tr(M^-1) + E[w^T ((alpha I + A)^-1 z - w)]`: the
    /// probes estimate only what `M` misses, a far smaller variance than `E[w^T (alpha I +
    /// A)^-1 z]` alone when `M` is a good preconditioner. NaN as `log_det`.
    pub fn trace_inverse(&self) -> f64 {
        let (n, m) = (self.n as f64, self.landmarks.len());
        let Ok(h) = self.inner_factor() else {
            return f64::NAN;
        };
        // tr(G^-1 H) = |L^-1 R|_F^2 for G = L L^T, H = R R^T.
        let fro = match self.core.solve_lower_triangular(&h) {
            Some(x) => x.norm_squared(),
            None => f64::NAN,
        };
        (n - m as f64 + self.alpha * fro) / self.alpha
    }
}

/// A splitmix64 state for stream `t` of the generator seeded with `seed`.
fn stream(seed: u64, t: u64) -> u64 {
    let mut s = seed ^ t.wrapping_mul(0xD1B5_4A32_D192_ED03);
    splitmix64(&mut s)
}

/// Standard normal draws into `out` from the splitmix64 state `state` (Box-Muller).
fn normals(out: &mut [f64], mut state: u64) {
    let unit = |s: &mut u64| (splitmix64(s) >> 11) as f64 / (1u64 << 53) as f64;
    for pair in out.chunks_mut(2) {
        // 1 - u in (0, 1]: the logarithm stays finite.
        let radius = (-2.0 * (1.0 - unit(&mut state)).ln()).sqrt();
        let angle = std::f64::consts::TAU * unit(&mut state);
        pair[0] = radius * angle.cos();
        if let Some(v) = pair.get_mut(1) {
            *v = radius * angle.sin();
        }
    }
}
