//! syn's expression tree -> the IR: names to roles, functions to operations, shapes inferred.
//!
//! Dimension inference: every data variable and annotated parameter starts in a class of its own; an
//! entrywise operation between two vectors merges their classes (union-find), a scalar broadcasts.
//! A parameter is a scalar unless annotated with its dimension. Errors are collected, and a
//! sub-expression that failed yields `None`, which its parents pass on silently: one mistake, one
//! message. Checks that only need the names of the formula (unused annotations, a missing i or j
//! variable) look at its syntax, so that they neither depend on nor follow from other errors.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{BinOp, Expr, Lit, UnOp};

use crate::ctxt::Ctxt;
use crate::ir::*;
use crate::op::{self, Const, Op, Start, Typing};
use crate::parse::Input;

mod grad;
mod tensor_ops;

/// A shape during inference: classes are union-find entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RShape {
    Scalar,
    Vec(usize),
}

struct RawClass {
    fixed: Option<(usize, Span)>,
    /// What fixed the dimension (an annotated name, or a concatenation), for messages.
    fixed_by: String,
    /// `fixed_by` is a call that gives the dimension (`onehot(f, 3)`), not an annotated name.
    fixed_by_call: bool,
    concats: Vec<(RShape, RShape, Span)>,
    label: String,
}

struct BNode {
    op: Op,
    args: Vec<usize>,
    shape: RShape,
    deps: u8,
}

struct Builder<'c> {
    cx: &'c mut Ctxt,
    nodes: Vec<BNode>,
    /// Hash-consing: (op, args, the shape of an operation whose shape is not a function of its
    /// arguments' ([`Typing::Internal`]: `onehot(f, 2)` and `onehot(f, 3)` differ)).
    memo: HashMap<(Op, Vec<usize>, Option<RShape>), usize>,
    /// The fixed class of each dimension given by a function's integer argument (`onehot(f, 3)`,
    /// `zero(3)`...): one per dimension, so that equal calls are one node.
    given: HashMap<usize, usize>,
    parent: Vec<usize>,
    classes: Vec<RawClass>,
    vars: Vec<(String, Role, RShape)>,
    params: Vec<(proc_macro2::Ident, RShape, Option<usize>)>,
    names: HashMap<String, usize>,
    decls: HashMap<String, (usize, Span)>,
    elems: Vec<(usize, usize, Span)>,
    /// The contractions of `Op::TensorDot` (the formula's `tensors`), without duplicates.
    tensors: Vec<crate::tensor::TensorSpec>,
    /// `extract(f, M, D)` of a vector f of class `.0`: (class, M, D, span), checked once the
    /// classes are resolved.
    extracts: Vec<(usize, usize, usize, proc_macro2::TokenStream)>,
    /// `extract_t(f, M, D)`: (f's shape, M, D, the call), checked once the classes are resolved.
    placements: Vec<(RShape, usize, usize, proc_macro2::TokenStream)>,
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
pub fn lower(input: &Input, cx: &mut Ctxt) -> Option<Formula> {
    let mut b = Builder {
        cx,
        nodes: Vec::new(),
        memo: HashMap::new(),
        given: HashMap::new(),
        parent: Vec::new(),
        classes: Vec::new(),
        vars: Vec::new(),
        params: Vec::new(),
        names: HashMap::new(),
        decls: HashMap::new(),
        elems: Vec::new(),
        tensors: Vec::new(),
        extracts: Vec::new(),
        placements: Vec::new(),
        nested: HashSet::new(),
        red_stack: Vec::new(),
        lets: HashMap::new(),
        pending_lets: HashSet::new(),
    };
    let mut annotated = HashSet::new();
    for d in &input.decls {
        let name = d.name.to_string();
        if !annotated.insert(name.clone()) {
            b.cx.error_at(&d.name, format!("`{name}` is annotated twice"));
            continue;
        }
        match d.dim.base10_parse::<usize>() {
            Ok(0) | Err(_) => b.cx.error_at(
                &d.dim,
                format!("the dimension of `{name}` must be a positive integer"),
            ),
            Ok(n) if n > crate::MAX_DIM => b.cx.error_at(
                &d.dim,
                format!(
                    "the dimension of `{name}` is {n}, but keops supports dimensions up to {}",
                    crate::MAX_DIM
                ),
            ),
            Ok(n) => {
                b.decls.insert(name, (n, d.name.span()));
            }
        }
    }
    let body = strip(&input.body);
    let mut mentioned = mentioned_names(body);
    b.check_lets(input, &mentioned);
    for l in &input.lets {
        mentioned.extend(mentioned_names(&l.expr));
    }
    for d in &input.decls {
        if !mentioned.contains(&d.name.to_string()) {
            b.cx.error_at(
                &d.name,
                format!(
                    "`{}` is annotated but does not appear in the formula",
                    d.name
                ),
            );
        }
    }
    let (reduction, arg, weight_expr) = match top_reduction(body) {
        Some((role, kind, call)) => {
            let (base, op, min, max) = RedOp::NAMES[kind];
            let name = format!("{base}_{}", role.letter());
            let n = call.args.len();
            // A K that is not a positive integer literal: reported, the formula still lowered
            // for its own errors.
            let mut k_error = false;
            let red = match op {
                _ if n < min || n > max => None,
                None if role == Role::J => Some(Reduction::SumJ),
                None => Some(Reduction::SumI),
                Some(op) if op.k().is_some() => match int_arg(&call.args[1]) {
                    Some(k) if k >= 1 => Some(Reduction::Other(op.with_k(k as usize), role)),
                    _ => {
                        b.cx.error_at(
                            &call.args[1],
                            format!(
                                "K, the number of smallest values `{name}` keeps, must be a positive integer literal"
                            ),
                        );
                        k_error = true;
                        None
                    }
                },
                Some(RedOp::LogSumExp) if n == 2 => {
                    Some(Reduction::Other(RedOp::LogSumExpWeight, role))
                }
                Some(op) => Some(Reduction::Other(op, role)),
            };
            let Some(red) = red else {
                if !k_error {
                    let what = match op {
                        None => "the formula to sum",
                        Some(op) if op.k().is_some() => {
                            "the formula and K, a positive integer literal"
                        }
                        Some(RedOp::LogSumExp) => "the formula and, optionally, a weight",
                        Some(RedOp::SumSoftMaxWeight) => {
                            "the formula F and the values V averaged with weights exp(F)"
                        }
                        Some(_) => "the formula to reduce",
                    };
                    let takes = if min == max {
                        format!("{min} argument{}", if min == 1 { "" } else { "s" })
                    } else {
                        format!("{min} or {max} arguments")
                    };
                    b.cx.error_at(
                        call,
                        format!(
                            "`{name}` takes {takes} ({what}), but {n} {} given",
                            if n == 1 { "was" } else { "were" }
                        ),
                    );
                }
                // Independent errors inside the arguments are still worth reporting.
                b.red_stack.push(role);
                let lowered = if k_error { 1 } else { n };
                for a in call.args.iter().take(lowered) {
                    find_nested(a, &mut b.nested);
                    b.lower(a);
                }
                return None;
            };
            let weight = match red {
                Reduction::Other(op, _) if op.is_shifted_exp() && n == 2 => Some(&call.args[1]),
                _ => None,
            };
            (red, &call.args[0], weight)
        }
        None => (Reduction::Kernel, body, None),
    };
    find_nested(arg, &mut b.nested);
    if let Some(w) = weight_expr {
        find_nested(w, &mut b.nested);
    }
    if reduction != Reduction::Kernel {
        b.red_stack.push(reduction.inner());
    }
    b.lower_lets(&input.lets);
    let root = b.lower(arg);
    let weight = weight_expr.map(|w| b.lower(w));
    missing_roles(b.cx, reduction, &mentioned, arg);
    let weight = match weight {
        Some(w) => Some(w?),
        None => None,
    };
    b.finish(root?, weight, reduction, arg)
}

