//! The `kernel!` input: optional dimension annotations, then the formula.
//!
//! ```text
//! kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
//! kernel!(x_i: 3, y_j: 3 => sum_j(exp(-sqdist(x_i, y_j)) * b_j))
//! kernel!(let d = sqdist(x_i, y_j); exp(-d) * (1 + d))
//! ```
//!
//! `let name = expression;` statements, after the annotations and before the formula, name
//! sub-expressions: each is computed once, and later ones may use earlier ones.

use std::collections::HashSet;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, Lit, LitInt, Token, UnOp};

use crate::ir::{RedOp, Role};

/// `name: dim`, fixing a variable's or parameter's dimension at compile time.
#[derive(Clone)]
pub(crate) struct Decl {
    pub(crate) name: Ident,
    pub(crate) dim: LitInt,
}

/// `let name = expr;`: a named sub-expression.
#[derive(Clone)]
pub(crate) struct Let {
    pub(crate) name: Ident,
    pub(crate) expr: Expr,
}

/// A `kernel!` input.
#[derive(Clone)]
pub(crate) struct Input {
    /// The dimension annotations, before `=>`.
    pub(crate) decls: Vec<Decl>,
    /// The `let`s, in order.
    pub(crate) lets: Vec<Let>,
    /// The formula.
    pub(crate) body: Expr,
}

impl Parse for Let {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        input.parse::<Token![let]>()?;
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a name after `let`: `let d = sqdist(x_i, y_j);`",
            )
        })?;
        if input.peek(Token![:]) {
            return Err(
                input.error("a `let` in a formula has no type: `let d = sqdist(x_i, y_j);`")
            );
        }
        input
            .parse::<Token![=]>()
            .map_err(|e| syn::Error::new(e.span(), format!("expected `=` after `let {name}`")))?;
        let rest = input.cursor().token_stream();
        let expr: Expr = input
            .parse()
            .map_err(|e| keyword_hint(&rest).unwrap_or(e))?;
        input.parse::<Token![;]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected `;` after the expression of `let {name}`"),
            )
        })?;
        Ok(Let { name, expr })
    }
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut decls = Vec::new();
        if input.peek(Ident) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            loop {
                let name: Ident = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected a dimension annotation `name: dimension` (e.g. `x_i: 3`) or `=>`",
                    )
                })?;
                input.parse::<Token![:]>()?;
                let dim: LitInt = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!("expected the dimension of `{name}`: a positive integer literal"),
                    )
                })?;
                decls.push(Decl { name, dim });
                if input.peek(Token![=>]) {
                    input.parse::<Token![=>]>()?;
                    break;
                }
                input.parse::<Token![,]>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected `,` or `=>` after a dimension annotation",
                    )
                })?;
                if input.peek(Token![=>]) {
                    input.parse::<Token![=>]>()?;
                    break;
                }
            }
        }
        let mut lets = Vec::new();
        while input.peek(Token![let]) {
            lets.push(input.parse::<Let>()?);
        }
        if input.is_empty() {
            let msg = if lets.is_empty() {
                "expected a formula, e.g. `kernel!(exp(-sqnorm(x_i - y_j)))`"
            } else {
                "expected the formula after the `let`s, e.g. `let d = sqdist(x_i, y_j); exp(-d)`"
            };
            return Err(input.error(msg));
        }
        let rest = input.cursor().token_stream();
        let body: Expr = input
            .parse()
            .map_err(|e| keyword_hint(&rest).unwrap_or(e))?;
        if input.peek(Token![:]) && !input.peek(Token![::]) {
            return Err(input.error(
                "dimension annotations come before the formula: `kernel!(x_i: 3 => formula)`",
            ));
        }
        if input.peek(Token![=>]) {
            return Err(input.error(
                "expected `name: dimension` annotations before `=>`, e.g. `kernel!(x_i: 3 => formula)`",
            ));
        }
        if input.peek(Token![;]) {
            return Err(input.error(
                "unexpected tokens after the formula: `;` (a sub-expression is named by \
                 `let name = expression;` before the formula)",
            ));
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the formula"));
        }
        Ok(Input { decls, lets, body })
    }
}

/// KeOps' Mod is `modulo` here, `mod` being a Rust keyword (`mod(f, m)` does not parse as an
/// expression): the error for a call of `mod` in `tokens`, if any.
fn keyword_hint(tokens: &TokenStream) -> Option<syn::Error> {
    let mut prev: Option<TokenTree> = None;
    for t in tokens.clone() {
        match (&prev, &t) {
            (Some(TokenTree::Ident(i)), TokenTree::Group(g))
                if i == "mod" && g.delimiter() == Delimiter::Parenthesis =>
            {
                return Some(syn::Error::new(
                    i.span(),
                    "`mod` is a Rust keyword: KeOps' Mod is written `modulo(f, m)` or \
                     `modulo(f, m, offset)` in a formula",
                ));
            }
            (_, TokenTree::Group(g)) => {
                if let Some(e) = keyword_hint(&g.stream()) {
                    return Some(e);
                }
            }
            _ => {}
        }
        prev = Some(t);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Reading the syntax: what lowering and the gradients of reductions both ask of an expression.

/// `e` without the parentheses (and invisible groups) around it.
pub(crate) fn strip(mut e: &Expr) -> &Expr {
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            _ => return e,
        }
    }
}

/// The called function's plain name (`exp` in `exp(x)`); `None` for a path or an expression.
pub(crate) fn call_name(c: &syn::ExprCall) -> Option<&Ident> {
    match &*c.func {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        _ => None,
    }
}

/// An integer literal, possibly negated (`3`, `-1`), through parentheses.
pub(crate) fn int_arg(e: &Expr) -> Option<i64> {
    match strip(e) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok(),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => int_arg(&u.expr).map(|v| -v),
        _ => None,
    }
}

/// The index of a variable, by the convention that names it: `x_i` is indexed by i, `y_j` by j
/// (a stem is needed: `_i` alone is not a variable).
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

/// The index a reduction called `name` reduces over; `None` if it is not a reduction.
pub(crate) fn reduction_role(name: &str) -> Option<Role> {
    reduction_kind(name).map(|(role, _)| role)
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
