//! The dispatch over run-time dimensions: nested matches over each slot's dimension (exact small
//! dimensions, then buckets up to `MAX_DIM`: [`keops_abi::cpu::arms`]), whose leaves build one
//! monomorphised `__KeopsArm` and hand it to the runtime's engine for the reduction's family, as
//! the CUDA side's `dispatch.rs` gives one kernel per arm.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use keops_abi::cpu::{LANE_MAX_ARMS, LANE_MAX_DIM};

use super::run::Extents;
use super::{len_of, Emitter};
use crate::emit::Family;

/// The dispatch of one bound formula.
pub(super) struct Dispatch<'e, 'f> {
    e: &'e Emitter<'f>,
    x: &'e Extents,
    /// The formula has a lane version (see `lanes.rs`).
    lanes: bool,
    /// The arms given the lane version so far: at most [`LANE_MAX_ARMS`], which bounds the
    /// generated code (and so compile time).
    lane_arms: usize,
}

impl<'e, 'f> Dispatch<'e, 'f> {
    /// The dispatch of `e`'s formula, whose reduction has extents `x`.
    pub(super) fn new(e: &'e Emitter<'f>, x: &'e Extents) -> Dispatch<'e, 'f> {
        Dispatch {
            e,
            x,
            lanes: e.has_lanes(),
            lane_arms: 0,
        }
    }

    /// The nested matches (one per slot), evaluated in the bound formula's methods.
    pub(super) fn emit(mut self) -> TokenStream {
        self.slot(0, &mut Vec::new(), &mut Vec::new())
    }

    /// The match over the dimension of slot `s`, given the `Len` types and capacities chosen for
    /// the slots before it.
    fn slot(
        &mut self,
        s: usize,
        lens: &mut Vec<TokenStream>,
        caps: &mut Vec<TokenStream>,
    ) -> TokenStream {
        let kr = &self.e.kr.clone();
        let f = self.e.f;
        if s == f.slots.len() {
            return self.leaf(lens, caps);
        }
        let k = f.slots[s];
        let l = len_of(k);
        let kl = Literal::usize_unsuffixed(k);
        let (exact, buckets) = keops_abi::cpu::arms(s);
        let mut arms = Vec::new();
        for &n in exact {
            let nl = Literal::usize_unsuffixed(n);
            lens.push(quote!(#kr::Fixed<#nl>));
            caps.push(quote!(#nl));
            let inner = self.slot(s + 1, lens, caps);
            lens.pop();
            caps.pop();
            arms.push(quote!(#nl => { let #l = #kr::Fixed::<#nl>; #inner }));
        }
        let mut lo = exact.last().copied().unwrap_or(0) + 1;
        for &cap in buckets.iter().chain(std::iter::once(&keops_abi::MAX_DIM)) {
            let (lol, capl) = (
                Literal::usize_unsuffixed(lo),
                Literal::usize_unsuffixed(cap),
            );
            lens.push(quote!(#kr::Upto));
            caps.push(quote!(#capl));
            let inner = self.slot(s + 1, lens, caps);
            lens.pop();
            caps.pop();
            // The last bucket ends at MAX_DIM, which `DimSpec::resolve` checked: it takes the rest.
            let pat = if cap == keops_abi::MAX_DIM {
                quote!(_)
            } else {
                quote!(#lol..=#capl)
            };
            arms.push(quote!(#pat => { let #l = #kr::Upto(d); #inner }));
            lo = cap + 1;
        }
        quote! {
            match self.__dims[#kl] { #(d @ #arms)* }
        }
    }

    /// One arm: the `__KeopsArm` of these lengths and capacities, run by the engine.
    fn leaf(&mut self, lens: &[TokenStream], caps: &[TokenStream]) -> TokenStream {
        let f = self.e.f;
        // The lane version where every vector fits a small stack array.
        let max_cap = caps
            .iter()
            .map(|c| c.to_string().parse::<usize>().expect("a literal capacity"))
            .chain(f.classes.iter().filter_map(|c| c.fixed))
            .max()
            .unwrap_or(1);
        let lanes = self.lanes && max_cap <= LANE_MAX_DIM && self.lane_arms < LANE_MAX_ARMS;
        self.lane_arms += usize::from(lanes);
        let body = self.engine(lanes);
        let generics = lens.iter().zip(caps).map(|(l, c)| quote!(#l, #c));
        let slot_l = f.slots.iter().map(|&k| len_of(k));
        quote! {{
            let arm = __KeopsArm::<T, #(#generics),*> { b: self, #(#slot_l),* };
            #body
        }}
    }

    /// The runtime engine's entry for the reduction's family, on `arm` (its lane version with
    /// `lanes`).
    fn engine(&self, lanes: bool) -> TokenStream {
        let kr = &self.e.kr;
        let Extents {
            entry_dim, out_dim, ..
        } = self.x;
        match Family::of(self.e.f.reduction) {
            Family::Kernel if lanes => quote! {
                #kr::kernel_work_lanes(&arm, self.__symmetric, __span, work)
            },
            Family::Kernel => {
                quote!(#kr::kernel_work_scalar(&arm, __span, work))
            }
            Family::Sum if lanes => {
                quote!(#kr::sum_reduce_lanes(&arm, __span, #out_dim, vals))
            }
            Family::Sum => quote!(#kr::sum_reduce(&arm, __span, #out_dim, vals)),
            Family::Extremum { max } => {
                quote!(#kr::extremum_reduce::<#max, T, _>(&arm, __span, #entry_dim, vals, idx))
            }
            Family::ShiftedExp { softmax } => {
                quote!(#kr::shifted_exp_reduce::<#softmax, T, _, _>(&arm, __span, #entry_dim, vals))
            }
            Family::KMin(k) => {
                let k = Literal::usize_unsuffixed(k);
                quote!(#kr::kmin_reduce(&arm, __span, #entry_dim, #k, vals, idx))
            }
        }
    }
}
