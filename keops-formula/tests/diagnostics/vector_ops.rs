//! The vector operations (`min(f)`, `max(f)`, `argmin(f)`, `argmax(f)`, `onehot`, `extract`,
//! `extract_t`, `elem_t`, `zero`): misuse, shapes, simplification.

use super::*;

#[test]
fn vector_operations_misuse() {
    // One name, two forms: the arity error names both.
    assert_errors(
        "sqdist(min(x_i, y_j, 1), x_i)",
        &[(
            "`min` takes 1 argument (`min(f)`: the smallest entry of f) or 2 arguments \
             (`min(f, g)`: the entrywise minimum), but 3 were given",
            "min(x_i, y_j, 1)",
        )],
    );
    assert_errors(
        "max() * sqdist(x_i, y_j)",
        &[(
            "`max` takes 1 argument (`max(f)`: the largest entry of f) or 2 arguments \
             (`max(f, g)`: the entrywise maximum), but 0 were given",
            "max()",
        )],
    );
    assert_errors(
        "argmin(x_i, y_j)",
        &[(
            "`argmin` takes 1 argument, but 2 were given",
            "argmin(x_i, y_j)",
        )],
    );
    // onehot and elem_t need a scalar; the error is on the vector.
    assert_errors(
        "sum_j(onehot(x_i, 3) * sum(y_j))",
        &[(
            "`onehot` encodes one value as a vector, so its argument must be a scalar, but `x_i` \
             is a vector",
            "x_i",
        )],
    );
    assert_errors(
        "sum_j(elem_t(x_i - y_j, 3, 1))",
        &[(
            "`elem_t` places one value in a vector, so its argument must be a scalar, but \
             argument 1 of `elem_t` is a vector",
            "x_i - y_j",
        )],
    );
    // Integer arguments.
    assert_errors(
        "sum_j(onehot(sum(x_i), 2000) * sum(y_j))",
        &[(
            "the dimension D of `onehot(f, D)` is 2000, but keops supports dimensions up to 1024",
            "2000",
        )],
    );
    assert_errors(
        "sum_j(onehot(sum(x_i), d) * sum(y_j))",
        &[(
            "the dimension D of `onehot(f, D)` must be a positive integer literal",
            "d",
        )],
    );
    assert_errors(
        "sum_j(extract(x_i, -1, 0) * sum(y_j))",
        &[
            (
                "the start M of `extract(f, M, D)` must be a non-negative integer literal",
                "-1",
            ),
            (
                "the dimension D of `extract(f, M, D)` must be a positive integer literal",
                "0",
            ),
        ],
    );
    assert_errors(
        "sum_j(zero(0) * sum(x_i - y_j))",
        &[(
            "the dimension N of `zero(N)` must be a positive integer literal",
            "0",
        )],
    );
    assert_errors(
        "sum_j(elem_t(sum(x_i), 3, 3) * sum(y_j))",
        &[(
            "elem_t(f, 3, 3): index 3 is out of range for a vector of dimension 3",
            "3",
        )],
    );
    // extract out of range, known at compile time (annotated, through a concatenation, a scalar).
    assert_errors(
        "x_i: 3 => sum_j(extract(x_i, 2, 2) * sum(y_j))",
        &[(
            "extract(f, 2, 2) reads entries 2..4 of f, but f has dimension 3",
            "extract(x_i, 2, 2)",
        )],
    );
    assert_errors(
        "x_i: 2, y_j: 1 => sum_j(extract(concat(x_i, y_j), 1, 3))",
        &[(
            "extract(f, 1, 3) reads entries 1..4 of f, but f has dimension 3",
            "extract(concat(x_i, y_j), 1, 3)",
        )],
    );
    assert_errors(
        "x_i: 1 => sum_j(extract(x_i, 1, 1) * y_j)",
        &[(
            "extract(f, 1, 1) reads entries 1..2 of f, but f is a scalar",
            "extract(x_i, 1, 1)",
        )],
    );
    // extract_t needs its argument's dimension at compile time, and room for it.
    assert_errors(
        "sum_j(extract_t(x_i, 0, 3) * sum(y_j))",
        &[(
            "extract_t(f, 0, 3) needs the dimension of f at compile time",
            "extract_t(x_i, 0, 3)",
        )],
    );
    assert_errors(
        "x_i: 3 => sum_j(extract_t(x_i, 1, 3) * sum(y_j))",
        &[(
            "extract_t(f, 1, 3) places f, of dimension 3, at entries 1..4, beyond the dimension 3 \
             of the result",
            "extract_t(x_i, 1, 3)",
        )],
    );
    // A dimension given by a call clashes with an annotation: the message says where it is from.
    assert_errors(
        "x_i: 4 => sum_j(onehot(sum(y_j), 3) + x_i)",
        &[(
            "dimension mismatch: the left operand has dimension 3 (from `onehot(.., 3)`) but `x_i` \
             has dimension 4",
            "onehot(sum(y_j), 3) + x_i",
        )],
    );
}

