//! Valid formulas: the checked formula (roles, dimension classes, slots) and the simplifier.

use super::*;

#[test]
fn gaussian_kernel() {
    let f = ok(quote!(exp(-sqnorm(x_i - y_j) / (2 * s * s))));
    assert_eq!(f.reduction, Reduction::Kernel);
    let vars: Vec<(&str, Role)> = f.vars.iter().map(|v| (v.name.as_str(), v.role)).collect();
    assert_eq!(vars, [("x_i", Role::I), ("y_j", Role::J)]);
    // x_i and y_j share one dimension, known at run time only: one class, one slot.
    assert_eq!(f.classes.len(), 1);
    assert_eq!(f.classes[0].fixed, None);
    assert_eq!(f.slots, [0]);
    assert_eq!(f.vars[0].shape, Shape::Vector(0));
    assert_eq!(f.vars[1].shape, Shape::Vector(0));
    // `s` only meets scalars: a scalar parameter.
    assert_eq!(f.params.len(), 1);
    assert_eq!(f.params[0].ident, "s");
    assert_eq!(f.params[0].shape, Shape::Scalar);
    assert_eq!(f.params[0].fixed_dim, None);
    assert_eq!(f.nodes[f.root].shape, Shape::Scalar);
    assert_eq!(f.nodes[f.root].op, Op::Exp);
    // The denominator `2 * s * s` depends on no index (computed once), the root on both.
    let s_products: Vec<usize> = live(&f)
        .into_iter()
        .filter(|&i| {
            let n = &f.nodes[i];
            n.op == Op::Mul && n.args.iter().any(|&a| f.nodes[a].op == Op::Param(0))
        })
        .collect();
    assert_eq!(s_products.len(), 2, "2 * s, then (2 * s) * s");
    for i in s_products {
        assert_eq!(f.nodes[i].deps, 0);
    }
    assert_eq!(f.nodes[f.root].deps, DEP_I | DEP_J);
    let sqnorm = live(&f)
        .into_iter()
        .find(|&i| f.nodes[i].op == Op::SqNorm)
        .expect("sqnorm");
    assert_eq!(f.nodes[sqnorm].deps, DEP_I | DEP_J);
}

#[test]
fn annotated_dimensions_are_fixed_classes() {
    let f = ok(quote!(x_i: 3, y_j: 3, c: 3 => exp(-sqdist(x_i * c, y_j))));
    assert_eq!(f.classes.len(), 1);
    assert_eq!(f.classes[0].fixed, Some(3));
    assert_eq!(f.classes[0].slot, None);
    assert!(f.slots.is_empty(), "no run-time dimension");
    assert_eq!(f.params[0].fixed_dim, Some(3));
    assert_eq!(f.params[0].shape, Shape::Vector(0));
    // `: 1` makes a scalar.
    let f = ok(quote!(x_i: 1, y_j: 2 => sqnorm(x_i * y_j)));
    assert_eq!(f.vars[0].shape, Shape::Scalar);
    assert!(f.slots.is_empty());
}

#[test]
fn sum_j_with_a_vector_output() {
    let f = ok(quote!(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j)));
    assert_eq!(f.reduction, Reduction::SumJ);
    assert_eq!(f.reduction.outer(), Role::I);
    let roles: Vec<(&str, Role)> = f.vars.iter().map(|v| (v.name.as_str(), v.role)).collect();
    assert_eq!(
        roles,
        [("x_i", Role::I), ("y_j", Role::J), ("b_j", Role::J)]
    );
    // Two independent run-time dimensions: that of x_i, y_j and that of b_j, the output's.
    assert_eq!(f.classes.len(), 2);
    assert_eq!(f.slots.len(), 2);
    assert_eq!(f.vars[0].shape, f.vars[1].shape);
    assert_ne!(f.vars[0].shape, f.vars[2].shape);
    assert_eq!(f.nodes[f.root].shape, f.vars[2].shape);
    // An unannotated parameter is a scalar: `s` broadcasts, so the exp is one value per pair
    // (not one per entry of b_j), annotated `s: 1` or not.
    let exp_shape = |f: &Formula| {
        let i = live(f).into_iter().find(|&i| f.nodes[i].op == Op::Exp);
        f.nodes[i.expect("an exp node")].shape
    };
    assert_eq!(f.params[0].shape, Shape::Scalar);
    assert_eq!(exp_shape(&f), Shape::Scalar);
    let f = ok(quote!(s: 1 => sum_j(exp(-sqdist(x_i, y_j) / s) * b_j)));
    assert_eq!(f.params[0].shape, Shape::Scalar);
    assert_eq!(exp_shape(&f), Shape::Scalar);
    assert_eq!(f.nodes[f.root].shape, f.vars[2].shape);
}

#[test]
fn sum_i_reduces_over_i() {
    let f = ok(quote!(sum_i(sqdist(x_i, y_j) * a_i)));
    assert_eq!(f.reduction, Reduction::SumI);
    assert_eq!(f.reduction.outer(), Role::J);
    assert_eq!(f.reduction.inner(), Role::I);
    let i_vars: Vec<&str> = f.vars_of(Role::I).map(|(_, v)| v.name.as_str()).collect();
    assert_eq!(i_vars, ["x_i", "a_i"]);
}

