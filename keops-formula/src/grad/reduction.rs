//! Gradients of reductions: `kernel!(grad(R, v, e))`, with `R` a reduction such as `sum_j(F)` or
//! `logsumexp_j(F)`, `v` one of its variables or parameters and `e` a new variable indexed like
//! R's output rows (the cotangent, of R's output dimension), is the reduction giving
//! `d<e, R>/dv`: rows indexed like `v` for a variable, one row for a parameter.
//!
//! Each case is written in the formula language itself, with `grad(F, v, e)` for the
//! differentiation, then lowered like any formula (for a reduction over j, outputs indexed by i):
//!
//! | R | forward values needed | integrand G (summed over j for `x_i` and parameters, over i for `y_j`) |
//! |---|---|---|
//! | `sum_j(F)` | — | `grad(F, v, e_i)` |
//! | `min_j(F)`, `max_j(F)` (and `min_argmin_j`...) | `A_i = argmin_j(F)` | `grad(F, v, e_i * (A_i == j))` |
//! | `kmin_j(F, K)` (and `kmin_argkmin_j`) | `A_i = argkmin_j(F, K)` | `grad(F, v, sum_q e_i[q] (A_i[q] == j))` |
//! | `logsumexp_j(F)` | `L_i = logsumexp_j(F)` | `grad(F, v, e_i * exp(F - L_i))` |
//! | `logsumexp_j(F, W)` | `L_i = logsumexp_j(F, W)` | `grad(exp(F - L_i) * W, v, e_i)` |
//! | `sumsoftmaxweight_j(F, V)` | `L_i = logsumexp_j(F)`, `S_i = sumsoftmaxweight_j(F, V)` | `grad(exp(F - L_i) * (V - S_i), v, e_i)` |
//!
//! The forward values are reductions of their own ("stages"), evaluated when the gradient's data
//! is bound and given to it as hidden variables; `j` is the row index as a value (exact in f32 up
//! to 2^24 rows, checked). The arg reductions (`argmin_j`...) give indices: no gradient.

use std::collections::HashSet;

use proc_macro2::Span;
use quote::format_ident;
use syn::{parse_quote, Expr, Ident, LitInt};

use crate::ctxt::Ctxt;
use crate::ir::{Formula, RedOp, Role, Shape};
use crate::parse::{call_name, int_arg, mentioned_names, reduction_kind, role_of, strip};
use crate::parse::{Decl, Input, Let};

/// `grad(R, v, e)` at the top of a `kernel!`, split into its parts.
pub(crate) struct GradOfReduction<'a> {
    /// The whole `grad(R, v, e)`.
    pub(crate) call: &'a syn::ExprCall,
    /// `R`, the reduction call.
    pub(crate) red: &'a syn::ExprCall,
    /// `R` alone as a formula (the user's annotations it uses and `let`s): checked first, and its
    /// output dimension sizes the cotangent.
    pub(crate) probe: Input,
}

/// A forward stage: the reduction whose output the gradient reads as the hidden variable `var`.
pub(crate) struct StagePlan {
    /// The forward reduction, as a formula of its own.
    pub(crate) input: Input,
    /// The name of the gradient's variable that holds its output.
    pub(crate) var: String,
    /// The stage gives indices (`argmin_j`...), read as reals.
    pub(crate) indices: bool,
}

/// The formulas that compute `grad(R, v, e)`.
pub(crate) struct Plan {
    /// The gradient: a sum over i or j of symbolic gradients of R's formula.
    pub(crate) backward: Input,
    /// The forward reductions it reads.
    pub(crate) stages: Vec<StagePlan>,
    /// `v` is a parameter: the gradient sums over both indices (one output row).
    pub(crate) total: bool,
}

/// Whether `input` is `grad(R, v, e)` with `R` a reduction.
pub(crate) fn split(input: &Input) -> Option<GradOfReduction<'_>> {
    let Expr::Call(call) = strip(&input.body) else {
        return None;
    };
    if call_name(call)? != "grad" || call.args.len() != 3 {
        return None;
    }
    let Expr::Call(red) = strip(&call.args[0]) else {
        return None;
    };
    reduction_kind(&call_name(red)?.to_string())?;
    let body = Expr::Call(red.clone());
    Some(GradOfReduction {
        call,
        red,
        probe: restrict(input, body),
    })
}

/// An input with `body`, the `let`s it needs and the annotations of the names they mention.
fn restrict(input: &Input, body: Expr) -> Input {
    let mut names = mentioned_names(&body);
    let mut lets: Vec<Let> = Vec::new();
    // Lets used by the body or by used lets, in their order (later ones may use earlier ones).
    loop {
        let before = names.len();
        for l in input.lets.iter().rev() {
            if names.contains(&l.name.to_string()) {
                names.extend(mentioned_names(&l.expr));
            }
        }
        if names.len() == before {
            break;
        }
    }
    for l in &input.lets {
        if names.contains(&l.name.to_string()) {
            lets.push(l.clone());
        }
    }
    let decls = (input.decls.iter())
        .filter(|d| names.contains(&d.name.to_string()))
        .cloned()
        .collect();
    Input { decls, lets, body }
}

