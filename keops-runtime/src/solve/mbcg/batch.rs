//! The vectors of [`batched_cg`](super::batched_cg): the columns still iterating, gathered into
//! compact row-major blocks so that one product serves them all.

use rayon::prelude::*;

use crate::solve::basis::ROWS;
use crate::{KeopsError, LinearOperator, Preconditioner, Real};

/// The vectors of the columns still iterating, compact `(n, w)` row-major blocks (`w` of them).
pub(super) struct Batch<T> {
    /// The column of `B` of each block column.
    pub(super) cols: Vec<usize>,
    x: Vec<f64>,
    r: Vec<f64>,
    z: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    /// `r^T z` per block column.
    pub(super) rz: Vec<f64>,
    /// `p` in `T`, and the operator's scratch.
    t_in: Vec<T>,
    scratch: Vec<T>,
}

impl<T: Real> Batch<T> {
    /// `x = 0`, `r = b`, `p = z = M^-1 r` for the columns `cols` of `b` (`(n, k)`).
    pub(super) fn new(
        b: &[f64],
        k: usize,
        cols: Vec<usize>,
        pre: Option<&dyn Preconditioner>,
    ) -> Result<Self, KeopsError> {
        let keep: Vec<bool> = (0..k).map(|c| cols.contains(&c)).collect();
        let r = compact(b, k, &keep);
        let mut batch = Batch {
            x: vec![0.0; r.len()],
            z: vec![0.0; r.len()],
            p: Vec::new(),
            ap: vec![0.0; r.len()],
            rz: Vec::new(),
            t_in: vec![T::ZERO; r.len()],
            scratch: vec![T::ZERO; r.len()],
            cols,
            r,
        };
        batch.precondition(pre, 0)?;
        batch.p.clone_from(&batch.z);
        Ok(batch)
    }

    /// `ap = (alpha I + A) p`, one product for every column; `p` is rounded to `T` in place, so
    /// that `ap` is the product of the vector it holds.
    fn product<A: LinearOperator<T> + ?Sized>(
        &mut self,
        op: &A,
        alpha: f64,
    ) -> Result<(), KeopsError> {
        let len = self.p.len();
        let (t, s) = (&mut self.t_in[..len], &mut self.scratch[..len]);
        self.p
            .par_iter_mut()
            .zip(t.par_iter_mut())
            .for_each(|(p, t)| {
                *t = T::from_f64(*p);
                *p = t.to_f64();
            });
        op.apply_shifted(alpha, t, self.cols.len(), &mut self.ap[..len], s)
    }

    /// The step sizes `a = r^T z / p^T (alpha I + A) p` from one product; the curvature must be
    /// positive.
    pub(super) fn steps<A: LinearOperator<T> + ?Sized>(
        &mut self,
        op: &A,
        alpha: f64,
        iteration: usize,
    ) -> Result<Vec<f64>, KeopsError> {
        self.product(op, alpha)?;
        let curvatures = dots(&self.p, &self.ap[..self.p.len()], self.cols.len());
        let positive = |c: &f64| *c > 0.0 && c.is_finite();
        if let Some(a) = curvatures.iter().position(|c| !positive(c)) {
            let (column, curvature) = (self.cols[a], curvatures[a]);
            return Err(KeopsError::NotPositiveDefinite {
                iteration,
                column,
                curvature,
            });
        }
        Ok(curvatures
            .iter()
            .zip(&self.rz)
            .map(|(c, rz)| rz / c)
            .collect())
    }

    /// `x += a p`, `r -= a ap`; returns `r^T r` per column.
    pub(super) fn step(&mut self, steps: &[f64]) -> Vec<f64> {
        let (w, len) = (self.cols.len(), self.p.len());
        let chunk = ROWS * w;
        let xr = self
            .x
            .par_chunks_mut(chunk)
            .zip(self.r.par_chunks_mut(chunk));
        let pap = self
            .p
            .par_chunks(chunk)
            .zip(self.ap[..len].par_chunks(chunk));
        let parts = xr.zip(pap).map(|((x, r), (p, ap))| {
            let mut rr = vec![0.0; w];
            let rows = (x.chunks_exact_mut(w).zip(r.chunks_exact_mut(w)))
                .zip(p.chunks_exact(w).zip(ap.chunks_exact(w)));
            for ((x, r), (p, ap)) in rows {
                for a in 0..w {
                    x[a] += steps[a] * p[a];
                    r[a] -= steps[a] * ap[a];
                    rr[a] += r[a] * r[a];
                }
            }
            rr
        });
        sum_parts(parts.collect(), w)
    }

