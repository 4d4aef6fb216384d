//! The `kernel!` macro: its tokens go to keops-formula, which parses, checks and emits the code.

use proc_macro::TokenStream;

/// Compiles a KeOps formula at compile time. See the `keops` crate's documentation.
#[proc_macro]
pub fn kernel(input: TokenStream) -> TokenStream {
    keops_formula::expand(input.into()).into()
}
