//! The conjugate gradient's vectors in host memory: f64 `(n, k)` blocks, any [`LinearOperator`]
//! for the products (applied in the data's precision) and any [`Preconditioner`].

use std::time::{Duration, Instant};

use super::cg::{col_dot, conjugate_gradient, CgVectors, ConjugateGradient};
use super::{LinearOperator, Preconditioner, Solution, SolveError};
use crate::{KeopsError, Real, Rows, View};

/// Solves `(alpha I + A) x = b` on the host with the (optional) preconditioner `pre`, built in
/// `setup_time`; `b` is checked.
pub(super) fn solve_on_host<T: Real, A: LinearOperator<T> + ?Sized>(
    op: &A,
    alpha: f64,
    cg: &ConjugateGradient,
    b: &View<'_, T>,
    pre: Option<&dyn Preconditioner>,
    setup_time: Duration,
) -> Result<Solution<T>, SolveError<T>> {
    let name = pre.map_or(("none", 0), |p| (p.name(), p.rank()));
    let mut vectors = HostVectors::new(op, alpha, b.as_slice(), op.nrows(), b.dim(), pre);
    let b_squares: Vec<f64> = (0..vectors.k)
        .map(|c| col_dot(&vectors.b, &vectors.b, vectors.k, c))
        .collect();
    let start = Instant::now();
    let outcome = conjugate_gradient(&mut vectors, cg, &b_squares)?;
    let x = vectors.x.iter().map(|&v| T::from_f64(v)).collect();
    let coefficients = Rows::from_vec(x, vectors.k).expect("n * k buffer");
    outcome.into_solution(coefficients, cg, name, setup_time, start)
}

/// The vectors of one solve: `(n, k)` row-major blocks in f64, operator buffers in `T`.
struct HostVectors<'a, T: Real, A: ?Sized> {
    op: &'a A,
    pre: Option<&'a dyn Preconditioner>,
    alpha: f64,
    n: usize,
    k: usize,
    b: Vec<f64>,
    x: Vec<f64>,
    r: Vec<f64>,
    /// `M^-1 r` (empty without a preconditioner: `z = r`).
    z: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    /// Operator input in the data's precision, `(n, active)` row-major, and the scratch of
    /// [`LinearOperator::apply_shifted`].
    t_in: Vec<T>,
    t_out: Vec<T>,
    /// `(alpha I + A) v` for the active columns, `(n, active)`, when not all are active; the
    /// active columns of `r` and of `z` likewise, for the preconditioner.
    ap_active: Vec<f64>,
    r_active: Vec<f64>,
    z_active: Vec<f64>,
    /// Every column, for the true residual.
    all: Vec<usize>,
}

impl<'a, T: Real, A: LinearOperator<T> + ?Sized> HostVectors<'a, T, A> {
    /// `x = 0`, `r = p = b`; every buffer allocated once.
    fn new(
        op: &'a A,
        alpha: f64,
        b: &[T],
        n: usize,
        k: usize,
        pre: Option<&'a dyn Preconditioner>,
    ) -> Self {
        let b: Vec<f64> = b.iter().map(|v| v.to_f64()).collect();
        let several = |on: bool| {
            if on && k > 1 {
                vec![0.0; n * k]
            } else {
                Vec::new()
            }
        };
        HostVectors {
            op,
            pre,
            alpha,
            n,
            k,
            x: vec![0.0; n * k],
            r: b.clone(),
            z: if pre.is_some() {
                vec![0.0; n * k]
            } else {
                Vec::new()
            },
            p: b.clone(),
            ap: vec![0.0; n * k],
            t_in: vec![T::ZERO; n * k],
            t_out: vec![T::ZERO; n * k],
            ap_active: several(true),
            r_active: several(pre.is_some()),
            z_active: several(pre.is_some()),
            all: (0..k).collect(),
            b,
        }
    }

