//! Every operation of the formula language and both reductions, against a dense f64 reference.
//!
//! Each case is a formula `F` (inside `sum_j(..)`, `sum_i(..)`, or a kernel matrix times a vector)
//! evaluated by the library on random inputs in f32 and in f64, and a plain-loop f64 reference of
//! the same sum computed on the same inputs (f32 inputs are rounded to f32 first, then widened, so
//! the reference sees exactly the numbers the library sees; parameters too).
//!
//! Tolerances are norm-wise, per output entry: `|got - want| <= tol * sum_terms |term|`, so that
//! cancellation in a sum does not cause false failures, while a wrong operation, a swapped sign or a
//! dropped / repeated term (relative size >= 1/1037 here) does fail:
//! - f64: `tol = 1e-12`. Each term is computed to a few ulps (~1e-15 relative, the functions are
//!   well conditioned on the chosen ranges) and tiles of 256 terms are summed in f64 (worst case
//!   255 * 1.1e-16 = 2.8e-14), so this leaves a margin of ~30.
//! - f32: `tol = 1e-4`. Terms to a few ulps (~1e-6), tiles of 256 summed in f32 (worst case
//!   255 * 6e-8 = 1.5e-5, typically ~1e-6), tiles combined in f64. Still 10x below the 1e-3 relative
//!   change that dropping one of 1037 comparable terms causes.
//!
//! Observed worst `|got - want| / sum |term|` over this file: f32 9e-6 (dot products of dimension
//! 1024), ~1e-6 elsewhere; f64 3e-14. The wrong implementations of `harness_rejects_wrong_results`
//! give >= 5e-4.
//!
//! Sizes (N output rows, M summed points): (1, 1), (7, 13), (1000, 1037), plus (65, 257) that
//! crosses a row block (64) and a reduction tile (256) boundary where large sizes would be slow.
//!
//! The GPU path: every formula evaluated here (through `eval` / `host_matvec`) also runs its
//! generated CUDA kernel as host C++ under keops_host.h's emulation (tests/common/gpu_host.rs),
//! launched as on a GPU of 4 multiprocessors: with the plan's own split of the reduction range
//! (at (1000, 1037): 2 blocks along it, f64 partial sums, then the combining kernel), and when
//! that is one block but there are 2 tiles or more, also with 3 blocks. Each result is compared
//! to the same reference with the same tolerance: the kernels accumulate as the CPU engine does
//! (tiles of at most 256 terms in T, tiles and partial sums in f64), so the bounds above hold for
//! them too. The largest size is emulated in f64 only (`HOST_F32_MAX_PAIRS`), dimensions above
//! 256 have no GPU kernel (skipped), and without a C++ compiler the emulation is skipped.

#![allow(clippy::needless_range_loop)] // the references are plain index loops, on purpose

mod common;

use common::cases::{
    self, assert_exact_both, assert_host_exact, both, check, check_labeled, check_matvec,
    host_matvec, matvec, times_b, try_case, Args, Inputs, Red, Runs, Spec,
};
use common::{gpu_host, Rng};
use keops::prelude::*;
use keops_runtime::BoundReduction;

/// The sizes.
const ALL: &[(usize, usize)] = &[(1, 1), (7, 13), (1000, 1037)];
/// Cheaper sizes, for the variants of a case and for large dimensions.
const SMALL: &[(usize, usize)] = &[(1, 1), (7, 13), (65, 257)];

/// [`cases::eval`], after registering the formulas `kernel!` receives inside this file's macros
/// (`MACRO_FORMULAS`), which the host emulation compiles itself.
fn eval<T: Real, B: BoundReduction<T, Output = Rows<T>>>(r: Reduction<T, B>) -> Rows<T> {
    gpu_host::register_formulas(MACRO_FORMULAS);
    cases::eval(r)
}

// ---------------------------------------------------------------------------------------------
// Plain f64 definitions for the references (KeOps' definitions).

mod rf {
    pub fn sign(x: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    }
    pub fn step(x: f64) -> f64 {
        if x >= 0.0 {
            1.0
        } else {
            0.0
        }
    }
    pub fn relu(x: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            0.0
        }
    }
    pub fn clamp(x: f64, a: f64, b: f64) -> f64 {
        if x < a {
            a
        } else if x > b {
            b
        } else {
            x
        }
    }
    pub fn ifelse(c: f64, a: f64, b: f64) -> f64 {
        if c >= 0.0 {
            a
        } else {
            b
        }
    }
    pub fn dot(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mut s = 0.0;
        for k in 0..a.len() {
            s += a[k] * b[k];
        }
        s
    }
    pub fn sqdist(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mut s = 0.0;
        for k in 0..a.len() {
            s += (a[k] - b[k]) * (a[k] - b[k]);
        }
        s
    }
    pub fn sqnorm(a: &[f64]) -> f64 {
        dot(a, a)
    }
}

