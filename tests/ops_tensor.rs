//! KeOps' tensor algebra — `matvec(A, x)`, `vecmat(x, A)`, `tensorprod(f, g)`,
//! `kron(f, g, [dims f], [dims g])`, `tensordot(f, g, [dims f], [dims g], [axes f], [axes g])` —
//! and the weighted squared norms `weightedsqnorm(s, f)`, `weightedsqdist(s, f, g)` (isotropic,
//! diagonal, full), against dense f64 references written here with plain index loops (row-major,
//! KeOps' `C_CONTIGUOUS`; independent of keops-formula's `TensorSpec`), in f32 and f64, on the
//! CPU engine and as host-emulated CUDA (tests/common/gpu_host/).
//!
//! Tolerances (per output entry, `|got - want| <= tol * sum_terms |term|`): f32 1e-4, f64 1e-12,
//! as in tests/operations/. Observed worst `|got - want| / sum |term|`: printed per case
//! (`cargo test --test ops_tensor -- --nocapture`).
//!
//! Sizes: (7, 13), (65, 257) (crosses a row block and a reduction tile), (300, 1037); the host
//! emulation runs the largest size in f64 only.

#![allow(clippy::needless_range_loop)] // the references are plain index loops, on purpose

mod common;

use common::cases::{
    both, check, check_matvec, eval, matvec, times_b, Args, Inputs, Red, Spec, SIZES,
};
use common::{gpu_host, Rng};
use keops::prelude::*;
use keops_runtime::BoundReduction;

// ---------------------------------------------------------------------------------------------
// The references: row-major, plain loops.

mod rf {
    /// `A x`, A an m x n matrix stored row-major, x of dimension n.
    pub fn matvec(a: &[f64], x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let m = a.len() / n;
        let mut out = vec![0.0; m];
        for i in 0..m {
            for k in 0..n {
                out[i] += a[i * n + k] * x[k];
            }
        }
        out
    }
    /// `x A`, x of dimension m, A an m x n matrix stored row-major.
    pub fn vecmat(x: &[f64], a: &[f64]) -> Vec<f64> {
        let m = x.len();
        let n = a.len() / m;
        let mut out = vec![0.0; n];
        for l in 0..n {
            for k in 0..m {
                out[l] += x[k] * a[k * n + l];
            }
        }
        out
    }
    /// `out[k * n + l] = f[k] g[l]`.
    pub fn tensorprod(f: &[f64], g: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        for &a in f {
            for &b in g {
                out.push(a * b);
            }
        }
        out
    }
    pub fn sub(f: &[f64], g: &[f64]) -> Vec<f64> {
        f.iter().zip(g).map(|(a, b)| a - b).collect()
    }
    pub fn sqnorm(f: &[f64]) -> f64 {
        f.iter().map(|v| v * v).sum()
    }
    pub fn sqdist(f: &[f64], g: &[f64]) -> f64 {
        sqnorm(&sub(f, g))
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn matvec_vecmat_tensorprod() {
    // y_j: a 3 x 4 matrix; x_i: 4; a_i: 3. A tensor operation's fixed output dimension is enough
    // for the next one (`tensorprod(x_i, matvec(..))`), and a scalar operand is fine.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 4, y_j: 12, a_i: 3, b_j: 1 => sum_j(concat(concat(
            concat(matvec(y_j, x_i), vecmat(a_i, y_j)),
            tensorprod(x_i, matvec(y_j, x_i) - 0.5)),
            tensorprod(b_j, a_i)
        )))
        .x_i(d.x())
        .y_j(d.y())
        .a_i(d.a())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let mv = rf::matvec(a.y, a.x);
        let vm = rf::vecmat(a.a, a.y);
        let shifted: Vec<f64> = mv.iter().map(|v| v - 0.5).collect();
        let tp = rf::tensorprod(a.x, &shifted);
        let sc = rf::tensorprod(a.b, a.a);
        let all: Vec<f64> = [mv, vm, tp, sc].concat();
        o.copy_from_slice(&all);
    };
    let spec = Spec::new(4, 12).a(3);
    check(
        "matvec_vecmat_tensorprod",
        spec,
        SIZES,
        Red::J,
        22,
        both!(run),
        term,
    );
}

