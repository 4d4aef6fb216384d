//! The lane version of the row kernel (`LaneKernel`): the same lets with values `N: Num<Elem =
//! T>`, a SIMD pack of `N::LANES` output rows, so that the engine's inner loop runs on vectors.
//! Sums and kernel matrices whose operations all have such a version get it.

use proc_macro2::TokenStream;
use quote::quote;

use super::row_kernel::KernelParts;
use super::Emitter;
use crate::emit::Family;
use crate::op::Op;

impl Emitter<'_> {
    /// Whether the formula has a lane version (see [`Emitter::lanes`]): a sum or kernel matrix
    /// whose live operations all have one.
    pub(super) fn has_lanes(&self) -> bool {
        let f = self.f;
        let reduction_ok = match Family::of(f.reduction) {
            Family::Kernel | Family::Sum => true,
            Family::Extremum { .. } | Family::KMin(_) | Family::ShiftedExp { .. } => false,
        };
        reduction_ok
            && (f.live().iter().zip(&f.nodes)).all(|(&live, n)| !live || has_lane_version(n.op))
    }

    /// The arm's `LaneKernel` implementation, empty without a lane version.
    pub(super) fn lane_impl(&self) -> TokenStream {
        if !self.has_lanes() {
            return quote!();
        }
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
        } = self.with_lanes().kernel_parts();
        quote! {
            #[allow(non_camel_case_types, non_snake_case, unused_variables, unused_parens, clippy::all)]
            impl<'r, 'a, T: #kr::Real, #(#generics),*> #kr::LaneKernel<T>
                for __KeopsArm<'r, 'a, T, #(#args),*>
            {
                type PreparedLanes<N: #kr::Num<Elem = T>> = (#(#prepared_tys,)*);
                type ValueLanes<N: #kr::Num<Elem = T>> = #value_ty;
                #[inline(always)]
                fn prepare_lanes<N: #kr::Num<Elem = T>>(&self, o0: usize, last: usize) -> Self::PreparedLanes<N> {
                    let b = self.b;
                    #(#class_lens)*
                    #(#prepare_lets)*
                    (#(#prepared,)*)
                }
                #[inline(always)]
                fn eval_lanes<N: #kr::Num<Elem = T>>(&self, p: &Self::PreparedLanes<N>, r: usize) -> Self::ValueLanes<N> {
                    let b = self.b;
                    #(#class_lens)*
                    let (#(#prepared,)*) = *p;
                    #(#eval_lets)*
                    #ret
                }
            }
        }
    }
}

/// Whether `op` has a lane version: not the index-valued and index-reading operations (their
/// results are per row, which the runtime's lane `Num` has no form for).
fn has_lane_version(op: Op) -> bool {
    match op {
        Op::Index(_)
        | Op::KMask(_)
        | Op::OneHot
        | Op::VecMin
        | Op::VecMax
        | Op::VecArgMin
        | Op::VecArgMax => false,
        Op::Var(_)
        | Op::Param(_)
        | Op::Const(_)
        | Op::Neg
        | Op::Add
        | Op::Sub
        | Op::Mul
        | Op::Div
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Rsqrt
        | Op::Inv
        | Op::Square
        | Op::Abs
        | Op::Sign
        | Op::Step
        | Op::Relu
        | Op::Sin
        | Op::Cos
        | Op::Pow(_)
        | Op::Powf
        | Op::Min
        | Op::Max
        | Op::Clamp
        | Op::IfElse
        | Op::SqNorm
        | Op::Norm
        | Op::Dot
        | Op::Sum
        | Op::SqDist
        | Op::Normalize
        | Op::Elem(_)
        | Op::Concat
        | Op::XLogX
        | Op::Asin
        | Op::Acos
        | Op::Atan
        | Op::Atan2
        | Op::SinXDivX
        | Op::ClampInt(..)
        | Op::Round(_)
        | Op::Floor
        | Op::Mod
        | Op::Equal
        | Op::NotEqual
        | Op::LessThan
        | Op::LessOrEqual
        | Op::GreaterThan
        | Op::GreaterOrEqual
        | Op::Extract(_)
        | Op::ExtractT(_)
        | Op::Broadcast
        | Op::TensorDot(_) => true,
    }
}
