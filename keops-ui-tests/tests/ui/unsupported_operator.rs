// Operators other than `+ - * /` and unary `-`: the error is on the operator.
use keops::prelude::*;

fn main() {
    let _a = kernel!(sqnorm(x_i % y_j));
    let _b = kernel!(sqdist(x_i, y_j) ^ 2);
}
