// A parameter is captured from the enclosing scope: a name that is not defined there is rustc's
// usual error, on the name inside the formula.
use keops::prelude::*;

fn main() {
    let sigma = 0.5;
    let _k = kernel!(exp(-sqdist(x_i, y_j) / s));
    let _ = sigma;
}
