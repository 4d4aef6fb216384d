// The tensor operations and weighted norms: dimensions needed at compile time, index lists,
// dimension mismatches, an ambiguous weighting.
use keops::prelude::*;

fn main() {
    let w = [1.0; 9];
    let _a = kernel!(sum_j(matvec(a_j, x_i)));
    let _b = kernel!(x_i: 4 => sum_j(kron(x_i, y_j, [2, 3], [2, 2])));
    let _c = kernel!(sum_j(tensordot(x_i, y_j, [2, 3], [3, 2], [0, 2], [1, 0])));
    let _d = kernel!(w: 9 => sum_j(weightedsqdist(w, x_i, y_j)));
    let _e = kernel!(a_j: 7, x_i: 2 => sum_j(matvec(a_j, x_i)));
}
