//! The binding: `__bind` checks the bound data once (the variables' views, their row counts per
//! index, every dimension against the formula's `DimSpec`, the k-min family's K, kmin gradients'
//! cotangent dimension), evaluates a gradient's forward stages and gives `__KeopsBound`, which the
//! builder's finishers (`bind`, `eval`, `eval_into`, or `matrix` for a kernel) start from.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::builder::Operands;
use super::{var_field, Emitter};
use crate::emit::Family;
use crate::ir::{Reduction, Role, Shape};
use crate::op::Op;

impl Emitter<'_> {
    /// The builder's `__bind` and finishers, and the bound formula's struct.
    pub(super) fn binding(&self, ops: &Operands) -> TokenStream {
        let (f, kr, vis) = (self.f, &self.kr, &self.vis);
        let (states, vfields, pfields) = (&ops.states, &ops.fields, &ops.params);
        let vnames = ops.names();
        let pnames: Vec<String> = f.params.iter().map(|p| p.ident.to_string()).collect();
        let all_fields = f.vars.iter().map(var_field);
        let hfields: Vec<_> = f.stages.iter().map(|s| var_field(&f.vars[s.var])).collect();
        let bound_where = ops.bound_where();
        let spec = self.dim_spec();
        let stage_evals = self.stage_evals();
        let (rows_i, rows_j) = (self.rows(Role::I), self.rows(Role::J));
        let symmetric = self.symmetric();
        let k_check = self.k_check();
        let ratio_checks = self.ratio_checks(ops);
        let finishers = self.finishers(&bound_where);
        let ranges_doc = "Visits only the pairs `ranges` keeps (a block-sparse reduction, KeOps' `ranges`): checked against the bound points when the formula is bound.";
        let view = self.view();
        quote! {
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            impl<'f, 'a, T: #kr::Real, #(#states),*> __KeopsBuilder<'f, 'a, T, #(#states),*> {
                fn __bind(self) -> ::core::result::Result<__KeopsBound<'a, T>, #kr::KeopsError> #bound_where {
                    #(let #vfields = self.#vfields.__view();)*
                    #spec
                    #(#kr::check_var(#vnames, &#vfields)?;)*
                    #(#stage_evals)*
                    let __rows_i = #rows_i;
                    let __rows_j = #rows_j;
                    let __symmetric = #symmetric;
                    if let ::core::option::Option::Some(r) = &self.__ranges {
                        r.check(__rows_i, __rows_j)?;
                    }
                    #k_check
                    let __dims = SPEC.resolve(
                        &[#(#all_fields.dim()),*],
                        &[#(self.__formula.#pfields.dim()),*],
                    )?;
                    #(#ratio_checks)*
                    ::core::result::Result::Ok(__KeopsBound {
                        #(#vfields,)*
                        #(#hfields,)*
                        #(#pfields: self.__formula.#pfields.to_real::<T>(#pnames)?,)*
                        __dims,
                        __rows_i,
                        __rows_j,
                        __symmetric,
                        __ranges: self.__ranges,
                    })
                }
                #[doc = #ranges_doc]
                pub fn ranges(mut self, ranges: &#kr::Ranges) -> Self {
                    self.__ranges = ::core::option::Option::Some(ranges.clone());
                    self
                }
                #[doc(hidden)]
                pub fn __ranges_opt(mut self, ranges: ::core::option::Option<&#kr::Ranges>) -> Self {
                    self.__ranges = ranges.cloned();
                    self
                }
                #finishers
            }

            /// The formula with its data bound and checked.
            #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::all)]
            #[derive(Clone, Debug)]
            #vis struct __KeopsBound<'a, T: #kr::Real> {
                #(#vfields: #view,)*
                #(#hfields: #kr::Rows<T>,)*
                #(#pfields: ::std::vec::Vec<T>,)*
                __dims: ::std::vec::Vec<usize>,
                __rows_i: usize,
                __rows_j: usize,
                /// A symmetric kernel bound to the same points twice: products evaluate each pair once.
                __symmetric: bool,
                /// The pairs visited, when block-sparse.
                __ranges: ::core::option::Option<#kr::Ranges>,
            }
        }
    }

    /// `const SPEC`: the dimension classes, the operands' classes and the `elem` / `extract`
    /// bounds, from which the runtime resolves and checks every dimension.
    fn dim_spec(&self) -> TokenStream {
        let (f, kr) = (self.f, &self.kr);
        let some = |x: TokenStream| quote!(::core::option::Option::Some(#x));
        let none = quote!(::core::option::Option::None);
        let usize_lit = |n: usize| {
            let n = Literal::usize_unsuffixed(n);
            quote!(#n)
        };
        let class_opt = |s: Shape| match s {
            Shape::Scalar => none.clone(),
            Shape::Vector(k) => some(usize_lit(k)),
        };
        let classes = f.classes.iter().map(|c| {
            let fixed = c.fixed.map_or(none.clone(), |n| some(usize_lit(n)));
            let concat = c.concat.map_or(none.clone(), |(a, b)| {
                let (a, b) = (class_opt(a), class_opt(b));
                some(quote!((#a, #b)))
            });
            let label = &c.label;
            quote!(#kr::ClassSpec { fixed: #fixed, concat: #concat, label: #label })
        });
        let vars = f.vars.iter().map(|v| {
            let (name, class) = (&v.name, class_opt(v.shape));
            quote!(#kr::OperandSpec { name: #name, class: #class })
        });
        let params = f.params.iter().map(|p| {
            let (name, class) = (p.ident.to_string(), class_opt(p.shape));
            quote!(#kr::OperandSpec { name: #name, class: #class })
        });
        let elems = f.elems.iter().map(|e| {
            let (c, i) = (usize_lit(e.class), usize_lit(e.index));
            let extract = e.extract.map_or(none.clone(), |(m, d)| {
                let (m, d) = (usize_lit(m), usize_lit(d));
                some(quote!((#m, #d)))
            });
            quote!(#kr::ElemSpec { class: #c, index: #i, extract: #extract })
        });
        quote! {
            const SPEC: #kr::DimSpec = #kr::DimSpec {
                classes: &[#(#classes),*],
                vars: &[#(#vars),*],
                params: &[#(#params),*],
                elems: &[#(#elems),*],
            };
        }
    }

    /// The number of rows of index `role`, common to its variables.
    fn rows(&self, role: Role) -> TokenStream {
        let kr = &self.kr;
        let entries = self.f.vars_of(role).map(|(_, v)| {
            let (name, fd) = (&v.name, var_field(v));
            quote!((#name, #fd.rows()))
        });
        let l = role.letter();
        quote!(#kr::common_rows(#l, &[#(#entries),*])?)
    }

    /// Whether the bound formula is a symmetric kernel whose two variables are bound to the same
    /// data (its products then evaluate each pair once).
    pub(super) fn symmetric(&self) -> TokenStream {
        let (f, kr) = (self.f, &self.kr);
        match (f.reduction, crate::symmetry::symmetric_pair(f)) {
            (Reduction::Kernel, Some((a, b))) => {
                let (a, b) = (var_field(&f.vars[a]), var_field(&f.vars[b]));
                quote!(#kr::same_data(&#a, &#b))
            }
            (Reduction::Kernel, None)
            | (Reduction::SumI | Reduction::SumJ | Reduction::Other(..), _) => quote!(false),
        }
    }

    /// The k-min family needs at least K rows to reduce over.
    fn k_check(&self) -> TokenStream {
        let (f, kr) = (self.f, &self.kr);
        let k = match Family::of(f.reduction) {
            Family::KMin(k) => k,
            Family::Kernel | Family::Sum | Family::Extremum { .. } | Family::ShiftedExp { .. } => {
                return quote!()
            }
        };
        let name = f.reduction.name().unwrap_or_default();
        let l = f.reduction.inner().letter();
        let rows = format_ident!("__rows_{}", l);
        let k = Literal::usize_unsuffixed(k);
        quote! {
            if #rows < #k {
                return ::core::result::Result::Err(#kr::KeopsError::KTooLarge {
                    reduction: ::std::string::String::from(#name),
                    k: #k,
                    index: #l,
                    rows: #rows,
                });
            }
        }
    }

    /// `kmask` reads K entries per entry of F: the cotangent must have K times F's dimension.
    fn ratio_checks(&self, ops: &Operands) -> Vec<TokenStream> {
        let (f, kr) = (self.f, &self.kr);
        let ratio_check = |n: &crate::ir::Node| {
            let Op::KMask(k) = n.op else { return None };
            let Shape::Vector(ce) = f.nodes[n.args[0]].shape else {
                return None;
            };
            let e_var = ops.user.iter().find(|v| v.shape == Shape::Vector(ce))?;
            let name = &e_var.name;
            let ce = Literal::usize_unsuffixed(ce);
            let kl = Literal::usize_unsuffixed(k);
            let d = match n.shape {
                Shape::Scalar => quote!(1usize),
                Shape::Vector(c) => {
                    let c = Literal::usize_unsuffixed(c);
                    quote!(__dims[#c])
                }
            };
            Some(quote! {
                if __dims[#ce] != #kl * #d {
                    return ::core::result::Result::Err(#kr::KeopsError::DimensionMismatch {
                        var: ::std::string::String::from(#name),
                        expected: #kl * #d,
                        found: __dims[#ce],
                        hint: ::std::string::String::from(
                            " (the cotangent of kmin has K times the dimension of the formula)",
                        ),
                    });
                }
            })
        };
        f.nodes.iter().filter_map(ratio_check).collect()
    }

    /// The builder's public methods once every variable is bound: a kernel's `matrix`, a
    /// reduction's `bind`, `eval` and `eval_into`.
    fn finishers(&self, bound_where: &TokenStream) -> TokenStream {
        let kr = &self.kr;
        let (output_ty, buffers_ty) = self.output_types();
        match self.f.reduction {
            Reduction::Kernel => quote! {
                /// The kernel matrix `K_ij` over the bound points: a lazy operator whose products
                /// never store it.
                pub fn matrix(self) -> ::core::result::Result<#kr::KernelMatrix<T, __KeopsBound<'a, T>>, #kr::KeopsError> #bound_where {
                    ::core::result::Result::Ok(#kr::KernelMatrix::new(self.__bind()?))
                }
            },
            Reduction::SumI | Reduction::SumJ | Reduction::Other(..) => quote! {
                /// Checks the bound data once; the result can be evaluated many times.
                pub fn bind(self) -> ::core::result::Result<#kr::Reduction<T, __KeopsBound<'a, T>>, #kr::KeopsError> #bound_where {
                    ::core::result::Result::Ok(#kr::Reduction::new(self.__bind()?))
                }
                /// Evaluates the reduction: one row per output index.
                pub fn eval(self) -> ::core::result::Result<#output_ty, #kr::KeopsError> #bound_where {
                    ::core::result::Result::Ok(self.bind()?.eval())
                }
                /// Evaluates the reduction into the caller's row-major buffer(s).
                pub fn eval_into(self, out: #buffers_ty) -> ::core::result::Result<(), #kr::KeopsError> #bound_where {
                    self.bind()?.eval_into(out)
                }
            },
        }
    }
}
