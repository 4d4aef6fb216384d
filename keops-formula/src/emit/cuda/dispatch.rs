//! The `extern "C"` kernels of a formula: one per kind, arm of run-time dimensions and precision,
//! each an instance of the formula's device routine (dense and block-sparse launches alike). The runtime
//! picks one by its name ([`keops_abi::gpu::kernel_name`]), as the Rust side's `dispatch.rs` picks
//! a monomorphised arm.

use std::fmt::Write;

use keops_abi::gpu::{all_arms, arm_name, kernel_name, THREADS};

use super::{gpu_slots, kinds};
use crate::ir::Formula;

/// Appends the kernels of `f` (formula id `id`) to `s`; their names.
pub(super) fn emit_kernels(f: &Formula, id: &str, s: &mut String) -> Vec<String> {
    let mut names = Vec::new();
    for kind in kinds(f) {
        for arm in all_arms(gpu_slots(f).len()) {
            let an = arm_name(&arm);
            // Per slot its capacity and whether the dimension is exactly that.
            let targs: Vec<String> = arm
                .iter()
                .map(|&(c, e)| format!("{c}, {}", if e { "true" } else { "false" }))
                .collect();
            for (real, ty) in keops_abi::PRECISIONS {
                let name = kernel_name(id, kind, real, &an);
                let mut targs = targs.clone();
                targs.insert(0, ty.to_string());
                let _ = writeln!(
                    s,
                    "extern \"C\" __global__ void __launch_bounds__({THREADS}) {name}(const KeopsArgs a) {{ {id}::run_{}<{}>(a); }}",
                    kind.tag(),
                    targs.join(", ")
                );
                names.push(name);
            }
        }
    }
    names
}