#[test]
fn kron_and_tensordot() {
    // x_i: (2, 3); y_j: (4, 6) for kron, (3, 4, 2) for tensordot, (24) for a product without
    // contraction (an empty axis list).
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 6, y_j: 24 => sum_j(concat(concat(
            kron(x_i, y_j, [2, 3], [4, 6]),
            tensordot(x_i, y_j, [2, 3], [3, 4, 2], [0, 1], [2, 0])),
            tensordot(x_i, y_j, [3, 2], [24], [], [])
        )))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x, a.y);
        // numpy.kron of x (2, 3) and y (4, 6): (8, 18), out[p*4 + r, q*6 + s] = x[p, q] y[r, s].
        let mut kron = vec![0.0; 144];
        for p in 0..2 {
            for q in 0..3 {
                for r in 0..4 {
                    for s in 0..6 {
                        kron[(p * 4 + r) * 18 + q * 6 + s] = x[p * 3 + q] * y[r * 6 + s];
                    }
                }
            }
        }
        // x (2, 3), y (3, 4, 2): out[l] = sum_{p, q} x[p, q] y[q, l, p].
        let mut td = vec![0.0; 4];
        for l in 0..4 {
            for p in 0..2 {
                for q in 0..3 {
                    td[l] += x[p * 3 + q] * y[(q * 4 + l) * 2 + p];
                }
            }
        }
        let outer = rf::tensorprod(x, y);
        let all: Vec<f64> = [kron, td, outer].concat();
        o.copy_from_slice(&all);
    };
    let spec = Spec::new(6, 24);
    check("kron_tensordot", spec, SIZES, Red::J, 292, both!(run), term);
}

#[test]
fn full_contraction_is_a_kernel_matrix() {
    // A scalar result: sum_{p, q} x[p, q] y[q, p], x (2, 3), y (3, 2).
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 6, y_j: 6 => tensordot(x_i, y_j, [2, 3], [3, 2], [0, 1], [1, 0]))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let mut kij = 0.0;
        for p in 0..2 {
            for q in 0..3 {
                kij += a.x[p * 3 + q] * a.y[q * 2 + p];
            }
        }
        times_b(kij, a, o);
    };
    let spec = Spec::new(6, 6);
    check_matvec("tensordot_kernel", spec, SIZES, both!(kmat), term);
}

#[test]
fn weighted_norms() {
    // w: a full 3 x 3 matrix, v: diagonal weights, s: a scalar (isotropic).
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let w: [f64; 9] = d.p[..9].try_into().unwrap();
        let v: [f64; 3] = d.p[9..12].try_into().unwrap();
        let s = d.p[12];
        kernel!(x_i: 3, y_j: 3, w: 9, v: 3, b_j: 1 => sum_j(concat(concat(
            weightedsqdist(w, x_i, y_j), weightedsqdist(v, x_i, y_j)),
            weightedsqnorm(s, x_i - y_j)) * b_j
        ))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let f = rf::sub(a.x, a.y);
        let (w, v, s) = (&a.p[..9], &a.p[9..12], a.p[12]);
        let mut full = 0.0;
        for k in 0..3 {
            for l in 0..3 {
                full += w[k * 3 + l] * f[k] * f[l];
            }
        }
        let diag: f64 = (0..3).map(|k| v[k] * f[k] * f[k]).sum();
        let iso = s * rf::sqnorm(&f);
        o[0] = full * a.b[0];
        o[1] = diag * a.b[0];
        o[2] = iso * a.b[0];
    };
    let spec = Spec::new(3, 3).params(13, (0.25, 1.5));
    check("weighted_norms", spec, SIZES, Red::J, 3, both!(run), term);
}

