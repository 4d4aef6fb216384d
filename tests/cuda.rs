//! The CUDA backend against dense f64 references (plain loops) and the CPU engine: the tutorial's
//! Gaussian kernel (1D) and Laplacian kernel (2D) as matrix-vector products with 1, 3 and 9
//! columns, a scalar and a vector `sum_j`, in f32 and f64, at N = 1000, 4097 (not a multiple of a
//! block) and 100_000, with the reduction range split or not; and a conjugate-gradient solve
//! through `GpuKernelMatrix`.
//!
//! Run with `cargo test --features cuda --test cuda`. Without a GPU (or a driver) each GPU test
//! prints `skipped: <reason>` and passes; the test of the typed errors runs everywhere.
//!
//! Tolerances, relative to the sum of the absolute values of the terms of each output entry:
//! 1e-5 in f32, 1e-12 in f64 (2x that between the GPU and the CPU engine, both approximations).
//! At N = 100_000 the reference covers 300 rows spread over the range (first and last included).
#![cfg(feature = "cuda")]

mod common;

use common::{assert_close, Rng};
use keops::cuda::{self, Backend, Gpu, GpuKernelMatrix, KernelSource};
use keops::prelude::*;
use nalgebra::DMatrix;
use rayon::prelude::*;

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

/// The tutorial's Gaussian kernel in 1D: matvec with 1, 3, 9 columns, and the same as a scalar
/// `sum_j` reduction.
fn gaussian_1d<T: Real>(gpu: &Gpu) {
    for n in SIZES {
        let mut rng = Rng::named("cuda_gaussian_1d", n as u64);
        let x: Vec<T> = rng.reals(n, 0.0, 1.0);
        let y: Vec<T> = rng.reals(n, 0.0, 1.0);
        let s = 0.1;
        let st = round::<T>(s);
        let kf = move |a: &[f64], b: &[f64]| (-sqdist(a, b) / (2.0 * st * st)).exp();
        let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
            .x_i(&x)
            .y_j(&y)
            .matrix()
            .unwrap();
        let task = k.gpu_task();
        let rows = sample_rows(n);
        let (xf, yf) = (f64s(&x), f64s(&y));
        for nv in [1, 3, 9] {
            let v: Vec<T> = rng.reals(n * nv, -1.0, 1.0);
            let (want, scale) = reference(&rows, (&xf, &yf, 1), (&f64s(&v), nv), kf);
            let cpu = (n <= 4097).then(|| k.matvec(View::new(&v, nv).unwrap()).unwrap());
            for split in SPLITS {
                let got = cuda::matvec_with(gpu, &task, &v, nv, split).unwrap();
                check(
                    &format!(
                        "gaussian 1D matvec {} n={n} nv={nv} split={split:?}",
                        T::NAME
                    ),
                    &got,
                    &rows,
                    nv,
                    &want,
                    &scale,
                    cpu.as_deref(),
                );
            }
            if nv == 1 {
                let red = kernel!(sum_j(exp(-sqnorm(x_i - y_j) / (2 * s * s)) * b_j))
                    .x_i(&x)
                    .y_j(&y)
                    .b_j(&v)
                    .bind()
                    .unwrap();
                let cpu = (n <= 4097).then(|| red.eval());
                for split in SPLITS {
                    let got = cuda::reduce_with(gpu, &red.gpu_task(), split).unwrap();
                    check(
                        &format!("gaussian 1D sum_j {} n={n} split={split:?}", T::NAME),
                        &got,
                        &rows,
                        1,
                        &want,
                        &scale,
                        cpu.as_deref(),
                    );
                }
            }
        }
        let name = task.kernel_name(8).unwrap();
        println!(
            "{name}: from {:?}",
            gpu.kernel_source(&name).expect("the kernel was loaded")
        );
    }
}

