//! The operations added for KeOps parity — xlogx, asin, acos, atan, atan2, sinxdivx, clampint,
//! round, floor, modulo, the comparisons (operators and functions) — and `let`, against a dense
//! f64 reference written here with plain loops and this file's own definitions (KeOps'
//! doc/api/math-operations.rst and keopscore's math_functions.py), in f32 and f64, through a
//! `sum_j` and a kernel matrix's matvec each; plus formulas the simplifier reshapes.
//!
//! As in tests/operations/, every evaluation also runs the generated CUDA kernel as host C++
//! (tests/common/gpu_host/), compared to the same reference with the same tolerance.
//!
//! Inputs: uniform in a range, and for about half of the entries snapped to a multiple of 1/4, so
//! that the special points occur often: exact zeros (`xlogx(0) = 0`, `sinxdivx(0) = 1`, `atan2` of
//! a zero of either sign), ties `x == y` (the comparisons), halves (`round` takes them away from
//! zero), negative values (`modulo`, `floor`). The operations that jump (floor, round, modulo,
//! comparisons, clampint) see, in the reference, exactly the argument the library computes: each
//! arithmetic step of the argument is rounded to the precision (`rt`), which reproduces the
//! precision's correctly rounded `+ - * /`; so a tie or a jump never flips between the library and
//! the reference.
//!
//! Tolerances (per output entry, `|got - want| <= tol * sum_terms |term|`): f32 1e-4, f64 1e-12, as
//! in tests/operations/ (terms to a few ulps, tiles of 256 summed in T, tiles in f64). Observed
//! worst `|got - want| / sum |term|`: printed per case (`cargo test --test ops_extra --
//! --nocapture`); see the report of the change for the values.
//!
//! Sizes: (7, 13), (65, 257) (crosses a row block and a reduction tile), (300, 1037); the host
//! emulation runs the largest size in f64 only (as tests/operations/ does).

#![allow(clippy::needless_range_loop)] // the references are plain index loops, on purpose

mod common;

use common::cases::{
    assert_exact_both, assert_host_exact, both, check, check_matvec, check_rejects, eval, matvec,
    times_b, Args, Inputs, Red, Spec, Term, SIZES,
};
use common::{gpu_host, Rng};
use keops::prelude::*;

// ---------------------------------------------------------------------------------------------
// The reference definitions (KeOps'), in f64. Arguments that the library computes with rounding
// are rounded by the callers with `rt`.

mod rf {
    pub fn xlogx(x: f64) -> f64 {
        if x == 0.0 {
            0.0
        } else {
            x * x.ln()
        }
    }
    pub fn sinxdivx(x: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            x.sin() / x
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
    /// Half-way cases away from zero, as C's `round`.
    pub fn round_half_away(x: f64) -> f64 {
        let t = x.abs().floor();
        let r = if x.abs() - t >= 0.5 { t + 1.0 } else { t };
        if x < 0.0 {
            -r
        } else {
            r
        }
    }
    /// KeOps' Round(x, d) = round(x * 10^d) / 10^d, each step rounded by `rt`.
    pub fn round(x: f64, d: i32, rt: fn(f64) -> f64) -> f64 {
        let s = rt(format!("1e{d}").parse::<f64>().unwrap());
        rt(round_half_away(rt(x * s)) / s)
    }
    /// KeOps' Mod(x, m, offset) = x - m * floor((x - offset) / m), each step rounded by `rt`.
    pub fn modulo(x: f64, m: f64, off: f64, rt: fn(f64) -> f64) -> f64 {
        let q = rt(rt(x - off) / m);
        rt(x - rt(m * q.floor()))
    }
    pub fn b01(c: bool) -> f64 {
        if c {
            1.0
        } else {
            0.0
        }
    }
    /// `sqdist` in the library's order, each step rounded by `rt`.
    pub fn sqdist_rounded(a: &[f64], b: &[f64], rt: fn(f64) -> f64) -> f64 {
        let mut s = 0.0;
        for k in 0..a.len() {
            let d = rt(a[k] - b[k]);
            s = rt(s + rt(d * d));
        }
        s
    }
    pub fn sqdist(a: &[f64], b: &[f64]) -> f64 {
        let mut s = 0.0;
        for k in 0..a.len() {
            s += (a[k] - b[k]) * (a[k] - b[k]);
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// One test per group of operations: a sum_j with vector operands (dimension 3) and a kernel
// matrix with scalar variables times a vector of 1 and of 3 columns.

#[test]
fn xlogx_and_sinxdivx() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(concat(xlogx(x_i * y_j), sinxdivx(4 * (x_i - y_j)))))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => xlogx(x_i * y_j) + sinxdivx(x_i - y_j))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        for k in 0..3 {
            o[k] = rf::xlogx(rt(a.x[k] * a.y[k]));
            o[3 + k] = rf::sinxdivx(rt(4.0 * rt(a.x[k] - a.y[k])));
        }
    };
    // Non-negative inputs for xlogx, with zeros and ties.
    let spec = Spec::new(3, 3).xy((0.0, 1.5), (0.0, 1.5)).snap();
    check("xlogx_sinxdivx", spec, SIZES, Red::J, 6, both!(run), term);
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        let kij = rf::xlogx(rt(a.x[0] * a.y[0])) + rf::sinxdivx(rt(a.x[0] - a.y[0]));
        times_b(kij, a, o);
    };
    let spec = Spec::new(1, 1).xy((0.0, 1.5), (0.0, 1.5)).snap();
    check_matvec("xlogx_sinxdivx_matvec", spec, SIZES, both!(kmat), term);
}

