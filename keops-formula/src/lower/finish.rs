//! The end of lowering: dimensions resolved ([`Dims::finish`](super::dims::Dims::finish)), every
//! shape made final, the checks of the result's shape against the reduction, then the
//! [`Formula`].

use syn::Expr;

use super::Builder;
use crate::ir::{Formula, Node, Param, RedOp, Reduction, Shape, Var};

impl Builder<'_> {
    /// Resolves classes, checks what needs resolved dimensions, and builds the [`Formula`].
    pub(super) fn finish(
        mut self,
        root: usize,
        weight: Option<usize>,
        reduction: Reduction,
        body: &Expr,
    ) -> Option<Formula> {
        let table = std::mem::take(&mut self.dims).finish(self.cx);
        let nodes: Vec<Node> = (self.nodes.iter())
            .map(|n| Node {
                op: n.op,
                args: n.args.clone(),
                shape: table.shape(n.shape),
                deps: n.deps,
            })
            .collect();
        let vars: Vec<Var> = (self.vars.iter())
            .map(|(name, role, s)| Var {
                name: name.clone(),
                role: *role,
                shape: table.shape(*s),
            })
            .collect();
        let params: Vec<Param> = (self.params.iter())
            .map(|(ident, s, fixed_dim)| Param {
                ident: ident.clone(),
                shape: table.shape(*s),
                fixed_dim: *fixed_dim,
            })
            .collect();
        self.check_result_shape(nodes[root].shape, reduction, body);
        if self.cx.has_errors() {
            return None;
        }
        Some(Formula {
            nodes,
            root,
            weight,
            reduction,
            vars,
            params,
            classes: table.classes,
            elems: table.elems,
            slots: table.slots,
            tensors: std::mem::take(&mut self.tensors),
            stages: Vec::new(),
            total: false,
        })
    }

    /// A kernel matrix, and the F of the log-sum-exp family, must be scalars.
    fn check_result_shape(&mut self, shape: Shape, reduction: Reduction, body: &Expr) {
        if reduction == Reduction::Kernel && shape != Shape::Scalar {
            self.cx.error_at(
                body,
                "a formula without a reduction is a kernel matrix K_ij and must be scalar, \
                 but this one is a vector; reduce it (`sqnorm`, `sum`, `dot`), annotate \
                 scalar variables `x_i: 1`, or wrap it in `sum_j(..)`",
            );
        }
        if let Some(op) = reduction.op().filter(|op| op.is_shifted_exp()) {
            if shape != Shape::Scalar {
                let name = reduction.name().unwrap_or_default();
                let what = if op == RedOp::SumSoftMaxWeight {
                    "the values V may be a vector"
                } else {
                    "the weight may be a vector: `logsumexp_j(F, W)`"
                };
                self.cx.error_at(
                    body,
                    format!(
                        "`{name}` needs a scalar formula F (KeOps' {} reduces one value per pair), but \
                         this one is a vector: annotate scalar variables `x_i: 1`, or reduce it \
                         (`sqnorm`, `sum`, `dot`); {what}",
                        if op == RedOp::SumSoftMaxWeight {
                            "SumSoftMaxWeight"
                        } else {
                            "LogSumExp"
                        }
                    ),
                );
            }
        }
    }
}
