//! The tensor operations (`matvec`, `vecmat`, `tensorprod`, `kron`, `tensordot`) and the
//! weighted squared norms in `keops_formula::analyze`: the checked formula (the table of
//! contractions, fixed classes, the weighting chosen) and every misuse as one error on the
//! offending sub-expression. Formulas are parsed from strings so that spans carry source text.

mod common;

use common::{assert_errors, ok};
use keops_formula::ir::{Formula, Shape};
use keops_formula::op::Op;
use keops_formula::tensor::TensorSpec;

fn live_ops(f: &Formula) -> Vec<Op> {
    let mut live = vec![false; f.nodes.len()];
    for r in f.roots() {
        live[r] = true;
    }
    for i in (0..f.nodes.len()).rev() {
        if live[i] {
            for &a in &f.nodes[i].args {
                live[a] = true;
            }
        }
    }
    (0..f.nodes.len())
        .filter(|&i| live[i])
        .map(|i| f.nodes[i].op)
        .collect()
}

fn count(f: &Formula, pred: impl Fn(Op) -> bool) -> usize {
    live_ops(f).into_iter().filter(|&o| pred(o)).count()
}

fn is_tensor(op: Op) -> bool {
    matches!(op, Op::TensorDot(_))
}

/// The fixed dimension of the root's class (1 for a scalar).
fn root_dim(f: &Formula) -> Option<usize> {
    match f.nodes[f.root].shape {
        Shape::Scalar => Some(1),
        Shape::Vector(c) => f.classes[c].fixed,
    }
}

#[test]
fn contractions_have_fixed_output_dimensions() {
    let f = ok("x_i: 2, a_j: 6 => sum_j(matvec(a_j, x_i))");
    assert_eq!(f.tensors, vec![TensorSpec::matvec(3, 2)]);
    assert_eq!(root_dim(&f), Some(3));
    assert!(f.slots.is_empty());
    let f = ok("x_i: 2, a_j: 6 => sum_j(vecmat(x_i, a_j))");
    assert_eq!(f.tensors, vec![TensorSpec::vecmat(2, 3)]);
    assert_eq!(root_dim(&f), Some(3));
    let f = ok("x_i: 2, y_j: 5 => sum_j(tensorprod(x_i, y_j))");
    assert_eq!(root_dim(&f), Some(10));
    // A full contraction is a scalar: a kernel matrix.
    let f = ok("tensordot(x_i, y_j, [2, 3], [3, 2], [0, 1], [1, 0])");
    assert_eq!(f.nodes[f.root].shape, Shape::Scalar);
    // `kron` and `tensordot` give their operands' dimensions: nothing is left to run time.
    let f = ok("sum_j(kron(x_i, y_j, [2, 3], [2, 2]))");
    assert_eq!(f.tensors, vec![TensorSpec::kron(vec![2, 3], vec![2, 2])]);
    assert_eq!(root_dim(&f), Some(24));
    assert!(f.slots.is_empty(), "{:?}", f.classes);
    for v in &f.vars {
        let Shape::Vector(c) = v.shape else { panic!() };
        assert_eq!(
            f.classes[c].fixed,
            Some(if v.name == "x_i" { 6 } else { 4 })
        );
    }
    // A tensor result sizes the next operation, and a concatenation of annotated parts is known.
    let f = ok("x_i: 2, a_j: 6, b_j: 1 => sum_j(tensorprod(matvec(a_j, x_i), concat(x_i, b_j)))");
    assert_eq!(root_dim(&f), Some(9));
    // Run-time dimensions elsewhere stay run-time.
    let f = ok("x_i: 2, a_j: 6 => sum_j(exp(-sqdist(u_i, v_j)) * matvec(a_j, x_i))");
    assert_eq!(f.slots.len(), 1);
}

