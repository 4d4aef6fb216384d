//! keops' formula compiler, shared by the `kernel!` macro and the CUDA build step: parse a KeOps
//! formula (syn) -> IR -> check roles and dimensions -> simplify -> emit Rust (and, later, CUDA C).

mod ctxt;
pub mod emit_cuda;
pub mod emit_rust;
pub mod ir;
mod lower;
pub mod op;
pub mod parse;
mod simplify;

pub use ctxt::Errors;
pub use ir::Formula;

use proc_macro2::TokenStream;

/// Parses and checks a formula; all errors at once.
pub fn analyze(tokens: TokenStream) -> Result<Formula, Errors> {
    let input: parse::Input = syn::parse2(tokens).map_err(|e| Errors(vec![e]))?;
    let mut cx = ctxt::Ctxt::default();
    let formula = lower::lower(&input, &mut cx);
    cx.check()?;
    let mut formula = formula.expect("no errors reported, so lowering succeeded");
    simplify::hoist_divisions(&mut formula);
    Ok(formula)
}

/// The expansion of `kernel!(tokens)`: the generated code, or one `compile_error!` per error.
pub fn expand(tokens: TokenStream) -> TokenStream {
    match analyze(tokens) {
        Ok(f) => emit_rust::emit(&f),
        Err(e) => e.to_compile_errors(),
    }
}
pub const MAX_DIM: usize = 1024;
