//! Lowering of KeOps' tensor algebra — `matvec(A, x)`, `vecmat(x, A)`, `tensorprod(f, g)`,
//! `kron(f, g, [dims f], [dims g])`, `tensordot(f, g, [dims f], [dims g], [axes f], [axes g])`,
//! all one [`Op::TensorDot`] node over a [`TensorSpec`] — and of the weighted squared norms
//! `weightedsqnorm(s, f)` and `weightedsqdist(s, f, g)`, which become compositions of other
//! operations (KeOps' WeightedSqNorm: isotropic, diagonal or full by the dimension of `s`).
//!
//! A contraction needs the dimensions of its operands at compile time: `kron` and `tensordot` give
//! them (an operand whose dimension is only known at run time gets it, a fixed one must match);
//! `matvec`, `vecmat` and `tensorprod` read them from annotations or from operations of fixed
//! dimension, and say which operand to annotate when they are not known where the call appears.
//! The result has a fixed dimension (a scalar when it is 1).

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::Expr;

use super::{Builder, RShape};
use crate::op::Op;
use crate::parse::{int_arg, strip};
use crate::tensor::TensorSpec;

/// How `weightedsqnorm(s, f)` weighs `f`.
enum Weighting {
    /// `s * sqnorm(f)`, s a scalar.
    Iso,
    /// `sum_k s_k f_k^2`, s of f's dimension.
    Diagonal,
    /// `sum_kl s[k*D + l] f_k f_l`, s of dimension D*D.
    Full(usize),
}

