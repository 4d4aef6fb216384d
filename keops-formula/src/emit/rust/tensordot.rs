//! A tensor contraction as Rust loops (as the CUDA side's `tensordot.rs`): a few statements
//! whatever the dimensions, not unrolled.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::{node_ident, Emitter};
use crate::ir::{Node, Shape};
use crate::tensor::Loop;

impl Emitter<'_> {
    /// Node `n`, the contraction `f.tensors[t]` of its two arguments: the loops of
    /// [`crate::tensor::TensorSpec::loops`] (one per output axis, then one per contracted pair),
    /// summed in `T`.
    pub(super) fn tensordot_expr(&self, n: &Node, t: usize) -> TokenStream {
        let f = self.f;
        let r = self.num();
        let (outs, conts) = f.tensors[t].loops();
        let q: Vec<Ident> = (0..outs.len()).map(|k| format_ident!("q{}", k)).collect();
        let c: Vec<Ident> = (0..conts.len()).map(|k| format_ident!("c{}", k)).collect();
        let all: Vec<(&Ident, &Loop)> = q.iter().zip(&outs).chain(c.iter().zip(&conts)).collect();
        // The sum of index times stride (`0` when empty), for A, B or the output.
        let index = |stride: fn(&Loop) -> usize| {
            let terms: Vec<TokenStream> = all
                .iter()
                .filter(|(_, l)| stride(l) != 0)
                .map(|(v, l)| match stride(l) {
                    1 => quote!(#v),
                    s => {
                        let s = Literal::usize_unsuffixed(s);
                        quote!(#v * #s)
                    }
                })
                .collect();
            if terms.is_empty() {
                quote!(0)
            } else {
                quote!(#(#terms)+*)
            }
        };
        let entry = |k: usize, idx: TokenStream| {
            let a = node_ident(n.args[k]);
            match f.nodes[n.args[k]].shape {
                Shape::Scalar => quote!(#a),
                Shape::Vector(_) => quote!(#a[#idx]),
            }
        };
        let (ea, eb) = (entry(0, index(|l| l.a)), entry(1, index(|l| l.b)));
        let mut body = quote!(s += #ea * #eb;);
        for (v, l) in c.iter().zip(&conts).rev() {
            let size = Literal::usize_unsuffixed(l.size);
            body = quote!(for #v in 0..#size { #body });
        }
        let store = match n.shape {
            Shape::Scalar => quote!(o = s;),
            Shape::Vector(_) => {
                let io = index(|l| l.out);
                quote!(o[#io] = s;)
            }
        };
        let mut body = quote!(let mut s = #r::ZERO; #body #store);
        for (v, l) in q.iter().zip(&outs).rev() {
            let size = Literal::usize_unsuffixed(l.size);
            body = quote!(for #v in 0..#size { #body });
        }
        let init = match n.shape {
            Shape::Scalar => quote!(#r::ZERO),
            Shape::Vector(k) => {
                let cap = self.cap(k);
                quote!([#r::ZERO; #cap])
            }
        };
        quote!({ let mut o = #init; #body o })
    }
}
