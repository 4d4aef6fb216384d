//! Symbolic differentiation on the IR being built: `grad(F, v, e)` is the vector-Jacobian product
//! `d<e, F>/dv`, built in reverse topological order from F down to v (KeOps' `Grad`). Each
//! operation's rule ([`Builder::local_vjp`]) gives the adjoint of an argument from the adjoint `g`
//! of its result; adjoints reaching one node are added; a scalar argument broadcast against a
//! vector receives the sum of its adjoint's entries. The result is ordinary IR, so it is
//! simplified, hoisted, emitted for the CPU and for CUDA, and differentiated again, like any
//! formula.
//!
//! The rules build nodes in a fixed order: the IR (and the generated code) depends on it.

use crate::lower::{Builder, RShape};
use crate::op::{Const, Op, Start};

/// Entrywise arithmetic, with KeOps broadcasting: the building blocks of the rules.
impl Builder<'_> {
    /// An entrywise node with KeOps broadcasting.
    fn ew(&mut self, op: Op, args: Vec<usize>) -> usize {
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

    fn konst(&mut self, v: f64) -> usize {
        self.mk(Op::Const(Const(v)), vec![], RShape::Scalar)
    }

    fn add(&mut self, a: usize, b: usize) -> usize {
        self.ew(Op::Add, vec![a, b])
    }
    fn sub(&mut self, a: usize, b: usize) -> usize {
        self.ew(Op::Sub, vec![a, b])
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
    /// `g * op(a)`: the chain rule through a function whose derivative is `op`.
    fn times(&mut self, g: usize, op: Op, a: usize) -> usize {
        let d = self.un(op, a);
        self.mul(g, d)
    }

    /// `<a, b>`: a dot product of vectors, a product otherwise.
    fn dot(&mut self, a: usize, b: usize) -> usize {
        match (self.shape(a), self.shape(b)) {
            (RShape::Vec(_), RShape::Vec(_)) => self.mk(Op::Dot, vec![a, b], RShape::Scalar),
            _ => self.mul(a, b),
        }
    }

    /// `g` with the shape `to`: a vector adjoint of a scalar broadcast against it is summed, a
    /// scalar adjoint of a vector is broadcast to it.
    fn fit(&mut self, g: usize, to: RShape) -> usize {
        match (self.shape(g), to) {
            (RShape::Vec(_), RShape::Scalar) => self.mk(Op::Sum, vec![g], RShape::Scalar),
            (RShape::Scalar, RShape::Vec(_)) => self.mk(Op::Broadcast, vec![g], to),
            (RShape::Vec(a), RShape::Vec(b)) => {
                self.merge(a, b);
                g
            }
            (RShape::Scalar, RShape::Scalar) => g,
        }
    }
}

impl Builder<'_> {
    /// `d<e, F>/dv` for the nodes `f` (F), `v` (a variable or parameter) and `e` (F's shape, or a
    /// scalar that stands for that value in every entry). A node of `v`'s shape.
    pub(crate) fn vjp(&mut self, f: usize, v: usize, e: usize) -> usize {
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
            dep[i] = self.args_of(i).iter().any(|&a| dep[a]);
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
            let args = self.args_of(i).to_vec();
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

    /// The adjoint that argument `k` of node `y` receives from the adjoint `g` of `y` (before
    /// [`fit`](Self::fit)); `None` where the derivative is zero. Every operation is listed: a new
    /// one must say what its derivative is.
    fn local_vjp(&mut self, y: usize, k: usize, g: usize) -> Option<usize> {
        use Op::*;
        let op = self.op_of(y);
        let args = self.args_of(y).to_vec();
        let a = args[0];
        let b = args.get(1).copied();
        Some(match op {
            Var(_) | Param(_) | Const(_) | Index(_) => return None,
            // Piecewise constant: zero almost everywhere (KeOps' convention too).
            Sign | Step | Floor | Round(_) | Equal | NotEqual | LessThan | LessOrEqual
            | GreaterThan | GreaterOrEqual | VecArgMin | VecArgMax | OneHot | KMask(_) => {
                return None
            }
            Neg => self.neg(g),
            Add | Sum => g,
            Sub if k == 0 => g,
            Sub => self.neg(g),
            Mul | Dot => {
                let other = if k == 0 { b? } else { a };
                self.mul(g, other)
            }
            Div => self.d_div(k, y, b?, g),
            Exp => self.mul(g, y),
            Log => self.div(g, a),
            Sqrt => {
                let t = self.scale(0.5, g);
                self.div(t, y)
            }
            Rsqrt => self.d_rsqrt(y, g),
            Inv => {
                let t = self.times(g, Square, y);
                self.neg(t)
            }
            Square | SqNorm => {
                let t = self.mul(g, a);
                self.scale(2.0, t)
            }
            Abs => self.times(g, Sign, a),
            Relu => self.times(g, Step, a),
            Sin => self.times(g, Cos, a),
            Cos => {
                let t = self.times(g, Sin, a);
                self.neg(t)
            }
            Pow(n) => self.d_pow(n, a, g)?,
            Powf => self.d_powf(k, y, a, b?, g),
            Min | Max => self.d_min_max(op == Min, k, a, b?, g),
            Clamp => self.d_clamp(k, a, b?, args[2], g),
            ClampInt(lo, hi) => self.d_clampint(lo, hi, a, g),
            IfElse => self.d_ifelse(k, a, g)?,
            Mod => self.d_mod(k, a, b?, args[2], g)?,
            XLogX => self.d_xlogx(a, g),
            Asin | Acos => self.d_arcsin(op == Acos, a, g),
            Atan => self.d_atan(a, g),
            Atan2 => self.d_atan2(k, a, b?, g),
            SinXDivX => {
                // (cos x - sin x / x) / x
                let c = self.un(Cos, a);
                let d = self.sub(c, y);
                let t = self.div(d, a);
                self.mul(g, t)
            }
            Norm => {
                let nz = self.mk(Normalize, vec![a], self.shape(a));
                self.mul(g, nz)
            }
            SqDist => {
                let d = self.sub(a, b?);
                let t = self.mul(g, d);
                self.scale(if k == 0 { 2.0 } else { -2.0 }, t)
            }
            Normalize => self.d_normalize(a, g),
            Elem(idx) => match self.shape(a) {
                RShape::Scalar => g,
                sa => self.mk(ExtractT(Start::At(idx)), vec![g], sa),
            },
            Concat => {
                let sa = self.shape(args[k]);
                let start = if k == 0 { Start::At(0) } else { Start::Tail };
                self.mk(Extract(start), vec![g], sa)
            }
            VecMin | VecMax => self.d_vec_min_max(op == VecMin, a, g),
            Broadcast => self.mk(Sum, vec![g], RShape::Scalar),
            Extract(start) => self.mk(ExtractT(start), vec![g], self.shape(a)),
            ExtractT(start) => self.mk(Extract(start), vec![g], self.shape(a)),
            TensorDot(t) => self.d_tensordot(t, k, &args, g),
        })
    }
}

/// The rules longer than a line, named by their operation (`y` is the node's value, `g` its
/// adjoint, `k` the argument differentiated).
impl Builder<'_> {
    /// `d(a/b)/da = 1/b`, `d(a/b)/db = -(a/b)/b`.
    fn d_div(&mut self, k: usize, y: usize, b: usize, g: usize) -> usize {
        if k == 0 {
            return self.div(g, b);
        }
        let t = self.mul(g, y);
        let t = self.div(t, b);
        self.neg(t)
    }

    /// `d a^{-1/2} = -1/2 a^{-3/2} = -1/2 rsqrt(a)^3`.
    fn d_rsqrt(&mut self, y: usize, g: usize) -> usize {
        let c = self.un(Op::Pow(3), y);
        let t = self.mul(g, c);
        self.scale(-0.5, t)
    }

    /// `d a^n = n a^(n-1)`; `None` (zero) for `n = 0`.
    fn d_pow(&mut self, n: i32, a: usize, g: usize) -> Option<usize> {
        if n == 0 {
            return None;
        }
        let p = if n == 2 {
            a
        } else {
            self.un(Op::Pow(n - 1), a)
        };
        let t = self.mul(g, p);
        Some(self.scale(f64::from(n), t))
    }

    /// `d a^b / da = b a^(b-1)`, `d a^b / db = a^b log a`.
    fn d_powf(&mut self, k: usize, y: usize, a: usize, b: usize, g: usize) -> usize {
        if k == 0 {
            let one = self.konst(1.0);
            let bm1 = self.sub(b, one);
            let p = self.ew(Op::Powf, vec![a, bm1]);
            let t = self.mul(p, b);
            return self.mul(g, t);
        }
        let l = self.un(Op::Log, a);
        let t = self.mul(y, l);
        self.mul(g, t)
    }

    /// `min(x, y)`, `max(x, y)`: the argument the result is gets `g`, the first on ties.
    fn d_min_max(&mut self, is_min: bool, k: usize, x: usize, y: usize, g: usize) -> usize {
        let test = match (is_min, k) {
            (true, 0) => Op::LessOrEqual,
            (true, _) => Op::GreaterThan,
            (false, 0) => Op::GreaterOrEqual,
            (false, _) => Op::LessThan,
        };
        let c = self.ew(test, vec![x, y]);
        self.mul(g, c)
    }

    /// `clamp(x, lo, hi)`: lo if x < lo, hi if x > hi, else x.
    fn d_clamp(&mut self, k: usize, x: usize, lo: usize, hi: usize, g: usize) -> usize {
        let c = match k {
            0 => {
                let c1 = self.ew(Op::GreaterOrEqual, vec![x, lo]);
                let c2 = self.ew(Op::LessOrEqual, vec![x, hi]);
                self.mul(c1, c2)
            }
            1 => self.ew(Op::LessThan, vec![x, lo]),
            _ => {
                let c1 = self.ew(Op::GreaterThan, vec![x, hi]);
                let c2 = self.ew(Op::GreaterOrEqual, vec![x, lo]);
                self.mul(c1, c2)
            }
        };
        self.mul(g, c)
    }

    /// `clampint(a, lo, hi)`: `g` where `lo <= a <= hi`.
    fn d_clampint(&mut self, lo: i32, hi: i32, a: usize, g: usize) -> usize {
        let (lo, hi) = (self.konst(lo.into()), self.konst(hi.into()));
        let c1 = self.ew(Op::GreaterOrEqual, vec![a, lo]);
        let c2 = self.ew(Op::LessOrEqual, vec![a, hi]);
        let c = self.mul(c1, c2);
        self.mul(g, c)
    }

    /// `ifelse(c, x, y)`: x where c >= 0, else y; c gets nothing.
    fn d_ifelse(&mut self, k: usize, c: usize, g: usize) -> Option<usize> {
        let zero = self.konst(0.0);
        let test = match k {
            0 => return None,
            1 => Op::GreaterOrEqual,
            _ => Op::LessThan,
        };
        let t = self.ew(test, vec![c, zero]);
        Some(self.mul(g, t))
    }

    /// `f - m floor((f - off) / m)`: 1 for f, -floor(..) for m, 0 for the offset.
    fn d_mod(&mut self, k: usize, f: usize, m: usize, off: usize, g: usize) -> Option<usize> {
        match k {
            0 => Some(g),
            1 => {
                let d = self.sub(f, off);
                let q = self.div(d, m);
                let fl = self.un(Op::Floor, q);
                let t = self.mul(g, fl);
                Some(self.neg(t))
            }
            _ => None,
        }
    }

    /// `d (x log x) = log x + 1`.
    fn d_xlogx(&mut self, a: usize, g: usize) -> usize {
        let l = self.un(Op::Log, a);
        let one = self.konst(1.0);
        let t = self.add(l, one);
        self.mul(g, t)
    }

    /// `d asin a = 1 / sqrt(1 - a^2)`, `d acos a` its opposite.
    fn d_arcsin(&mut self, is_acos: bool, a: usize, g: usize) -> usize {
        let one = self.konst(1.0);
        let sq = self.un(Op::Square, a);
        let d = self.sub(one, sq);
        let r = self.un(Op::Sqrt, d);
        let t = self.div(g, r);
        if is_acos {
            self.neg(t)
        } else {
            t
        }
    }

    /// `d atan a = 1 / (1 + a^2)`.
    fn d_atan(&mut self, a: usize, g: usize) -> usize {
        let one = self.konst(1.0);
        let sq = self.un(Op::Square, a);
        let d = self.add(one, sq);
        self.div(g, d)
    }

    /// `atan2(y, x)`: dy = x / (x^2 + y^2), dx = -y / (x^2 + y^2).
    fn d_atan2(&mut self, k: usize, y: usize, x: usize, g: usize) -> usize {
        let (sx, sy) = (self.un(Op::Square, x), self.un(Op::Square, y));
        let r2 = self.add(sx, sy);
        let num = if k == 0 { x } else { self.neg(y) };
        let t = self.mul(g, num);
        self.div(t, r2)
    }

    /// `normalize(x) = x r` with `r = rsqrt(|x|^2)`: `g r - x (x.g) r^3`.
    fn d_normalize(&mut self, a: usize, g: usize) -> usize {
        let sq = self.mk(Op::SqNorm, vec![a], RShape::Scalar);
        let r = self.un(Op::Rsqrt, sq);
        let gr = self.mul(g, r);
        let xg = self.dot(a, g);
        let r3 = self.un(Op::Pow(3), r);
        let c = self.mul(xg, r3);
        let t = self.mul(a, c);
        self.sub(gr, t)
    }

    /// `min(a)`, `max(a)`: `g` at the entry the extremum is (`onehot` of its arg).
    fn d_vec_min_max(&mut self, is_min: bool, a: usize, g: usize) -> usize {
        let sa = self.shape(a);
        if sa == RShape::Scalar {
            return g;
        }
        let arg = if is_min { Op::VecArgMin } else { Op::VecArgMax };
        let am = self.mk(arg, vec![a], RShape::Scalar);
        let oh = self.mk(Op::OneHot, vec![am], sa);
        self.mul(g, oh)
    }

    /// A contraction is linear in each operand: the adjoint is the contraction of `g` with the
    /// other operand ([`TensorSpec::grad_a`](crate::tensor::TensorSpec::grad_a), `grad_b`).
    fn d_tensordot(&mut self, t: usize, k: usize, args: &[usize], g: usize) -> usize {
        let spec = self.tensor_spec(t);
        let (gspec, other) = if k == 0 {
            (spec.grad_a(), args[1])
        } else {
            (spec.grad_b(), args[0])
        };
        let sa = self.shape(args[k]);
        let id = self.tensor(gspec);
        self.mk(Op::TensorDot(id), vec![g, other], sa)
    }
}
