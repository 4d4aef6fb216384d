// A parameter without annotation is a scalar: capturing an array there is a compile error that says
// to annotate its dimension (it would otherwise be silently taken as a scalar or fail at run time).
use keops::prelude::*;

fn main() {
    let x: Vec<[f64; 3]> = vec![[0.0; 3]; 4];
    let c = [1.0f64, 2.0, 3.0];
    let k = kernel!(sum_j(sqdist(x_i - c, y_j)));
    let _out = k.x_i(&x).y_j(&x).eval();
}
