//! Emits the CUDA C++ of a formula: one templated device routine that runs the whole reduction
//! (KeOps' 1D scheme: a thread per output row, the reduction index loaded tile by tile into shared
//! memory, the sum finalised in registers) and, per precision and per arm of run-time dimensions,
//! an `extern "C"` kernel. Several blocks along `y` split the reduction range (split-j scheme);
//! they write f64 partial sums that `keops_combine_*` (prelude.cuh) adds.
//!
//! Block-sparse reductions (KeOps' `ranges`, as its `GpuConv1D_ranges`) run the same kernels with
//! a table (`KeopsArgs::blocks` non-null): block `blockIdx.x` reads its `KeopsBlock` (keops-abi's
//! `SparseBlock`: at most a block of consecutive output rows visiting the same ranges) and loops
//! over its ranges of the reduction index (`KeopsArgs::ranges`) tile by tile, with one block along
//! the reduction index. A dense launch has one range, its part of `0..n_red`. One instance serves
//! both (the branch is uniform over the grid and outside the tile loop): a second, block-sparse
//! instance of every kernel doubled nvcc's and ptxas' work for every formula of a package.
//!
//! The other reductions (min / max and their args, the k smallest, log-sum-exp, soft-max) keep
//! their per-thread state instead (see `other.rs`): with one block along the reduction index the
//! kernel writes the values (`T`) and indices (int64, `KeopsArgs::out_idx`) itself; split, each
//! block leaves its f64 state in the partial buffer and `keops_combine_red_*` merges the parts in
//! index order and writes the outputs. The k smallest always work in the partial buffer (their K
//! sorted pairs per entry) and always end with that pass.
//!
//! Accumulation is the CPU engine's block summation with shorter blocks: each thread sums groups
//! of [`GROUP`](keops_abi::gpu::GROUP) terms in the data's precision and adds the group sums in
//! f64. The same text compiles as host C++20 under `keops_host.h`, where blocks run in turn and a
//! block's threads are real threads meeting at a barrier.
//!
//! The parts: `routine.rs` opens the device routine (lengths, pointers, the per-row nodes, the
//! tile loop), `expr.rs` computes one node (`tensordot.rs` a contraction), `sum.rs` and `other.rs`
//! accumulate, `dispatch.rs` writes the `extern "C"` kernels.

mod dispatch;
mod expr;
mod other;
mod routine;
mod sum;
mod tensordot;

use std::fmt::Write;

use keops_abi::gpu::{self, KernelKind};

use crate::ir::{Formula, NodeId, Reduction};

/// The hand-written support code of every module (after [`keops_abi::gpu::cuda_header`]).
const PRELUDE_CUH: &str = include_str!("prelude.cuh");

/// Support code every generated `.cu` starts with (after `keops_host.h` on the host): the
/// contract's declarations generated from keops-abi, then the prelude's device functions and
/// formula-independent kernels ([`keops_abi::gpu::prelude`]).
pub fn prelude() -> String {
    format!("{}{PRELUDE_CUH}", gpu::cuda_header())
}

/// The host emulation of the CUDA execution model (see the module's header comment).
pub const HOST_HEADER: &str = include_str!("keops_host.h");

/// The PTX ptx-build compiled for `f` in the crate being compiled: `OUT_DIR/keops-cuda/<id>.ptx`
/// when it exists and is not empty (read by the macro at expansion time).
pub fn ptx_path(f: &Formula) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("OUT_DIR")?;
    let p = std::path::Path::new(&dir)
        .join(gpu::PTX_DIR)
        .join(format!("{}.ptx", formula_id(f)));
    std::fs::metadata(&p).ok().filter(|m| m.len() > 0)?;
    Some(p)
}

/// The run-time classes that select a GPU arm (its slots): a `concat` class is not one of them,
/// its dimension and capacity are the sums of its parts'.
pub fn gpu_slots(f: &Formula) -> Vec<usize> {
    f.slots
        .iter()
        .copied()
        .filter(|&k| f.classes[k].concat.is_none())
        .collect()
}

