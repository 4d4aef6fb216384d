//! The `kernel!` input: optional dimension annotations, then the formula.
//!
//! ```text
//! kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
//! kernel!(x_i: 3, y_j: 3 => sum_j(exp(-sqdist(x_i, y_j)) * b_j))
//! ```

use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitInt, Token};

/// `name: dim`, fixing a variable's or parameter's dimension at compile time.
pub struct Decl {
    pub name: Ident,
    pub dim: LitInt,
}

pub struct Input {
    pub decls: Vec<Decl>,
    pub body: Expr,
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
        if input.is_empty() {
            return Err(input.error("expected a formula, e.g. `kernel!(exp(-sqnorm(x_i - y_j)))`"));
        }
        let body: Expr = input.parse()?;
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
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the formula"));
        }
        Ok(Input { decls, body })
    }
}
