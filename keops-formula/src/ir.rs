//! The checked formula: a DAG of operations (shared sub-expressions are one node) with every
//! node's shape resolved, plus the variables, parameters and dimension classes it uses.

use crate::op::Op;

/// A node's index in [`Formula::nodes`].
pub type NodeId = usize;

/// Bit of [`Node::deps`]: the node depends on a variable indexed by i.
pub const DEP_I: u8 = 1;
/// Bit of [`Node::deps`]: the node depends on a variable indexed by j.
pub const DEP_J: u8 = 2;

/// A value's shape: a scalar, or a vector whose dimension is that of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One value.
    Scalar,
    /// A vector whose dimension is that of class `k` ([`Formula::classes`]`[k]`).
    Vector(usize),
}

/// One operation of the formula on earlier nodes.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it computes.
    pub op: Op,
    /// Its arguments (earlier nodes).
    pub args: Vec<NodeId>,
    /// Its result's shape.
    pub shape: Shape,
    /// [`DEP_I`] | [`DEP_J`]: which indices the value depends on.
    pub deps: u8,
}

/// The index of a data variable: which rows of data it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Indexed by i (name ends in `_i`).
    I,
    /// Indexed by j (name ends in `_j`).
    J,
}

impl Role {
    /// `i` or `j`, as in names (`x_i`) and reductions (`sum_j`).
    pub fn letter(self) -> char {
        match self {
            Role::I => 'i',
            Role::J => 'j',
        }
    }
    /// Its bit of [`Node::deps`].
    pub fn dep(self) -> u8 {
        match self {
            Role::I => DEP_I,
            Role::J => DEP_J,
        }
    }
    /// The other index: j for i, i for j.
    pub fn other(self) -> Role {
        match self {
            Role::I => Role::J,
            Role::J => Role::I,
        }
    }
}

/// What the whole formula computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// `sum_j(F)`: one output row per i.
    SumJ,
    /// `sum_i(F)`: one output row per j.
    SumI,
    /// No reduction: a scalar formula `K(x_i, y_j)` is a kernel matrix.
    Kernel,
    /// Any other KeOps reduction over the index `Role` (`min_j(F)` is `Other(RedOp::Min, J)`).
    Other(RedOp, Role),
}

/// The reductions besides the sum, with KeOps' semantics. Vector-valued formulas reduce entry by
/// entry (min, max, their args, the k smallest); the log-sum-exp family needs a scalar `F`, its
/// weight (`Formula::weight`) may be a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RedOp {
    /// `min_j(F)`: the smallest value (KeOps' Min).
    Min,
    /// `max_j(F)`.
    Max,
    /// `argmin_j(F)`: the index of the smallest value, the first one among ties.
    ArgMin,
    /// `argmax_j(F)`.
    ArgMax,
    /// `min_argmin_j(F)`: both.
    MinArgMin,
    /// `max_argmax_j(F)`.
    MaxArgMax,
    /// `kmin_j(F, K)`: the K smallest values, ascending.
    KMin(usize),
    /// `argkmin_j(F, K)`: their indices.
    ArgKMin(usize),
    /// `kmin_argkmin_j(F, K)`: both.
    KMinArgKMin(usize),
    /// `logsumexp_j(F)` = log sum_j exp(F), F scalar.
    LogSumExp,
    /// `logsumexp_j(F, W)` = log sum_j exp(F) W, F scalar (KeOps' LogSumExp with a weight).
    LogSumExpWeight,
    /// `sumsoftmaxweight_j(F, V)` = sum_j exp(F) V / sum_j exp(F), F scalar.
    SumSoftMaxWeight,
}

