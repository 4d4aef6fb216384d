//! The generated CUDA kernels with ranges: block-sparse launches (KeOps' `GpuConv1D_ranges`: a
//! block of threads per slice of a cluster of rows, looping over its ranges) run as host C++
//! (tests/common/gpu_host/), launched as the CUDA backend launches them (`GpuTask::plan` and
//! `GpuTask::block_table`). [`engines`] and [`products`] give the other tests' checks the kernel's
//! result beside the CPU engine's, so that every reduction and product of this binary is checked
//! against its masked dense reference on both. When the ranges keep everything, the block-sparse
//! launch must also equal the dense launch without split bit for bit (the same blocks of rows and
//! the same tiles, in the same order).

use std::sync::Once;

use keops_runtime::{BlockTable, BoundKernel, BoundReduction, GpuTask, ReductionOutput};

use super::*;
use common::gpu_host::{self, HostRun, Outcome};

/// The run, `None` when the emulation is skipped here (noted once); panics on an error.
fn ran<T>(what: &str, r: Result<Outcome<T>, String>) -> Option<HostRun<T>> {
    match r.unwrap_or_else(|e| panic!("{what}: {e}")) {
        Outcome::Ran(run) => Some(run),
        Outcome::Skipped(why) => {
            static NOTE: Once = Once::new();
            NOTE.call_once(|| eprintln!("block-sparse CUDA kernels not emulated: {why}"));
            None
        }
    }
}

/// The launch is block-sparse: its table's blocks, one block along the reduction index.
fn check_plan<T: Real>(task: &GpuTask<'_, T>, run: &HostRun<T>) {
    let table = task.block_table().expect("a task with ranges");
    for p in &run.plans {
        assert_eq!((p.grid_x as usize, p.grid_y), (table.blocks.len(), 1));
    }
}

/// Whether the task's ranges keep every pair.
fn keeps_everything<T>(task: &GpuTask<'_, T>) -> bool {
    task.sparsity
        .is_some_and(|s| s.kept_pairs() == (task.n_out * task.n_red) as u64)
}

/// `(label, output)`: the CPU engine's result of `red` (bound with ranges), then its CUDA
/// kernel's under host emulation.
pub(crate) fn engines<T: Real, B: BoundReduction<T>>(
    what: &str,
    red: &Reduction<T, B>,
) -> Vec<(String, B::Output)> {
    let mut out = vec![("CPU engine".to_string(), red.eval())];
    let task = red.gpu_task();
    assert!(task.sparsity.is_some(), "{what}: bound without ranges");
    let Some(run) = ran(what, gpu_host::run_reduction(&task, None)) else {
        return out;
    };
    check_plan(&task, &run);
    let idx: Vec<usize> = (run.idx[0].iter())
        .map(|&i| usize::try_from(i).unwrap_or(usize::MAX))
        .collect();
    if keeps_everything(&task) {
        let dense = GpuTask {
            sparsity: None,
            ..task.clone()
        };
        if let Some(d) = ran(what, gpu_host::run_reduction(&dense, Some(1))) {
            assert_eq!(d.plans[0].grid_y, 1);
            assert!(
                same_bits(&run.outs[0], &d.outs[0]) && run.idx == d.idx,
                "{what}: the block-sparse launch keeping everything differs from the dense one"
            );
        }
    }
    let label = format!(
        "host-emulated {} ({} blocks)",
        run.kernel, run.plans[0].grid_x
    );
    let vals = run.outs.into_iter().next().expect("one job");
    out.push((
        label,
        B::Output::from_parts(red.rows(), red.dim(), vals, idx),
    ));
    out
}

/// `(label, K v)`: the CPU engine's product of `m` (with ranges) and `v` (`nv` columns), then
/// its CUDA matvec kernels' under host emulation (launches of at most 8 columns).
pub(crate) fn products<T: Real, B: BoundKernel<T>>(
    what: &str,
    m: &KernelMatrix<T, B>,
    v: &[T],
    nv: usize,
) -> Vec<(String, Vec<T>)> {
    let cpu = m.matvec(View::new(v, nv).unwrap()).unwrap();
    let mut out = vec![("CPU engine".to_string(), cpu.as_slice().to_vec())];
    let task = m.gpu_task();
    assert!(task.sparsity.is_some(), "{what}: a matrix without ranges");
    let Some(run) = ran(what, gpu_host::run_matvec(&task, v, nv, None)) else {
        return out;
    };
    check_plan(&task, &run);
    if keeps_everything(&task) {
        let dense = GpuTask {
            sparsity: None,
            ..task.clone()
        };
        if let Some(d) = ran(what, gpu_host::run_matvec(&dense, v, nv, Some(1))) {
            assert!(
                same_bits(&run.outs[0], &d.outs[0]),
                "{what}: the block-sparse product keeping everything differs from the dense one"
            );
        }
    }
    let label = format!(
        "host-emulated {} ({} blocks)",
        run.kernel, run.plans[0].grid_x
    );
    out.push((label, run.outs.into_iter().next().expect("one job")));
    out
}

