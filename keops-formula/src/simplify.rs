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
        let Op::Const(c) = self.nodes[a].op else {
            return None;
        };
        Some(c.0)
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
        match self.identity(op, &args, shape) {
            Some(id) => id,
            None => self.intern(op, args, shape),
        }
    }

    /// `op(args)` as an existing node or a simpler operation, by the identities of the module's
    /// documentation (tried in order: the first that applies decides, even when it then finds
    /// nothing to do); `None` to keep `op(args)`. Every operation is listed: a new one must say
    /// which identities it has.
    fn identity(&mut self, op: Op, args: &[NodeId], shape: Shape) -> Option<NodeId> {
        use Op::*;
        // `args[k]`, where it has the node's shape.
        let keep = |s: &Self, k: usize| (s.shape(args[k]) == shape).then_some(args[k]);
        // `-args[k]`, where `args[k]` has the node's shape (else `None`: no other rule).
        let negate = |s: &mut Self, k: usize| {
            (s.shape(args[k]) == shape).then(|| s.rewrite(Neg, vec![args[k]], shape))
        };
        let scalar = shape == Shape::Scalar;
        let arg_is_scalar = |s: &Self| s.shape(args[0]) == Shape::Scalar;
        match op {
            Add if self.is(args[1], 0.0) => keep(self, 0),
            Add if self.is(args[0], 0.0) => keep(self, 1),
            Add => match (self.negated(args[0]), self.negated(args[1])) {
                (_, Some(b)) => Some(self.rewrite(Sub, vec![args[0], b], shape)),
                (Some(a), None) => Some(self.rewrite(Sub, vec![args[1], a], shape)),
                (None, None) => None,
            },
            Sub if self.is(args[1], 0.0) => keep(self, 0),
            Sub if self.is(args[0], 0.0) && self.shape(args[1]) == shape => negate(self, 1),
            Sub => (self.negated(args[1])).map(|b| self.rewrite(Add, vec![args[0], b], shape)),
            Mul if self.is(args[1], 1.0) => keep(self, 0),
            Mul if self.is(args[0], 1.0) => keep(self, 1),
            Mul if self.is(args[1], -1.0) && self.shape(args[0]) == shape => negate(self, 0),
            Mul if self.is(args[0], -1.0) && self.shape(args[1]) == shape => negate(self, 1),
            Mul if scalar
                && ((self.is(args[1], 0.0) && self.finite[args[0]])
                    || (self.is(args[0], 0.0) && self.finite[args[1]])) =>
            {
                Some(self.constant(0.0))
            }
            Mul => None,
            Div if self.is(args[1], 1.0) => keep(self, 0),
            Div if self.is(args[1], -1.0) && self.shape(args[0]) == shape => negate(self, 0),
            Div => None,
            Neg => self.negated(args[0]),
            Pow(0) if scalar => Some(self.constant(1.0)),
            Pow(1) => keep(self, 0),
            Pow(2) => Some(self.rewrite(Square, args.to_vec(), shape)),
            Pow(-1) => Some(self.rewrite(Inv, args.to_vec(), shape)),
            Pow(_) => None,
            Square | Abs => (self.negated(args[0])).map(|a| self.rewrite(op, vec![a], shape)),
            Min | Max if args[0] == args[1] => keep(self, 0),
            Min | Max => None,
            IfElse if args[1] == args[2] => keep(self, 1),
            IfElse => match self.konst(args[0]) {
                Some(c) if c >= 0.0 => keep(self, 1),
                Some(_) => keep(self, 2),
                None => None,
            },
            Sum | Elem(0) if arg_is_scalar(self) => Some(args[0]),
            Sum | Elem(_) => None,
            // min, max of a scalar: itself; its argmin, argmax: 0.
            VecMin | VecMax if arg_is_scalar(self) => Some(args[0]),
            VecArgMin | VecArgMax if arg_is_scalar(self) => Some(self.constant(0.0)),
            VecMin | VecMax | VecArgMin | VecArgMax => None,
            // All of the argument, where it has the node's shape.
            Extract(Start::At(0) | Start::Tail)
            | ExtractT(Start::At(0) | Start::Tail)
            | Broadcast => keep(self, 0),
            Extract(Start::At(_)) | ExtractT(Start::At(_)) => None,
            // No identities.
            Var(_) | Param(_) | Const(_) | Exp | Log | Sqrt | Rsqrt | Inv | Sign | Step | Relu
            | Sin | Cos | Powf | Clamp | SqNorm | Norm | Dot | SqDist | Normalize | Concat
            | XLogX | Asin | Acos | Atan | Atan2 | SinXDivX | ClampInt(..) | Round(_) | Floor
            | Mod | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual
            | OneHot | Index(_) | KMask(_) | TensorDot(_) => None,
        }
    }

    /// The node `op(args)`: an existing equal one, or a new one.
    fn intern(&mut self, op: Op, args: Vec<NodeId>, shape: Shape) -> NodeId {
        let (op, args) = canonical_order(op, args);
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
        let finite = match finiteness(op) {
            Finite::Always => true,
            Finite::IfArgs => args.iter().all(|&a| self.finite[a]),
            Finite::IfBranches => self.finite[args[1]] && self.finite[args[2]],
            Finite::No => false,
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

/// The arguments of the commutative operations sorted, `a > b` as `b < a` and `a >= b` as
/// `b <= a`: one node for `x_i * y_j` and `y_j * x_i`.
fn canonical_order(op: Op, mut args: Vec<NodeId>) -> (Op, Vec<NodeId>) {
    use Op::*;
    let op = match op {
        Add | Mul | Min | Max | Dot | SqDist | Equal | NotEqual => {
            args.sort_unstable();
            op
        }
        GreaterThan => {
            args.swap(0, 1);
            LessThan
        }
        GreaterOrEqual => {
            args.swap(0, 1);
            LessOrEqual
        }
        // Not commutative, or one argument.
        Var(_) | Param(_) | Const(_) | Neg | Sub | Div | Exp | Log | Sqrt | Rsqrt | Inv
        | Square | Abs | Sign | Step | Relu | Sin | Cos | Pow(_) | Powf | Clamp | IfElse
        | SqNorm | Norm | Sum | Normalize | Elem(_) | Concat | XLogX | Asin | Acos | Atan
        | Atan2 | SinXDivX | ClampInt(..) | Round(_) | Floor | Mod | LessThan | LessOrEqual
        | VecMin | VecMax | VecArgMin | VecArgMax | OneHot | Extract(_) | ExtractT(_)
        | Broadcast | Index(_) | KMask(_) | TensorDot(_) => op,
    };
    (op, args)
}

/// When an operation's value is finite for finite inputs (data and parameters are: non-finite
/// values are rejected when they are bound).
enum Finite {
    /// Always: bounded results.
    Always,
    /// When its arguments are: it keeps finite values finite without overflow.
    IfArgs,
    /// `ifelse(c, a, b)`: when both branches are.
    IfBranches,
    /// Not provably (it may overflow, divide by zero, or leave its domain).
    No,
}

/// See [`Finite`]. Every operation is listed: a new one must say whether it keeps values finite
/// (`x * 0` is folded to 0 only for a finite `x`).
fn finiteness(op: Op) -> Finite {
    use Op::*;
    match op {
        Var(_) | Param(_) | Index(_) => Finite::Always,
        Const(c) if c.0.is_finite() => Finite::Always,
        Const(_) => Finite::No,
        Sign | Step | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual => {
            Finite::Always
        }
        VecArgMin | VecArgMax | OneHot => Finite::Always,
        Neg | Abs | Sin | Cos | Atan | Atan2 | Min | Max | Clamp | ClampInt(..) | Floor | Relu
        | SinXDivX | Elem(_) | Concat | VecMin | VecMax | Extract(_) | ExtractT(_) | Broadcast => {
            Finite::IfArgs
        }
        IfElse => Finite::IfBranches,
        Add | Sub | Mul | Div | Exp | Log | Sqrt | Rsqrt | Inv | Square | Pow(_) | Powf
        | SqNorm | Norm | Dot | Sum | SqDist | Normalize | XLogX | Asin | Acos | Round(_) | Mod
        | KMask(_) | TensorDot(_) => Finite::No,
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
