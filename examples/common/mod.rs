//! Helpers shared by the examples (a folder without `main.rs`, so cargo does not take it for one).

use std::time::Instant;

/// A small deterministic generator (xorshift64*), so runs are reproducible without a dependency.
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal N(0, 1), by Box-Muller (one of the pair; two uniforms per draw).
    #[allow(dead_code)] // the kriging and gp examples draw normals; bench and matvec include this file too
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1], so the log is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[allow(dead_code)] // the timing benchmarks use it; gp includes this file too
/// The best wall-clock time of `reps` runs of `f`, in seconds.
pub fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

const SEED_1D: u64 = 0x1D1D_5EED_0000_0001;
const SEED_2D: u64 = 0x2D2D_5EED_0000_0002;

#[allow(dead_code)] // the kriging and bench examples use it, matvec and others include this file too
/// The tutorial's data: a noisy 1D signal, or a noisy 2D ring with a quarter of outliers.
/// Returns the points (flat, `dim` per point) and the values.
pub fn tutorial_data(dim: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    if dim == 1 {
        let mut rng = Rng(SEED_1D);
        let x: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let b = x
            .iter()
            .map(|&x| x + 0.5 * (6.0 * x).sin() + 0.1 * (20.0 * x).sin() + 0.05 * rng.normal())
            .collect();
        (x, b)
    } else {
        let mut rng = Rng(SEED_2D);
        let x: Vec<f64> = (0..2 * n).map(|_| rng.uniform()).collect();
        let mut b: Vec<f64> = x
            .chunks_exact(2)
            .map(|p| {
                let r2 = (p[0] - 0.5).powi(2) + (p[1] - 0.5).powi(2);
                let ring = if (0.3 * 0.3..=0.4 * 0.4).contains(&r2) {
                    1.0
                } else {
                    0.0
                };
                ring + 0.05 * rng.normal()
            })
            .collect();
        // Outliers: the last quarter of the values replaced by uniform noise.
        for v in &mut b[n - n / 4..] {
            *v = rng.uniform();
        }
        (x, b)
    }
}

#[allow(dead_code)] // bench and block_sparse name the CPU; the others include this file too
/// The CPU's model name (Linux), for the figures an example prints.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[allow(dead_code)] // the benchmarks with parts use it; the others include this file too
/// An example's exit: its error on stderr and code 1, or 0.
pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(dead_code)] // the benchmarks with parts use it; the others include this file too
/// The line naming what a benchmark's figures were measured on: CPU, threads, SIMD level.
pub fn machine_line() -> String {
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    format!(
        "machine: {}, {threads} threads, SIMD level {}\n",
        cpu_name(),
        keops::simd_level()
    )
}