#[test]
fn equal_contractions_are_shared() {
    let f = ok("x_i: 2, a_j: 6 => sum_j(matvec(a_j, x_i) + 2 * matvec(a_j, x_i))");
    assert_eq!(count(&f, is_tensor), 1);
    assert_eq!(f.tensors.len(), 1);
    // Same spec, other operands: one table entry, two nodes.
    let f = ok("x_i: 2, u_i: 2, a_j: 6 => sum_j(matvec(a_j, x_i) * matvec(a_j, u_i))");
    assert_eq!(count(&f, is_tensor), 2);
    assert_eq!(f.tensors.len(), 1);
    // The table is part of the canonical text: other dimensions, another kernel.
    let a = ok("x_i: 6, y_j: 6 => tensordot(x_i, y_j, [2, 3], [3, 2], [0, 1], [1, 0])");
    let b = ok("x_i: 6, y_j: 6 => tensordot(x_i, y_j, [3, 2], [2, 3], [0, 1], [1, 0])");
    assert_ne!(a.canonical(), b.canonical());
    assert!(
        a.canonical().contains("tensor0:[2, 3]:[3, 2]"),
        "{}",
        a.canonical()
    );
}

#[test]
fn weighted_norms_choose_their_weighting() {
    // A scalar s: s * sqnorm(f).
    let f = ok("sum_j(weightedsqnorm(s, x_i - y_j))");
    assert_eq!(count(&f, |o| o == Op::SqNorm), 1);
    assert_eq!(count(&f, is_tensor), 0);
    // s of run-time dimension: diagonal, s joins f's class.
    let f = ok("sum_j(weightedsqdist(b_j, x_i, y_j))");
    assert_eq!(count(&f, |o| o == Op::Dot), 1);
    assert_eq!(f.vars[0].shape, f.vars[1].shape);
    assert_eq!(f.slots.len(), 1);
    // Both fixed: by the dimensions.
    let f = ok("w: 4, x_i: 2 => sum_j(weightedsqdist(w, x_i, y_j))");
    assert_eq!(f.tensors, vec![TensorSpec::matvec(2, 2)]);
    let f = ok("w: 4, x_i: 4 => sum_j(weightedsqdist(w, x_i, y_j))");
    assert_eq!(count(&f, is_tensor), 0);
    assert_eq!(count(&f, |o| o == Op::Dot), 1);
    // s fixed, not a square, f of run-time dimension: diagonal, which fixes f's dimension.
    let f = ok("w: 5 => sum_j(weightedsqnorm(w, x_i - y_j))");
    assert!(f.slots.is_empty());
    // s of dimension 1: isotropic.
    let f = ok("w: 1 => sum_j(weightedsqnorm(w, x_i - y_j))");
    assert_eq!(count(&f, |o| o == Op::SqNorm), 1);
}

#[test]
fn dimensions_needed_at_compile_time() {
    assert_errors(
        "sum_j(matvec(a_j, x_i))",
        &[(
            "`matvec(A, x)` needs the dimensions of its operands at compile time, but the \
             dimensions of A (`a_j`) and x (`x_i`) are only known at run time: annotate `a_j` \
             and `x_i` with their dimensions (`a_j: N, x_i: N` before `=>`)",
            "matvec(a_j, x_i)",
        )],
    );
    assert_errors(
        "x_i: 2 => sum_j(vecmat(x_i, a_j * 2))",
        &[(
            "`vecmat(x, A)` needs the dimensions of its operands at compile time, but the \
             dimension of A (argument 2 of `vecmat`) is only known at run time: annotate the \
             dimensions of the variables and parameters it uses",
            "vecmat(x_i, a_j * 2)",
        )],
    );
    assert_errors(
        "y_j: 3 => sum_j(tensorprod(x_i, y_j))",
        &[(
            "`tensorprod(f, g)` needs the dimensions",
            "tensorprod(x_i, y_j)",
        )],
    );
    // The weights' dimension is a square and f's is not known: diagonal or full?
    assert_errors(
        "s: 9 => sum_j(weightedsqdist(s, x_i, y_j))",
        &[(
            "`weightedsqdist` with weights s of dimension 9 is ambiguous while the dimension of \
             f - g is only known at run time",
            "weightedsqdist(s, x_i, y_j)",
        )],
    );
}