// ---------------------------------------------------------------------------------------------
// Entrywise operations. The table below lists, per operation, the ranges of x and y, a formula
// `F(x_i, y_j)` and its scalar reference `f(x, y)`. It is used three ways:
// - one test per operation: `x_i: 3, y_j: 3 => sum_j(F)`, vector output of dimension 3, every size;
// - `all_entrywise_scalar`: `x_i: 1, y_j: 1`, every F concatenated: the scalar code path;
// - `all_entrywise_broadcast`: `x_i: 1, y_j: 3`, every F concatenated: a scalar variable
//   broadcast against a vector.
// The reference applies `f` entrywise, broadcasting dimension-1 operands. The forms are annotated:
// a run-time dimension is a dispatch over ~9 monomorphised arms per precision, which costs compile
// time; `runtime_dimensions` covers run-time dimensions.

const PM1: (f64, f64) = (-1.0, 1.0);
const PM2: (f64, f64) = (-2.0, 2.0);
const POS: (f64, f64) = (0.5, 2.0);

macro_rules! entrywise_ops {
    ($then:ident) => {
        $then! {
            add: PM1, PM1, [x_i + y_j], |x, y| x + y;
            sub: PM1, PM1, [x_i - y_j], |x, y| x - y;
            mul: PM1, PM1, [x_i * y_j], |x, y| x * y;
            div: PM1, POS, [x_i / y_j], |x, y| x / y;
            neg: PM1, PM1, [-(x_i - 2 * y_j) * y_j], |x, y| -(x - 2.0 * y) * y;
            literals: PM1, PM1,
                [3 * x_i - y_j / 4 + 2.5 + -(-(x_i * 1)) - (y_j - 0) + (1 + 2) * 0.5e-1 * y_j],
                |x, y| 3.0 * x - y / 4.0 + 2.5 + x - y + 0.15 * y;
            exp: PM1, PM1, [exp(x_i - y_j)], |x, y| (x - y).exp();
            log: POS, POS, [log(x_i + y_j)], |x, y| (x + y).ln();
            sqrt: POS, POS, [sqrt(x_i * y_j)], |x, y| (x * y).sqrt();
            rsqrt: POS, POS, [rsqrt(x_i + y_j)], |x, y| 1.0 / (x + y).sqrt();
            inv: POS, POS, [inv(x_i + y_j)], |x, y| 1.0 / (x + y);
            square: PM1, PM1, [square(x_i - y_j)], |x, y| (x - y) * (x - y);
            pow3: PM1, PM1, [pow(x_i - y_j, 3)], |x, y| (x - y) * (x - y) * (x - y);
            pow_neg2: POS, POS, [pow(x_i + y_j, -2)], |x, y| 1.0 / ((x + y) * (x + y));
            pow0_pow1: PM1, PM1, [pow(x_i, 0) + pow(y_j, 1)], |_x, y| 1.0 + y;
            powf: POS, (-1.5, 1.5), [powf(x_i, y_j)], |x, y| x.powf(y);
            abs: PM1, PM1, [abs(x_i - y_j)], |x, y| (x - y).abs();
            sign: PM1, PM1, [sign(x_i - y_j) * (y_j + 2)], |x, y| rf::sign(x - y) * (y + 2.0);
            step: PM1, PM1, [step(x_i - y_j) * (y_j + 2)], |x, y| rf::step(x - y) * (y + 2.0);
            relu: PM1, PM1, [relu(x_i - y_j)], |x, y| rf::relu(x - y);
            sin: PM2, PM2, [sin(2 * x_i - y_j)], |x, y| (2.0 * x - y).sin();
            cos: PM2, PM2, [cos(x_i * y_j)], |x, y| (x * y).cos();
            min: PM1, PM1, [min(x_i, y_j)], |x, y| x.min(y);
            max: PM1, PM1, [max(x_i, y_j)], |x, y| x.max(y);
            clamp_vars: PM2, PM1, [clamp(x_i, y_j - 0.5, y_j + 0.5)],
                |x, y| rf::clamp(x, y - 0.5, y + 0.5);
            clamp_literals: PM1, PM1, [clamp(x_i - y_j, -0.25, 0.5)],
                |x, y| rf::clamp(x - y, -0.25, 0.5);
            ifelse: PM1, PM1, [ifelse(x_i - y_j, x_i * y_j, x_i + 2 * y_j)],
                |x, y| rf::ifelse(x - y, x * y, x + 2.0 * y);
        }
    };
}

