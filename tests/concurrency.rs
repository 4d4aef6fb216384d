//! The engine under random shapes and under concurrent use (issue 15); one test binary, so that
//! the formulas are compiled once.
//!
//! **Properties**: formulas whose dimensions are known at run time only, on random sizes (N, M in
//! 1..300), dimensions (1..8) and values, against plain-loop f64 references computed from the
//! same (rounded) inputs: normwise relative error `||got - want|| / ||want||` at most 1e-12 in f64
//! and 1e-4 in f32. The values come from a SplitMix64 seeded by the case (so that shrinking acts
//! on the sizes, the dimensions and the scale, not on thousands of floats). Fixed proptest seed, no
//! failure files; `PROPTEST_CASES=N` runs N cases of each property (README: Contributing).
//!
//! **Concurrency**: many threads share one `KernelMatrix` and one preconditioner, running products
//! and solves at once (each also parallel inside, on rayon's pool); every result equals, bit for
//! bit, the same work done serially. A `KernelMatrix` keeps one product workspace behind a mutex
//! and gives a concurrent product a fresh one; a `NystromPreconditioner` is read-only once built.
//! Neither may change a result.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use keops::prelude::*;
use keops::Jacobi;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// `n` values uniform in `[lo, hi)`, rounded to `T`.
    fn reals<T: Real>(&mut self, n: usize, lo: f64, hi: f64) -> Vec<T> {
        (0..n)
            .map(|_| T::from_f64(lo + (hi - lo) * self.unit()))
            .collect()
    }
}

/// The Gaussian kernel matrix `exp(-|x_i - y_j|^2 / (2 s^2))` of both parts (one `kernel!`).
fn gaussian<'a, T: Real>(
    x: View<'a, T>,
    y: View<'a, T>,
    s: f64,
) -> KernelMatrix<T, impl keops::__private::BoundKernel<T> + 'a> {
    kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(x)
        .y_j(y)
        .matrix()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Properties against dense references.

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x656e_6769_6e65),
        failure_persistence: None,
        ..Config::default()
    }
}

/// One case: sizes, dimensions, the spread of the points and a seed for the values.
#[derive(Debug, Clone)]
struct Case {
    n: usize,
    m: usize,
    /// Dimension of the points.
    d: usize,
    /// Dimension of the weights `b_j` (of the vector `v` for a kernel matrix).
    e: usize,
    /// Points uniform in `[-scale, scale]^d`: from nearly constant kernels to nearly diagonal.
    scale: f64,
    /// The kernel matrix is `K_xx` (y = x, the symmetric path) rather than `K_xy`.
    same: bool,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..300,
        1usize..300,
        1usize..8,
        1usize..5,
        prop::sample::select(&[0.05, 0.5, 1.0, 3.0][..]),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(n, m, d, e, scale, same, seed)| Case {
            n,
            m: if same { n } else { m },
            d,
            e,
            scale,
            same,
            seed,
        })
}

/// The data of a case in precision `T`: points x (n, d), y (m, d), weights b (m, e).
struct Data<T> {
    x: Vec<T>,
    y: Vec<T>,
    b: Vec<T>,
}

impl Case {
    fn data<T: Real>(&self) -> Data<T> {
        let mut rng = Rng(self.seed);
        let a = self.scale;
        let x = rng.reals(self.n * self.d, -a, a);
        let y = if self.same {
            x.clone()
        } else {
            rng.reals(self.m * self.d, -a, a)
        };
        Data {
            x,
            y,
            b: rng.reals(self.m * self.e, -1.0, 1.0),
        }
    }
}

