//! The GPU view of the bound formula (`gpu_task`): the CUDA emitter's source, the PTX ptx-build
//! compiled for it, the kernel arguments and shapes the runtime launches it with.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::run::Extents;
use super::{param_field, var_field, Emitter};
use crate::emit::cuda;
use crate::ir::{RedOp, Reduction, Shape};

impl Emitter<'_> {
    /// The bound formula's `gpu_task` method.
    pub(super) fn gpu_task(&self, x: &Extents) -> TokenStream {
        let (f, kr) = (self.f, &self.kr);
        let gpu_id = cuda::formula_id(f);
        let gpu_source = format!("{}\n{}", cuda::prelude(), cuda::emit(f).0);
        let gpu_matvec = f.reduction == Reduction::Kernel;
        // The formula's PTX when ptx-build made it (the `cuda` feature with nvcc), else "".
        let gpu_ptx = match cuda::ptx_path(f) {
            Some(p) => {
                let p = p.to_string_lossy().into_owned();
                quote!(::core::include_str!(#p))
            }
            None => quote!(""),
        };
        let slot_dims = cuda::gpu_slots(f).into_iter().map(|k| {
            let k = Literal::usize_unsuffixed(k);
            quote!(self.__dims[#k])
        });
        let var_slices = f.vars.iter().map(|v| {
            let fd = var_field(v);
            quote!(self.#fd.as_slice())
        });
        let param_slices = f.params.iter().map(|p| {
            let fd = param_field(p);
            quote!(&self.#fd[..])
        });
        let inner_width = f.vars_of(f.reduction.inner()).map(|(_, v)| match v.shape {
            Shape::Scalar => quote!(1),
            Shape::Vector(k) => {
                let k = Literal::usize_unsuffixed(k);
                quote!(self.__dims[#k])
            }
        });
        let (n_out, n_red, over) = (&x.n_out, &x.n_red, x.over);
        // A kernel matrix's products launch per column block of `v`.
        let gpu_out_dim = if gpu_matvec {
            quote!(1)
        } else {
            x.out_dim.clone()
        };
        let gpu_reduce = self.gpu_reduce();
        quote! {
            fn gpu_task(&self) -> #kr::GpuTask<'_, T> {
                #kr::GpuTask {
                    id: #gpu_id,
                    source: #kr::cuda_source!(#gpu_source),
                    ptx: #gpu_ptx,
                    matvec: #gpu_matvec,
                    slot_dims: ::std::vec![#(#slot_dims),*],
                    vars: ::std::vec![#(#var_slices),*],
                    params: ::std::vec![#(#param_slices),*],
                    dims: self.__dims.clone(),
                    inner_width: 0 #(+ #inner_width)*,
                    n_out: #n_out,
                    n_red: #n_red,
                    out_dim: #gpu_out_dim,
                    reduce: #gpu_reduce,
                    sparsity: self.__ranges.as_ref().map(|r| r.reducing_over(#over)),
                }
            }
        }
    }

    /// The runtime's `ReduceKind` of the formula, which picks the combining pass.
    fn gpu_reduce(&self) -> TokenStream {
        let kr = &self.kr;
        let kind = |name: &str| {
            let v = format_ident!("{}", name);
            quote!(#kr::ReduceKind::#v)
        };
        let with_k = |name: &str, k: usize| {
            let (v, k) = (kind(name), Literal::usize_unsuffixed(k));
            quote!(#v(#k))
        };
        match self.f.reduction {
            Reduction::Kernel | Reduction::SumI | Reduction::SumJ => kind("Sum"),
            Reduction::Other(op, _) => match op {
                RedOp::KMin(k) => with_k("KMin", k),
                RedOp::ArgKMin(k) => with_k("ArgKMin", k),
                RedOp::KMinArgKMin(k) => with_k("KMinArgKMin", k),
                // The runtime's kind has the reduction's name.
                RedOp::Min
                | RedOp::Max
                | RedOp::ArgMin
                | RedOp::ArgMax
                | RedOp::MinArgMin
                | RedOp::MaxArgMax
                | RedOp::LogSumExp
                | RedOp::LogSumExpWeight
                | RedOp::SumSoftMaxWeight => kind(&format!("{op:?}")),
            },
        }
    }
}
