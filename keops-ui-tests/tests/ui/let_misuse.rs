// `let` names a sub-expression before the formula: each mistake is an error on the name.
use keops::prelude::*;

fn main() {
    // Used before its definition.
    let _a = kernel!(let a = b + 1; let b = sqdist(x_i, y_j); exp(-a));
    // Defined twice.
    let _b = kernel!(let d = sqdist(x_i, y_j); let d = 2 * d; exp(-d));
    // Defined but never used.
    let _c = kernel!(let d = sqdist(x_i, y_j); exp(-sqdist(x_i, y_j)));
    // A variable's name.
    let _d = kernel!(let d_j = 2 * y_j; exp(-sqdist(x_i, d_j)));
}