    /// `ap = (alpha I + A) v` for the `active` columns of `v` (`p` or `x`): one fused product,
    /// `alpha v` added to the operator's f64 sums. `v` is rounded to `T` in place first, so that
    /// `ap` is the product of the vector it holds. Allocates nothing.
    fn apply_active(&mut self, use_x: bool, active: &[usize]) -> Result<(), KeopsError> {
        let (n, k, na) = (self.n, self.k, active.len());
        let v = if use_x { &mut self.x } else { &mut self.p };
        for i in 0..n {
            for (a, &c) in active.iter().enumerate() {
                let t = T::from_f64(v[i * k + c]);
                v[i * k + c] = t.to_f64();
                self.t_in[i * na + a] = t;
            }
        }
        let (x, scratch) = (&self.t_in[..n * na], &mut self.t_out[..n * na]);
        if na == k {
            // Every column: straight into `ap`.
            return self
                .op
                .apply_shifted(self.alpha, x, na, &mut self.ap, scratch);
        }
        let ap = &mut self.ap_active[..n * na];
        self.op.apply_shifted(self.alpha, x, na, ap, scratch)?;
        for i in 0..n {
            for (a, &c) in active.iter().enumerate() {
                self.ap[i * k + c] = ap[i * na + a];
            }
        }
        Ok(())
    }
}

impl<T: Real, A: LinearOperator<T> + ?Sized> CgVectors for HostVectors<'_, T, A> {
    fn preconditioned(&self) -> bool {
        self.pre.is_some()
    }

    fn curvatures(&mut self, active: &[usize], curvature: &mut [f64]) -> Result<(), KeopsError> {
        self.apply_active(false, active)?;
        for &c in active {
            curvature[c] = col_dot(&self.p, &self.ap, self.k, c);
        }
        Ok(())
    }

    fn step(&mut self, c: usize, step: f64) -> Result<f64, KeopsError> {
        let mut rr = 0.0;
        for i in 0..self.n {
            let j = i * self.k + c;
            self.x[j] += step * self.p[j];
            self.r[j] -= step * self.ap[j];
            rr += self.r[j] * self.r[j];
        }
        Ok(rr)
    }

    fn precondition(&mut self, active: &[usize], rz: &mut [f64]) -> Result<(), KeopsError> {
        let Some(pre) = self.pre else {
            return Ok(());
        };
        let (n, k, na) = (self.n, self.k, active.len());
        if na == k {
            pre.apply(&self.r, k, &mut self.z);
        } else {
            let (ra, za) = (&mut self.r_active[..n * na], &mut self.z_active[..n * na]);
            for i in 0..n {
                for (a, &c) in active.iter().enumerate() {
                    ra[i * na + a] = self.r[i * k + c];
                }
            }
            pre.apply(ra, na, za);
            for i in 0..n {
                for (a, &c) in active.iter().enumerate() {
                    self.z[i * k + c] = za[i * na + a];
                }
            }
        }
        for &c in active {
            rz[c] = col_dot(&self.r, &self.z, k, c);
        }
        Ok(())
    }

    fn direction(&mut self, c: usize, beta: f64) -> Result<(), KeopsError> {
        let (n, k) = (self.n, self.k);
        let z = if self.pre.is_some() { &self.z } else { &self.r };
        for i in 0..n {
            let j = i * k + c;
            self.p[j] = z[j] + beta * self.p[j];
        }
        Ok(())
    }

    fn restart_direction(&mut self, c: usize) -> Result<(), KeopsError> {
        let (n, k) = (self.n, self.k);
        let z = if self.pre.is_some() { &self.z } else { &self.r };
        for i in 0..n {
            self.p[i * k + c] = z[i * k + c];
        }
        Ok(())
    }

    fn true_residual(&mut self, rr: &mut [f64]) -> Result<(), KeopsError> {
        let all = std::mem::take(&mut self.all);
        let applied = self.apply_active(true, &all);
        self.all = all;
        applied?;
        for (j, r) in self.r.iter_mut().enumerate() {
            *r = self.b[j] - self.ap[j];
        }
        for (c, rr) in rr.iter_mut().enumerate() {
            *rr = col_dot(&self.r, &self.r, self.k, c);
        }
        Ok(())
    }
}