/// `out[k] = f(x[k], y[k])`, a dimension-1 operand broadcast.
fn entrywise_term(f: fn(f64, f64) -> f64) -> impl Fn(&Args, &mut [f64]) {
    move |a: &Args, out: &mut [f64]| {
        for (k, o) in out.iter_mut().enumerate() {
            *o = f(a.x[k % a.x.len()], a.y[k % a.y.len()]);
        }
    }
}

macro_rules! per_op_tests {
    ($($name:ident: $xr:expr, $yr:expr, [$($f:tt)*], |$x:ident, $y:ident| $r:expr;)*) => {$(
        #[test]
        fn $name() {
            fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
                kernel!(x_i: 3, y_j: 3 => sum_j($($f)*))
                    .x_i(d.x())
                    .y_j(d.y())
                    .bind()
                    .map(eval)
                    .unwrap()
            }
            fn f($x: f64, $y: f64) -> f64 {
                $r
            }
            let spec = Spec::new(3, 3).xy($xr, $yr);
            check(stringify!($name), spec, ALL, Red::J, 3, both!(run), entrywise_term(f));
        }
    )*};
}
entrywise_ops!(per_op_tests);

/// `kernel!(DECL => sum_j(concat(concat(F1, F2), ..., Fn)))` bound to `d`'s x and y.
macro_rules! concat_all {
    (($($decl:tt)*); $d:ident; [$($acc:tt)*]) => {
        kernel!($($decl)* => sum_j($($acc)*)).x_i($d.x()).y_j($d.y()).bind().map(eval).unwrap()
    };
    (($($decl:tt)*); $d:ident; [$($acc:tt)*] [$($f:tt)*] $($rest:tt)*) => {
        concat_all!(($($decl)*); $d; [concat($($acc)*, $($f)*)] $($rest)*)
    };
}

macro_rules! all_ops_tests {
    ($($name:ident: $xr:expr, $yr:expr, [$($f:tt)*], |$x:ident, $y:ident| $r:expr;)*) => {
        /// Every entrywise operation: its name and its reference, in table order.
        const OPS: &[(&str, fn(f64, f64) -> f64)] = &[$((stringify!($name), {
            fn f($x: f64, $y: f64) -> f64 {
                $r
            }
            f
        })),*];

        #[test]
        fn all_entrywise_scalar() {
            fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
                concat_all!((x_i: 1, y_j: 1); d; $([$($f)*])*)
            }
            check_ops(1, both!(run));
        }

        #[test]
        fn all_entrywise_broadcast() {
            fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
                concat_all!((x_i: 1, y_j: 3); d; $([$($f)*])*)
            }
            check_ops(3, both!(run));
        }
    };
}
entrywise_ops!(all_ops_tests);

/// The text of `concat_all!`'s nested `concat(concat(F1, F2), ..., Fn)`.
macro_rules! concat_text {
    ([$($acc:tt)*]) => {
        stringify!($($acc)*)
    };
    ([$($acc:tt)*] [$($f:tt)*] $($rest:tt)*) => {
        concat_text!([concat($($acc)*, $($f)*)] $($rest)*)
    };
}

macro_rules! formula_texts {
    ($($name:ident: $xr:expr, $yr:expr, [$($f:tt)*], |$x:ident, $y:ident| $r:expr;)*) => {
        /// The formulas `kernel!` receives inside `per_op_tests!` and `concat_all!`, as text: the
        /// build-time scan that collects the GPU module's formulas does not expand macros, so the
        /// host emulation compiles these itself.
        const MACRO_FORMULAS: &[&str] = &[
            $(concat!("x_i: 3, y_j: 3 => sum_j(", stringify!($($f)*), ")"),)*
            concat!("x_i: 1, y_j: 1 => sum_j(", concat_text!($([$($f)*])*), ")"),
            concat!("x_i: 1, y_j: 3 => sum_j(", concat_text!($([$($f)*])*), ")"),
        ];
    };
}
entrywise_ops!(formula_texts);