/// The names that appear as values in `e` (not as the names of called functions).
pub(crate) fn mentioned_names(e: &Expr) -> HashSet<String> {
    use syn::visit::Visit;
    struct V(HashSet<String>);
    impl<'ast> Visit<'ast> for V {
        fn visit_expr(&mut self, e: &'ast Expr) {
            match e {
                Expr::Path(p) => {
                    if let Some(id) = p.path.get_ident() {
                        self.0.insert(id.to_string());
                    }
                }
                Expr::Call(c) if call_name(c).is_some() => {
                    for a in &c.args {
                        self.visit_expr(a);
                    }
                }
                _ => syn::visit::visit_expr(self, e),
            }
        }
    }
    let mut v = V(HashSet::new());
    v.visit_expr(e);
    v.0
}

/// A formula needs variables of both indices: they give the number of output rows and of terms
/// (or the kernel matrix's shape). Checked on the names alone, so it holds whatever else failed.
fn missing_roles(cx: &mut Ctxt, reduction: Reduction, mentioned: &HashSet<String>, body: &Expr) {
    let has = |r: Role| mentioned.iter().any(|n| role_of(n) == Some(r));
    let needs: [(Role, &str); 2] = match reduction {
        Reduction::Kernel => [
            (Role::I, "the kernel matrix's rows"),
            (Role::J, "the kernel matrix's columns"),
        ],
        Reduction::SumJ | Reduction::SumI => [
            (reduction.outer(), "the number of output rows"),
            (reduction.inner(), "the number of terms to sum"),
        ],
        r => [
            (r.outer(), "the number of output rows"),
            (r.inner(), "the rows to reduce over"),
        ],
    };
    for (r, why) in needs {
        if !has(r) {
            let l = r.letter();
            cx.error_at(
                body,
                format!(
                    "the formula needs at least one variable indexed by {l} (a name ending in `_{l}`) to know {why}"
                ),
            );
        }
    }
}

pub(crate) fn strip(mut e: &Expr) -> &Expr {
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            _ => return e,
        }
    }
}

pub(crate) fn call_name(c: &syn::ExprCall) -> Option<&syn::Ident> {
    match &*c.func {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        _ => None,
    }
}

/// A reduction's name (`sum_j`, `kmin_i`...): its index and its row in [`RedOp::NAMES`].
pub(crate) fn reduction_kind(name: &str) -> Option<(Role, usize)> {
    let (base, role) = if let Some(b) = name.strip_suffix("_j") {
        (b, Role::J)
    } else {
        (name.strip_suffix("_i")?, Role::I)
    };
    let kind = RedOp::NAMES.iter().position(|(n, ..)| *n == base)?;
    Some((role, kind))
}

fn reduction_role(name: &str) -> Option<Role> {
    reduction_kind(name).map(|(role, _)| role)
}

fn top_reduction(e: &Expr) -> Option<(Role, usize, &syn::ExprCall)> {
    if let Expr::Call(c) = e {
        let (role, kind) = reduction_kind(&call_name(c)?.to_string())?;
        return Some((role, kind, c));
    }
    None
}

fn find_nested(e: &Expr, out: &mut HashSet<Role>) {
    use syn::visit::Visit;
    struct V<'a>(&'a mut HashSet<Role>);
    impl<'ast> Visit<'ast> for V<'_> {
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            if let Some(role) = call_name(c).and_then(|n| reduction_role(&n.to_string())) {
                self.0.insert(role);
            }
            syn::visit::visit_expr_call(self, c);
        }
    }
    V(out).visit_expr(e);
}

pub(crate) fn role_of(name: &str) -> Option<Role> {
    let stem_ok = |s: &str| s.len() > 2;
    if name.ends_with("_i") && stem_ok(name) {
        Some(Role::I)
    } else if name.ends_with("_j") && stem_ok(name) {
        Some(Role::J)
    } else {
        None
    }
}

pub(crate) fn int_arg(e: &Expr) -> Option<i64> {
    match strip(e) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok(),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => int_arg(&u.expr).map(|v| -v),
        _ => None,
    }
}