/// The tutorial's Laplacian kernel `exp(-|x - y| / s)` in 2D, matvec with 1, 3, 9 columns.
fn laplacian_2d<T: Real>(gpu: &Gpu) {
    for n in SIZES {
        let mut rng = Rng::named("cuda_laplacian_2d", n as u64);
        let pts = |rng: &mut Rng| -> Vec<[T; 2]> {
            rng.reals::<T>(2 * n, 0.0, 1.0)
                .chunks(2)
                .map(|p| [p[0], p[1]])
                .collect()
        };
        let (x, y) = (pts(&mut rng), pts(&mut rng));
        let s = 0.1;
        let st = round::<T>(s);
        let kf = move |a: &[f64], b: &[f64]| (-sqdist(a, b).sqrt() / st).exp();
        let k = kernel!(exp(-norm(x_i - y_j) / s))
            .x_i(&x)
            .y_j(&y)
            .matrix()
            .unwrap();
        let task = k.gpu_task();
        let rows = sample_rows(n);
        let flat = |p: &[[T; 2]]| -> Vec<f64> { p.iter().flatten().map(|v| v.to_f64()).collect() };
        let (xf, yf) = (flat(&x), flat(&y));
        for nv in [1, 3, 9] {
            let v: Vec<T> = rng.reals(n * nv, -1.0, 1.0);
            let (want, scale) = reference(&rows, (&xf, &yf, 2), (&f64s(&v), nv), kf);
            let cpu = (n <= 4097).then(|| k.matvec(View::new(&v, nv).unwrap()).unwrap());
            for split in SPLITS {
                let got = cuda::matvec_with(gpu, &task, &v, nv, split).unwrap();
                check(
                    &format!(
                        "laplacian 2D matvec {} n={n} nv={nv} split={split:?}",
                        T::NAME
                    ),
                    &got,
                    &rows,
                    nv,
                    &want,
                    &scale,
                    cpu.as_deref(),
                );
            }
        }
    }
}

/// A vector-valued `sum_j` (output dimension 2) over 3D points.
fn vector_sum_j<T: Real>(gpu: &Gpu) {
    for n in SIZES {
        let mut rng = Rng::named("cuda_vector_sum_j", n as u64);
        let m = n / 2 + 1;
        let arr3 = |rng: &mut Rng, k: usize| -> Vec<[T; 3]> {
            rng.reals::<T>(3 * k, 0.0, 1.0)
                .chunks(3)
                .map(|p| [p[0], p[1], p[2]])
                .collect()
        };
        let x = arr3(&mut rng, n);
        let y = arr3(&mut rng, m);
        let b: Vec<[T; 2]> = rng
            .reals::<T>(2 * m, -1.0, 1.0)
            .chunks(2)
            .map(|p| [p[0], p[1]])
            .collect();
        let g = 4.0;
        let gt = round::<T>(g);
        let red = kernel!(sum_j(exp(-sqdist(x_i, y_j) * g) * b_j))
            .x_i(&x)
            .y_j(&y)
            .b_j(&b)
            .bind()
            .unwrap();
        assert_eq!((red.rows(), red.dim()), (n, 2));
        let rows = sample_rows(n);
        let flat = |p: Vec<f64>| p;
        let xf = flat(x.iter().flatten().map(|v| v.to_f64()).collect());
        let yf = flat(y.iter().flatten().map(|v| v.to_f64()).collect());
        let bf: Vec<f64> = b.iter().flatten().map(|v| v.to_f64()).collect();
        let kf = move |a: &[f64], c: &[f64]| (-sqdist(a, c) * gt).exp();
        let (want, scale) = reference(&rows, (&xf, &yf, 3), (&bf, 2), kf);
        let cpu = (n <= 4097).then(|| red.eval());
        for split in SPLITS {
            let got = cuda::reduce_with(gpu, &red.gpu_task(), split).unwrap();
            check(
                &format!("vector sum_j {} n={n} split={split:?}", T::NAME),
                &got,
                &rows,
                2,
                &want,
                &scale,
                cpu.as_deref(),
            );
        }
        // Backend::Auto takes the GPU here, with the same result as the explicit call.
        let auto = red.eval_on(Backend::Auto).unwrap();
        check(
            &format!("vector sum_j {} n={n} Backend::Auto", T::NAME),
            &auto,
            &rows,
            2,
            &want,
            &scale,
            None,
        );
    }
}

#[test]
fn gaussian_1d_f32() {
    if let Some(gpu) = gpu_or_skip() {
        gaussian_1d::<f32>(&gpu);
    }
}

#[test]
fn gaussian_1d_f64() {
    if let Some(gpu) = gpu_or_skip() {
        gaussian_1d::<f64>(&gpu);
    }
}

#[test]
fn laplacian_2d_f32() {
    if let Some(gpu) = gpu_or_skip() {
        laplacian_2d::<f32>(&gpu);
    }
}