#[test]
fn inverse_trigonometric() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(concat(
            concat(asin(x_i * y_j), acos(x_i * y_j)),
            concat(atan(4 * x_i - y_j), atan2(x_i - 0.5, y_j))
        )))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => atan2(x_i, y_j) + asin(x_i * y_j) * acos(y_j) + atan(x_i - y_j))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        for k in 0..3 {
            let (x, y) = (a.x[k], a.y[k]);
            o[k] = rt(x * y).asin();
            o[3 + k] = rt(x * y).acos();
            o[6 + k] = rt(rt(4.0 * x) - y).atan();
            o[9 + k] = rt(x - 0.5).atan2(y);
        }
    };
    let spec = Spec::new(3, 3).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check("inverse_trig", spec, SIZES, Red::J, 12, both!(run), term);
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y, rt) = (a.x[0], a.y[0], a.rt);
        let kij = x.atan2(y) + rt(x * y).asin() * y.acos() + rt(x - y).atan();
        times_b(kij, a, o);
    };
    let spec = Spec::new(1, 1).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check_matvec("inverse_trig_matvec", spec, SIZES, both!(kmat), term);
}

#[test]
fn clampint_round_floor() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(concat(
            concat(clampint(4 * x_i - y_j, -1, 2), round(x_i * y_j, 1)),
            concat(floor(x_i - 2 * y_j), round(x_i, 0) + round(10 * y_j, -1) + round(y_j, 3))
        )))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => clampint(x_i - y_j, 0, 1) + round(x_i * y_j, 2) - floor(x_i - y_j))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        for k in 0..3 {
            let (x, y) = (a.x[k], a.y[k]);
            o[k] = rf::clamp(rt(rt(4.0 * x) - y), -1.0, 2.0);
            o[3 + k] = rf::round(rt(x * y), 1, rt);
            o[6 + k] = rt(x - rt(2.0 * y)).floor();
            o[9 + k] =
                rt(rt(rf::round(x, 0, rt) + rf::round(rt(10.0 * y), -1, rt)) + rf::round(y, 3, rt));
        }
    };
    let spec = Spec::new(3, 3).xy((-3.0, 3.0), (-3.0, 3.0)).snap();
    check(
        "clampint_round_floor",
        spec,
        SIZES,
        Red::J,
        12,
        both!(run),
        term,
    );
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y, rt) = (a.x[0], a.y[0], a.rt);
        let kij = rf::clamp(rt(x - y), 0.0, 1.0) + rf::round(rt(x * y), 2, rt) - rt(x - y).floor();
        times_b(kij, a, o);
    };
    let spec = Spec::new(1, 1).xy((-3.0, 3.0), (-3.0, 3.0)).snap();
    check_matvec(
        "clampint_round_floor_matvec",
        spec,
        SIZES,
        both!(kmat),
        term,
    );
}

