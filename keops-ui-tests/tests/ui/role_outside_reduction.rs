// A `_j` variable next to `sum_j(..)`, whose result no longer depends on j: one error on the
// nested reduction, one on the misplaced variable.
use keops::prelude::*;

fn main() {
    let _k = kernel!(sum_j(x_i * y_j) + y_j);
}
