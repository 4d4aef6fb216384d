//! The CUDA backend against dense f64 references (plain loops) and the CPU engine: the tutorial's
//! Gaussian kernel (1D) and Laplacian kernel (2D) as matrix-vector products with 1, 3 and 9
//! columns, a scalar and a vector `sum_j`, in f32 and f64, at N = 1000, 4097 (not a multiple of a
//! block) and 100_000, with the reduction range split or not; a conjugate-gradient solve
//! through `GpuKernelMatrix`; block-sparse reductions, products and solves (`ranges.rs`).
//!
//! Run with `cargo test --features cuda --test cuda`. Without a GPU (or a driver) each GPU test
//! prints `skipped: <reason>` and passes; the test of the typed errors runs everywhere.
//!
//! Tolerances, relative to the sum of the absolute values of the terms of each output entry:
//! 1e-5 in f32, 1e-12 in f64 (2x that between the GPU and the CPU engine, both approximations).
//! At N = 100_000 the reference covers 300 rows spread over the range (first and last included).
#![cfg(feature = "cuda")]

#[path = "../common/mod.rs"]
mod common;

use common::{assert_close, Rng};
use keops::cuda::{self, Backend, Gpu, GpuKernelMatrix, KernelSource};
use keops::prelude::*;
use nalgebra::DMatrix;
use rayon::prelude::*;

mod backends;
mod products;
mod ranges;
mod solve;
mod sources;

const SIZES: [usize; 3] = [1000, 4097, 100_000];
const SPLITS: [Option<usize>; 3] = [None, Some(1), Some(5)];

/// GPU 0, or `None` after printing why the test is skipped.
fn gpu_or_skip() -> Option<Gpu> {
    match Gpu::new(0) {
        Ok(gpu) => {
            println!(
                "GPU: {} (compute {}.{}, {} SMs, driver CUDA {}.{})",
                gpu.name(),
                gpu.compute_capability().0,
                gpu.compute_capability().1,
                gpu.multiprocessors(),
                gpu.driver_version().0,
                gpu.driver_version().1
            );
            Some(gpu)
        }
        Err(e) => {
            println!("skipped: {e}");
            None
        }
    }
}

fn tol<T: Real>() -> f64 {
    if T::NAME == "f32" {
        1e-5
    } else {
        1e-12
    }
}

fn f64s<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn round<T: Real>(x: f64) -> f64 {
    T::from_f64(x).to_f64()
}

/// The rows the dense reference covers.
fn sample_rows(n: usize) -> Vec<usize> {
    if n <= 4097 {
        (0..n).collect()
    } else {
        (0..300).map(|k| k * (n - 1) / 299).collect()
    }
}

/// `sum_j K(x_i, y_j) v_j` for the rows `rows` (dense, f64, plain loops) and the sum of the
/// absolute values of its terms, both `(rows.len(), nv)` row-major.
fn reference(
    rows: &[usize],
    (x, y, dim): (&[f64], &[f64], usize),
    (v, nv): (&[f64], usize),
    k: impl Fn(&[f64], &[f64]) -> f64 + Sync,
) -> (Vec<f64>, Vec<f64>) {
    let m = y.len() / dim;
    let per_row: Vec<(Vec<f64>, Vec<f64>)> = rows
        .par_iter()
        .map(|&i| {
            let (mut s, mut a) = (vec![0.0; nv], vec![0.0; nv]);
            let xi = &x[i * dim..(i + 1) * dim];
            for j in 0..m {
                let kij = k(xi, &y[j * dim..(j + 1) * dim]);
                for c in 0..nv {
                    let t = kij * v[j * nv + c];
                    s[c] += t;
                    a[c] += t.abs();
                }
            }
            (s, a)
        })
        .collect();
    let want = per_row.iter().flat_map(|r| r.0.clone()).collect();
    let scale = per_row.iter().flat_map(|r| r.1.clone()).collect();
    (want, scale)
}

/// The rows `rows` of a `(n, nv)` row-major result, in f64.
fn pick<T: Real>(out: &[T], rows: &[usize], nv: usize) -> Vec<f64> {
    rows.iter()
        .flat_map(|&i| out[i * nv..(i + 1) * nv].iter().map(|x| x.to_f64()))
        .collect()
}

fn sqdist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Checks a GPU result (full `(n, nv)`) against the reference rows and, when given, the CPU
/// engine's result.
#[allow(clippy::too_many_arguments)]
fn check<T: Real>(
    what: &str,
    got: &[T],
    rows: &[usize],
    nv: usize,
    want: &[f64],
    scale: &[f64],
    cpu: Option<&[T]>,
) {
    let g = pick(got, rows, nv);
    assert_close(&format!("{what} vs dense f64"), &g, want, scale, tol::<T>());
    if let Some(cpu) = cpu {
        let c = pick(cpu, rows, nv);
        assert_close(
            &format!("{what} vs CPU engine"),
            &g,
            &c,
            scale,
            2.0 * tol::<T>(),
        );
    }
}
