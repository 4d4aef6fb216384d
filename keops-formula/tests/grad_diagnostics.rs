//! Gradients in `keops_formula::analyze`: `grad(F, v, e)` inside a formula and `grad(R, v, e)` of
//! a reduction — the formulas they become (reduction, forward stages, hidden variables) and every
//! misuse as one error on the offending sub-expression.

mod common;

use common::{assert_errors, ok};
use keops_formula::ir::{RedOp, Reduction, Role, Shape};
use keops_formula::op::Op;

#[test]
fn gradient_of_a_sum_is_a_sum_over_the_other_index_for_y() {
    let f = ok("grad(sum_j(exp(-sqdist(x_i, y_j)) * b_j), y_j, e_i)");
    assert_eq!(f.reduction, Reduction::SumI);
    assert!(f.stages.is_empty() && !f.total);
    let f = ok("grad(sum_j(exp(-sqdist(x_i, y_j)) * b_j), x_i, e_i)");
    assert_eq!(f.reduction, Reduction::SumJ);
    // A parameter: summed over both indices, one output row.
    let f = ok("grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), s, e_i)");
    assert_eq!(f.reduction, Reduction::SumJ);
    assert!(f.total);
}

#[test]
fn gradients_through_arg_indices_read_a_forward_stage() {
    let f = ok("grad(min_j(sqdist(x_i, y_j)), y_j, e_i)");
    assert_eq!(f.reduction, Reduction::SumI);
    assert_eq!(f.stages.len(), 1);
    let st = &f.stages[0];
    assert!(st.indices);
    assert_eq!(
        st.formula.reduction,
        Reduction::Other(RedOp::ArgMin, Role::J)
    );
    // The hidden variable is indexed by i, a scalar here (F is), and compared with j.
    let hidden = &f.vars[st.var];
    assert_eq!((hidden.role, hidden.shape), (Role::I, Shape::Scalar));
    assert!(f.nodes.iter().any(|n| n.op == Op::Index(Role::J)));
    // kmin: argkmin, and the mask of K entries per entry.
    let f = ok("grad(kmin_j(sqdist(x_i, y_j), 5), x_i, e_i)");
    assert_eq!(
        f.stages[0].formula.reduction,
        Reduction::Other(RedOp::ArgKMin(5), Role::J)
    );
    assert!(f.nodes.iter().any(|n| n.op == Op::KMask(5)));
    // sumsoftmaxweight: its log-sum-exp and its own value.
    let f = ok("grad(sumsoftmaxweight_j(-sqdist(x_i, y_j), v_j), x_i, e_i)");
    let reds: Vec<Reduction> = f.stages.iter().map(|s| s.formula.reduction).collect();
    assert_eq!(
        reds,
        [
            Reduction::Other(RedOp::LogSumExp, Role::J),
            Reduction::Other(RedOp::SumSoftMaxWeight, Role::J)
        ]
    );
    // A plain sum needs no stage and no index.
    let f = ok("grad(sum_i(sqdist(x_i, y_j)), x_i, e_j)");
    assert!(f.stages.is_empty());
    assert!(!f.nodes.iter().any(|n| matches!(n.op, Op::Index(_))));
}

#[test]
fn the_gradient_of_a_gaussian_sum_is_simplified() {
    // d/dx exp(-|x - y|^2) e = -2 (x - y) exp(-|x - y|^2) e: one exp, one difference.
    let f = ok("grad(sum_j(exp(-sqdist(x_i, y_j))), x_i, e_i)");
    let count = |op: Op| f.nodes.iter().filter(|n| n.op == op).count();
    assert_eq!(count(Op::Exp), 1, "{:#?}", f.nodes);
    assert_eq!(count(Op::Sub), 1, "{:#?}", f.nodes);
}

#[test]
fn arg_reductions_have_no_gradient() {
    assert_errors(
        "grad(argmin_j(sqdist(x_i, y_j)), x_i, e_i)",
        &[("`argmin_j` gives indices", "argmin_j(sqdist(x_i, y_j))")],
    );
    assert_errors(
        "grad(argkmin_i(sqdist(x_i, y_j), 3), y_j, e_j)",
        &[(
            "`argkmin_i` gives indices",
            "argkmin_i(sqdist(x_i, y_j), 3)",
        )],
    );
}

#[test]
fn the_variable_and_the_cotangent_are_checked() {
    assert_errors(
        "grad(sum_j(exp(-sqdist(x_i, y_j))), z_i, e_i)",
        &[("`z_i` does not appear in `sum_j(..)`", "z_i")],
    );
    assert_errors(
        "grad(sum_j(exp(-sqdist(x_i, y_j))), x_i, e_j)",
        &[(
            "the third argument of `grad(sum_j(..), v, e)` must name a new variable indexed by i",
            "e_j",
        )],
    );
    assert_errors(
        "grad(sum_j(exp(-sqdist(x_i, y_j))), x_i, x_i)",
        &[("the third argument", "x_i")],
    );
    assert_errors(
        "grad(sum_j(exp(-sqdist(x_i, y_j))), 2 * x_i, e_i)",
        &[("the second argument of `grad` must be the name", "2 * x_i")],
    );
    // Errors of the reduction itself are reported once, as for the reduction alone.
    assert_errors(
        "grad(sum_j(exp(-sqdist(x_i, y_j)) + foo(x_i)), x_i, e_i)",
        &[("unknown function `foo`", "foo")],
    );
}

#[test]
fn grad_inside_a_formula_is_checked() {
    assert_errors(
        "sum_j(grad(exp(-sqdist(x_i, y_j)), x_i))",
        &[(
            "`grad` takes 3 arguments, but 2 were given",
            "grad(exp(-sqdist(x_i, y_j)), x_i)",
        )],
    );
    assert_errors(
        "let d = sqdist(x_i, y_j); sum_j(grad(exp(-d), d, e_i))",
        &[("`d` is a `let` name", "d")],
    );
    // F is a scalar, e an unannotated (vector) variable.
    assert_errors(
        "sum_j(grad(exp(-sqdist(x_i, y_j)), x_i, e_i))",
        &[(
            "the cotangent `e` of `grad(F, v, e)` has F's dimension",
            "e_i",
        )],
    );
    let f = ok("e_i: 1 => sum_j(grad(exp(-sqdist(x_i, y_j)), x_i, e_i))");
    assert_eq!(f.reduction, Reduction::SumJ);
    // The gradient has the variable's shape: a vector of x_i's class.
    assert_eq!(f.nodes[f.root].shape, f.vars[0].shape);
}