#[test]
fn laplacian_2d_f64() {
    if let Some(gpu) = gpu_or_skip() {
        laplacian_2d::<f64>(&gpu);
    }
}

#[test]
fn vector_sum_j_f32() {
    if let Some(gpu) = gpu_or_skip() {
        vector_sum_j::<f32>(&gpu);
    }
}

#[test]
fn vector_sum_j_f64() {
    if let Some(gpu) = gpu_or_skip() {
        vector_sum_j::<f64>(&gpu);
    }
}

/// The tutorial's 1D problem (x ~ U(0,1), b = x + 0.5 sin 6x + 0.1 sin 20x + noise, sigma 0.1,
/// alpha 1) solved through the device-resident operator, against the CPU solve and a dense
/// Cholesky solve in f64.
fn solve_1d<T: Real>(gpu: &Gpu, tol: f64, bound: f64) {
    let n = 1000;
    let mut rng = Rng::named("cuda_solve_1d", 0);
    let x: Vec<T> = rng.reals(n, 0.0, 1.0);
    let b: Vec<T> = x
        .iter()
        .map(|&x| {
            let x = x.to_f64();
            T::from_f64(x + 0.5 * (6.0 * x).sin() + 0.1 * (20.0 * x).sin() + rng.range(-0.1, 0.1))
        })
        .collect();
    let s = 0.1;
    let st = round::<T>(s);
    let alpha = 1.0;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    let gk = GpuKernelMatrix::new(gpu, &k).unwrap();
    assert_eq!((gk.nrows(), gk.ncols()), (n, n));
    let cg = ConjugateGradient::new().tolerance(tol);
    let on_gpu = cg.solve_shifted(&gk, alpha, &b).unwrap();
    let on_cpu = k.solve_with(&cg, &b, alpha).unwrap();
    let xf = f64s(&x);
    let a = DMatrix::from_fn(n, n, |i, j| {
        (-(xf[i] - xf[j]).powi(2) / (2.0 * st * st)).exp() + if i == j { alpha } else { 0.0 }
    });
    let dense = a
        .cholesky()
        .expect("alpha I + K is positive definite")
        .solve(&DMatrix::from_column_slice(n, 1, &f64s(&b)));
    let rel = |got: &Rows<T>, want: &[f64]| -> f64 {
        let (mut e, mut w) = (0.0, 0.0);
        for (g, v) in got.iter().zip(want) {
            e += (g.to_f64() - v).powi(2);
            w += v * v;
        }
        (e / w).sqrt()
    };
    let vs_dense = rel(&on_gpu.coefficients, dense.as_slice());
    let vs_cpu = rel(&on_gpu.coefficients, &f64s(&on_cpu.coefficients));
    println!(
        "solve {}: {} iterations on the GPU, {} on the CPU; relative error vs Cholesky {vs_dense:.2e}, vs CPU {vs_cpu:.2e}",
        T::NAME,
        on_gpu.iterations,
        on_cpu.iterations
    );
    assert!(on_gpu.residual <= tol, "residual {}", on_gpu.residual);
    assert!(vs_dense < bound, "GPU solve vs Cholesky: {vs_dense:e}");
    assert!(vs_cpu < bound, "GPU solve vs CPU solve: {vs_cpu:e}");
    // The device-resident conjugate gradient (vectors never leave the GPU), two columns at once:
    // b and 2 b, whose solutions are a and 2 a.
    let b2: Vec<T> = b
        .iter()
        .flat_map(|&v| [v, T::from_f64(2.0 * v.to_f64())])
        .collect();
    let on_dev = gk.solve(View::new(&b2, 2).unwrap(), alpha, &cg).unwrap();
    assert!(
        on_dev.residual <= tol,
        "device CG residual {}",
        on_dev.residual
    );
    let scaled = |scale: f64| -> Vec<f64> { dense.as_slice().iter().map(|v| v * scale).collect() };
    for c in 0..2 {
        let got: Rows<T> =
            Rows::from_vec((0..n).map(|i| on_dev.coefficients.row(i)[c]).collect(), 1).unwrap();
        let e = rel(&got, &scaled((c + 1) as f64));
        println!(
            "device CG {} column {c}: {} iterations, residual {:.2e}, relative error vs Cholesky {e:.2e}",
            T::NAME,
            on_dev.column_iterations[c],
            on_dev.column_residuals[c]
        );
        assert!(e < bound, "device CG column {c} vs Cholesky: {e:e}");
    }
    // Products with the wrong shapes are typed errors.
    let mut out = vec![T::ZERO; n];
    assert!(matches!(
        gk.apply(&b[..n - 1], 1, &mut out),
        Err(KeopsError::OperandLength { .. })
    ));
    assert!(matches!(
        gk.apply(&b, 1, &mut out[..n - 1]),
        Err(KeopsError::OutputLength { .. })
    ));
}

