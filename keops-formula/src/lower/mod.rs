//! syn's expression tree -> the IR: names to roles, functions to operations, shapes inferred.
//!
//! Errors are collected in one [`Ctxt`], and a sub-expression that failed yields `None`, which
//! its parents pass on silently: one mistake, one message. Checks that only need the names of the
//! formula (unused annotations, a missing i or j variable) look at its syntax, so that they
//! neither depend on nor follow from other errors.
//!
//! The [`Builder`] adds nodes as it reads the formula, sharing equal sub-expressions:
//! - [`reduction`]: the reduction at the top (`sum_j(..)`, `kmin_i(.., K)`), or a kernel matrix;
//! - [`roles`]: names to variables (by their index) and parameters, annotations, the checks of
//!   roles (a variable outside its reduction, a missing i or j variable);
//! - [`lets`]: the `let`s;
//! - [`expr`]: operators, literals and names; [`call`]: function calls, by family;
//!   [`tensor_ops`]: contractions and weighted norms; [`args`]: integer-literal arguments;
//! - [`typing`]: an operation's shape from its arguments' ([`Op::typing`]);
//! - [`dims`]: dimension inference (classes, union-find, fixed dimensions, the final table);
//! - [`finish`]: resolved shapes, last checks, the [`Formula`].
//!
//! Symbolic gradients (`grad(F, v, e)`) are built on the same [`Builder`]: see
//! [`crate::grad::symbolic`].

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;

use crate::ctxt::Ctxt;
use crate::ir::{Formula, Reduction, Role};
use crate::op::{Op, Typing};
use crate::parse::{mentioned_names, strip, Input};
use crate::tensor::TensorSpec;

mod args;
mod call;
mod dims;
mod expr;
mod finish;
mod lets;
mod reduction;
mod roles;
mod tensor_ops;
mod typing;

use dims::Dims;
pub(crate) use dims::RShape;

/// A node being built: its shape is still an inference shape.
struct BNode {
    op: Op,
    args: Vec<usize>,
    shape: RShape,
    deps: u8,
}

/// The formula under construction: nodes, dimension classes, names, and what the checks at the
/// end need.
pub(crate) struct Builder<'c> {
    cx: &'c mut Ctxt,
    nodes: Vec<BNode>,
    /// Hash-consing: (op, args, the shape of an operation whose shape is not a function of its
    /// arguments' ([`Typing::Internal`]: `onehot(f, 2)` and `onehot(f, 3)` differ)).
    memo: HashMap<(Op, Vec<usize>, Option<RShape>), usize>,
    dims: Dims,
    /// The data variables: name, index, shape.
    vars: Vec<(String, Role, RShape)>,
    /// The parameters: name, shape, annotated dimension.
    params: Vec<(proc_macro2::Ident, RShape, Option<usize>)>,
    /// Variables and parameters by name, to their node.
    names: HashMap<String, usize>,
    /// The annotations `name: n` (dimension, span of the name).
    decls: HashMap<String, (usize, Span)>,
    /// The contractions of `Op::TensorDot` (the formula's `tensors`), without duplicates.
    tensors: Vec<TensorSpec>,
    /// Indices reduced by a reduction nested inside the formula (an error, but it tells which
    /// variables are out of place).
    nested: HashSet<Role>,
    /// Reductions enclosing the expression being lowered.
    red_stack: Vec<Role>,
    /// `let` names bound so far, to their node (`None`: the expression had errors).
    lets: HashMap<String, Option<usize>>,
    /// `let` names not bound yet (a use is an error: the name is not a parameter).
    pending_lets: HashSet<String>,
}

/// Lowers a parsed `kernel!` input to a checked formula, reporting every error.
pub(crate) fn lower(input: &Input, cx: &mut Ctxt) -> Option<Formula> {
    let mut b = Builder::new(cx);
    b.read_annotations(&input.decls);
    let body = strip(&input.body);
    let mut mentioned = mentioned_names(body);
    b.check_lets(input, &mentioned);
    for l in &input.lets {
        mentioned.extend(mentioned_names(&l.expr));
    }
    b.check_annotations_used(&input.decls, &mentioned);
    let top = b.top(body)?;
    roles::find_nested(top.body, &mut b.nested);
    if let Some(w) = top.weight {
        roles::find_nested(w, &mut b.nested);
    }
    if top.reduction != Reduction::Kernel {
        b.red_stack.push(top.reduction.inner());
    }
    b.lower_lets(&input.lets);
    let root = b.lower(top.body);
    let weight = top.weight.map(|w| b.lower(w));
    roles::missing_roles(b.cx, top.reduction, &mentioned, top.body);
    let weight = match weight {
        Some(w) => Some(w?),
        None => None,
    };
    b.finish(root?, weight, top.reduction, top.body)
}

impl<'c> Builder<'c> {
    fn new(cx: &'c mut Ctxt) -> Self {
        Builder {
            cx,
            nodes: Vec::new(),
            memo: HashMap::new(),
            dims: Dims::default(),
            vars: Vec::new(),
            params: Vec::new(),
            names: HashMap::new(),
            decls: HashMap::new(),
            tensors: Vec::new(),
            nested: HashSet::new(),
            red_stack: Vec::new(),
            lets: HashMap::new(),
            pending_lets: HashSet::new(),
        }
    }
}

/// The node-level interface, which the symbolic gradients build on too.
impl Builder<'_> {
    /// Adds a node, sharing equal sub-expressions (hash-consing). Constant folding and identities
    /// are the simplifier's (simplify.rs), on the checked formula.
    pub(crate) fn mk(&mut self, op: Op, args: Vec<usize>, shape: RShape) -> usize {
        let given = match shape {
            RShape::Vec(c) if op.typing() == Typing::Internal => {
                Some(RShape::Vec(self.dims.find(c)))
            }
            s if op.typing() == Typing::Internal => Some(s),
            _ => None,
        };
        let key = (op, args.clone(), given);
        if let Some(&id) = self.memo.get(&key) {
            return id;
        }
        let vars = &self.vars;
        let deps = crate::ir::deps(op, |v| vars[v].1, args.iter().map(|&a| self.nodes[a].deps));
        let id = self.nodes.len();
        self.nodes.push(BNode {
            op,
            args,
            shape,
            deps,
        });
        self.memo.insert(key, id);
        id
    }

    /// The shape of node `id`.
    pub(crate) fn shape(&self, id: usize) -> RShape {
        self.nodes[id].shape
    }

    /// The operation of node `id`.
    pub(crate) fn op_of(&self, id: usize) -> Op {
        self.nodes[id].op
    }

    /// The arguments of node `id`.
    pub(crate) fn args_of(&self, id: usize) -> &[usize] {
        &self.nodes[id].args
    }

    /// Merges two classes known to share a dimension (see [`Dims::merge`]).
    pub(crate) fn merge(&mut self, a: usize, b: usize) {
        self.dims.merge(a, b);
    }

    /// Contraction `t` of the formula's table.
    pub(crate) fn tensor_spec(&self, t: usize) -> &TensorSpec {
        &self.tensors[t]
    }

    /// The index of `spec` in the formula's table of contractions; equal specs share one, so
    /// that equal contractions of equal operands are one node.
    pub(crate) fn tensor(&mut self, spec: TensorSpec) -> usize {
        if let Some(k) = self.tensors.iter().position(|t| *t == spec) {
            return k;
        }
        self.tensors.push(spec);
        self.tensors.len() - 1
    }
}
