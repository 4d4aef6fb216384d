//! Emits the Rust code of a formula: a parameter-capturing value with a builder that binds data by
//! variable name, a bound struct that checks dimensions once, and per run-time dimension a
//! monomorphised row kernel (`prepare` for what depends on the output row only, `eval` per pair)
//! that the runtime's tiled engine drives.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};

use crate::ir::*;
use crate::op::Op;

use keops_abi::cpu::{LANE_MAX_ARMS, LANE_MAX_DIM};

/// Path of the runtime support the generated code uses.
fn kr() -> TokenStream {
    quote!(::keops::__private)
}

fn node_ident(i: NodeId) -> Ident {
    format_ident!("n{}", i)
}

fn var_field(v: &Var) -> Ident {
    format_ident!("v_{}", v.name)
}

fn param_field(p: &Param) -> Ident {
    format_ident!("p_{}", p.ident)
}

/// Len value and capacity of vector class `k` inside an arm.
fn len_of(k: usize) -> Ident {
    format_ident!("l{}", k)
}

/// See [`Emitter::kernel_parts`].
struct KernelParts {
    prepare_lets: Vec<TokenStream>,
    eval_lets: Vec<TokenStream>,
    prepared: Vec<Ident>,
    prepared_tys: Vec<TokenStream>,
    ret: TokenStream,
    value_ty: TokenStream,
}

struct Emitter<'f> {
    f: &'f Formula,
    kr: TokenStream,
    /// Visibility of the generated items: `pub` for a gradient's forward stages, which live in
    /// a module of their own.
    vis: TokenStream,
    /// Emitting the lane version: values are `N: Num<Elem = T>` (a SIMD pack of `N::LANES` output
    /// rows), row-indexed data is gathered per lane and everything else is splat.
    lanes: bool,
}

