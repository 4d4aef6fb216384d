// Annotated dimensions that an entrywise operation combines: the error is on the operation.
use keops::prelude::*;

fn main() {
    let _k = kernel!(x_i: 3, y_j: 2 => exp(-sqnorm(x_i - y_j)));
}
