//! The top of a formula: a reduction (`sum_j(F)`, `kmin_i(F, K)`, `logsumexp_j(F, W)`...) with
//! its arguments, or no reduction (a kernel matrix). Reductions are recognised only there; a
//! nested one is an error of [`call`](super::call).

use syn::Expr;

use super::{roles, Builder};
use crate::ir::{RedOp, Reduction, Role};
use crate::parse::{call_name, int_arg, reduction_kind};

/// What the formula reduces, and the expressions it reduces.
pub(super) struct Top<'e> {
    pub(super) reduction: Reduction,
    /// The formula `F` reduced (the whole body for a kernel matrix).
    pub(super) body: &'e Expr,
    /// The second formula of `logsumexp_j(F, W)` and `sumsoftmaxweight_j(F, V)`.
    pub(super) weight: Option<&'e Expr>,
}

/// Why a reduction's call is not one.
enum Misuse {
    /// The wrong number of arguments.
    Arity,
    /// K (of `kmin_j(F, K)`...) is not a positive integer literal.
    K,
}

impl Builder<'_> {
    /// The reduction at the top of `body`; `None` for a malformed reduction call (reported, its
    /// arguments lowered for their own errors).
    pub(super) fn top<'e>(&mut self, body: &'e Expr) -> Option<Top<'e>> {
        let Some((role, kind, call)) = top_reduction(body) else {
            return Some(Top {
                reduction: Reduction::Kernel,
                body,
                weight: None,
            });
        };
        let n = call.args.len();
        let red = match self.reduction_of(role, kind, call) {
            Ok(red) => red,
            Err(misuse) => {
                if let Misuse::Arity = misuse {
                    self.reduction_arity_error(role, kind, call);
                }
                // Independent errors inside the arguments are still worth reporting.
                self.red_stack.push(role);
                let lowered = if let Misuse::K = misuse { 1 } else { n };
                for a in call.args.iter().take(lowered) {
                    roles::find_nested(a, &mut self.nested);
                    self.lower(a);
                }
                return None;
            }
        };
        let weight = match red {
            Reduction::Other(op, _) if op.is_shifted_exp() && n == 2 => Some(&call.args[1]),
            _ => None,
        };
        Some(Top {
            reduction: red,
            body: &call.args[0],
            weight,
        })
    }

    /// The reduction `call` (row `kind` of [`RedOp::NAMES`], over `role`) computes.
    fn reduction_of(
        &mut self,
        role: Role,
        kind: usize,
        call: &syn::ExprCall,
    ) -> Result<Reduction, Misuse> {
        let (base, op, min, max) = RedOp::NAMES[kind];
        let n = call.args.len();
        Ok(match op {
            _ if n < min || n > max => return Err(Misuse::Arity),
            None if role == Role::J => Reduction::SumJ,
            None => Reduction::SumI,
            Some(op) if op.k().is_some() => match int_arg(&call.args[1]) {
                Some(k) if k >= 1 => Reduction::Other(op.with_k(k as usize), role),
                _ => {
                    // Reported; the formula is still lowered for its own errors.
                    let name = format!("{base}_{}", role.letter());
                    self.cx.error_at(
                        &call.args[1],
                        format!(
                            "K, the number of smallest values `{name}` keeps, must be a positive integer literal"
                        ),
                    );
                    return Err(Misuse::K);
                }
            },
            Some(RedOp::LogSumExp) if n == 2 => Reduction::Other(RedOp::LogSumExpWeight, role),
            Some(op) => Reduction::Other(op, role),
        })
    }

    /// "`kmin_j` takes 2 arguments (..), but 1 was given".
    fn reduction_arity_error(&mut self, role: Role, kind: usize, call: &syn::ExprCall) {
        let (base, op, min, max) = RedOp::NAMES[kind];
        let name = format!("{base}_{}", role.letter());
        let n = call.args.len();
        let what = match op {
            None => "the formula to sum",
            Some(op) if op.k().is_some() => "the formula and K, a positive integer literal",
            Some(RedOp::LogSumExp) => "the formula and, optionally, a weight",
            Some(RedOp::SumSoftMaxWeight) => {
                "the formula F and the values V averaged with weights exp(F)"
            }
            Some(_) => "the formula to reduce",
        };
        let takes = if min == max {
            format!("{min} argument{}", if min == 1 { "" } else { "s" })
        } else {
            format!("{min} or {max} arguments")
        };
        self.cx.error_at(
            call,
            format!(
                "`{name}` takes {takes} ({what}), but {n} {} given",
                if n == 1 { "was" } else { "were" }
            ),
        );
    }
}

/// The reduction `e` calls, if it is one: its index, row in [`RedOp::NAMES`] and call.
fn top_reduction(e: &Expr) -> Option<(Role, usize, &syn::ExprCall)> {
    if let Expr::Call(c) = e {
        let (role, kind) = reduction_kind(&call_name(c)?.to_string())?;
        return Some((role, kind, c));
    }
    None
}
