//! The conjugate gradient's vectors in host memory: f64 `(n, k)` blocks, any [`LinearOperator`]
//! for the products (applied in the data's precision) and any [`Preconditioner`].

use std::time::{Duration, Instant};

use super::cg::{col_dot, ConjugateGradient};
use super::control::{column_scales, Callback, Conditioning};
use super::iteration::{conjugate_gradient, CgStart, CgVectors};
use super::{LinearOperator, Preconditioner, Solution, SolveError};
use crate::{KeopsError, Real, Rows, View};

/// One solve on the host: the system, the solver's settings and what the iteration consults.
pub(super) struct HostSolve<'s, T: Real, A: ?Sized> {
    pub(super) op: &'s A,
    pub(super) alpha: f64,
    pub(super) cg: &'s ConjugateGradient,
    /// The right-hand side, checked.
    pub(super) b: &'s View<'s, T>,
    /// An initial guess of the shape of `b`, checked.
    pub(super) guess: Option<&'s View<'s, T>>,
    pub(super) pre: Option<&'s dyn Preconditioner>,
    /// Time spent building `pre`.
    pub(super) setup_time: Duration,
    pub(super) conditioning: Option<Conditioning>,
}

/// Solves `(alpha I + A) x = b` on the host as `solve` says, calling `callback` after each
/// iteration. Each column of `b` is scaled by a
/// power of two (exactly) so that its largest entry is about 1: no squared norm overflows for any
/// finite `b`, and an ordinary `b` is solved bit for bit as without scaling.
pub(super) fn solve_on_host<T: Real, A: LinearOperator<T> + ?Sized>(
    solve: &HostSolve<'_, T, A>,
    callback: Option<&mut Callback<'_>>,
) -> Result<Solution<T>, SolveError<T>> {
    let pre = solve.pre;
    let name = pre.map_or(("none", 0), |p| (p.name(), p.rank()));
    let (op, b) = (solve.op, solve.b);
    let mut vectors = HostVectors::new(op, solve.alpha, b.as_slice(), op.nrows(), b.dim(), pre);
    let warm = solve.guess.is_some();
    if let Some(g) = solve.guess {
        vectors.load_guess(g.as_slice());
    }
    let b_squares: Vec<f64> = (0..vectors.k)
        .map(|c| col_dot(&vectors.b, &vectors.b, vectors.k, c))
        .collect();
    let start = Instant::now();
    let outcome = conjugate_gradient(
        &mut vectors,
        solve.cg,
        CgStart {
            b_squares: &b_squares,
            warm,
            conditioning: solve.conditioning,
            callback,
        },
    )?;
    let k = vectors.k;
    let x = vectors
        .x
        .iter()
        .enumerate()
        .map(|(j, &v)| T::from_f64(v / vectors.scale[j % k]))
        .collect();
    let coefficients = Rows::from_vec(x, k).expect("n * k buffer");
    let singular = solve.conditioning.and_then(|c| c.singular());
    let times = (solve.setup_time, start);
    outcome.into_solution(coefficients, solve.cg, name, times, singular)
}

/// The vectors of one solve: `(n, k)` row-major blocks in f64, operator buffers in `T`.
struct HostVectors<'a, T: Real, A: ?Sized> {
    op: &'a A,
    pre: Option<&'a dyn Preconditioner>,
    alpha: f64,
    n: usize,
    k: usize,
    /// The power of two each column of `b` is scaled by.
    scale: Vec<f64>,
    b: Vec<f64>,
    x: Vec<f64>,
    /// The best iterate seen.
    x_best: Vec<f64>,
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
        let mut b: Vec<f64> = b.iter().map(|v| v.to_f64()).collect();
        let scale = column_scales(&b, k);
        for (j, v) in b.iter_mut().enumerate() {
            *v *= scale[j % k];
        }
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
            x_best: vec![0.0; n * k],
            scale,
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

    /// `x = x0` (scaled like `b`), `x_best` too; zero in the zero columns of `b`, whose
    /// solution is 0.
    fn load_guess(&mut self, x0: &[T]) {
        let k = self.k;
        let zero: Vec<bool> = (0..k)
            .map(|c| self.b.iter().skip(c).step_by(k).all(|&v| v == 0.0))
            .collect();
        for (j, (x, g)) in self.x.iter_mut().zip(x0).enumerate() {
            *x = if zero[j % k] {
                0.0
            } else {
                g.to_f64() * self.scale[j % k]
            };
        }
        self.x_best.clone_from(&self.x);
    }

    /// `ap = (alpha I + A) v` for the `active` columns of `v` (`p` or `x`): one fused product,
    /// `alpha v` added to the operator's f64 sums. `v` is rounded to `T`, in place when
    /// `in_place` (so that `ap` is the product of the vector it holds). Allocates nothing.
    fn apply_active(
        &mut self,
        use_x: bool,
        in_place: bool,
        active: &[usize],
    ) -> Result<(), KeopsError> {
        let (n, k, na) = (self.n, self.k, active.len());
        let v = if use_x { &mut self.x } else { &mut self.p };
        for i in 0..n {
            for (a, &c) in active.iter().enumerate() {
                let t = T::from_f64(v[i * k + c]);
                if in_place {
                    v[i * k + c] = t.to_f64();
                }
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
        self.apply_active(false, true, active)?;
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
        let applied = self.apply_active(true, true, &all);
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

    fn check_residual(&mut self, active: &[usize], rr: &mut [f64]) -> Result<(), KeopsError> {
        self.apply_active(true, false, active)?;
        let (n, k) = (self.n, self.k);
        for &c in active {
            rr[c] = (0..n)
                .map(|i| {
                    let d = self.b[i * k + c] - self.ap[i * k + c];
                    d * d
                })
                .sum();
        }
        Ok(())
    }

    fn direction_square(&mut self, c: usize) -> Result<f64, KeopsError> {
        Ok(col_dot(&self.p, &self.p, self.k, c))
    }

    fn save_best(&mut self, c: usize) -> Result<(), KeopsError> {
        let k = self.k;
        for (best, x) in self.x_best.iter_mut().zip(&self.x).skip(c).step_by(k) {
            *best = *x;
        }
        Ok(())
    }

    fn restore_best(&mut self, c: usize) -> Result<(), KeopsError> {
        let k = self.k;
        for (x, best) in self.x.iter_mut().zip(&self.x_best).skip(c).step_by(k) {
            *x = *best;
        }
        Ok(())
    }
}
