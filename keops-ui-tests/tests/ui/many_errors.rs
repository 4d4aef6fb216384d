// Several independent mistakes in one formula: each reported on its own sub-expression, all at
// once, and nothing else (no error on the parts that depend on a failed one, no type error after).
use keops::prelude::*;

fn main() {
    let x: Vec<f64> = vec![0.0, 1.0];
    let s = 0.5;
    let k = kernel!(x_i: 3, y_j: 2 =>
        exp(-foo(x_i) / s) * sqdist(x_i, y_j) + pow(norm(y_j), 0.5) + sqnorm(x_i % s)
    );
    let _m = k.x_i(&x).y_j(&x).matrix();
}
