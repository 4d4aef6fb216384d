//! Criterion benchmarks of the CPU engine (`cargo bench --bench engine`): products `K v` with the
//! KeOps tutorial's two kernels at N = M = 1e3, 1e4, 1e5 in f32 and f64, on the same points twice
//! (`K_xx`, the symmetric product) and on two point sets (`K_xy`); throughput in elements = kernel
//! evaluations `N * M` per product. Also the hand-vectorised ceiling loop (examples/common/ceiling.rs,
//! one thread: criterion runs one benchmark at a time) and the tutorial's 1D solve at N = 1e4.
//! `cargo run --release --example bench` prints the same numbers as tables with their ratios.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::time::Duration;

#[path = "../examples/common/ceiling.rs"]
mod ceiling;

use ceiling::Ceiling;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keops::prelude::*;

/// Deterministic points in [0, 1).
fn points<T: Real>(n: usize, seed: u64) -> Vec<T> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            T::from_f64((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

macro_rules! bench_kernel {
    ($c:expr, $name:literal, $t:ty, $dim:expr, $k:expr) => {{
        let mut group = $c.benchmark_group(concat!($name, "/", stringify!($t)));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for n in [1_000usize, 10_000, 100_000] {
            let dim = $dim;
            let x = Rows::from_vec(points::<$t>(n * dim, 1), dim).unwrap();
            let y = Rows::from_vec(points::<$t>(n * dim, 2), dim).unwrap();
            let v = points::<$t>(n, 3);
            let mut out = vec![0 as $t; n];
            group.throughput(Throughput::Elements((n * n) as u64));
            let kxx = $k.x_i(&x).y_j(&x).matrix().unwrap();
            group.bench_function(BenchmarkId::new("K_xx", n), |b| {
                b.iter(|| kxx.matvec_into(&v, &mut out).unwrap())
            });
            let kxy = $k.x_i(&x).y_j(&y).matrix().unwrap();
            group.bench_function(BenchmarkId::new("K_xy", n), |b| {
                b.iter(|| kxy.matvec_into(&v, &mut out).unwrap())
            });
        }
        group.finish();
    }};
}

fn products(c: &mut Criterion) {
    let s32 = 0.1f32;
    let s64 = 0.1f64;
    bench_kernel!(
        c,
        "gaussian_1d",
        f32,
        1,
        kernel!(exp(-sqnorm(x_i - y_j) / (2 * s32 * s32)))
    );
    bench_kernel!(
        c,
        "gaussian_1d",
        f64,
        1,
        kernel!(exp(-sqnorm(x_i - y_j) / (2 * s64 * s64)))
    );
    bench_kernel!(
        c,
        "laplacian_2d",
        f32,
        2,
        kernel!(exp(-norm(x_i - y_j) / s32))
    );
    bench_kernel!(
        c,
        "laplacian_2d",
        f64,
        2,
        kernel!(exp(-norm(x_i - y_j) / s64))
    );
}

fn ceiling(c: &mut Criterion) {
    let mut group = c.benchmark_group("ceiling_gaussian_1d");
    group.throughput(Throughput::Elements(Ceiling::<f32>::EVALS as u64));
    let c32 = Ceiling::<f32>::new();
    group.bench_function("f32", |b| b.iter(|| c32.pass()));
    let c64 = Ceiling::<f64>::new();
    group.bench_function("f64", |b| b.iter(|| c64.pass()));
    group.finish();
}

fn solve(c: &mut Criterion) {
    let mut group = c.benchmark_group("solve_gaussian_1d");
    group.sample_size(10);
    let n = 10_000;
    let x = points::<f32>(n, 4);
    let b: Vec<f32> = x
        .iter()
        .map(|&x| x + 0.5 * (6.0 * x).sin() + 0.1 * (20.0 * x).sin())
        .collect();
    let s = 0.1f32;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let kxx = k.x_i(&x).y_j(&x).matrix().unwrap();
    group.bench_function(BenchmarkId::new("f32", n), |bch| {
        bch.iter(|| kxx.solve(&b, 1.0).unwrap().iterations)
    });
    group.finish();
}

criterion_group!(benches, products, ceiling, solve);
criterion_main!(benches);
