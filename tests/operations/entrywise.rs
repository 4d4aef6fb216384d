//! Entrywise operations. The table below lists, per operation, the ranges of x and y, a formula
//! `F(x_i, y_j)` and its scalar reference `f(x, y)`. It is used three ways:
//! - one test per operation: `x_i: 3, y_j: 3 => sum_j(F)`, vector output of dimension 3, every size;
//! - `all_entrywise_scalar`: `x_i: 1, y_j: 1`, every F concatenated: the scalar code path;
//! - `all_entrywise_broadcast`: `x_i: 1, y_j: 3`, every F concatenated: a scalar variable
//!   broadcast against a vector.
//!
//! The reference applies `f` entrywise, broadcasting dimension-1 operands. The forms are annotated:
//! a run-time dimension is a dispatch over ~9 monomorphised arms per precision, which costs compile
//! time; `runtime_dimensions` covers run-time dimensions, `special_points_exact` exact values.

use super::*;

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
        pub(crate) const MACRO_FORMULAS: &[&str] = &[
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
