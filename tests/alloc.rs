//! The solver's iterations allocate nothing: a counting global allocator sees the same number of
//! allocations for a solve of 3 iterations and one of 30 (the fused `(alpha I + K) p` products
//! reuse the kernel matrix's workspace, the Nyström preconditioner its own), for the symmetric
//! product (the same points twice) and the plain one, plain and preconditioned (Nyström,
//! Jacobi), on the SIMD level in use and on the scalar one. A product with a fresh buffer
//! in the loop makes the counts differ (checked by hand: +27 and more).
//!
//! Its own test binary with one test: the allocator counts every thread of the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use keops::prelude::*;
use keops::{set_simd_level, SimdLevel};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting the calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes through it).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as `dealloc` and `alloc`: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations during one solve capped at `iterations` (it cannot converge: tolerance 1e-30),
/// with a preconditioner built beforehand (`None`: plain CG).
fn count<B: keops::__private::BoundKernel<f32>>(
    k: &KernelMatrix<f32, B>,
    b: &[f32],
    iterations: usize,
    pre: Option<&dyn keops::Preconditioner>,
) -> usize {
    let cg = ConjugateGradient::new()
        .tolerance(1e-30)
        .max_iterations(iterations)
        .preconditioning(Preconditioning::Off);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let r = match pre {
        Some(p) => cg.solve_preconditioned(k, 0.5, b, p),
        None => k.solve_with(&cg, b, 0.5),
    };
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    let sol = r
        .expect_err("cannot meet 1e-30")
        .into_solution()
        .expect("an iterate");
    assert_eq!(sol.iterations, iterations);
    after - before
}

#[test]
fn solver_iterations_allocate_nothing() {
    // The solve runs on a rayon worker, as a parallel application's would: products from there
    // push their tasks onto the worker's own queue (a call from outside a pool goes through
    // rayon's global injector, whose queue grows in blocks now and then).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let s = 0.1f32;
    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let n = 1000;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % n) as f32 / n as f32).collect();
    let y: Vec<f32> = x.iter().map(|v| v + 1e-3).collect();
    let b: Vec<f32> = (0..n).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
    let kxx = gauss.x_i(&x).y_j(&x).matrix().unwrap();
    let kxy = gauss.x_i(&x).y_j(&y).matrix().unwrap();
    assert!(kxx.symmetric() && !kxy.symmetric());
    // Few landmarks, so that 30 iterations do not exhaust f32.
    let nystrom = Nystrom::new()
        .landmarks(Landmarks::Uniform { seed: 2 })
        .rank(4)
        .build(&kxx, 0.5)
        .unwrap();
    let jacobi = keops::Jacobi::new(&kxx, 0.5).unwrap();
    for level in [keops::simd_level(), SimdLevel::Scalar] {
        set_simd_level(Some(level)).unwrap();
        pool.install(|| {
            for (name, k) in [("K_xx", &kxx), ("K_xy", &kxy)] {
                for (pre_name, pre) in [
                    ("plain", None),
                    ("Nystrom", Some(&nystrom as &dyn keops::Preconditioner)),
                    ("Jacobi", Some(&jacobi)),
                ] {
                    // Warm-up: the workspaces and the pool's queues reach their sizes.
                    count(k, &b, 2, pre);
                    let (short, long) = (count(k, &b, 3, pre), count(k, &b, 30, pre));
                    println!(
                        "{level} {name} {pre_name}: {short} allocations for 3 iterations, {long} for 30"
                    );
                    assert_eq!(
                        short, long,
                        "{level} {name} {pre_name}: iterations allocate ({short} for 3, {long} for 30)"
                    );
                }
            }
        });
    }
    set_simd_level(None).unwrap();
}