/// Generated code for `f`: an expression whose value captures the formula's parameters.
pub fn emit(f: &Formula) -> TokenStream {
    let e = Emitter {
        f,
        kr: kr(),
        vis: quote!(),
        lanes: false,
    };
    let items = e.emit();
    let captures = e.captures();
    let fields: Vec<Ident> = f.params.iter().map(param_field).collect();
    if f.stages.is_empty() {
        return quote! {{
            #items
            __KeopsFormula { #(#fields: #captures,)* }
        }};
    }
    // A gradient: parameter values are captured once, then cloned into its forward stages, each
    // a formula of its own in a module.
    let locals: Vec<Ident> = f.params.iter().map(param_local).collect();
    let stage_mods: Vec<Ident> = (0..f.stages.len()).map(stage_module).collect();
    let stage_items = f.stages.iter().zip(&stage_mods).map(|(st, m)| {
        let items = Emitter {
            f: &st.formula,
            kr: kr(),
            vis: quote!(pub),
            lanes: false,
        }
        .emit();
        quote! {
            #[allow(non_snake_case, dead_code, clippy::all)]
            mod #m { #items }
        }
    });
    let stage_fields = (0..f.stages.len()).map(stage_field);
    let stage_ctors = f.stages.iter().zip(&stage_mods).map(|(st, m)| {
        let sf: Vec<Ident> = st.formula.params.iter().map(param_field).collect();
        let sl: Vec<Ident> = st.formula.params.iter().map(param_local).collect();
        quote!(#m::__KeopsFormula { #(#sf: #sl.clone(),)* })
    });
    quote! {{
        #(#stage_items)*
        #items
        #(let #locals = #captures;)*
        __KeopsFormula { #(#fields: #locals.clone(),)* #(#stage_fields: #stage_ctors,)* }
    }}
}

fn param_local(p: &Param) -> Ident {
    format_ident!("__keops_p_{}", p.ident)
}

/// The module holding a gradient's forward stage `s`.
fn stage_module(s: usize) -> Ident {
    format_ident!("__keops_stage{}", s)
}

/// The gradient formula's field holding stage `s` (its parameter values).
fn stage_field(s: usize) -> Ident {
    format_ident!("__stage{}", s)
}

impl Emitter<'_> {
    fn cap(&self, k: usize) -> TokenStream {
        match self.f.classes[k].fixed {
            Some(n) => {
                let n = Literal::usize_unsuffixed(n);
                quote!(#n)
            }
            None => {
                let c = format_ident!("C{}", k);
                quote!(#c)
            }
        }
    }

    /// The type of a scalar value: the real `T`, or the pack `N` of the lane version.
    fn nt(&self) -> TokenStream {
        if self.lanes {
            quote!(N)
        } else {
            quote!(T)
        }
    }

    fn ty(&self, s: Shape) -> TokenStream {
        let nt = self.nt();
        match s {
            Shape::Scalar => nt,
            Shape::Vector(k) => {
                let c = self.cap(k);
                quote!([#nt; #c])
            }
        }
    }

    /// The arithmetic of values (`<T as Num>` or `<N as Num>`).
    fn num(&self) -> TokenStream {
        let (kr, nt) = (&self.kr, self.nt());
        quote!(<#nt as #kr::Num>)
    }

    /// The constant `x` (an f64 literal) as a value: in every lane for the lane version.
    fn lit(&self, x: TokenStream) -> TokenStream {
        let kr = &self.kr;
        let t = quote!(<T as #kr::Real>::from_f64(#x));
        if self.lanes {
            quote!(<N as #kr::Num>::splat(#t))
        } else {
            t
        }
    }

    /// The operation on scalar expressions.
    fn scalar_op(&self, op: Op, a: &[TokenStream]) -> TokenStream {
        let r = self.num();
        match op {
            Op::Neg => quote!(-#(#a)*),
            Op::Add => {
                let (x, y) = (&a[0], &a[1]);
                quote!(#x + #y)
            }
            Op::Sub => {
                let (x, y) = (&a[0], &a[1]);
                quote!(#x - #y)
            }
            Op::Mul => {
                let (x, y) = (&a[0], &a[1]);
                quote!(#x * #y)
            }
            Op::Div => {
                let (x, y) = (&a[0], &a[1]);
                quote!(#x / #y)
            }
            Op::Exp => quote!(#r::exp(#(#a),*)),
            Op::Log => quote!(#r::ln(#(#a),*)),
            Op::Sqrt => quote!(#r::sqrt(#(#a),*)),
            Op::Rsqrt => quote!(#r::rsqrt(#(#a),*)),
            Op::Inv => quote!(#r::inv(#(#a),*)),
            Op::Square => quote!(#r::square(#(#a),*)),
            Op::Abs => quote!(#r::abs(#(#a),*)),
            Op::Sign => quote!(#r::sign(#(#a),*)),
            Op::Step => quote!(#r::step(#(#a),*)),
            Op::Relu => quote!(#r::relu(#(#a),*)),
            Op::Sin => quote!(#r::sin(#(#a),*)),
            Op::Cos => quote!(#r::cos(#(#a),*)),
            Op::Pow(n) => {
                let n = Literal::i32_unsuffixed(n);
                quote!(#r::powi(#(#a),*, #n))
            }
            Op::Powf => quote!(#r::powf(#(#a),*)),
            Op::Min => quote!(#r::fmin(#(#a),*)),
            Op::Max => quote!(#r::fmax(#(#a),*)),
            Op::Clamp => quote!(#r::clamp_to(#(#a),*)),
            Op::IfElse => quote!(#r::if_else(#(#a),*)),
            Op::XLogX => quote!(#r::xlogx(#(#a),*)),
            Op::Asin => quote!(#r::asin(#(#a),*)),
            Op::Acos => quote!(#r::acos(#(#a),*)),
            Op::Atan => quote!(#r::atan(#(#a),*)),
            Op::Atan2 => quote!(#r::atan2(#(#a),*)),
            Op::SinXDivX => quote!(#r::sinxdivx(#(#a),*)),
            Op::ClampInt(lo, hi) => {
                let (lo, hi) = (
                    Literal::f64_suffixed(lo.into()),
                    Literal::f64_suffixed(hi.into()),
                );
                let (lo, hi) = (self.lit(quote!(#lo)), self.lit(quote!(#hi)));
                quote!(#r::clamp_to(#(#a),*, #lo, #hi))
            }
            Op::Round(d) => {
                let scale = Literal::f64_suffixed(crate::op::round_scale(d));
                let scale = self.lit(quote!(#scale));
                quote!(#r::round_scaled(#(#a),*, #scale))
            }
            Op::Floor => quote!(#r::floor(#(#a),*)),
            Op::Mod => quote!(#r::modulo(#(#a),*)),
            Op::Equal => quote!(#r::cmp_eq(#(#a),*)),
            Op::NotEqual => quote!(#r::cmp_ne(#(#a),*)),
            Op::LessThan => quote!(#r::cmp_lt(#(#a),*)),
            Op::LessOrEqual => quote!(#r::cmp_le(#(#a),*)),
            Op::GreaterThan => quote!(#r::cmp_gt(#(#a),*)),
            Op::GreaterOrEqual => quote!(#r::cmp_ge(#(#a),*)),
            other => unreachable!("{other:?} is not entrywise"),
        }
    }

    /// The expression computing node `i` from its arguments (`n<k>` locals).
    fn node_expr(&self, i: NodeId, outer: Role) -> TokenStream {
        let kr = &self.kr;
        let nt = self.nt();
        let f = self.f;
        let n = &f.nodes[i];
        let arg = |k: usize| node_ident(n.args[k]);
        let arg_shape = |k: usize| f.nodes[n.args[k]].shape;
        match n.op {
            Op::Var(v) => {
                let var = &f.vars[v];
                let field = var_field(var);
                let data = quote!(b.#field.as_slice());
                match (self.lanes, var.role == outer, var.shape) {
                    (false, is_outer, Shape::Scalar) => {
                        let idx = if is_outer { quote!(o) } else { quote!(r) };
                        quote!(#data[#idx])
                    }
                    (false, is_outer, Shape::Vector(k)) => {
                        let idx = if is_outer { quote!(o) } else { quote!(r) };
                        let (l, c) = (len_of(k), self.cap(k));
                        quote!(#kr::ops::load::<T, _, #c>(#l, #data, #idx))
                    }
                    (true, true, Shape::Scalar) => quote!(#kr::ops::gather::<N>(#data, o0, last)),
                    (true, true, Shape::Vector(k)) => {
                        let (l, c) = (len_of(k), self.cap(k));
                        quote!(#kr::ops::gather_rows::<N, _, #c>(#l, #data, o0, last))
                    }
                    (true, false, Shape::Scalar) => quote!(<N as #kr::Num>::splat(#data[r])),
                    (true, false, Shape::Vector(k)) => {
                        let (l, c) = (len_of(k), self.cap(k));
                        quote!(#kr::ops::load_splat::<N, _, #c>(#l, #data, r))
                    }
                }
            }
            Op::Param(p) => {
                let field = param_field(&f.params[p]);
                match (self.lanes, f.params[p].shape) {
                    (false, Shape::Scalar) => quote!(b.#field[0]),
                    (false, Shape::Vector(k)) => {
                        let (l, c) = (len_of(k), self.cap(k));
                        quote!(#kr::ops::load_param::<T, _, #c>(#l, &b.#field))
                    }
                    (true, Shape::Scalar) => quote!(<N as #kr::Num>::splat(b.#field[0])),
                    (true, Shape::Vector(k)) => {
                        let (l, c) = (len_of(k), self.cap(k));
                        quote!(#kr::ops::load_param_splat::<N, _, #c>(#l, &b.#field))
                    }
                }
            }
            Op::Index(role) => {
                let idx = if role == outer { quote!(o) } else { quote!(r) };
                quote!(<T as #kr::Real>::from_f64(#idx as f64))
            }
            Op::KMask(k) => {
                let (e, a, j) = (arg(0), arg(1), arg(2));
                let k = Literal::usize_unsuffixed(k);
                match n.shape {
                    Shape::Scalar => quote!(#kr::ops::kmask_scalar::<T, #k>(&#e, &#a, #j)),
                    Shape::Vector(cl) => {
                        let (l, c) = (len_of(cl), self.cap(cl));
                        quote!(#kr::ops::kmask::<T, _, #c, #k>(#l, &#e, &#a, #j))
                    }
                }
            }
            Op::Const(c) => {
                let lit = Literal::f64_suffixed(c.0);
                self.lit(quote!(#lit))
            }
            op if op.typing() == crate::op::Typing::Entrywise => match n.shape {
                Shape::Scalar => {
                    let args: Vec<TokenStream> = (0..n.args.len())
                        .map(|k| arg(k).into_token_stream())
                        .collect();
                    self.scalar_op(op, &args)
                }
                Shape::Vector(cl) => {
                    let (l, c) = (len_of(cl), self.cap(cl));
                    let args: Vec<TokenStream> = (0..n.args.len())
                        .map(|k| {
                            let a = arg(k);
                            match arg_shape(k) {
                                Shape::Scalar => quote!(#kr::ops::splat::<#nt, _, #c>(#l, #a)),
                                Shape::Vector(_) => quote!(#a),
                            }
                        })
                        .collect();
                    let xs: Vec<Ident> =
                        (0..n.args.len()).map(|k| format_ident!("x{}", k)).collect();
                    let body =
                        self.scalar_op(op, &xs.iter().map(|x| quote!(#x)).collect::<Vec<_>>());
                    let map = format_ident!("map{}", n.args.len());
                    quote!(#kr::ops::#map(#l, #(#args,)* |#(#xs: #nt),*| #body))
                }
            },
            Op::SqNorm | Op::Norm | Op::Sum | Op::Normalize => {
                let a = arg(0);
                let r = self.num();
                match (n.op, arg_shape(0)) {
                    (Op::SqNorm, Shape::Scalar) => quote!(#a * #a),
                    (Op::Norm, Shape::Scalar) => quote!(#r::abs(#a)),
                    (Op::Sum, Shape::Scalar) => quote!(#a),
                    (_, Shape::Scalar) => quote!(#a * #r::rsqrt(#a * #a)),
                    (op, Shape::Vector(k)) => {
                        let l = len_of(k);
                        match op {
                            Op::SqNorm => quote!(#kr::ops::sqnorm(#l, #a)),
                            Op::Norm => quote!(#r::sqrt(#kr::ops::sqnorm(#l, #a))),
                            Op::Sum => quote!(#kr::ops::sum(#l, #a)),
                            _ => quote!(#kr::ops::normalize(#l, #a)),
                        }
                    }
                }
            }
            Op::Dot | Op::SqDist => {
                let (a, b) = (arg(0), arg(1));
                match (n.op, arg_shape(0)) {
                    (Op::Dot, Shape::Scalar) => quote!(#a * #b),
                    (_, Shape::Scalar) => quote!((#a - #b) * (#a - #b)),
                    (Op::Dot, Shape::Vector(k)) => {
                        let l = len_of(k);
                        quote!(#kr::ops::dot(#l, #a, #b))
                    }
                    (_, Shape::Vector(k)) => {
                        let l = len_of(k);
                        quote!(#kr::ops::sqdist(#l, #a, #b))
                    }
                }
            }
            Op::Elem(idx) => {
                let a = arg(0);
                match arg_shape(0) {
                    Shape::Scalar => quote!(#a),
                    Shape::Vector(_) => {
                        let idx = Literal::usize_unsuffixed(idx);
                        quote!(#a[#idx])
                    }
                }
            }
            Op::Concat => {
                let Shape::Vector(cl) = n.shape else {
                    unreachable!("concat is a vector")
                };
                let c = self.cap(cl);
                let part = |k: usize| {
                    let a = arg(k);
                    match arg_shape(k) {
                        Shape::Scalar => quote!(&[#a]),
                        Shape::Vector(ak) => {
                            let l = len_of(ak);
                            quote!(#kr::ops::head(#l, &#a))
                        }
                    }
                };
                let (pa, pb) = (part(0), part(1));
                quote!(#kr::ops::concat::<#nt, #c>(#pa, #pb))
            }
            Op::VecMin | Op::VecMax | Op::VecArgMin | Op::VecArgMax => {
                let a = arg(0);
                match (n.op, arg_shape(0)) {
                    (Op::VecMin | Op::VecMax, Shape::Scalar) => quote!(#a),
                    (_, Shape::Scalar) => {
                        let r = self.num();
                        quote!(#r::ZERO)
                    }
                    (op, Shape::Vector(k)) => {
                        let l = len_of(k);
                        let f = match op {
                            Op::VecMin => format_ident!("vmin"),
                            Op::VecMax => format_ident!("vmax"),
                            Op::VecArgMin => format_ident!("vargmin"),
                            _ => format_ident!("vargmax"),
                        };
                        quote!(#kr::ops::#f(#l, #a))
                    }
                }
            }
            Op::OneHot | Op::Extract(_) | Op::ExtractT(_) | Op::Broadcast => {
                // The result has the node's shape: a scalar is entry 0 of a vector of one.
                let (l, c, first) = match n.shape {
                    Shape::Scalar => (quote!(#kr::Fixed::<1>), quote!(1), quote!([0])),
                    Shape::Vector(k) => {
                        let (l, c) = (len_of(k), self.cap(k));
                        (quote!(#l), c, quote!())
                    }
                };
                let a = arg(0);
                // The argument's meaningful entries.
                let entries = match arg_shape(0) {
                    Shape::Scalar => quote!(&[#a]),
                    Shape::Vector(ak) => {
                        let al = len_of(ak);
                        quote!(#kr::ops::head(#al, &#a))
                    }
                };
                let start = |s: crate::op::Start| match s {
                    crate::op::Start::At(m) => {
                        let m = Literal::usize_unsuffixed(m);
                        quote!(::core::option::Option::Some(#m))
                    }
                    crate::op::Start::Tail => quote!(::core::option::Option::None),
                };
                match n.op {
                    Op::OneHot => quote!(#kr::ops::onehot::<T, _, #c>(#l, #a)#first),
                    Op::Extract(s) => {
                        let s = start(s);
                        quote!(#kr::ops::extract::<#nt, _, #c>(#l, #entries, #s)#first)
                    }
                    Op::ExtractT(s) => {
                        let s = start(s);
                        quote!(#kr::ops::extract_t::<#nt, _, #c>(#l, #entries, #s)#first)
                    }
                    _ => match n.shape {
                        Shape::Scalar => quote!(#a),
                        Shape::Vector(_) => quote!(#kr::ops::splat::<#nt, _, #c>(#l, #a)),
                    },
                }
            }
            Op::TensorDot(t) => self.tensordot_expr(i, t),
            op => unreachable!("no Rust emitter for {op:?}"),
        }
    }

    /// The row kernel's parts: the row-only lets (`prepare`), the per-pair lets (`eval`), the
    /// prepared values and their types, the value returned per pair and its type.
    fn kernel_parts(&self) -> KernelParts {
        let f = self.f;
        let outer = f.reduction.outer();
        let inner = f.reduction.inner();
        let live = self.f.live();
        let inner_dep = inner.dep();
        // Hoisted nodes (no dependence on the reduction index) that the per-pair code needs.
        let hoisted = |i: usize| f.nodes[i].deps & inner_dep == 0;
        let mut needed = vec![false; f.nodes.len()];
        for (i, &is_live) in live.iter().enumerate() {
            if !is_live {
                continue;
            }
            if !hoisted(i) {
                for &a in &f.nodes[i].args {
                    if hoisted(a) {
                        needed[a] = true;
                    }
                }
            }
        }
        for r in f.roots() {
            if hoisted(r) {
                needed[r] = true;
            }
        }
        let lets = |pred: &dyn Fn(usize) -> bool| -> Vec<TokenStream> {
            (0..f.nodes.len())
                .filter(|&i| live[i] && pred(i))
                .map(|i| {
                    let id = node_ident(i);
                    let ty = self.ty(f.nodes[i].shape);
                    let e = self.node_expr(i, outer);
                    quote!(let #id: #ty = #e;)
                })
                .collect()
        };
        let prepare_lets = lets(&|i| hoisted(i));
        let eval_lets = lets(&|i| !hoisted(i));
        let prepared: Vec<Ident> = (0..f.nodes.len())
            .filter(|&i| needed[i])
            .map(node_ident)
            .collect();
        let prepared_tys: Vec<TokenStream> = (0..f.nodes.len())
            .filter(|&i| needed[i])
            .map(|i| self.ty(f.nodes[i].shape))
            .collect();
        let root = node_ident(f.root);
        // What `eval` returns per pair: F, or for the log-sum-exp family the pair (F, weight),
        // the weight 1 when there is none.
        let (ret, value_ty) = match f.reduction.op() {
            Some(op) if op.is_shifted_exp() => {
                let r = self.num();
                let (w, wty) = match f.weight {
                    Some(w) => (node_ident(w).into_token_stream(), self.ty(f.nodes[w].shape)),
                    None => (quote!(#r::ONE), self.nt()),
                };
                let nt = self.nt();
                (quote!((#root, #w)), quote!((#nt, #wty)))
            }
            _ => (root.into_token_stream(), self.ty(f.nodes[f.root].shape)),
        };
        KernelParts {
            prepare_lets,
            eval_lets,
            prepared,
            prepared_tys,
            ret,
            value_ty,
        }
    }

    /// Whether the formula has a lane version (see [`Emitter::lanes`]): a sum or kernel matrix
    /// whose operations all have one (not the index-valued and index-reading ones).
    fn has_lanes(&self) -> bool {
        let f = self.f;
        let reduction_ok = matches!(
            f.reduction,
            Reduction::Kernel | Reduction::SumI | Reduction::SumJ
        );
        reduction_ok
            && self.f.live().iter().zip(&f.nodes).all(|(&live, n)| {
                !live
                    || !matches!(
                        n.op,
                        Op::Index(_)
                            | Op::KMask(_)
                            | Op::OneHot
                            | Op::VecMin
                            | Op::VecMax
                            | Op::VecArgMin
                            | Op::VecArgMax
                    )
            })
    }

    fn emit(&self) -> TokenStream {
        let f = self.f;
        let kr = &self.kr;
        let outer = f.reduction.outer();
        let inner = f.reduction.inner();
        let KernelParts {
            prepare_lets,
            eval_lets,
            prepared,
            prepared_tys,
            ret,
            value_ty,
        } = self.kernel_parts();
        let op = f.reduction.op();

        // Class lengths inside an arm: fixed classes are constants, run-time ones come from the arm.
        let class_lens: Vec<TokenStream> = f
            .classes
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let l = len_of(k);
                match c.fixed {
                    Some(n) => {
                        let n = Literal::usize_unsuffixed(n);
                        quote!(let #l = #kr::Fixed::<#n>;)
                    }
                    None => quote!(let #l = self.#l;),
                }
            })
            .collect();
        let slot_l: Vec<Ident> = f.slots.iter().map(|&k| len_of(k)).collect();
        let slot_lt: Vec<Ident> = f.slots.iter().map(|&k| format_ident!("L{}", k)).collect();
        let slot_c: Vec<Ident> = f.slots.iter().map(|&k| format_ident!("C{}", k)).collect();

        // Variables and parameters.
        // The variables the user binds; a gradient's hidden ones hold its forward stages' outputs.
        let is_hidden = |k: usize| f.stages.iter().any(|s| s.var == k);
        let uvars: Vec<&Var> = (f.vars.iter().enumerate())
            .filter(|(k, _)| !is_hidden(*k))
            .map(|(_, v)| v)
            .collect();
        let all_fields: Vec<Ident> = f.vars.iter().map(var_field).collect();
        let hfields: Vec<Ident> = f.stages.iter().map(|s| var_field(&f.vars[s.var])).collect();
        let vfields: Vec<Ident> = uvars.iter().map(|v| var_field(v)).collect();
        let vnames: Vec<&str> = uvars.iter().map(|v| v.name.as_str()).collect();
        let vmethods: Vec<Ident> = uvars.iter().map(|v| format_ident!("{}", v.name)).collect();
        let pfields: Vec<Ident> = f.params.iter().map(param_field).collect();
        let pnames: Vec<String> = f.params.iter().map(|p| p.ident.to_string()).collect();
        let states: Vec<Ident> = (0..uvars.len()).map(|k| format_ident!("S{}", k)).collect();
        let view = quote!(#kr::View<'a, T>);

        let class_opt = |s: Shape| match s {
            Shape::Scalar => quote!(::core::option::Option::None),
            Shape::Vector(k) => {
                let k = Literal::usize_unsuffixed(k);
                quote!(::core::option::Option::Some(#k))
            }
        };
        let class_specs: Vec<TokenStream> = f
            .classes
            .iter()
            .map(|c| {
                let fixed = match c.fixed {
                    Some(n) => {
                        let n = Literal::usize_unsuffixed(n);
                        quote!(::core::option::Option::Some(#n))
                    }
                    None => quote!(::core::option::Option::None),
                };
                let concat = match c.concat {
                    Some((a, b)) => {
                        let (a, b) = (class_opt(a), class_opt(b));
                        quote!(::core::option::Option::Some((#a, #b)))
                    }
                    None => quote!(::core::option::Option::None),
                };
                let label = &c.label;
                quote!(#kr::ClassSpec { fixed: #fixed, concat: #concat, label: #label })
            })
            .collect();
        let var_specs: Vec<TokenStream> = f
            .vars
            .iter()
            .map(|v| {
                let (name, class) = (&v.name, class_opt(v.shape));
                quote!(#kr::OperandSpec { name: #name, class: #class })
            })
            .collect();
        let param_specs: Vec<TokenStream> = f
            .params
            .iter()
            .zip(&pnames)
            .map(|(p, name)| {
                let class = class_opt(p.shape);
                quote!(#kr::OperandSpec { name: #name, class: #class })
            })
            .collect();
        let elem_specs: Vec<TokenStream> = f
            .elems
            .iter()
            .map(|e| {
                let (c, i) = (
                    Literal::usize_unsuffixed(e.class),
                    Literal::usize_unsuffixed(e.index),
                );
                let extract = match e.extract {
                    Some((m, d)) => {
                        let (m, d) = (Literal::usize_unsuffixed(m), Literal::usize_unsuffixed(d));
                        quote!(::core::option::Option::Some((#m, #d)))
                    }
                    None => quote!(::core::option::Option::None),
                };
                quote!(#kr::ElemSpec { class: #c, index: #i, extract: #extract })
            })
            .collect();

        // Builder: one state type per variable (Unbound until its setter is called).
        let entry_methods = uvars.iter().enumerate().map(|(k, _)| {
            let m = &vmethods[k];
            let inits = vfields.iter().enumerate().map(|(q, fd)| {
                if q == k {
                    quote!(#fd: data.into_view())
                } else {
                    quote!(#fd: __KeopsUnbound)
                }
            });
            let tys = (0..uvars.len()).map(|q| {
                if q == k {
                    view.clone()
                } else {
                    quote!(__KeopsUnbound)
                }
            });
            let doc = format!(
                "Binds `{}` to a point set, starting the binding of this formula's variables.",
                vnames[k]
            );
            quote! {
                #[doc = #doc]
                #[inline]
                pub fn #m<'f, 'a, T: #kr::Real>(&'f self, data: impl #kr::IntoView<'a, T>)
                    -> __KeopsBuilder<'f, 'a, T, #(#tys),*>
                {
                    __KeopsBuilder { __formula: self, #(#inits,)* __t: ::core::marker::PhantomData }
                }
            }
        });
        let setters = uvars.iter().enumerate().map(|(k, _)| {
            let m = &vmethods[k];
            let others: Vec<&Ident> = states
                .iter()
                .enumerate()
                .filter(|(q, _)| *q != k)
                .map(|(_, s)| s)
                .collect();
            let in_tys = states.iter().enumerate().map(|(q, s)| {
                if q == k {
                    quote!(__KeopsUnbound)
                } else {
                    quote!(#s)
                }
            });
            let out_tys = states.iter().enumerate().map(|(q, s)| {
                if q == k {
                    view.clone()
                } else {
                    quote!(#s)
                }
            });
            let moves = vfields.iter().enumerate().map(|(q, fd)| {
                if q == k {
                    quote!(#fd: data.into_view())
                } else {
                    quote!(#fd: self.#fd)
                }
            });
            let doc = format!("Binds `{}` to a point set.", vnames[k]);
            quote! {
                #[allow(non_camel_case_types, non_snake_case, clippy::all)]
                impl<'f, 'a, T: #kr::Real, #(#others),*> __KeopsBuilder<'f, 'a, T, #(#in_tys),*> {
                    #[doc = #doc]
                    #[inline]
                    pub fn #m(self, data: impl #kr::IntoView<'a, T>) -> __KeopsBuilder<'f, 'a, T, #(#out_tys),*> {
                        __KeopsBuilder { __formula: self.__formula, #(#moves,)* __t: ::core::marker::PhantomData }
                    }
                }
            }
        });
        // One trait per variable, implemented by a bound view only: a method that needs every
        // variable requires them in its where clause, so a forgotten one is named in the error.
        let var_traits: Vec<Ident> = uvars
            .iter()
            .map(|v| format_ident!("__KeopsVar_{}", v.name))
            .collect();
        let vis = &self.vis;
        let var_trait_defs = uvars.iter().zip(&var_traits).map(|(v, tr)| {
            let msg = format!("the formula's variable `{}` is not bound", v.name);
            let label = format!("`{}` is not bound here", v.name);
            let note = format!("bind it first: `.{}(data)`", v.name);
            quote! {
                #[diagnostic::on_unimplemented(message = #msg, label = #label, note = #note)]
                #[allow(non_camel_case_types)]
                #vis trait #tr<'a, T: #kr::Real> {
                    fn __view(self) -> #view;
                }
                impl<'a, T: #kr::Real> #tr<'a, T> for #view {
                    #[inline]
                    fn __view(self) -> #view {
                        self
                    }
                }
            }
        });
        let bound_where = quote!(where #(#states: #var_traits<'a, T>),*);
        let pfield_decls = pfields.iter().map(|p| quote!(#vis #p: #kr::ParamValue));

        // A gradient's forward stages: evaluated on the bound data, their outputs are the hidden
        // variables (indices as reals, checked to be exact in T).
        let stage_fields: Vec<Ident> = (0..f.stages.len()).map(stage_field).collect();
        let stage_tys: Vec<TokenStream> = (0..f.stages.len())
            .map(|s| {
                let m = stage_module(s);
                quote!(#m::__KeopsFormula)
            })
            .collect();
        let stage_evals = f.stages.iter().zip(&stage_fields).map(|(st, sf)| {
            let hf = var_field(&f.vars[st.var]);
            let binds = st.formula.vars.iter().map(|v| {
                let (m, fd) = (format_ident!("{}", v.name), var_field(v));
                quote!(.#m(#fd.clone()))
            });
            let convert = if st.indices {
                quote!(#kr::indices_as_reals::<T>(&__out)?)
            } else {
                quote!(__out)
            };
            quote! {
                let #hf: #kr::Rows<T> = {
                    let __out = self.__formula.#sf #(#binds)* .eval()?;
                    #convert
                };
            }
        });
        // `kmask` reads K entries per entry of F: the cotangent must have K times F's dimension.
        let ratio_checks = f.nodes.iter().filter_map(|n| {
            let Op::KMask(k) = n.op else { return None };
            let Shape::Vector(ce) = f.nodes[n.args[0]].shape else {
                return None;
            };
            let e_var = uvars.iter().find(|v| v.shape == Shape::Vector(ce))?;
            let name = &e_var.name;
            let ce = Literal::usize_unsuffixed(ce);
            let kl = Literal::usize_unsuffixed(k);
            let d = match n.shape {
                Shape::Scalar => quote!(1usize),
                Shape::Vector(c) => {
                    let c = Literal::usize_unsuffixed(c);
                    quote!(__dims[#c])
                }
            };
            Some(quote! {
                if __dims[#ce] != #kl * #d {
                    return ::core::result::Result::Err(#kr::KeopsError::DimensionMismatch {
                        var: ::std::string::String::from(#name),
                        expected: #kl * #d,
                        found: __dims[#ce],
                        hint: ::std::string::String::from(
                            " (the cotangent of kmin has K times the dimension of the formula)",
                        ),
                    });
                }
            })
        });

        let rows_of = |role: Role| -> TokenStream {
            let entries = f.vars_of(role).map(|(_, v)| {
                let (name, fd) = (&v.name, var_field(v));
                quote!((#name, #fd.rows()))
            });
            let l = role.letter();
            quote!(#kr::common_rows(#l, &[#(#entries),*])?)
        };
        let rows_i = rows_of(Role::I);
        // A symmetric kernel formula whose two variables are bound to the same data.
        let symmetric = match crate::symmetry::symmetric_pair(f) {
            Some((a, b)) if f.reduction == Reduction::Kernel => {
                let (a, b) = (var_field(&f.vars[a]), var_field(&f.vars[b]));
                quote!(#kr::same_data(&#a, &#b))
            }
            _ => quote!(false),
        };
        let rows_j = rows_of(Role::J);
        let (n_out, n_red) = match outer {
            Role::I => (quote!(self.__rows_i), quote!(self.__rows_j)),
            Role::J => (quote!(self.__rows_j), quote!(self.__rows_i)),
        };
        // The entries reduced per output row: F's, the weight's for the log-sum-exp family; the
        // output has K times as many for the k-min family.
        let entry_node = match op {
            Some(op) if op.is_shifted_exp() => f.weight,
            _ => Some(f.root),
        };
        let entry_dim = match entry_node.map(|n| f.nodes[n].shape) {
            None | Some(Shape::Scalar) => quote!(1),
            Some(Shape::Vector(k)) => {
                let k = Literal::usize_unsuffixed(k);
                quote!(self.__dims[#k])
            }
        };
        let out_dim = match op.and_then(|op| op.k()) {
            Some(k) => {
                let k = Literal::usize_unsuffixed(k);
                quote!((#entry_dim * #k))
            }
            None => entry_dim.clone(),
        };

        // The k-min family needs at least K rows to reduce over.
        let k_check = match op.and_then(|op| op.k()) {
            Some(k) => {
                let name = f.reduction.name().unwrap_or_default();
                let l = inner.letter();
                let rows = format_ident!("__rows_{}", l);
                let k = Literal::usize_unsuffixed(k);
                quote! {
                    if #rows < #k {
                        return ::core::result::Result::Err(#kr::KeopsError::KTooLarge {
                            reduction: ::std::string::String::from(#name),
                            k: #k,
                            index: #l,
                            rows: #rows,
                        });
                    }
                }
            }
            None => quote!(),
        };
        // Dispatch: one arm per combination of run-time dimension buckets.
        let lanes = self.has_lanes();
        let lane_arms = std::cell::Cell::new(0);
        let run_leaf = |lens: &[TokenStream], caps: &[TokenStream]| -> TokenStream {
            // The lane version where every vector fits a small stack array.
            let max_cap = caps
                .iter()
                .map(|c| c.to_string().parse::<usize>().expect("a literal capacity"))
                .chain(f.classes.iter().filter_map(|c| c.fixed))
                .max()
                .unwrap_or(1);
            let lanes = lanes && max_cap <= LANE_MAX_DIM && lane_arms.get() < LANE_MAX_ARMS;
            lane_arms.set(lane_arms.get() + usize::from(lanes));
            let body = match f.reduction {
                Reduction::Kernel if lanes => quote! {
                    #kr::kernel_work_lanes(&arm, self.__symmetric, self.__rows_i, self.__rows_j, work)
                },
                Reduction::Kernel => {
                    quote!(#kr::kernel_work_scalar(&arm, self.__rows_i, self.__rows_j, work))
                }
                Reduction::SumJ | Reduction::SumI if lanes => {
                    quote!(#kr::sum_reduce_lanes(&arm, #n_out, #n_red, #out_dim, vals))
                }
                Reduction::SumJ | Reduction::SumI => {
                    quote!(#kr::sum_reduce(&arm, #n_out, #n_red, #out_dim, vals))
                }
                Reduction::Other(op, _) if op.is_extremum() => {
                    let max = op.is_max();
                    quote!(#kr::extremum_reduce::<#max, T, _>(&arm, #n_out, #n_red, #entry_dim, vals, idx))
                }
                Reduction::Other(op, _) if op.is_shifted_exp() => {
                    let softmax = op == RedOp::SumSoftMaxWeight;
                    quote!(#kr::shifted_exp_reduce::<#softmax, T, _, _>(&arm, #n_out, #n_red, #entry_dim, vals))
                }
                Reduction::Other(op, _) => {
                    let k = Literal::usize_unsuffixed(op.k().expect("the k-min family"));
                    quote!(#kr::kmin_reduce(&arm, #n_out, #n_red, #entry_dim, #k, vals, idx))
                }
            };
            let generics = lens.iter().zip(caps).map(|(l, c)| quote!(#l, #c));
            quote! {{
                let arm = __KeopsArm::<T, #(#generics),*> { b: self, #(#slot_l),* };
                #body
            }}
        };
        let dispatch = self.dispatch(0, &mut Vec::new(), &mut Vec::new(), &run_leaf);

        // The GPU view of the bound formula: kernel names, arguments, shapes.
        let gpu_id = crate::emit::cuda::formula_id(f);
        let gpu_source = format!(
            "{}\n{}",
            crate::emit::cuda::prelude(),
            crate::emit::cuda::emit(f).0
        );
        let gpu_matvec = f.reduction == Reduction::Kernel;
        // The formula's PTX when ptx-build made it (the `cuda` feature with nvcc), else "".
        let gpu_ptx = match crate::emit::cuda::ptx_path(f) {
            Some(p) => {
                let p = p.to_string_lossy().into_owned();
                quote!(::core::include_str!(#p))
            }
            None => quote!(""),
        };
        let gpu_slots = crate::emit::cuda::gpu_slots(f);
        let slot_dims = gpu_slots.iter().map(|&k| {
            let k = Literal::usize_unsuffixed(k);
            quote!(self.__dims[#k])
        });
        let var_slices = all_fields.iter().map(|fd| quote!(self.#fd.as_slice()));
        let param_slices = pfields.iter().map(|fd| quote!(&self.#fd[..]));
        let inner_width = f.vars_of(inner).map(|(_, v)| match v.shape {
            Shape::Scalar => quote!(1),
            Shape::Vector(k) => {
                let k = Literal::usize_unsuffixed(k);
                quote!(self.__dims[#k])
            }
        });
        let gpu_reduce = {
            let kind = |name: &str| {
                let v = format_ident!("{}", name);
                quote!(#kr::ReduceKind::#v)
            };
            match op {
                None => kind("Sum"),
                Some(RedOp::KMin(k)) => {
                    let (v, k) = (kind("KMin"), Literal::usize_unsuffixed(k));
                    quote!(#v(#k))
                }
                Some(RedOp::ArgKMin(k)) => {
                    let (v, k) = (kind("ArgKMin"), Literal::usize_unsuffixed(k));
                    quote!(#v(#k))
                }
                Some(RedOp::KMinArgKMin(k)) => {
                    let (v, k) = (kind("KMinArgKMin"), Literal::usize_unsuffixed(k));
                    quote!(#v(#k))
                }
                Some(op) => kind(&format!("{op:?}")),
            }
        };
        let gpu_out_dim = if gpu_matvec {
            quote!(1)
        } else {
            out_dim.clone()
        };
        let gpu_method = quote! {
            fn gpu_task(&self) -> #kr::GpuTask<'_, T> {
                #kr::GpuTask {
                    id: #gpu_id,
                    source: #kr::cuda_source!(#gpu_source),
                    ptx: #gpu_ptx,
                    matvec: #gpu_matvec,
                    slot_dims: ::std::vec![#(#slot_dims),*],
                    vars: ::std::vec![#(#var_slices),*],
                    params: ::std::vec![#(#param_slices),*],
                    dims: self.__dims.clone(),
                    inner_width: 0 #(+ #inner_width)*,
                    n_out: #n_out,
                    n_red: #n_red,
                    out_dim: #gpu_out_dim,
                    reduce: #gpu_reduce,
                }
            }
        };
        // What evaluation gives: values, indices or both (keops-runtime's ReductionOutput).
        let (output_ty, buffers_ty) = match op {
            Some(op) if !op.has_values() => (quote!(#kr::Indices), quote!(&mut [usize])),
            Some(op) if op.has_indices() => (
                quote!((#kr::Rows<T>, #kr::Indices)),
                quote!((&mut [T], &mut [usize])),
            ),
            _ => (quote!(#kr::Rows<T>), quote!(&mut [T])),
        };
        // A gradient with respect to a parameter sums the rows (in f64).
        let (out_rows, run_body) = if f.total {
            (
                quote!(1),
                quote! {
                    let mut __rows = ::std::vec![T::ZERO; #n_out * (#out_dim)];
                    {
                        let vals = &mut __rows[..];
                        #dispatch
                    }
                    #kr::sum_rows_into(&__rows, #out_dim, vals);
                },
            )
        } else {
            (n_out.clone(), dispatch.clone())
        };
        let (run_trait, run_method) = match f.reduction {
            Reduction::Kernel => (
                quote!(#kr::BoundKernel<T>),
                quote! {
                    fn nrows(&self) -> usize { self.__rows_i }
                    fn ncols(&self) -> usize { self.__rows_j }
                    fn run(&self, work: #kr::KernelWork<'_, T>) {
                        let b = self;
                        #dispatch
                    }
                    fn symmetric(&self) -> bool { self.__symmetric }
                    #gpu_method
                },
            ),
            _ => (
                quote!(#kr::BoundReduction<T>),
                quote! {
                    fn out_rows(&self) -> usize { #out_rows }
                    type Output = #output_ty;
                    fn out_dim(&self) -> usize { #out_dim }
                    fn run_into(&self, vals: &mut [T], idx: &mut [usize]) {
                        let b = self;
                        #run_body
                    }
                    #gpu_method
                },
            ),
        };
        let finishers = match f.reduction {
            Reduction::Kernel => quote! {
                /// The kernel matrix `K_ij` over the bound points: a lazy operator whose products
                /// never store it.
                pub fn matrix(self) -> ::core::result::Result<#kr::KernelMatrix<T, __KeopsBound<'a, T>>, #kr::KeopsError> #bound_where {
                    ::core::result::Result::Ok(#kr::KernelMatrix::new(self.__bind()?))
                }
            },
            _ => quote! {
                /// Checks the bound data once; the result can be evaluated many times.
                pub fn bind(self) -> ::core::result::Result<#kr::Reduction<T, __KeopsBound<'a, T>>, #kr::KeopsError> #bound_where {
                    ::core::result::Result::Ok(#kr::Reduction::new(self.__bind()?))
                }
                /// Evaluates the reduction: one row per output index.
                pub fn eval(self) -> ::core::result::Result<#output_ty, #kr::KeopsError> #bound_where {
                    ::core::result::Result::Ok(self.bind()?.eval())
                }
                /// Evaluates the reduction into the caller's row-major buffer(s).
                pub fn eval_into(self, out: #buffers_ty) -> ::core::result::Result<(), #kr::KeopsError> #bound_where {
                    self.bind()?.eval_into(out)
                }
            },
        };

        let canonical = f.canonical();
        let arm_generics = slot_lt
            .iter()
            .zip(&slot_c)
            .map(|(l, c)| quote!(#l: #kr::Len, const #c: usize));
        let arm_args: Vec<TokenStream> = slot_lt
            .iter()
            .zip(&slot_c)
            .map(|(l, c)| quote!(#l, #c))
            .collect();
        let arm_fields = slot_l.iter().zip(&slot_lt).map(|(l, t)| quote!(#l: #t));
        // The lane version of the row kernel (see `Emitter::lanes`).
        let lane_impl = if lanes {
            let KernelParts {
                prepare_lets,
                eval_lets,
                prepared,
                prepared_tys,
                ret,
                value_ty,
            } = Emitter {
                f,
                kr: kr.clone(),
                vis: self.vis.clone(),
                lanes: true,
            }
            .kernel_parts();
            quote! {
                #[allow(non_camel_case_types, non_snake_case, unused_variables, unused_parens, clippy::all)]
                impl<'r, 'a, T: #kr::Real, #(#slot_lt: #kr::Len, const #slot_c: usize),*> #kr::LaneKernel<T>
                    for __KeopsArm<'r, 'a, T, #(#arm_args),*>
                {
                    type PreparedLanes<N: #kr::Num<Elem = T>> = (#(#prepared_tys,)*);
                    type ValueLanes<N: #kr::Num<Elem = T>> = #value_ty;
                    #[inline(always)]
                    fn prepare_lanes<N: #kr::Num<Elem = T>>(&self, o0: usize, last: usize) -> Self::PreparedLanes<N> {
                        let b = self.b;
                        #(#class_lens)*
                        #(#prepare_lets)*
                        (#(#prepared,)*)
                    }
                    #[inline(always)]
                    fn eval_lanes<N: #kr::Num<Elem = T>>(&self, p: &Self::PreparedLanes<N>, r: usize) -> Self::ValueLanes<N> {
                        let b = self.b;
                        #(#class_lens)*
                        let (#(#prepared,)*) = *p;
                        #(#eval_lets)*
                        #ret
                    }
                }
            }
        } else {
            quote!()
        };

        quote! {
            /// A compiled KeOps formula with its captured parameters.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #[derive(Clone, Debug)]
            #vis struct __KeopsFormula { #(#pfield_decls,)* #(#stage_fields: #stage_tys,)* }

            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            impl __KeopsFormula {
                /// The formula's canonical text.
                pub const CANONICAL: &'static str = #canonical;
                #(#entry_methods)*
            }

            /// A variable not bound yet.
            #[derive(Clone, Copy, Debug)]
            #vis struct __KeopsUnbound;

            /// Binds the formula's variables by name.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #vis struct __KeopsBuilder<'f, 'a, T: #kr::Real, #(#states),*> {
                __formula: &'f __KeopsFormula,
                #(#vfields: #states,)*
                __t: ::core::marker::PhantomData<(fn() -> T, &'a ())>,
            }

            #(#setters)*

            #(#var_trait_defs)*

            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            impl<'f, 'a, T: #kr::Real, #(#states),*> __KeopsBuilder<'f, 'a, T, #(#states),*> {
                fn __bind(self) -> ::core::result::Result<__KeopsBound<'a, T>, #kr::KeopsError> #bound_where {
                    #(let #vfields = self.#vfields.__view();)*
                    const SPEC: #kr::DimSpec = #kr::DimSpec {
                        classes: &[#(#class_specs),*],
                        vars: &[#(#var_specs),*],
                        params: &[#(#param_specs),*],
                        elems: &[#(#elem_specs),*],
                    };
                    #(#kr::check_var(#vnames, &#vfields)?;)*
                    #(#stage_evals)*
                    let __rows_i = #rows_i;
                    let __rows_j = #rows_j;
                    let __symmetric = #symmetric;
                    #k_check
                    let __dims = SPEC.resolve(
                        &[#(#all_fields.dim()),*],
                        &[#(self.__formula.#pfields.dim()),*],
                    )?;
                    #(#ratio_checks)*
                    ::core::result::Result::Ok(__KeopsBound {
                        #(#vfields,)*
                        #(#hfields,)*
                        #(#pfields: self.__formula.#pfields.to_real::<T>(#pnames)?,)*
                        __dims,
                        __rows_i,
                        __rows_j,
                        __symmetric,
                    })
                }
                #finishers
            }

            /// The formula with its data bound and checked.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #[derive(Clone, Debug)]
            #vis struct __KeopsBound<'a, T: #kr::Real> {
                #(#vfields: #view,)*
                #(#hfields: #kr::Rows<T>,)*
                #(#pfields: ::std::vec::Vec<T>,)*
                __dims: ::std::vec::Vec<usize>,
                __rows_i: usize,
                __rows_j: usize,
                /// A symmetric kernel bound to the same points twice: products evaluate each pair once.
                __symmetric: bool,
            }

            #[allow(non_camel_case_types, non_snake_case, unused_variables, clippy::all)]
            impl<'a, T: #kr::Real> #run_trait for __KeopsBound<'a, T> {
                #run_method
            }

            /// The formula at one combination of run-time dimensions.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #vis struct __KeopsArm<'r, 'a, T: #kr::Real, #(#arm_generics),*> {
                b: &'r __KeopsBound<'a, T>,
                #(#arm_fields,)*
            }

            #lane_impl

            #[allow(non_camel_case_types, non_snake_case, unused_variables, unused_parens, clippy::all)]
            impl<'r, 'a, T: #kr::Real, #(#slot_lt: #kr::Len, const #slot_c: usize),*> #kr::RowKernel<T>
                for __KeopsArm<'r, 'a, T, #(#arm_args),*>
            {
                type Prepared = (#(#prepared_tys,)*);
                type Value = #value_ty;
                #[inline(always)]
                fn prepare(&self, o: usize) -> Self::Prepared {
                    let b = self.b;
                    #(#class_lens)*
                    #(#prepare_lets)*
                    (#(#prepared,)*)
                }
                #[inline(always)]
                fn eval(&self, p: &Self::Prepared, r: usize) -> Self::Value {
                    let b = self.b;
                    #(#class_lens)*
                    let (#(#prepared,)*) = *p;
                    #(#eval_lets)*
                    #ret
                }
            }

        }
    }

    /// The expressions capturing the parameters' values (in `params` order).
    fn captures(&self) -> Vec<TokenStream> {
        let kr = &self.kr;
        self.f
            .params
            .iter()
            .map(|p| {
                let ident = &p.ident;
                let span = ident.span();
                match p.fixed_dim {
                    Some(n) => {
                        let n = Literal::usize_unsuffixed(n);
                        quote_spanned!(span=> #kr::param_of_dim::<#n, _>(#ident))
                    }
                    None => quote_spanned!(span=> #kr::param(#ident)),
                }
            })
            .collect()
    }

    /// Nested matches over the run-time dimension of each slot; `leaf` gets the chosen lengths.
    fn dispatch(
        &self,
        s: usize,
        lens: &mut Vec<TokenStream>,
        caps: &mut Vec<TokenStream>,
        leaf: &dyn Fn(&[TokenStream], &[TokenStream]) -> TokenStream,
    ) -> TokenStream {
        let kr = &self.kr;
        if s == self.f.slots.len() {
            return leaf(lens, caps);
        }
        let k = self.f.slots[s];
        let l = len_of(k);
        let kl = Literal::usize_unsuffixed(k);
        // (pattern, Len type, capacity): exact small dimensions, then buckets.
        let (exact, buckets) = keops_abi::cpu::arms(s);
        let mut arms = Vec::new();
        for &n in exact {
            let nl = Literal::usize_unsuffixed(n);
            lens.push(quote!(#kr::Fixed<#nl>));
            caps.push(quote!(#nl));
            let inner = self.dispatch(s + 1, lens, caps, leaf);
            lens.pop();
            caps.pop();
            arms.push(quote!(#nl => { let #l = #kr::Fixed::<#nl>; #inner }));
        }
        let mut lo = exact.last().copied().unwrap_or(0) + 1;
        for &cap in buckets.iter().chain(std::iter::once(&keops_abi::MAX_DIM)) {
            let (lol, capl) = (
                Literal::usize_unsuffixed(lo),
                Literal::usize_unsuffixed(cap),
            );
            lens.push(quote!(#kr::Upto));
            caps.push(quote!(#capl));
            let inner = self.dispatch(s + 1, lens, caps, leaf);
            lens.pop();
            caps.pop();
            let pat = if cap == keops_abi::MAX_DIM {
                quote!(_)
            } else {
                quote!(#lol..=#capl)
            };
            arms.push(quote!(#pat => { let #l = #kr::Upto(d); #inner }));
            lo = cap + 1;
        }
        quote! {
            match self.__dims[#kl] { #(d @ #arms)* }
        }
    }
}

impl Emitter<'_> {
    /// Node `i`, the contraction `f.tensors[t]` of its two arguments: the loops of
    /// [`crate::tensor::TensorSpec::loops`] (one per output axis, then one per contracted pair),
    /// summed in `T`. Not unrolled: a few statements whatever the dimensions.
    fn tensordot_expr(&self, i: NodeId, t: usize) -> TokenStream {
        let f = self.f;
        let n = &f.nodes[i];
        let r = self.num();
        let (outs, conts) = f.tensors[t].loops();
        let q: Vec<Ident> = (0..outs.len()).map(|k| format_ident!("q{}", k)).collect();
        let c: Vec<Ident> = (0..conts.len()).map(|k| format_ident!("c{}", k)).collect();
        let all: Vec<(&Ident, &crate::tensor::Loop)> =
            q.iter().zip(&outs).chain(c.iter().zip(&conts)).collect();
        // The sum of index times stride (`0` when empty), for A, B or the output.
        let index = |stride: fn(&crate::tensor::Loop) -> usize| {
            let terms: Vec<TokenStream> = all
                .iter()
                .filter(|(_, l)| stride(l) != 0)
                .map(|(v, l)| match stride(l) {
                    1 => quote!(#v),
                    s => {
                        let s = Literal::usize_unsuffixed(s);
                        quote!(#v * #s)
                    }
                })
                .collect();
            if terms.is_empty() {
                quote!(0)
            } else {
                quote!(#(#terms)+*)
            }
        };
        let entry = |k: usize, idx: TokenStream| {
            let a = node_ident(n.args[k]);
            match f.nodes[n.args[k]].shape {
                Shape::Scalar => quote!(#a),
                Shape::Vector(_) => quote!(#a[#idx]),
            }
        };
        let (ea, eb) = (entry(0, index(|l| l.a)), entry(1, index(|l| l.b)));
        let mut body = quote!(s += #ea * #eb;);
        for (v, l) in c.iter().zip(&conts).rev() {
            let size = Literal::usize_unsuffixed(l.size);
            body = quote!(for #v in 0..#size { #body });
        }
        let store = match n.shape {
            Shape::Scalar => quote!(o = s;),
            Shape::Vector(_) => {
                let io = index(|l| l.out);
                quote!(o[#io] = s;)
            }
        };
        let mut body = quote!(let mut s = #r::ZERO; #body #store);
        for (v, l) in q.iter().zip(&outs).rev() {
            let size = Literal::usize_unsuffixed(l.size);
            body = quote!(for #v in 0..#size { #body });
        }
        let init = match n.shape {
            Shape::Scalar => quote!(#r::ZERO),
            Shape::Vector(k) => {
                let cap = self.cap(k);
                quote!([#r::ZERO; #cap])
            }
        };
        quote!({ let mut o = #init; #body o })
    }
}
