//! Expressions: literals, operators and names; calls are [`call`](super::call)'s. The syntax a
//! formula does not have (methods, `if`, indexing, paths) gets a message that says what to write
//! instead.

use quote::ToTokens;
use syn::{BinOp, Expr, Lit, UnOp};

use super::{Builder, RShape};
use crate::op::{self, Const, Op};
use crate::parse::{int_arg, strip};

impl Builder<'_> {
    /// The node of expression `e`; `None` after an error (reported here or below).
    pub(super) fn lower(&mut self, e: &Expr) -> Option<usize> {
        match e {
            Expr::Paren(p) => self.lower(&p.expr),
            Expr::Group(g) => self.lower(&g.expr),
            Expr::Lit(l) => self.literal(l),
            Expr::Unary(u) => self.unary(u),
            Expr::Binary(bin) => self.binary(bin, e),
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().expect("checked").clone();
                self.leaf(&ident)
            }
            Expr::Path(p) => {
                let last = p.path.segments.last().map(|s| s.ident.to_string());
                self.cx.error_at(
                    e,
                    format!(
                        "a parameter must be a plain local name: bind the value first, \
                         e.g. `let {} = ..;`, and use that name",
                        last.as_deref().unwrap_or("c").to_lowercase()
                    ),
                );
                None
            }
            Expr::Call(c) => self.call(c),
            Expr::MethodCall(m) => {
                self.method_call(m, e);
                None
            }
            Expr::If(_) => {
                self.cx.error_at(
                    e,
                    "`if` is not supported in a formula: use `ifelse(c, a, b)` (a where c >= 0, else b)",
                );
                None
            }
            Expr::Index(ix) => {
                let fix = match (strip(&ix.expr), int_arg(&ix.index)) {
                    (Expr::Path(p), Some(k)) => {
                        format!("write `elem({}, {k})`", p.to_token_stream())
                    }
                    _ => "use `elem(f, k)` with an integer literal k".to_string(),
                };
                self.cx
                    .error_at(e, format!("indexing is not supported in a formula: {fix}"));
                None
            }
            _ => {
                self.cx.error_at(
                    e,
                    "unsupported syntax in a formula: use numbers, variables (`x_i`, `y_j`), \
                     parameters, `+ - * /`, parentheses and function calls such as `exp(..)`",
                );
                None
            }
        }
    }

    /// A number: a scalar constant.
    fn literal(&mut self, l: &syn::ExprLit) -> Option<usize> {
        let v = match &l.lit {
            Lit::Int(i) => i.base10_parse::<f64>(),
            Lit::Float(f) => f.base10_parse::<f64>(),
            _ => {
                self.cx
                    .error_at(l, "only number literals can appear in a formula");
                return None;
            }
        };
        match v {
            // `1e400` parses to infinity, which the generated code cannot spell.
            Ok(v) if !v.is_finite() => {
                self.cx.error_at(
                    l,
                    "this number is beyond the range of f64 (it rounds to infinity); \
                     constants must be finite",
                );
                None
            }
            Ok(v) => Some(self.mk(Op::Const(Const(v)), vec![], RShape::Scalar)),
            Err(err) => {
                self.cx.push(err);
                None
            }
        }
    }

    /// `-f`; other unary operators are errors (their operand is still checked).
    fn unary(&mut self, u: &syn::ExprUnary) -> Option<usize> {
        match u.op {
            UnOp::Neg(_) => {
                let a = self.lower(&u.expr)?;
                let s = self.shape(a);
                Some(self.mk(Op::Neg, vec![a], s))
            }
            op => {
                let shown = op.to_token_stream().to_string();
                self.cx.error_at(
                    op,
                    format!(
                        "unsupported operator `{shown}`: a formula uses `+ - * /`, unary `-` and functions"
                    ),
                );
                self.lower(&u.expr);
                None
            }
        }
    }

    /// `f + g`, ..., and the comparisons; both operands are checked whatever the operator.
    fn binary(&mut self, bin: &syn::ExprBinary, e: &Expr) -> Option<usize> {
        let op = match bin.op {
            BinOp::Add(_) => Some(Op::Add),
            BinOp::Sub(_) => Some(Op::Sub),
            BinOp::Mul(_) => Some(Op::Mul),
            BinOp::Div(_) => Some(Op::Div),
            BinOp::Eq(_) => Some(Op::Equal),
            BinOp::Ne(_) => Some(Op::NotEqual),
            BinOp::Lt(_) => Some(Op::LessThan),
            BinOp::Le(_) => Some(Op::LessOrEqual),
            BinOp::Gt(_) => Some(Op::GreaterThan),
            BinOp::Ge(_) => Some(Op::GreaterOrEqual),
            _ => None,
        };
        let l = self.lower(&bin.left);
        let r = self.lower(&bin.right);
        let Some(op) = op else {
            let shown = bin.op.to_token_stream().to_string();
            let hint = match bin.op {
                BinOp::BitXor(_) => "; for a power use `pow(f, n)` (integer n) or `powf(f, g)`",
                BinOp::Rem(_) => "; for a remainder use `modulo(f, m)`",
                BinOp::And(_) | BinOp::Or(_) => {
                    "; comparisons are 0 or 1: for `a && b` write `(a) * (b)`"
                }
                _ => "",
            };
            self.cx.error_at(
                bin.op,
                format!(
                    "unsupported operator `{shown}`: a formula uses `+ - * /`, \
                     comparisons `== != < <= > >=` and functions{hint}"
                ),
            );
            return None;
        };
        let (l, r) = (l?, r?);
        self.apply(op, vec![l, r], &[&bin.left, &bin.right], None, e)
    }

    /// `f.exp()`: an error that says how to call the function.
    fn method_call(&mut self, m: &syn::ExprMethodCall, e: &Expr) {
        let name = m.method.to_string();
        let simple = |e: &Expr| matches!(strip(e), Expr::Path(_) | Expr::Lit(_));
        let fix = if op::lookup(&name).is_none() {
            "call functions by name, e.g. `exp(f)`".to_string()
        } else if simple(&m.receiver) && m.args.iter().all(simple) {
            let mut args = vec![m.receiver.to_token_stream().to_string()];
            args.extend(m.args.iter().map(|a| a.to_token_stream().to_string()));
            format!("write `{name}({})`", args.join(", "))
        } else if m.args.is_empty() {
            format!("write `{name}(f)` instead of `f.{name}()`")
        } else {
            format!("write `{name}(f, ..)` instead of `f.{name}(..)`")
        };
        self.cx.error_at(
            e,
            format!("method calls are not supported in a formula: {fix}"),
        );
    }
}