#[test]
fn parameters_are_scalars_unless_annotated() {
    let f = ok(quote!(sqdist(x_i, y_j * c)));
    assert_eq!(f.params[0].shape, Shape::Scalar);
    // Annotated, a vector parameter meeting a vector takes its class.
    let f = ok(quote!(c: 3 => sqdist(x_i, y_j * c)));
    assert_eq!(f.params[0].shape, f.vars[0].shape);
    assert!(matches!(f.params[0].shape, Shape::Vector(_)));
    assert_eq!(f.params[0].fixed_dim, Some(3));
}

#[test]
fn elem_and_concat() {
    let f = ok(quote!(elem(x_i, 2) * sqdist(x_i, y_j)));
    assert_eq!(f.elems.len(), 1, "bound checked at run time");
    assert_eq!(f.elems[0].index, 2);
    let f = ok(quote!(x_i: 2 => sqnorm(concat(x_i, y_j) - z_j)));
    // concat(x_i: 2, y_j: ?) has a dimension of its own, tied to z_j's.
    let concat = f
        .classes
        .iter()
        .find(|c| c.concat.is_some())
        .expect("a concat class");
    assert_eq!(concat.fixed, None);
    let f = ok(quote!(x_i: 2, y_j: 1 => sqnorm(concat(x_i, y_j) - z_j)));
    assert_eq!(f.vars[2].name, "z_j");
    let Shape::Vector(k) = f.vars[2].shape else {
        panic!("z_j is a vector")
    };
    assert_eq!(f.classes[k].fixed, Some(3));
}

// ---------------------------------------------------------------------------------------------
// The simplifier.

#[test]
fn constants_fold() {
    let f = ok(quote!(sqdist(x_i, y_j) * (2 * 3)));
    let consts: Vec<f64> = live(&f)
        .into_iter()
        .filter_map(|i| match f.nodes[i].op {
            Op::Const(Const(v)) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(consts, [6.0], "`2 * 3` is one constant node");
    assert_eq!(count_live(&f, |op| op == Op::Mul), 1);
    // Functions of constants fold too; a non-finite result is left to run time.
    let f = ok(quote!(sqdist(x_i, y_j) * exp(0) * sqrt(4.0)));
    assert_eq!(count_live(&f, |op| matches!(op, Op::Const(_))), 1);
    assert_eq!(
        count_live(&f, |op| op == Op::Const(Const(2.0))),
        1,
        "exp(0) * sqrt(4) = 2"
    );
    let f = ok(quote!(sqdist(x_i, y_j) * log(0)));
    assert_eq!(count_live(&f, |op| op == Op::Log), 1);
}

#[test]
fn identities_simplify() {
    // `x_i * 1` is x_i, `+ 0`, `- 0`, `/ 1` vanish, `--f` is f.
    let f = ok(quote!(sqnorm(x_i * 1 - y_j / 1) + 0 - 0));
    assert_eq!(f.nodes[f.root].op, Op::SqNorm);
    let sub = f.nodes[f.root].args[0];
    assert_eq!(f.nodes[sub].op, Op::Sub);
    let ops: Vec<Op> = f.nodes[sub].args.iter().map(|&a| f.nodes[a].op).collect();
    assert_eq!(ops, [Op::Var(0), Op::Var(1)]);
    let f = ok(quote!(--sqdist(x_i, y_j)));
    assert_eq!(f.nodes[f.root].op, Op::SqDist);
    assert_eq!(count_live(&f, |op| matches!(op, Op::Const(_))), 0);
}

#[test]
fn common_subexpressions_are_shared() {
    let f = ok(quote!(x_i: 1, y_j: 1 => exp(x_i - y_j) + exp(x_i - y_j)));
    assert_eq!(count_live(&f, |op| op == Op::Exp), 1);
    assert_eq!(count_live(&f, |op| op == Op::Sub), 1);
    let add = &f.nodes[f.root];
    assert_eq!(add.op, Op::Add);
    assert_eq!(
        add.args[0], add.args[1],
        "both operands are the one exp node"
    );
    // Also through different spelling: parentheses, spacing.
    let f = ok(quote!(sqdist(x_i, y_j) * exp(-(sqdist(x_i, y_j)))));
    assert_eq!(count_live(&f, |op| op == Op::SqDist), 1);
}

#[test]
fn canonical_text_ignores_spelling() {
    let a = ok(quote!(exp(-sqnorm(x_i - y_j) / (2 * s * s))));
    let b = ok(quote!(exp(-(sqnorm((x_i - y_j))) / ((2 * s) * s))));
    assert_eq!(a.canonical(), b.canonical());
    let c = ok(quote!(exp(-sqnorm(x_i - y_j) / (3 * s * s))));
    assert_ne!(a.canonical(), c.canonical());
}

#[test]
fn every_node_is_topologically_ordered() {
    for f in [
        ok(quote!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))),
        ok(quote!(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j))),
        ok(quote!(x_i: 2 => sqnorm(concat(x_i, y_j) - z_j) * clamp(elem(z_j, 0), 0, 1))),
    ] {
        let mut seen = HashSet::new();
        for (i, n) in f.nodes.iter().enumerate() {
            for a in &n.args {
                assert!(seen.contains(a), "node {i} uses {a} before it is defined");
            }
            seen.insert(i);
        }
    }
}
