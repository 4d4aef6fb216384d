// Forgetting to bind a variable (`b_j`) is a compile error: the builder has no `eval` until every
// variable is bound.
use keops::prelude::*;

fn main() {
    let x: Vec<f64> = vec![0.0, 1.0];
    let y: Vec<f64> = vec![0.5, 1.5, 2.5];
    let red = kernel!(sum_j(exp(-sqdist(x_i, y_j)) * b_j));
    let _out = red.x_i(&x).y_j(&y).eval();
}