#[test]
fn solve_through_gpu_kernel_matrix_f64() {
    if let Some(gpu) = gpu_or_skip() {
        solve_1d::<f64>(&gpu, 1e-12, 1e-8);
    }
}

#[test]
fn solve_through_gpu_kernel_matrix_f32() {
    if let Some(gpu) = gpu_or_skip() {
        solve_1d::<f32>(&gpu, 1e-6, 1e-4);
    }
}

/// Where the kernels came from (nvcc's PTX or NVRTC), and the loading log.
#[test]
fn kernel_sources_are_recorded() {
    let Some(gpu) = gpu_or_skip() else {
        return;
    };
    let x: Vec<f64> = (0..300).map(|i| i as f64 / 300.0).collect();
    let red = kernel!(sum_j(exp(-sqnorm(x_i - y_j)) * b_j))
        .x_i(&x)
        .y_j(&x)
        .b_j(&x)
        .bind()
        .unwrap();
    let task = red.gpu_task();
    let got = cuda::reduce(&gpu, &task).unwrap();
    let want: Vec<f64> = x
        .iter()
        .map(|&xi| {
            x.iter()
                .map(|&yj| (-(xi - yj) * (xi - yj)).exp() * yj)
                .sum()
        })
        .collect();
    let scale: Vec<f64> = x
        .iter()
        .map(|&xi| {
            x.iter()
                .map(|&yj| (-(xi - yj) * (xi - yj)).exp() * yj.abs())
                .sum()
        })
        .collect();
    assert_close("sum_j on the GPU", &got, &want, &scale, 1e-12);
    let name = task.kernel_name(0).unwrap();
    let source = gpu.kernel_source(&name).expect("loaded");
    // nvcc's PTX when the build found nvcc (and the driver accepted it), else NVRTC.
    assert!(matches!(source, KernelSource::Ptx | KernelSource::Nvrtc));
    if task.ptx.trim().is_empty() {
        assert_eq!(source, KernelSource::Nvrtc);
    }
    println!("{name}: {source:?}");
    for line in gpu.log() {
        println!("  {line}");
    }
    assert!(gpu.kernels().iter().any(|(n, _)| *n == name));
}

