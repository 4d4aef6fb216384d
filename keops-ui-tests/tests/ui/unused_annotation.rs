// An annotation of a name the formula does not use (a typo: `z_j` for `y_j`).
use keops::prelude::*;

fn main() {
    let _k = kernel!(x_i: 3, z_j: 3 => exp(-sqdist(x_i, y_j)));
}
