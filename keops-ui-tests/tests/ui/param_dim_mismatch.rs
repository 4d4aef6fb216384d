// A parameter annotated `c: 3` but captured from an array of length 2.
use keops::prelude::*;

fn main() {
    let c = [1.0f64, 2.0];
    let _k = kernel!(x_i: 3, c: 3 => exp(-sqdist(x_i * c, y_j)));
}
