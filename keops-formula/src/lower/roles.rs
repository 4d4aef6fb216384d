//! Names and their roles: a name ending in `_i` or `_j` is a data variable indexed by i or j, any
//! other name a parameter (a scalar unless annotated), a `let` name its expression. The checks of
//! roles look at the syntax alone, so that they hold whatever else failed: annotations of names the
//! formula does not use, a variable outside the reduction over its index, a missing i or j
//! variable.

use std::collections::HashSet;

use syn::Expr;

use super::{Builder, RShape};
use crate::ctxt::Ctxt;
use crate::ir::{Reduction, Role};
use crate::op::Op;
use crate::parse::{call_name, reduction_role, role_of, Decl};

impl Builder<'_> {
    /// Reads the annotations `name: n`: each name once, `n` a dimension keops supports.
    pub(super) fn read_annotations(&mut self, decls: &[Decl]) {
        let mut annotated = HashSet::new();
        for d in decls {
            let name = d.name.to_string();
            if !annotated.insert(name.clone()) {
                self.cx
                    .error_at(&d.name, format!("`{name}` is annotated twice"));
                continue;
            }
            match d.dim.base10_parse::<usize>() {
                Ok(0) | Err(_) => self.cx.error_at(
                    &d.dim,
                    format!("the dimension of `{name}` must be a positive integer"),
                ),
                Ok(n) if n > crate::MAX_DIM => self.cx.error_at(
                    &d.dim,
                    format!(
                        "the dimension of `{name}` is {n}, but keops supports dimensions up to {}",
                        crate::MAX_DIM
                    ),
                ),
                Ok(n) => {
                    self.decls.insert(name, (n, d.name.span()));
                }
            }
        }
    }

    /// An annotation of a name that the formula (`mentioned`, its `let`s included) does not use
    /// is an error: most likely a typo.
    pub(super) fn check_annotations_used(&mut self, decls: &[Decl], mentioned: &HashSet<String>) {
        for d in decls {
            if !mentioned.contains(&d.name.to_string()) {
                self.cx.error_at(
                    &d.name,
                    format!(
                        "`{}` is annotated but does not appear in the formula",
                        d.name
                    ),
                );
            }
        }
    }

    /// The node a name stands for: a `let`, a variable or parameter (made on first use), or the
    /// row index itself (`__keops_index_i`, internal: gradients through arg indices).
    pub(super) fn leaf(&mut self, ident: &syn::Ident) -> Option<usize> {
        let name = ident.to_string();
        if let Some(l) = name.strip_prefix("__keops_index_") {
            let role = if l == "i" { Role::I } else { Role::J };
            return Some(self.mk(Op::Index(role), vec![], RShape::Scalar));
        }
        if let Some(&node) = self.lets.get(&name) {
            return node;
        }
        if self.pending_lets.contains(&name) {
            self.cx.error_at(
                ident,
                format!("`{name}` is used before its `let`: a `let` can only use earlier ones"),
            );
            return None;
        }
        if let Some(role) = role_of(&name) {
            if self.nested.contains(&role) && !self.red_stack.contains(&role) {
                // Reported, but the variable is still lowered: errors that do not involve its
                // index are independent and still found.
                let l = role.letter();
                self.cx.error_at(
                    ident,
                    format!(
                        "`{name}` is indexed by {l}, but it is outside `sum_{l}(..)`: \
                         the result of a sum over {l} no longer depends on {l}"
                    ),
                );
            }
        }
        if let Some(&node) = self.names.get(&name) {
            return Some(node);
        }
        Some(self.new_leaf(ident, name))
    }

    /// The first use of variable or parameter `name`.
    fn new_leaf(&mut self, ident: &syn::Ident, name: String) -> usize {
        let decl = self.decls.get(&name).copied();
        let role = role_of(&name);
        // A parameter is a scalar unless annotated (`c: 3`): a scalar broadcasts, so `s` in
        // `exp(-d / s) * b_j` stays one value instead of taking `b_j`'s dimension.
        let shape = match decl {
            Some((1, _)) => RShape::Scalar,
            None if role.is_none() => RShape::Scalar,
            _ => RShape::Vec(self.dims.new_class(decl, name.clone())),
        };
        let op = match role {
            Some(role) => {
                self.vars.push((name.clone(), role, shape));
                Op::Var(self.vars.len() - 1)
            }
            None => {
                self.params
                    .push((ident.clone(), shape, decl.map(|(n, _)| n)));
                Op::Param(self.params.len() - 1)
            }
        };
        let node = self.mk(op, vec![], shape);
        self.names.insert(name, node);
        node
    }
}

/// The indices of the reductions nested in `e` (each one is an error of its own; the variables
/// of those indices outside them are reported too).
pub(super) fn find_nested(e: &Expr, out: &mut HashSet<Role>) {
    use syn::visit::Visit;
    struct V<'a>(&'a mut HashSet<Role>);
    impl<'ast> Visit<'ast> for V<'_> {
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            if let Some(role) = call_name(c).and_then(|n| reduction_role(&n.to_string())) {
                self.0.insert(role);
            }
            syn::visit::visit_expr_call(self, c);
        }
    }
    V(out).visit_expr(e);
}

/// A formula needs variables of both indices: they give the number of output rows and of terms
/// (or the kernel matrix's shape). Checked on the names alone, so it holds whatever else failed.
pub(super) fn missing_roles(
    cx: &mut Ctxt,
    reduction: Reduction,
    mentioned: &HashSet<String>,
    body: &Expr,
) {
    let has = |r: Role| mentioned.iter().any(|n| role_of(n) == Some(r));
    let needs: [(Role, &str); 2] = match reduction {
        Reduction::Kernel => [
            (Role::I, "the kernel matrix's rows"),
            (Role::J, "the kernel matrix's columns"),
        ],
        Reduction::SumJ | Reduction::SumI => [
            (reduction.outer(), "the number of output rows"),
            (reduction.inner(), "the number of terms to sum"),
        ],
        r => [
            (r.outer(), "the number of output rows"),
            (r.inner(), "the rows to reduce over"),
        ],
    };
    for (r, why) in needs {
        if !has(r) {
            let l = r.letter();
            cx.error_at(
                body,
                format!(
                    "the formula needs at least one variable indexed by {l} (a name ending in `_{l}`) to know {why}"
                ),
            );
        }
    }
}
