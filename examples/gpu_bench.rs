//! GPU throughput of the tutorial's kernels (feature `cuda`): a table of matrix-vector products
//! (kernel evaluations per second, first call apart: it loads or compiles the kernels), then the
//! tutorial's 1D kernel interpolation solved by conjugate gradient through `GpuKernelMatrix`
//! (the points stay on the device; each product copies one vector in and one out).
//!
//! ```text
//! cargo run --release --features cuda --example gpu_bench [-- --reps 3 --cpu]
//! ```
//!
//! Without the `cuda` feature, or on a machine without an NVIDIA GPU, it says why and exits 0.
//! `--cpu` adds the CPU engine's time at N = 1e4 and 1e5 (slow at 1e5 on few cores).

#[cfg(feature = "cuda")]
mod common;

#[cfg(not(feature = "cuda"))]
fn main() {
    println!("gpu_bench: built without the `cuda` feature (cargo run --release --features cuda --example gpu_bench)");
}

#[cfg(feature = "cuda")]
fn main() {
    if let Err(e) = bench::run() {
        eprintln!("gpu_bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(feature = "cuda")]
mod bench {
    use std::time::Instant;

    use super::common::{best_of, Rng};
    use keops::cuda::{self, Gpu, GpuKernelMatrix};
    use keops::prelude::*;

    struct Args {
        reps: usize,
        cpu: bool,
    }

    fn args() -> Args {
        let mut a = Args {
            reps: 5,
            cpu: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--reps" => {
                    a.reps = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|&r| r > 0)
                        .unwrap_or_else(|| usage())
                }
                "--cpu" => a.cpu = true,
                _ => usage(),
            }
        }
        a
    }

    fn usage() -> ! {
        eprintln!("usage: gpu_bench [--reps R] [--cpu]");
        std::process::exit(2);
    }

    fn row(what: &str, n: usize, nv: usize, first: f64, best: f64, cpu: Option<f64>) {
        let evals = (n as f64) * (n as f64);
        let cpu = cpu.map_or("-".to_string(), |t| format!("{t:.4}"));
        println!(
            "{what:<22} {n:>9} {nv:>3} {first:>10.4} {best:>10.5} {:>12.3e} {cpu:>10}",
            evals / best
        );
    }

    /// Prints a solve's time since `t`, iterations and residual; a solve that stopped short of the
    /// tolerance is reported with its last iterate's numbers.
    fn report(
        n: usize,
        what: &str,
        t: Instant,
        r: Result<Solution<f32>, SolveError<f32>>,
    ) -> Result<(), KeopsError> {
        let secs = t.elapsed().as_secs_f64();
        let sol = match r {
            Ok(sol) => sol,
            Err(SolveError::NotConverged { solution, .. }) => *solution,
            Err(SolveError::Failed(e)) => return Err(e),
        };
        println!(
            "  N = {n:>7}, {what}: {secs:.3} s, {} iterations, relative residual {:.2e}",
            sol.iterations, sol.residual
        );
        Ok(())
    }

    /// First call and best of `reps` of `f`, in seconds.
    fn time(
        reps: usize,
        mut f: impl FnMut() -> Result<(), KeopsError>,
    ) -> Result<(f64, f64), KeopsError> {
        let t = Instant::now();
        f()?;
        let first = t.elapsed().as_secs_f64();
        let mut err = None;
        let best = best_of(reps, || {
            if let Err(e) = f() {
                err = Some(e);
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok((first, best)),
        }
    }

    pub fn run() -> Result<(), KeopsError> {
        let a = args();
        let gpu = match Gpu::new(0) {
            Ok(g) => g,
            Err(e) => {
                println!("gpu_bench: no GPU to run on ({e})");
                return Ok(());
            }
        };
        let (cc, drv) = (gpu.compute_capability(), gpu.driver_version());
        println!(
            "GPU 0: {} (compute capability {}.{}, {} SMs, {:.1} GiB), driver CUDA {}.{}",
            gpu.name(),
            cc.0,
            cc.1,
            gpu.multiprocessors(),
            gpu.total_memory() as f64 / (1u64 << 30) as f64,
            drv.0,
            drv.1
        );
        println!();
        println!(
            "{:<22} {:>9} {:>3} {:>10} {:>10} {:>12} {:>10}",
            "kernel", "N", "nv", "first [s]", "best [s]", "evals/s", "CPU [s]"
        );
        let mut rng = Rng(7);
        let s = 0.1f32;
        for n in [10_000usize, 100_000, 1_000_000] {
            // At N = 1e6 a product is 1e12 kernel evaluations: one timed run after the first.
            let reps = if n > 100_000 { 1 } else { a.reps };
            let x: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
            let v: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 - 0.5).collect();
            let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
            let k = gauss.x_i(&x).y_j(&x).matrix()?;
            let task = k.gpu_task();
            let (first, best) = time(reps, || cuda::matvec(&gpu, &task, &v, 1).map(|_| ()))?;
            let cpu = (a.cpu && n <= 100_000).then(|| best_of(1, || drop(k.matvec(&v))));
            row("gaussian 1D f32", n, 1, first, best, cpu);
            // The same products with the points already on the device.
            let gk = GpuKernelMatrix::new(&gpu, &k)?;
            let mut out = vec![0f32; n];
            let (first, best) = time(reps, || gk.apply(&v, 1, &mut out))?;
            row("  device-resident", n, 1, first, best, None);
            if n <= 100_000 {
                let v8: Vec<f32> = (0..8 * n).map(|_| rng.uniform() as f32 - 0.5).collect();
                let (first, best) = time(reps, || cuda::matvec(&gpu, &task, &v8, 8).map(|_| ()))?;
                row("  8 columns", n, 8, first, best, None);
            }
            // f64 runs at a fraction of the f32 rate on most cards: up to N = 1e5.
            if n <= 100_000 {
                let xd: Vec<f64> = x.iter().map(|&x| f64::from(x)).collect();
                let vd: Vec<f64> = v.iter().map(|&v| f64::from(v)).collect();
                let sd = f64::from(s);
                let kd = kernel!(exp(-sqnorm(x_i - y_j) / (2 * sd * sd)))
                    .x_i(&xd)
                    .y_j(&xd)
                    .matrix()?;
                let taskd = kd.gpu_task();
                let (first, best) = time(reps, || cuda::matvec(&gpu, &taskd, &vd, 1).map(|_| ()))?;
                row("gaussian 1D f64", n, 1, first, best, None);
            }
            let x2: Vec<[f32; 2]> = (0..n)
                .map(|_| [rng.uniform() as f32, rng.uniform() as f32])
                .collect();
            let lap = kernel!(exp(-norm(x_i - y_j) / s))
                .x_i(&x2)
                .y_j(&x2)
                .matrix()?;
            let taskl = lap.gpu_task();
            let (first, best) = time(reps, || cuda::matvec(&gpu, &taskl, &v, 1).map(|_| ()))?;
            row("laplacian 2D f32", n, 1, first, best, None);
        }

        println!();
        println!("The tutorial's 1D interpolation (Gaussian, sigma 0.1, alpha 1, tolerance 1e-6) on the GPU:");
        for n in [10_000usize, 100_000] {
            let x: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
            let b: Vec<f32> = x
                .iter()
                .map(|&x| {
                    let x = f64::from(x);
                    (x + 0.5 * (6.0 * x).sin()
                        + 0.1 * (20.0 * x).sin()
                        + 0.2 * (rng.uniform() - 0.5)) as f32
                })
                .collect();
            let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
                .x_i(&x)
                .y_j(&x)
                .matrix()?;
            let cg = ConjugateGradient::new().tolerance(1e-6);
            let t = Instant::now();
            let gk = GpuKernelMatrix::new(&gpu, &k)?;
            report(
                n,
                "host CG over device products",
                t,
                cg.solve_shifted(&gk, 1.0, &b),
            )?;
            // The device-resident CG: vectors stay on the GPU.
            let t = Instant::now();
            let gk = GpuKernelMatrix::new(&gpu, &k)?;
            report(n, "device CG (upload included)", t, gk.solve(&b, 1.0, &cg))?;
            if a.cpu && n <= 10_000 {
                let t = Instant::now();
                let cpu = k.solve_with(&cg, &b, 1.0);
                println!(
                    "  N = {n:>7} on the CPU: {:.3} s ({:?} iterations)",
                    t.elapsed().as_secs_f64(),
                    cpu.as_ref().map(|s| s.iterations).ok()
                );
            }
        }

        println!();
        println!("The tutorial's 2D interpolation (Laplacian, sigma 0.1, alpha 10, outliers) by the device CG:");
        for n in [10_000usize, 100_000] {
            let x2: Vec<[f32; 2]> = (0..n)
                .map(|_| [rng.uniform() as f32, rng.uniform() as f32])
                .collect();
            let b: Vec<f32> = x2
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let r2 = (f64::from(p[0]) - 0.5).powi(2) + (f64::from(p[1]) - 0.5).powi(2);
                    let ring = if (0.09..=0.16).contains(&r2) {
                        1.0
                    } else {
                        0.0
                    };
                    if i >= n - n / 4 {
                        rng.uniform() as f32
                    } else {
                        (ring + 0.1 * (rng.uniform() - 0.5)) as f32
                    }
                })
                .collect();
            let k = kernel!(exp(-norm(x_i - y_j) / s))
                .x_i(&x2)
                .y_j(&x2)
                .matrix()?;
            let cg = ConjugateGradient::new().tolerance(1e-6);
            let t = Instant::now();
            let gk = GpuKernelMatrix::new(&gpu, &k)?;
            report(n, "device CG (upload included)", t, gk.solve(&b, 10.0, &cg))?;
        }

        println!();
        println!("Kernels loaded:");
        for (name, source) in gpu.kernels() {
            println!("  {name}: {source:?}");
        }
        for line in gpu.log() {
            println!("  {line}");
        }
        Ok(())
    }
}
