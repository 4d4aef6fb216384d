//! Backends and typed errors everywhere, solves on each backend, gradients on the device.

use super::*;

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
