// A name that is neither a `let` nor a variable is a parameter captured from the scope: a
// misspelt `let` name is rustc's usual error, on the name inside the formula.
use keops::prelude::*;

fn main() {
    let _k = kernel!(let dist = sqdist(x_i, y_j); exp(-dist) * (1 + dits));
}
