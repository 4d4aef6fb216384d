//! Concurrency (issue 15): many threads share one `KernelMatrix` and one preconditioner, running
//! products and solves at once (each also parallel inside, on rayon's pool); every result equals,
//! bit for bit, the same work done serially.
//!
//! A `KernelMatrix` keeps one product workspace behind a mutex and gives a concurrent product a
//! fresh one; a `NystromPreconditioner` is read-only once built. Neither may change a result.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use keops::prelude::*;
use keops::Jacobi;

/// SplitMix64: the points and right-hand sides.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn reals<T: Real>(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| T::from_f64(self.unit())).collect()
    }
}

/// Threads running at once (more than the machine's cores: they also contend for rayon's pool).
const THREADS: usize = 8;
/// Passes of each thread over the work.
const ROUNDS: usize = 1;
/// Points (2D) of the kernel matrix, and prediction points.
const N: usize = 250;
const T_POINTS: usize = 100;
const ALPHA: f64 = 1.0;

/// One piece of work on the shared operators.
#[derive(Clone, Copy, Debug)]
enum Job {
    /// `K v` for right-hand side `r` (its columns).
    Product(usize),
    /// `(alpha I + K) a = b_r` with the shared Nyström preconditioner.
    SharedNystrom(usize),
    /// The same with the shared Jacobi preconditioner.
    SharedJacobi(usize),
    /// The same with a preconditioner the solve builds (Auto: greedy Nyström).
    OwnPreconditioner(usize),
    /// Solve with the shared Nyström preconditioner, then predict `K_tx a`.
    Predict(usize),
}

/// A result as bits: every number a job returns (coefficients, residuals, iterations...).
type Bits = Vec<u64>;

fn solution_bits<T: Real>(s: &Solution<T>) -> Bits {
    let mut out: Bits = s
        .coefficients
        .iter()
        .map(|x| x.to_f64().to_bits())
        .collect();
    out.push(s.iterations as u64);
    out.push(s.residual.to_bits());
    out.extend(s.column_iterations.iter().map(|&i| i as u64));
    out.extend(s.column_residuals.iter().map(|r| r.to_bits()));
    out.push(s.rank as u64);
    out
}

fn run_all<T: Real>() {
    let mut rng = Rng(0x636f_6e63 ^ T::NAME.len() as u64);
    let x: Vec<T> = rng.reals(2 * N);
    let t: Vec<T> = rng.reals(2 * T_POINTS);
    // Right-hand sides of 1, 2 and 3 columns.
    let rhs: Vec<(Vec<T>, usize)> = (1..=3).map(|k| (rng.reals(N * k), k)).collect();
    let s = 0.15;
    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let xv = || View::new(&x, 2).unwrap();
    let k = gauss.x_i(xv()).y_j(xv()).matrix().unwrap();
    let k_tx = gauss
        .x_i(View::new(&t, 2).unwrap())
        .y_j(xv())
        .matrix()
        .unwrap();
    // Tolerances each precision reaches (f32 stagnates near 1e-6).
    let tol = if T::NAME == "f64" { 1e-8 } else { 1e-4 };
    let cg = ConjugateGradient::new().tolerance(tol);
    let nystrom = Nystrom::new().build(&k, ALPHA).unwrap();
    assert!(nystrom.landmarks().len() > 1, "a real low-rank part");
    let jacobi = Jacobi::new(&k, ALPHA).unwrap();

    let run = |job: Job| -> Bits {
        let b = |r: usize| View::new(&rhs[r].0, rhs[r].1).unwrap();
        match job {
            Job::Product(r) => {
                let kb = k.matvec(b(r)).unwrap();
                kb.iter().map(|x| x.to_f64().to_bits()).collect()
            }
            Job::SharedNystrom(r) => {
                solution_bits(&cg.solve_preconditioned(&k, ALPHA, b(r), &nystrom).unwrap())
            }
            Job::SharedJacobi(r) => {
                solution_bits(&cg.solve_preconditioned(&k, ALPHA, b(r), &jacobi).unwrap())
            }
            Job::OwnPreconditioner(r) => solution_bits(&k.solve_with(&cg, b(r), ALPHA).unwrap()),
            Job::Predict(r) => {
                let sol = cg.solve_preconditioned(&k, ALPHA, b(r), &nystrom).unwrap();
                let pred = k_tx.matvec(&sol.coefficients).unwrap();
                pred.iter().map(|x| x.to_f64().to_bits()).collect()
            }
        }
    };
    let jobs: Vec<Job> = (0..3)
        .flat_map(|r| {
            [
                Job::Product(r),
                Job::SharedNystrom(r),
                Job::SharedJacobi(r),
                Job::OwnPreconditioner(r),
                Job::Predict(r),
            ]
        })
        .collect();

    // Serially first: the reference.
    let serial: Vec<Bits> = jobs.iter().map(|&j| run(j)).collect();
    assert!(serial.iter().all(|b| !b.is_empty()));

    // Then THREADS threads, each over every job in its own order, released together; the most
    // jobs seen running at once shows that they did overlap.
    let barrier = Barrier::new(THREADS);
    let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let results: Vec<Vec<(usize, Bits)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|th| {
                let (barrier, jobs, run) = (&barrier, &jobs, &run);
                let (running, most) = (&running, &most);
                scope.spawn(move || {
                    barrier.wait();
                    let mut out = Vec::new();
                    for round in 0..ROUNDS {
                        for i in 0..jobs.len() {
                            // Different threads run different jobs at the same moment.
                            let j = (i * (2 * th + 1) + th + round) % jobs.len();
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            out.push((j, run(jobs[j])));
                            running.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut checked = 0;
    for (th, out) in results.iter().enumerate() {
        for (j, bits) in out {
            assert!(
                *bits == serial[*j],
                "{}: thread {th}, {:?}: differs from the serial result",
                T::NAME,
                jobs[*j]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, THREADS * ROUNDS * jobs.len());
    let most = most.into_inner();
    assert!(most >= THREADS / 2, "at most {most} jobs ran at once");
}

#[test]
fn shared_matrix_and_preconditioners_f64() {
    run_all::<f64>();
}

#[test]
fn shared_matrix_and_preconditioners_f32() {
    run_all::<f32>();
}

/// The comparison is bitwise: a result one ulp away in one coefficient is a difference.
#[test]
fn bitwise_comparison_sees_one_ulp() {
    let a = [1.0f64, 2.0, 3.0];
    let bits: Bits = a.iter().map(|x| x.to_bits()).collect();
    let mut b = a;
    b[1] = f64::from_bits(b[1].to_bits() + 1);
    let other: Bits = b.iter().map(|x| x.to_bits()).collect();
    assert_ne!(bits, other);
}
