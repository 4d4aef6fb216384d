//! The SIMD engine at every level this CPU runs (scalar, AVX2+FMA, AVX-512 on x86-64; scalar and
//! NEON on AArch64), against dense f64 references: kernel products with and without symmetry
//! (the same points bound twice), several columns, vector-valued sums, the vectorised `exp`,
//! `ln`, `sin`, `cos` (with arguments beyond the polynomial range of `sin`/`cos`, which fall back
//! to std lane by lane), and the solver's fused `(alpha I + K) p` against a dense Cholesky solve.
//!
//! Sizes are not multiples of the 64-row blocks, the packs (4 to 16 lanes) or the 256-index tiles:
//! 1, 7, 65, 300, 1037 points. Tolerances per entry, relative to the sum of the absolute values of
//! the terms: 1e-5 in f32, 1e-13 in f64 (observed: ~2e-7 and ~3e-16).
//!
//! Also the benchmark ceiling of the examples (examples/common/ceiling.rs): it computes the sum it
//! claims, at every level.
//!
//! The level is process-wide: each test sets it under one lock and restores the default after.

#![allow(clippy::needless_range_loop)]

#[path = "../examples/common/ceiling.rs"]
mod ceiling;
mod common;

use std::sync::Mutex;

use ceiling::{Ceiling, CeilingReal};
use common::{check_close, Rng};
use keops::prelude::*;
use keops::{set_simd_level, SimdLevel};

static LEVEL: Mutex<()> = Mutex::new(());

/// Runs `f` at every level this CPU runs, then restores the default.
fn at_every_level(mut f: impl FnMut(SimdLevel)) {
    let _guard = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    for level in SimdLevel::ALL.into_iter().filter(|l| l.is_available()) {
        set_simd_level(Some(level)).expect("an available level");
        f(level);
    }
    set_simd_level(None).expect("the default level");
}

trait Prec: Real {
    const TOL: f64;
}
impl Prec for f32 {
    const TOL: f64 = 1e-5;
}
impl Prec for f64 {
    const TOL: f64 = 1e-13;
}

fn widen<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Dense `sum_j K(i, j) v[j, c]` and the sums of `|terms|`, in f64.
fn dense(
    n: usize,
    m: usize,
    nv: usize,
    k: impl Fn(usize, usize) -> f64,
    v: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (mut out, mut scale) = (vec![0.0; n * nv], vec![0.0; n * nv]);
    for i in 0..n {
        for j in 0..m {
            let kij = k(i, j);
            for c in 0..nv {
                out[i * nv + c] += kij * v[j * nv + c];
                scale[i * nv + c] += (kij * v[j * nv + c]).abs();
            }
        }
    }
    (out, scale)
}

fn check(what: &str, got: &[f64], want: &[f64], scale: &[f64], tol: f64) -> f64 {
    if let Err(e) = check_close(got, want, scale, tol) {
        panic!("{what}: {e}");
    }
    got.iter()
        .zip(want)
        .zip(scale)
        .map(|((g, w), s)| if *s > 0.0 { (g - w).abs() / s } else { 0.0 })
        .fold(0.0, f64::max)
}

const SIZES: &[usize] = &[1, 7, 65, 300, 1037];

fn gaussian_products<T: Prec>(level: SimdLevel) {
    let s = 0.25;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let mut worst = 0f64;
    for &n in SIZES {
        let mut rng = Rng::named("gaussian_products", n as u64);
        let d = 3;
        let x: Vec<T> = rng.reals(n * d, 0.0, 1.0);
        let m = n + 5;
        let y: Vec<T> = rng.reals(m * d, 0.0, 1.0);
        let (xf, yf) = (widen(&x), widen(&y));
        let kern = |a: &[f64], b: &[f64], i: usize, j: usize| {
            let d2: f64 = (0..d).map(|k| (a[i * d + k] - b[j * d + k]).powi(2)).sum();
            (-d2 / (2.0 * s * s)).exp()
        };
        for nv in [1, 3, 11] {
            // Distinct point sets: no symmetry.
            let v: Vec<T> = rng.reals(m * nv, -1.0, 1.0);
            let (xr, yr) = (
                Rows::<T>::from_vec(x.clone(), d).unwrap(),
                Rows::<T>::from_vec(y.clone(), d).unwrap(),
            );
            let kxy = k.x_i(&xr).y_j(&yr).matrix().unwrap();
            assert!(!kxy.symmetric());
            let got = widen(
                kxy.matvec(&Rows::from_vec(v.clone(), nv).unwrap())
                    .unwrap()
                    .as_slice(),
            );
            let (want, scale) = dense(n, m, nv, |i, j| kern(&xf, &yf, i, j), &widen(&v));
            worst = worst.max(check(
                &format!("{level} {} K_xy v, n={n}, nv={nv}", T::NAME),
                &got,
                &want,
                &scale,
                T::TOL,
            ));
            // The same points twice: the symmetric product (one column) or the plain one.
            let v: Vec<T> = rng.reals(n * nv, -1.0, 1.0);
            let xs = Rows::<T>::from_vec(x.clone(), d).unwrap();
            let kxx = k.x_i(&xs).y_j(&xs).matrix().unwrap();
            assert!(
                kxx.symmetric(),
                "the Gaussian on one point set is symmetric"
            );
            let got = widen(
                kxx.matvec(&Rows::from_vec(v.clone(), nv).unwrap())
                    .unwrap()
                    .as_slice(),
            );
            let (want, scale) = dense(n, n, nv, |i, j| kern(&xf, &xf, i, j), &widen(&v));
            worst = worst.max(check(
                &format!("{level} {} K_xx v, n={n}, nv={nv}", T::NAME),
                &got,
                &want,
                &scale,
                T::TOL,
            ));
        }
    }
    println!("{level} {}: worst |err|/scale {worst:.1e}", T::NAME);
}

