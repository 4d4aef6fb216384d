// Without a reduction, the formula is a kernel matrix and must be scalar; `x_i - y_j` is a vector.
use keops::prelude::*;

fn main() {
    let _k = kernel!(x_i - y_j);
}
