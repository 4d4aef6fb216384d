//! The shared conjugate-gradient iteration seen through its vectors: which operations it asks
//! for, in which order. The CUDA backend maps each operation to fixed kernel launches, so this
//! order is its launch order (which cannot be run without a GPU).

use super::iteration::{conjugate_gradient, CgStart, CgVectors, CHECK};
use super::ConjugateGradient;
use crate::KeopsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Curvatures,
    Step,
    Direction,
    RestartDirection,
    TrueResidual,
    CheckResidual,
    SaveBest,
    RestoreBest,
}

/// One column of a dense SPD system `(alpha I + A) x = b` in exact f64, recording each
/// operation; `claim_converged` makes the first step report `r^T r = 0` (a recurrence that
/// drifted from the true residual).
struct Recorder {
    a: Vec<f64>,
    alpha: f64,
    b: Vec<f64>,
    x: Vec<f64>,
    x_best: Vec<f64>,
    r: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    claim_converged: bool,
    /// From this step on, each step also pushes `x` off by `1e-6` per entry without telling `r`
    /// (a recurrence drifting from the true residual).
    corrupt_from: Option<usize>,
    steps: usize,
    ops: Vec<Op>,
}

impl Recorder {
    fn new(n: usize, claim_converged: bool) -> Self {
        // A_ij = exp(-(i - j)^2 / 8): a Gaussian kernel matrix, symmetric positive definite.
        let a = (0..n * n)
            .map(|e| {
                let d = (e / n) as f64 - (e % n) as f64;
                (-d * d / 8.0).exp()
            })
            .collect();
        let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin() + 0.1).collect();
        Recorder {
            a,
            alpha: 0.5,
            x: vec![0.0; n],
            x_best: vec![0.0; n],
            r: b.clone(),
            p: b.clone(),
            ap: vec![0.0; n],
            b,
            claim_converged,
            corrupt_from: None,
            steps: 0,
            ops: Vec::new(),
        }
    }

    /// `(alpha I + A) v`.
    fn apply(&self, v: &[f64]) -> Vec<f64> {
        let n = v.len();
        (0..n)
            .map(|i| self.alpha * v[i] + (0..n).map(|j| self.a[i * n + j] * v[j]).sum::<f64>())
            .collect()
    }

    fn b_squares(&self) -> [f64; 1] {
        [self.b.iter().map(|v| v * v).sum()]
    }
}

fn dot(u: &[f64], v: &[f64]) -> f64 {
    u.iter().zip(v).map(|(a, b)| a * b).sum()
}

impl CgVectors for Recorder {
    fn preconditioned(&self) -> bool {
        false
    }
    fn curvatures(&mut self, active: &[usize], curvature: &mut [f64]) -> Result<(), KeopsError> {
        assert_eq!(active, [0]);
        self.ops.push(Op::Curvatures);
        self.ap = self.apply(&self.p);
        curvature[0] = dot(&self.p, &self.ap);
        Ok(())
    }
    fn step(&mut self, c: usize, step: f64) -> Result<f64, KeopsError> {
        assert_eq!(c, 0);
        self.ops.push(Op::Step);
        self.steps += 1;
        let drift = match self.corrupt_from {
            Some(s) if self.steps >= s => 1e-6,
            _ => 0.0,
        };
        for i in 0..self.x.len() {
            self.x[i] += step * self.p[i] + drift;
            self.r[i] -= step * self.ap[i];
        }
        if std::mem::take(&mut self.claim_converged) {
            return Ok(0.0);
        }
        Ok(dot(&self.r, &self.r))
    }
    fn precondition(&mut self, _: &[usize], _: &mut [f64]) -> Result<(), KeopsError> {
        unreachable!("not preconditioned")
    }
    fn direction(&mut self, c: usize, beta: f64) -> Result<(), KeopsError> {
        assert_eq!(c, 0);
        self.ops.push(Op::Direction);
        for (p, r) in self.p.iter_mut().zip(&self.r) {
            *p = r + beta * *p;
        }
        Ok(())
    }
    fn restart_direction(&mut self, c: usize) -> Result<(), KeopsError> {
        assert_eq!(c, 0);
        self.ops.push(Op::RestartDirection);
        self.p.clone_from(&self.r);
        Ok(())
    }
    fn true_residual(&mut self, rr: &mut [f64]) -> Result<(), KeopsError> {
        self.ops.push(Op::TrueResidual);
        let ax = self.apply(&self.x);
        for ((r, b), ax) in self.r.iter_mut().zip(&self.b).zip(&ax) {
            *r = b - ax;
        }
        rr[0] = dot(&self.r, &self.r);
        Ok(())
    }
    fn check_residual(&mut self, active: &[usize], rr: &mut [f64]) -> Result<(), KeopsError> {
        assert_eq!(active, [0]);
        self.ops.push(Op::CheckResidual);
        let ax = self.apply(&self.x);
        rr[0] = self.b.iter().zip(&ax).map(|(b, a)| (b - a) * (b - a)).sum();
        Ok(())
    }
    fn direction_square(&mut self, _c: usize) -> Result<f64, KeopsError> {
        Ok(dot(&self.p, &self.p))
    }
    fn save_best(&mut self, _c: usize) -> Result<(), KeopsError> {
        self.ops.push(Op::SaveBest);
        self.x_best.clone_from(&self.x);
        Ok(())
    }
    fn restore_best(&mut self, _c: usize) -> Result<(), KeopsError> {
        self.ops.push(Op::RestoreBest);
        self.x.clone_from(&self.x_best);
        Ok(())
    }
}

