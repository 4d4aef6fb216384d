//! KeOps' vector operations — `min(f)`, `max(f)`, `argmin(f)`, `argmax(f)` over a vector's
//! entries, `onehot(f, D)`, `extract(f, M, D)`, `extract_t(f, M, D)`, `elem_t(f, N, M)`, `zero(N)` —
//! against dense f64 references written here with plain loops and KeOps' definitions
//! (keopscore's Min, Max, ArgMin, ArgMax, OneHot, Extract, ExtractT, ElemT, Zero), in f32 and
//! f64, with fixed (annotated) and run-time dimensions, through `sum_j` and a kernel matrix's
//! matvec. Every evaluation also runs the generated CUDA kernels as host C++
//! (tests/common/gpu_host/), compared with the same reference and tolerance.
//!
//! Definitions (KeOps'): `min(f)` starts from entry 0 and takes an entry that is strictly smaller
//! (so the first index among ties for `argmin`, and a NaN is kept at entry 0, skipped after it);
//! `argmin` is an index as a real, 0 for a scalar; `onehot(f, D)` has its 1 at index
//! `trunc(f + 0.5)`, the sum in the data's precision (KeOps' `(int)(f + .5)`), and is all zeros
//! when that index is not in `0..D` (where KeOps writes out of bounds).
//!
//! Inputs: uniform, about half snapped to multiples of 1/4, so that ties between entries and the
//! half-way points of `onehot` occur often; the reference rounds each step of an argument that
//! jumps (`rt`) as the library computes it.
//!
//! Tolerances (per output entry, `|got - want| <= tol * sum_terms |term|`): f32 1e-4, f64 1e-12,
//! as in tests/operations/. Observed worst `|got - want| / sum |term|`: printed per case
//! (`cargo test --test ops_vector -- --nocapture`).
//!
//! The `__*_like` / `__*_tail` forms are the doc-hidden hooks of keops-formula's lowering that
//! build these operations with the shape of another operand (a run-time dimension), as the
//! gradients do; `Tail` is the placement gradients of `concat` use.

#![allow(clippy::needless_range_loop)] // the references are plain index loops, on purpose

mod common;

use common::cases::{
    both, check, check_matvec, check_rejects, eval, matvec, times_b, Args, Inputs, Red, Spec, Term,
    SIZES,
};
use common::{gpu_host, Rng};
use keops::prelude::*;

/// For the run-time dimensions (one case per dimension).
const SMALL: &[(usize, usize)] = &[(7, 13), (65, 257)];

// ---------------------------------------------------------------------------------------------
// The reference definitions (KeOps'), in f64.

