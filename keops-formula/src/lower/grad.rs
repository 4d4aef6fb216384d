//! Symbolic differentiation on the IR being built: `grad(F, v, e)` is the vector-Jacobian product
//! `d<e, F>/dv`, built in reverse topological order from F down to v (KeOps' `Grad`). Each
//! operation's rule gives the adjoint of an argument from the adjoint `g` of its result; adjoints
//! reaching one node are added; a scalar argument broadcast against a vector receives the sum of its
//! adjoint's entries. The result is ordinary IR, so it is simplified, hoisted, emitted for the CPU
//! and for CUDA, and differentiated again, like any formula.

use super::*;

impl Builder<'_> {
    /// Merges two classes known to be compatible (checked by [`unify`](Self::unify), or from a
    /// checked formula): the first one's root represents both.
    pub(super) fn merge(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[rb] = ra;
            let moved = std::mem::take(&mut self.classes[rb].concats);
            self.classes[ra].concats.extend(moved);
            if self.classes[ra].fixed.is_none() {
                self.classes[ra].fixed = self.classes[rb].fixed;
                self.classes[ra].fixed_by = self.classes[rb].fixed_by.clone();
                self.classes[ra].fixed_by_call = self.classes[rb].fixed_by_call;
            }
        }
    }

    /// An entrywise node with KeOps broadcasting.
    pub(super) fn ew(&mut self, op: Op, args: Vec<usize>) -> usize {
        let mut out = RShape::Scalar;
        for &a in &args {
            if let RShape::Vec(c) = self.shape(a) {
                match out {
                    RShape::Scalar => out = RShape::Vec(c),
                    RShape::Vec(o) => self.merge(o, c),
                }
            }
        }
        self.mk(op, args, out)
    }

    pub(super) fn konst(&mut self, v: f64) -> usize {
        self.mk(Op::Const(Const(v)), vec![], RShape::Scalar)
    }

    fn add(&mut self, a: usize, b: usize) -> usize {
        self.ew(Op::Add, vec![a, b])
    }
    fn mul(&mut self, a: usize, b: usize) -> usize {
        self.ew(Op::Mul, vec![a, b])
    }
    fn div(&mut self, a: usize, b: usize) -> usize {
        self.ew(Op::Div, vec![a, b])
    }
    fn neg(&mut self, a: usize) -> usize {
        self.ew(Op::Neg, vec![a])
    }
    fn un(&mut self, op: Op, a: usize) -> usize {
        self.ew(op, vec![a])
    }
    /// `c * a` for a constant `c`.
    fn scale(&mut self, c: f64, a: usize) -> usize {
        let c = self.konst(c);
        self.mul(c, a)
    }

    /// `g` with the shape `to`: a vector adjoint of a scalar broadcast against it is summed, a
    /// scalar adjoint of a vector is broadcast to it.
    pub(super) fn fit(&mut self, g: usize, to: RShape) -> usize {
        match (self.shape(g), to) {
            (RShape::Vec(_), RShape::Scalar) => self.mk(Op::Sum, vec![g], RShape::Scalar),
            (RShape::Scalar, RShape::Vec(_)) => self.mk(Op::Broadcast, vec![g], to),
            (RShape::Vec(a), RShape::Vec(b)) => {
                self.merge(a, b);
                g
            }
            _ => g,
        }
    }

    /// `d<e, F>/dv` for the nodes `f` (F), `v` (a variable or parameter) and `e` (F's shape, or a
    /// scalar that stands for that value in every entry). A node of `v`'s shape.
    pub(super) fn vjp(&mut self, f: usize, v: usize, e: usize) -> usize {
        let zero_of_v = |b: &mut Self| {
            let z = b.konst(0.0);
            let s = b.shape(v);
            b.fit(z, s)
        };
        if v > f {
            return zero_of_v(self);
        }
        let mut dep = vec![false; f + 1];
        dep[v] = true;
        for i in v + 1..=f {
            dep[i] = self.nodes[i].args.iter().any(|&a| dep[a]);
        }
        if !dep[f] {
            return zero_of_v(self);
        }
        let mut adj: Vec<Option<usize>> = vec![None; f + 1];
        let sf = self.shape(f);
        adj[f] = Some(self.fit(e, sf));
        for i in (v + 1..=f).rev() {
            let (Some(g), true) = (adj[i], dep[i]) else {
                continue;
            };
            let args = self.nodes[i].args.clone();
            for (k, &a) in args.iter().enumerate() {
                if !dep[a] {
                    continue;
                }
                if let Some(c) = self.local_vjp(i, k, g) {
                    let sa = self.shape(a);
                    let c = self.fit(c, sa);
                    adj[a] = Some(match adj[a] {
                        Some(x) => self.add(x, c),
                        None => c,
                    });
                }
            }
        }
        match adj[v] {
            Some(x) => x,
            None => zero_of_v(self),
        }
    }

    /// The adjoint that argument `k` of node `i` receives from the adjoint `g` of `i` (before
    /// [`fit`](Self::fit)); `None` where the derivative is zero.
    fn local_vjp(&mut self, i: usize, k: usize, g: usize) -> Option<usize> {
        let op = self.nodes[i].op;
        let args = self.nodes[i].args.clone();
        let a = args[0];
        let b = args.get(1).copied();
        let cmp = |s: &mut Self, op: Op, x: usize, y: usize| s.ew(op, vec![x, y]);
        Some(match op {
            Op::Var(_) | Op::Param(_) | Op::Const(_) | Op::Index(_) => return None,
            // Piecewise constant: zero almost everywhere (KeOps' convention too).
            Op::Sign
            | Op::Step
            | Op::Floor
            | Op::Round(_)
            | Op::Equal
            | Op::NotEqual
            | Op::LessThan
            | Op::LessOrEqual
            | Op::GreaterThan
            | Op::GreaterOrEqual
            | Op::VecArgMin
            | Op::VecArgMax
            | Op::OneHot
            | Op::KMask(_) => return None,
            Op::Neg => self.neg(g),
            Op::Add => g,
            Op::Sub if k == 0 => g,
            Op::Sub => self.neg(g),
            Op::Mul => {
                let other = if k == 0 { b? } else { a };
                self.mul(g, other)
            }
            Op::Div if k == 0 => self.div(g, b?),
            Op::Div => {
                // d(a/b)/db = -(a/b)/b
                let t = self.mul(g, i);
                let t = self.div(t, b?);
                self.neg(t)
            }
            Op::Exp => self.mul(g, i),
            Op::Log => self.div(g, a),
            Op::Sqrt => {
                let t = self.scale(0.5, g);
                self.div(t, i)
            }
            Op::Rsqrt => {
                // d a^{-1/2} = -1/2 a^{-3/2} = -1/2 rsqrt(a)^3
                let c = self.un(Op::Pow(3), i);
                let t = self.mul(g, c);
                self.scale(-0.5, t)
            }
            Op::Inv => {
                let sq = self.un(Op::Square, i);
                let t = self.mul(g, sq);
                self.neg(t)
            }
            Op::Square => {
                let t = self.mul(g, a);
                self.scale(2.0, t)
            }
            Op::Abs => {
                let s = self.un(Op::Sign, a);
                self.mul(g, s)
            }
            Op::Relu => {
                let s = self.un(Op::Step, a);
                self.mul(g, s)
            }
            Op::Sin => {
                let c = self.un(Op::Cos, a);
                self.mul(g, c)
            }
            Op::Cos => {
                let s = self.un(Op::Sin, a);
                let t = self.mul(g, s);
                self.neg(t)
            }
            Op::Pow(0) => return None,
            Op::Pow(n) => {
                let p = if n == 2 {
                    a
                } else {
                    self.un(Op::Pow(n - 1), a)
                };
                let t = self.mul(g, p);
                self.scale(f64::from(n), t)
            }
            Op::Powf if k == 0 => {
                // d a^b / da = b a^(b-1)
                let one = self.konst(1.0);
                let bm1 = self.ew(Op::Sub, vec![b?, one]);
                let p = self.ew(Op::Powf, vec![a, bm1]);
                let t = self.mul(p, b?);
                self.mul(g, t)
            }
            Op::Powf => {
                // d a^b / db = a^b log a
                let l = self.un(Op::Log, a);
                let t = self.mul(i, l);
                self.mul(g, t)
            }
            Op::Min | Op::Max => {
                // The argument the result is: the first on ties.
                let (x, y) = (a, b?);
                let c = match (op, k) {
                    (Op::Min, 0) => cmp(self, Op::LessOrEqual, x, y),
                    (Op::Min, _) => cmp(self, Op::GreaterThan, x, y),
                    (_, 0) => cmp(self, Op::GreaterOrEqual, x, y),
                    _ => cmp(self, Op::LessThan, x, y),
                };
                self.mul(g, c)
            }
            Op::Clamp => {
                // clamp(x, lo, hi): lo if x < lo, hi if x > hi, else x.
                let (x, lo, hi) = (a, b?, args[2]);
                let c = match k {
                    0 => {
                        let c1 = cmp(self, Op::GreaterOrEqual, x, lo);
                        let c2 = cmp(self, Op::LessOrEqual, x, hi);
                        self.mul(c1, c2)
                    }
                    1 => cmp(self, Op::LessThan, x, lo),
                    _ => {
                        let c1 = cmp(self, Op::GreaterThan, x, hi);
                        let c2 = cmp(self, Op::GreaterOrEqual, x, lo);
                        self.mul(c1, c2)
                    }
                };
                self.mul(g, c)
            }
            Op::ClampInt(lo, hi) => {
                let (lo, hi) = (self.konst(lo.into()), self.konst(hi.into()));
                let c1 = cmp(self, Op::GreaterOrEqual, a, lo);
                let c2 = cmp(self, Op::LessOrEqual, a, hi);
                let c = self.mul(c1, c2);
                self.mul(g, c)
            }
            Op::IfElse => {
                // ifelse(c, x, y): x where c >= 0, else y; c gets nothing.
                let zero = self.konst(0.0);
                let c = match k {
                    0 => return None,
                    1 => cmp(self, Op::GreaterOrEqual, a, zero),
                    _ => cmp(self, Op::LessThan, a, zero),
                };
                self.mul(g, c)
            }
            Op::Mod => {
                // f - m floor((f - off) / m): 1 for f, -floor(..) for m, 0 for the offset.
                match k {
                    0 => g,
                    1 => {
                        let d = self.ew(Op::Sub, vec![a, args[2]]);
                        let q = self.div(d, b?);
                        let fl = self.un(Op::Floor, q);
                        let t = self.mul(g, fl);
                        self.neg(t)
                    }
                    _ => return None,
                }
            }
            Op::XLogX => {
                let l = self.un(Op::Log, a);
                let one = self.konst(1.0);
                let t = self.add(l, one);
                self.mul(g, t)
            }
            Op::Asin | Op::Acos => {
                let one = self.konst(1.0);
                let sq = self.un(Op::Square, a);
                let d = self.ew(Op::Sub, vec![one, sq]);
                let r = self.un(Op::Sqrt, d);
                let t = self.div(g, r);
                if op == Op::Asin {
                    t
                } else {
                    self.neg(t)
                }
            }
            Op::Atan => {
                let one = self.konst(1.0);
                let sq = self.un(Op::Square, a);
                let d = self.add(one, sq);
                self.div(g, d)
            }
            Op::Atan2 => {
                // atan2(y, x): dy = x / (x^2 + y^2), dx = -y / (x^2 + y^2).
                let (y, x) = (a, b?);
                let (sx, sy) = (self.un(Op::Square, x), self.un(Op::Square, y));
                let r2 = self.add(sx, sy);
                let num = if k == 0 { x } else { self.neg(y) };
                let t = self.mul(g, num);
                self.div(t, r2)
            }
            Op::SinXDivX => {
                // (cos x - sin x / x) / x
                let c = self.un(Op::Cos, a);
                let d = self.ew(Op::Sub, vec![c, i]);
                let t = self.div(d, a);
                self.mul(g, t)
            }
            Op::SqNorm => {
                let t = self.mul(g, a);
                self.scale(2.0, t)
            }
            Op::Norm => {
                let nz = self.mk(Op::Normalize, vec![a], self.shape(a));
                self.mul(g, nz)
            }
            Op::Dot => {
                let other = if k == 0 { b? } else { a };
                self.mul(g, other)
            }
            Op::SqDist => {
                let d = self.ew(Op::Sub, vec![a, b?]);
                let t = self.mul(g, d);
                self.scale(if k == 0 { 2.0 } else { -2.0 }, t)
            }
            Op::Sum => g,
            Op::Normalize => {
                // x r with r = rsqrt(|x|^2): g r - x (x.g) r^3
                let sq = self.mk(Op::SqNorm, vec![a], RShape::Scalar);
                let r = self.un(Op::Rsqrt, sq);
                let gr = self.mul(g, r);
                let xg = self.dot(a, g);
                let r3 = self.un(Op::Pow(3), r);
                let c = self.mul(xg, r3);
                let t = self.mul(a, c);
                self.ew(Op::Sub, vec![gr, t])
            }
            Op::Elem(idx) => {
                let sa = self.shape(a);
                match sa {
                    RShape::Scalar => g,
                    RShape::Vec(_) => self.mk(Op::ExtractT(Start::At(idx)), vec![g], sa),
                }
            }
            Op::Concat => {
                let sa = self.shape(args[k]);
                let start = if k == 0 { Start::At(0) } else { Start::Tail };
                self.mk(Op::Extract(start), vec![g], sa)
            }
            Op::VecMin | Op::VecMax => {
                let sa = self.shape(a);
                if sa == RShape::Scalar {
                    g
                } else {
                    let arg = if op == Op::VecMin {
                        Op::VecArgMin
                    } else {
                        Op::VecArgMax
                    };
                    let am = self.mk(arg, vec![a], RShape::Scalar);
                    let oh = self.mk(Op::OneHot, vec![am], sa);
                    self.mul(g, oh)
                }
            }
            Op::Broadcast => self.mk(Op::Sum, vec![g], RShape::Scalar),
            Op::Extract(start) => {
                let sa = self.shape(a);
                self.mk(Op::ExtractT(start), vec![g], sa)
            }
            Op::ExtractT(start) => {
                let sa = self.shape(a);
                self.mk(Op::Extract(start), vec![g], sa)
            }
            Op::TensorDot(t) => {
                let spec = self.tensors[t].clone();
                let (gspec, other) = if k == 0 {
                    (spec.grad_a(), b?)
                } else {
                    (spec.grad_b(), a)
                };
                let sa = self.shape(args[k]);
                let id = self.tensor(gspec);
                self.mk(Op::TensorDot(id), vec![g, other], sa)
            }
        })
    }

    fn dot(&mut self, a: usize, b: usize) -> usize {
        match (self.shape(a), self.shape(b)) {
            (RShape::Vec(_), RShape::Vec(_)) => self.mk(Op::Dot, vec![a, b], RShape::Scalar),
            _ => self.mul(a, b),
        }
    }
}

impl Builder<'_> {
    /// `grad(F, v, e)` in a formula: `d<e, F>/dv`, with `v` a variable or parameter and `e` of F's
    /// shape (or a scalar, standing for that value in every entry).
    pub(super) fn grad_call(&mut self, c: &syn::ExprCall) -> Option<usize> {
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
                if self.lets.contains_key(&name) || self.pending_lets.contains(&name) {
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
            (RShape::Vec(a), RShape::Vec(b))
                if !self.unify(
                    a,
                    b,
                    args[2],
                    "F (the first argument of `grad`)",
                    "the cotangent",
                ) =>
            {
                return None;
            }
            _ => {}
        }
        Some(self.vjp(f, v, e))
    }

    /// `__keops_kmask(e, a, j, K, F)` (internal, built for gradients of `kmin_j`): see
    /// [`Op::KMask`]; `F` gives the shape.
    pub(super) fn kmask_call(&mut self, c: &syn::ExprCall) -> Option<usize> {
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