#[test]
fn gaussian_products_at_every_level() {
    at_every_level(|l| {
        gaussian_products::<f32>(l);
        gaussian_products::<f64>(l);
    });
}

/// Equal data under a formula that is not symmetric: the plain product, right values.
fn asymmetric_on_one_set<T: Prec>(level: SimdLevel) {
    let k = kernel!(x_i: 1, y_j: 1 => exp(-sum(x_i - y_j)) * sqnorm(y_j));
    for &n in SIZES {
        let mut rng = Rng::named("asymmetric", n as u64);
        let x: Vec<T> = rng.reals(n, 0.0, 1.0);
        let v: Vec<T> = rng.reals(n, -1.0, 1.0);
        let m = k.x_i(&x).y_j(&x).matrix().unwrap();
        assert!(!m.symmetric());
        let got = widen(m.matvec(&v).unwrap().as_slice());
        let xf = widen(&x);
        let (want, scale) = dense(
            n,
            n,
            1,
            |i, j| (-(xf[i] - xf[j])).exp() * xf[j] * xf[j],
            &widen(&v),
        );
        check(
            &format!("{level} {} asymmetric n={n}", T::NAME),
            &got,
            &want,
            &scale,
            T::TOL,
        );
    }
}

#[test]
fn asymmetric_formula_on_one_point_set() {
    at_every_level(|l| {
        asymmetric_on_one_set::<f32>(l);
        asymmetric_on_one_set::<f64>(l);
    });
}

/// A vector-valued sum over j with the lane versions of exp, ln, sqrt, sin, cos; `a_i` reaches
/// 4e5 so that some packs hold arguments of sin/cos beyond the polynomial range.
fn functions<T: Prec>(level: SimdLevel) {
    let red = kernel!(x_i: 2, y_j: 2, a_i: 1, b_j: 3 => sum_j(
        (log(1 + sqnorm(x_i - y_j)) + sin(a_i * sum(y_j)) * cos(sum(x_i) - a_i)
            + exp(-sqrt(sqnorm(x_i - y_j)))) * b_j
    ));
    let mut worst = 0f64;
    for &n in SIZES {
        let mut rng = Rng::named("functions", n as u64);
        let m = 2 * n + 3;
        let x: Vec<T> = rng.reals(2 * n, -2.0, 2.0);
        let y: Vec<T> = rng.reals(2 * m, -2.0, 2.0);
        let a: Vec<T> = (0..n)
            .map(|i| {
                T::from_f64(if i % 5 == 4 {
                    rng.range(-4e5, 4e5)
                } else {
                    rng.range(-30.0, 30.0)
                })
            })
            .collect();
        let b: Vec<T> = rng.reals(3 * m, -1.0, 1.0);
        let got = red
            .x_i(&Rows::from_vec(x.clone(), 2).unwrap())
            .y_j(&Rows::from_vec(y.clone(), 2).unwrap())
            .a_i(&a)
            .b_j(&Rows::from_vec(b.clone(), 3).unwrap())
            .eval()
            .unwrap();
        let (xf, yf, af, bf) = (widen(&x), widen(&y), widen(&a), widen(&b));
        let mut want = vec![0.0; 3 * n];
        let mut scale = vec![0.0; 3 * n];
        for i in 0..n {
            for j in 0..m {
                let d2 = (xf[2 * i] - yf[2 * j]).powi(2) + (xf[2 * i + 1] - yf[2 * j + 1]).powi(2);
                // sin's argument rounded to T as the engine computes it (a_i * (y0 + y1) in T).
                let sy = T::from_f64(yf[2 * j] + yf[2 * j + 1]);
                let arg = (T::from_f64(af[i]) * sy).to_f64();
                let cx = (T::from_f64(xf[2 * i] + xf[2 * i + 1]) - T::from_f64(af[i])).to_f64();
                let f = (1.0 + d2).ln() + arg.sin() * cx.cos() + (-d2.sqrt()).exp();
                // The error of sin at a large argument scales with it: count |arg| in the scale.
                let fs = (1.0 + d2).ln() + 1.0 + (-d2.sqrt()).exp();
                for c in 0..3 {
                    want[3 * i + c] += f * bf[3 * j + c];
                    scale[3 * i + c] += fs * bf[3 * j + c].abs();
                }
            }
        }
        worst = worst.max(check(
            &format!("{level} {} functions n={n}", T::NAME),
            &widen(got.as_slice()),
            &want,
            &scale,
            // f32: sin/cos of T-rounded arguments up to 4e5 in the reference, not bitwise.
            if T::NAME == "f32" { 3e-5 } else { T::TOL },
        ));
    }
    println!("{level} {} functions: worst {worst:.1e}", T::NAME);
}

