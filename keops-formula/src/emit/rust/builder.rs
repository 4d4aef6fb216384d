//! The formula value and its builder: `__KeopsFormula` holds the captured parameters (and a
//! gradient's forward stages) and starts the binding; `__KeopsBuilder` binds the variables by
//! name, with one type state per variable (`__KeopsUnbound` until its setter is called), so that
//! a forgotten variable is a compile error naming it.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use super::{param_field, stages, var_field, Emitter};
use crate::ir::{Formula, Var};

/// The formula's operands as the generated API names them.
pub(super) struct Operands<'f> {
    /// The variables the user binds, in order (a gradient's hidden ones hold its forward stages'
    /// outputs).
    pub(super) user: Vec<&'f Var>,
    /// Their fields in the builder and the bound formula.
    pub(super) fields: Vec<Ident>,
    /// Their type states in the builder (`S<k>`).
    pub(super) states: Vec<Ident>,
    /// Their traits (`__KeopsVar_<name>`), implemented by a bound view only.
    pub(super) traits: Vec<Ident>,
    /// The parameters' fields.
    pub(super) params: Vec<Ident>,
}

impl<'f> Operands<'f> {
    /// The operands of `f`.
    pub(super) fn new(f: &'f Formula) -> Operands<'f> {
        let is_hidden = |k: usize| f.stages.iter().any(|s| s.var == k);
        let user: Vec<&Var> = (f.vars.iter().enumerate())
            .filter(|(k, _)| !is_hidden(*k))
            .map(|(_, v)| v)
            .collect();
        Operands {
            fields: user.iter().map(|v| var_field(v)).collect(),
            states: (0..user.len()).map(|k| format_ident!("S{}", k)).collect(),
            traits: (user.iter())
                .map(|v| format_ident!("__KeopsVar_{}", v.name))
                .collect(),
            params: f.params.iter().map(param_field).collect(),
            user,
        }
    }

    /// The variables' names, as the user writes them.
    pub(super) fn names(&self) -> Vec<&'f str> {
        self.user.iter().map(|v| v.name.as_str()).collect()
    }

