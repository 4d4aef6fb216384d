//! A blocked Cholesky factorisation and inverse for the dense path: the bulk of the flops in
//! matrix products (nalgebra's `gemm`, matrixmultiply underneath), where nalgebra's own
//! factorisation and triangular solves go a column at a time (8x slower at n = 2,000).

use nalgebra::{DMatrix, DVector};

/// Columns per block: the panel factored column by column; the rest is `gemm`.
const BLOCK: usize = 96;

/// `A = L L^T` for a symmetric positive definite `A`.
#[derive(Debug, Clone)]
pub(crate) struct Factor {
    l: DMatrix<f64>,
}

impl Factor {
    /// Factors `a` (its lower triangle is read), `None` when it is not positive definite.
    pub fn new(mut a: DMatrix<f64>) -> Option<Factor> {
        let n = a.nrows();
        for k in (0..n).step_by(BLOCK) {
            let b = BLOCK.min(n - k);
            let l11 = nalgebra::Cholesky::new(a.view((k, k), (b, b)).into_owned())?.unpack();
            a.view_mut((k, k), (b, b)).copy_from(&l11);
            let rest = n - k - b;
            if rest == 0 {
                break;
            }
            // L21 = A21 L11^-T, i.e. L21^T = L11^-1 A21^T.
            let a21t = a.view((k + b, k), (rest, b)).transpose();
            let l21 = l11.solve_lower_triangular(&a21t)?.transpose();
            a.view_mut((k + b, k), (rest, b)).copy_from(&l21);
            // A22 -= L21 L21^T.
            let mut a22 = a.view_mut((k + b, k + b), (rest, rest));
            a22.gemm(-1.0, &l21, &l21.transpose(), 1.0);
        }
        a.fill_upper_triangle(0.0, 1);
        Some(Factor { l: a })
    }

    /// `log det A = 2 sum log L_ii`.
    pub fn log_det(&self) -> f64 {
        2.0 * self.l.diagonal().iter().map(|v| v.ln()).sum::<f64>()
    }

    /// `A^-1 b` for the columns of `b`.
    pub fn solve(&self, b: &DMatrix<f64>) -> DMatrix<f64> {
        let mut x = b.clone();
        self.l.solve_lower_triangular_mut(&mut x);
        self.l.tr_solve_lower_triangular_mut(&mut x);
        x
    }

    /// `A^-1 b` for one vector.
    pub fn solve_vec(&self, b: &[f64]) -> Vec<f64> {
        let mut x = DVector::from_column_slice(b);
        self.l.solve_lower_triangular_mut(&mut x);
        self.l.tr_solve_lower_triangular_mut(&mut x);
        x.as_slice().to_vec()
    }

    /// `A^-1 = L^-T L^-1`, with `L^-1` by blocks of rows (forward substitution in `gemm`s).
    pub fn inverse(&self) -> DMatrix<f64> {
        let n = self.l.nrows();
        let mut inv = DMatrix::<f64>::zeros(n, n);
        for k in (0..n).step_by(BLOCK) {
            let b = BLOCK.min(n - k);
            // Rows k..k+b of L^-1: L11 X1 = [0 .. I .. 0] - L10 X0, columns 0..k+b.
            let mut rhs = DMatrix::<f64>::zeros(b, k + b);
            rhs.view_mut((0, k), (b, b)).fill_with_identity();
            if k > 0 {
                let l10 = self.l.view((k, 0), (b, k));
                let x0 = inv.view((0, 0), (k, k));
                rhs.view_mut((0, 0), (b, k)).gemm(-1.0, &l10, &x0, 1.0);
            }
            let l11 = self.l.view((k, k), (b, b));
            l11.solve_lower_triangular_mut(&mut rhs);
            inv.view_mut((k, 0), (b, k + b)).copy_from(&rhs);
        }
        inv.transpose() * &inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against nalgebra's factorisation on an SPD matrix of a size that is not a multiple of the
    /// block.
    #[test]
    fn matches_nalgebra() {
        let n = 2 * BLOCK + 37;
        let g = DMatrix::from_fn(n, n, |i, j| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.5);
        let a = &g * g.transpose() + DMatrix::identity(n, n) * 0.5;
        let ours = Factor::new(a.clone()).unwrap();
        let theirs = nalgebra::Cholesky::new(a.clone()).unwrap();
        assert!((ours.l.clone() - theirs.l()).amax() < 1e-10);
        assert!((ours.inverse() - theirs.inverse()).amax() < 1e-8 * theirs.inverse().amax());
        let b = DMatrix::from_fn(n, 3, |i, j| (i + j) as f64);
        assert!((ours.solve(&b) - theirs.solve(&b)).amax() < 1e-8 * theirs.solve(&b).amax());
        let log_det = 2.0 * theirs.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
        assert!((ours.log_det() - log_det).abs() < 1e-10 * log_det.abs());
        let not_spd = DMatrix::from_diagonal_element(n, n, -1.0);
        assert!(Factor::new(not_spd).is_none());
    }
}
