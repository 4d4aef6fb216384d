// KeOps' vector operations: one name with two forms (`min(f)`, `min(f, g)`), scalar arguments,
// integer arguments, bounds known at compile time.
use keops::prelude::*;

fn main() {
    let _a = kernel!(sum_j(min(x_i, y_j, 0)));
    let _b = kernel!(sum_j(onehot(x_i, 3) * sum(y_j)));
    let _c = kernel!(x_i: 3 => sum_j(extract(x_i, 2, 2) * sum(y_j)));
    let _d = kernel!(sum_j(extract_t(x_i, 0, 3) * sum(y_j)));
    let _e = kernel!(sum_j(elem_t(sum(x_i), 3, 3) * zero(0) + y_j));
}
