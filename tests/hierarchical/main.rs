//! Hierarchical kernel products (`KernelMatrix::hierarchical`, bbFMM) against the exact engine.
//!
//! - `products.rs`: `K~ v` for the Gaussian, Laplacian, Matérn 3/2 and inverse multiquadric
//!   kernels, f32 and f64, in 1D (N = 4,099) and 2D (N = 3,571) on uniform points, on clustered
//!   points (six blobs and a uniform tenth), with three columns, and for `K_xy` with two point
//!   sets of different sizes (4,001 and 2,503 points, either way round). The reference is the
//!   exact engine in f64 on the same points (the f32 points widened). Tolerances 1e-3 and 1e-5
//!   (f32 and f64) and 1e-7 (f64): the relative error `||K~ v - K v|| / ||K v||` over all rows,
//!   the build's estimate and `sampled_error` (400 rows) are below the tolerance, the sampled
//!   error is within a factor 3 of the full one, and the error shrinks strictly with the
//!   tolerance. In 3D (N = 3,001, leaves of 48 points so that there is a far field) each kernel
//!   once, at 1e-2 (and 1e-3 for the Gaussian): a 3D far field costs 1e8 kernel evaluations per
//!   product at order 6. These kernels are translation invariant: their far field is stored
//!   (one operator per offset) at every level; a Gaussian tilted by `1 + sum(x) sum(y)` is not,
//!   and is evaluated at every level, within the tolerance (1D and 2D, f64 and f32). Also:
//!   `sampled_error` on all rows is the full error, and the operator's `LinearOperator`
//!   implementation (apply, exact diagonal and columns).
//! - `exact.rs`: builds whose products are the exact engine's, bit for bit: an oscillating kernel
//!   (`sin(100 sqdist)`, 2D) is `NotCompressible` at the largest order (16; 8 when capped), a
//!   smooth one with a capped order too, 50 points have `NoFarField`; an f32 kernel at 1e-6 still
//!   compresses. Two tests check that `NoFarField` is not reported for 3,001 points that have a
//!   far field at the orders tried (the default leaf grows with the order).
//! - `solve.rs`: `HierarchicalMatrix::solve(_with)` against a dense Cholesky solve (nalgebra,
//!   f64) at N = 2,003 (2D Laplacian sigma 0.1 alpha 10, 1D Gaussian sigma 0.1 alpha 1; f64 at
//!   tolerances 1e-3 and 1e-6, f32 at 1e-4), and against the exact engine's CG solve at
//!   N = 20,000 (the KeOps tutorial's 2D Laplacian in f32, the 1D Gaussian in f64): the solution
//!   within `kappa (tol + 2 cg_tol)` (`kappa` the Gershgorin bound on the condition number),
//!   `sampled_residual` set and at most `2 tol + 2 cg_tol`.
//! - `errors.rs`: each refused build as its typed `HierarchicalError`: `NoPoints` (a third
//!   variable, block-sparse ranges), `Memory` (budgets of 1e3 and 1e5 bytes), `Parameter`
//!   (tolerance 0, 1, NaN, -1, 2, inf, -0; leaf size 0; sampled rows 0; largest order 0, 1, 33).
//!
//! Sizes are not multiples of any block or tile size. All data comes from `common::Rng` with
//! fixed seeds. The binary has seven `kernel!` sites, each with run-time dimensions so that one
//! site serves 1, 2 and 3 dimensions (each site compiles the engines of every arm). About half
//! of its run time is the two exact CG solves at N = 20,000.

#[path = "../common/mod.rs"]
mod common;

mod errors;
mod exact;
mod products;
mod solve;

use common::Rng;
use keops::__private::BoundKernel;
use keops::prelude::*;
use keops::{ExactReason, HierarchicalError, HierarchicalInfo, HierarchicalMatrix};

/// `n` points of dimension `d`, uniform in the unit cube (flat, row-major).
fn uniform(rng: &mut Rng, n: usize, d: usize) -> Vec<f64> {
    rng.vec(n * d, 0.0, 1.0)
}