    /// The where clause of a method that needs every variable bound: a missing one is named by
    /// its trait's `on_unimplemented` message.
    pub(super) fn bound_where(&self) -> TokenStream {
        let (states, traits) = (&self.states, &self.traits);
        quote!(where #(#states: #traits<'a, T>),*)
    }
}

impl Emitter<'_> {
    /// The formula value, the unbound state, the builder, its setters and the variables' traits.
    pub(super) fn builder(&self, ops: &Operands) -> TokenStream {
        let (kr, vis) = (&self.kr, &self.vis);
        let pfield_decls = ops.params.iter().map(|p| quote!(#vis #p: #kr::ParamValue));
        let (stage_fields, stage_tys) = stages::fields(self.f);
        let canonical = self.f.canonical();
        let entry_methods = self.entry_methods(ops);
        let (states, vfields) = (&ops.states, &ops.fields);
        let setters = self.setters(ops);
        let var_traits = self.var_traits(ops);
        quote! {
            /// A compiled KeOps formula with its captured parameters.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #[derive(Clone, Debug)]
            #vis struct __KeopsFormula { #(#pfield_decls,)* #(#stage_fields: #stage_tys,)* }

            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            impl __KeopsFormula {
                /// The formula's canonical text.
                pub const CANONICAL: &'static str = #canonical;
                #(#entry_methods)*
            }

            /// A variable not bound yet.
            #[derive(Clone, Copy, Debug)]
            #vis struct __KeopsUnbound;

            /// Binds the formula's variables by name.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #vis struct __KeopsBuilder<'f, 'a, T: #kr::Real, #(#states),*> {
                __formula: &'f __KeopsFormula,
                #(#vfields: #states,)*
                __ranges: ::core::option::Option<#kr::Ranges>,
                __t: ::core::marker::PhantomData<(fn() -> T, &'a ())>,
            }

            #(#setters)*

            #(#var_traits)*
        }
    }

    /// The view type bound data has.
    pub(super) fn view(&self) -> TokenStream {
        let kr = &self.kr;
        quote!(#kr::View<'a, T>)
    }

    /// Per variable, the formula's method that starts the binding with it.
    fn entry_methods(&self, ops: &Operands) -> Vec<TokenStream> {
        let (kr, view) = (&self.kr, self.view());
        let names = ops.names();
        (0..ops.user.len())
            .map(|k| {
                let m = format_ident!("{}", names[k]);
                let inits = ops.fields.iter().enumerate().map(|(q, fd)| {
                    if q == k {
                        quote!(#fd: data.into_view())
                    } else {
                        quote!(#fd: __KeopsUnbound)
                    }
                });
                let tys = (0..ops.user.len()).map(|q| {
                    if q == k {
                        view.clone()
                    } else {
                        quote!(__KeopsUnbound)
                    }
                });
                let doc = format!(
                    "Binds `{}` to a point set, starting the binding of this formula's variables.",
                    names[k]
                );
                quote! {
                    #[doc = #doc]
                    #[inline]
                    pub fn #m<'f, 'a, T: #kr::Real>(&'f self, data: impl #kr::IntoView<'a, T>)
                        -> __KeopsBuilder<'f, 'a, T, #(#tys),*>
                    {
                        __KeopsBuilder { __formula: self, #(#inits,)* __ranges: ::core::option::Option::None, __t: ::core::marker::PhantomData }
                    }
                }
            })
            .collect()
    }

    /// Per variable, the builder's setter: from its unbound state to a view, the others kept.
    fn setters(&self, ops: &Operands) -> Vec<TokenStream> {
        let (kr, view) = (&self.kr, self.view());
        let names = ops.names();
        let states = &ops.states;
        (0..ops.user.len())
            .map(|k| {
                let m = format_ident!("{}", names[k]);
                let others = (states.iter().enumerate())
                    .filter(|(q, _)| *q != k)
                    .map(|(_, s)| s);
                let in_tys = states.iter().enumerate().map(|(q, s)| {
                    if q == k {
                        quote!(__KeopsUnbound)
                    } else {
                        quote!(#s)
                    }
                });
                let out_tys = states.iter().enumerate().map(|(q, s)| {
                    if q == k {
                        view.clone()
                    } else {
                        quote!(#s)
                    }
                });
                let moves = ops.fields.iter().enumerate().map(|(q, fd)| {
                    if q == k {
                        quote!(#fd: data.into_view())
                    } else {
                        quote!(#fd: self.#fd)
                    }
                });
                let doc = format!("Binds `{}` to a point set.", names[k]);
                quote! {
                    #[allow(non_camel_case_types, non_snake_case, clippy::all)]
                    impl<'f, 'a, T: #kr::Real, #(#others),*> __KeopsBuilder<'f, 'a, T, #(#in_tys),*> {
                        #[doc = #doc]
                        #[inline]
                        pub fn #m(self, data: impl #kr::IntoView<'a, T>) -> __KeopsBuilder<'f, 'a, T, #(#out_tys),*> {
                            __KeopsBuilder { __formula: self.__formula, #(#moves,)* __ranges: self.__ranges, __t: ::core::marker::PhantomData }
                        }
                    }
                }
            })
            .collect()
    }

    /// One trait per variable, implemented by a bound view only: a method that needs every
    /// variable requires them in its where clause, so a forgotten one is named in the error.
    fn var_traits(&self, ops: &Operands) -> Vec<TokenStream> {
        let (kr, vis, view) = (&self.kr, &self.vis, self.view());
        (ops.user.iter().zip(&ops.traits))
            .map(|(v, tr)| {
                let msg = format!("the formula's variable `{}` is not bound", v.name);
                let label = format!("`{}` is not bound here", v.name);
                let note = format!("bind it first: `.{}(data)`", v.name);
                quote! {
                    #[diagnostic::on_unimplemented(message = #msg, label = #label, note = #note)]
                    #[allow(non_camel_case_types)]
                    #vis trait #tr<'a, T: #kr::Real> {
                        fn __view(self) -> #view;
                    }
                    impl<'a, T: #kr::Real> #tr<'a, T> for #view {
                        #[inline]
                        fn __view(self) -> #view {
                            self
                        }
                    }
                }
            })
            .collect()
    }

    /// The expressions capturing the parameters' values (in `params` order), with the user's
    /// spans so that a type error points at the parameter.
    pub(super) fn captures(&self) -> Vec<TokenStream> {
        let kr = &self.kr;
        (self.f.params.iter())
            .map(|p| {
                let ident = &p.ident;
                let span = ident.span();
                match p.fixed_dim {
                    Some(n) => {
                        let n = Literal::usize_unsuffixed(n);
                        quote_spanned!(span=> #kr::param_of_dim::<#n, _>(#ident))
                    }
                    None => quote_spanned!(span=> #kr::param(#ident)),
                }
            })
            .collect()
    }
}
