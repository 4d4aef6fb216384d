//! Collects every error of a formula so that all are reported at once (as serde_derive does).

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// The errors of one formula, as they are found.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// An error spanning the tokens of `node`.
    pub(crate) fn error_at<N: ToTokens, M: Display>(&mut self, node: N, msg: M) {
        self.errors
            .push(syn::Error::new_spanned(node.into_token_stream(), msg));
    }
    /// An error at `span`.
    pub(crate) fn error_span<M: Display>(&mut self, span: Span, msg: M) {
        self.errors.push(syn::Error::new(span, msg));
    }
    /// An error made elsewhere (syn's).
    pub(crate) fn push(&mut self, e: syn::Error) {
        self.errors.push(e);
    }
    /// Whether an error was reported.
    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
    /// All errors combined into one, or `Ok` when there were none.
    pub(crate) fn check(self) -> Result<(), Errors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Errors(self.errors))
        }
    }
}

/// The errors of one formula.
#[derive(Debug)]
pub struct Errors(pub Vec<syn::Error>);

impl Errors {
    /// One `compile_error!` per error, each at its own span, in a block: `kernel!` is an
    /// expression, and a block of macro calls is one (several side by side would not parse). Its
    /// value is the last `compile_error!`, an error expression, so rustc reports no follow-on type
    /// errors where the kernel is used.
    pub fn to_compile_errors(&self) -> TokenStream {
        let errors = self.0.iter().map(syn::Error::to_compile_error);
        quote::quote!({ #(#errors)* })
    }
    /// The messages, in order (for tests).
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(|e| e.to_string()).collect()
    }
}
