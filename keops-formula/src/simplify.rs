//! Rewrites on the checked IR that make the generated code cheaper without changing what it means.
//!
//! [`simplify`] rebuilds the DAG bottom-up, re-interning every node so that equal sub-expressions
//! stay one node (hash-consing), and drops the nodes the root no longer uses:
//! - constant folding: an operation on constants is a constant, computed in f64 by
//!   [`Op::eval_f64`] (the runtime's definitions), when the result is finite (`log(0)` is left to
//!   run time);
//! - identities, exact in IEEE arithmetic up to the sign of a zero result (`x + 0` is `+0` at
//!   `x = -0`, `x` is `-0`; `0 - x` is `+0` at `x = 0`, `-x` is `-0`): `x + 0`, `0 + x`, `x - 0`,
//!   `x * 1`, `1 * x`, `x / 1` are
//!   `x`; `0 - x`, `x * -1`, `-1 * x`, `x / -1` are `-x`; `--x` is `x`; `a + -b` and `-b + a` are
//!   `a - b`, `a - -b` is `a + b`; `pow(x, 1)` is `x`, `pow(x, 2)` is `square(x)`, `pow(x, -1)`
//!   is `inv(x)`; `square(-x)` is `square(x)`, `abs(-x)` is `abs(x)`; `ifelse(c, a, a)`,
//!   `min(x, x)` and `max(x, x)` are their argument, `ifelse` of a constant condition its branch;
//!   `sum` and `elem(.., 0)` of a scalar are the scalar, as are `min(x)` and `max(x)`, whose
//!   `argmin(x)`, `argmax(x)` are 0; an `extract` / `extract_t` (at 0 or at the end) or a
//!   broadcast whose result has its argument's shape is the argument;
//! - `x * 0`, `0 * x` and `pow(x, 0)` are the constant 0 (resp. 1) where that is exact: when the
//!   result is a scalar (a constant node is a scalar: a vector of zeros keeps its `mul` node), and
//!   for `x * 0` when `x` is provably finite (`inf * 0` is NaN). Provably finite: data and
//!   parameters (non-finite inputs are rejected when they are bound), finite constants, and
//!   operations that keep finite values finite without overflow (`-x`, `abs`, `sin`, `cos`, `atan`,
//!   `atan2`, `min`, `max`, `clamp`, `clampint`, `floor`, `relu`, `sinxdivx`, `elem`, `concat`,
//!   `extract`, `extract_t`, broadcasts, `ifelse` of finite branches) or are bounded (`sign`,
//!   `step`, comparisons, `argmin`, `argmax`, `onehot`). The sign of a zero
//!   is not kept (`-3 * 0` is `-0`, folded to `+0`: only a division by it or `atan2` could tell);
//!   KeOps folds a product with its symbolic `Zero` whatever the other factor;
//! - canonical argument order of the commutative operations (`+ * min max dot sqdist == !=`), and
//!   `a > b` is `b < a`, `a >= b` is `b <= a`, so that `x_i * y_j` and `y_j * x_i` are one node.
//!
//! Node shapes are kept: a rewrite that would return an argument of another shape (a scalar
//! branch of an `ifelse` with a vector condition) is not made.

use std::collections::HashMap;

use crate::ir::{reachable, Formula, Node, NodeId, Shape};
use crate::op::{Const, Op, Start};

/// Simplifies `f` in place (see the module's documentation).
pub fn simplify(f: &mut Formula) {
    let mut s = Simplifier {
        f,
        nodes: Vec::new(),
        finite: Vec::new(),
        memo: HashMap::new(),
    };
    let mut map: Vec<NodeId> = Vec::with_capacity(s.f.nodes.len());
    for i in 0..s.f.nodes.len() {
        let n = &s.f.nodes[i];
        let (op, shape) = (n.op, n.shape);
        let args: Vec<NodeId> = n.args.iter().map(|&a| map[a]).collect();
        let id = s.rewrite(op, args, shape);
        map.push(id);
    }
    let roots: Vec<NodeId> = s.f.roots().map(|r| map[r]).collect();
    let nodes = std::mem::take(&mut s.nodes);
    let (nodes, roots) = compact(nodes, &roots);
    f.nodes = nodes;
    f.root = roots[0];
    f.weight = f.weight.map(|_| roots[1]);
}

struct Simplifier<'f> {
    f: &'f Formula,
    nodes: Vec<Node>,
    /// `finite[k]`: node `k` is finite whatever the (finite) inputs.
    finite: Vec<bool>,
    /// Hash-consing, the shape included: some operations' shapes are not functions of their
    /// arguments' (`onehot(f, 2)`, `onehot(f, 3)`).
    memo: HashMap<(Op, Vec<NodeId>, Shape), NodeId>,
}