/// Needs NVRTC only (no driver, no GPU): every formula's CUDA source, as the backend would
/// compile it at run time, compiles for Ampere and Hopper, and the PTX holds the kernel the call
/// would launch and the combining pass. Run with `LD_LIBRARY_PATH` pointing at a libnvrtc.so.
#[test]
fn nvrtc_compiles_the_formula_sources() {
    if !cuda::nvrtc_available() {
        println!("skipped: NVRTC (libnvrtc.so) not found");
        return;
    }
    let x: Vec<f64> = (0..20).map(|i| i as f64 / 20.0).collect();
    let x3: Vec<[f64; 3]> = x.iter().map(|&v| [v, v * v, 1.0 - v]).collect();
    let y2: Vec<[f64; 2]> = x.iter().map(|&v| [v, 0.5 - v]).collect();
    let x2: Vec<[f32; 2]> = x.iter().map(|&v| [v as f32, 1.0]).collect();
    let (s, g) = (0.1, 2.0);
    let c = [0.1, 0.2, 0.3];
    // (kernel name, formula id, CUDA source) of each bound formula.
    let mut cases: Vec<(String, &'static str, &'static str)> = Vec::new();
    macro_rules! case {
        ($task:expr, $columns:expr) => {{
            let t = $task;
            cases.push((t.kernel_name($columns).unwrap(), t.id, t.source));
        }};
    }
    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    case!(gauss.gpu_task(), 8);
    let lap = kernel!(exp(-norm(x_i - y_j) / s))
        .x_i(&x2)
        .y_j(&x2)
        .matrix()
        .unwrap();
    case!(lap.gpu_task(), 1);
    let vec_sum = kernel!(sum_j(exp(-sqdist(x_i, y_j) * g) * b_j))
        .x_i(&x3)
        .y_j(&x3)
        .b_j(&y2)
        .bind()
        .unwrap();
    case!(vec_sum.gpu_task(), 0);
    let odd = kernel!(c: 3 => sum_i(concat(normalize(x_i - c), sqrt(abs(elem(y_j, 0)))) * powf(step(sum(y_j)) + 1, 2)))
        .x_i(&x3)
        .y_j(&y2)
        .bind()
        .unwrap();
    case!(odd.gpu_task(), 0);
    let branchy = kernel!(x_i: 1 => sum_j(ifelse(x_i - y_j, clamp(y_j, 0, 1), min(max(x_i, y_j), 1)) + pow(relu(sign(x_i)), 3)))
        .x_i(&x)
        .y_j(&x)
        .bind()
        .unwrap();
    case!(branchy.gpu_task(), 0);
    for (kernel, id, source) in &cases {
        assert!(
            !source.is_empty(),
            "{id}: no CUDA source with the cuda feature"
        );
        for arch in ["compute_80", "compute_90"] {
            let ptx = cuda::nvrtc_compile(source, id, arch).unwrap_or_else(|e| panic!("{e}"));
            for entry in [kernel.as_str(), "keops_combine_f32", "keops_combine_f64"] {
                assert!(
                    ptx.contains(&format!(".entry {entry}(")),
                    "{arch}: {entry} missing from the PTX of {id}"
                );
            }
            println!("{id} for {arch}: {} bytes of PTX", ptx.len());
        }
    }
    // A compile error is a typed error carrying NVRTC's log.
    match cuda::nvrtc_compile(
        "extern \"C\" __global__ void k() { undefined_thing(); }",
        "bad",
        "compute_90",
    ) {
        Err(KeopsError::Nvrtc { log }) => assert!(log.contains("undefined_thing"), "{log}"),
        other => panic!("{other:?}"),
    }
}

/// Runs everywhere: without a GPU every entry point is a typed error (never a panic) and
/// `Backend::Auto` / `Backend::Cpu` run on the CPU; with one, the explicit device works.
#[test]
fn backends_and_typed_errors() {
    let x: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
    let b: Vec<f64> = x.iter().map(|x| x.sin()).collect();
    let red = kernel!(sum_j(exp(-sqnorm(x_i - y_j) * 3) * b_j))
        .x_i(&x)
        .y_j(&x)
        .b_j(&b)
        .bind()
        .unwrap();
    let want: Vec<f64> = x
        .iter()
        .map(|&xi| {
            x.iter()
                .zip(&b)
                .map(|(&yj, &bj)| (-(xi - yj) * (xi - yj) * 3.0).exp() * bj)
                .sum()
        })
        .collect();
    let scale: Vec<f64> = x
        .iter()
        .map(|&xi| {
            x.iter()
                .zip(&b)
                .map(|(&yj, &bj)| (-(xi - yj) * (xi - yj) * 3.0).exp() * bj.abs())
                .sum()
        })
        .collect();
    let cpu = red.eval_on(Backend::Cpu).unwrap();
    assert_close("Backend::Cpu", &cpu, &want, &scale, 1e-12);
    let auto = red.eval_on(Backend::Auto).unwrap();
    assert_close("Backend::Auto", &auto, &want, &scale, 1e-12);
    let k = kernel!(exp(-sqnorm(x_i - y_j) * 3))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    let kb = k.matvec_on(&b, Backend::Auto).unwrap();
    assert_close("matvec Backend::Auto", &kb, &want, &scale, 1e-12);
    // The same checks as the CPU matvec, whatever the backend.
    assert!(matches!(
        k.matvec_on(&b[..10], Backend::Auto),
        Err(KeopsError::OperandLength { .. })
    ));
    match Gpu::new(0) {
        Ok(gpu) => {
            let on = red.eval_on(Backend::Cuda(0)).unwrap();
            assert_close("Backend::Cuda(0)", &on, &want, &scale, 1e-12);
            // A reduction is not a kernel matrix, and the reverse.
            assert!(matches!(
                cuda::matvec(&gpu, &red.gpu_task(), &b, 1),
                Err(KeopsError::NoGpuKernel { .. })
            ));
            assert!(matches!(
                cuda::reduce(&gpu, &k.gpu_task()),
                Err(KeopsError::NoGpuKernel { .. })
            ));
            assert!(matches!(
                cuda::matvec(&gpu, &k.gpu_task(), &b[..49], 1),
                Err(KeopsError::OperandLength { .. })
            ));
            // An ordinal past the last device.
            let count = cuda::device_count().unwrap();
            assert!(matches!(
                Gpu::new(count),
                Err(KeopsError::NoCudaDriver { .. })
            ));
        }
        Err(e) => {
            println!("skipped (GPU part): {e}");
            assert!(matches!(e, KeopsError::NoCudaDriver { .. }), "{e:?}");
            for r in [
                red.eval_on(Backend::Cuda(0)).map(|_| ()),
                k.matvec_on(&b, Backend::Cuda(0)).map(|_| ()),
                Gpu::new(1).map(|_| ()),
                cuda::device_count().map(|_| ()),
                cuda::driver_version().map(|_| ()),
            ] {
                assert!(matches!(r, Err(KeopsError::NoCudaDriver { .. })), "{r:?}");
            }
        }
    }
}