#[test]
fn modulo() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(concat(modulo(x_i - y_j, 1.5), modulo(4 * x_i, y_j + 2, y_j))))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => modulo(x_i - y_j, 2) + modulo(x_i, 0.75, -0.25) * y_j)
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        for k in 0..3 {
            let (x, y) = (a.x[k], a.y[k]);
            o[k] = rf::modulo(rt(x - y), 1.5, 0.0, rt);
            o[3 + k] = rf::modulo(rt(4.0 * x), rt(y + 2.0), y, rt);
        }
    };
    // Negative arguments (the result has the sign of the modulus, shifted by the offset).
    let spec = Spec::new(3, 3).xy((-3.0, 3.0), (-1.0, 1.0)).snap();
    check("modulo", spec, SIZES, Red::J, 6, both!(run), term);
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y, rt) = (a.x[0], a.y[0], a.rt);
        let kij = rf::modulo(rt(x - y), 2.0, 0.0, rt) + rt(rf::modulo(x, 0.75, -0.25, rt) * y);
        times_b(kij, a, o);
    };
    let spec = Spec::new(1, 1).xy((-3.0, 3.0), (-1.0, 1.0)).snap();
    check_matvec("modulo_matvec", spec, SIZES, both!(kmat), term);
}

#[test]
fn comparisons() {
    // Every comparison as an operator, and the KeOps-named functions.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(concat(
            concat(concat(x_i == y_j, x_i != y_j), concat(x_i < y_j, x_i <= y_j)),
            concat(
                concat(x_i > y_j, x_i >= y_j),
                concat(
                    equal(x_i, y_j) + 2 * notequal(x_i, y_j),
                    lessthan(x_i, y_j) + 2 * lessorequal(x_i - 0.5, y_j)
                )
            )
        )))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    // Run-time dimensions (the vector code of each arm), a comparison with a scalar literal.
    fn runtime<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(sum_j(
            sqnorm((x_i >= y_j) * (x_i - y_j)) * b_j + sum(x_i < 0.25)
        ))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => (x_i < y_j) * exp(x_i - y_j) + (x_i == y_j))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        let rt = a.rt;
        for k in 0..3 {
            let (x, y) = (a.x[k], a.y[k]);
            let t = [
                rf::b01(x == y),
                rf::b01(x != y),
                rf::b01(x < y),
                rf::b01(x <= y),
                rf::b01(x > y),
                rf::b01(x >= y),
                rf::b01(x == y) + 2.0 * rf::b01(x != y),
                rf::b01(x < y) + 2.0 * rf::b01(rt(x - 0.5) <= y),
            ];
            for q in 0..8 {
                o[3 * q + k] = t[q];
            }
        }
    };
    // Ties x == y for about one pair in 40.
    let spec = Spec::new(3, 3).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check("comparisons", spec, SIZES, Red::J, 24, both!(run), term);
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x, a.y);
        let mut q = 0.0;
        for k in 0..x.len() {
            let v = rf::b01(x[k] >= y[k]) * (x[k] - y[k]);
            q += v * v;
        }
        let c: f64 = x.iter().map(|&v| rf::b01(v < 0.25)).sum();
        for k in 0..a.b.len() {
            o[k] = q * a.b[k] + c;
        }
    };
    for dim in [2, 5, 20] {
        let spec = Spec::new(dim, dim).xy((-1.0, 1.0), (-1.0, 1.0)).snap().b(2);
        check(
            "comparisons_runtime",
            spec,
            SIZES,
            Red::J,
            2,
            both!(runtime),
            term,
        );
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y, rt) = (a.x[0], a.y[0], a.rt);
        let kij = rf::b01(x < y) * rt(x - y).exp() + rf::b01(x == y);
        times_b(kij, a, o);
    };
    let spec = Spec::new(1, 1).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check_matvec("comparisons_matvec", spec, SIZES, both!(kmat), term);
}

#[test]
fn let_bindings() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(
            x_i: 3, b_j: 2 =>
            let d = sqdist(x_i, y_j);
            let k = exp(-d) * (1 + d);
            sum_j(k * b_j + (d < 1) * k)
        )
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    // Matérn 3/2 written with a let.
    fn kmat<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 2 => let r = sqrt(3 * sqdist(x_i, y_j)); (1 + r) * exp(-r))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| {
        // `d < 1` jumps: d as the library computes it (in order, rounded at each step).
        let d = rf::sqdist_rounded(a.x, a.y, a.rt);
        let k = (-d).exp() * (1.0 + d);
        for c in 0..2 {
            o[c] = k * a.b[c] + rf::b01(d < 1.0) * k;
        }
    };
    let spec = Spec::new(3, 3).xy((-1.0, 1.0), (-1.0, 1.0)).snap().b(2);
    check("let", spec, SIZES, Red::J, 2, both!(run), term);
    let term = |a: &Args, o: &mut [f64]| {
        let r = (3.0 * rf::sqdist(a.x, a.y)).sqrt();
        times_b((1.0 + r) * (-r).exp(), a, o);
    };
    let spec = Spec::new(2, 2).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check_matvec("let_matvec", spec, SIZES, both!(kmat), term);
}