/// Checks the concatenation of every entrywise operation (each of dimension `dy`, x scalar), on
/// inputs where all are defined, naming the operations that differ.
fn check_ops(dy: usize, runs: Runs) {
    let spec = Spec::new(1, dy).xy(POS, POS);
    let dim = OPS.len() * dy;
    let names: Vec<&str> = OPS.iter().map(|(n, _)| *n).collect();
    let term = |a: &Args, out: &mut [f64]| {
        for (q, (_, f)) in OPS.iter().enumerate() {
            entrywise_term(*f)(a, &mut out[q * dy..(q + 1) * dy]);
        }
    };
    check_labeled("all_ops", &names, spec, SMALL, Red::J, dim, runs, &term);
}

/// Run-time dimensions: one unannotated formula (map1, map2, map3, broadcast scalars and every
/// vector operation) dispatched to every exact arm (1..=4) and every `Upto` bucket (5..=8,
/// 9..=16, 17..=64, 65..=256, 257..=1024), at both ends of the buckets.
#[test]
fn runtime_dimensions() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(sum_j(
            clamp(exp(x_i - y_j), 0.5, 1.5) * ifelse(x_i, y_j, -y_j)
                + sqnorm(x_i) * normalize(y_j - x_i - 3)
                + elem(x_i, 0) * dot(x_i, y_j)
                + sum(x_i) * norm(y_j)
                - sqdist(x_i, y_j) / 2
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x, a.y);
        let w = |k: usize| y[k] - x[k] - 3.0;
        let r = (0..x.len()).map(|k| w(k) * w(k)).sum::<f64>().sqrt();
        let (sx, xy) = (rf::sqnorm(x), rf::dot(x, y));
        let c = x.iter().sum::<f64>() * rf::sqnorm(y).sqrt() - rf::sqdist(x, y) / 2.0;
        for k in 0..x.len() {
            let e = rf::clamp((x[k] - y[k]).exp(), 0.5, 1.5) * rf::ifelse(x[k], y[k], -y[k]);
            o[k] = e + sx * w(k) / r + x[0] * xy + c;
        }
    };
    let tiny: &[(usize, usize)] = &[(1, 1), (7, 13)];
    for (dim, sizes) in [
        (1, ALL),
        (2, tiny),
        (3, ALL),
        (4, tiny),
        (5, tiny),
        (7, SMALL),
        (8, tiny),
        (9, tiny),
        (16, tiny),
        (17, tiny),
        (20, SMALL),
        (64, tiny),
        (65, tiny),
        (256, tiny),
        (257, tiny),
        (1024, tiny),
    ] {
        let spec = Spec::new(dim, dim);
        check("runtime_dims", spec, sizes, Red::J, dim, both!(run), term);
    }
}

/// The definitions at their special points, with exact small-integer data so that `x - y` is
/// exactly 0 for many pairs: sign(0) = 0, step(0) = 1, relu(0) = 0, ifelse(0, a, b) = a, clamp and
/// min / max at ties. Integer sums are exact in both precisions: compared exactly.
#[test]
fn special_points_exact() {
    fn run<T: Real>(x: &[T], y: &[T]) -> Rows<T> {
        kernel!(x_i: 1, y_j: 1 => sum_j(concat(
            concat(concat(sign(x_i - y_j), step(x_i - y_j)), concat(relu(x_i - y_j), abs(x_i - y_j))),
            concat(
                concat(ifelse(x_i - y_j, x_i, 10 * y_j), clamp(x_i, y_j, y_j + 1)),
                concat(min(x_i, y_j) * 3 + max(x_i, y_j), sign(x_i * 0))
            )
        )))
        .x_i(x)
        .y_j(y)
        .bind()
        .map(eval)
        .unwrap()
    }
    fn want(x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; x.len() * 8];
        for (i, &xi) in x.iter().enumerate() {
            for &yj in y {
                let d = xi - yj;
                let t = [
                    rf::sign(d),
                    rf::step(d),
                    rf::relu(d),
                    d.abs(),
                    rf::ifelse(d, xi, 10.0 * yj),
                    rf::clamp(xi, yj, yj + 1.0),
                    xi.min(yj) * 3.0 + xi.max(yj),
                    0.0,
                ];
                for k in 0..8 {
                    out[i * 8 + k] += t[k];
                }
            }
        }
        out
    }
    let mut rng = Rng::new(7);
    let x: Vec<f64> = (0..40).map(|_| rng.int(-3, 3) as f64).collect();
    let y: Vec<f64> = (0..300).map(|_| rng.int(-3, 3) as f64).collect();
    // Ties do occur (otherwise this test would not test the special points).
    assert!(x.iter().any(|a| y.contains(a)));
    // The host-emulated CUDA kernels `run` recorded are compared exactly too (300 terms: two
    // tiles, also split in two with the combining pass).
    assert_exact_both(&x, &y, &want(&x, &y), run::<f32>, run::<f64>);
    // One pair, x == y: every special point at once.
    let one = run(&[0.5f64], &[0.5f64]);
    let w1 = [0.0, 1.0, 0.0, 0.0, 0.5, 0.5, 2.0, 0.0];
    assert_eq!(one.as_slice(), &w1);
    assert_host_exact("one pair", &w1);
}

