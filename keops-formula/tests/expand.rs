//! Snapshots of the code `kernel!` generates (prettyplease-formatted) for the tutorial's kernels
//! and a reduction with a vector output. A change to the emitted code shows up as a snapshot diff
//! to review: `INSTA_UPDATE=always cargo test -p keops-formula --test expand` rewrites them (or
//! `cargo insta review`); on CI (`CI=true`) a missing or different snapshot fails.

use proc_macro2::TokenStream;
use quote::quote;

/// The expansion as formatted Rust: `fn f() { let k = <expansion>; }`.
fn expand(tokens: TokenStream) -> String {
    let src = tokens.to_string();
    let expansion = keops_formula::expand(tokens);
    let file: syn::File = syn::parse2(quote!(fn f() { let k = #expansion; }))
        .unwrap_or_else(|e| panic!("the expansion of `{src}` does not parse: {e}"));
    let text = prettyplease::unparse(&file);
    assert!(
        !text.contains("compile_error"),
        "`{src}` was rejected:\n{text}"
    );
    text
}

#[test]
fn gaussian_kernel() {
    insta::assert_snapshot!(expand(quote!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))));
}

#[test]
fn laplacian_kernel() {
    insta::assert_snapshot!(expand(quote!(exp(-sqrt(sqnorm(x_i - y_j)) / s))));
}

#[test]
fn sum_j_vector_output() {
    insta::assert_snapshot!(expand(quote!(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j))));
}

#[test]
fn errors_expand_to_compile_errors() {
    // Not a snapshot of generated code, but of what a rejected formula expands to.
    let expansion = keops_formula::expand(quote!(exp(foo(x_i)) + bar(y_j)));
    let file: syn::File = syn::parse2(quote!(fn f() { let k = #expansion; })).unwrap();
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

/// The CUDA C++ of a formula (without the shared prelude): reviewed like the Rust expansion.
fn cuda(tokens: TokenStream) -> String {
    let f = keops_formula::analyze(tokens).expect("a valid formula");
    keops_formula::emit::cuda::emit(&f).0
}

#[test]
fn gaussian_kernel_cuda() {
    insta::assert_snapshot!(cuda(quote!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))));
}

#[test]
fn sum_j_vector_output_cuda() {
    insta::assert_snapshot!(cuda(quote!(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j))));
}