#[test]
fn formulas_the_simplifier_reshapes() {
    // `x_i * 1 + 0 * y_j` is `x_i`: the sum no longer reads y_j (still bound: it gives M).
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 1 => sum_j(x_i * 1 + 0 * y_j))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    // A kernel matrix that folds to the constant 1: `K v` sums v's rows.
    fn ones<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => exp(x_i * 0) * pow(y_j, 0) + sign(y_j) * 0)
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    // pow(.., 2), pow(.., -1), --f, f / -1, a > b as b < a, commutative sharing.
    fn rules<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            pow(x_i - y_j, 2) + pow(2 + y_j, -1) - --(x_i * y_j) / -1 + (x_i > y_j) * (y_j * x_i)
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| o.copy_from_slice(a.x);
    let spec = Spec::new(3, 1).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check("simplified_to_x", spec, SIZES, Red::J, 3, both!(run), term);
    let term = |a: &Args, o: &mut [f64]| times_b(1.0, a, o);
    let spec = Spec::new(1, 1).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check_matvec("simplified_to_ones", spec, SIZES, both!(ones), term);
    let term = |a: &Args, o: &mut [f64]| {
        for k in 0..3 {
            let (x, y) = (a.x[k], a.y[k]);
            o[k] = (x - y) * (x - y) + 1.0 / (2.0 + y) + x * y + rf::b01(x > y) * x * y;
        }
    };
    let spec = Spec::new(3, 3).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    check(
        "simplified_rules",
        spec,
        SIZES,
        Red::J,
        3,
        both!(rules),
        term,
    );
}

// ---------------------------------------------------------------------------------------------
// The special points, exactly: data on a grid of halves, so that every term is a small multiple
// of 1/2 and every sum is exact in both precisions; compared with `==` (CPU and host-emulated
// kernels).

#[test]
fn special_points_exact() {
    fn run<T: Real>(x: &[T], y: &[T]) -> Rows<T> {
        kernel!(x_i: 1, y_j: 1 => sum_j(concat(
            concat(
                concat(concat(x_i == y_j, x_i != y_j), concat(x_i < y_j, x_i <= y_j)),
                concat(concat(x_i > y_j, x_i >= y_j), concat(round(x_i - y_j, 0), floor(x_i - y_j)))
            ),
            concat(
                concat(
                    concat(modulo(x_i - y_j, 2), modulo(x_i - y_j, 1.5, 0.5)),
                    concat(clampint(x_i - y_j, -1, 1), sinxdivx(x_i - y_j) * (x_i == y_j))
                ),
                concat(xlogx(abs(x_i - y_j)) * (x_i == y_j), xlogx(y_j * 0) + sinxdivx(0 * x_i))
            )
        )))
        .x_i(x)
        .y_j(y)
        .bind()
        .map(eval)
        .unwrap()
    }
    fn round_half_away(v: f64) -> f64 {
        let r = v.abs().floor() + if v.abs().fract() >= 0.5 { 1.0 } else { 0.0 };
        if v < 0.0 {
            -r
        } else {
            r
        }
    }
    fn want(x: &[f64], y: &[f64]) -> Vec<f64> {
        const W: usize = 14;
        let mut out = vec![0.0; x.len() * W];
        for (i, &xi) in x.iter().enumerate() {
            for &yj in y {
                let d = xi - yj;
                let tie = if xi == yj { 1.0 } else { 0.0 };
                let mod_ = |v: f64, m: f64, off: f64| v - m * ((v - off) / m).floor();
                let t: [f64; W] = [
                    tie,
                    1.0 - tie,
                    if xi < yj { 1.0 } else { 0.0 },
                    if xi <= yj { 1.0 } else { 0.0 },
                    if xi > yj { 1.0 } else { 0.0 },
                    if xi >= yj { 1.0 } else { 0.0 },
                    round_half_away(d),
                    d.floor(),
                    mod_(d, 2.0, 0.0),
                    mod_(d, 1.5, 0.5),
                    d.clamp(-1.0, 1.0),
                    tie, // sinxdivx(0) = 1 at ties, times 0 elsewhere
                    0.0, // xlogx(0) = 0 at ties
                    1.0, // xlogx(0) + sinxdivx(0)
                ];
                for k in 0..W {
                    out[i * W + k] += t[k];
                }
            }
        }
        out
    }
    let mut rng = Rng::new(11);
    let x: Vec<f64> = (0..40).map(|_| rng.int(-7, 7) as f64 / 2.0).collect();
    let y: Vec<f64> = (0..300).map(|_| rng.int(-7, 7) as f64 / 2.0).collect();
    assert!(x.iter().any(|a| y.contains(a)), "ties occur");
    assert!(x.iter().any(|a| a.fract() != 0.0), "halves occur");
    assert_exact_both(&x, &y, &want(&x, &y), run::<f32>, run::<f64>);
    // One pair, x - y = -2.5: round takes it away from zero, modulo of a negative value.
    let one = run(&[-1.5f64], &[1.0f64]);
    assert_eq!(
        one.as_slice(),
        &[0.0, 1.0, 1.0, 1.0, 0.0, 0.0, -3.0, -3.0, 1.5, 0.5, -1.0, 0.0, 0.0, 1.0]
    );
    assert_host_exact("one pair", one.as_slice());
}

