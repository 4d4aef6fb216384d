// The operations added for KeOps parity: arity, integer-literal arguments, `mod` (a keyword).
use keops::prelude::*;

fn main() {
    let s = 1.0;
    let _a = kernel!(atan2(sqdist(x_i, y_j)));
    let _b = kernel!(modulo(sqdist(x_i, y_j)));
    let _c = kernel!(clampint(sqdist(x_i, y_j), 0, s));
    let _d = kernel!(round(sqdist(x_i, y_j), 0.5));
    let _e = kernel!(exp(-mod(sqdist(x_i, y_j), 2)));
    let _f = kernel!(x_i: 2, y_j: 3 => sum_j((x_i < y_j) * 2));
}