fn ident_of(e: &Expr) -> Option<&Ident> {
    match strip(e) {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        _ => None,
    }
}

fn decl(name: &str, dim: usize) -> Decl {
    Decl {
        name: Ident::new(name, Span::call_site()),
        dim: LitInt::new(&dim.to_string(), Span::call_site()),
    }
}

/// The formulas of `grad(R, v, e)`, given `probe`, R lowered alone. Errors go to `cx`.
pub(crate) fn plan(
    input: &Input,
    g: &GradOfReduction,
    probe: &Formula,
    cx: &mut Ctxt,
) -> Option<Plan> {
    let red_name = call_name(g.red).expect("checked by split").to_string();
    let (inner, kind) = reduction_kind(&red_name).expect("checked by split");
    let (_, op, _, _) = RedOp::NAMES[kind];
    let outer = inner.other();
    let args = check_args(g, &red_name, outer, cx);
    let op = differentiable(op, g, &red_name, cx)?;
    let (v, e) = args?;
    let k = match op {
        Some(op) if op.k().is_some() => int_arg(&g.red.args[1]).map(|k| k as usize),
        _ => None,
    };
    let out_dim = output_dim(probe).map(|d| d * k.unwrap_or(1));
    let (integrand, stages) = integrand(g, op, inner, &v, &e, out_dim);
    let total = role_of(&v.to_string()).is_none();
    let sum_over = if role_of(&v.to_string()) == Some(inner) {
        outer
    } else {
        inner
    };
    let sum = format_ident!("sum_{}", sum_over.letter());
    let body: Expr = parse_quote!(#sum(#integrand));

    let mut backward = input.clone();
    backward.body = body;
    backward.lets.push(Let {
        name: parse_quote!(__keops_f),
        expr: g.red.args[0].clone(),
    });
    if let Some(w) = weight(g, op) {
        backward.lets.push(Let {
            name: parse_quote!(__keops_w),
            expr: w.clone(),
        });
    }
    let annotated = |b: &Input, n: &str| b.decls.iter().any(|d| d.name == n);
    if let Some(n) = out_dim {
        if !annotated(&backward, &e.to_string()) {
            backward.decls.push(decl(&e.to_string(), n));
        }
    }
    for st in &stages {
        if let Some(n) = st.dim {
            backward.decls.push(decl(&st.var.to_string(), n));
        }
    }
    let stages = stages
        .into_iter()
        .map(|st| StagePlan {
            input: restrict(input, st.body),
            var: st.var.to_string(),
            indices: st.indices,
        })
        .collect();
    Some(Plan {
        backward,
        stages,
        total,
    })
}

/// Checks `v` (a variable or parameter of R) and `e` (a new variable indexed like R's output
/// rows, by `outer`): both names, or `None` after the errors.
fn check_args(
    g: &GradOfReduction,
    red_name: &str,
    outer: Role,
    cx: &mut Ctxt,
) -> Option<(Ident, Ident)> {
    let mut mentioned: HashSet<String> = mentioned_names(&Expr::Call(g.red.clone()));
    for l in &g.probe.lets {
        mentioned.extend(mentioned_names(&l.expr));
    }
    let v = ident_of(&g.call.args[1]);
    let e = ident_of(&g.call.args[2]);
    let mut ok = true;
    match v {
        None => {
            cx.error_at(
                &g.call.args[1],
                "the second argument of `grad` must be the name of a variable or parameter of the reduction",
            );
            ok = false;
        }
        Some(v) if !mentioned.contains(&v.to_string()) => {
            cx.error_at(
                v,
                format!("`{v}` does not appear in `{red_name}(..)`: its gradient would be zero"),
            );
            ok = false;
        }
        Some(v) if g.probe.lets.iter().any(|l| l.name == *v) => {
            cx.error_at(
                v,
                format!(
                    "`{v}` is a `let` name: differentiate with respect to a variable or parameter"
                ),
            );
            ok = false;
        }
        _ => {}
    }
    let e_ok =
        |e: &Ident| role_of(&e.to_string()) == Some(outer) && !mentioned.contains(&e.to_string());
    match e {
        Some(e) if e_ok(e) => {}
        _ => {
            let ol = outer.letter();
            cx.error_at(
                &g.call.args[2],
                format!(
                    "the third argument of `grad({red_name}(..), v, e)` must name a new variable \
                     indexed by {ol} (a name ending in `_{ol}`): the cotangent, with one row per \
                     output row of the reduction and its dimension"
                ),
            );
            ok = false;
        }
    }
    ok.then(|| (v.expect("checked").clone(), e.expect("checked").clone()))
}

/// The reduction `op` of [`RedOp::NAMES`] (`None`: the sum), with `logsumexp_j(F, W)`'s weight;
/// an error (`None`) for the arg reductions, which give indices.
fn differentiable(
    op: Option<RedOp>,
    g: &GradOfReduction,
    red_name: &str,
    cx: &mut Ctxt,
) -> Option<Option<RedOp>> {
    Some(match op {
        Some(op) if !op.has_values() => {
            cx.error_at(
                g.red,
                format!(
                    "`{red_name}` gives indices, which are piecewise constant: it has no gradient \
                     (differentiate `{}` instead)",
                    red_name.replacen("arg", "", 1)
                ),
            );
            return None;
        }
        Some(RedOp::LogSumExp) if g.red.args.len() == 2 => Some(RedOp::LogSumExpWeight),
        op => op,
    })
}

/// The dimension of R's output rows (per K for the k-min family) when known at compile time.
fn output_dim(probe: &Formula) -> Option<usize> {
    let entry = match probe.reduction.op() {
        Some(o) if o.is_shifted_exp() => probe.weight.unwrap_or(probe.root),
        _ => probe.root,
    };
    match probe.nodes[entry].shape {
        Shape::Scalar => Some(1),
        Shape::Vector(c) => probe.classes[c].fixed,
    }
}

/// R's second formula where the gradient reads it: W of `logsumexp_j(F, W)`, V of
/// `sumsoftmaxweight_j(F, V)`.
fn weight<'a>(g: &GradOfReduction<'a>, op: Option<RedOp>) -> Option<&'a Expr> {
    g.red.args.get(1).filter(|_| {
        matches!(
            op,
            Some(RedOp::LogSumExpWeight) | Some(RedOp::SumSoftMaxWeight)
        )
    })
}