#[test]
fn vector_operations_shapes() {
    // The result's dimension is a fixed class of its own (1: a scalar).
    let f = ok(quote!(sum_j(concat(
        onehot(sum(x_i - y_j), 3),
        onehot(sum(y_j), 1)
    ))));
    let Shape::Vector(k) = f.nodes[f.root].shape else {
        panic!("a vector")
    };
    assert_eq!(f.classes[k].fixed, Some(4));
    // Equal calls are one node; another dimension is another node.
    let f = ok(quote!(sum_j(
        onehot(sum(x_i - y_j), 3) + onehot(sum(x_i - y_j), 3) + onehot(sum(x_i), 3)
    )));
    assert_eq!(count_live(&f, |op| op == Op::OneHot), 2);
    let f = ok(quote!(sum_j(concat(
        onehot(sum(x_i - y_j), 2),
        onehot(sum(x_i - y_j), 3)
    ))));
    assert_eq!(count_live(&f, |op| op == Op::OneHot), 2);
    let a = ok(quote!(sum_j(onehot(sum(x_i - y_j), 2))));
    let b = ok(quote!(sum_j(onehot(sum(x_i - y_j), 3))));
    assert_ne!(a.canonical(), b.canonical());
    assert!(a.canonical().contains("onehot(") && a.canonical().contains("):Vector("));
    // zero(1) is the constant 0, zero(3) a broadcast of it.
    let f = ok(quote!(x_i: 3 => sum_j(x_i * y_j + zero(3))));
    assert_eq!(count_live(&f, |op| op == Op::Broadcast), 1);
    let f = ok(quote!(sum_j(sqdist(x_i, y_j) + zero(1))));
    assert_eq!(count_live(&f, |op| op == Op::Broadcast), 0);
    assert_eq!(f.nodes[f.root].op, Op::SqDist);
    // extract of run-time dimension: its last index is checked when the data is bound.
    let f = ok(quote!(sum_j(extract(x_i, 1, 3) * elem(y_j, 0))));
    assert_eq!(f.elems.len(), 2);
    let e = f.elems.iter().find(|e| e.extract.is_some()).unwrap();
    assert_eq!((e.index, e.extract), (3, Some((1, 3))));
    // min(f) and min(f, g) are different operations.
    let f = ok(quote!(sum_j(min(x_i) * min(x_i, y_j))));
    assert_eq!(count_live(&f, |op| op == Op::VecMin), 1);
    assert_eq!(count_live(&f, |op| op == Op::Min), 1);
    assert_ne!(Op::VecMin.canonical_name(), Op::Min.canonical_name());
    assert_ne!(Op::VecMax.canonical_name(), Op::Max.canonical_name());
    // The ops whose shape is the node's do not fold into a scalar constant.
    assert_eq!(Op::OneHot.eval_f64(&[1.0]), None);
    assert_eq!(Op::Broadcast.eval_f64(&[0.0]), None);
    assert_eq!(Op::VecArgMax.eval_f64(&[5.0]), Some(0.0));
}

#[test]
fn vector_operations_simplify_without_changing_shapes() {
    // min / max of a scalar are it, argmin / argmax 0; an extract of everything is the argument.
    let f = ok(quote!(x_i: 1, y_j: 1 => sum_j(min(x_i * y_j) + argmax(x_i) * y_j)));
    assert_eq!(
        count_live(&f, |op| matches!(op, Op::VecMin | Op::VecArgMax)),
        0
    );
    // (The result's class is x_i's: `+ x_i` unifies them.)
    let f = ok(quote!(x_i: 3 => sum_j(extract(x_i, 0, 3) * y_j + extract_t(x_i, 0, 3) + x_i)));
    assert_eq!(
        count_live(&f, |op| matches!(op, Op::Extract(_) | Op::ExtractT(_))),
        0
    );
    let f = ok(quote!(x_i: 3 => sum_j(extract(x_i, 1, 2) * elem(y_j, 0))));
    assert_eq!(count_live(&f, |op| matches!(op, Op::Extract(_))), 1);
    // Every rewrite keeps the root's shape.
    for tokens in [
        quote!(x_i: 3 => sum_j(zero(3) * 0 + extract(x_i, 0, 3) * 1 + y_j)),
        quote!(x_i: 1 => sum_j(onehot(x_i * 0, 4) + elem_t(min(x_i), 4, 0) * y_j)),
        quote!(sum_j(
            extract_t(argmin(x_i) - 0, 2, 3) + zero(3) - 0 + sum(y_j)
        )),
        quote!(x_i: 1 => sum_j(extract(x_i, 0, 1) + onehot(0 * x_i, 1) + argmin(x_i) + sum(y_j))),
    ] {
        let raw = keops_formula::analyze_unsimplified(tokens.clone()).unwrap();
        let f = ok(tokens.clone());
        assert_eq!(
            f.nodes[f.root].shape, raw.nodes[raw.root].shape,
            "{tokens}: the simplifier changed the result's shape"
        );
    }
}