#[test]
fn dimension_mismatches() {
    assert_errors(
        "a_j: 7, x_i: 2 => sum_j(matvec(a_j, x_i))",
        &[(
            "dimension mismatch in `matvec(A, x)`: A (`a_j`) has dimension 7, which is not a \
             multiple of the dimension 2 of x (`x_i`)",
            "matvec(a_j, x_i)",
        )],
    );
    assert_errors(
        "x_i: 5 => sum_j(kron(x_i, y_j, [2, 3], [2, 2]))",
        &[(
            "dimension mismatch: `x_i` has dimension 5, but the dimensions [2, 3] of `kron` make 6",
            "x_i",
        )],
    );
    assert_errors(
        "b_j: 1 => sum_j(tensordot(x_i, b_j, [2, 3], [2], [0], [0]))",
        &[(
            "dimension mismatch: `b_j` is a scalar, but the dimensions [2] of `tensordot` make 2",
            "b_j",
        )],
    );
    // A dimension given by `tensordot` then clashes with another use.
    assert_errors(
        "sum_j(tensordot(x_i, y_j, [2], [3], [], []) + x_i)",
        &[(
            "dimension mismatch: the left operand has dimension 6",
            "tensordot(x_i, y_j, [2], [3], [], []) + x_i",
        )],
    );
    assert_errors(
        "s: 4, x_i: 3 => sum_j(weightedsqdist(s, x_i, y_j))",
        &[(
            "dimension mismatch in `weightedsqdist`: `s` has dimension 4 and f - g has dimension \
             3, but the weights s must have dimension 1 (isotropic), 3 (diagonal) or 3*3 = 9",
            "weightedsqdist(s, x_i, y_j)",
        )],
    );
    assert_errors(
        "x_i: 64, y_j: 32 => sum_j(tensorprod(x_i, y_j))",
        &[(
            "the result of `tensorprod` has dimension 2048, but keops supports dimensions up to 1024",
            "tensorprod(x_i, y_j)",
        )],
    );
}

#[test]
fn index_lists() {
    assert_errors(
        "sum_j(kron(x_i, y_j, 3, [2]))",
        &[(
            "the dimensions of f in `kron` must be a list of integer literals, e.g. `[2, 3]`",
            "3",
        )],
    );
    assert_errors(
        "sum_j(kron(x_i, y_j, [2, 3], [2]))",
        &[(
            "`kron(f, g, dims f, dims g)` needs tensors with the same number of axes, but f has 2 \
             and g has 1",
            "kron(x_i, y_j, [2, 3], [2])",
        )],
    );
    assert_errors(
        "sum_j(kron(x_i, y_j, [2, n], [2, 0]))",
        &[
            (
                "the dimensions of f in `kron` must be a list of non-negative integer literals",
                "n",
            ),
            ("the dimensions of g in `kron`: an axis has size 0", "0"),
        ],
    );
    assert_errors(
        "sum_j(tensordot(x_i, y_j, [2, 3], [3, 2], [0, 2], [1, 0]))",
        &[("axis 2 of f is out of range: f has 2 axes ([2, 3])", "2")],
    );
    assert_errors(
        "sum_j(tensordot(x_i, y_j, [2, 3], [3, 2], [0, 0], [1, 0]))",
        &[("axis 0 of f is contracted twice", "0")],
    );
    assert_errors(
        "sum_j(tensordot(x_i, y_j, [2, 3], [3, 2], [0], [0]))",
        &[(
            "contracted axes must have equal sizes, but axis 0 of f has size 2 and axis 0 of g \
             has size 3",
            "0",
        )],
    );
    assert_errors(
        "sum_j(tensordot(x_i, y_j, [2, 3], [3, 2], [0, 1], [1]))",
        &[(
            "`tensordot` contracts axes in pairs, but 2 axes of f and 1 of g are listed",
            "tensordot(x_i, y_j, [2, 3], [3, 2], [0, 1], [1])",
        )],
    );
    assert_errors(
        "sum_j(kron(x_i, y_j, [64], [32]))",
        &[(
            "the result of `kron` has dimension 2048",
            "kron(x_i, y_j, [64], [32])",
        )],
    );
    assert_errors(
        "sum_j(kron(x_i, y_j))",
        &[(
            "`kron` takes 4 arguments, but 2 were given",
            "kron(x_i, y_j)",
        )],
    );
}