/// KeOps' `rsqrt(0) = 0` (keopscore's `keops_rsqrt`), so that `normalize(0) = 0` (KeOps' Normalize is
/// `rsqrt(sqnorm2(f)) * f`): on points of {0, 1}^3, where `x_i == y_j` often, every term is 0 (a
/// finite value times 0 away from the ties, 0 at them; `1 / sqrt(0)` would give inf or NaN).
#[test]
fn rsqrt_and_normalize_at_zero() {
    fn run<T: Real>(x: &[[T; 3]], y: &[[T; 3]]) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(concat(
            normalize(x_i - y_j) * (sqdist(x_i, y_j) == 0),
            concat(rsqrt(sqdist(x_i, y_j)) * (sqdist(x_i, y_j) == 0), rsqrt(0 * sum(x_i)))
        )))
        .x_i(x)
        .y_j(y)
        .bind()
        .map(eval)
        .unwrap()
    }
    fn points<T: Real>(rng: &mut Rng, n: usize) -> Vec<[T; 3]> {
        (0..n)
            .map(|_| [(); 3].map(|_| T::from_f64(rng.int(0, 1) as f64)))
            .collect()
    }
    let mut rng = Rng::new(5);
    let (x, y) = (points::<f64>(&mut rng, 20), points::<f64>(&mut rng, 300));
    assert!(x.iter().any(|p| y.contains(p)), "ties occur");
    let check = |what: &str, got: Vec<f64>| {
        assert_eq!(got, vec![0.0; 20 * 5], "{what}");
        assert_host_exact(what, &[0.0; 20 * 5]);
    };
    gpu_host::take_recorded();
    check("f64", run(&x, &y).into_vec());
    let to32 =
        |v: &[[f64; 3]]| -> Vec<[f32; 3]> { v.iter().map(|p| p.map(|c| c as f32)).collect() };
    let got32 = run(&to32(&x), &to32(&y));
    check("f32", got32.iter().map(|&v| v as f64).collect());
}

// ---------------------------------------------------------------------------------------------
// The comparisons of this file can fail.

#[test]
fn harness_rejects_wrong_results() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(concat(x_i <= y_j, round(x_i, 1))))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let spec = Spec::new(3, 3).xy((-1.0, 1.0), (-1.0, 1.0)).snap();
    // `<` for `<=`: only ties differ.
    let lt = |a: &Args, o: &mut [f64]| {
        for k in 0..3 {
            o[k] = rf::b01(a.x[k] < a.y[k]);
            o[3 + k] = rf::round(a.x[k], 1, a.rt);
        }
    };
    // Round half to even (Rust's `round_ties_even`) for KeOps' half away from zero.
    let even = |a: &Args, o: &mut [f64]| {
        for k in 0..3 {
            o[k] = rf::b01(a.x[k] <= a.y[k]);
            o[3 + k] = (a.rt)((a.rt)(a.x[k] * 10.0).round_ties_even() / 10.0);
        }
    };
    let right = |a: &Args, o: &mut [f64]| {
        for k in 0..3 {
            o[k] = rf::b01(a.x[k] <= a.y[k]);
            o[3 + k] = rf::round(a.x[k], 1, a.rt);
        }
    };
    let wrong: [(&str, Term); 2] = [("lt", &lt), ("even", &even)];
    check_rejects("reject", spec, SIZES, 6, both!(run), &right, &wrong);
}
