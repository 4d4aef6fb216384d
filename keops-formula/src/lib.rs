//! keops' formula compiler, shared by the `kernel!` macro and the CUDA build step: parse a KeOps
//! formula (syn) -> IR -> check roles and dimensions -> simplify -> emit Rust (and, later, CUDA C).

mod ctxt;
pub mod emit_cuda;
pub mod emit_rust;
pub mod ir;
mod lower;
pub mod op;
pub mod parse;
pub mod simplify;

pub use ctxt::Errors;
pub use ir::Formula;

use proc_macro2::TokenStream;

/// Parses, checks and simplifies a formula; all errors at once.
pub fn analyze(tokens: TokenStream) -> Result<Formula, Errors> {
    let mut formula = analyze_unsimplified(tokens)?;
    simplify::simplify(&mut formula);
    simplify::hoist_divisions(&mut formula);
    // Again: folds the hoisted reciprocals of constants, shares equal ones, drops unused nodes.
    simplify::simplify(&mut formula);
    Ok(formula)
}

/// [`analyze`] without the simplifier: the formula as written (equal sub-expressions already
/// shared). For tests of the simplifier.
#[doc(hidden)]
pub fn analyze_unsimplified(tokens: TokenStream) -> Result<Formula, Errors> {
    let input: parse::Input = syn::parse2(tokens).map_err(|e| Errors(vec![e]))?;
    let mut cx = ctxt::Ctxt::default();
    let formula = lower::lower(&input, &mut cx);
    cx.check()?;
    Ok(formula.expect("no errors reported, so lowering succeeded"))
}

/// The expansion of `kernel!(tokens)`: the generated code, or one `compile_error!` per error.
pub fn expand(tokens: TokenStream) -> TokenStream {
    match analyze(tokens) {
        Ok(f) => emit_rust::emit(&f),
        Err(e) => e.to_compile_errors(),
    }
}
pub const MAX_DIM: usize = 1024;