mod rf {
    /// KeOps' Min / Max / ArgMin / ArgMax loop: (value, index) of the extremum, from entry 0,
    /// replaced by a strictly smaller (`max`: larger) entry.
    pub fn extremum(v: &[f64], max: bool) -> (f64, usize) {
        let (mut m, mut k) = (v[0], 0);
        for i in 1..v.len() {
            if (!max && v[i] < m) || (max && v[i] > m) {
                (m, k) = (v[i], i);
            }
        }
        (m, k)
    }
    /// KeOps' OneHot(x, d): 1 at `trunc(x + 0.5)` (the sum rounded by `rt`) if in `0..d`.
    pub fn onehot(x: f64, d: usize, rt: fn(f64) -> f64, out: &mut [f64]) {
        out[..d].fill(0.0);
        let v = rt(x + 0.5);
        if v > -1.0 && v < d as f64 {
            out[v.trunc() as usize] = 1.0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// min, max, argmin, argmax over a vector's entries.

/// `[min(v), max(w), argmin(v), argmax(w)] * b[0]` with `v = x - y`, `w = x * y` (rounded as
/// computed): the reference of the cases that multiply the four by a scalar `b_j`.
fn extrema(a: &Args, o: &mut [f64]) {
    let rt = a.rt;
    let v: Vec<f64> = (0..a.x.len()).map(|k| rt(a.x[k] - a.y[k])).collect();
    let w: Vec<f64> = (0..a.x.len()).map(|k| rt(a.x[k] * a.y[k])).collect();
    let (mn, imn) = rf::extremum(&v, false);
    let (mx, imx) = rf::extremum(&w, true);
    let b = a.b[0];
    o[..4].copy_from_slice(&[mn * b, mx * b, imn as f64 * b, imx as f64 * b]);
}

#[test]
fn min_max_argmin_argmax() {
    // Fixed dimension 5, times a scalar b_j; and the entrywise `min(f, g)`, `max(f, g)` beside
    // them (the name with two arguments).
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 5, y_j: 5, b_j: 1 => sum_j(concat(
            concat(
                concat(min(x_i - y_j), max(x_i * y_j)),
                concat(argmin(x_i - y_j), argmax(x_i * y_j))
            ) * b_j,
            min(x_i, y_j) + max(x_i, 2 * y_j)
        )))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        extrema(a, o);
        for k in 0..5 {
            o[4 + k] = a.x[k].min(a.y[k]) + a.x[k].max(2.0 * a.y[k]);
        }
    };
    let spec = Spec::new(5, 5).snap();
    check("extrema", spec, SIZES, Red::J, 9, both!(run), term);
}

#[test]
fn min_max_argmin_argmax_runtime_and_scalar() {
    // Run-time dimensions: every exact arm and buckets of both emitters.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(b_j: 1 => sum_j(concat(
            concat(min(x_i - y_j), max(x_i * y_j)),
            concat(argmin(x_i - y_j), argmax(x_i * y_j))
        ) * b_j))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = extrema;
    for dim in [1, 2, 3, 6, 20, 70] {
        let spec = Spec::new(dim, dim).snap();
        check("extrema_runtime", spec, SMALL, Red::J, 4, both!(run), term);
    }
    // Scalars: min(f) = max(f) = f, argmin(f) = argmax(f) = 0.
    fn scalar<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 1, y_j: 1 => sum_j(concat(
            concat(min(x_i - y_j), max(x_i * y_j)),
            concat(argmin(x_i - y_j) + 1, argmax(x_i * y_j) - 1)
        )))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        o.copy_from_slice(&[a.x[0] - a.y[0], a.x[0] * a.y[0], 1.0, -1.0]);
    };
    let spec = Spec::new(1, 1).snap();
    check(
        "extrema_scalar",
        spec,
        SIZES,
        Red::J,
        4,
        both!(scalar),
        term,
    );
}

#[test]
fn max_in_a_kernel_matrix() {
    // A Laplace-like kernel of the sup norm, times 1 + argmin: the matvec kernels.
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 4, y_j: 4 => exp(-max(abs(x_i - y_j))) * (1 + argmin(x_i * y_j)))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        let v: Vec<f64> = (0..4).map(|k| rt(a.x[k] - a.y[k]).abs()).collect();
        let w: Vec<f64> = (0..4).map(|k| rt(a.x[k] * a.y[k])).collect();
        let kij = (-rf::extremum(&v, true).0).exp() * (1.0 + rf::extremum(&w, false).1 as f64);
        times_b(kij, a, o);
    };
    let spec = Spec::new(4, 4).snap();
    check_matvec("max_matvec", spec, SIZES, both!(kmat), term);
}

