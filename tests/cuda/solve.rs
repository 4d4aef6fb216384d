//! A conjugate-gradient solve through the device-resident `GpuKernelMatrix`.

use super::*;

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