// ---------------------------------------------------------------------------------------------
// Vector operations: sqnorm sqnorm2 norm norm2 dot sum sqdist normalize elem concat, each at a
// fixed (annotated) dimension, 2 to 20, and all of them on scalars; `runtime_dimensions` above and
// `concat` below run them at run-time dimensions.

/// Dimensions for a case at run-time dimensions: the at every size, the others at the small
/// sizes (each exact arm, and `Upto` buckets of two sizes).
const DIMS: &[(usize, &[(usize, usize)])] = &[
    (1, ALL),
    (3, ALL),
    (2, SMALL),
    (4, SMALL),
    (7, SMALL),
    (20, SMALL),
];

#[test]
fn sqnorm_times_vector() {
    // sqnorm is a scalar; times b_j (dimension 2, its own class): vector output of dimension 2.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 2, b_j: 2 => sum_j(sqnorm(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s = rf::sqdist(a.x, a.y);
        o[0] = s * a.b[0];
        o[1] = s * a.b[1];
    };
    check(
        "sqnorm",
        Spec::new(2, 2).b(2),
        ALL,
        Red::J,
        2,
        both!(run),
        term,
    );
}

#[test]
fn sqnorm2_norm_norm2() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3 => sum_j(concat(sqnorm2(x_i + y_j), norm(x_i - y_j) + 2 * norm2(y_j))))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s: Vec<f64> = a.x.iter().zip(a.y).map(|(x, y)| x + y).collect();
        o[0] = rf::sqnorm(&s);
        o[1] = rf::sqdist(a.x, a.y).sqrt() + 2.0 * rf::sqnorm(a.y).sqrt();
    };
    check("norms", Spec::new(3, 3), ALL, Red::J, 2, both!(run), term);
}

#[test]
fn dot_sum_sqdist() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 7, b_j: 3 => sum_j(
            dot(x_i, y_j) * b_j + sum(x_i * y_j - x_i) - exp(-sqdist(x_i, y_j))
        ))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s: f64 = a.x.iter().zip(a.y).map(|(x, y)| x * y - x).sum();
        let common = s - (-rf::sqdist(a.x, a.y)).exp();
        for k in 0..3 {
            o[k] = rf::dot(a.x, a.y) * a.b[k] + common;
        }
    };
    check(
        "dot_sum_sqdist",
        Spec::new(7, 7).b(3),
        ALL,
        Red::J,
        3,
        both!(run),
        term,
    );
}

#[test]
fn normalize() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 4 => sum_j(normalize(x_i - y_j)))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let r = rf::sqdist(a.x, a.y).sqrt();
        for k in 0..a.x.len() {
            o[k] = (a.x[k] - a.y[k]) / r;
        }
    };
    // x - y is never 0: x in [-1, 0.2), y in [0.3, 1.5).
    let spec = Spec::new(4, 4).xy((-1.0, 0.2), (0.3, 1.5));
    check("normalize", spec, ALL, Red::J, 4, both!(run), term);
}

#[test]
fn elem() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 20 => sum_j(
            elem(x_i, 0) * elem(y_j, 19) - elem(x_i, 2) * exp(elem(x_i - y_j, 1))
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        o[0] = a.x[0] * a.y[19] - a.x[2] * (a.x[1] - a.y[1]).exp();
    };
    check("elem", Spec::new(20, 20), ALL, Red::J, 1, both!(run), term);
}