/// Ties and NaN, exactly: integer data in {-1, 0, 1} (many ties; every sum exact), and NaN entries
/// made by `log` of negative values: `argmin` keeps the first index among ties, a NaN at entry 0 is
/// never replaced (its argmin is 0, its min NaN), a later NaN is skipped.
#[test]
fn ties_and_nan_exact() {
    fn run<T: Real>(x: &[[T; 4]], y: &[[T; 4]]) -> Rows<T> {
        kernel!(x_i: 4, y_j: 4 => sum_j(concat(
            concat(concat(argmin(x_i * y_j), argmax(x_i * y_j)), concat(min(x_i + y_j), max(x_i - y_j))),
            concat(
                concat(argmin(log(x_i * y_j)), argmax(log(x_i * y_j))),
                // log(x * y) with entry 0 finite (x0, y0 >= 1): NaN entries are skipped.
                min(log(concat(elem(x_i, 0) * elem(y_j, 0) + 1, extract(x_i * y_j, 1, 3))))
            )
        )))
        .x_i(x)
        .y_j(y)
        .bind()
        .map(eval)
        .unwrap()
    }
    fn want(x: &[[f64; 4]], y: &[[f64; 4]]) -> Vec<f64> {
        const W: usize = 7;
        let mut out = vec![0.0; x.len() * W];
        for (i, xi) in x.iter().enumerate() {
            for yj in y {
                let p: Vec<f64> = (0..4).map(|k| xi[k] * yj[k]).collect();
                let s: Vec<f64> = (0..4).map(|k| xi[k] + yj[k]).collect();
                let d: Vec<f64> = (0..4).map(|k| xi[k] - yj[k]).collect();
                let lp: Vec<f64> = p.iter().map(|v| v.ln()).collect();
                let mut l2 = vec![(p[0] + 1.0).ln()];
                l2.extend(lp[1..].iter());
                let t = [
                    rf::extremum(&p, false).1 as f64,
                    rf::extremum(&p, true).1 as f64,
                    rf::extremum(&s, false).0,
                    rf::extremum(&d, true).0,
                    rf::extremum(&lp, false).1 as f64,
                    rf::extremum(&lp, true).1 as f64,
                    rf::extremum(&l2, false).0,
                ];
                for k in 0..W {
                    out[i * W + k] += t[k];
                }
            }
        }
        out
    }
    let mut rng = Rng::new(17);
    // Entry 0 >= 1 (so that x0 * y0 + 1 > 0); the others in {-1, 0, 1}: ties, zeros (log 0 =
    // -inf, a minimum), negative products (NaN).
    let mut pts = |n: usize| -> Vec<[f64; 4]> {
        (0..n)
            .map(|_| [(); 4].map(|_| rng.int(-1, 1) as f64))
            .map(|mut p| {
                p[0] = if p[0] < 0.0 { 1.0 } else { p[0] + 1.0 };
                p
            })
            .collect()
    };
    let (x, y) = (pts(30), pts(300));
    let w = want(&x, &y);
    // The last column sums logs (an exact -inf where a product is 0, else ln of 1, 2, 3):
    // compared with a tolerance; the index and integer columns exactly.
    let same = |what: &str, got: &[f64]| {
        for (k, (&g, &e)) in got.iter().zip(&w).enumerate() {
            let ok = if k % 7 == 6 {
                g == e || (g - e).abs() <= 1e-5 * e.abs()
            } else {
                g == e
            };
            assert!(ok, "{what}: entry {k}: got {g}, want {e}");
        }
    };
    assert!(w.iter().any(|v| v.is_infinite()), "log(0) occurs");
    gpu_host::take_recorded();
    same("f64", run(&x, &y).as_slice());
    let to32 =
        |v: &[[f64; 4]]| -> Vec<[f32; 4]> { v.iter().map(|p| p.map(|c| c as f32)).collect() };
    let got32: Vec<f64> = run(&to32(&x), &to32(&y))
        .iter()
        .map(|&v| v as f64)
        .collect();
    same("f32", &got32);
    for h in gpu_host::take_recorded() {
        let got = h.got.unwrap_or_else(|e| panic!("{}: {e}", h.what));
        same(&h.what, &got);
    }
    // One pair with a NaN at entry 0: argmin and argmax 0, min NaN.
    let one = kernel!(x_i: 3, y_j: 3 => sum_j(concat(concat(argmin(log(x_i)), argmax(log(x_i))), min(log(x_i)) * y_j)))
        .x_i(&[[-1.0f64, 2.0, 0.5]][..])
        .y_j(&[[1.0f64, 1.0, 1.0]][..])
        .eval()
        .unwrap();
    assert_eq!(&one[..2], &[0.0, 0.0]);
    assert!(one[2..].iter().all(|v| v.is_nan()), "{:?}", one.as_slice());
}

// ---------------------------------------------------------------------------------------------
// onehot.

