// An unknown function: the error is on its name, with the closest known name.
use keops::prelude::*;

fn main() {
    let s = 0.5;
    let _k = kernel!(exp(-sqnrom(x_i - y_j) / s));
}