impl Simplifier<'_> {
    fn konst(&self, a: NodeId) -> Option<f64> {
        match self.nodes[a].op {
            Op::Const(c) => Some(c.0),
            _ => None,
        }
    }

    fn is(&self, a: NodeId, v: f64) -> bool {
        self.konst(a) == Some(v)
    }

    fn shape(&self, a: NodeId) -> Shape {
        self.nodes[a].shape
    }

    /// The operand of a negation.
    fn negated(&self, a: NodeId) -> Option<NodeId> {
        (self.nodes[a].op == Op::Neg).then(|| self.nodes[a].args[0])
    }

    fn constant(&mut self, v: f64) -> NodeId {
        self.intern(Op::Const(Const(v)), vec![], Shape::Scalar)
    }

    /// The node computing `op(args)` (of shape `shape`), simplified.
    fn rewrite(&mut self, op: Op, args: Vec<NodeId>, shape: Shape) -> NodeId {
        // Constant folding.
        if !args.is_empty() {
            let vals: Option<Vec<f64>> = args.iter().map(|&a| self.konst(a)).collect();
            if let Some(v) = vals.and_then(|v| op.eval_f64(&v)) {
                if v.is_finite() && shape == Shape::Scalar {
                    return self.constant(v);
                }
            }
        }
        // `args[k]`, where it has the node's shape.
        let keep = |s: &Self, k: usize| (s.shape(args[k]) == shape).then_some(args[k]);
        let scalar = shape == Shape::Scalar;
        let found = match op {
            Op::Add if self.is(args[1], 0.0) => keep(self, 0),
            Op::Add if self.is(args[0], 0.0) => keep(self, 1),
            Op::Sub if self.is(args[1], 0.0) => keep(self, 0),
            Op::Mul if self.is(args[1], 1.0) => keep(self, 0),
            Op::Mul if self.is(args[0], 1.0) => keep(self, 1),
            Op::Div if self.is(args[1], 1.0) => keep(self, 0),
            Op::Mul | Op::Div if self.is(args[1], -1.0) && self.shape(args[0]) == shape => {
                Some(self.rewrite(Op::Neg, vec![args[0]], shape))
            }
            Op::Mul if self.is(args[0], -1.0) && self.shape(args[1]) == shape => {
                Some(self.rewrite(Op::Neg, vec![args[1]], shape))
            }
            Op::Sub if self.is(args[0], 0.0) && self.shape(args[1]) == shape => {
                Some(self.rewrite(Op::Neg, vec![args[1]], shape))
            }
            Op::Mul
                if scalar
                    && ((self.is(args[1], 0.0) && self.finite[args[0]])
                        || (self.is(args[0], 0.0) && self.finite[args[1]])) =>
            {
                Some(self.constant(0.0))
            }
            Op::Neg => self.negated(args[0]),
            Op::Add => match (self.negated(args[0]), self.negated(args[1])) {
                (_, Some(b)) => Some(self.rewrite(Op::Sub, vec![args[0], b], shape)),
                (Some(a), None) => Some(self.rewrite(Op::Sub, vec![args[1], a], shape)),
                _ => None,
            },
            Op::Sub => self
                .negated(args[1])
                .map(|b| self.rewrite(Op::Add, vec![args[0], b], shape)),
            Op::Pow(0) if scalar => Some(self.constant(1.0)),
            Op::Pow(1) => keep(self, 0),
            Op::Pow(2) => Some(self.rewrite(Op::Square, args.clone(), shape)),
            Op::Pow(-1) => Some(self.rewrite(Op::Inv, args.clone(), shape)),
            Op::Square | Op::Abs => self
                .negated(args[0])
                .map(|a| self.rewrite(op, vec![a], shape)),
            Op::Min | Op::Max if args[0] == args[1] => keep(self, 0),
            Op::IfElse if args[1] == args[2] => keep(self, 1),
            Op::IfElse => match self.konst(args[0]) {
                Some(c) if c >= 0.0 => keep(self, 1),
                Some(_) => keep(self, 2),
                None => None,
            },
            Op::Sum | Op::Elem(0) if self.shape(args[0]) == Shape::Scalar => Some(args[0]),
            // min, max of a scalar: itself; its argmin, argmax: 0.
            Op::VecMin | Op::VecMax if self.shape(args[0]) == Shape::Scalar => Some(args[0]),
            Op::VecArgMin | Op::VecArgMax if self.shape(args[0]) == Shape::Scalar => {
                Some(self.constant(0.0))
            }
            // All of the argument, where it has the node's shape.
            Op::Extract(Start::At(0) | Start::Tail)
            | Op::ExtractT(Start::At(0) | Start::Tail)
            | Op::Broadcast => keep(self, 0),
            _ => None,
        };
        if let Some(id) = found {
            return id;
        }
        self.intern(op, args, shape)
    }

    /// The node `op(args)`: an existing equal one, or a new one.
    fn intern(&mut self, op: Op, mut args: Vec<NodeId>, shape: Shape) -> NodeId {
        let op = match op {
            Op::Add
            | Op::Mul
            | Op::Min
            | Op::Max
            | Op::Dot
            | Op::SqDist
            | Op::Equal
            | Op::NotEqual => {
                args.sort_unstable();
                op
            }
            Op::GreaterThan | Op::GreaterOrEqual => {
                args.swap(0, 1);
                if op == Op::GreaterThan {
                    Op::LessThan
                } else {
                    Op::LessOrEqual
                }
            }
            op => op,
        };
        let key = (op, args, shape);
        if let Some(&id) = self.memo.get(&key) {
            return id;
        }
        let (op, args, _) = key.clone();
        let vars = &self.f.vars;
        let deps = crate::ir::deps(
            op,
            |v| vars[v].role,
            args.iter().map(|&a| self.nodes[a].deps),
        );
        let all = |s: &Self| args.iter().all(|&a| s.finite[a]);
        let finite = match op {
            Op::Var(_) | Op::Param(_) | Op::Index(_) => true,
            Op::Const(c) => c.0.is_finite(),
            Op::Sign
            | Op::Step
            | Op::Equal
            | Op::NotEqual
            | Op::LessThan
            | Op::LessOrEqual
            | Op::GreaterThan
            | Op::GreaterOrEqual => true,
            Op::Neg
            | Op::Abs
            | Op::Sin
            | Op::Cos
            | Op::Atan
            | Op::Atan2
            | Op::Min
            | Op::Max
            | Op::Clamp
            | Op::ClampInt(..)
            | Op::Floor
            | Op::Relu
            | Op::SinXDivX
            | Op::Elem(_)
            | Op::Concat
            | Op::VecMin
            | Op::VecMax
            | Op::Extract(_)
            | Op::ExtractT(_)
            | Op::Broadcast => all(self),
            Op::VecArgMin | Op::VecArgMax | Op::OneHot => true,
            Op::IfElse => self.finite[args[1]] && self.finite[args[2]],
            _ => false,
        };
        self.nodes.push(Node {
            op,
            args,
            shape,
            deps,
        });
        self.finite.push(finite);
        let id = self.nodes.len() - 1;
        self.memo.insert(key, id);
        id
    }
}

