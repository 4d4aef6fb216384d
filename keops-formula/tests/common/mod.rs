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

/// The checked formula of `src`, which must be valid.
#[track_caller]
pub fn ok(src: &str) -> Formula {
    analyze_str(src).unwrap_or_else(|e| panic!("`{src}` was rejected: {:?}", e.messages()))
}