/// `solve_on`: the CPU backend is the CPU solver; `Auto` gives the same answer whether it finds a
/// GPU (device CG) or falls back to the CPU.
#[test]
fn solve_on_backends() {
    let n = 300;
    let mut rng = Rng::named("solve_on", 0);
    let x: Vec<f64> = rng.reals(n, 0.0, 1.0);
    let b: Vec<f64> = x.iter().map(|&x| (6.0 * x).sin()).collect();
    let s = 0.1;
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    let cg = ConjugateGradient::new().tolerance(1e-12);
    let cpu = k.solve_with(&cg, &b, 1.0).unwrap();
    let on_cpu = k.solve_on(&b, 1.0, &cg, Backend::Cpu).unwrap();
    assert_eq!(cpu.coefficients, on_cpu.coefficients);
    let auto = k.solve_on(&b, 1.0, &cg, Backend::Auto).unwrap();
    for (a, c) in auto.coefficients.iter().zip(cpu.coefficients.iter()) {
        assert!((a - c).abs() <= 1e-9 * (1.0 + c.abs()), "{a} vs {c}");
    }
    assert!(matches!(
        k.solve_on(&b, -1.0, &cg, Backend::Auto),
        Err(SolveError::Failed(KeopsError::InvalidAlpha { .. }))
    ));
}

/// Generated gradients on the device: the gradient reduction (its forward stage ran on the CPU
/// when the data was bound) gives the CPU engine's values, a parameter's gradient summed over its
/// rows.
#[test]
fn gradients_on_the_gpu() {
    let Some(_gpu) = gpu_or_skip() else { return };
    let mut r = Rng::named("cuda-grad", 1);
    let (n, m) = (4097, 1037);
    let x: Vec<f64> = r.vec(n * 3, 0.0, 1.0);
    let y: Vec<f64> = r.vec(m * 3, 0.0, 1.0);
    let e: Vec<f64> = r.vec(n, -1.0, 1.0);
    let s = 0.5;
    let (xv, yv) = (View::new(&x, 3).unwrap(), View::new(&y, 3).unwrap());
    let gy = kernel!(grad(logsumexp_j(-sqdist(x_i, y_j) / s), y_j, e_i))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .e_i(&e)
        .bind()
        .unwrap();
    let gs = kernel!(grad(min_j(sqdist(x_i, y_j) * s), s, e_i))
        .x_i(xv)
        .y_j(yv)
        .e_i(&e)
        .bind()
        .unwrap();
    for (what, cpu, gpu) in [
        (
            "logsumexp_j, y_j",
            gy.eval(),
            gy.eval_on(Backend::Cuda(0)).unwrap(),
        ),
        ("min_j, s", gs.eval(), gs.eval_on(Backend::Cuda(0)).unwrap()),
    ] {
        assert_eq!((gpu.rows(), gpu.dim()), (cpu.rows(), cpu.dim()), "{what}");
        let scale: Vec<f64> = cpu.iter().map(|v| v.abs() + 1e-3).collect();
        assert_close(what, &gpu, &cpu, &scale, 1e-10);
    }
}
