//! keops' formula compiler, shared by the `kernel!` macro and the CUDA build step: parse a KeOps
//! formula (syn) -> IR -> check roles and dimensions -> simplify -> emit Rust and CUDA C++.
//!
//! - `parse`: the `kernel!` input (annotations, `let`s, the formula) and the syntax queries;
//! - `lower`: syn's expressions to the checked IR ([`ir`]): names to roles, calls to
//!   operations ([`op`]), dimensions inferred, every error reported at once (`ctxt`);
//! - `grad`: symbolic gradients (`grad(F, v, e)` in a formula) and gradients of reductions
//!   (`grad(R, v, e)` of a whole formula);
//! - [`simplify`]: constant folding, identities, shared sub-expressions, hoisted divisions;
//! - `symmetry`: kernel matrices proven symmetric;
//! - [`emit`]: the generated code, Rust and CUDA C++.

mod ctxt;
pub mod emit;
mod grad;
pub mod ir;
mod lower;
pub mod op;
mod parse;
pub mod simplify;
pub(crate) mod symmetry;
pub mod tensor;

pub use ctxt::Errors;
pub use ir::Formula;

use proc_macro2::TokenStream;

/// Parses, checks and simplifies a formula; all errors at once.
pub fn analyze(tokens: TokenStream) -> Result<Formula, Errors> {
    let input: parse::Input = syn::parse2(tokens).map_err(|e| Errors(vec![e]))?;
    if let Some(g) = grad::reduction::split(&input) {
        return analyze_gradient(&input, &g);
    }
    let mut formula = lower_input(&input)?;
    simplify_all(&mut formula);
    Ok(formula)
}

fn simplify_all(formula: &mut Formula) {
    simplify::simplify(formula);
    simplify::hoist_divisions(formula);
    // Again: folds the hoisted reciprocals of constants, shares equal ones, drops unused nodes.
    simplify::simplify(formula);
}

fn lower_input(input: &parse::Input) -> Result<Formula, Errors> {
    let mut cx = ctxt::Ctxt::default();
    let formula = lower::lower(input, &mut cx);
    cx.check()?;
    Ok(formula.expect("no errors reported, so lowering succeeded"))
}

/// `grad(R, v, e)`: R alone is checked first (its errors are the user's), then the gradient and
/// the forward stages it reads are lowered (see [`grad::reduction`]).
fn analyze_gradient(
    input: &parse::Input,
    g: &grad::reduction::GradOfReduction,
) -> Result<Formula, Errors> {
    let probe = lower_input(&g.probe)?;
    let mut cx = ctxt::Ctxt::default();
    let plan = grad::reduction::plan(input, g, &probe, &mut cx);
    cx.check()?;
    let plan = plan.expect("no errors reported");
    let mut formula = lower_input(&plan.backward)?;
    formula.total = plan.total;
    simplify_all(&mut formula);
    for st in &plan.stages {
        let mut stage = lower_input(&st.input)?;
        simplify_all(&mut stage);
        let var = (formula.vars.iter())
            .position(|v| v.name == st.var)
            .expect("the gradient reads its stage's output");
        formula.stages.push(ir::Stage {
            formula: stage,
            var,
            indices: st.indices,
        });
    }
    Ok(formula)
}

/// [`analyze`] without the simplifier: the formula as written (equal sub-expressions already
/// shared). For tests of the simplifier.
#[doc(hidden)]
pub fn analyze_unsimplified(tokens: TokenStream) -> Result<Formula, Errors> {
    let input: parse::Input = syn::parse2(tokens).map_err(|e| Errors(vec![e]))?;
    lower_input(&input)
}

/// The expansion of `kernel!(tokens)`: the generated code, or one `compile_error!` per error.
pub fn expand(tokens: TokenStream) -> TokenStream {
    match analyze(tokens) {
        Ok(f) => emit::rust::emit(&f),
        Err(e) => e.to_compile_errors(),
    }
}
/// Largest dimension of a vector operand (keops-abi's).
pub use keops_abi::MAX_DIM;
