//! Helpers shared by keops-formula's tests: formulas parsed from strings, so that with
//! proc-macro2's `span-locations` (a dev-dependency feature) each error's span carries the source
//! text it covers.
#![allow(dead_code)]

use keops_formula::{analyze, Errors, Formula};
use proc_macro2::TokenStream;

pub fn parse(src: &str) -> TokenStream {
    src.parse()
        .unwrap_or_else(|e| panic!("`{src}` does not tokenize: {e}"))
}

pub fn analyze_str(src: &str) -> Result<Formula, Errors> {
    analyze(parse(src))
}

/// The errors of `src` as (message, source text under the error's span).
pub fn errors(src: &str) -> Vec<(String, String)> {
    match analyze_str(src) {
        Ok(_) => panic!("`{src}` was accepted"),
        Err(e) => {
            e.0.iter()
                .map(|e| (e.to_string(), e.span().source_text().unwrap_or_default()))
                .collect()
        }
    }
}

/// Asserts that `src` has exactly the errors `want`: (start of the message, spanned text).
#[track_caller]
pub fn assert_errors(src: &str, want: &[(&str, &str)]) {
    let got = errors(src);
    assert_eq!(
        got.len(),
        want.len(),
        "`{src}`: expected {} errors, got {got:#?}",
        want.len()
    );
    for ((msg, text), (want_msg, want_text)) in got.iter().zip(want) {
        assert!(
            msg.starts_with(want_msg),
            "`{src}`: message {msg:?} does not start with {want_msg:?}"
        );
        assert_eq!(text, want_text, "`{src}`: span of {msg:?}");
    }
}

/// A formula as source text (parsed, so that spans carry the text) or as tokens (`quote!`), so
/// that one [`ok`] serves both kinds of tests.
pub trait Source {
    fn tokens(self) -> TokenStream;
}

impl Source for &str {
    fn tokens(self) -> TokenStream {
        parse(self)
    }
}

impl Source for TokenStream {
    fn tokens(self) -> TokenStream {
        self
    }
}

/// The checked formula of `src`, which must be valid.
#[track_caller]
pub fn ok(src: impl Source) -> Formula {
    let tokens = src.tokens();
    let text = tokens.to_string();
    analyze(tokens).unwrap_or_else(|e| panic!("`{text}` was rejected: {:?}", e.messages()))
}
