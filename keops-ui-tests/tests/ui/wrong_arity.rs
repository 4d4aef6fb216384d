// A function called with the wrong number of arguments: the error is on the call.
use keops::prelude::*;

fn main() {
    let _k = kernel!(exp(-sqdist(x_i - y_j)));
}