impl RedOp {
    /// Every reduction name without its index suffix, the sum's included: (name, op) with
    /// `None` for the sum, and the number of arguments it takes (min, max).
    pub const NAMES: &'static [(&'static str, Option<RedOp>, usize, usize)] = &[
        ("sum", None, 1, 1),
        ("min", Some(RedOp::Min), 1, 1),
        ("max", Some(RedOp::Max), 1, 1),
        ("argmin", Some(RedOp::ArgMin), 1, 1),
        ("argmax", Some(RedOp::ArgMax), 1, 1),
        ("min_argmin", Some(RedOp::MinArgMin), 1, 1),
        ("max_argmax", Some(RedOp::MaxArgMax), 1, 1),
        ("kmin", Some(RedOp::KMin(0)), 2, 2),
        ("argkmin", Some(RedOp::ArgKMin(0)), 2, 2),
        ("kmin_argkmin", Some(RedOp::KMinArgKMin(0)), 2, 2),
        ("logsumexp", Some(RedOp::LogSumExp), 1, 2),
        ("sumsoftmaxweight", Some(RedOp::SumSoftMaxWeight), 2, 2),
    ];

    /// The name in the formula language, without the index suffix.
    pub fn name(self) -> &'static str {
        match self {
            RedOp::LogSumExpWeight => "logsumexp",
            op => {
                RedOp::NAMES
                    .iter()
                    .find(|(_, o, _, _)| o.map(|o| o.with_k(0)) == Some(op.with_k(0)))
                    .expect("every reduction is named")
                    .0
            }
        }
    }
    /// `K` of the k-min family.
    pub fn k(self) -> Option<usize> {
        match self {
            RedOp::KMin(k) | RedOp::ArgKMin(k) | RedOp::KMinArgKMin(k) => Some(k),
            _ => None,
        }
    }
    /// The same reduction with `K` replaced (no change outside the k-min family).
    pub fn with_k(self, k: usize) -> RedOp {
        match self {
            RedOp::KMin(_) => RedOp::KMin(k),
            RedOp::ArgKMin(_) => RedOp::ArgKMin(k),
            RedOp::KMinArgKMin(_) => RedOp::KMinArgKMin(k),
            op => op,
        }
    }
    /// Whether the result holds values (in the data's precision).
    pub fn has_values(self) -> bool {
        !matches!(self, RedOp::ArgMin | RedOp::ArgMax | RedOp::ArgKMin(_))
    }
    /// Whether the result holds indices.
    pub fn has_indices(self) -> bool {
        matches!(
            self,
            RedOp::ArgMin
                | RedOp::ArgMax
                | RedOp::MinArgMin
                | RedOp::MaxArgMax
                | RedOp::ArgKMin(_)
                | RedOp::KMinArgKMin(_)
        )
    }
    /// The log-sum-exp family: a scalar `F` shifted by its running maximum.
    pub fn is_shifted_exp(self) -> bool {
        matches!(
            self,
            RedOp::LogSumExp | RedOp::LogSumExpWeight | RedOp::SumSoftMaxWeight
        )
    }
    /// Min, max and their args (entrywise extremum and its index).
    pub fn is_extremum(self) -> bool {
        matches!(
            self,
            RedOp::Min
                | RedOp::Max
                | RedOp::ArgMin
                | RedOp::ArgMax
                | RedOp::MinArgMin
                | RedOp::MaxArgMax
        )
    }
    /// Whether an extremum is a maximum.
    pub fn is_max(self) -> bool {
        matches!(self, RedOp::Max | RedOp::ArgMax | RedOp::MaxArgMax)
    }
}

impl Reduction {
    /// The index of the output rows (the "outer" index of the engine).
    pub fn outer(self) -> Role {
        self.inner().other()
    }
    /// The index reduced over.
    pub fn inner(self) -> Role {
        match self {
            Reduction::SumI | Reduction::Other(_, Role::I) => Role::I,
            _ => Role::J,
        }
    }
    /// The reduction other than the sum, if it is one.
    pub fn op(self) -> Option<RedOp> {
        match self {
            Reduction::Other(op, _) => Some(op),
            _ => None,
        }
    }
    /// The reduction's name in the formula language (`sum_j`, `kmin_i`...); `None` for a kernel.
    pub fn name(self) -> Option<String> {
        let l = self.inner().letter();
        match self {
            Reduction::Kernel => None,
            Reduction::SumJ | Reduction::SumI => Some(format!("sum_{l}")),
            Reduction::Other(op, _) => Some(format!("{}_{l}", op.name())),
        }
    }
}