fn same_bits<T: Real>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len()
        && (a.iter().zip(b)).all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits())
}

/// The layouts hold what the tests mean to cover: clusters longer than a block of threads
/// (several blocks), clusters of one point, empty clusters (no block), rows in no cluster.
#[test]
fn layouts_cover_the_kernels_cases() {
    let mut rng = Rng::named("cuda layouts", 0);
    let l = Layout::long(&mut rng, 700, 531, 0.5);
    let (r, s) = (l.ranges(), l.ranges().over_j().clone());
    assert!(l.ci.iter().any(|c| c.len() > 256), "{:?}", l.ci);
    assert!(l.ci.iter().any(|c| c.is_empty()) && l.ci.iter().any(|c| c.len() == 1));
    let clustered: usize = l.ci.iter().map(|c| c.len()).sum();
    assert!(clustered < 700, "rows in no cluster");
    let t = BlockTable::new(&s, 700);
    // The long cluster's blocks (it visits ranges of its own, unless its neighbours visit the
    // same: then the blocks cover them too).
    let long = (l.ci.iter().position(|c| c.len() > 256)).unwrap();
    let in_long = |b: &&keops_abi::gpu::SparseBlock| {
        (b.row0 as usize) < l.ci[long].end && (b.row1 as usize) > l.ci[long].start
    };
    assert!(
        t.blocks.iter().filter(in_long).count() >= 2,
        "{:?}",
        t.blocks
    );
    // Random layouts have clusters of one point and empty ones too, and rows that share a block.
    let l = Layout::random(&mut rng, 700, 531, 0.3);
    assert!(l.ci.iter().any(|c| c.is_empty()) && l.ci.iter().any(|c| c.len() == 1));
    assert!(BlockTable::new(l.ranges().over_j(), 700).blocks.len() < l.ci.len());
    // A mask that keeps nothing: every block without ranges.
    let none = Layout::all(&mut rng, 700, 531, false).ranges();
    let t = BlockTable::new(none.over_j(), 700);
    assert!(t.blocks.iter().all(|b| b.range0 == b.range1) && t.ranges.is_empty());
    assert!(r.kept_pairs() > 0);
}

/// The checks can fail: the kernel run with the table of a mask that keeps everything misses the
/// masked reference of a random mask, by far; with its own table it meets it.
#[test]
fn a_wrong_table_is_detected() {
    let f = kernel!(x_i: 2, y_j: 2, b_j: 3 => sum_j(exp(-sqdist(x_i, y_j)) * b_j));
    let (n_i, n_j) = (700, 531);
    let mut rng = Rng::named("wrong table", 0);
    let l = Layout::long(&mut rng, n_i, n_j, 0.5);
    let (x, y): (Vec<f64>, Vec<f64>) = (rng.reals(2 * n_i, 0.0, 2.0), rng.reals(2 * n_j, 0.0, 2.0));
    // Positive weights: no cancellation hides a missing or extra term.
    let b: Vec<f64> = rng.reals(3 * n_j, 0.5, 1.0);
    let keep = l.dense(n_i, n_j);
    let (mut want, mut scale) = (vec![0.0; 3 * n_i], vec![0.0; 3 * n_i]);
    for i in 0..n_i {
        for j in (0..n_j).filter(|&j| keep[i * n_j + j]) {
            let d2: f64 = (0..2).map(|d| (x[2 * i + d] - y[2 * j + d]).powi(2)).sum();
            for e in 0..3 {
                want[3 * i + e] += (-d2).exp() * b[3 * j + e];
                scale[3 * i + e] += (-d2).exp() * b[3 * j + e];
            }
        }
    }
    let r = l.ranges();
    let red = (f
        .x_i(View::new(&x, 2).unwrap())
        .y_j(View::new(&y, 2).unwrap()))
    .b_j(View::new(&b, 3).unwrap())
    .ranges(&r)
    .bind()
    .unwrap();
    let task = red.gpu_task();
    let Some(run) = ran("own table", gpu_host::run_reduction(&task, None)) else {
        return;
    };
    common::check_close(&run.outs[0], &want, &scale, 1e-12).expect("its own table");
    let all = Ranges::dense(n_i, n_j);
    let wrong = GpuTask {
        sparsity: Some(all.over_j()),
        ..task.clone()
    };
    let run = ran("wrong table", gpu_host::run_reduction(&wrong, None)).expect("ran before");
    assert!(common::check_close(&run.outs[0], &want, &scale, 1e-12).is_err());
}