fn f64s<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn sqdist(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// `out[r] = sum_c w(r, c) * v[c]` over rows of `rows` points and columns of `cols` points (both
/// of dimension `d`), `v` and `out` with `e` entries per row: the dense reference of a sum.
fn reference(
    rows: &[f64],
    cols: &[f64],
    d: usize,
    v: &[f64],
    e: usize,
    w: impl Fn(&[f64], &[f64]) -> f64,
) -> Vec<f64> {
    let mut out = vec![0.0; rows.len() / d * e];
    for (r, p) in rows.chunks(d).enumerate() {
        for (c, q) in cols.chunks(d).enumerate() {
            let k = w(p, q);
            for t in 0..e {
                out[r * e + t] += k * v[c * e + t];
            }
        }
    }
    out
}

/// `||got - want|| / ||want||` at most `tol`.
fn close<T: Real>(what: &str, got: &[T], want: &[f64], tol: f64) -> Result<(), TestCaseError> {
    close_to_scale(what, got, want, tol, 0.0)
}

/// `||got - want|| / max(||want||, floor)` at most `tol`: `floor` is the norm below which the
/// error is taken as absolute (a log-sum-exp may be 0 where its terms are not).
fn close_to_scale<T: Real>(
    what: &str,
    got: &[T],
    want: &[f64],
    tol: f64,
    floor: f64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{}: length", what);
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(want) {
        err += (g.to_f64() - w).powi(2);
        norm += w * w;
    }
    let rel = err.sqrt() / norm.sqrt().max(floor);
    prop_assert!(
        rel <= tol,
        "{}: relative error {:e} > {:e} (T = {})",
        what,
        rel,
        tol,
        T::NAME
    );
    Ok(())
}

fn tolerance<T: Real>() -> f64 {
    if T::NAME == "f64" {
        1e-12
    } else {
        1e-4
    }
}

/// `sum_j exp(-|x_i - y_j|^2) b_j`: run-time dimensions d and e.
fn reduction<T: Real>(c: &Case) -> Result<(), TestCaseError> {
    let data = c.data::<T>();
    let (x, y, b) = (f64s(&data.x), f64s(&data.y), f64s(&data.b));
    let view = |v, d| View::new(v, d).unwrap();
    let (xv, yv) = (|| view(&data.x, c.d), || view(&data.y, c.d));
    let tol = tolerance::<T>();

    let got = weighted_sum(xv(), yv(), view(&data.b, c.e));
    prop_assert_eq!((got.rows(), got.dim()), (c.n, c.e));
    let want = reference(&x, &y, c.d, &b, c.e, |p, q| (-sqdist(p, q)).exp());
    close("sum_j(exp(-sqnorm(x_i - y_j)) * b_j)", &got, &want, tol)
}

/// `sum_j exp(-|x_i - y_j|^2) b_j`.
fn weighted_sum<T: Real>(x: View<'_, T>, y: View<'_, T>, b: View<'_, T>) -> Rows<T> {
    kernel!(sum_j(exp(-sqnorm(x_i - y_j)) * b_j))
        .x_i(x)
        .y_j(y)
        .b_j(b)
        .eval()
        .unwrap()
}

/// The Gaussian kernel matrix times a block `v` of e columns (the symmetric path when y = x), and
/// `logsumexp_j`. (The formulas are those of other tests: no new GPU kernel to build.)
fn matrix<T: Real>(c: &Case) -> Result<(), TestCaseError> {
    let data = c.data::<T>();
    let (x, y, v) = (f64s(&data.x), f64s(&data.y), f64s(&data.b));
    let (xv, yv) = (
        || View::new(&data.x, c.d).unwrap(),
        || View::new(&data.y, c.d).unwrap(),
    );
    let s = 0.3 + c.scale;
    let k = gaussian(xv(), yv(), s);
    prop_assert_eq!((k.nrows(), k.ncols()), (c.n, c.m));
    let got = k.matvec(View::new(&data.b, c.e).unwrap()).unwrap();
    let want = reference(&x, &y, c.d, &v, c.e, |p, q| {
        (-sqdist(p, q) / (2.0 * s * s)).exp()
    });
    close("K v", &got, &want, tolerance::<T>())?;

    let got: Rows<T> = kernel!(logsumexp_j(-sqdist(x_i, y_j) / s))
        .x_i(xv())
        .y_j(yv())
        .eval()
        .unwrap();
    let want: Vec<f64> = x
        .chunks(c.d)
        .map(|p| {
            let e: Vec<f64> = y.chunks(c.d).map(|q| -sqdist(p, q) / s).collect();
            let top = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            top + e.iter().map(|v| (v - top).exp()).sum::<f64>().ln()
        })
        .collect();
    // Its values are O(1) (log M plus the largest exponent), possibly 0 (n = m = 1, y = x):
    // an absolute error per entry below 1 counts as relative.
    let floor = (c.n as f64).sqrt();
    let what = "logsumexp_j(-sqdist(x_i, y_j) / s)";
    close_to_scale(what, &got, &want, tolerance::<T>(), floor)?;
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn weighted_sums_match_dense_references(c in case()) {
        reduction::<f64>(&c)?;
        reduction::<f32>(&c)?;
    }

    #[test]
    fn kernel_matrices_match_dense_references(c in case()) {
        matrix::<f64>(&c)?;
        matrix::<f32>(&c)?;
    }
}

/// The comparison can fail: a reference off by one ulp-scale bump in one entry is caught.
#[test]
fn a_wrong_reference_is_caught() {
    let c = Case {
        n: 40,
        m: 30,
        d: 3,
        e: 2,
        scale: 1.0,
        same: false,
        seed: 7,
    };
    let data = c.data::<f64>();
    let got = weighted_sum(
        View::new(&data.x, c.d).unwrap(),
        View::new(&data.y, c.d).unwrap(),
        View::new(&data.b, c.e).unwrap(),
    );
    let mut want = reference(&data.x, &data.y, c.d, &data.b, c.e, |p, q| {
        (-sqdist(p, q)).exp()
    });
    assert!(close("exact", &got, &want, 1e-12).is_ok());
    want[17] *= 1.0 + 1e-9;
    assert!(close("perturbed", &got, &want, 1e-12).is_err());
}

// ---------------------------------------------------------------------------------------------
// Concurrency.

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
    let x: Vec<T> = rng.reals(2 * N, 0.0, 1.0);
    let t: Vec<T> = rng.reals(2 * T_POINTS, 0.0, 1.0);
    // Right-hand sides of 1, 2 and 3 columns.
    let rhs: Vec<(Vec<T>, usize)> = (1..=3).map(|k| (rng.reals(N * k, 0.0, 1.0), k)).collect();
    let s = 0.15;
    let xv = || View::new(&x, 2).unwrap();
    let k = gaussian(xv(), xv(), s);
    let k_tx = gaussian(View::new(&t, 2).unwrap(), xv(), s);
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