/// A data variable (`x_i`, `y_j`): one row of data per value of its index.
#[derive(Clone, Debug)]
pub struct Var {
    /// Its name in the formula.
    pub name: String,
    /// Its index.
    pub role: Role,
    /// The shape of one row.
    pub shape: Shape,
}

/// A parameter: a value captured from the caller's scope, the same for every pair.
#[derive(Clone, Debug)]
pub struct Param {
    /// The captured identifier, with the user's span.
    pub ident: proc_macro2::Ident,
    /// Its shape (a scalar unless annotated).
    pub shape: Shape,
    /// Dimension fixed at compile time (annotation), checked against the captured value's type.
    pub fixed_dim: Option<usize>,
}

/// A dimension class: operands that must share a dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimClass {
    /// Known at compile time.
    pub fixed: Option<usize>,
    /// `concat(a, b)`: the dimension is `dim(a) + dim(b)`.
    pub concat: Option<(Shape, Shape)>,
    /// Shown in messages.
    pub label: String,
    /// Index among the classes whose dimension is only known at run time (`None` when fixed).
    pub slot: Option<usize>,
}

/// An `elem(f, index)` (or `extract(f, M, D)`) whose bound can only be checked once dimensions
/// are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemCheck {
    /// The class of the vector read.
    pub class: usize,
    /// The largest index read.
    pub index: usize,
    /// `extract(f, M, D)`: `Some((M, D))`, and `index = M + D - 1`; `None` for `elem`.
    pub extract: Option<(usize, usize)>,
}

/// A parsed, checked and simplified formula.
#[derive(Clone, Debug)]
pub struct Formula {
    /// Topologically ordered: arguments come before their users.
    pub nodes: Vec<Node>,
    /// The node reduced (for a kernel matrix: its entry).
    pub root: NodeId,
    /// The second formula of `logsumexp_j(F, W)` (the weight `W`) and `sumsoftmaxweight_j(F, V)`
    /// (the values `V`): the result has its dimension. Rewrites of `nodes` map it as `root`.
    pub weight: Option<NodeId>,
    /// What the formula computes.
    pub reduction: Reduction,
    /// The data variables, in order of first use.
    pub vars: Vec<Var>,
    /// The parameters, in order of first use.
    pub params: Vec<Param>,
    /// The dimension classes of the vectors.
    pub classes: Vec<DimClass>,
    /// The bounds of `elem` / `extract` to check when the data is bound.
    pub elems: Vec<ElemCheck>,
    /// `slots[s]` is the class of run-time slot `s`.
    pub slots: Vec<usize>,
    /// The contractions `Op::TensorDot(k)` computes (`tensors[k]`), without duplicates.
    pub tensors: Vec<crate::tensor::TensorSpec>,
    /// For the gradient of a reduction (`grad(R, v, e)`): the forward reductions whose outputs
    /// it reads, evaluated when its data is bound (see `grad/reduction.rs`).
    pub stages: Vec<Stage>,
    /// The output is the sum of the reduction's rows (one row): the gradient with respect to a
    /// parameter, summed over both indices.
    pub total: bool,
}

/// A forward reduction a gradient needs: its output is the hidden variable `var` of the gradient.
#[derive(Clone, Debug)]
pub struct Stage {
    /// The forward reduction.
    pub formula: Formula,
    /// Index in the gradient's `vars`.
    pub var: usize,
    /// The stage gives indices (`argmin_j`...), which the gradient reads as reals.
    pub indices: bool,
}

