//! Dimension inference: which operands share a dimension, and which dimensions are known at
//! compile time.
//!
//! Every data variable and annotated parameter starts in a class of its own (a union-find entry);
//! an entrywise operation between two vectors merges their classes, a scalar broadcasts. A class
//! gets a fixed dimension from an annotation (`x_i: 3`), from a call that gives one (`onehot(f,
//! 3)`, `zero(3)`, a contraction) or, at the end, from a concatenation of fixed parts; the others
//! are known at run time only (the formula's slots). Checks that need a final dimension (`elem`,
//! `extract`, `extract_t` of a vector whose class was still open) wait for [`Dims::finish`].

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::ir::{DimClass, ElemCheck, Shape};

/// A shape during inference: a scalar, or a vector of a class (a union-find entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RShape {
    /// One value.
    Scalar,
    /// A vector whose dimension is that of the class (meaningful at its root).
    Vec(usize),
}

/// A class during inference; the fields are those of its union-find root.
struct Class {
    /// The dimension, and where it was fixed.
    fixed: Option<(usize, Span)>,
    /// What fixed the dimension (an annotated name, or a call), for messages.
    fixed_by: String,
    /// `fixed_by` is a call that gives the dimension (`onehot(f, 3)`), not an annotated name.
    fixed_by_call: bool,
    /// The concatenations of this class: its dimension is the sum of the parts'.
    concats: Vec<(RShape, RShape, Span)>,
    /// The class's name in messages and in the formula's table.
    label: String,
}

/// The classes, and the checks waiting for their final dimensions.
#[derive(Default)]
pub(crate) struct Dims {
    parent: Vec<usize>,
    classes: Vec<Class>,
    /// The fixed class of each dimension given by a function's integer argument (`onehot(f, 3)`,
    /// `zero(3)`...): one per dimension, so that equal calls are one node.
    given: HashMap<usize, usize>,
    /// `elem(f, k)` of a vector f: (f's class, k, the call).
    elems: Vec<(usize, usize, Span)>,
    /// `extract(f, M, D)` of a vector f: (f's class, M, D, the call).
    extracts: Vec<(usize, usize, usize, TokenStream)>,
    /// `extract_t(f, M, D)`: (f's shape, M, D, the call).
    placements: Vec<(RShape, usize, usize, TokenStream)>,
}

/// The final classes: what [`Dims::finish`] gives the checked formula.
pub(crate) struct Table {
    /// The formula's [`DimClass`]es (one per union-find root of a vector).
    pub(crate) classes: Vec<DimClass>,
    /// The classes known at run time only, in slot order.
    pub(crate) slots: Vec<usize>,
    /// The `elem` / `extract` bounds to check when the data is bound.
    pub(crate) elems: Vec<ElemCheck>,
    /// The final shape of every inference class (merged classes share one).
    shape_of: Vec<Shape>,
}

impl Table {
    /// The final shape of an inference shape.
    pub(crate) fn shape(&self, s: RShape) -> Shape {
        match s {
            RShape::Scalar => Shape::Scalar,
            RShape::Vec(c) => self.shape_of[c],
        }
    }
}

impl Dims {
    /// A new class, fixed or not; `label` names it (an annotated name, a call).
    pub(crate) fn new_class(&mut self, fixed: Option<(usize, Span)>, label: String) -> usize {
        let id = self.classes.len();
        self.classes.push(Class {
            fixed,
            fixed_by: label.clone(),
            fixed_by_call: false,
            concats: Vec::new(),
            label,
        });
        self.parent.push(id);
        id
    }

    /// A new class of dimension `n`, given by the call `label` at `span` (a contraction).
    pub(crate) fn call_class(&mut self, n: usize, span: Span, label: String) -> usize {
        let c = self.new_class(Some((n, span)), label);
        self.classes[c].fixed_by_call = true;
        c
    }

    /// The shape of dimension `n` given by a call (`onehot(f, n)`...): a scalar for 1, else the
    /// fixed class of that dimension (one per dimension, made on first use; `label` shows the
    /// call in messages, e.g. `onehot(.., 3)`).
    pub(crate) fn given_shape(&mut self, n: usize, label: String, at: &dyn ToTokens) -> RShape {
        if n == 1 {
            return RShape::Scalar;
        }
        if let Some(&c) = self.given.get(&n) {
            return RShape::Vec(c);
        }
        let c = self.call_class(n, at.to_token_stream().span(), label);
        self.given.insert(n, c);
        RShape::Vec(c)
    }

    /// The shape of `concat(a, b)` at `at`: a new class, whose dimension is resolved at the end.
    pub(crate) fn concat_shape(&mut self, a: RShape, b: RShape, at: &dyn ToTokens) -> RShape {
        let label = at.to_token_stream().to_string();
        let c = self.new_class(None, label);
        let span = at.to_token_stream().span();
        self.classes[c].concats.push((a, b, span));
        RShape::Vec(c)
    }

