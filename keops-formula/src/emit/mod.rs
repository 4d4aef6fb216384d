//! Code generation from a checked [`Formula`]: the Rust a `kernel!` call expands to ([`rust`]) and
//! the CUDA C++ that ptx-build compiles and the runtime launches ([`cuda`]).
//!
//! Both emitters walk the formula the same way: its live nodes in order, split (`Schedule`) into
//! those computed once per output row and those computed per pair, then the accumulation of the
//! reduction's `Family`. Their modules mirror each other:
//!
//! | what                                  | Rust (`rust/`)                | CUDA (`cuda/`)         |
//! |---------------------------------------|-------------------------------|------------------------|
//! | one node's value                      | `expr.rs`                     | `expr.rs`              |
//! | tensor contractions                   | `tensordot.rs`                | `tensordot.rs`         |
//! | one instance per arm of run-time dims | `dispatch.rs`                 | `dispatch.rs`          |
//! | the per-row and per-pair code         | `row_kernel.rs`, `lanes.rs`   | `routine.rs`           |
//! | the accumulation                      | (the runtime's engine)        | `sum.rs`, `other.rs`   |
//!
//! The Rust side also emits the typed API around the row kernel: the builder that binds data by
//! variable name (`builder.rs`), the bound formula that checks dimensions once (`bound.rs`), its
//! evaluation (`run.rs`), its GPU task (`gpu_task.rs`) and a gradient's forward stages
//! (`stages.rs`).

pub mod cuda;
pub mod rust;

use crate::ir::{Formula, NodeId, RedOp, Reduction};

/// What a reduction keeps per output row while it runs, which decides the code both emitters
/// generate for it. A new [`RedOp`] is placed in a family here (the match is exhaustive), and
/// each emitter then handles the families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// No reduction: the kernel matrix, whose products are sums.
    Kernel,
    /// `sum_i` / `sum_j`.
    Sum,
    /// Min, max and their args: the running extremum and its index.
    Extremum {
        /// A maximum (else a minimum).
        max: bool,
    },
    /// The K smallest values and / or their indices.
    KMin(usize),
    /// The log-sum-exp family: the running maximum of `F` and the sum of `exp(F - max)` (times
    /// the weight).
    ShiftedExp {
        /// `sumsoftmaxweight`: the sum is divided by that of `exp(F - max)` alone.
        softmax: bool,
    },
}

impl Family {
    /// The family of `r`.
    pub(crate) fn of(r: Reduction) -> Family {
        match r {
            Reduction::Kernel => Family::Kernel,
            Reduction::SumI | Reduction::SumJ => Family::Sum,
            Reduction::Other(op, _) => match op {
                RedOp::Min | RedOp::ArgMin | RedOp::MinArgMin => Family::Extremum { max: false },
                RedOp::Max | RedOp::ArgMax | RedOp::MaxArgMax => Family::Extremum { max: true },
                RedOp::KMin(k) | RedOp::ArgKMin(k) | RedOp::KMinArgKMin(k) => Family::KMin(k),
                RedOp::LogSumExp | RedOp::LogSumExpWeight => Family::ShiftedExp { softmax: false },
                RedOp::SumSoftMaxWeight => Family::ShiftedExp { softmax: true },
            },
        }
    }
}

/// What evaluating a reduction gives: values (in the data's precision), indices, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outputs {
    /// The result holds values.
    pub(crate) values: bool,
    /// The result holds indices.
    pub(crate) indices: bool,
}

impl Outputs {
    /// The outputs of `r`: a sum's or a kernel matrix's are values.
    pub(crate) fn of(r: Reduction) -> Outputs {
        match r {
            Reduction::Other(op, _) => Outputs {
                values: op.has_values(),
                indices: op.has_indices(),
            },
            Reduction::Kernel | Reduction::SumI | Reduction::SumJ => Outputs {
                values: true,
                indices: false,
            },
        }
    }
}

/// The live nodes of a formula (those the reduction reads), split by what they depend on: a node
/// that does not read the reduction index is computed once per output row (the CPU row kernel's
/// `prepare`, before the GPU's tile loop), the others once per pair.
pub(crate) struct Schedule {
    live: Vec<bool>,
    per_row: Vec<bool>,
}

impl Schedule {
    /// The schedule of `f`'s nodes.
    pub(crate) fn new(f: &Formula) -> Schedule {
        let inner = f.reduction.inner().dep();
        Schedule {
            live: f.live(),
            per_row: f.nodes.iter().map(|n| n.deps & inner == 0).collect(),
        }
    }

    /// Whether node `i` does not depend on the reduction index (live or not).
    pub(crate) fn is_per_row(&self, i: NodeId) -> bool {
        self.per_row[i]
    }

    /// The live nodes computed once per output row, in order.
    pub(crate) fn row_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.live.len()).filter(|&i| self.live[i] && self.per_row[i])
    }

    /// The live nodes computed per pair, in order.
    pub(crate) fn pair_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.live.len()).filter(|&i| self.live[i] && !self.per_row[i])
    }
}
