//! Emits the Rust code of a formula: a parameter-capturing value with a builder that binds data by
//! variable name, a bound struct that checks dimensions once, and per run-time dimension a
//! monomorphised row kernel (`prepare` for what depends on the output row only, `eval` per pair)
//! that the runtime's tiled engine drives.
//!
//! The items, in the order they are emitted:
//! - `builder.rs`: `__KeopsFormula` (the captured parameters), `__KeopsBuilder` (one type state
//!   per variable) and a trait per variable that names a forgotten one in the compile error;
//! - `bound.rs`: `__bind` (every check, once) and `__KeopsBound`, the data bound and checked;
//! - `run.rs`: its evaluation, through `dispatch.rs` (one arm per combination of run-time
//!   dimensions) and with its `gpu_task.rs`;
//! - `row_kernel.rs`: `__KeopsArm` (one arm) and its row kernel, whose node expressions come from
//!   `expr.rs` and `tensordot.rs`, with its SIMD version from `lanes.rs`.
//!
//! A gradient's forward stages are formulas of their own, emitted in modules (`stages.rs`).

mod bound;
mod builder;
mod dispatch;
mod expr;
mod gpu_task;
mod lanes;
mod row_kernel;
mod run;
mod stages;
mod tensordot;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::ir::{Formula, NodeId, Param, Var};

/// Generated code for `f`: an expression whose value captures the formula's parameters.
pub fn emit(f: &Formula) -> TokenStream {
    let e = Emitter::new(f, quote!());
    let items = e.items();
    let captures = e.captures();
    if f.stages.is_empty() {
        let fields = f.params.iter().map(param_field);
        return quote! {{
            #items
            __KeopsFormula { #(#fields: #captures,)* }
        }};
    }
    stages::gradient(f, items, &captures)
}

/// The emitter of one formula's items; every part of the Rust emitter is a method of it.
struct Emitter<'f> {
    f: &'f Formula,
    /// Path of the runtime support the generated code uses.
    kr: TokenStream,
    /// Visibility of the generated items: `pub` for a gradient's forward stages, which live in
    /// a module of their own.
    vis: TokenStream,
    /// Emitting the lane version: values are `N: Num<Elem = T>` (a SIMD pack of `N::LANES` output
    /// rows), row-indexed data is gathered per lane and everything else is splat.
    lanes: bool,
}

impl<'f> Emitter<'f> {
    /// The emitter of `f`'s items, visible as `vis`.
    fn new(f: &'f Formula, vis: TokenStream) -> Emitter<'f> {
        Emitter {
            f,
            kr: quote!(::keops::__private),
            vis,
            lanes: false,
        }
    }

    /// The same formula's lane version (see [`Emitter::lanes`]).
    fn with_lanes(&self) -> Emitter<'f> {
        Emitter {
            f: self.f,
            kr: self.kr.clone(),
            vis: self.vis.clone(),
            lanes: true,
        }
    }

    /// Every item of the formula, in order (see the module's documentation).
    fn items(&self) -> TokenStream {
        let ops = builder::Operands::new(self.f);
        let extents = run::Extents::new(self.f);
        let builder = self.builder(&ops);
        let binding = self.binding(&ops);
        let run = self.run(&extents);
        let arm = self.arm();
        quote! {
            #builder
            #binding
            #run
            #arm
        }
    }
}

/// The local holding node `i`'s value.
fn node_ident(i: NodeId) -> Ident {
    format_ident!("n{}", i)
}

/// The field holding variable `v`'s data.
fn var_field(v: &Var) -> Ident {
    format_ident!("v_{}", v.name)
}

/// The field holding parameter `p`'s value.
fn param_field(p: &Param) -> Ident {
    format_ident!("p_{}", p.ident)
}

/// Len value and capacity of vector class `k` inside an arm.
fn len_of(k: usize) -> Ident {
    format_ident!("l{}", k)
}
