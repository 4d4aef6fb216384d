// Gradients: arg reductions have none, the cotangent is a new variable of the output's index, the
// variable differentiated must appear, and `grad` inside a formula takes three arguments.
use keops::prelude::*;

fn main() {
    let _a = kernel!(grad(argmin_j(sqdist(x_i, y_j)), x_i, e_i));
    let _b = kernel!(grad(sum_j(exp(-sqdist(x_i, y_j))), x_i, e_j));
    let _c = kernel!(grad(sum_j(exp(-sqdist(x_i, y_j))), z_i, e_i));
    let _d = kernel!(sum_j(grad(exp(-sqdist(x_i, y_j)), x_i)));
    // A cotangent of a scalar F must be a scalar.
    let _e = kernel!(sum_j(grad(exp(-sqdist(x_i, y_j)), x_i, e_i)));
}