/// The vector operations applied to scalars (`x_i: 1`): the scalar code path of each.
#[test]
fn vector_ops_on_scalars() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 1, y_j: 1 => sum_j(concat(
            concat(concat(sqnorm(x_i - y_j), norm(x_i - y_j)), concat(dot(x_i, y_j), sum(x_i))),
            concat(
                concat(sqdist(x_i, y_j), normalize(x_i - y_j) * (y_j + 2)),
                concat(elem(y_j, 0), 3 * normalize(3 * y_j))
            )
        )))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x[0], a.y[0]);
        let t = [
            (x - y) * (x - y),
            (x - y).abs(),
            x * y,
            x,
            (x - y) * (x - y),
            rf::sign(x - y) * (y + 2.0),
            y,
            3.0 * rf::sign(y),
        ];
        o.copy_from_slice(&t);
    };
    let names = [
        "sqnorm",
        "norm",
        "dot",
        "sum",
        "sqdist",
        "normalize",
        "elem",
        "normalize",
    ];
    let spec = Spec::new(1, 1);
    check_labeled("scalars", &names, spec, ALL, Red::J, 8, both!(run), &term);
}

#[test]
fn concat() {
    // Run-time dimensions: x_i's class and concat(x_i - y_j, b_j)'s (dimension dx + 2), the second
    // dispatched to the exact arms and the buckets of the second slot.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(b_j: 2 => sum_j(concat(x_i - y_j, b_j) * exp(-sqdist(x_i, y_j))))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // A scalar then a vector, a literal then a vector, concat inside sqnorm and elem.
    fn run_sv<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            concat(sqnorm(x_i), y_j) * dot(x_i, y_j) - sqnorm(concat(x_i, 2 * y_j))
                + elem(concat(7, x_i), 0)
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    // A concat of annotated variables is fixed (2 + 3 = 5), and two such concats can meet
    // entrywise.
    fn run_fixed<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 2, y_j: 3 => sum_j(
            concat(x_i, y_j) - concat(elem(y_j, 0) * x_i, y_j * elem(x_i, 1))
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let g = (-rf::sqdist(a.x, a.y)).exp();
        let dx = a.x.len();
        for k in 0..dx {
            o[k] = (a.x[k] - a.y[k]) * g;
        }
        o[dx] = a.b[0] * g;
        o[dx + 1] = a.b[1] * g;
    };
    for &(dim, sizes) in DIMS.iter().chain(&[(15, SMALL), (16, SMALL)]) {
        let spec = Spec::new(dim, dim).b(2);
        check("concat", spec, sizes, Red::J, dim + 2, both!(run), term);
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s = rf::dot(a.x, a.y);
        let q = rf::sqnorm(a.x) + 4.0 * rf::sqnorm(a.y);
        o[0] = rf::sqnorm(a.x) * s - q + 7.0;
        for k in 0..3 {
            o[1 + k] = a.y[k] * s - q + 7.0;
        }
    };
    check(
        "concat_sv",
        Spec::new(3, 3),
        ALL,
        Red::J,
        4,
        both!(run_sv),
        term,
    );
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x, a.y);
        let c = [x[0], x[1], y[0], y[1], y[2]];
        let e = [
            y[0] * x[0],
            y[0] * x[1],
            y[0] * x[1],
            y[1] * x[1],
            y[2] * x[1],
        ];
        for k in 0..5 {
            o[k] = c[k] - e[k];
        }
    };
    check(
        "concat_fixed",
        Spec::new(2, 3),
        ALL,
        Red::J,
        5,
        both!(run_fixed),
        term,
    );
}

// ---------------------------------------------------------------------------------------------
// Parameters (scalar and array, captured from the scope) and broadcasting.

#[test]
fn parameters_and_broadcasting() {
    // Unannotated parameters are scalars that broadcast against the vectors: s an f64, w an f32,
    // k an integer, c a reference to an f64.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (s, w, k, c) = (d.p[0], d.p[1] as f32, 3i32, &d.p[2]);
        kernel!(b_j: 2 => sum_j(exp(-s * sqdist(w * x_i, y_j - c)) * b_j * k))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (s, w, c) = (a.p[0], a.p[1] as f32 as f64, a.p[2]);
        let mut q = 0.0;
        for k in 0..a.x.len() {
            let t = w * a.x[k] - (a.y[k] - c);
            q += t * t;
        }
        let g = (-s * q).exp() * 3.0;
        o[0] = g * a.b[0];
        o[1] = g * a.b[1];
    };
    for &(dim, sizes) in DIMS {
        let spec = Spec::new(dim, dim).b(2).params(3, (0.25, 1.0));
        check("params", spec, sizes, Red::J, 2, both!(run), term);
    }
}