impl Builder<'_> {
    /// The node `tensordot(a, b; spec)`; the operands' dimensions must already agree with
    /// `spec` (`a_dim()`, `b_dim()`). Its shape: a new class fixed at `out_dim()` (labelled
    /// `label`, the call's text, in messages), or a scalar for dimension 1.
    pub(super) fn tensor_node(
        &mut self,
        spec: TensorSpec,
        a: usize,
        b: usize,
        label: String,
        span: Span,
    ) -> usize {
        let n = spec.out_dim();
        let op = Op::TensorDot(self.tensor(spec));
        // An equal node exists: reuse it without making a class for nothing.
        if let Some(id) = (self.nodes.iter()).position(|nd| nd.op == op && nd.args == [a, b]) {
            return id;
        }
        let shape = if n == 1 {
            RShape::Scalar
        } else {
            RShape::Vec(self.dims.call_class(n, span, label))
        };
        self.mk(op, vec![a, b], shape)
    }

    /// The dimension of node `id` if known now (a scalar's is 1).
    fn known_dim(&mut self, id: usize) -> Option<usize> {
        let s = self.shape(id);
        self.dims.resolved_dim(s)
    }

    /// Requires node `id` (operand `k`, expression `e`, of the call `at` to `func`) to have
    /// dimension `n`, "`why`" saying where `n` comes from: a run-time class gets it, a fixed one
    /// or a scalar must have it (else an error at `e`).
    #[allow(clippy::too_many_arguments)]
    fn require_dim(
        &mut self,
        id: usize,
        n: usize,
        e: &Expr,
        k: usize,
        func: &syn::Ident,
        at: &syn::ExprCall,
        why: &str,
    ) -> bool {
        let what = Self::operand_name(e, k, Some(func));
        match self.shape(id) {
            RShape::Scalar if n == 1 => true,
            RShape::Scalar => {
                self.cx.error_at(
                    e,
                    format!("dimension mismatch: {what} is a scalar, but {why} make {n}"),
                );
                false
            }
            RShape::Vec(c) if self.dims.require(c, n, at) => true,
            RShape::Vec(c) => {
                let d = self.dims.describe(c, &what);
                self.cx
                    .error_at(e, format!("dimension mismatch: {d}, but {why} make {n}"));
                false
            }
        }
    }

    /// A list of non-negative integer literals, `[2, 3]` (each with its expression, for spans);
    /// `None` after an error at `e`. `what` names the list in the message.
    fn int_list<'e>(&mut self, e: &'e Expr, what: &str) -> Option<Vec<(usize, &'e Expr)>> {
        let Expr::Array(arr) = strip(e) else {
            self.cx.error_at(
                e,
                format!("{what} must be a list of integer literals, e.g. `[2, 3]`"),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for el in &arr.elems {
            match int_arg(el) {
                Some(v) if v >= 0 => out.push((v as usize, el)),
                _ => {
                    self.cx.error_at(
                        el,
                        format!("{what} must be a list of non-negative integer literals"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A list of axis sizes (positive, their product at most `MAX_DIM`): the sizes and their
    /// product.
    fn dims_list(&mut self, e: &Expr, what: &str) -> Option<Vec<usize>> {
        let list = self.int_list(e, what)?;
        if list.is_empty() {
            self.cx.error_at(e, format!("{what} must not be empty"));
            return None;
        }
        let mut total: usize = 1;
        for &(v, el) in &list {
            if v == 0 {
                self.cx.error_at(
                    el,
                    format!("{what}: an axis has size 0, sizes must be positive"),
                );
                return None;
            }
            total = total.saturating_mul(v);
        }
        if total > crate::MAX_DIM {
            self.cx.error_at(
                e,
                format!(
                    "{what} make a tensor of {total} entries, but keops supports dimensions up to {}",
                    crate::MAX_DIM
                ),
            );
            return None;
        }
        Some(list.into_iter().map(|(v, _)| v).collect())
    }

    /// Checks that a contraction's result fits `MAX_DIM` (else an error at `at`).
    fn check_out_dim(&mut self, n: usize, name: &str, at: &syn::ExprCall) -> bool {
        if n > crate::MAX_DIM {
            self.cx.error_at(
                at,
                format!(
                    "the result of `{name}` has dimension {n}, but keops supports dimensions up to {}",
                    crate::MAX_DIM
                ),
            );
            return false;
        }
        true
    }

    /// `matvec`, `vecmat`, `tensorprod`, `kron`, `tensordot` (arity already checked).
    pub(super) fn tensor_call(
        &mut self,
        name: &str,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let a = self.lower(args[0]);
        let b = self.lower(args[1]);
        let label = c.to_token_stream().to_string();
        if let "matvec" | "vecmat" | "tensorprod" = name {
            let (a, b) = (a?, b?);
            let spec = self.product_spec(name, a, b, args, fname, c)?;
            return Some(self.tensor_node(spec, a, b, label, c.span()));
        }
        let spec = self.tensordot_spec(name, args, c)?;
        if !self.check_out_dim(spec.out_dim(), name, c) {
            return None;
        }
        let (a, b) = (a?, b?);
        let dims = |v: &[usize]| {
            let s: Vec<String> = v.iter().map(|d| d.to_string()).collect();
            format!("the dimensions [{}] of `{name}`", s.join(", "))
        };
        let (why_a, why_b) = (dims(&spec.a), dims(&spec.b));
        let ok_a = self.require_dim(a, spec.a_dim(), args[0], 0, fname, c, &why_a);
        let ok_b = self.require_dim(b, spec.b_dim(), args[1], 1, fname, c, &why_b);
        if !(ok_a && ok_b) {
            return None;
        }
        Some(self.tensor_node(spec, a, b, label, c.span()))
    }

    /// The contraction of `matvec(A, x)`, `vecmat(x, A)` or `tensorprod(f, g)` (`name`) of the
    /// nodes `a` and `b`, from their dimensions, which must be known here.
    fn product_spec(
        &mut self,
        name: &str,
        a: usize,
        b: usize,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<TensorSpec> {
        let (da, db) = (self.known_dim(a), self.known_dim(b));
        let form = match name {
            "matvec" => "matvec(A, x)",
            "vecmat" => "vecmat(x, A)",
            _ => "tensorprod(f, g)",
        };
        let (Some(da), Some(db)) = (da, db) else {
            self.unknown_dims_error(name, form, [da, db], args, fname, c);
            return None;
        };
        if name == "tensorprod" {
            if !self.check_out_dim(da * db, name, c) {
                return None;
            }
            return Some(TensorSpec::tensorprod(da, db));
        }
        // (matrix dimension, vector dimension)
        let (dm, dv) = if name == "matvec" { (da, db) } else { (db, da) };
        if dm % dv != 0 {
            let (m, v) = if name == "matvec" { (0, 1) } else { (1, 0) };
            let shape = if name == "matvec" {
                "m x n row-major, x of dimension n"
            } else {
                "m x n row-major, x of dimension m"
            };
            self.cx.error_at(
                c,
                format!(
                    "dimension mismatch in `{form}`: A ({}) has dimension {dm}, \
                     which is not a multiple of the dimension {dv} of x ({}); \
                     A is a matrix {shape}",
                    Self::operand_name(args[m], m, Some(fname)),
                    Self::operand_name(args[v], v, Some(fname)),
                ),
            );
            return None;
        }
        Some(if name == "matvec" {
            TensorSpec::matvec(dm / dv, dv)
        } else {
            TensorSpec::vecmat(dv, dm / dv)
        })
    }

    /// The operands of `form` whose dimensions (`dims`, `None` when unknown) are only known at
    /// run time: an error saying what to annotate.
    fn unknown_dims_error(
        &mut self,
        name: &str,
        form: &str,
        dims: [Option<usize>; 2],
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) {
        let roles = match name {
            "matvec" => ["A", "x"],
            "vecmat" => ["x", "A"],
            _ => ["f", "g"],
        };
        let unknown: Vec<usize> = (0..2).filter(|&k| dims[k].is_none()).collect();
        let what: Vec<String> = (unknown.iter())
            .map(|&k| {
                let n = Self::operand_name(args[k], k, Some(fname));
                format!("{} ({n})", roles[k])
            })
            .collect();
        // Plain names are annotated as they are; others by their variables.
        let names: Vec<String> = (unknown.iter())
            .filter_map(|&k| match strip(args[k]) {
                Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
                _ => None,
            })
            .collect();
        let fix = if names.len() == unknown.len() {
            let ex: Vec<String> = names.iter().map(|n| format!("{n}: N")).collect();
            format!(
                "annotate {} with {} (`{}` before `=>`)",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                if names.len() == 1 {
                    "its dimension"
                } else {
                    "their dimensions"
                },
                ex.join(", ")
            )
        } else {
            "annotate the dimensions of the variables and parameters it uses                          (`x_i: N` before `=>`)"
                .to_string()
        };
        let (dims, are) = if unknown.len() == 1 {
            ("dimension", "is")
        } else {
            ("dimensions", "are")
        };
        self.cx.error_at(
            c,
            format!(
                "`{form}` needs the dimensions of its operands at compile time, but the \
                 {dims} of {} {are} only known at run time: {fix}",
                what.join(" and ")
            ),
        );
    }

    /// The contraction `kron(f, g, [dims f], [dims g])` or `tensordot(f, g, [dims f], [dims g],
    /// [axes f], [axes g])` (`name`) describes, every list checked.
    fn tensordot_spec(
        &mut self,
        name: &str,
        args: &[&Expr],
        c: &syn::ExprCall,
    ) -> Option<TensorSpec> {
        let is_kron = name == "kron";
        let fa = self.dims_list(args[2], &format!("the dimensions of f in `{name}`"));
        let fb = self.dims_list(args[3], &format!("the dimensions of g in `{name}`"));
        let (ca, cb) = if is_kron {
            (Some(vec![]), Some(vec![]))
        } else {
            let what = |t: &str| format!("the contracted axes of {t} in `{name}`");
            (
                self.int_list(args[4], &what("f")),
                self.int_list(args[5], &what("g")),
            )
        };
        let (fa, fb, ca, cb) = (fa?, fb?, ca?, cb?);
        let spec = if is_kron {
            if fa.len() != fb.len() {
                self.cx.error_at(
                    c,
                    format!(
                        "`kron(f, g, dims f, dims g)` needs tensors with the same number of axes, \
                         but f has {} and g has {}",
                        fa.len(),
                        fb.len()
                    ),
                );
                return None;
            }
            TensorSpec::kron(fa, fb)
        } else {
            let cont = self.contracted_pairs(&fa, &fb, &ca, &cb, c)?;
            TensorSpec::new(fa, fb, cont)
        };
        if let Err(e) = spec.validate() {
            self.cx.error_at(c, format!("invalid `{name}`: {e}"));
            return None;
        }
        Some(spec)
    }

    /// The pairs of axes `tensordot` contracts (`ca[k]` of f with `cb[k]` of g, f and g of axis
    /// sizes `fa`, `fb`): each axis in range and listed once, with equal sizes in a pair.
    fn contracted_pairs(
        &mut self,
        fa: &[usize],
        fb: &[usize],
        ca: &[(usize, &Expr)],
        cb: &[(usize, &Expr)],
        c: &syn::ExprCall,
    ) -> Option<Vec<(usize, usize)>> {
        if ca.len() != cb.len() {
            self.cx.error_at(
                c,
                format!(
                    "`tensordot` contracts axes in pairs, but {} axes of f and {} of g are listed",
                    ca.len(),
                    cb.len()
                ),
            );
            return None;
        }
        let mut ok = true;
        for (t, list, dims) in [("f", ca, fa), ("g", cb, fb)] {
            for (i, &(ax, el)) in list.iter().enumerate() {
                if ax >= dims.len() {
                    self.cx.error_at(
                        el,
                        format!(
                            "axis {ax} of {t} is out of range: {t} has {} axes ({dims:?})",
                            dims.len()
                        ),
                    );
                    ok = false;
                } else if list[..i].iter().any(|&(p, _)| p == ax) {
                    self.cx
                        .error_at(el, format!("axis {ax} of {t} is contracted twice"));
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        for (&(x, ex), &(y, _)) in ca.iter().zip(cb) {
            if fa[x] != fb[y] {
                self.cx.error_at(
                    ex,
                    format!(
                        "contracted axes must have equal sizes, but axis {x} of f has size {} \
                         and axis {y} of g has size {}",
                        fa[x], fb[y]
                    ),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(ca.iter().zip(cb).map(|(&(x, _), &(y, _))| (x, y)).collect())
    }

    /// `weightedsqnorm(s, f)` and `weightedsqdist(s, f, g)` = `weightedsqnorm(s, f - g)`, lowered
    /// to `s * sqnorm(f)`, `dot(s, square(f))` or `dot(f, matvec(s, f))` by the dimension of `s`.
    pub(super) fn weighted_call(
        &mut self,
        args: &[&Expr],
        fname: &syn::Ident,
        c: &syn::ExprCall,
    ) -> Option<usize> {
        let lowered: Vec<Option<usize>> = args.iter().map(|a| self.lower(a)).collect();
        let ids: Vec<usize> = lowered.into_iter().collect::<Option<_>>()?;
        let s = ids[0];
        let (f, fdesc) = if args.len() == 3 {
            let d = self.apply(Op::Sub, vec![ids[1], ids[2]], &args[1..], Some(fname), c)?;
            (d, "f - g")
        } else {
            (ids[1], "f")
        };
        let name = fname.to_string();
        let (ss, fs) = (self.shape(s), self.shape(f));
        let (ds, df) = (self.dims.fixed_dim(ss), self.dims.fixed_dim(fs));
        let same_class = match (ss, fs) {
            (RShape::Vec(a), RShape::Vec(b)) => self.dims.find(a) == self.dims.find(b),
            _ => false,
        };
        let what_s = Self::operand_name(args[0], 0, Some(fname));
        let mode = match (ss, ds, df) {
            (RShape::Scalar, ..) | (_, Some(1), _) => Weighting::Iso,
            _ if same_class => Weighting::Diagonal,
            (_, Some(ds), Some(df)) => {
                if ds == df {
                    Weighting::Diagonal
                } else if ds == df * df {
                    Weighting::Full(df)
                } else {
                    self.cx.error_at(
                        c,
                        format!(
                            "dimension mismatch in `{name}`: {what_s} has dimension {ds} and {fdesc} \
                             has dimension {df}, but the weights s must have dimension 1 (isotropic), \
                             {df} (diagonal) or {df}*{df} = {} (a full symmetric matrix)",
                            df * df
                        ),
                    );
                    return None;
                }
            }
            (_, None, Some(1)) => {
                // A scalar f: s must be a scalar too.
                if !self.require_dim(
                    s,
                    1,
                    args[0],
                    0,
                    fname,
                    c,
                    &format!("a scalar {fdesc} and its weights"),
                ) {
                    return None;
                }
                Weighting::Iso
            }
            (_, None, _) => Weighting::Diagonal,
            (_, Some(ds), None) => {
                let r = (ds as f64).sqrt().round() as usize;
                if r * r == ds {
                    self.cx.error_at(
                        c,
                        format!(
                            "`{name}` with weights s of dimension {ds} is ambiguous while the \
                             dimension of {fdesc} is only known at run time: s weighs each entry \
                             (diagonal) if {fdesc} has dimension {ds}, or is a full {r} x {r} \
                             matrix if it has dimension {r}; annotate the dimension of the \
                             variables of {fdesc} (`x_i: {r}` before `=>`)"
                        ),
                    );
                    return None;
                }
                Weighting::Diagonal
            }
        };
        let no_func: &[&Expr] = &[args[0], args[args.len() - 1]];
        match mode {
            Weighting::Iso => {
                let n = self.mk(Op::SqNorm, vec![f], RShape::Scalar);
                self.apply(Op::Mul, vec![s, n], no_func, Some(fname), c)
            }
            Weighting::Diagonal => {
                let sq = self.mk(Op::Square, vec![f], fs);
                self.apply(Op::Dot, vec![s, sq], no_func, Some(fname), c)
            }
            Weighting::Full(d) => {
                let label = c.to_token_stream().to_string();
                let m = self.tensor_node(TensorSpec::matvec(d, d), s, f, label, c.span());
                self.apply(Op::Dot, vec![f, m], no_func, Some(fname), c)
            }
        }
    }
}