/// `n` points of dimension `d` in six Gaussian blobs (standard deviation 0.03, centres in
/// `[0.15, 0.85]^d`) with a tenth of them uniform in the unit cube: a tree much deeper in the
/// blobs than around them, with empty boxes between.
fn clustered(rng: &mut Rng, n: usize, d: usize) -> Vec<f64> {
    let centres = rng.vec(6 * d, 0.15, 0.85);
    let mut out = Vec::with_capacity(n * d);
    for r in 0..n {
        if r % 10 == 9 {
            out.extend(rng.vec(d, 0.0, 1.0));
            continue;
        }
        let c = rng.int(0, 5) as usize;
        for k in 0..d {
            // Box-Muller.
            let (u, w) = (rng.unit().max(1e-300), rng.unit());
            let g = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * w).cos();
            out.push(centres[c * d + k] + 0.03 * g);
        }
    }
    out
}

/// Rounds to `T`.
fn to_t<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Widens to f64.
fn wide<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// `||got - want|| / ||want||` over all entries (every row and column).
fn rel_error<T: Real>(got: &[T], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut num, mut den) = (0.0, 0.0);
    for (g, w) in got.iter().zip(want) {
        num += (g.to_f64() - w).powi(2);
        den += w * w;
    }
    (num / den).sqrt()
}

/// The error of a call that must fail.
fn err<R>(r: Result<R, KeopsError>) -> KeopsError {
    match r {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e,
    }
}

/// A kernel family of these tests: one `kernel!` site with run-time dimensions, of width `s`.
trait Family: Copy + std::fmt::Debug {
    /// The kernel matrix between `x` and `y`, points of dimension `d` (flat, row-major).
    fn matrix<'a, T: Real>(
        self,
        x: &'a [T],
        y: &'a [T],
        d: usize,
    ) -> KernelMatrix<T, impl BoundKernel<T> + 'a>;
}

fn view<T: Real>(x: &[T], d: usize) -> View<'_, T> {
    View::new(x, d).unwrap()
}

/// `exp(-|x - y|^2 / (2 s^2))`.
#[derive(Clone, Copy, Debug)]
struct Gaussian(f64);

/// `exp(-|x - y| / s)`.
#[derive(Clone, Copy, Debug)]
struct Laplacian(f64);

/// Matérn 3/2: `(1 + sqrt(3) r / s) exp(-sqrt(3) r / s)`, `r = |x - y|`.
#[derive(Clone, Copy, Debug)]
struct Matern(f64);

/// Inverse multiquadric: `1 / sqrt(1 + |x - y|^2 / s^2)`.
#[derive(Clone, Copy, Debug)]
struct Imq(f64);

/// An oscillating kernel that no interpolation of low order captures: `sin(w |x - y|^2)`.
#[derive(Clone, Copy, Debug)]
struct Oscillating(f64);

/// Not translation invariant: a Gaussian tilted by `1 + sum(x) sum(y)`.
#[derive(Clone, Copy, Debug)]
struct Tilted(f64);

/// `Family` for a unit struct holding the kernel's parameter, named `$p` in its formula.
macro_rules! family {
    ($name:ident, $p:ident => $($formula:tt)*) => {
        impl Family for $name {
            fn matrix<'a, T: Real>(
                self,
                x: &'a [T],
                y: &'a [T],
                d: usize,
            ) -> KernelMatrix<T, impl BoundKernel<T> + 'a> {
                let $p = self.0;
                kernel!($($formula)*)
                    .x_i(view(x, d))
                    .y_j(view(y, d))
                    .matrix()
                    .unwrap()
            }
        }
    };
}

family!(Gaussian, s => exp(-sqdist(x_i, y_j) / (2 * s * s)));
family!(Laplacian, s => exp(-norm2(x_i - y_j) / s));
family!(Matern, s => let r = norm2(x_i - y_j); (1 + sqrt(3) * r / s) * exp(-sqrt(3) * r / s));
family!(Imq, s => rsqrt(1 + sqdist(x_i, y_j) / (s * s)));
family!(Oscillating, w => sin(w * sqdist(x_i, y_j)));
family!(Tilted, s => exp(-sqdist(x_i, y_j) / (2 * s * s)) * (1 + sum(x_i) * sum(y_j)));
