//! The row kernel: `__KeopsArm` (the bound formula at one combination of run-time dimensions: a
//! `Len` and a capacity per slot) implements the runtime's `RowKernel`, `prepare` computing the
//! nodes of the output row only and `eval` those of each pair, as lets of the node expressions.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, ToTokens};

use super::{len_of, node_ident, Emitter};
use crate::emit::{Family, Schedule};

/// The row kernel's parts: the row-only lets (`prepare`), the per-pair lets (`eval`), the
/// prepared values and their types, the value returned per pair and its type.
pub(super) struct KernelParts {
    pub(super) prepare_lets: Vec<TokenStream>,
    pub(super) eval_lets: Vec<TokenStream>,
    pub(super) prepared: Vec<Ident>,
    pub(super) prepared_tys: Vec<TokenStream>,
    pub(super) ret: TokenStream,
    pub(super) value_ty: TokenStream,
}

impl Emitter<'_> {
    /// The arm's struct, its lane version (when the formula has one) and its row kernel.
    pub(super) fn arm(&self) -> TokenStream {
        let (kr, vis) = (&self.kr, &self.vis);
        let (arm_generics, _) = self.arm_generics();
        let slot_l = self.f.slots.iter().map(|&k| len_of(k));
        let slot_lt = self.f.slots.iter().map(|&k| format_ident!("L{}", k));
        let arm_fields = slot_l.zip(slot_lt).map(|(l, t)| quote!(#l: #t));
        let lane_impl = self.lane_impl();
        let row_impl = self.row_kernel_impl();
        quote! {
            /// The formula at one combination of run-time dimensions.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #vis struct __KeopsArm<'r, 'a, T: #kr::Real, #(#arm_generics),*> {
                b: &'r __KeopsBound<'a, T>,
                #(#arm_fields,)*
            }

            #lane_impl

            #row_impl
        }
    }

    /// The arm's generic parameters (per slot, its `Len` type `L<k>` and capacity `C<k>`) and
    /// the arguments naming them.
    pub(super) fn arm_generics(&self) -> (Vec<TokenStream>, Vec<TokenStream>) {
        let kr = &self.kr;
        let slots = self.f.slots.iter();
        let lc = slots.map(|&k| (format_ident!("L{}", k), format_ident!("C{}", k)));
        lc.map(|(l, c)| (quote!(#l: #kr::Len, const #c: usize), quote!(#l, #c)))
            .unzip()
    }

    /// The class lengths inside an arm: fixed classes are constants, run-time ones come from the
    /// arm.
    pub(super) fn class_lens(&self) -> Vec<TokenStream> {
        let kr = &self.kr;
        (self.f.classes.iter().enumerate())
            .map(|(k, c)| {
                let l = len_of(k);
                match c.fixed {
                    Some(n) => {
                        let n = Literal::usize_unsuffixed(n);
                        quote!(let #l = #kr::Fixed::<#n>;)
                    }
                    None => quote!(let #l = self.#l;),
                }
            })
            .collect()
    }

    /// The arm's `RowKernel` implementation.
    fn row_kernel_impl(&self) -> TokenStream {
        let kr = &self.kr;
        let (generics, args) = self.arm_generics();
        let class_lens = self.class_lens();
        let KernelParts {
            prepare_lets,
            eval_lets,
            prepared,
            prepared_tys,
            ret,
            value_ty,
        } = self.kernel_parts();
        quote! {
            #[allow(non_camel_case_types, non_snake_case, unused_variables, unused_parens, clippy::all)]
            impl<'r, 'a, T: #kr::Real, #(#generics),*> #kr::RowKernel<T>
                for __KeopsArm<'r, 'a, T, #(#args),*>
            {
                type Prepared = (#(#prepared_tys,)*);
                type Value = #value_ty;
                #[inline(always)]
                fn prepare(&self, o: usize) -> Self::Prepared {
                    let b = self.b;
                    #(#class_lens)*
                    #(#prepare_lets)*
                    (#(#prepared,)*)
                }
                #[inline(always)]
                fn eval(&self, p: &Self::Prepared, r: usize) -> Self::Value {
                    let b = self.b;
                    #(#class_lens)*
                    let (#(#prepared,)*) = *p;
                    #(#eval_lets)*
                    #ret
                }
            }
        }
    }

    /// The row kernel's parts (see [`KernelParts`]), in this emitter's version (scalar or lanes).
    pub(super) fn kernel_parts(&self) -> KernelParts {
        let f = self.f;
        let outer = f.reduction.outer();
        let schedule = Schedule::new(f);
        // The row values the per-pair code reads: `prepare` hands them to `eval`.
        let mut needed = vec![false; f.nodes.len()];
        for i in schedule.pair_nodes() {
            for &a in &f.nodes[i].args {
                needed[a] |= schedule.is_per_row(a);
            }
        }
        for r in f.roots() {
            needed[r] |= schedule.is_per_row(r);
        }
        let lets = |nodes: &mut dyn Iterator<Item = usize>| -> Vec<TokenStream> {
            nodes
                .map(|i| {
                    let id = node_ident(i);
                    let ty = self.ty(f.nodes[i].shape);
                    let e = self.node_expr(i, outer);
                    quote!(let #id: #ty = #e;)
                })
                .collect()
        };
        let prepared = (0..f.nodes.len()).filter(|&i| needed[i]);
        let prepare_lets = lets(&mut schedule.row_nodes());
        let eval_lets = lets(&mut schedule.pair_nodes());
        let (ret, value_ty) = self.value();
        KernelParts {
            prepare_lets,
            eval_lets,
            prepared: prepared.clone().map(node_ident).collect(),
            prepared_tys: prepared.map(|i| self.ty(f.nodes[i].shape)).collect(),
            ret,
            value_ty,
        }
    }

    /// What `eval` returns per pair, and its type: F, or for the log-sum-exp family the pair
    /// (F, weight), the weight 1 when there is none.
    fn value(&self) -> (TokenStream, TokenStream) {
        let f = self.f;
        let root = node_ident(f.root);
        match Family::of(f.reduction) {
            Family::ShiftedExp { .. } => {
                let r = self.num();
                let (w, wty) = match f.weight {
                    Some(w) => (node_ident(w).into_token_stream(), self.ty(f.nodes[w].shape)),
                    None => (quote!(#r::ONE), self.nt()),
                };
                let nt = self.nt();
                (quote!((#root, #w)), quote!((#nt, #wty)))
            }
            Family::Kernel | Family::Sum | Family::Extremum { .. } | Family::KMin(_) => {
                (root.into_token_stream(), self.ty(f.nodes[f.root].shape))
            }
        }
    }
}
