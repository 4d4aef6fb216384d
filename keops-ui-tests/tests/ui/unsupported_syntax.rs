// Method calls, `if`, indexing: each rejected with the formula-language way to write it.
use keops::prelude::*;

fn main() {
    let _a = kernel!(sqdist(x_i, y_j).exp());
    let _b = kernel!(if sqdist(x_i, y_j) { 1.0 } else { 0.0 });
    let _c = kernel!(x_i[0] * y_j[1]);
}
