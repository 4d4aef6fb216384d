//! Function calls: the name and argument count resolved against [`op::FUNCTIONS`], then lowered
//! by family. Most functions are plain (their arguments are formulas, their shape is
//! [`Op::typing`]'s); the others take integer literals (`pow`, `elem`, `round`, `clampint`),
//! give their result's dimension (`onehot`, `extract`, `extract_t`, `elem_t`, `zero`), or are
//! compositions ([`tensor_ops`](super::tensor_ops)). `grad(F, v, e)` differentiates
//! ([`crate::grad::symbolic`]).

use quote::ToTokens;
use syn::Expr;

use super::{Builder, RShape};
use crate::op::{self, Const, Op, Start};
use crate::parse::{call_name, int_arg, reduction_role, strip};

impl Builder<'_> {
    /// The node of the call `c`; `None` after an error.
    pub(super) fn call(&mut self, c: &syn::ExprCall) -> Option<usize> {
        let Some(fname) = call_name(c) else {
            self.call_by_path(c);
            return None;
        };
        let name = fname.to_string();
        if name == "grad" {
            return self.grad_call(c);
        }
        if name == "__keops_kmask" {
            return self.kmask_call(c);
        }
        if let Some(role) = reduction_role(&name) {
            self.cx.error_at(
                c,
                format!(
                    "a reduction cannot be nested inside a formula: `{name}(..)` must be the whole formula"
                ),
            );
            self.red_stack.push(role);
            self.lower_for_errors(&c.args);
            self.red_stack.pop();
            return None;
        }
        if let Some(node) = self.shape_hook(&name, c) {
            return node;
        }
        let def = self.function(&name, fname, c)?;
        let args: Vec<&Expr> = c.args.iter().collect();
        self.function_call(def.op, &name, &args, fname, c)
    }

    /// Lowers `args` only for the errors they hold (their call failed).
    pub(super) fn lower_for_errors<'e>(&mut self, args: impl IntoIterator<Item = &'e Expr>) {
        for a in args {
            self.lower(a);
        }
    }

    /// `f::exp(..)`, `(g)(..)`: functions are called by their plain name.
    fn call_by_path(&mut self, c: &syn::ExprCall) {
        let known = match &*c.func {
            Expr::Path(p) => p
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .filter(|n| op::lookup(n).is_some()),
            _ => None,
        };
        let msg = match known {
            Some(n) => format!("a formula calls functions by their plain name: write `{n}(..)`"),
            None => "a formula calls functions by their plain name, e.g. `exp(..)`".to_string(),
        };
        self.cx.error_at(&c.func, msg);
        self.lower_for_errors(&c.args);
    }

    /// The function `name` with the call's number of arguments; an unknown name or a wrong
    /// number of arguments is reported (the arguments lowered for their own errors).
    fn function(
        &mut self,
        name: &str,
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<&'static op::FnDef> {
        if op::lookup(name).is_none() {
            let hint = op::suggest(name)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            self.cx
                .error_at(fname, format!("unknown function `{name}`{hint}"));
            self.lower_for_errors(&c.args);
            return None;
        }
        if let Some(def) = op::lookup_arity(name, c.args.len()) {
            return Some(def);
        }
        // Each form the name has (`min(f)`, `min(f, g)`), with what it computes when there are
        // several.
        let mut forms: Vec<&op::FnDef> = op::overloads(name).collect();
        forms.sort_by_key(|def| def.arity);
        let takes: Vec<String> = forms
            .iter()
            .map(|def| {
                let plural = if def.max_arity == 1 { "" } else { "s" };
                let n = if def.max_arity == def.arity {
                    def.arity.to_string()
                } else {
                    format!("{} or {}", def.arity, def.max_arity)
                };
                match def.op.form().filter(|_| forms.len() > 1) {
                    Some(form) => format!("{n} argument{plural} ({form})"),
                    None => format!("{n} argument{plural}"),
                }
            })
            .collect();
        self.cx.error_at(
            c,
            format!(
                "`{name}` takes {}, but {} {} given",
                takes.join(" or "),
                c.args.len(),
                if c.args.len() == 1 { "was" } else { "were" }
            ),
        );
        self.lower_for_errors(&c.args);
        None
    }

    /// The call `c` of function `name` (operation `op` of its [`op::FnDef`], arity checked), by
    /// family. Every operation is listed: a new one must say how its calls are lowered.
    fn function_call(
        &mut self,
        op: Op,
        name: &str,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        use Op::*;
        match op {
            TensorDot(_) => self.tensor_call(name, args, fname, c),
            SqNorm | SqDist if name.starts_with("weighted") => self.weighted_call(args, fname, c),
            Pow(_) => self.pow_call(args, fname, c),
            Elem(_) => self.elem_call(args, fname, c),
            Round(_) => self.round_call(args, fname, c),
            ClampInt(..) => self.clampint_call(args, fname, c),
            Mod if args.len() == 2 => self.modulo_call(args, fname, c),
            OneHot => self.onehot_call(args, fname, c),
            Extract(_) => self.extract_call(args, c),
            ExtractT(_) if name == "elem_t" => self.elem_t_call(args, fname, c),
            ExtractT(_) => self.extract_t_call(args, c),
            Broadcast => self.zero_call(args, c),
            // Arguments that are formulas, the shape from `Op::typing`.
            Exp | Log | Sqrt | Rsqrt | Inv | Square | Abs | Sign | Step | Relu | Sin | Cos
            | Powf | Min | Max | Clamp | IfElse | SqNorm | Norm | Dot | Sum | SqDist
            | Normalize | Concat | XLogX | Asin | Acos | Atan | Atan2 | SinXDivX | Floor | Mod
            | Equal | NotEqual | LessThan | LessOrEqual | VecMin | VecMax | VecArgMin
            | VecArgMax => {
                let lowered: Vec<Option<usize>> = args.iter().map(|a| self.lower(a)).collect();
                let ids: Option<Vec<usize>> = lowered.into_iter().collect();
                self.apply(op, ids?, args, Some(fname), c)
            }
            // Leaves, operators and the compiler's internal operations: no function calls them.
            Var(_) | Param(_) | Const(_) | Index(_) | KMask(_) | Neg | Add | Sub | Mul | Div
            | GreaterThan | GreaterOrEqual => {
                unreachable!("`{name}`: no function row has operation {op:?}")
            }
        }
    }

    /// `pow(f, n)`: n an integer literal (an `i32`).
    fn pow_call(&mut self, args: &[&Expr], fname: &syn::Ident, c: &syn::ExprCall) -> Option<usize> {
        let a = self.lower(args[0]);
        let n = match int_arg(args[1]) {
            Some(n) if i32::try_from(n).is_ok() => n as i32,
            Some(_) => {
                self.cx.error_at(
                    args[1],
                    "the exponent of `pow` is out of range (it must fit in an `i32`)",
                );
                return None;
            }
            None => {
                self.cx.error_at(
                    args[1],
                    "the exponent of `pow` must be an integer literal; use `powf(f, g)` for a real exponent",
                );
                return None;
            }
        };
        self.apply(Op::Pow(n), vec![a?], &args[..1], Some(fname), c)
    }

    /// `elem(f, k)`: k a non-negative integer literal (its bound checked by the typing).
    fn elem_call(
        &mut self,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let a = self.lower(args[0]);
        let k = match int_arg(args[1]) {
            Some(k) if k >= 0 => k as usize,
            _ => {
                self.cx.error_at(
                    args[1],
                    "the index of `elem` must be a non-negative integer literal",
                );
                return None;
            }
        };
        self.apply(Op::Elem(k), vec![a?], &args[..1], Some(fname), c)
    }

    /// `round(f, d)`: d decimals, in [`op::ROUND_DECIMALS`].
    fn round_call(
        &mut self,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let a = self.lower(args[0]);
        let r = op::ROUND_DECIMALS;
        let range = (i64::from(*r.start()), i64::from(*r.end()));
        let d = self.int_in(args[1], "the number of decimals of `round`", range, "")?;
        self.apply(Op::Round(d), vec![a?], &args[..1], Some(fname), c)
    }

    /// `clampint(f, lo, hi)`: both bounds `i32` literals (both checked).
    fn clampint_call(
        &mut self,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let a = self.lower(args[0]);
        let range = (i64::from(i32::MIN), i64::from(i32::MAX));
        let (what, hint) = (
            "a bound of `clampint`",
            "; use `clamp(f, a, b)` for other bounds",
        );
        let lo = self.int_in(args[1], what, range, hint);
        let hi = self.int_in(args[2], what, range, hint);
        let op = Op::ClampInt(lo?, hi?);
        self.apply(op, vec![a?], &args[..1], Some(fname), c)
    }

    /// `modulo(f, m)`: the offset is 0.
    fn modulo_call(
        &mut self,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let lowered: Vec<Option<usize>> = args.iter().map(|a| self.lower(a)).collect();
        let mut ids: Vec<usize> = lowered.into_iter().collect::<Option<_>>()?;
        ids.push(self.mk(Op::Const(Const(0.0)), vec![], RShape::Scalar));
        self.apply(Op::Mod, ids, args, Some(fname), c)
    }

    /// KeOps' OneHot(f, D): f scalar, D a dimension.
    fn onehot_call(
        &mut self,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let a = self.lower(args[0]);
        let d = self.dim_arg(args[1], "the dimension D of `onehot(f, D)`");
        let a = self.scalar_arg(a?, args[0], fname, "encodes one value as a vector")?;
        let d = d?;
        let shape = self.dims.given_shape(d, format!("onehot(.., {d})"), c);
        Some(self.mk(Op::OneHot, vec![a], shape))
    }

    /// KeOps' Extract(f, M, D): entries M..M+D of f (checked once f's dimension is known).
    fn extract_call(&mut self, args: &[&Expr], c: &syn::ExprCall) -> Option<usize> {
        let a = self.lower(args[0]);
        let m = self.index_arg(args[1], "the start M of `extract(f, M, D)`");
        let d = self.dim_arg(args[2], "the dimension D of `extract(f, M, D)`");
        let (a, m, d) = (a?, m?, d?);
        match self.shape(a) {
            RShape::Scalar if m + d > 1 => {
                self.cx.error_at(
                    c,
                    format!(
                        "extract(f, {m}, {d}) reads entries {m}..{} of f, but f is a scalar (its only entry is 0)",
                        m + d
                    ),
                );
                return None;
            }
            RShape::Scalar => {}
            RShape::Vec(cl) => self.dims.defer_extract(cl, m, d, c.to_token_stream()),
        }
        let shape = self
            .dims
            .given_shape(d, format!("extract(.., {m}, {d})"), c);
        Some(self.mk(Op::Extract(Start::At(m)), vec![a], shape))
    }

    /// KeOps' ElemT(f, N, M): the scalar f at index M of a vector of N zeros.
    fn elem_t_call(
        &mut self,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let a = self.lower(args[0]);
        let n = self.dim_arg(args[1], "the dimension N of `elem_t(f, N, M)`");
        let m = self.index_arg(args[2], "the index M of `elem_t(f, N, M)`");
        let a = self.scalar_arg(a?, args[0], fname, "places one value in a vector");
        let (a, n, m) = (a?, n?, m?);
        if m >= n {
            self.cx.error_at(
                args[2],
                format!(
                    "elem_t(f, {n}, {m}): index {m} is out of range for a vector of dimension {n} (indices start at 0)"
                ),
            );
            return None;
        }
        let shape = self.dims.given_shape(n, format!("elem_t(.., {n}, {m})"), c);
        Some(self.mk(Op::ExtractT(Start::At(m)), vec![a], shape))
    }

    /// KeOps' ExtractT(f, M, D): f at offset M of a vector of D zeros (checked once f's
    /// dimension is known).
    fn extract_t_call(&mut self, args: &[&Expr], c: &syn::ExprCall) -> Option<usize> {
        let a = self.lower(args[0]);
        let m = self.index_arg(args[1], "the start M of `extract_t(f, M, D)`");
        let d = self.dim_arg(args[2], "the dimension D of `extract_t(f, M, D)`");
        let (a, m, d) = (a?, m?, d?);
        let s = self.shape(a);
        self.dims.defer_placement(s, m, d, c.to_token_stream());
        let shape = self
            .dims
            .given_shape(d, format!("extract_t(.., {m}, {d})"), c);
        Some(self.mk(Op::ExtractT(Start::At(m)), vec![a], shape))
    }

    /// KeOps' Zero(N): the constant 0 in a vector of dimension N.
    fn zero_call(&mut self, args: &[&Expr], c: &syn::ExprCall) -> Option<usize> {
        let n = self.dim_arg(args[0], "the dimension N of `zero(N)`")?;
        let zero = self.mk(Op::Const(Const(0.0)), vec![], RShape::Scalar);
        if n == 1 {
            return Some(zero);
        }
        let shape = self.dims.given_shape(n, format!("zero({n})"), c);
        Some(self.mk(Op::Broadcast, vec![zero], shape))
    }

    /// Doc-hidden forms, not part of the formula language, that build the operations whose shape
    /// is the node's with the shape of their last argument (`like`, lowered for its shape only,
    /// e.g. a run-time dimension): `__onehot_like(f, like)`, `__broadcast_like(f, like)`,
    /// `__extract_like(f, M, like)`, `__extract_t_like(f, M, like)`, `__extract_tail(f, like)`
    /// (the last `dim(like)` entries of f), `__extract_t_tail(f, like)`. Nothing is checked (the
    /// compiler builds such nodes itself, for gradients): they let the tests run the emitters'
    /// code for these operations with run-time dimensions. `None` for other names.
    fn shape_hook(&mut self, name: &str, c: &syn::ExprCall) -> Option<Option<usize>> {
        // The operation, from `M` where the form has one.
        let (n, op): (usize, fn(usize) -> Op) = match name {
            "__onehot_like" => (2, |_| Op::OneHot),
            "__broadcast_like" => (2, |_| Op::Broadcast),
            "__extract_like" => (3, |m| Op::Extract(Start::At(m))),
            "__extract_t_like" => (3, |m| Op::ExtractT(Start::At(m))),
            "__extract_tail" => (2, |_| Op::Extract(Start::Tail)),
            "__extract_t_tail" => (2, |_| Op::ExtractT(Start::Tail)),
            _ => return None,
        };
        if c.args.len() != n {
            self.cx.error_at(c, format!("`{name}` takes {n} arguments"));
            return Some(None);
        }
        let a = self.lower(&c.args[0]);
        let like = self.lower(&c.args[n - 1]);
        // (A bad `M` gives up on the form: the name is then reported as unknown too.)
        let m = if n == 3 {
            self.index_arg(&c.args[1], "M")?
        } else {
            0
        };
        let (Some(a), Some(like)) = (a, like) else {
            return Some(None);
        };
        let shape = self.shape(like);
        Some(Some(self.mk(op(m), vec![a], shape)))
    }

    /// `grad(F, v, e)` in a formula: `d<e, F>/dv`, with `v` a variable or parameter and `e` of F's
    /// shape (or a scalar, standing for that value in every entry).
    fn grad_call(&mut self, c: &syn::ExprCall) -> Option<usize> {
        if c.args.len() != 3 {
            self.cx.error_at(
                c,
                format!(
                    "`grad` takes 3 arguments, but {} {} given: `grad(F, v, e)` is the gradient of \
                     <e, F> with respect to the variable or parameter v, e having F's dimension",
                    c.args.len(),
                    if c.args.len() == 1 { "was" } else { "were" }
                ),
            );
            self.lower_for_errors(&c.args);
            return None;
        }
        let args: Vec<&Expr> = c.args.iter().collect();
        let f = self.lower(args[0]);
        let v = match strip(args[1]) {
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let id = p.path.get_ident().expect("checked");
                let name = id.to_string();
                if self.is_let(&name) {
                    self.cx.error_at(
                        args[1],
                        format!(
                            "`{name}` is a `let` name: `grad` differentiates with respect to a \
                             variable (`x_i`) or a parameter"
                        ),
                    );
                    None
                } else {
                    self.leaf(id)
                }
            }
            _ => {
                self.cx.error_at(
                    args[1],
                    "the second argument of `grad` must be the name of a variable (`x_i`, `y_j`) \
                     or of a parameter",
                );
                None
            }
        };
        let e = self.lower(args[2]);
        let (f, v, e) = (f?, v?, e?);
        match (self.shape(f), self.shape(e)) {
            (RShape::Scalar, RShape::Vec(_)) => {
                self.cx.error_at(
                    args[2],
                    "the cotangent `e` of `grad(F, v, e)` has F's dimension, but F is a scalar \
                     and this is a vector: annotate it as a scalar (e.g. `e_i: 1`)",
                );
                return None;
            }
            (RShape::Vec(a), RShape::Vec(b)) => {
                let names = ("F (the first argument of `grad`)", "the cotangent");
                if !self.dims.unify(self.cx, a, b, args[2], names) {
                    return None;
                }
            }
            _ => {}
        }
        Some(self.vjp(f, v, e))
    }

    /// `__keops_kmask(e, a, j, K, F)` (internal, built for gradients of `kmin_j`): see
    /// [`Op::KMask`]; `F` gives the shape.
    fn kmask_call(&mut self, c: &syn::ExprCall) -> Option<usize> {
        let a: Vec<&Expr> = c.args.iter().collect();
        let e = self.lower(a[0])?;
        let idx = self.lower(a[1])?;
        let j = self.lower(a[2])?;
        let k = int_arg(a[3])? as usize;
        let f = self.lower(a[4])?;
        if let (RShape::Vec(x), RShape::Vec(y)) = (self.shape(e), self.shape(idx)) {
            self.merge(x, y);
        }
        let sf = self.shape(f);
        Some(self.mk(Op::KMask(k), vec![e, idx, j], sf))
    }
}
