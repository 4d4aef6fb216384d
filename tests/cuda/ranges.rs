//! Block-sparse reductions and products on the device (KeOps' ranges): the backend's launches
//! with a block table (`reduce`, `matvec`, `GpuKernelMatrix` and its solve) against masked dense
//! references and the CPU engine with the same ranges. The kernels themselves are also checked
//! under host emulation on every machine (tests/block_sparse/cuda.rs).

use super::*;

fn ranges_case<T: Real>(gpu: &Gpu) {
    let (n, m) = (4097, 3001);
    let mut rng = Rng::named("cuda ranges", std::mem::size_of::<T>() as u64);
    let x: Vec<T> = rng.reals(2 * n, 0.0, 2.0);
    let y: Vec<T> = rng.reals(2 * m, 0.0, 2.0);
    let b: Vec<T> = rng.reals(m, -1.0, 1.0);
    let (ci, cj) = (rng.clusters(n, 600), rng.clusters(m, 600));
    let masks: [(&str, Vec<bool>); 3] = [
        (
            "random",
            (0..ci.len() * cj.len()).map(|_| rng.unit() < 0.3).collect(),
        ),
        ("everything", vec![true; ci.len() * cj.len()]),
        ("nothing", vec![false; ci.len() * cj.len()]),
    ];
    let (xv, yv) = (View::new(&x, 2).unwrap(), View::new(&y, 2).unwrap());
    let sq = |i: usize, j: usize| -> f64 {
        (0..2)
            .map(|d| (x[2 * i + d].to_f64() - y[2 * j + d].to_f64()).powi(2))
            .sum()
    };
    for (what, keep) in &masks {
        let r = Ranges::from_mask(&ci, &cj, keep).unwrap();
        // K b with K_ij = exp(-3 |x_i - y_j|^2), as a reduction and as a kernel matrix.
        let (mut want, mut scale) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            for j in (0..m).filter(|&j| r.keeps(i, j)) {
                let t = (-3.0 * sq(i, j)).exp() * b[j].to_f64();
                want[i] += t;
                scale[i] += t.abs();
            }
        }
        let red = kernel!(sum_j(exp(-sqnorm(x_i - y_j) * 3) * b_j))
            .x_i(xv.clone())
            .y_j(yv.clone())
            .b_j(&b)
            .ranges(&r)
            .bind()
            .unwrap();
        let k = kernel!(exp(-sqnorm(x_i - y_j) * 3))
            .x_i(xv.clone())
            .y_j(yv.clone())
            .matrix()
            .unwrap()
            .ranges(&r)
            .unwrap();
        let label = |how: &str| format!("{what} {how} in {}", T::NAME);
        let on = red.eval_on(Backend::Cuda(0)).unwrap();
        assert_close(
            &label("sum_j"),
            &f64s(on.as_slice()),
            &want,
            &scale,
            tol::<T>(),
        );
        let kb = k.matvec_on(&b, Backend::Cuda(0)).unwrap();
        assert_close(
            &label("K b"),
            &f64s(kb.as_slice()),
            &want,
            &scale,
            tol::<T>(),
        );
        let gk = k.to_gpu(gpu).unwrap();
        let kb = gk.matvec(&b).unwrap();
        assert_close(
            &label("GpuKernelMatrix"),
            &f64s(kb.as_slice()),
            &want,
            &scale,
            tol::<T>(),
        );
        // The 3 nearest kept y_j: the CPU engine's values and indices (ties are unlikely).
        let nn = kernel!(x_i: 2, y_j: 2 => kmin_argkmin_j(sqdist(x_i, y_j), 3))
            .x_i(xv.clone())
            .y_j(yv.clone())
            .ranges(&r)
            .bind()
            .unwrap();
        let (cpu_d, cpu_i) = nn.eval();
        let (gpu_d, gpu_i) = nn.eval_on(Backend::Cuda(0)).unwrap();
        assert_eq!(
            cpu_i.as_slice(),
            gpu_i.as_slice(),
            "{}",
            label("kmin indices")
        );
        let ones = vec![1.0; cpu_d.as_slice().len()];
        let cpu_d: Vec<f64> = f64s(cpu_d.as_slice());
        let gpu_d = f64s(gpu_d.as_slice());
        let finite = |v: &[f64]| {
            v.iter()
                .map(|x| if x.is_finite() { *x } else { 0.0 })
                .collect::<Vec<_>>()
        };
        assert!(cpu_d
            .iter()
            .zip(&gpu_d)
            .all(|(c, g)| c.is_finite() == g.is_finite()));
        assert_close(
            &label("kmin values"),
            &finite(&gpu_d),
            &finite(&cpu_d),
            &ones,
            tol::<T>(),
        );
    }
}

#[test]
fn ranges_on_the_gpu() {
    let Some(gpu) = gpu_or_skip() else { return };
    ranges_case::<f32>(&gpu);
    ranges_case::<f64>(&gpu);
}

/// A block-sparse kernel matrix solves on the device as on the host.
#[test]
fn ranges_solve_on_the_gpu() {
    let Some(_gpu) = gpu_or_skip() else { return };
    let n = 2000;
    let mut rng = Rng::named("cuda ranges solve", 0);
    let x: Vec<f64> = rng.reals(n, 0.0, 1.0);
    let b: Vec<f64> = x.iter().map(|&x| (6.0 * x).sin()).collect();
    let c = rng.clusters(n, 600);
    // Block-diagonal: each cluster with itself (symmetric, positive definite).
    let keep: Vec<bool> = (0..c.len() * c.len())
        .map(|e| e / c.len() == e % c.len())
        .collect();
    let r = Ranges::from_mask(&c, &c, &keep).unwrap();
    let k = kernel!(exp(-sqnorm(x_i - y_j) * 3))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap()
        .ranges(&r)
        .unwrap();
    let cg = ConjugateGradient::new().tolerance(1e-12);
    let cpu = k.solve_on(&b, 1.0, &cg, Backend::Cpu).unwrap();
    let on = k.solve_on(&b, 1.0, &cg, Backend::Cuda(0)).unwrap();
    for (a, c) in on.coefficients.iter().zip(cpu.coefficients.iter()) {
        assert!((a - c).abs() <= 1e-9 * (1.0 + c.abs()), "{a} vs {c}");
    }
}
