//! Accuracy of f32 sums over 10^6 terms of mixed magnitude.
//!
//! The engine uses BLOCK SUMS (keops-runtime/src/cpu/): the reduction index is cut into tiles
//! of `keops::__private` TILE = 256 terms; the terms of one tile are added in the data's precision
//! (f32 here), and each tile's partial sum is added to an f64 accumulator (when few output rows
//! leave threads idle, the range is also split across threads, the partial f64 sums being added at
//! the end). The f32 rounding error therefore grows with the tile size, not with the number of
//! terms. Requirement: with N = 10^6 terms, the f32 result is within 1e-5 relative of an f64
//! reference computed from the same f32 inputs.
//!
//! Each test also computes a naive sequential f32 running sum of the same f32 terms and asserts
//! that its error is larger than the engine's: a check that the test can fail, i.e. that the data
//! is hard enough for plain f32 accumulation (which loses digits once the running sum dwarfs the
//! terms, and drops terms below half an ulp of it entirely).

mod common;

use common::Rng;
use keops::prelude::*;

const M: usize = 1_000_000;
const REL: f64 = 1e-5;

/// Log-uniform in [1e-3, 1e3], as f32.
fn log_uniform(rng: &mut Rng) -> f32 {
    rng.log_uniform(-3.0, 3.0) as f32
}

fn rel(got: f32, want: f64) -> f64 {
    (got as f64 - want).abs() / want.abs()
}

/// Relative errors of the engine's rows and of naive f32 running sums of the same f32 terms,
/// against the f64 sums of those terms (`term(i, j)` gives the f32 term and its f64 value).
fn compare(what: &str, got: &[f32], rows: usize, term: impl Fn(usize, usize) -> (f32, f64)) {
    assert_eq!(got.len(), rows);
    for (i, &g) in got.iter().enumerate() {
        let mut naive = 0f32;
        let mut exact = 0f64;
        for j in 0..M {
            let (t32, t64) = term(i, j);
            naive += t32;
            exact += t64;
        }
        let (engine_err, naive_err) = (rel(g, exact), rel(naive, exact));
        eprintln!(
            "{what} row {i}: sum {exact:.9e}, engine rel. error {engine_err:.2e}, naive f32 {naive_err:.2e}"
        );
        assert!(
            engine_err < REL,
            "{what} row {i}: engine {g} vs f64 {exact}: relative error {engine_err:e} >= {REL:e}"
        );
        assert!(
            engine_err < naive_err,
            "{what} row {i}: engine error {engine_err:e} not below naive f32 error {naive_err:e}"
        );
    }
}

/// `sum_j x_i * b_j` with b_j log-uniform in [1e-3, 1e3]: positive terms spanning six decades.
#[test]
fn log_uniform_terms() {
    let mut rng = Rng::new(1);
    let b: Vec<f32> = (0..M).map(|_| log_uniform(&mut rng)).collect();
    let x: Vec<f32> = vec![1.0, 0.5, 3.0];
    let out = kernel!(sum_j(x_i * b_j)).x_i(&x).b_j(&b).eval().unwrap();
    // The engine multiplies in f32: the reference takes the same rounded f32 products, summed in f64.
    compare("x_i * b_j", &out, x.len(), |i, j| {
        let t = x[i] * b[j];
        (t, t as f64)
    });
}

/// Gaussian kernel values in (0, 1] (from 1 down to ~1e-8), times log-uniform weights; also the
/// kernel values alone, through a kernel matrix's `matvec`.
#[test]
fn kernel_values_times_log_uniform_weights() {
    let mut rng = Rng::new(2);
    let y: Vec<f32> = (0..M).map(|_| (4.0 * rng.unit()) as f32).collect();
    let b: Vec<f32> = (0..M).map(|_| log_uniform(&mut rng)).collect();
    let x: Vec<f32> = vec![0.0, 0.7, 2.0, 3.9];
    let g = 1.0f32;
    // The f32 term exactly as the engine computes it, and in f64 from the same f32 inputs.
    let k32 = |i: usize, j: usize| {
        let d = x[i] - y[j];
        (-(d * d) * g).exp()
    };
    let k64 = |i: usize, j: usize| {
        let d = x[i] as f64 - y[j] as f64;
        (-(d * d) * g as f64).exp()
    };

    let out = kernel!(sum_j(exp(-square(x_i - y_j) * g) * b_j))
        .x_i(&x)
        .y_j(&y)
        .b_j(&b)
        .eval()
        .unwrap();
    compare("exp(-(x_i - y_j)^2) * b_j", &out, x.len(), |i, j| {
        (k32(i, j) * b[j], k64(i, j) * b[j] as f64)
    });

    let f = kernel!(exp(-sqdist(x_i, y_j) * g));
    let k = f.x_i(&x).y_j(&y).matrix().unwrap();
    let ones = vec![1f32; M];
    let kv = k.matvec(&ones).unwrap();
    compare("kernel values, matvec", &kv, x.len(), |i, j| {
        (k32(i, j), k64(i, j))
    });
    let kb = k.matvec(&b).unwrap();
    compare("kernel matvec log-uniform", &kb, x.len(), |i, j| {
        (k32(i, j) * b[j], k64(i, j) * b[j] as f64)
    });
}

/// The same over i: `sum_i` with 10^6 reduced i points and a few output rows.
#[test]
fn sum_over_i_log_uniform() {
    let mut rng = Rng::new(3);
    let a: Vec<f32> = (0..M).map(|_| log_uniform(&mut rng)).collect();
    let y: Vec<f32> = vec![2.0, 0.25];
    let out = kernel!(sum_i(a_i * y_j)).a_i(&a).y_j(&y).eval().unwrap();
    compare("sum_i a_i * y_j", &out, y.len(), |jrow, i| {
        let t = a[i] * y[jrow];
        (t, t as f64)
    });
}