#[test]
fn onehot() {
    // 4a + 2b in (-6, 6), on multiples of 1/2 half of the time: every index of 0..6, the half-way
    // points (f + 0.5 an integer), values below -1.5 and above 5.5 (all zeros); D = 1 (a scalar).
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(a_i: 1, b_j: 1 => sum_j(
            concat(onehot(4 * a_i + 2 * b_j, 6), onehot(a_i - b_j, 1)) * (b_j + 2)
        ))
        .a_i(d.a())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        let (x, y) = (a.a[0], a.b[0]);
        rf::onehot(rt(4.0 * x + 2.0 * y), 6, rt, &mut o[..6]);
        rf::onehot(rt(x - y), 1, rt, &mut o[6..]);
        let w = y + 2.0;
        for v in o.iter_mut() {
            *v *= w;
        }
    };
    let spec = Spec::new(1, 1).snap();
    check("onehot", spec, SIZES, Red::J, 7, both!(run), term);
    // The dimension of another operand's (run-time) class.
    fn like<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(a_i: 1, b_j: 1 => sum_j(__onehot_like(4 * a_i + 2 * b_j, y_j) * (b_j + 2)))
            .a_i(d.a())
            .b_j(d.b())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    for dim in [1, 3, 5, 20] {
        let term = move |a: &Args, o: &mut [f64]| {
            let rt = a.rt;
            rf::onehot(rt(4.0 * a.a[0] + 2.0 * a.b[0]), dim, rt, o);
            for v in o.iter_mut() {
                *v *= a.b[0] + 2.0;
            }
        };
        let spec = Spec::new(1, dim).snap();
        check("onehot_like", spec, SMALL, Red::J, dim, both!(like), term);
    }
}

// ---------------------------------------------------------------------------------------------
// extract, extract_t, elem_t, zero.

#[test]
fn extract_extract_t_elem_t_zero() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 6, y_j: 4, b_j: 1 => sum_j(concat(
            concat(
                extract(x_i, 1, 3) * elem(y_j, 0),
                extract(x_i, 5, 1) + y_j + extract(y_j, 0, 4) + zero(1)
            ),
            concat(
                extract_t(y_j - 1, 2, 7) + zero(7) + extract_t(extract(x_i, 4, 2), 5, 7),
                concat(elem_t(sqnorm(x_i) - elem(y_j, 3), 5, 2), elem_t(elem(x_i, 0), 1, 0))
            )
        ) * b_j))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y, b) = (a.x, a.y, a.b[0]);
        for k in 0..3 {
            o[k] = x[1 + k] * y[0];
        }
        for k in 0..4 {
            o[3 + k] = x[5] + 2.0 * y[k];
        }
        let t = &mut o[7..14];
        t.fill(0.0);
        for k in 0..4 {
            t[2 + k] += y[k] - 1.0;
        }
        t[5] += x[4];
        t[6] += x[5];
        let sq: f64 = x.iter().map(|v| v * v).sum();
        o[14..19].copy_from_slice(&[0.0, 0.0, sq - y[3], 0.0, 0.0]);
        o[19] = x[0];
        for v in o.iter_mut() {
            *v *= b;
        }
    };
    let spec = Spec::new(6, 4);
    check("extract", spec, SIZES, Red::J, 20, both!(run), term);
    // A matvec: a kernel of extracted entries.
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 5, y_j: 3 => exp(-sqdist(extract(x_i, 2, 3), y_j)) + sum(extract_t(y_j, 1, 5) * x_i))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x, a.y);
        let d: f64 = (0..3).map(|k| (x[2 + k] - y[k]).powi(2)).sum();
        let s: f64 = (0..3).map(|k| y[k] * x[1 + k]).sum();
        let kij = (-d).exp() + s;
        times_b(kij, a, o);
    };
    let spec = Spec::new(5, 3);
    check_matvec("extract_matvec", spec, SIZES, both!(kmat), term);
}

#[test]
fn extract_runtime() {
    // `extract` of operands of run-time dimension (the bound is checked when the data is bound),
    // `extract_t` of an extracted (fixed-dimension) part.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(b_j: 1 => sum_j(concat(
            extract(x_i, 1, 3) * elem(y_j, 0),
            extract_t(extract(y_j - x_i, 0, 2), 1, 4)
        ) * b_j))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y, b) = (a.x, a.y, a.b[0]);
        for k in 0..3 {
            o[k] = x[1 + k] * y[0] * b;
        }
        o[3..7].copy_from_slice(&[0.0, (y[0] - x[0]) * b, (y[1] - x[1]) * b, 0.0]);
    };
    for dim in [4, 5, 20, 70] {
        check(
            "extract_runtime",
            Spec::new(dim, dim),
            SMALL,
            Red::J,
            7,
            both!(run),
            term,
        );
    }
    // Out of range at run time: a typed error, before anything runs.
    let x = vec![[0.5f64; 3]; 4];
    let y = vec![[0.25f64; 3]; 5];
    let b = vec![1.0f64; 5];
    let err = kernel!(b_j: 1 => sum_j(extract(x_i, 1, 3) * elem(y_j, 0) * b_j))
        .x_i(&x)
        .y_j(&y)
        .b_j(&b)
        .eval()
        .unwrap_err();
    match &err {
        KeopsError::ExtractOutOfRange {
            var,
            start: 1,
            len: 3,
            dim: 3,
        } => assert_eq!(var, "x_i"),
        other => panic!("wrong error {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("extract(.., 1, 3)") && msg.contains("1..4"),
        "{msg}"
    );
}

