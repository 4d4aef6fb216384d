//! A gradient's forward stages (see `grad/reduction.rs`): each a formula of its own, emitted in a module
//! of its own, held by the gradient's formula value with its parameter values and evaluated when
//! the gradient's data is bound; their outputs are the gradient's hidden variables.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{param_field, var_field, Emitter};
use crate::ir::{Formula, Param};

/// The value of gradient `f` whose items are `items`: its stages' modules, and the parameter
/// values captured once (`captures`), then cloned into the stages that read them.
pub(super) fn gradient(f: &Formula, items: TokenStream, captures: &[TokenStream]) -> TokenStream {
    let fields: Vec<Ident> = f.params.iter().map(param_field).collect();
    let locals: Vec<Ident> = f.params.iter().map(param_local).collect();
    let stage_mods: Vec<Ident> = (0..f.stages.len()).map(stage_module).collect();
    let stage_items = f.stages.iter().zip(&stage_mods).map(|(st, m)| {
        let items = Emitter::new(&st.formula, quote!(pub)).items();
        quote! {
            #[allow(non_snake_case, dead_code, clippy::all)]
            mod #m { #items }
        }
    });
    let stage_fields = (0..f.stages.len()).map(stage_field);
    let stage_ctors = f.stages.iter().zip(&stage_mods).map(|(st, m)| {
        let sf: Vec<Ident> = st.formula.params.iter().map(param_field).collect();
        let sl: Vec<Ident> = st.formula.params.iter().map(param_local).collect();
        quote!(#m::__KeopsFormula { #(#sf: #sl.clone(),)* })
    });
    quote! {{
        #(#stage_items)*
        #items
        #(let #locals = #captures;)*
        __KeopsFormula { #(#fields: #locals.clone(),)* #(#stage_fields: #stage_ctors,)* }
    }}
}

/// The formula value's fields holding the stages, and their types.
pub(super) fn fields(f: &Formula) -> (Vec<Ident>, Vec<TokenStream>) {
    let fields = (0..f.stages.len()).map(stage_field).collect();
    let tys = (0..f.stages.len())
        .map(|s| {
            let m = stage_module(s);
            quote!(#m::__KeopsFormula)
        })
        .collect();
    (fields, tys)
}

impl Emitter<'_> {
    /// The binding's evaluation of the stages on the bound data, into the hidden variables
    /// (indices as reals, checked to be exact in `T`).
    pub(super) fn stage_evals(&self) -> Vec<TokenStream> {
        let (f, kr) = (self.f, &self.kr);
        (f.stages.iter().enumerate())
            .map(|(s, st)| {
                let sf = stage_field(s);
                let hf = var_field(&f.vars[st.var]);
                let binds = st.formula.vars.iter().map(|v| {
                    let (m, fd) = (format_ident!("{}", v.name), var_field(v));
                    quote!(.#m(#fd.clone()))
                });
                let convert = if st.indices {
                    quote!(#kr::indices_as_reals::<T>(&__out)?)
                } else {
                    quote!(__out)
                };
                quote! {
                    let #hf: #kr::Rows<T> = {
                        let __out = self.__formula.#sf #(#binds)* .__ranges_opt(self.__ranges.as_ref()).eval()?;
                        #convert
                    };
                }
            })
            .collect()
    }
}

/// The local a gradient's parameter value is captured in.
fn param_local(p: &Param) -> Ident {
    format_ident!("__keops_p_{}", p.ident)
}

/// The module holding a gradient's forward stage `s`.
fn stage_module(s: usize) -> Ident {
    format_ident!("__keops_stage{}", s)
}

/// The gradient formula's field holding stage `s` (its parameter values).
fn stage_field(s: usize) -> Ident {
    format_ident!("__stage{}", s)
}