#[test]
fn lane_functions_at_every_level() {
    at_every_level(|l| {
        functions::<f32>(l);
        functions::<f64>(l);
    });
}

/// The solver's fused `(alpha I + K) p` on a symmetric kernel, against dense Cholesky.
fn solve<T: Prec>(level: SimdLevel) {
    let s = 0.1;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let n = 300;
    let mut rng = Rng::named("solve", 1);
    let x: Vec<T> = rng.reals(n, 0.0, 1.0);
    let b: Vec<T> = rng.reals(n, -1.0, 1.0);
    let alpha = 0.5;
    let m = k.x_i(&x).y_j(&x).matrix().unwrap();
    assert!(m.symmetric());
    // f32 products put a floor near 1e-6 under the relative residual.
    let tol = if T::NAME == "f32" { 1e-5 } else { 1e-10 };
    let sol = m
        .solve_with(&ConjugateGradient::new().tolerance(tol), &b, alpha)
        .unwrap();
    let xf = widen(&x);
    let a = nalgebra::DMatrix::from_fn(n, n, |i, j| {
        (-(xf[i] - xf[j]).powi(2) / (2.0 * s * s)).exp() + if i == j { alpha } else { 0.0 }
    });
    let want = a
        .cholesky()
        .expect("positive definite")
        .solve(&nalgebra::DVector::from_vec(widen(&b)));
    let got = widen(sol.coefficients.as_slice());
    let err = got
        .iter()
        .zip(want.iter())
        .map(|(g, w)| (g - w).powi(2))
        .sum::<f64>()
        .sqrt()
        / want.norm();
    let tol = if T::NAME == "f32" { 1e-3 } else { 1e-5 };
    assert!(
        err < tol,
        "{level} {}: relative error {err:e} > {tol:e}",
        T::NAME
    );
    println!(
        "{level} {} solve: {} iterations, error {err:.1e}",
        T::NAME,
        sol.iterations
    );
}

#[test]
fn fused_solve_at_every_level() {
    at_every_level(|l| {
        solve::<f32>(l);
        solve::<f64>(l);
    });
}

#[test]
fn unavailable_level_is_an_error() {
    for level in SimdLevel::ALL.into_iter().filter(|l| !l.is_available()) {
        assert!(matches!(
            set_simd_level(Some(level)),
            Err(KeopsError::SimdUnavailable { .. })
        ));
    }
    assert!(SimdLevel::Scalar.is_available());
}

/// The ceiling computes the sum it claims: against f64 with std's exp, at every level.
#[test]
fn ceiling_pass_is_the_gaussian_sum() {
    fn check<T: CeilingReal>(level: SimdLevel, tol: f64) {
        let c = Ceiling::<T>::new();
        let cc = c.c.to_f64();
        let (mut want, mut scale) = (0.0, 0.0);
        for xi in &c.x {
            for (yj, vj) in c.y.iter().zip(&c.v) {
                let d = xi.to_f64() - yj.to_f64();
                let t = (-d * d * cc).exp() * vj.to_f64();
                want += t;
                scale += t.abs();
            }
        }
        let got = c.pass();
        assert!(
            (got - want).abs() <= tol * scale,
            "{} at {level}: {got} vs {want}",
            T::NAME
        );
    }
    at_every_level(|level| {
        check::<f32>(level, 1e-5);
        check::<f64>(level, 1e-13);
    });
}
