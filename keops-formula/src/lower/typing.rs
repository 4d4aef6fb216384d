//! An operation's shape from its arguments' ([`Op::typing`]): entrywise operations broadcast
//! scalars and unify the classes of their vectors, reductions to a scalar unify their pair of
//! operands, a concatenation makes a class of its own. Messages name the operands as the user
//! wrote them.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::Expr;

use super::{Builder, RShape};
use crate::op::{Op, Typing};
use crate::parse::strip;

impl Builder<'_> {
    /// How a message names operand `k` (expression `e`) of a binary operator (`func` is `None`)
    /// or of a call to `func`: `x_i`, "the left operand", "argument 2 of `dot`".
    pub(super) fn operand_name(e: &Expr, k: usize, func: Option<&syn::Ident>) -> String {
        if let Expr::Path(p) = strip(e) {
            if let Some(id) = p.path.get_ident() {
                return format!("`{id}`");
            }
        }
        match func {
            None => ["the left operand", "the right operand"][k.min(1)].to_string(),
            Some(f) => format!("argument {} of `{f}`", k + 1),
        }
    }

    /// Types an operation on lowered arguments, then adds it. For messages: `operands` are the
    /// arguments' expressions, `func` the called function (`None` for an operator), `at` the whole.
    pub(super) fn apply(
        &mut self,
        op: Op,
        args: Vec<usize>,
        operands: &[&Expr],
        func: Option<&syn::Ident>,
        at: &dyn ToTokens,
    ) -> Option<usize> {
        let shapes: Vec<RShape> = args.iter().map(|&a| self.shape(a)).collect();
        let name = |k: usize| Self::operand_name(operands[k], k, func);
        let shape = match op.typing() {
            Typing::Entrywise => {
                let mut out = RShape::Scalar;
                let mut out_k = 0;
                for (k, s) in shapes.iter().enumerate() {
                    if let RShape::Vec(c) = *s {
                        match out {
                            RShape::Scalar => (out, out_k) = (RShape::Vec(c), k),
                            RShape::Vec(o) => {
                                let (da, db) = (name(out_k), name(k));
                                if !self.dims.unify(self.cx, o, c, at, (&da, &db)) {
                                    return None;
                                }
                            }
                        }
                    }
                }
                out
            }
            Typing::ToScalar => RShape::Scalar,
            Typing::PairToScalar => self.pair_to_scalar(op, &shapes, &name, at)?,
            Typing::SameShape => shapes[0],
            Typing::Elem => {
                let Op::Elem(k) = op else {
                    unreachable!("only `elem` types as an entry")
                };
                match shapes[0] {
                    RShape::Scalar if k != 0 => {
                        self.cx.error_at(
                            at,
                            format!("elem(.., {k}) of a scalar: the only index of a scalar is 0"),
                        );
                        return None;
                    }
                    RShape::Scalar => {}
                    RShape::Vec(c) => self.dims.defer_elem(c, k, at.to_token_stream().span()),
                }
                RShape::Scalar
            }
            Typing::Concat => self.dims.concat_shape(shapes[0], shapes[1], at),
            Typing::Leaf => unreachable!("leaves are made by `leaf`"),
            Typing::Internal => unreachable!("internal operations are built with their shape"),
            Typing::Tensor => unreachable!("contractions are built by `tensor_call`"),
        };
        Some(self.mk(op, args, shape))
    }

    /// `dot(f, g)`, `sqdist(f, g)`: two vectors of one dimension, or two scalars.
    fn pair_to_scalar(
        &mut self,
        op: Op,
        shapes: &[RShape],
        name: &dyn Fn(usize) -> String,
        at: &dyn ToTokens,
    ) -> Option<RShape> {
        match (shapes[0], shapes[1]) {
            (RShape::Scalar, RShape::Scalar) => Some(RShape::Scalar),
            (RShape::Vec(a), RShape::Vec(b)) => {
                let (da, db) = (name(0), name(1));
                (self.dims.unify(self.cx, a, b, at, (&da, &db))).then_some(RShape::Scalar)
            }
            (RShape::Vec(_), RShape::Scalar) | (RShape::Scalar, RShape::Vec(_)) => {
                let opname = op.canonical_name();
                let (v, s) = if shapes[0] == RShape::Scalar {
                    (name(1), name(0))
                } else {
                    (name(0), name(1))
                };
                self.cx.error_at(
                    at,
                    format!(
                        "`{opname}` needs two vectors of the same dimension (or two scalars), \
                         but {v} is a vector and {s} is a scalar"
                    ),
                );
                None
            }
        }
    }
}