#[test]
fn annotated_parameter_and_scalar_variables() {
    // c: a vector parameter, which must be annotated; x_i joins its class.
    fn run_c3<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let c: [f64; 3] = [d.p[0], d.p[1], d.p[2]];
        kernel!(c: 3, b_j: 2 => sum_j(dot(x_i - c, y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // Scalar variables `: 1` and a scalar parameter broadcast against vectors.
    fn run_sv<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let c = d.p[0];
        kernel!(x_i: 7, b_j: 1, a_i: 1 => sum_j(b_j * (x_i - y_j) + a_i * y_j - c))
            .x_i(d.x())
            .y_j(d.y())
            .a_i(d.a())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let t: f64 = (0..3).map(|k| (a.x[k] - a.p[k]) * a.y[k]).sum();
        o[0] = t * a.b[0];
        o[1] = t * a.b[1];
    };
    let spec = Spec::new(3, 3).b(2).params(3, (-1.0, 1.0));
    check("param_c3", spec, ALL, Red::J, 2, both!(run_c3), term);
    let term = |a: &Args, o: &mut [f64]| {
        for k in 0..7 {
            o[k] = a.b[0] * (a.x[k] - a.y[k]) + a.a[0] * a.y[k] - a.p[0];
        }
    };
    let spec = Spec::new(7, 7).params(1, (-2.0, 2.0));
    check("scalar_vars", spec, ALL, Red::J, 7, both!(run_sv), term);
}

// ---------------------------------------------------------------------------------------------
// sum_i: one output row per j.

#[test]
fn sum_i_reductions() {
    // Run-time dimensions.
    fn gauss<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(a_i: 2 => sum_i(exp(-sqdist(x_i, y_j)) * a_i))
            .x_i(d.x())
            .y_j(d.y())
            .a_i(d.a())
            .bind()
            .map(eval)
            .unwrap()
    }
    // concat(a_i, b_j) has dimension 2 + 1 = 3 = dim(x) (x_i * 0 ties them).
    fn mixed<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, a_i: 2, b_j: 1 => sum_i(
            concat(a_i, b_j) * cos(sum(x_i - y_j)) + x_i * 0 + dot(x_i, y_j)
        ))
        .x_i(d.x())
        .y_j(d.y())
        .a_i(d.a())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    // Vector output.
    fn vector<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 2 => sum_i(x_i * y_j - sqnorm(y_j) + log(2 + x_i)))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let g = (-rf::sqdist(a.x, a.y)).exp();
        o[0] = g * a.a[0];
        o[1] = g * a.a[1];
    };
    for &(dim, sizes) in DIMS {
        check(
            "sum_i_gauss",
            Spec::new(dim, dim).a(2),
            sizes,
            Red::I,
            2,
            both!(gauss),
            term,
        );
    }
    let term = |a: &Args, o: &mut [f64]| {
        let c = (0..3).map(|k| a.x[k] - a.y[k]).sum::<f64>().cos();
        let cat = [a.a[0], a.a[1], a.b[0]];
        for k in 0..3 {
            o[k] = cat[k] * c + rf::dot(a.x, a.y);
        }
    };
    check(
        "sum_i_mixed",
        Spec::new(3, 3).a(2),
        ALL,
        Red::I,
        3,
        both!(mixed),
        term,
    );
    let term = |a: &Args, o: &mut [f64]| {
        for k in 0..2 {
            o[k] = a.x[k] * a.y[k] - rf::sqnorm(a.y) + (2.0 + a.x[k]).ln();
        }
    };
    check(
        "sum_i_vector",
        Spec::new(2, 2),
        ALL,
        Red::I,
        2,
        both!(vector),
        term,
    );
}

// ---------------------------------------------------------------------------------------------
// Kernel matrices: `K = kernel!(scalar formula)`, `(K v)_i = sum_j K_ij v_j` for v of 1 and 3
// columns.