    /// The root of class `c` (with path compression).
    pub(crate) fn find(&mut self, c: usize) -> usize {
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

    /// Merges two classes known to be compatible (checked by [`unify`](Self::unify), or from a
    /// checked formula): the first one's root represents both.
    pub(crate) fn merge(&mut self, a: usize, b: usize) {
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

    /// Merges two classes that must share a dimension; a clash of fixed dimensions is an error at
    /// `at`, whose operands `da`, `db` are named in the message.
    pub(crate) fn unify(
        &mut self,
        cx: &mut Ctxt,
        a: usize,
        b: usize,
        at: &dyn ToTokens,
        (da, db): (&str, &str),
    ) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return true;
        }
        if let (Some((na, _)), Some((nb, _))) = (self.classes[ra].fixed, self.classes[rb].fixed) {
            if na != nb {
                let (da, db) = (self.describe(ra, da), self.describe(rb, db));
                cx.error_at(at, format!("dimension mismatch: {da} but {db}"));
                return false;
            }
        }
        self.merge(ra, rb);
        true
    }

    /// "`c` has dimension 3 (from the annotation `x_i: 3`)": what an operand of class `c` is.
    pub(crate) fn describe(&mut self, c: usize, operand: &str) -> String {
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

    /// The dimension of `s` if fixed now (a scalar's is 1).
    pub(crate) fn fixed_dim(&mut self, s: RShape) -> Option<usize> {
        match s {
            RShape::Scalar => Some(1),
            RShape::Vec(c) => {
                let r = self.find(c);
                self.classes[r].fixed.map(|(n, _)| n)
            }
        }
    }

    /// The dimension of `s` if known now, a concatenation of parts of known dimensions included
    /// (its class is then fixed here rather than in [`finish`](Self::finish), which still checks
    /// any other concatenation tied to the class).
    pub(crate) fn resolved_dim(&mut self, s: RShape) -> Option<usize> {
        if let Some(d) = self.fixed_dim(s) {
            return Some(d);
        }
        let RShape::Vec(c) = s else {
            unreachable!("a scalar has dimension 1")
        };
        let r = self.find(c);
        for (a, b, span) in self.classes[r].concats.clone() {
            if let (Some(da), Some(db)) = (self.resolved_dim(a), self.resolved_dim(b)) {
                let rc = &mut self.classes[r];
                rc.fixed = Some((da + db, span));
                rc.fixed_by = rc.label.clone();
                rc.fixed_by_call = true;
                return Some(da + db);
            }
        }
        None
    }

    /// Requires class `c` to have dimension `n`: a run-time class gets it (from the call `at`),
    /// a fixed one must have it (`false` otherwise).
    pub(crate) fn require(&mut self, c: usize, n: usize, at: &syn::ExprCall) -> bool {
        let r = self.find(c);
        match self.classes[r].fixed {
            Some((m, _)) => m == n,
            None => {
                let label = at.to_token_stream().to_string();
                let rc = &mut self.classes[r];
                rc.fixed = Some((n, at.span()));
                rc.fixed_by = label;
                rc.fixed_by_call = true;
                true
            }
        }
    }

    /// `elem(f, k)` at `span`, f of class `c`: its bound is checked once `c` is resolved.
    pub(crate) fn defer_elem(&mut self, c: usize, k: usize, span: Span) {
        self.elems.push((c, k, span));
    }

    /// `extract(f, m, d)` (`call`), f of class `c`: checked once `c` is resolved.
    pub(crate) fn defer_extract(&mut self, c: usize, m: usize, d: usize, call: TokenStream) {
        self.extracts.push((c, m, d, call));
    }

    /// `extract_t(f, m, d)` (`call`), f of shape `s`: checked once `s` is resolved.
    pub(crate) fn defer_placement(&mut self, s: RShape, m: usize, d: usize, call: TokenStream) {
        self.placements.push((s, m, d, call));
    }

    /// Resolves the concatenations, builds the final classes and makes the deferred checks.
    pub(crate) fn finish(mut self, cx: &mut Ctxt) -> Table {
        self.resolve_concats(cx);
        self.check_concat_cycles(cx);
        let mut table = self.table(cx);
        self.check_elems(cx, &mut table);
        self.check_extracts(cx, &mut table);
        self.check_placements(cx, &table);
        table
    }

    /// Fixes the dimension of each concatenation whose parts are fixed, until nothing changes
    /// (a fixed concatenation may be the part of another).
    fn resolve_concats(&mut self, cx: &mut Ctxt) {
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
                                cx.error_span(
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
    }

    /// A run-time concatenation that is (through run-time concatenations) a part of itself, as in
    /// `sin(x_i) * cos(y_j) + concat(x_i, y_j)` (dim = 2 dim): no dimension fits. Reported here,
    /// since such a class's length would be computed from itself (the emitters looped forever).
    fn check_concat_cycles(&mut self, cx: &mut Ctxt) {
        for c in 0..self.classes.len() {
            if self.find(c) != c || self.classes[c].fixed.is_some() {
                continue;
            }
            let Some(&(_, _, span)) = self.classes[c].concats.first() else {
                continue;
            };
            // The run-time concatenations reachable from c's parts: does one of them lead to c?
            let mut seen = vec![false; self.classes.len()];
            let mut stack: Vec<usize> = vec![c];
            let mut cycle = false;
            while let Some(k) = stack.pop() {
                for (a, b, _) in self.classes[k].concats.clone() {
                    for part in [a, b] {
                        let RShape::Vec(p) = part else { continue };
                        let r = self.find(p);
                        if r == c {
                            cycle = true;
                        } else if !seen[r] && self.classes[r].fixed.is_none() {
                            seen[r] = true;
                            stack.push(r);
                        }
                    }
                }
            }
            if cycle {
                cx.error_span(
                    span,
                    "dimension mismatch: this concatenation must have the dimension of one of its \
                     own parts, but it is longer than each of them; no dimension fits",
                );
                self.classes[c].concats.clear();
            }
        }
    }

    /// One [`DimClass`] per root (a class of dimension 1 is a scalar), a slot per run-time one.
    fn table(&mut self, cx: &mut Ctxt) -> Table {
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
                cx.error_span(
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
        let shape_of = (0..self.classes.len())
            .map(|c| final_of[&self.find(c)])
            .collect();
        let mut table = Table {
            classes,
            slots,
            elems: Vec::new(),
            shape_of,
        };
        // A run-time concatenation: its parts, for the dimension at run time.
        for c in 0..self.classes.len() {
            if self.find(c) != c || self.classes[c].fixed.is_some() {
                continue;
            }
            if let Some(&(a, b, _)) = self.classes[c].concats.first() {
                let (a, b) = (table.shape(a), table.shape(b));
                if let Shape::Vector(k) = final_of[&c] {
                    table.classes[k].concat = Some((a, b));
                }
            }
        }
        table
    }

    /// `elem(f, k)`: in range of a fixed dimension, else checked when the data is bound.
    fn check_elems(&mut self, cx: &mut Ctxt, table: &mut Table) {
        for (c, k, span) in std::mem::take(&mut self.elems) {
            match table.shape(RShape::Vec(c)) {
                Shape::Scalar if k > 0 => cx.error_span(
                    span,
                    format!("elem(.., {k}) of a scalar: the only index of a scalar is 0"),
                ),
                Shape::Scalar => {}
                Shape::Vector(cl) => match table.classes[cl].fixed {
                    Some(n) if k >= n => cx.error_span(
                        span,
                        format!("elem(.., {k}) is out of range for a vector of dimension {n}"),
                    ),
                    Some(_) => {}
                    None => table.elems.push(ElemCheck {
                        class: cl,
                        index: k,
                        extract: None,
                    }),
                },
            }
        }
    }

    /// `extract(f, M, D)`: entries `M..M+D` of f exist (checked when the data is bound if f's
    /// dimension is known at run time only).
    fn check_extracts(&mut self, cx: &mut Ctxt, table: &mut Table) {
        for (c, m, d, call) in std::mem::take(&mut self.extracts) {
            let n = match table.shape(RShape::Vec(c)) {
                Shape::Scalar => Some(1),
                Shape::Vector(cl) => {
                    if table.classes[cl].fixed.is_none() {
                        // Checked when the data is bound: entry m + d - 1 must exist.
                        table.elems.push(ElemCheck {
                            class: cl,
                            index: m + d - 1,
                            extract: Some((m, d)),
                        });
                    }
                    table.classes[cl].fixed
                }
            };
            match n {
                Some(n) if m + d > n => cx.error_at(
                    &call,
                    format!(
                        "extract(f, {m}, {d}) reads entries {m}..{} of f, but f has dimension {n}",
                        m + d
                    ),
                ),
                _ => {}
            }
        }
    }

    /// `extract_t(f, M, D)`: f, of a dimension known at compile time, fits at `M` in `D` entries.
    fn check_placements(&mut self, cx: &mut Ctxt, table: &Table) {
        for (s, m, d, call) in std::mem::take(&mut self.placements) {
            let n = match table.shape(s) {
                Shape::Scalar => Some(1),
                Shape::Vector(cl) => table.classes[cl].fixed,
            };
            match n {
                None => cx.error_at(
                    &call,
                    format!(
                        "extract_t(f, {m}, {d}) needs the dimension of f at compile time, to check \
                         that f fits in a vector of dimension {d}: annotate the variables f is \
                         computed from (e.g. `x_i: 3`)"
                    ),
                ),
                Some(n) if m + n > d => cx.error_at(
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
    }
}