impl Builder<'_> {
    fn find(&mut self, c: usize) -> usize {
        let mut r = c;
        while self.parent[r] != r {
            r = self.parent[r];
        }
        let mut c = c;
        while self.parent[c] != r {
            let next = self.parent[c];
            self.parent[c] = r;
            c = next;
        }
        r
    }

    fn new_class(&mut self, fixed: Option<(usize, Span)>, label: String) -> usize {
        let id = self.classes.len();
        self.classes.push(RawClass {
            fixed,
            fixed_by: label.clone(),
            fixed_by_call: false,
            concats: Vec::new(),
            label,
        });
        self.parent.push(id);
        id
    }

    /// "`c` has dimension 3 (from the annotation `x_i: 3`)": what an operand of class `c` is.
    fn describe(&mut self, c: usize, operand: &str) -> String {
        let r = self.find(c);
        let c = &self.classes[r];
        let n = c.fixed.map_or(0, |(n, _)| n);
        // While lowering, only annotations and the calls that give a dimension (`onehot(f, 3)`)
        // fix dimensions (concatenations are resolved later).
        let from = if operand == format!("`{}`", c.fixed_by) {
            String::new()
        } else if c.fixed_by_call {
            format!(" (from `{}`)", c.fixed_by)
        } else {
            format!(" (from the annotation `{}: {n}`)", c.fixed_by)
        };
        format!("{operand} has dimension {n}{from}")
    }

    /// Merges two classes that must share a dimension; a clash of fixed dimensions is an error at
    /// `at`, whose operands `da`, `db` are named in the message.
    fn unify(&mut self, a: usize, b: usize, at: &dyn ToTokens, da: &str, db: &str) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return true;
        }
        if let (Some((na, _)), Some((nb, _))) = (self.classes[ra].fixed, self.classes[rb].fixed) {
            if na != nb {
                let (da, db) = (self.describe(ra, da), self.describe(rb, db));
                self.cx
                    .error_at(at, format!("dimension mismatch: {da} but {db}"));
                return false;
            }
        }
        self.merge(ra, rb);
        true
    }

    /// Adds a node, sharing equal sub-expressions (hash-consing). Constant folding and identities
    /// are the simplifier's (simplify.rs), on the checked formula.
    fn mk(&mut self, op: Op, args: Vec<usize>, shape: RShape) -> usize {
        let given = match shape {
            RShape::Vec(c) if op.typing() == Typing::Internal => Some(RShape::Vec(self.find(c))),
            s if op.typing() == Typing::Internal => Some(s),
            _ => None,
        };
        let key = (op, args.clone(), given);
        if let Some(&id) = self.memo.get(&key) {
            return id;
        }
        let deps = match op {
            Op::Var(v) => self.vars[v].1.dep(),
            Op::Index(r) => r.dep(),
            _ => args.iter().fold(0, |d, &a| d | self.nodes[a].deps),
        };
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

    fn shape(&self, id: usize) -> RShape {
        self.nodes[id].shape
    }

    fn lower(&mut self, e: &Expr) -> Option<usize> {
        match e {
            Expr::Paren(p) => self.lower(&p.expr),
            Expr::Group(g) => self.lower(&g.expr),
            Expr::Lit(l) => {
                let v = match &l.lit {
                    Lit::Int(i) => i.base10_parse::<f64>(),
                    Lit::Float(f) => f.base10_parse::<f64>(),
                    _ => {
                        self.cx
                            .error_at(e, "only number literals can appear in a formula");
                        return None;
                    }
                };
                match v {
                    Ok(v) => Some(self.mk(Op::Const(Const(v)), vec![], RShape::Scalar)),
                    Err(err) => {
                        self.cx.push(err);
                        None
                    }
                }
            }
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let a = self.lower(&u.expr)?;
                    let s = self.shape(a);
                    Some(self.mk(Op::Neg, vec![a], s))
                }
                op => {
                    let shown = op.to_token_stream().to_string();
                    self.cx.error_at(
                        op,
                        format!(
                            "unsupported operator `{shown}`: a formula uses `+ - * /`, unary `-` and functions"
                        ),
                    );
                    self.lower(&u.expr);
                    None
                }
            },
            Expr::Binary(bin) => {
                let op = match bin.op {
                    BinOp::Add(_) => Some(Op::Add),
                    BinOp::Sub(_) => Some(Op::Sub),
                    BinOp::Mul(_) => Some(Op::Mul),
                    BinOp::Div(_) => Some(Op::Div),
                    BinOp::Eq(_) => Some(Op::Equal),
                    BinOp::Ne(_) => Some(Op::NotEqual),
                    BinOp::Lt(_) => Some(Op::LessThan),
                    BinOp::Le(_) => Some(Op::LessOrEqual),
                    BinOp::Gt(_) => Some(Op::GreaterThan),
                    BinOp::Ge(_) => Some(Op::GreaterOrEqual),
                    _ => None,
                };
                let l = self.lower(&bin.left);
                let r = self.lower(&bin.right);
                let Some(op) = op else {
                    let shown = bin.op.to_token_stream().to_string();
                    let hint = match bin.op {
                        BinOp::BitXor(_) => {
                            "; for a power use `pow(f, n)` (integer n) or `powf(f, g)`"
                        }
                        BinOp::Rem(_) => "; for a remainder use `modulo(f, m)`",
                        BinOp::And(_) | BinOp::Or(_) => {
                            "; comparisons are 0 or 1: for `a && b` write `(a) * (b)`"
                        }
                        _ => "",
                    };
                    self.cx.error_at(
                        bin.op,
                        format!(
                            "unsupported operator `{shown}`: a formula uses `+ - * /`, \
                             comparisons `== != < <= > >=` and functions{hint}"
                        ),
                    );
                    return None;
                };
                let (l, r) = (l?, r?);
                self.apply(op, vec![l, r], &[&bin.left, &bin.right], None, e)
            }
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().expect("checked").clone();
                self.leaf(&ident)
            }
            Expr::Path(p) => {
                let last = p.path.segments.last().map(|s| s.ident.to_string());
                self.cx.error_at(
                    e,
                    format!(
                        "a parameter must be a plain local name: bind the value first, \
                         e.g. `let {} = ..;`, and use that name",
                        last.as_deref().unwrap_or("c").to_lowercase()
                    ),
                );
                None
            }
            Expr::Call(c) => self.call(c),
            Expr::MethodCall(m) => {
                let name = m.method.to_string();
                let simple = |e: &Expr| matches!(strip(e), Expr::Path(_) | Expr::Lit(_));
                let fix = if op::lookup(&name).is_none() {
                    "call functions by name, e.g. `exp(f)`".to_string()
                } else if simple(&m.receiver) && m.args.iter().all(simple) {
                    let mut args = vec![m.receiver.to_token_stream().to_string()];
                    args.extend(m.args.iter().map(|a| a.to_token_stream().to_string()));
                    format!("write `{name}({})`", args.join(", "))
                } else if m.args.is_empty() {
                    format!("write `{name}(f)` instead of `f.{name}()`")
                } else {
                    format!("write `{name}(f, ..)` instead of `f.{name}(..)`")
                };
                self.cx.error_at(
                    e,
                    format!("method calls are not supported in a formula: {fix}"),
                );
                None
            }
            Expr::If(_) => {
                self.cx.error_at(
                    e,
                    "`if` is not supported in a formula: use `ifelse(c, a, b)` (a where c >= 0, else b)",
                );
                None
            }
            Expr::Index(ix) => {
                let fix = match (strip(&ix.expr), int_arg(&ix.index)) {
                    (Expr::Path(p), Some(k)) => {
                        format!("write `elem({}, {k})`", p.to_token_stream())
                    }
                    _ => "use `elem(f, k)` with an integer literal k".to_string(),
                };
                self.cx
                    .error_at(e, format!("indexing is not supported in a formula: {fix}"));
                None
            }
            _ => {
                self.cx.error_at(
                    e,
                    "unsupported syntax in a formula: use numbers, variables (`x_i`, `y_j`), \
                     parameters, `+ - * /`, parentheses and function calls such as `exp(..)`",
                );
                None
            }
        }
    }

    /// Checks the names of the `let`s: not a variable's, not annotated, not bound twice, used.
    /// `mentioned`: the names the formula's body mentions.
    fn check_lets(&mut self, input: &Input, mentioned: &HashSet<String>) {
        let mut seen = HashSet::new();
        for (k, l) in input.lets.iter().enumerate() {
            let name = l.name.to_string();
            if let Some(role) = role_of(&name) {
                let c = role.letter();
                self.cx.error_at(
                    &l.name,
                    format!(
                        "`{name}` ends in `_{c}`, which names a variable indexed by {c}: \
                         choose another name for this `let`"
                    ),
                );
            } else if !seen.insert(name.clone()) {
                self.cx.error_at(
                    &l.name,
                    format!("`{name}` is already defined by an earlier `let`: choose another name"),
                );
            } else if !mentioned.contains(&name)
                && !(input.lets.iter().enumerate())
                    .any(|(o, other)| o != k && mentioned_names(&other.expr).contains(&name))
            {
                // (A use by an earlier `let` is reported as a use before the definition.)
                self.cx
                    .error_at(&l.name, format!("`{name}` is defined but never used"));
            }
            if let Some(d) = input.decls.iter().find(|d| d.name == l.name) {
                self.cx.error_at(
                    &d.name,
                    format!(
                        "`{name}` is a `let` name, not a variable or parameter: \
                         annotate what it is computed from"
                    ),
                );
            }
        }
    }

    /// Lowers the `let`s in order, binding each name to its node.
    fn lower_lets(&mut self, lets: &[crate::parse::Let]) {
        for l in lets {
            find_nested(&l.expr, &mut self.nested);
            self.pending_lets.insert(l.name.to_string());
        }
        for l in lets {
            let name = l.name.to_string();
            let node = self.lower(&l.expr);
            self.pending_lets.remove(&name);
            // A name bound twice (reported) keeps its first binding.
            self.lets.entry(name).or_insert(node);
        }
    }

    fn leaf(&mut self, ident: &syn::Ident) -> Option<usize> {
        let name = ident.to_string();
        if let Some(l) = name.strip_prefix("__keops_index_") {
            // The row index itself (internal: gradients through arg indices).
            let role = if l == "i" { Role::I } else { Role::J };
            return Some(self.mk(Op::Index(role), vec![], RShape::Scalar));
        }
        if let Some(&node) = self.lets.get(&name) {
            return node;
        }
        if self.pending_lets.contains(&name) {
            self.cx.error_at(
                ident,
                format!("`{name}` is used before its `let`: a `let` can only use earlier ones"),
            );
            return None;
        }
        if let Some(role) = role_of(&name) {
            if self.nested.contains(&role) && !self.red_stack.contains(&role) {
                // Reported, but the variable is still lowered: errors that do not involve its
                // index are independent and still found.
                let l = role.letter();
                self.cx.error_at(
                    ident,
                    format!(
                        "`{name}` is indexed by {l}, but it is outside `sum_{l}(..)`: \
                         the result of a sum over {l} no longer depends on {l}"
                    ),
                );
            }
        }
        if let Some(&node) = self.names.get(&name) {
            return Some(node);
        }
        let decl = self.decls.get(&name).copied();
        let role = role_of(&name);
        // A parameter is a scalar unless annotated (`c: 3`): a scalar broadcasts, so `s` in
        // `exp(-d / s) * b_j` stays one value instead of taking `b_j`'s dimension.
        let shape = match decl {
            Some((1, _)) => RShape::Scalar,
            None if role.is_none() => RShape::Scalar,
            _ => RShape::Vec(self.new_class(decl, name.clone())),
        };
        let op = match role {
            Some(role) => {
                self.vars.push((name.clone(), role, shape));
                Op::Var(self.vars.len() - 1)
            }
            None => {
                self.params
                    .push((ident.clone(), shape, decl.map(|(n, _)| n)));
                Op::Param(self.params.len() - 1)
            }
        };
        let node = self.mk(op, vec![], shape);
        self.names.insert(name, node);
        Some(node)
    }

    /// Lowers `args` only for the errors they hold (their call failed).
    fn lower_for_errors<'e>(&mut self, args: impl IntoIterator<Item = &'e Expr>) {
        for a in args {
            self.lower(a);
        }
    }

    fn call(&mut self, c: &syn::ExprCall) -> Option<usize> {
        let Some(fname) = call_name(c) else {
            let known = match &*c.func {
                Expr::Path(p) => p
                    .path
                    .segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .filter(|n| op::lookup(n).is_some()),
                _ => None,
            };
            let msg = match known {
                Some(n) => {
                    format!("a formula calls functions by their plain name: write `{n}(..)`")
                }
                None => "a formula calls functions by their plain name, e.g. `exp(..)`".to_string(),
            };
            self.cx.error_at(&c.func, msg);
            self.lower_for_errors(&c.args);
            return None;
        };
        let name = fname.to_string();
        if name == "grad" {
            return self.grad_call(c);
        }
        if name == "__keops_kmask" {
            return self.kmask_call(c);
        }
        if let Some(role) = reduction_role(&name) {
            self.cx.error_at(
                c,
                format!(
                    "a reduction cannot be nested inside a formula: `{name}(..)` must be the whole formula"
                ),
            );
            self.red_stack.push(role);
            self.lower_for_errors(&c.args);
            self.red_stack.pop();
            return None;
        }
        if let Some(node) = self.shape_hook(&name, c) {
            return node;
        }
        if op::lookup(&name).is_none() {
            let hint = op::suggest(&name)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            self.cx
                .error_at(fname, format!("unknown function `{name}`{hint}"));
            self.lower_for_errors(&c.args);
            return None;
        }
        let Some(def) = op::lookup_arity(&name, c.args.len()) else {
            // Each form the name has (`min(f)`, `min(f, g)`), with what it computes when there
            // are several.
            let mut forms: Vec<&op::FnDef> = op::overloads(&name).collect();
            forms.sort_by_key(|def| def.arity);
            let takes: Vec<String> = forms
                .iter()
                .map(|def| {
                    let plural = if def.max_arity == 1 { "" } else { "s" };
                    let n = if def.max_arity == def.arity {
                        def.arity.to_string()
                    } else {
                        format!("{} or {}", def.arity, def.max_arity)
                    };
                    match def.op.form().filter(|_| forms.len() > 1) {
                        Some(form) => format!("{n} argument{plural} ({form})"),
                        None => format!("{n} argument{plural}"),
                    }
                })
                .collect();
            self.cx.error_at(
                c,
                format!(
                    "`{name}` takes {}, but {} {} given",
                    takes.join(" or "),
                    c.args.len(),
                    if c.args.len() == 1 { "was" } else { "were" }
                ),
            );
            self.lower_for_errors(&c.args);
            return None;
        };
        let args: Vec<&Expr> = c.args.iter().collect();
        match def.op {
            Op::TensorDot(_) => self.tensor_call(&name, &args, fname, c),
            Op::SqNorm | Op::SqDist if name.starts_with("weighted") => {
                self.weighted_call(&args, fname, c)
            }
            Op::Pow(_) | Op::Elem(_) => {
                let a = self.lower(args[0]);
                let k = int_arg(args[1]);
                let op = match (def.op, k) {
                    (Op::Pow(_), Some(n)) if i32::try_from(n).is_ok() => Op::Pow(n as i32),
                    (Op::Elem(_), Some(k)) if k >= 0 => Op::Elem(k as usize),
                    (Op::Pow(_), Some(_)) => {
                        self.cx.error_at(
                            args[1],
                            "the exponent of `pow` is out of range (it must fit in an `i32`)",
                        );
                        return None;
                    }
                    (Op::Pow(_), None) => {
                        self.cx.error_at(
                            args[1],
                            "the exponent of `pow` must be an integer literal; use `powf(f, g)` for a real exponent",
                        );
                        return None;
                    }
                    _ => {
                        self.cx.error_at(
                            args[1],
                            "the index of `elem` must be a non-negative integer literal",
                        );
                        return None;
                    }
                };
                self.apply(op, vec![a?], &args[..1], Some(fname), c)
            }
            Op::ClampInt(..) | Op::Round(_) => {
                let a = self.lower(args[0]);
                // An integer literal in `lo..=hi`, or an error on `e`.
                let mut int =
                    |e: &Expr, what: &str, (lo, hi): (i64, i64), hint: &str| match int_arg(e) {
                        Some(v) if (lo..=hi).contains(&v) => Some(v as i32),
                        Some(_) => {
                            let msg = format!("{what} is out of range ({lo} to {hi})");
                            self.cx.error_at(e, msg);
                            None
                        }
                        None => {
                            let msg = format!("{what} must be an integer literal{hint}");
                            self.cx.error_at(e, msg);
                            None
                        }
                    };
                let op = if def.op == Op::Round(0) {
                    let r = op::ROUND_DECIMALS;
                    let range = (i64::from(*r.start()), i64::from(*r.end()));
                    Op::Round(int(
                        args[1],
                        "the number of decimals of `round`",
                        range,
                        "",
                    )?)
                } else {
                    let range = (i64::from(i32::MIN), i64::from(i32::MAX));
                    let (what, hint) = (
                        "a bound of `clampint`",
                        "; use `clamp(f, a, b)` for other bounds",
                    );
                    let lo = int(args[1], what, range, hint);
                    let hi = int(args[2], what, range, hint);
                    Op::ClampInt(lo?, hi?)
                };
                self.apply(op, vec![a?], &args[..1], Some(fname), c)
            }
            Op::Mod if args.len() == 2 => {
                // `modulo(f, m)`: the offset is 0.
                let lowered: Vec<Option<usize>> = args.iter().map(|a| self.lower(a)).collect();
                let mut ids: Vec<usize> = lowered.into_iter().collect::<Option<_>>()?;
                ids.push(self.mk(Op::Const(Const(0.0)), vec![], RShape::Scalar));
                self.apply(Op::Mod, ids, &args, Some(fname), c)
            }
            Op::OneHot => {
                // KeOps' OneHot(f, D): f scalar.
                let a = self.lower(args[0]);
                let d = self.dim_arg(args[1], "the dimension D of `onehot(f, D)`");
                let a = self.scalar_arg(a?, args[0], fname, "encodes one value as a vector")?;
                let d = d?;
                let shape = self.given_shape(d, format!("onehot(.., {d})"), c);
                Some(self.mk(Op::OneHot, vec![a], shape))
            }
            Op::Extract(_) => {
                // KeOps' Extract(f, M, D): entries M..M+D of f.
                let a = self.lower(args[0]);
                let m = self.index_arg(args[1], "the start M of `extract(f, M, D)`");
                let d = self.dim_arg(args[2], "the dimension D of `extract(f, M, D)`");
                let (a, m, d) = (a?, m?, d?);
                match self.shape(a) {
                    RShape::Scalar if m + d > 1 => {
                        self.cx.error_at(
                            c,
                            format!(
                                "extract(f, {m}, {d}) reads entries {m}..{} of f, but f is a scalar (its only entry is 0)",
                                m + d
                            ),
                        );
                        return None;
                    }
                    RShape::Scalar => {}
                    RShape::Vec(cl) => self.extracts.push((cl, m, d, c.to_token_stream())),
                }
                let shape = self.given_shape(d, format!("extract(.., {m}, {d})"), c);
                Some(self.mk(Op::Extract(Start::At(m)), vec![a], shape))
            }
            Op::ExtractT(_) if name == "elem_t" => {
                // KeOps' ElemT(f, N, M): the scalar f at index M of a vector of N zeros.
                let a = self.lower(args[0]);
                let n = self.dim_arg(args[1], "the dimension N of `elem_t(f, N, M)`");
                let m = self.index_arg(args[2], "the index M of `elem_t(f, N, M)`");
                let a = self.scalar_arg(a?, args[0], fname, "places one value in a vector");
                let (a, n, m) = (a?, n?, m?);
                if m >= n {
                    self.cx.error_at(
                        args[2],
                        format!(
                            "elem_t(f, {n}, {m}): index {m} is out of range for a vector of dimension {n} (indices start at 0)"
                        ),
                    );
                    return None;
                }
                let shape = self.given_shape(n, format!("elem_t(.., {n}, {m})"), c);
                Some(self.mk(Op::ExtractT(Start::At(m)), vec![a], shape))
            }
            Op::ExtractT(_) => {
                // KeOps' ExtractT(f, M, D): f at offset M of a vector of D zeros.
                let a = self.lower(args[0]);
                let m = self.index_arg(args[1], "the start M of `extract_t(f, M, D)`");
                let d = self.dim_arg(args[2], "the dimension D of `extract_t(f, M, D)`");
                let (a, m, d) = (a?, m?, d?);
                self.placements
                    .push((self.shape(a), m, d, c.to_token_stream()));
                let shape = self.given_shape(d, format!("extract_t(.., {m}, {d})"), c);
                Some(self.mk(Op::ExtractT(Start::At(m)), vec![a], shape))
            }
            Op::Broadcast => {
                // KeOps' Zero(N): the constant 0 in a vector of dimension N.
                let n = self.dim_arg(args[0], "the dimension N of `zero(N)`")?;
                let zero = self.mk(Op::Const(Const(0.0)), vec![], RShape::Scalar);
                if n == 1 {
                    return Some(zero);
                }
                let shape = self.given_shape(n, format!("zero({n})"), c);
                Some(self.mk(Op::Broadcast, vec![zero], shape))
            }
            op => {
                let lowered: Vec<Option<usize>> = args.iter().map(|a| self.lower(a)).collect();
                let ids: Option<Vec<usize>> = lowered.into_iter().collect();
                self.apply(op, ids?, &args, Some(fname), c)
            }
        }
    }

    /// Doc-hidden forms, not part of the formula language, that build the operations whose shape
    /// is the node's with the shape of their last argument (`like`, lowered for its shape only,
    /// e.g. a run-time dimension): `__onehot_like(f, like)`, `__broadcast_like(f, like)`,
    /// `__extract_like(f, M, like)`, `__extract_t_like(f, M, like)`, `__extract_tail(f, like)`
    /// (the last `dim(like)` entries of f), `__extract_t_tail(f, like)`. Nothing is checked (the
    /// compiler builds such nodes itself, for gradients): they let the tests run the emitters'
    /// code for these operations with run-time dimensions. `None` for other names.
    fn shape_hook(&mut self, name: &str, c: &syn::ExprCall) -> Option<Option<usize>> {
        let (op, n) = match name {
            "__onehot_like" => (Op::OneHot, 2),
            "__broadcast_like" => (Op::Broadcast, 2),
            "__extract_like" => (Op::Extract(Start::At(0)), 3),
            "__extract_t_like" => (Op::ExtractT(Start::At(0)), 3),
            "__extract_tail" => (Op::Extract(Start::Tail), 2),
            "__extract_t_tail" => (Op::ExtractT(Start::Tail), 2),
            _ => return None,
        };
        if c.args.len() != n {
            self.cx.error_at(c, format!("`{name}` takes {n} arguments"));
            return Some(None);
        }
        let a = self.lower(&c.args[0]);
        let like = self.lower(&c.args[n - 1]);
        let op = match (op, n) {
            (Op::Extract(_), 3) => Op::Extract(Start::At(self.index_arg(&c.args[1], "M")?)),
            (Op::ExtractT(_), 3) => Op::ExtractT(Start::At(self.index_arg(&c.args[1], "M")?)),
            (op, _) => op,
        };
        let (Some(a), Some(like)) = (a, like) else {
            return Some(None);
        };
        let shape = self.shape(like);
        Some(Some(self.mk(op, vec![a], shape)))
    }

    /// A dimension given as a function's argument: an integer literal in `1..=MAX_DIM`, or an
    /// error on `e` (`what` names it).
    fn dim_arg(&mut self, e: &Expr, what: &str) -> Option<usize> {
        match int_arg(e) {
            Some(n) if (1..=crate::MAX_DIM as i64).contains(&n) => Some(n as usize),
            Some(n) if n > 0 => {
                let msg = format!(
                    "{what} is {n}, but keops supports dimensions up to {}",
                    crate::MAX_DIM
                );
                self.cx.error_at(e, msg);
                None
            }
            _ => {
                self.cx
                    .error_at(e, format!("{what} must be a positive integer literal"));
                None
            }
        }
    }

    /// An index given as a function's argument: an integer literal in `0..MAX_DIM`, or an error on
    /// `e` (`what` names it).
    fn index_arg(&mut self, e: &Expr, what: &str) -> Option<usize> {
        match int_arg(e) {
            Some(n) if (0..crate::MAX_DIM as i64).contains(&n) => Some(n as usize),
            Some(n) if n > 0 => {
                let msg = format!(
                    "{what} is {n}, beyond the largest dimension keops supports ({})",
                    crate::MAX_DIM
                );
                self.cx.error_at(e, msg);
                None
            }
            _ => {
                self.cx
                    .error_at(e, format!("{what} must be a non-negative integer literal"));
                None
            }
        }
    }

    /// `a` (the lowered `e`, argument 1 of `func`) when it is a scalar; else an error on `e`:
    /// `func` `does` something with one value.
    fn scalar_arg(&mut self, a: usize, e: &Expr, func: &syn::Ident, does: &str) -> Option<usize> {
        if self.shape(a) == RShape::Scalar {
            return Some(a);
        }
        let name = Self::operand_name(e, 0, Some(func));
        self.cx.error_at(
            e,
            format!(
                "`{func}` {does}, so its argument must be a scalar, but {name} is a vector: \
                 annotate a scalar variable (`x_i: 1`), or reduce the vector to one value \
                 (`sum`, `elem`, `min`...)"
            ),
        );
        None
    }

    /// The shape of dimension `n` given by a call (`onehot(f, n)`...): a scalar for 1, else the
    /// fixed class of that dimension (one per dimension, made on first use; `label` shows the
    /// call in messages, e.g. `onehot(.., 3)`).
    fn given_shape(&mut self, n: usize, label: String, at: &dyn ToTokens) -> RShape {
        if n == 1 {
            return RShape::Scalar;
        }
        if let Some(&c) = self.given.get(&n) {
            return RShape::Vec(c);
        }
        let c = self.new_class(Some((n, at.to_token_stream().span())), label);
        self.classes[c].fixed_by_call = true;
        self.given.insert(n, c);
        RShape::Vec(c)
    }

    /// How a message names operand `k` (expression `e`) of a binary operator (`func` is `None`)
    /// or of a call to `func`: `x_i`, "the left operand", "argument 2 of `dot`".
    fn operand_name(e: &Expr, k: usize, func: Option<&syn::Ident>) -> String {
        if let Expr::Path(p) = strip(e) {
            if let Some(id) = p.path.get_ident() {
                return format!("`{id}`");
            }
        }
        match func {
            None => ["the left operand", "the right operand"][k.min(1)].to_string(),
            Some(f) => format!("argument {} of `{f}`", k + 1),
        }
    }

    /// Types an operation on lowered arguments, then adds it. For messages: `operands` are the
    /// arguments' expressions, `func` the called function (`None` for an operator), `at` the whole.
    fn apply(
        &mut self,
        op: Op,
        args: Vec<usize>,
        operands: &[&Expr],
        func: Option<&syn::Ident>,
        at: &dyn ToTokens,
    ) -> Option<usize> {
        let shapes: Vec<RShape> = args.iter().map(|&a| self.shape(a)).collect();
        let name = |k: usize| Self::operand_name(operands[k], k, func);
        let shape = match op.typing() {
            Typing::Entrywise => {
                let mut out = RShape::Scalar;
                let mut out_k = 0;
                for (k, s) in shapes.iter().enumerate() {
                    if let RShape::Vec(c) = *s {
                        match out {
                            RShape::Scalar => (out, out_k) = (RShape::Vec(c), k),
                            RShape::Vec(o) => {
                                if !self.unify(o, c, at, &name(out_k), &name(k)) {
                                    return None;
                                }
                            }
                        }
                    }
                }
                out
            }
            Typing::ToScalar => RShape::Scalar,
            Typing::PairToScalar => match (shapes[0], shapes[1]) {
                (RShape::Scalar, RShape::Scalar) => RShape::Scalar,
                (RShape::Vec(a), RShape::Vec(b)) => {
                    if !self.unify(a, b, at, &name(0), &name(1)) {
                        return None;
                    }
                    RShape::Scalar
                }
                (RShape::Vec(_), RShape::Scalar) | (RShape::Scalar, RShape::Vec(_)) => {
                    let opname = op.canonical_name();
                    let (v, s) = if shapes[0] == RShape::Scalar {
                        (name(1), name(0))
                    } else {
                        (name(0), name(1))
                    };
                    self.cx.error_at(
                        at,
                        format!(
                            "`{opname}` needs two vectors of the same dimension (or two scalars), \
                             but {v} is a vector and {s} is a scalar"
                        ),
                    );
                    return None;
                }
            },
            Typing::SameShape => shapes[0],
            Typing::Elem => {
                let Op::Elem(k) = op else { unreachable!() };
                match shapes[0] {
                    RShape::Scalar if k != 0 => {
                        self.cx.error_at(
                            at,
                            format!("elem(.., {k}) of a scalar: the only index of a scalar is 0"),
                        );
                        return None;
                    }
                    RShape::Scalar => {}
                    RShape::Vec(c) => self.elems.push((c, k, at.to_token_stream().span())),
                }
                RShape::Scalar
            }
            Typing::Concat => {
                let label = at.to_token_stream().to_string();
                let c = self.new_class(None, label);
                let span = at.to_token_stream().span();
                self.classes[c].concats.push((shapes[0], shapes[1], span));
                RShape::Vec(c)
            }
            Typing::Leaf => unreachable!("leaves are made by `leaf`"),
            Typing::Internal => unreachable!("internal operations are built with their shape"),
            Typing::Tensor => unreachable!("contractions are built by `tensor_call`"),
        };
        Some(self.mk(op, args, shape))
    }

    /// Resolves classes, checks what needs resolved dimensions, and builds the [`Formula`].
    fn finish(
        mut self,
        root: usize,
        weight: Option<usize>,
        reduction: Reduction,
        body: &Expr,
    ) -> Option<Formula> {
        // Dimensions of concat classes whose operands are fixed.
        loop {
            let mut progress = false;
            for c in 0..self.classes.len() {
                if self.find(c) != c || self.classes[c].concats.is_empty() {
                    continue;
                }
                for k in 0..self.classes[c].concats.len() {
                    let (a, b, span) = self.classes[c].concats[k];
                    let (da, db) = (self.fixed_dim(a), self.fixed_dim(b));
                    if let (Some(da), Some(db)) = (da, db) {
                        match self.classes[c].fixed {
                            Some((n, _)) if n != da + db => {
                                self.cx.error_span(
                                    span,
                                    format!(
                                        "dimension mismatch: this concatenation has dimension {} but must have dimension {n}",
                                        da + db
                                    ),
                                );
                                self.classes[c].concats.clear();
                            }
                            Some(_) => {}
                            None => {
                                self.classes[c].fixed = Some((da + db, span));
                                progress = true;
                            }
                        }
                    }
                }
            }
            if !progress {
                break;
            }
        }
        // Final classes.
        let mut final_of: HashMap<usize, Shape> = HashMap::new();
        let mut classes: Vec<DimClass> = Vec::new();
        let mut slots = Vec::new();
        for c in 0..self.classes.len() {
            if self.find(c) != c {
                continue;
            }
            let rc = &self.classes[c];
            if rc.concats.len() > 1 && rc.fixed.is_none() {
                let span = rc.concats[1].2;
                self.cx.error_span(
                    span,
                    "this formula ties two concatenations to one dimension; annotate the variables' dimensions",
                );
            }
            let shape = match rc.fixed {
                Some((1, _)) => Shape::Scalar,
                fixed => {
                    let slot = if fixed.is_none() {
                        slots.push(classes.len());
                        Some(slots.len() - 1)
                    } else {
                        None
                    };
                    classes.push(DimClass {
                        fixed: fixed.map(|(n, _)| n),
                        concat: None,
                        label: rc.label.clone(),
                        slot,
                    });
                    Shape::Vector(classes.len() - 1)
                }
            };
            final_of.insert(c, shape);
        }
        let resolve = |b: &mut Self, s: RShape| match s {
            RShape::Scalar => Shape::Scalar,
            RShape::Vec(c) => {
                let r = b.find(c);
                final_of[&r]
            }
        };
        for c in 0..self.classes.len() {
            if self.find(c) != c || self.classes[c].fixed.is_some() {
                continue;
            }
            if let Some(&(a, b, _)) = self.classes[c].concats.first() {
                let (a, b) = (resolve(&mut self, a), resolve(&mut self, b));
                if let Shape::Vector(k) = final_of[&c] {
                    classes[k].concat = Some((a, b));
                }
            }
        }
        let mut elems = Vec::new();
        for (c, k, span) in std::mem::take(&mut self.elems) {
            match resolve(&mut self, RShape::Vec(c)) {
                Shape::Scalar if k > 0 => self.cx.error_span(
                    span,
                    format!("elem(.., {k}) of a scalar: the only index of a scalar is 0"),
                ),
                Shape::Scalar => {}
                Shape::Vector(cl) => match classes[cl].fixed {
                    Some(n) if k >= n => self.cx.error_span(
                        span,
                        format!("elem(.., {k}) is out of range for a vector of dimension {n}"),
                    ),
                    Some(_) => {}
                    None => elems.push(ElemCheck {
                        class: cl,
                        index: k,
                        extract: None,
                    }),
                },
            }
        }
        for (c, m, d, call) in std::mem::take(&mut self.extracts) {
            let n = match resolve(&mut self, RShape::Vec(c)) {
                Shape::Scalar => Some(1),
                Shape::Vector(cl) => {
                    if classes[cl].fixed.is_none() {
                        // Checked when the data is bound: entry m + d - 1 must exist.
                        elems.push(ElemCheck {
                            class: cl,
                            index: m + d - 1,
                            extract: Some((m, d)),
                        });
                    }
                    classes[cl].fixed
                }
            };
            match n {
                Some(n) if m + d > n => self.cx.error_at(
                    &call,
                    format!(
                        "extract(f, {m}, {d}) reads entries {m}..{} of f, but f has dimension {n}",
                        m + d
                    ),
                ),
                _ => {}
            }
        }
        for (s, m, d, call) in std::mem::take(&mut self.placements) {
            let n = match resolve(&mut self, s) {
                Shape::Scalar => Some(1),
                Shape::Vector(cl) => classes[cl].fixed,
            };
            match n {
                None => self.cx.error_at(
                    &call,
                    format!(
                        "extract_t(f, {m}, {d}) needs the dimension of f at compile time, to check \
                         that f fits in a vector of dimension {d}: annotate the variables f is \
                         computed from (e.g. `x_i: 3`)"
                    ),
                ),
                Some(n) if m + n > d => self.cx.error_at(
                    &call,
                    format!(
                        "extract_t(f, {m}, {d}) places f, of dimension {n}, at entries {m}..{}, \
                         beyond the dimension {d} of the result",
                        m + n
                    ),
                ),
                _ => {}
            }
        }
        let nodes: Vec<Node> = (0..self.nodes.len())
            .map(|i| {
                let s = self.nodes[i].shape;
                let shape = resolve(&mut self, s);
                let n = &self.nodes[i];
                Node {
                    op: n.op,
                    args: n.args.clone(),
                    shape,
                    deps: n.deps,
                }
            })
            .collect();
        let vars: Vec<Var> = (0..self.vars.len())
            .map(|i| {
                let (name, role, s) = self.vars[i].clone();
                Var {
                    name,
                    role,
                    shape: resolve(&mut self, s),
                }
            })
            .collect();
        let params: Vec<Param> = (0..self.params.len())
            .map(|i| {
                let (ident, s, fixed_dim) = self.params[i].clone();
                Param {
                    ident,
                    shape: resolve(&mut self, s),
                    fixed_dim,
                }
            })
            .collect();
        if reduction == Reduction::Kernel && nodes[root].shape != Shape::Scalar {
            self.cx.error_at(
                body,
                "a formula without a reduction is a kernel matrix K_ij and must be scalar, \
                 but this one is a vector; reduce it (`sqnorm`, `sum`, `dot`), annotate \
                 scalar variables `x_i: 1`, or wrap it in `sum_j(..)`",
            );
        }
        if let Some(op) = reduction.op().filter(|op| op.is_shifted_exp()) {
            if nodes[root].shape != Shape::Scalar {
                let name = reduction.name().unwrap_or_default();
                let what = if op == RedOp::SumSoftMaxWeight {
                    "the values V may be a vector"
                } else {
                    "the weight may be a vector: `logsumexp_j(F, W)`"
                };
                self.cx.error_at(
                    body,
                    format!(
                        "`{name}` needs a scalar formula F (KeOps' {} reduces one value per pair), but \
                         this one is a vector: annotate scalar variables `x_i: 1`, or reduce it \
                         (`sqnorm`, `sum`, `dot`); {what}",
                        if op == RedOp::SumSoftMaxWeight {
                            "SumSoftMaxWeight"
                        } else {
                            "LogSumExp"
                        }
                    ),
                );
            }
        }
        if self.cx.has_errors() {
            return None;
        }
        Some(Formula {
            nodes,
            root,
            weight,
            reduction,
            vars,
            params,
            classes,
            elems,
            slots,
            tensors: std::mem::take(&mut self.tensors),
            stages: Vec::new(),
            total: false,
        })
    }

    fn fixed_dim(&mut self, s: RShape) -> Option<usize> {
        match s {
            RShape::Scalar => Some(1),
            RShape::Vec(c) => {
                let r = self.find(c);
                self.classes[r].fixed.map(|(n, _)| n)
            }
        }
    }
}
