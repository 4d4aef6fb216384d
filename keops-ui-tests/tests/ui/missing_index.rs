// A kernel needs variables of both indices; so does a reduction.
use keops::prelude::*;

fn main() {
    let _a = kernel!(exp(-sqnorm(x_i)));
    let _b = kernel!(sum_j(x_i * 2));
}