    /// Writes the `done` columns' `x` (unscaled) into `solutions` (`(n, k)`) and drops them.
    pub(super) fn retire(&mut self, done: &[bool], solutions: &mut [f64], scale: &[f64]) {
        let (w, k) = (self.cols.len(), scale.len());
        let cols = &self.cols;
        solutions
            .par_chunks_mut(k)
            .zip(self.x.par_chunks(w))
            .for_each(|(s, x)| {
                for (a, &c) in cols.iter().enumerate().filter(|&(a, _)| done[a]) {
                    s[c] = x[a] / scale[c];
                }
            });
        let keep: Vec<bool> = done.iter().map(|d| !d).collect();
        for v in [&mut self.x, &mut self.r, &mut self.p] {
            *v = compact(v, w, &keep);
        }
        self.rz = pick(&self.rz, &keep);
        self.cols = pick(cols, &keep);
    }

    /// `z = M^-1 r` (`r` without a preconditioner) and `rz = r^T z`, which must be positive.
    fn precondition(
        &mut self,
        pre: Option<&dyn Preconditioner>,
        iteration: usize,
    ) -> Result<(), KeopsError> {
        let (w, z) = (self.cols.len(), &mut self.z[..self.r.len()]);
        match pre {
            Some(m) if w > 0 => m.apply(&self.r, w, z),
            _ => z.copy_from_slice(&self.r),
        }
        self.rz = dots(&self.r, z, w);
        match self.rz.iter().position(|rz| !(*rz > 0.0 && rz.is_finite())) {
            Some(a) => Err(KeopsError::PreconditionerNotPositive {
                what: format!(
                    "r^T M^-1 r (iteration {iteration}, right-hand side column {})",
                    self.cols[a]
                ),
                value: self.rz[a],
            }),
            None => Ok(()),
        }
    }

    /// `z = M^-1 r`, `beta = r^T z / (r^T z)_previous`, `p = z + beta p`; returns each
    /// column of `B` with its `beta`.
    pub(super) fn next_direction(
        &mut self,
        pre: Option<&dyn Preconditioner>,
        iteration: usize,
    ) -> Result<Vec<(usize, f64)>, KeopsError> {
        let previous = std::mem::take(&mut self.rz);
        self.precondition(pre, iteration)?;
        let betas: Vec<f64> = self.rz.iter().zip(&previous).map(|(r, p)| r / p).collect();
        self.direction(&betas);
        Ok(self.cols.iter().copied().zip(betas).collect())
    }

    /// `p = z + beta p`.
    fn direction(&mut self, betas: &[f64]) {
        let w = self.cols.len();
        let z = &self.z[..self.p.len()];
        self.p
            .par_chunks_mut(w)
            .zip(z.par_chunks(w))
            .for_each(|(p, z)| {
                for ((p, z), beta) in p.iter_mut().zip(z).zip(betas) {
                    *p = z + beta * *p;
                }
            });
    }
}

/// The columns of `v` (`(n, w)` row-major) that `keep` marks, as an `(n, kept)` block.
fn compact(v: &[f64], w: usize, keep: &[bool]) -> Vec<f64> {
    let kept = keep.iter().filter(|&&k| k).count();
    if kept == 0 {
        return Vec::new();
    }
    let mut out = vec![0.0; v.len() / w * kept];
    out.par_chunks_mut(kept)
        .zip(v.par_chunks(w))
        .for_each(|(o, v)| {
            let picked = v.iter().zip(keep).filter(|(_, k)| **k);
            o.iter_mut().zip(picked).for_each(|(o, (v, _))| *o = *v);
        });
    out
}

/// The entries of `v` that `keep` marks.
fn pick<X: Copy>(v: &[X], keep: &[bool]) -> Vec<X> {
    v.iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(v, _)| *v)
        .collect()
}

/// `u^T v` per column of two `(n, w)` row-major blocks, by blocks of rows in parallel, added in
/// a fixed order (the same result whatever the threads).
pub(super) fn dots(u: &[f64], v: &[f64], w: usize) -> Vec<f64> {
    if w == 0 {
        return Vec::new();
    }
    let parts: Vec<Vec<f64>> = (u.par_chunks(ROWS * w).zip(v.par_chunks(ROWS * w)))
        .map(|(u, v)| {
            let mut s = vec![0.0; w];
            for (u, v) in u.chunks_exact(w).zip(v.chunks_exact(w)) {
                for ((s, u), v) in s.iter_mut().zip(u).zip(v) {
                    *s += u * v;
                }
            }
            s
        })
        .collect();
    sum_parts(parts, w)
}

/// The sum of per-block partial sums, in order.
fn sum_parts(parts: Vec<Vec<f64>>, w: usize) -> Vec<f64> {
    parts.into_iter().fold(vec![0.0; w], |mut s, p| {
        s.iter_mut().zip(p).for_each(|(s, p)| *s += p);
        s
    })
}