/// Keeps the nodes `roots` use, in order (still topological), renumbered; and the new `roots`.
fn compact(nodes: Vec<Node>, roots: &[NodeId]) -> (Vec<Node>, Vec<NodeId>) {
    let live = reachable(&nodes, roots.iter().copied());
    let mut new_id = vec![usize::MAX; nodes.len()];
    let mut out = Vec::new();
    for (i, mut n) in nodes.into_iter().enumerate() {
        if live[i] {
            n.args = n.args.iter().map(|&a| new_id[a]).collect();
            new_id[i] = out.len();
            out.push(n);
        }
    }
    let roots = roots.iter().map(|&r| new_id[r]).collect();
    (out, roots)
}

/// `a / b`, where `b` does not depend on the reduction index but `a` does, becomes `a * inv(b)`:
/// the reciprocal is computed once per output row instead of a division per pair. (Rounding
/// differs from the division by at most an ulp or so.)
pub fn hoist_divisions(f: &mut Formula) {
    let inner = f.reduction.inner().dep();
    let mut nodes: Vec<Node> = Vec::with_capacity(f.nodes.len());
    let mut map: Vec<NodeId> = Vec::with_capacity(f.nodes.len());
    let mut inverses: HashMap<NodeId, NodeId> = HashMap::new();
    for n in &f.nodes {
        let args: Vec<NodeId> = n.args.iter().map(|&a| map[a]).collect();
        let mut node = Node {
            op: n.op,
            args,
            shape: n.shape,
            deps: n.deps,
        };
        if n.op == Op::Div {
            let (a, b) = (node.args[0], node.args[1]);
            if nodes[a].deps & inner != 0 && nodes[b].deps & inner == 0 {
                let inv = *inverses.entry(b).or_insert_with(|| {
                    nodes.push(Node {
                        op: Op::Inv,
                        args: vec![b],
                        shape: nodes[b].shape,
                        deps: nodes[b].deps,
                    });
                    nodes.len() - 1
                });
                node.op = Op::Mul;
                node.args = vec![a, inv];
            }
        }
        nodes.push(node);
        map.push(nodes.len() - 1);
    }
    f.root = map[f.root];
    f.weight = f.weight.map(|w| map[w]);
    f.nodes = nodes;
}