#[test]
fn kernel_matrix_matvec() {
    // Run-time dimensions; v of one column is passed as a `&Vec<T>`, of several as a View.
    fn gauss<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let s = d.p[0];
        let g = kernel!(exp(-s * sqdist(x_i, y_j)));
        let k = g.x_i(d.x()).y_j(d.y()).matrix().unwrap();
        assert_eq!((k.nrows(), k.ncols()), (d.n, d.m));
        host_matvec(&k, &d.b());
        if d.s.db == 1 {
            k.matvec(&d.b).unwrap()
        } else {
            k.matvec(d.b()).unwrap()
        }
    }
    // A kernel with negative entries.
    fn linear<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 3 => dot(x_i, y_j) - 0.25 + sin(sum(x_i)))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    // Scalar variables: the scalar code path.
    fn cauchy<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => inv(1 + square(x_i - y_j)))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| times_b((-a.p[0] * rf::sqdist(a.x, a.y)).exp(), a, o);
    for &(dim, sizes) in DIMS {
        let spec = Spec::new(dim, dim).params(1, (0.5, 2.0));
        check_matvec("matvec_gauss", spec, sizes, both!(gauss), term);
    }
    let term = |a: &Args, o: &mut [f64]| {
        times_b(
            rf::dot(a.x, a.y) - 0.25 + a.x.iter().sum::<f64>().sin(),
            a,
            o,
        )
    };
    check_matvec("matvec_linear", Spec::new(3, 3), ALL, both!(linear), term);
    let term = |a: &Args, o: &mut [f64]| {
        let d = a.x[0] - a.y[0];
        times_b(1.0 / (1.0 + d * d), a, o)
    };
    check_matvec("matvec_cauchy", Spec::new(1, 1), ALL, both!(cauchy), term);
}

// ---------------------------------------------------------------------------------------------
// The comparisons can fail: wrong implementations of a case are rejected at every size.

#[test]
fn harness_rejects_wrong_results() {
    fn gauss<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // Swapped sign inside the formula.
    fn swapped<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3 => sum_j(exp(y_j - x_i) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .eval()
            .unwrap()
    }
    // A dropped term: the last point of y_j (a reduction loop one short).
    fn dropped<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (dy, db) = (d.s.dy, d.s.db);
        let m = d.m - 1;
        let y = View::new(&d.y[..m * dy], dy).unwrap();
        let b = View::new(&d.b[..m * db], db).unwrap();
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(y)
            .b_j(b)
            .eval()
            .unwrap()
    }
    // Terms shifted by one: y_j paired with b_{j+1}.
    fn shifted<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (dy, db) = (d.s.dy, d.s.db);
        let m = d.m - 1;
        let y = View::new(&d.y[..m * dy], dy).unwrap();
        let b = View::new(&d.b[db..], db).unwrap();
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(y)
            .b_j(b)
            .eval()
            .unwrap()
    }
    // Right on the CPU engine, a dropped term in the CUDA kernel: the host emulation's comparison
    // fails on its own.
    fn gpu_dropped<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (dy, db) = (d.s.dy, d.s.db);
        let m = d.m - 1;
        let y = View::new(&d.y[..m * dy], dy).unwrap();
        let b = View::new(&d.b[..m * db], db).unwrap();
        let short = kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(y)
            .b_j(b)
            .bind()
            .unwrap();
        gpu_host::record_reduction(&short.gpu_task());
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .eval()
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        for k in 0..a.x.len() {
            o[k] = (a.x[k] - a.y[k]).exp() * a.b[k];
        }
    };
    // Positive b: no cancellation, so relative errors are what the tolerance sees.
    let mut spec = Spec::new(3, 3).b(3);
    spec.b = (0.5, 1.0);
    for &size in &[(7, 13), (1000, 1037)] {
        try_case::<f32>("wrong", spec, size, Red::J, 3, gauss::<f32>, &term).unwrap();
        try_case::<f64>("wrong", spec, size, Red::J, 3, gauss::<f64>, &term).unwrap();
        for (what, r32, r64) in [
            (
                "swapped",
                swapped::<f32> as fn(&Inputs<f32>) -> Rows<f32>,
                swapped::<f64> as fn(&Inputs<f64>) -> Rows<f64>,
            ),
            ("dropped", dropped::<f32>, dropped::<f64>),
            ("shifted", shifted::<f32>, shifted::<f64>),
        ] {
            let e32 = try_case::<f32>("wrong", spec, size, Red::J, 3, r32, &term);
            let e64 = try_case::<f64>("wrong", spec, size, Red::J, 3, r64, &term);
            assert!(e32.is_err(), "{what} at {size:?} passed in f32");
            assert!(e64.is_err(), "{what} at {size:?} passed in f64");
        }
        if gpu_host::available() {
            for e in [
                try_case::<f32>("wrong", spec, size, Red::J, 3, gpu_dropped::<f32>, &term),
                try_case::<f64>("wrong", spec, size, Red::J, 3, gpu_dropped::<f64>, &term),
            ] {
                let e = e.expect_err("a dropped term in the CUDA kernel passed");
                assert!(e.contains("host-emulated CUDA kernel"), "{e}");
            }
        }
    }
}
