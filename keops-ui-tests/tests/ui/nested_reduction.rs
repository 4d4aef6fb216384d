// A reduction must be the whole formula: the error is on the nested `sum_j(..)`.
use keops::prelude::*;

fn main() {
    let _k = kernel!(exp(-sum_j(sqdist(x_i, y_j))));
}
