//! Arguments that are not formulas: the integer literals of `pow(f, n)`, `round(f, d)`,
//! `onehot(f, D)`... (dimensions, indices, bounds), checked where they are written; and the
//! scalar operand some functions require.

use syn::Expr;

use super::{Builder, RShape};
use crate::parse::int_arg;

impl Builder<'_> {
    /// A dimension given as a function's argument: an integer literal in `1..=MAX_DIM`, or an
    /// error on `e` (`what` names it).
    pub(super) fn dim_arg(&mut self, e: &Expr, what: &str) -> Option<usize> {
        match int_arg(e) {
            Some(n) if (1..=crate::MAX_DIM as i64).contains(&n) => Some(n as usize),
            Some(n) if n > 0 => {
                let msg = format!(
                    "{what} is {n}, but keops supports dimensions up to {}",
                    crate::MAX_DIM
                );
                self.cx.error_at(e, msg);
                None
            }
            _ => {
                self.cx
                    .error_at(e, format!("{what} must be a positive integer literal"));
                None
            }
        }
    }

    /// An index given as a function's argument: an integer literal in `0..MAX_DIM`, or an error on
    /// `e` (`what` names it).
    pub(super) fn index_arg(&mut self, e: &Expr, what: &str) -> Option<usize> {
        match int_arg(e) {
            Some(n) if (0..crate::MAX_DIM as i64).contains(&n) => Some(n as usize),
            Some(n) if n > 0 => {
                let msg = format!(
                    "{what} is {n}, beyond the largest dimension keops supports ({})",
                    crate::MAX_DIM
                );
                self.cx.error_at(e, msg);
                None
            }
            _ => {
                self.cx
                    .error_at(e, format!("{what} must be a non-negative integer literal"));
                None
            }
        }
    }

    /// An integer literal in `lo..=hi`, or an error on `e` (`what` names it, `hint` follows the
    /// message when it is not a literal).
    pub(super) fn int_in(
        &mut self,
        e: &Expr,
        what: &str,
        (lo, hi): (i64, i64),
        hint: &str,
    ) -> Option<i32> {
        match int_arg(e) {
            Some(v) if (lo..=hi).contains(&v) => Some(v as i32),
            Some(_) => {
                let msg = format!("{what} is out of range ({lo} to {hi})");
                self.cx.error_at(e, msg);
                None
            }
            None => {
                let msg = format!("{what} must be an integer literal{hint}");
                self.cx.error_at(e, msg);
                None
            }
        }
    }

    /// `a` (the lowered `e`, argument 1 of `func`) when it is a scalar; else an error on `e`:
    /// `func` `does` something with one value.
    pub(super) fn scalar_arg(
        &mut self,
        a: usize,
        e: &Expr,
        func: &syn::Ident,
        does: &str,
    ) -> Option<usize> {
        if self.shape(a) == RShape::Scalar {
            return Some(a);
        }
        let name = Self::operand_name(e, 0, Some(func));
        self.cx.error_at(
            e,
            format!(
                "`{func}` {does}, so its argument must be a scalar, but {name} is a vector: \
                 annotate a scalar variable (`x_i: 1`), or reduce the vector to one value \
                 (`sum`, `elem`, `min`...)"
            ),
        );
        None
    }
}