impl Formula {
    /// A canonical text of the formula: equal for formulas that compute the same thing the same way,
    /// independent of spacing and parameter values. Used to name generated kernels.
    pub fn canonical(&self) -> String {
        let mut s = format!("{:?};", self.reduction);
        for v in &self.vars {
            s += &format!("{}:{}:{:?};", v.name, v.role.letter(), v.shape);
        }
        for p in &self.params {
            s += &format!("{}:{:?}:{:?};", p.ident, p.shape, p.fixed_dim);
        }
        for c in &self.classes {
            s += &format!("class:{:?}:{:?};", c.fixed, c.concat);
        }
        for (k, t) in self.tensors.iter().enumerate() {
            s += &format!("tensor{k}:{:?}:{:?}:{:?}:{:?};", t.a, t.b, t.cont, t.perm);
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let args: Vec<String> = n.args.iter().map(|a| a.to_string()).collect();
            s += &format!("{i}={}({})", n.op.canonical_name(), args.join(","));
            // Operations whose shape is not a function of their arguments' carry it.
            if n.op.typing() == crate::op::Typing::Internal {
                s += &format!(":{:?}", n.shape);
            }
            s += ";";
        }
        s += &format!("root={}", self.root);
        if self.total {
            s += ";total";
        }
        if let Some(w) = self.weight {
            s += &format!(";weight={w}");
        }
        s
    }

    /// This formula and its forward stages (a gradient's): every formula the expansion runs.
    pub fn with_stages(&self) -> impl Iterator<Item = &Formula> {
        std::iter::once(self).chain(self.stages.iter().map(|s| &s.formula))
    }

    /// The nodes the reduction reads: the root, and the weight when there is one.
    pub fn roots(&self) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::once(self.root).chain(self.weight)
    }

    /// Which nodes the reduction reads, directly or not ([`reachable`] from
    /// [`roots`](Self::roots)): the emitters and the symmetry analysis skip the others.
    pub fn live(&self) -> Vec<bool> {
        reachable(&self.nodes, self.roots())
    }

    /// Variables of one index, in order of first use.
    pub fn vars_of(&self, role: Role) -> impl Iterator<Item = (usize, &Var)> {
        self.vars
            .iter()
            .enumerate()
            .filter(move |(_, v)| v.role == role)
    }
}

/// Which indices the node `op(args)` depends on ([`DEP_I`] | [`DEP_J`]): a variable's index, the
/// index an [`Op::Index`] reads, none for the other leaves, and for every other operation the
/// union of its arguments' (`arg_deps`). `role_of_var(v)`: the index of variable `v`.
pub fn deps(
    op: Op,
    role_of_var: impl Fn(usize) -> Role,
    arg_deps: impl IntoIterator<Item = u8>,
) -> u8 {
    use Op::*;
    match op {
        Var(v) => role_of_var(v).dep(),
        Index(r) => r.dep(),
        Param(_) | Const(_) => 0,
        Neg | Add | Sub | Mul | Div | Exp | Log | Sqrt | Rsqrt | Inv | Square | Abs | Sign
        | Step | Relu | Sin | Cos | Pow(_) | Powf | Min | Max | Clamp | IfElse | SqNorm | Norm
        | Dot | Sum | SqDist | Normalize | Elem(_) | Concat | XLogX | Asin | Acos | Atan
        | Atan2 | SinXDivX | ClampInt(..) | Round(_) | Floor | Mod | Equal | NotEqual
        | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual | VecMin | VecMax | VecArgMin
        | VecArgMax | OneHot | Extract(_) | ExtractT(_) | Broadcast | KMask(_) | TensorDot(_) => {
            arg_deps.into_iter().fold(0, |d, a| d | a)
        }
    }
}

/// Which of `nodes` (in topological order: arguments before their users) `roots` read, directly
/// or through other nodes.
pub fn reachable(nodes: &[Node], roots: impl IntoIterator<Item = NodeId>) -> Vec<bool> {
    let mut live = vec![false; nodes.len()];
    for r in roots {
        live[r] = true;
    }
    for i in (0..nodes.len()).rev() {
        if live[i] {
            for &a in &nodes[i].args {
                live[a] = true;
            }
        }
    }
    live
}