#[test]
fn weighted_norms_with_run_time_dimensions() {
    // Nothing annotated: the weights b_j join the class of x_i - y_j (diagonal).
    fn diag<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(sum_j(weightedsqdist(b_j, x_i, y_j) * concat(x_i, 1)))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // Weights of dimension 5 (not a square): diagonal, which fixes the dimension of x_i - y_j.
    fn fixed<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let v: [f64; 5] = d.p[..5].try_into().unwrap();
        kernel!(v: 5 => sum_j(weightedsqnorm(v, x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    for dim in [2, 5, 20] {
        let term = |a: &Args, o: &mut [f64]| {
            let f = rf::sub(a.x, a.y);
            let q: f64 = (0..f.len()).map(|k| a.b[k] * f[k] * f[k]).sum();
            for k in 0..f.len() {
                o[k] = q * a.x[k];
            }
            o[f.len()] = q;
        };
        let spec = Spec::new(dim, dim).b(dim);
        check(
            "weighted_runtime",
            spec,
            SIZES,
            Red::J,
            dim + 1,
            both!(diag),
            term,
        );
    }
    let term = |a: &Args, o: &mut [f64]| {
        let f = rf::sub(a.x, a.y);
        o[0] = (0..5).map(|k| a.p[k] * f[k] * f[k]).sum::<f64>() * a.b[0];
    };
    let spec = Spec::new(5, 5).params(5, (0.25, 1.5));
    check(
        "weighted_fixed_diag",
        spec,
        SIZES,
        Red::J,
        1,
        both!(fixed),
        term,
    );
}

#[test]
fn tensor_operations_with_run_time_dimensions_elsewhere() {
    // x_i, y_j of run-time dimensions; the matrix b_j (3 x 2) and a_i (2) annotated. The output
    // concatenates a fixed part and a run-time one.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(b_j: 6, a_i: 2 => sum_j(exp(-sqdist(x_i, y_j)) * concat(matvec(b_j, a_i), y_j)))
            .x_i(d.x())
            .y_j(d.y())
            .a_i(d.a())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // Over i, with the matrix a parameter (3 x 2 for vecmat, 2 x 3 for matvec) and a
    // concatenation of annotated parts as an operand.
    fn run_i<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let m: [f64; 6] = d.p[..6].try_into().unwrap();
        kernel!(m: 6, a_i: 2, b_j: 1 => sum_i(
            vecmat(concat(a_i, b_j), m) * sqdist(x_i, y_j) + matvec(m, concat(a_i, b_j))
        ))
        .x_i(d.x())
        .y_j(d.y())
        .a_i(d.a())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    for dim in [2, 5, 20] {
        let term = |a: &Args, o: &mut [f64]| {
            let g = (-rf::sqdist(a.x, a.y)).exp();
            let mv = rf::matvec(a.b, a.a);
            for k in 0..3 {
                o[k] = g * mv[k];
            }
            for k in 0..a.y.len() {
                o[3 + k] = g * a.y[k];
            }
        };
        let spec = Spec::new(dim, dim).a(2).b(6);
        check(
            "mixed_runtime",
            spec,
            SIZES,
            Red::J,
            3 + dim,
            both!(run),
            term,
        );
        let term = |a: &Args, o: &mut [f64]| {
            let m = &a.p[..6];
            let ab = [a.a[0], a.a[1], a.b[0]];
            let (v, w) = (rf::vecmat(&ab, m), rf::matvec(m, &ab));
            let q = rf::sqdist(a.x, a.y);
            for k in 0..2 {
                o[k] = v[k] * q + w[k];
            }
        };
        let spec = Spec::new(dim, dim).a(2).params(6, (-1.0, 1.0));
        check(
            "mixed_runtime_i",
            spec,
            SIZES,
            Red::I,
            2,
            both!(run_i),
            term,
        );
    }
}

#[test]
fn largest_dimensions() {
    // 32 x 32 = 1024 = MAX_DIM outputs; a 32 x 32 matrix times a vector.
    fn outer_bound<T: Real>(
        d: &Inputs<T>,
    ) -> Reduction<T, impl BoundReduction<T, Output = Rows<T>> + '_> {
        kernel!(x_i: 32, y_j: 32 => sum_j(tensorprod(x_i, y_j)))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .unwrap()
    }
    fn outer<T: Real>(d: &Inputs<T>) -> Rows<T> {
        eval(outer_bound(d))
    }
    fn mat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 32, y_j: 1024 => sum_j(matvec(y_j, x_i)))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let small = &SIZES[..2];
    let term = |a: &Args, o: &mut [f64]| o.copy_from_slice(&rf::tensorprod(a.x, a.y));
    let spec = Spec::new(32, 32);
    check(
        "tensorprod_1024",
        spec,
        small,
        Red::J,
        1024,
        both!(outer),
        term,
    );
    let term = |a: &Args, o: &mut [f64]| o.copy_from_slice(&rf::matvec(a.y, a.x));
    let spec = Spec::new(32, 1024);
    check("matvec_32x32", spec, small, Red::J, 32, both!(mat), term);
    // The comparisons above include the host-emulated kernels whenever a C++ compiler is there
    // (the fixed dimensions of a contraction never make the GPU path skip a formula).
    if gpu_host::available() {
        let d = Inputs::<f64>::new(&mut Rng::new(1), 7, 13, Spec::new(32, 32));
        let bound = outer_bound(&d);
        let run = gpu_host::run_reduction(&bound.gpu_task(), None);
        assert!(matches!(run, Ok(gpu_host::Outcome::Ran(_))), "{run:?}");
    }
}