/// `Start::Tail` and the shapes of run-time classes (the gradients' forms): `__extract_tail(c,
/// y_j)` is the last `dim(y_j)` entries of `c`, `__extract_t_tail(y_j, c)` places `y_j` at the end
/// of a vector of `c`'s dimension; `__extract_like`, `__extract_t_like`, `__broadcast_like` at an
/// offset / of another operand's dimension, and scalar results.
#[test]
fn tail_and_runtime_shapes() {
    fn extract<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, b_j: 1 =>
            let c = concat(x_i, y_j * 2);
            sum_j((__extract_tail(c, y_j) + __extract_like(c, 2, y_j) + __extract_tail(c, b_j)) * b_j)
        )
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    fn place<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, b_j: 1 =>
            let c = concat(x_i, y_j);
            sum_j((
                __extract_t_tail(y_j, c) + __extract_t_like(y_j * 2, 1, c)
                + __extract_t_tail(b_j, c) + __broadcast_like(elem(x_i, 2), c) - c
            ) * b_j)
        )
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    for dim in [1, 2, 5, 20] {
        let term = move |a: &Args, o: &mut [f64]| {
            let (x, y, b) = (a.x, a.y, a.b[0]);
            let c: Vec<f64> = x.iter().copied().chain(y.iter().map(|v| 2.0 * v)).collect();
            let last = c[c.len() - 1];
            for k in 0..dim {
                o[k] = (c[3 + k] + c[2 + k] + last) * b;
            }
        };
        let spec = Spec::new(3, dim);
        check(
            "extract_tail",
            spec,
            SMALL,
            Red::J,
            dim,
            both!(extract),
            term,
        );
        let term = move |a: &Args, o: &mut [f64]| {
            let (x, y, b) = (a.x, a.y, a.b[0]);
            let n = 3 + dim;
            let c: Vec<f64> = x.iter().chain(y.iter()).copied().collect();
            for k in 0..n {
                let mut v = x[2] - c[k];
                if k >= 3 {
                    v += y[k - 3];
                }
                if (1..1 + dim).contains(&k) {
                    v += 2.0 * y[k - 1];
                }
                if k == n - 1 {
                    v += b;
                }
                o[k] = v * b;
            }
        };
        let spec = Spec::new(3, dim);
        check(
            "extract_t_tail",
            spec,
            SMALL,
            Red::J,
            3 + dim,
            both!(place),
            term,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The comparisons of this file can fail.

#[test]
fn harness_rejects_wrong_results() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 5, y_j: 5, b_j: 1 => sum_j(concat(
            concat(min(x_i - y_j), max(x_i * y_j)),
            concat(argmin(x_i - y_j), argmax(x_i * y_j))
        ) * b_j))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let right = extrema;
    // The last index among ties instead of the first.
    let last_tie = |a: &Args, o: &mut [f64]| {
        right(a, o);
        let rt = a.rt;
        let v: Vec<f64> = (0..5).map(|k| rt(a.x[k] - a.y[k])).collect();
        let m = rf::extremum(&v, false).0;
        let last = (0..5).rev().find(|&k| v[k] == m).unwrap();
        o[2] = last as f64 * a.b[0];
    };
    let spec = Spec::new(5, 5).snap();
    let wrong: [(&str, Term); 1] = [("last tie", &last_tie)];
    check_rejects("reject", spec, &SIZES[1..], 4, both!(run), &right, &wrong);
}
