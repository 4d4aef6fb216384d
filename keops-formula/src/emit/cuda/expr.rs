//! One node's value as C++ statements: `const T n<i> = ...;` for a scalar, `T n<i>[cap]` filled by
//! a loop over its length for a vector (a variable's or parameter's `const T* n<i>` points at its
//! data). The match over [`Op`] is exhaustive: a new operation does not compile until it says what
//! C++ it becomes (as in the Rust side's `expr.rs`).

use std::fmt::Write;

use super::{literal, node, Routine};
use crate::ir::{Node, NodeId, Role, Shape};
use crate::op::{Op, Start};

impl Routine<'_> {
    /// C++ statements computing node `i`; `outer` is the role of the output rows.
    pub(super) fn stmt(&self, i: NodeId, outer: Role) -> String {
        let n = &self.f.nodes[i];
        let id = &node(i);
        match n.op {
            Op::Var(v) => self.var(id, v, outer),
            Op::Param(p) => match self.f.params[p].shape {
                Shape::Scalar => format!("const T {id} = par{p}[0];"),
                Shape::Vector(_) => format!("const T* {id} = par{p};"),
            },
            Op::Const(c) => format!("const T {id} = {};", literal(c.0)),
            Op::Index(role) => {
                let idx = if role == outer { "oc" } else { "(t0 + jj)" };
                format!("const T {id} = (T){idx};")
            }
            Op::KMask(kk) => self.kmask(n, id, kk),
            Op::Neg => self.entrywise(n, id, |a| format!("(-{})", a[0])),
            Op::Add => self.entrywise(n, id, |a| infix(a, "+")),
            Op::Sub => self.entrywise(n, id, |a| infix(a, "-")),
            Op::Mul => self.entrywise(n, id, |a| infix(a, "*")),
            Op::Div => self.entrywise(n, id, |a| infix(a, "/")),
            Op::Exp => self.call(n, id, "exp"),
            Op::Log => self.call(n, id, "log"),
            Op::Sqrt => self.call(n, id, "sqrt"),
            Op::Rsqrt => self.call(n, id, "keops_rsqrt"),
            Op::Inv => self.entrywise(n, id, |a| format!("(T(1) / {})", a[0])),
            Op::Square => self.entrywise(n, id, |a| format!("({0} * {0})", a[0])),
            Op::Abs => self.call(n, id, "fabs"),
            Op::Sign => self.call(n, id, "keops_sign"),
            Op::Step => self.call(n, id, "keops_step"),
            Op::Relu => self.call(n, id, "keops_relu"),
            Op::Sin => self.call(n, id, "sin"),
            Op::Cos => self.call(n, id, "cos"),
            Op::Pow(p) => self.entrywise(n, id, |a| format!("keops_powi({}, {p})", a[0])),
            Op::Powf => self.call(n, id, "pow"),
            Op::Min => self.call(n, id, "fmin"),
            Op::Max => self.call(n, id, "fmax"),
            Op::Clamp => self.call(n, id, "keops_clamp"),
            Op::IfElse => self.call(n, id, "keops_ifelse"),
            Op::XLogX => self.call(n, id, "keops_xlogx"),
            Op::Asin => self.call(n, id, "asin"),
            Op::Acos => self.call(n, id, "acos"),
            Op::Atan => self.call(n, id, "atan"),
            Op::Atan2 => self.call(n, id, "atan2"),
            Op::SinXDivX => self.call(n, id, "keops_sinxdivx"),
            Op::ClampInt(lo, hi) => self.entrywise(n, id, |a| {
                format!("keops_clamp({}, T({lo}), T({hi}))", a[0])
            }),
            Op::Round(d) => self.entrywise(n, id, |a| {
                let scale = literal(crate::op::round_scale(d));
                format!("keops_round({}, {scale})", a[0])
            }),
            Op::Floor => self.call(n, id, "floor"),
            Op::Mod => self.call(n, id, "keops_mod"),
            Op::Equal => self.entrywise(n, id, |a| compare(a, "==")),
            Op::NotEqual => self.entrywise(n, id, |a| compare(a, "!=")),
            Op::LessThan => self.entrywise(n, id, |a| compare(a, "<")),
            Op::LessOrEqual => self.entrywise(n, id, |a| compare(a, "<=")),
            Op::GreaterThan => self.entrywise(n, id, |a| compare(a, ">")),
            Op::GreaterOrEqual => self.entrywise(n, id, |a| compare(a, ">=")),
            Op::SqNorm => self.to_scalar(n, id, |a| format!("{a} * {a}"), square, |s| s),
            Op::Norm => self.to_scalar(
                n,
                id,
                |a| format!("fabs({a})"),
                square,
                |s| format!("sqrt({s})"),
            ),
            Op::Sum => self.to_scalar(n, id, |a| a, |a| a, |s| s),
            Op::Normalize => self.normalize(n, id),
            Op::Dot => self.pair_to_scalar(n, id, |a, b| format!("{a} * {b}")),
            Op::SqDist => self.pair_to_scalar(n, id, |a, b| format!("({a} - {b}) * ({a} - {b})")),
            Op::Elem(idx) => {
                let a = n.args[0];
                match self.f.nodes[a].shape {
                    Shape::Scalar => format!("const T {id} = {};", node(a)),
                    Shape::Vector(_) => format!("const T {id} = {}[{idx}];", node(a)),
                }
            }
            Op::Concat => self.concat(n, id),
            Op::VecMin => self.vec_extremum(n, id, "<", false),
            Op::VecMax => self.vec_extremum(n, id, ">", false),
            Op::VecArgMin => self.vec_extremum(n, id, "<", true),
            Op::VecArgMax => self.vec_extremum(n, id, ">", true),
            Op::OneHot => self.onehot(n, id),
            Op::Extract(s) => self.extract(n, id, s),
            Op::ExtractT(s) => self.extract_t(n, id, s),
            Op::Broadcast => match n.shape {
                Shape::Scalar => format!("const T {id} = {};", node(n.args[0])),
                Shape::Vector(k) => format!(
                    "T {id}[{}]; for (int k = 0; k < {}; ++k) {id}[k] = {};",
                    self.cap(k),
                    self.len(k),
                    node(n.args[0])
                ),
            },
            Op::TensorDot(t) => self.tensordot_stmt(n, id, t),
        }
    }

    /// Reference to node `a` at entry `k` (a scalar broadcasts).
    pub(super) fn at(&self, a: NodeId, k: &str) -> String {
        match self.f.nodes[a].shape {
            Shape::Scalar => node(a),
            Shape::Vector(_) => format!("{}[{k}]", node(a)),
        }
    }

    /// Variable `v`: the output row's entries in global memory, the reduction index's in this
    /// tile's shared memory.
    fn var(&self, id: &str, v: usize, outer: Role) -> String {
        let var = &self.f.vars[v];
        let (data, row) = if var.role == outer {
            (format!("var{v}"), "oc")
        } else {
            (format!("sh{v}"), "jj")
        };
        match var.shape {
            Shape::Scalar => format!("const T {id} = {data}[{row}];"),
            Shape::Vector(k) => format!("const T* {id} = {data} + {row} * {};", self.len(k)),
        }
    }

    /// An entrywise operation: `scalar` of the arguments' locals for a scalar node, else of their
    /// entries `k` in a loop (scalar arguments broadcast).
    fn entrywise(&self, n: &Node, id: &str, scalar: impl FnOnce(&[String]) -> String) -> String {
        match n.shape {
            Shape::Scalar => {
                let a: Vec<String> = n.args.iter().map(|&a| node(a)).collect();
                format!("const T {id} = {};", scalar(&a))
            }
            Shape::Vector(k) => {
                let a: Vec<String> = n.args.iter().map(|&a| self.at(a, "k")).collect();
                format!(
                    "T {id}[{}]; for (int k = 0; k < {}; ++k) {id}[k] = {};",
                    self.cap(k),
                    self.len(k),
                    scalar(&a)
                )
            }
        }
    }

    /// An entrywise function, of the prelude or the CUDA math library.
    fn call(&self, n: &Node, id: &str, name: &str) -> String {
        self.entrywise(n, id, |a| format!("{name}({})", a.join(", ")))
    }

    /// `T <id>_s`: the sum of `term` over the entries `k` of class `k`'s length.
    fn entry_sum(&self, id: &str, k: usize, term: &str) -> String {
        let l = self.len(k);
        format!("T {id}_s = T(0); for (int k = 0; k < {l}; ++k) {id}_s += {term};")
    }

    /// A scalar from the entries of the argument: `finish` of the sum of `term(entry)`, or
    /// `scalar` of a scalar argument.
    fn to_scalar(
        &self,
        n: &Node,
        id: &str,
        scalar: impl FnOnce(String) -> String,
        term: impl FnOnce(String) -> String,
        finish: impl FnOnce(String) -> String,
    ) -> String {
        let a = node(n.args[0]);
        match self.f.nodes[n.args[0]].shape {
            Shape::Scalar => format!("const T {id} = {};", scalar(a)),
            Shape::Vector(k) => format!(
                "{} const T {id} = {};",
                self.entry_sum(id, k, &term(format!("{a}[k]"))),
                finish(format!("{id}_s"))
            ),
        }
    }

    /// A scalar from two arguments of one dimension: the sum of `term` over their entries.
    fn pair_to_scalar(&self, n: &Node, id: &str, term: impl Fn(&str, &str) -> String) -> String {
        let (a, b) = (node(n.args[0]), node(n.args[1]));
        match self.f.nodes[n.args[0]].shape {
            Shape::Scalar => format!("const T {id} = {};", term(&a, &b)),
            Shape::Vector(k) => {
                let term = term(&format!("{a}[k]"), &format!("{b}[k]"));
                format!("{} const T {id} = {id}_s;", self.entry_sum(id, k, &term))
            }
        }
    }

    /// The argument divided by its norm.
    fn normalize(&self, n: &Node, id: &str) -> String {
        let a = node(n.args[0]);
        let Shape::Vector(k) = self.f.nodes[n.args[0]].shape else {
            return format!("const T {id} = {a} * keops_rsqrt({a} * {a});");
        };
        format!(
            "{} const T {id}_r = keops_rsqrt({id}_s); T {id}[{}]; for (int k = 0; k < {}; ++k) {id}[k] = {a}[k] * {id}_r;",
            self.entry_sum(id, k, &format!("{a}[k] * {a}[k]")),
            self.cap(k),
            self.len(k)
        )
    }

    /// The arguments' entries one after the other.
    fn concat(&self, n: &Node, id: &str) -> String {
        let Shape::Vector(k) = n.shape else {
            unreachable!("concat is a vector")
        };
        let mut s = format!("T {id}[{}]; int {id}_o = 0;", self.cap(k));
        for &a in &n.args {
            match self.f.nodes[a].shape {
                Shape::Scalar => {
                    let _ = write!(s, " {id}[{id}_o++] = {};", node(a));
                }
                Shape::Vector(ak) => {
                    let _ = write!(
                        s,
                        " for (int k = 0; k < {}; ++k) {id}[{id}_o++] = {}[k];",
                        self.len(ak),
                        node(a)
                    );
                }
            }
        }
        s
    }

    /// The smallest (`cmp` `<`) or largest (`>`) entry, or its index (`arg`). KeOps' loop: from
    /// entry 0, replaced by a strictly smaller (larger) entry; a scalar is its own extremum, at 0.
    fn vec_extremum(&self, n: &Node, id: &str, cmp: &str, arg: bool) -> String {
        let a = node(n.args[0]);
        let Shape::Vector(k) = self.f.nodes[n.args[0]].shape else {
            return if arg {
                format!("const T {id} = T(0);")
            } else {
                format!("const T {id} = {a};")
            };
        };
        let l = self.len(k);
        if arg {
            format!(
                "T {id}_m = {a}[0]; int {id}_k = 0; for (int k = 1; k < {l}; ++k) if ({a}[k] {cmp} {id}_m) {{ {id}_m = {a}[k]; {id}_k = k; }} const T {id} = T({id}_k);"
            )
        } else {
            format!(
                "T {id}_m = {a}[0]; for (int k = 1; k < {l}; ++k) if ({a}[k] {cmp} {id}_m) {id}_m = {a}[k]; const T {id} = {id}_m;"
            )
        }
    }

    /// The length of the argument (`None` for a scalar).
    fn arg_len(&self, n: &Node) -> Option<String> {
        match self.f.nodes[n.args[0]].shape {
            Shape::Scalar => None,
            Shape::Vector(k) => Some(self.len(k)),
        }
    }

    /// A 1 at the index the argument rounds to, zeros elsewhere.
    fn onehot(&self, n: &Node, id: &str) -> String {
        let a = node(n.args[0]);
        let Shape::Vector(k) = n.shape else {
            return format!("const T {id} = keops_onehot_index({a}, 1) == 0 ? T(1) : T(0);");
        };
        let (lo, cap) = (self.len(k), self.cap(k));
        format!(
            "const int {id}_i = keops_onehot_index({a}, {lo}); T {id}[{cap}]; for (int k = 0; k < {lo}; ++k) {id}[k] = k == {id}_i ? T(1) : T(0);"
        )
    }

    /// The node's length of the argument's entries from `start`.
    fn extract(&self, n: &Node, id: &str, start: Start) -> String {
        let a = node(n.args[0]);
        let la = self.arg_len(n);
        let Shape::Vector(k) = n.shape else {
            return match (start, la) {
                (_, None) => format!("const T {id} = {a};"),
                (Start::At(m), Some(_)) => format!("const T {id} = {a}[{m}];"),
                (Start::Tail, Some(la)) => format!("const T {id} = {a}[({la} - 1)];"),
            };
        };
        let (lo, cap) = (self.len(k), self.cap(k));
        let st = match start {
            Start::At(m) => m.to_string(),
            Start::Tail => format!("({} - {lo})", la.as_deref().unwrap_or("1")),
        };
        format!("T {id}[{cap}]; for (int k = 0; k < {lo}; ++k) {id}[k] = {a}[{st} + k];")
    }

    /// Zeros of the node's length, the argument placed at `start`.
    fn extract_t(&self, n: &Node, id: &str, start: Start) -> String {
        let a = node(n.args[0]);
        let la = self.arg_len(n);
        let Shape::Vector(k) = n.shape else {
            return format!("const T {id} = {a};");
        };
        let (lo, cap) = (self.len(k), self.cap(k));
        let st = match start {
            Start::At(m) => m.to_string(),
            Start::Tail => format!("({lo} - {})", la.as_deref().unwrap_or("1")),
        };
        let place = match &la {
            None => format!("{id}[{st}] = {a};"),
            Some(la) => format!("for (int k = 0; k < {la}; ++k) {id}[{st} + k] = {a}[k];"),
        };
        format!("T {id}[{cap}]; for (int k = 0; k < {lo}; ++k) {id}[k] = T(0); {place}")
    }

    /// `[e, a, j]` of a kmin gradient: per entry, the sum over the K candidates `q` of `e` where
    /// `a` (their indices) is `j`.
    fn kmask(&self, n: &Node, id: &str, kk: usize) -> String {
        let (e, a, j) = (node(n.args[0]), node(n.args[1]), node(n.args[2]));
        match n.shape {
            Shape::Scalar => format!(
                "T {id} = T(0); for (int q = 0; q < {kk}; ++q) if ({a}[q] == {j}) {id} += {e}[q];"
            ),
            Shape::Vector(k) => {
                let d = self.len(k);
                format!(
                    "T {id}[{}]; for (int k = 0; k < {d}; ++k) {{ {id}[k] = T(0); for (int q = 0; q < {kk}; ++q) if ({a}[q * {d} + k] == {j}) {id}[k] += {e}[q * {d} + k]; }}",
                    self.cap(k)
                )
            }
        }
    }
}

/// `(a op b)`.
fn infix(a: &[String], op: &str) -> String {
    format!("({} {op} {})", a[0], a[1])
}

/// 1 where `a op b` holds, else 0.
fn compare(a: &[String], op: &str) -> String {
    format!("({} {op} {} ? T(1) : T(0))", a[0], a[1])
}

/// The square of an entry.
fn square(x: String) -> String {
    format!("{x} * {x}")
}