/// Iterations `first..=last` of a column that converges at `last`: curvature, step and new
/// direction, but no direction after the last step; a true-residual checkpoint (improving: the
/// best iterate is saved) every [`CHECK`] iterations before the last.
fn iterations(first: usize, last: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    for it in first..=last {
        ops.extend([Op::Curvatures, Op::Step]);
        if it < last {
            ops.push(Op::Direction);
            if it.is_multiple_of(CHECK) {
                ops.extend([Op::CheckResidual, Op::SaveBest]);
            }
        }
    }
    ops
}

#[test]
fn one_column_iterates_in_the_device_order() {
    let mut v = Recorder::new(40, false);
    let cg = ConjugateGradient::new().tolerance(1e-10);
    let bb = v.b_squares();
    let out = conjugate_gradient(&mut v, &cg, CgStart::plain(&bb)).unwrap();
    let m = out.iterations[0];
    assert!(m > 3 && out.residuals[0] <= 1e-10);
    let mut want = vec![Op::RestartDirection];
    want.extend(iterations(1, m));
    want.extend([Op::TrueResidual, Op::SaveBest]);
    assert_eq!(v.ops, want);
}

#[test]
fn a_drifted_recurrence_restarts_from_the_true_residual() {
    let mut v = Recorder::new(40, true);
    let cg = ConjugateGradient::new().tolerance(1e-10);
    let bb = v.b_squares();
    let out = conjugate_gradient(&mut v, &cg, CgStart::plain(&bb)).unwrap();
    assert!(out.residuals[0] <= 1e-10);
    // The first step claims convergence; the true residual disagrees: restart from it.
    let mut want = vec![
        Op::RestartDirection,
        Op::Curvatures,
        Op::Step,
        Op::TrueResidual,
        Op::SaveBest,
    ];
    want.push(Op::RestartDirection);
    want.extend(iterations(2, out.iterations[0]));
    want.extend([Op::TrueResidual, Op::SaveBest]);
    assert_eq!(v.ops, want);
}

#[test]
fn no_iteration_allowed_checks_the_start() {
    let mut v = Recorder::new(10, false);
    let cg = ConjugateGradient::new().max_iterations(0);
    let bb = v.b_squares();
    let out = conjugate_gradient(&mut v, &cg, CgStart::plain(&bb)).unwrap();
    assert_eq!(out.iterations, [0]);
    assert!((out.residuals[0] - 1.0).abs() < 1e-15);
    assert_eq!(
        v.ops,
        [Op::RestartDirection, Op::TrueResidual, Op::SaveBest]
    );
}

#[test]
fn a_worse_end_returns_the_best_iterate() {
    let mut v = Recorder::new(200, false);
    v.alpha = 1e-4;
    v.corrupt_from = Some(CHECK + 2);
    let cg = ConjugateGradient::new().tolerance(1e-13);
    let bb = v.b_squares();
    let out = conjugate_gradient(&mut v, &cg, CgStart::plain(&bb)).unwrap();
    let m = out.iterations[0];
    assert!(m > CHECK + 2, "{m} iterations");
    // The end is worse than the checkpoint after CHECK iterations: that iterate comes back, with
    // its true residual (recomputed).
    assert!(
        v.ops.contains(&Op::RestoreBest),
        "{:?}",
        &v.ops[v.ops.len() - 4..]
    );
    assert_eq!(
        &v.ops[v.ops.len() - 3..],
        [Op::TrueResidual, Op::RestoreBest, Op::TrueResidual]
    );
    let ax = v.apply(&v.x);
    let res =
        v.b.iter()
            .zip(&ax)
            .map(|(b, a)| (b - a) * (b - a))
            .sum::<f64>()
            .sqrt()
            / bb[0].sqrt();
    assert!(
        (res - out.residuals[0]).abs() <= 1e-15,
        "{res} vs {}",
        out.residuals[0]
    );
    assert_eq!(v.x, v.x_best);
}