/// The formula's id ([`keops_abi::formula_id`] of its canonical text).
pub fn formula_id(f: &Formula) -> String {
    keops_abi::formula_id(&f.canonical())
}

/// Whether `KeopsArgs` can carry the formula's variables, parameters and run-time dimensions;
/// a formula with more gets no GPU kernel (it runs on the CPU).
pub fn fits_kernel_args(f: &Formula) -> bool {
    gpu::fits_kernel_args(f.vars.len(), f.params.len(), gpu_slots(f).len())
}

/// The CUDA C++ of one formula (without the [`prelude`]), and the names of its kernels.
pub fn emit(f: &Formula) -> (String, Vec<String>) {
    let id = formula_id(f);
    let mut s = String::new();
    if !fits_kernel_args(f) {
        let _ = writeln!(
            s,
            "// {id}: more than {} variables, {} parameters or {} run-time dimensions: no GPU kernel",
            gpu::MAX_VARS,
            gpu::MAX_PARAMS,
            gpu::MAX_SLOTS
        );
        return (s, Vec::new());
    }
    // `*/` in a formula would end the comment early.
    let canonical = f.canonical().replace("*/", "* /");
    let _ = writeln!(s, "// {id}: {canonical}");
    let _ = writeln!(s, "namespace {id} {{");
    for kind in kinds(f) {
        s += &Routine { f, kind }.emit();
    }
    let _ = writeln!(s, "}} // namespace {id}");
    let names = dispatch::emit_kernels(f, &id, &mut s);
    (s, names)
}

/// A whole `.cu` for several formulas: the prelude once, then each formula's code.
pub fn emit_module<'a>(formulas: impl IntoIterator<Item = &'a Formula>) -> (String, Vec<String>) {
    let mut s = prelude();
    s.push('\n');
    let prelude_kernels = gpu::prelude::names();
    let mut names = prelude_kernels.clone();
    let mut seen = std::collections::HashSet::new();
    for f in formulas {
        if seen.insert(formula_id(f)) {
            let (code, n) = emit(f);
            s += &code;
            names.extend(n);
        }
    }
    // Under host emulation, a table to find a reduction kernel by name.
    s += "#ifdef KEOPS_HOST\nstruct KeopsKernelEntry { const char* name; void (*fn)(const KeopsArgs); };\n";
    s += "static const KeopsKernelEntry keops_kernels[] = {\n";
    for n in names.iter().filter(|n| !prelude_kernels.contains(n)) {
        let _ = writeln!(s, "    {{\"{n}\", &{n}}},");
    }
    s += "    {nullptr, nullptr}};\n#endif\n";
    (s, names)
}

/// The kinds of kernel `f` gets: a reduction, or a kernel matrix's products.
fn kinds(f: &Formula) -> Vec<KernelKind> {
    KernelKind::all(f.reduction == Reduction::Kernel)
}

/// The device routine `run_<kind><T, caps...>(const KeopsArgs&)` of one formula and kind of
/// kernel: every part of the CUDA emitter is a method of it.
struct Routine<'f> {
    f: &'f Formula,
    kind: KernelKind,
}

impl Routine<'_> {
    /// Length (run-time or constant) of class `k`.
    fn len(&self, k: usize) -> String {
        format!("l{k}")
    }

    /// Capacity (compile-time) of class `k`.
    fn cap(&self, k: usize) -> String {
        match self.f.classes[k].fixed {
            Some(n) => n.to_string(),
            None => format!("C{k}"),
        }
    }
}

/// The local holding node `i`'s value.
fn node(i: NodeId) -> String {
    format!("n{i}")
}

/// A literal of type `T` with the f64's exact value.
fn literal(x: f64) -> String {
    if x.is_nan() {
        "T(NAN)".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "T(INFINITY)".into()
        } else {
            "T(-INFINITY)".into()
        }
    } else {
        format!("T({x:?})")
    }
}
