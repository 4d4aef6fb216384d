//! The Jacobi preconditioner `M = alpha I + diag(A)`.

use crate::{KeopsError, LinearOperator, Preconditioner, Real};

/// `M = alpha I + diag(A)`: rescales each unknown by its diagonal. Helps when the diagonal varies
/// (a kernel with per-point amplitudes); a stationary kernel's diagonal is constant, so there it
/// changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Jacobi {
    inverse: Vec<f64>,
}

impl Jacobi {
    /// From the operator's diagonal ([`LinearOperator::diagonal`]).
    pub fn new<T: Real, A: LinearOperator<T> + ?Sized>(
        op: &A,
        alpha: f64,
    ) -> Result<Self, KeopsError> {
        let mut diagonal = vec![0.0; op.nrows()];
        op.diagonal(&mut diagonal)?;
        Self::from_diagonal(&diagonal, alpha)
    }
    /// From `diag(A)`; every `A_ii` must be finite ([`KeopsError::KernelUndefined`]) and every
    /// `alpha + A_ii` positive.
    pub fn from_diagonal(diagonal: &[f64], alpha: f64) -> Result<Self, KeopsError> {
        let mut inverse = Vec::with_capacity(diagonal.len());
        for (i, &d) in diagonal.iter().enumerate() {
            if !d.is_finite() {
                return Err(KeopsError::KernelUndefined { row: i, value: d });
            }
            let m = alpha + d;
            if !(m > 0.0 && m.is_finite()) {
                return Err(KeopsError::PreconditionerNotPositive {
                    what: format!("alpha + A_ii at row {i}"),
                    value: m,
                });
            }
            inverse.push(1.0 / m);
        }
        Ok(Jacobi { inverse })
    }
}

impl Preconditioner for Jacobi {
    fn size(&self) -> usize {
        self.inverse.len()
    }
    fn apply(&self, r: &[f64], k: usize, out: &mut [f64]) {
        for ((o, r), d) in out
            .chunks_exact_mut(k)
            .zip(r.chunks_exact(k))
            .zip(&self.inverse)
        {
            for (o, r) in o.iter_mut().zip(r) {
                *o = r * d;
            }
        }
    }
    fn name(&self) -> &'static str {
        "jacobi"
    }
}
