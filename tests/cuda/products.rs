//! Matrix-vector products and `sum_j` on the device: the tutorial's Gaussian (1D) and Laplacian
//! (2D) kernels, and a vector `sum_j`, against the dense references.

use super::*;

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
