// `pow`'s exponent must be an integer literal: the error is on the exponent.
use keops::prelude::*;

fn main() {
    let _k = kernel!(pow(sqdist(x_i, y_j), 1.5));
}
