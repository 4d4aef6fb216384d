//! One node's value as a Rust expression of its arguments' locals (`n<k>`), through the runtime's
//! `Num` arithmetic and `ops` helpers; a vector is a `[T; C]` of its class's capacity, of which
//! the arm's length `l<k>` entries are meaningful. The match over [`Op`] is exhaustive: a new
//! operation does not compile until it says what Rust it becomes (as in the CUDA side's
//! `expr.rs`).

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, ToTokens};

use super::{len_of, node_ident, param_field, var_field, Emitter};
use crate::ir::{Node, NodeId, Role, Shape};
use crate::op::{Op, Start};

impl Emitter<'_> {
    /// The capacity of class `k`: its fixed dimension, else the arm's const generic `C<k>`.
    pub(super) fn cap(&self, k: usize) -> TokenStream {
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
    pub(super) fn nt(&self) -> TokenStream {
        if self.lanes {
            quote!(N)
        } else {
            quote!(T)
        }
    }

    /// The type of a value of shape `s`.
    pub(super) fn ty(&self, s: Shape) -> TokenStream {
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
    pub(super) fn num(&self) -> TokenStream {
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

    /// The expression computing node `i` from its arguments (`n<k>` locals); `outer` is the role
    /// of the output rows.
    pub(super) fn node_expr(&self, i: NodeId, outer: Role) -> TokenStream {
        let (kr, r) = (&self.kr, &self.num());
        let n = &self.f.nodes[i];
        match n.op {
            Op::Var(v) => self.var(v, outer),
            Op::Param(p) => self.param(p),
            Op::Const(c) => {
                let lit = Literal::f64_suffixed(c.0);
                self.lit(quote!(#lit))
            }
            Op::Index(role) => {
                let idx = if role == outer { quote!(o) } else { quote!(r) };
                quote!(<T as #kr::Real>::from_f64(#idx as f64))
            }
            Op::KMask(k) => self.kmask(n, k),
            Op::Neg => self.entrywise(n, |a| quote!(-#(#a)*)),
            Op::Add => self.entrywise(n, |a| infix(a, quote!(+))),
            Op::Sub => self.entrywise(n, |a| infix(a, quote!(-))),
            Op::Mul => self.entrywise(n, |a| infix(a, quote!(*))),
            Op::Div => self.entrywise(n, |a| infix(a, quote!(/))),
            Op::Exp => self.call(n, "exp"),
            Op::Log => self.call(n, "ln"),
            Op::Sqrt => self.call(n, "sqrt"),
            Op::Rsqrt => self.call(n, "rsqrt"),
            Op::Inv => self.call(n, "inv"),
            Op::Square => self.call(n, "square"),
            Op::Abs => self.call(n, "abs"),
            Op::Sign => self.call(n, "sign"),
            Op::Step => self.call(n, "step"),
            Op::Relu => self.call(n, "relu"),
            Op::Sin => self.call(n, "sin"),
            Op::Cos => self.call(n, "cos"),
            Op::Pow(p) => {
                let p = Literal::i32_unsuffixed(p);
                self.entrywise(n, |a| quote!(#r::powi(#(#a),*, #p)))
            }
            Op::Powf => self.call(n, "powf"),
            Op::Min => self.call(n, "fmin"),
            Op::Max => self.call(n, "fmax"),
            Op::Clamp => self.call(n, "clamp_to"),
            Op::IfElse => self.call(n, "if_else"),
            Op::XLogX => self.call(n, "xlogx"),
            Op::Asin => self.call(n, "asin"),
            Op::Acos => self.call(n, "acos"),
            Op::Atan => self.call(n, "atan"),
            Op::Atan2 => self.call(n, "atan2"),
            Op::SinXDivX => self.call(n, "sinxdivx"),
            Op::ClampInt(lo, hi) => {
                let lo = Literal::f64_suffixed(lo.into());
                let hi = Literal::f64_suffixed(hi.into());
                let (lo, hi) = (self.lit(quote!(#lo)), self.lit(quote!(#hi)));
                self.entrywise(n, |a| quote!(#r::clamp_to(#(#a),*, #lo, #hi)))
            }
            Op::Round(d) => {
                let scale = Literal::f64_suffixed(crate::op::round_scale(d));
                let scale = self.lit(quote!(#scale));
                self.entrywise(n, |a| quote!(#r::round_scaled(#(#a),*, #scale)))
            }
            Op::Floor => self.call(n, "floor"),
            Op::Mod => self.call(n, "modulo"),
            Op::Equal => self.call(n, "cmp_eq"),
            Op::NotEqual => self.call(n, "cmp_ne"),
            Op::LessThan => self.call(n, "cmp_lt"),
            Op::LessOrEqual => self.call(n, "cmp_le"),
            Op::GreaterThan => self.call(n, "cmp_gt"),
            Op::GreaterOrEqual => self.call(n, "cmp_ge"),
            Op::SqNorm => self.by_arg(
                n,
                |a| quote!(#a * #a),
                |l, a| quote!(#kr::ops::sqnorm(#l, #a)),
            ),
            Op::Norm => self.by_arg(
                n,
                |a| quote!(#r::abs(#a)),
                |l, a| quote!(#r::sqrt(#kr::ops::sqnorm(#l, #a))),
            ),
            Op::Sum => self.by_arg(n, |a| quote!(#a), |l, a| quote!(#kr::ops::sum(#l, #a))),
            Op::Normalize => self.by_arg(
                n,
                |a| quote!(#a * #r::rsqrt(#a * #a)),
                |l, a| quote!(#kr::ops::normalize(#l, #a)),
            ),
            Op::Dot => self.by_args(
                n,
                |a, b| quote!(#a * #b),
                |l, a, b| quote!(#kr::ops::dot(#l, #a, #b)),
            ),
            Op::SqDist => self.by_args(
                n,
                |a, b| quote!((#a - #b) * (#a - #b)),
                |l, a, b| quote!(#kr::ops::sqdist(#l, #a, #b)),
            ),
            Op::Elem(idx) => {
                let idx = Literal::usize_unsuffixed(idx);
                self.by_arg(n, |a| quote!(#a), |_, a| quote!(#a[#idx]))
            }
            Op::Concat => self.concat(n),
            Op::VecMin => self.by_arg(n, |a| quote!(#a), |l, a| quote!(#kr::ops::vmin(#l, #a))),
            Op::VecMax => self.by_arg(n, |a| quote!(#a), |l, a| quote!(#kr::ops::vmax(#l, #a))),
            Op::VecArgMin => self.by_arg(
                n,
                |_| quote!(#r::ZERO),
                |l, a| quote!(#kr::ops::vargmin(#l, #a)),
            ),
            Op::VecArgMax => self.by_arg(
                n,
                |_| quote!(#r::ZERO),
                |l, a| quote!(#kr::ops::vargmax(#l, #a)),
            ),
            Op::OneHot => self.onehot(n),
            Op::Extract(s) => self.extract(n, format_ident!("extract"), s),
            Op::ExtractT(s) => self.extract(n, format_ident!("extract_t"), s),
            Op::Broadcast => self.broadcast(n),
            Op::TensorDot(t) => self.tensordot_expr(n, t),
        }
    }

    /// Variable `v` at the output row `o` or the reduction row `r`; in the lane version the output
    /// rows are gathered (`o0..o0 + LANES`, clamped to `last`) and a reduction row is splat.
    fn var(&self, v: usize, outer: Role) -> TokenStream {
        let kr = &self.kr;
        let var = &self.f.vars[v];
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

    /// Parameter `p` (splat in the lane version).
    fn param(&self, p: usize) -> TokenStream {
        let kr = &self.kr;
        let field = param_field(&self.f.params[p]);
        match (self.lanes, self.f.params[p].shape) {
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

    /// An entrywise operation: `scalar` of the arguments for a scalar node, else mapped over the
    /// entries (`ops::map<arity>`, scalar arguments splat).
    fn entrywise(
        &self,
        n: &Node,
        scalar: impl FnOnce(&[TokenStream]) -> TokenStream,
    ) -> TokenStream {
        let Shape::Vector(cl) = n.shape else {
            let args: Vec<TokenStream> = n
                .args
                .iter()
                .map(|&a| node_ident(a).into_token_stream())
                .collect();
            return scalar(&args);
        };
        let (kr, nt) = (&self.kr, self.nt());
        let (l, c) = (len_of(cl), self.cap(cl));
        let args = n.args.iter().map(|&a| {
            let x = node_ident(a);
            match self.f.nodes[a].shape {
                Shape::Scalar => quote!(#kr::ops::splat::<#nt, _, #c>(#l, #x)),
                Shape::Vector(_) => quote!(#x),
            }
        });
        let xs: Vec<Ident> = (0..n.args.len()).map(|k| format_ident!("x{}", k)).collect();
        let body = scalar(&xs.iter().map(|x| quote!(#x)).collect::<Vec<_>>());
        let map = format_ident!("map{}", n.args.len());
        quote!(#kr::ops::#map(#l, #(#args,)* |#(#xs: #nt),*| #body))
    }

    /// An entrywise function of the runtime's `Num`.
    fn call(&self, n: &Node, name: &str) -> TokenStream {
        let (r, f) = (self.num(), format_ident!("{}", name));
        self.entrywise(n, |a| quote!(#r::#f(#(#a),*)))
    }

    /// An operation on the argument's entries: `scalar(a)` when it is a scalar, else
    /// `vector(l, a)` with `l` its length.
    fn by_arg(
        &self,
        n: &Node,
        scalar: impl FnOnce(&Ident) -> TokenStream,
        vector: impl FnOnce(&Ident, &Ident) -> TokenStream,
    ) -> TokenStream {
        let a = node_ident(n.args[0]);
        match self.f.nodes[n.args[0]].shape {
            Shape::Scalar => scalar(&a),
            Shape::Vector(k) => vector(&len_of(k), &a),
        }
    }

    /// [`Emitter::by_arg`] for two arguments of one shape.
    fn by_args(
        &self,
        n: &Node,
        scalar: impl FnOnce(&Ident, &Ident) -> TokenStream,
        vector: impl FnOnce(&Ident, &Ident, &Ident) -> TokenStream,
    ) -> TokenStream {
        let (a, b) = (node_ident(n.args[0]), node_ident(n.args[1]));
        match self.f.nodes[n.args[0]].shape {
            Shape::Scalar => scalar(&a, &b),
            Shape::Vector(k) => vector(&len_of(k), &a, &b),
        }
    }

    /// The meaningful entries of node `a`, as a slice (a scalar is a slice of one).
    fn entries(&self, a: NodeId) -> TokenStream {
        let (kr, x) = (&self.kr, node_ident(a));
        match self.f.nodes[a].shape {
            Shape::Scalar => quote!(&[#x]),
            Shape::Vector(k) => {
                let l = len_of(k);
                quote!(#kr::ops::head(#l, &#x))
            }
        }
    }

    /// The arguments' entries one after the other.
    fn concat(&self, n: &Node) -> TokenStream {
        let Shape::Vector(cl) = n.shape else {
            unreachable!("concat is a vector")
        };
        let (kr, nt, c) = (&self.kr, self.nt(), self.cap(cl));
        let (pa, pb) = (self.entries(n.args[0]), self.entries(n.args[1]));
        quote!(#kr::ops::concat::<#nt, #c>(#pa, #pb))
    }

    /// The length, capacity and indexing of a node whose shape is set by its lowering: a scalar
    /// is entry `[0]` of a vector of one.
    fn resized(&self, n: &Node) -> (TokenStream, TokenStream, TokenStream) {
        let kr = &self.kr;
        match n.shape {
            Shape::Scalar => (quote!(#kr::Fixed::<1>), quote!(1), quote!([0])),
            Shape::Vector(k) => {
                let (l, c) = (len_of(k), self.cap(k));
                (quote!(#l), c, quote!())
            }
        }
    }

    /// A 1 at the index the argument rounds to, zeros elsewhere.
    fn onehot(&self, n: &Node) -> TokenStream {
        let (kr, a) = (&self.kr, node_ident(n.args[0]));
        let (l, c, first) = self.resized(n);
        quote!(#kr::ops::onehot::<T, _, #c>(#l, #a)#first)
    }

    /// `extract` (the node's length of the argument's entries from `start`) or `extract_t` (zeros
    /// of the node's length, the argument placed at `start`): the runtime function `func`.
    fn extract(&self, n: &Node, func: Ident, start: Start) -> TokenStream {
        let (kr, nt) = (&self.kr, self.nt());
        let (l, c, first) = self.resized(n);
        let entries = self.entries(n.args[0]);
        let start = match start {
            Start::At(m) => {
                let m = Literal::usize_unsuffixed(m);
                quote!(::core::option::Option::Some(#m))
            }
            Start::Tail => quote!(::core::option::Option::None),
        };
        quote!(#kr::ops::#func::<#nt, _, #c>(#l, #entries, #start)#first)
    }

    /// A scalar repeated over the node's shape.
    fn broadcast(&self, n: &Node) -> TokenStream {
        let (kr, nt, a) = (&self.kr, self.nt(), node_ident(n.args[0]));
        match n.shape {
            Shape::Scalar => quote!(#a),
            Shape::Vector(k) => {
                let (l, c) = (len_of(k), self.cap(k));
                quote!(#kr::ops::splat::<#nt, _, #c>(#l, #a))
            }
        }
    }

    /// `[e, a, j]` of a kmin gradient: per entry, the sum over the K candidates of `e` where `a`
    /// (their indices) is `j`.
    fn kmask(&self, n: &Node, k: usize) -> TokenStream {
        let kr = &self.kr;
        let [e, a, j] = [0, 1, 2].map(|q| node_ident(n.args[q]));
        let k = Literal::usize_unsuffixed(k);
        match n.shape {
            Shape::Scalar => quote!(#kr::ops::kmask_scalar::<T, #k>(&#e, &#a, #j)),
            Shape::Vector(cl) => {
                let (l, c) = (len_of(cl), self.cap(cl));
                quote!(#kr::ops::kmask::<T, _, #c, #k>(#l, &#e, &#a, #j))
            }
        }
    }
}

/// `a op b`.
fn infix(a: &[TokenStream], op: TokenStream) -> TokenStream {
    let (x, y) = (&a[0], &a[1]);
    quote!(#x #op #y)
}