/// A forward stage being planned.
struct Draft {
    /// The forward reduction.
    body: Expr,
    /// The hidden variable that holds its output in the gradient.
    var: Ident,
    /// Its output is indices.
    indices: bool,
    /// Its output's dimension, if known.
    dim: Option<usize>,
}

/// The integrand G of the table in the module's documentation (its sum is the gradient), and the
/// forward stages it reads. `F` and `W` are the `let`s `__keops_f`, `__keops_w`.
fn integrand(
    g: &GradOfReduction,
    op: Option<RedOp>,
    inner: Role,
    v: &Ident,
    e: &Ident,
    out_dim: Option<usize>,
) -> (Expr, Vec<Draft>) {
    let f: &Expr = &g.red.args[0];
    let w = weight(g, op);
    let (il, ol) = (inner.letter(), inner.other().letter());
    let fwd = |s: usize| format_ident!("__keops_fwd{}_{}", s, ol);
    let index = format_ident!("__keops_index_{}", il);
    let red_call = |name: &str, args: Vec<Expr>| -> Expr {
        let n = format_ident!("{}_{}", name, il);
        parse_quote!(#n(#(#args),*))
    };
    let (fwd0, fwd1) = (fwd(0), fwd(1));
    let ff: Expr = parse_quote!(__keops_f);
    let ww: Expr = parse_quote!(__keops_w);
    let stage = |body: Expr, var: &Ident, indices: bool, dim: Option<usize>| Draft {
        body,
        var: var.clone(),
        indices,
        dim,
    };
    let mut stages: Vec<Draft> = Vec::new();
    let integrand: Expr = match op {
        None => parse_quote!(grad(#ff, #v, #e)),
        Some(o) if o.is_extremum() => {
            let arg = if o.is_max() { "argmax" } else { "argmin" };
            stages.push(stage(red_call(arg, vec![f.clone()]), &fwd0, true, out_dim));
            parse_quote!(grad(#ff, #v, #e * (#fwd0 == #index)))
        }
        Some(o) if o.k().is_some() => {
            let kk = &g.red.args[1];
            let body = red_call("argkmin", vec![f.clone(), kk.clone()]);
            stages.push(stage(body, &fwd0, true, out_dim));
            parse_quote!(grad(#ff, #v, __keops_kmask(#e, #fwd0, #index, #kk, #ff)))
        }
        Some(RedOp::LogSumExp) => {
            let body = red_call("logsumexp", vec![f.clone()]);
            stages.push(stage(body, &fwd0, false, Some(1)));
            parse_quote!(grad(#ff, #v, #e * exp(#ff - #fwd0)))
        }
        Some(RedOp::LogSumExpWeight) => {
            let wv = w.expect("a weight").clone();
            let body = red_call("logsumexp", vec![f.clone(), wv]);
            stages.push(stage(body, &fwd0, false, out_dim));
            parse_quote!(grad(exp(#ff - #fwd0) * #ww, #v, #e))
        }
        Some(_) => {
            // sumsoftmaxweight
            let wv = w.expect("values").clone();
            let body = red_call("logsumexp", vec![f.clone()]);
            stages.push(stage(body, &fwd0, false, Some(1)));
            let body = red_call("sumsoftmaxweight", vec![f.clone(), wv]);
            stages.push(stage(body, &fwd1, false, out_dim));
            parse_quote!(grad(exp(#ff - #fwd0) * (#ww - #fwd1), #v, #e))
        }
    };
    (integrand, stages)
}
