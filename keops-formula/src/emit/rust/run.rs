//! The evaluation of the bound formula: `BoundReduction` (the output's rows and dimension, the
//! reduction into the caller's buffers; a gradient with respect to a parameter sums the rows) or
//! `BoundKernel` (the kernel matrix's products), both through the dispatch over run-time
//! dimensions, and the GPU task of either.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::dispatch::Dispatch;
use super::Emitter;
use crate::emit::{Family, Outputs};
use crate::ir::{Formula, Reduction, Role, Shape};

/// The sizes of the reduction, as expressions on the bound formula (`self`).
pub(super) struct Extents {
    /// Output rows.
    pub(super) n_out: TokenStream,
    /// Rows reduced over per output row.
    pub(super) n_red: TokenStream,
    /// The entries reduced per output row: F's, the weight's for the log-sum-exp family.
    pub(super) entry_dim: TokenStream,
    /// The entries of an output row: K times `entry_dim` for the k-min family.
    pub(super) out_dim: TokenStream,
    /// The reduction index, `'i'` or `'j'`: which direction of block-sparse ranges applies.
    pub(super) over: char,
}

impl Extents {
    /// The extents of `f`'s reduction.
    pub(super) fn new(f: &Formula) -> Extents {
        let (n_out, n_red, over) = match f.reduction.outer() {
            Role::I => (quote!(self.__rows_i), quote!(self.__rows_j), 'j'),
            Role::J => (quote!(self.__rows_j), quote!(self.__rows_i), 'i'),
        };
        let family = Family::of(f.reduction);
        let entry_node = match family {
            Family::ShiftedExp { .. } => f.weight,
            Family::Kernel | Family::Sum | Family::Extremum { .. } | Family::KMin(_) => {
                Some(f.root)
            }
        };
        let entry_dim = match entry_node.map(|n| f.nodes[n].shape) {
            None | Some(Shape::Scalar) => quote!(1),
            Some(Shape::Vector(k)) => {
                let k = Literal::usize_unsuffixed(k);
                quote!(self.__dims[#k])
            }
        };
        let out_dim = match family {
            Family::KMin(k) => {
                let k = Literal::usize_unsuffixed(k);
                quote!((#entry_dim * #k))
            }
            Family::Kernel | Family::Sum | Family::Extremum { .. } | Family::ShiftedExp { .. } => {
                entry_dim.clone()
            }
        };
        Extents {
            n_out,
            n_red,
            entry_dim,
            out_dim,
            over,
        }
    }
}

impl Emitter<'_> {
    /// What evaluation gives (keops-runtime's `ReductionOutput`: values, indices or both), and
    /// the caller's buffers for it.
    pub(super) fn output_types(&self) -> (TokenStream, TokenStream) {
        let kr = &self.kr;
        let Outputs { values, indices } = Outputs::of(self.f.reduction);
        match (values, indices) {
            (false, _) => (quote!(#kr::Indices), quote!(&mut [usize])),
            (true, true) => (
                quote!((#kr::Rows<T>, #kr::Indices)),
                quote!((&mut [T], &mut [usize])),
            ),
            (true, false) => (quote!(#kr::Rows<T>), quote!(&mut [T])),
        }
    }

    /// The bound formula's `BoundKernel` or `BoundReduction` implementation.
    pub(super) fn run(&self, x: &Extents) -> TokenStream {
        let kr = &self.kr;
        let dispatch = Dispatch::new(self, x).emit();
        let (n_out, n_red, over) = (&x.n_out, &x.n_red, x.over);
        // The pairs the engine visits: all, or those of the bound ranges.
        let dispatch = quote! {
            let __span = #kr::Span::new(#n_out, #n_red, self.__ranges.as_ref(), #over);
            #dispatch
        };
        let gpu_task = self.gpu_task(x);
        let (run_trait, run_method) = match self.f.reduction {
            Reduction::Kernel => {
                let points = self.points();
                (
                    quote!(#kr::BoundKernel<T>),
                    quote! {
                        fn nrows(&self) -> usize { self.__rows_i }
                        fn ncols(&self) -> usize { self.__rows_j }
                        fn run(&self, work: #kr::KernelWork<'_, T>) {
                            let b = self;
                            #dispatch
                        }
                        fn symmetric(&self) -> bool { self.__symmetric }
                        fn ranges(&self) -> ::core::option::Option<&#kr::Ranges> { self.__ranges.as_ref() }
                        fn ranges_mut(&mut self) -> &mut ::core::option::Option<#kr::Ranges> { &mut self.__ranges }
                        #points
                        #gpu_task
                    },
                )
            }
            Reduction::SumI | Reduction::SumJ | Reduction::Other(..) => (
                quote!(#kr::BoundReduction<T>),
                self.run_reduction(x, dispatch, gpu_task),
            ),
        };
        quote! {
            #[allow(non_camel_case_types, non_snake_case, unused_variables, clippy::all)]
            impl<'a, T: #kr::Real> #run_trait for __KeopsBound<'a, T> {
                #run_method
            }
        }
    }

    /// A kernel of one i variable and one j variable (the points; parameters aside) gives them
    /// and rebinds itself to other points of the same dimensions: what a hierarchical product
    /// needs (the near field on the points sorted by cluster, the far field on interpolation
    /// nodes). Other kernels keep the trait's defaults (`None`).
    fn points(&self) -> TokenStream {
        let (f, kr) = (self.f, &self.kr);
        let (mut vi, mut vj) = (f.vars_of(Role::I), f.vars_of(Role::J));
        let (Some((_, x)), None, Some((_, y)), None) = (vi.next(), vi.next(), vj.next(), vj.next())
        else {
            return quote!();
        };
        if f.vars.len() != 2 || !f.stages.is_empty() {
            return quote!();
        }
        let (fx, fy) = (super::var_field(x), super::var_field(y));
        let pfields = f.params.iter().map(super::param_field);
        let symmetric = self.symmetric();
        quote! {
            fn points(&self) -> ::core::option::Option<[#kr::View<'_, T>; 2]> {
                ::core::option::Option::Some([self.#fx.reborrow(), self.#fy.reborrow()])
            }
            fn with_points(
                &self,
                #fx: #kr::View<'static, T>,
                #fy: #kr::View<'static, T>,
            ) -> ::core::option::Option<::std::boxed::Box<dyn #kr::BoundKernel<T>>> {
                if #fx.dim() != self.#fx.dim() || #fy.dim() != self.#fy.dim() {
                    return ::core::option::Option::None;
                }
                let __symmetric = #symmetric;
                ::core::option::Option::Some(::std::boxed::Box::new(__KeopsBound::<'static, T> {
                    __rows_i: #fx.rows(),
                    __rows_j: #fy.rows(),
                    #fx,
                    #fy,
                    #(#pfields: self.#pfields.clone(),)*
                    __dims: self.__dims.clone(),
                    __symmetric,
                    __ranges: ::core::option::Option::None,
                }))
            }
        }
    }

    /// `BoundReduction`'s methods; a gradient with respect to a parameter sums the rows (in
    /// f64), into one output row.
    fn run_reduction(
        &self,
        x: &Extents,
        dispatch: TokenStream,
        gpu_task: TokenStream,
    ) -> TokenStream {
        let kr = &self.kr;
        let (n_out, out_dim) = (&x.n_out, &x.out_dim);
        let (output_ty, _) = self.output_types();
        let (out_rows, run_body) = if self.f.total {
            (
                quote!(1),
                quote! {
                    let mut __rows = ::std::vec![T::ZERO; #n_out * (#out_dim)];
                    {
                        let vals = &mut __rows[..];
                        #dispatch
                    }
                    #kr::sum_rows_into(&__rows, #out_dim, vals);
                },
            )
        } else {
            (n_out.clone(), dispatch)
        };
        quote! {
            fn out_rows(&self) -> usize { #out_rows }
            type Output = #output_ty;
            fn out_dim(&self) -> usize { #out_dim }
            fn ranges(&self) -> ::core::option::Option<&#kr::Ranges> { self.__ranges.as_ref() }
            fn run_into(&self, vals: &mut [T], idx: &mut [usize]) {
                let b = self;
                #run_body
            }
            #gpu_task
        }
    }
}
