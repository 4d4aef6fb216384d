//! The checked formula: a DAG of operations (shared sub-expressions are one node) with every
//! node's shape resolved, plus the variables, parameters and dimension classes it uses.

use crate::op::Op;

pub type NodeId = usize;

/// Bit of [`Node::deps`]: the node depends on a variable indexed by i.
pub const DEP_I: u8 = 1;
/// Bit of [`Node::deps`]: the node depends on a variable indexed by j.
pub const DEP_J: u8 = 2;

/// A value's shape: a scalar, or a vector whose dimension is that of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    Scalar,
    Vector(usize),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub args: Vec<NodeId>,
    pub shape: Shape,
    /// [`DEP_I`] | [`DEP_J`]: which indices the value depends on.
    pub deps: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Indexed by i (name ends in `_i`).
    I,
    /// Indexed by j (name ends in `_j`).
    J,
}

impl Role {
    pub fn letter(self) -> char {
        match self {
            Role::I => 'i',
            Role::J => 'j',
        }
    }
    pub fn dep(self) -> u8 {
        match self {
            Role::I => DEP_I,
            Role::J => DEP_J,
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
}

impl Reduction {
    /// The index of the output rows (the "outer" index of the engine).
    pub fn outer(self) -> Role {
        match self {
            Reduction::SumI => Role::J,
            _ => Role::I,
        }
    }
    /// The index summed over.
    pub fn inner(self) -> Role {
        match self {
            Reduction::SumI => Role::I,
            _ => Role::J,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Var {
    pub name: String,
    pub role: Role,
    pub shape: Shape,
}

#[derive(Clone, Debug)]
pub struct Param {
    /// The captured identifier, with the user's span.
    pub ident: proc_macro2::Ident,
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

/// An `elem(f, index)` whose bound can only be checked once dimensions are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemCheck {
    pub class: usize,
    pub index: usize,
}

/// A parsed, checked and simplified formula.
#[derive(Clone, Debug)]
pub struct Formula {
    /// Topologically ordered: arguments come before their users.
    pub nodes: Vec<Node>,
    pub root: NodeId,
    pub reduction: Reduction,
    pub vars: Vec<Var>,
    pub params: Vec<Param>,
    pub classes: Vec<DimClass>,
    pub elems: Vec<ElemCheck>,
    /// `slots[s]` is the class of run-time slot `s`.
    pub slots: Vec<usize>,
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
        for (i, n) in self.nodes.iter().enumerate() {
            let args: Vec<String> = n.args.iter().map(|a| a.to_string()).collect();
            s += &format!("{i}={}({});", n.op.canonical_name(), args.join(","));
        }
        s += &format!("root={}", self.root);
        s
    }

    /// Variables of one index, in order of first use.
    pub fn vars_of(&self, role: Role) -> impl Iterator<Item = (usize, &Var)> {
        self.vars
            .iter()
            .enumerate()
            .filter(move |(_, v)| v.role == role)
    }
}
