//! `keops_formula::analyze`: every error of a formula at once, each on the offending
//! sub-expression, no follow-on errors; and, for valid formulas, the checked [`Formula`] (roles,
//! dimension classes, run-time slots) and the simplifier (constant folding, identities, shared
//! sub-expressions).
//!
//! Formulas are parsed from strings: with proc-macro2's `span-locations` (a dev-dependency
//! feature) tokens then carry real positions, so each error's span can be checked by the source
//! text it covers.

mod common;

use std::collections::HashSet;

use common::{assert_errors, errors, ok};
use keops_formula::analyze;
use keops_formula::ir::{Formula, Reduction, Role, Shape, DEP_I, DEP_J};
use keops_formula::op::{Const, Op};
use proc_macro2::TokenStream;
use quote::quote;

/// The nodes reachable from the root (what the emitters generate code for).
fn live(f: &Formula) -> Vec<usize> {
    let mut live = vec![false; f.nodes.len()];
    live[f.root] = true;
    for i in (0..f.nodes.len()).rev() {
        if live[i] {
            for &a in &f.nodes[i].args {
                live[a] = true;
            }
        }
    }
    (0..f.nodes.len()).filter(|&i| live[i]).collect()
}

fn count_live(f: &Formula, pred: impl Fn(Op) -> bool) -> usize {
    live(f).into_iter().filter(|&i| pred(f.nodes[i].op)).count()
}

// ---------------------------------------------------------------------------------------------
// All errors at once, no cascade.

#[test]
fn two_unknown_functions_give_exactly_two_errors() {
    let e = analyze(quote!(exp(foo(x_i)) + bar(y_j))).unwrap_err();
    assert_eq!(
        e.messages(),
        ["unknown function `foo`", "unknown function `bar`"],
        "no error for `exp(..)` or `+`, whose arguments failed"
    );
    assert_errors(
        "exp(foo(x_i)) + bar(y_j)",
        &[
            ("unknown function `foo`", "foo"),
            ("unknown function `bar`", "bar"),
        ],
    );
}

#[test]
fn independent_errors_of_every_kind_are_reported_together() {
    assert_errors(
        "x_i: 3, y_j: 2 => exp(-foo(x_i) / s) * sqdist(x_i, y_j) + pow(norm(y_j), 0.5) \
         + sqnorm(x_i % s) + exp(x_i, y_j) + x_i.exp()",
        &[
            ("unknown function `foo`", "foo"),
            (
                "dimension mismatch: `x_i` has dimension 3 but `y_j` has dimension 2",
                "sqdist(x_i, y_j)",
            ),
            ("the exponent of `pow` must be an integer literal", "0.5"),
            ("unsupported operator `%`", "%"),
            ("`exp` takes 1 argument, but 2 were given", "exp(x_i, y_j)"),
            (
                "method calls are not supported in a formula: write `exp(x_i)`",
                "x_i.exp()",
            ),
        ],
    );
}

#[test]
fn a_failed_operand_silences_the_checks_that_need_it() {
    // `foo(x_i) - y_j` would be a dimension check against y_j: skipped, since foo failed. The
    // same check on valid operands, next to it, is still made.
    assert_errors(
        "x_i: 3, y_j: 2 => sqnorm(foo(x_i) - y_j) + sqnorm(x_i - y_j)",
        &[
            ("unknown function `foo`", "foo"),
            ("dimension mismatch", "x_i - y_j"),
        ],
    );
    // Errors inside the arguments of a failed call are independent, so they are reported.
    assert_errors(
        "foo(bar(x_i), y_j)",
        &[
            ("unknown function `foo`", "foo"),
            ("unknown function `bar`", "bar"),
        ],
    );
    assert_errors(
        "exp(x_i, baz(y_j))",
        &[
            ("`exp` takes 1 argument", "exp(x_i, baz(y_j))"),
            ("unknown function `baz`", "baz"),
        ],
    );
}

#[test]
fn name_based_checks_do_not_follow_from_other_errors() {
    // x_i and y_j only appear under unsupported syntax: no "annotated but unused", no "needs a
    // variable indexed by j".
    assert_errors(
        "x_i: 3, y_j: 3 => sqdist(x_i.abs(), y_j[0])",
        &[
            ("method calls are not supported", "x_i.abs()"),
            (
                "indexing is not supported in a formula: write `elem(y_j, 0)`",
                "y_j[0]",
            ),
        ],
    );
    // A missing index is independent of the rest: reported next to another error.
    assert_errors(
        "exp(foo(x_i))",
        &[
            ("unknown function `foo`", "foo"),
            (
                "the formula needs at least one variable indexed by j",
                "exp(foo(x_i))",
            ),
        ],
    );
}

#[test]
fn errors_expand_to_one_block_expression() {
    // `kernel!` is an expression: several `compile_error!`s must form one, or rustc reports
    // parse errors of its own after ours.
    let e = analyze(quote!(exp(foo(x_i)) + bar(y_j))).unwrap_err();
    let expr: syn::Expr = syn::parse2(e.to_compile_errors()).expect("an expression");
    let syn::Expr::Block(b) = expr else {
        panic!("not a block: {expr:?}")
    };
    assert_eq!(b.block.stmts.len(), 2);
    for s in &b.block.stmts {
        let syn::Stmt::Macro(m) = s else {
            panic!("not a macro call: {s:?}")
        };
        assert!(m.mac.path.is_ident("compile_error") || m.mac.path.segments.len() == 2);
        assert_eq!(m.mac.path.segments.last().unwrap().ident, "compile_error");
    }
}

// ---------------------------------------------------------------------------------------------
// One kind of error at a time: message and span.

#[test]
fn unknown_function() {
    assert_errors(
        "exp(-sqnrom(x_i - y_j))",
        &[(
            "unknown function `sqnrom`; did you mean `sqnorm`?",
            "sqnrom",
        )],
    );
    assert_errors(
        "Exp(-sqnorm(x_i - y_j))",
        &[("unknown function `Exp`; did you mean `exp`?", "Exp")],
    );
    assert_errors(
        "summ_j(x_i * y_j)",
        &[("unknown function `summ_j`; did you mean `sum_j`?", "summ_j")],
    );
    // Short unrelated names get no far-fetched suggestion.
    let e = errors("foo(sqdist(x_i, y_j))");
    assert_eq!(e[0].0, "unknown function `foo`");
    assert_errors(
        "f64::exp(-sqdist(x_i, y_j))",
        &[(
            "a formula calls functions by their plain name: write `exp(..)`",
            "f64::exp",
        )],
    );
}

#[test]
fn wrong_arity() {
    assert_errors(
        "exp(-sqdist(x_i - y_j))",
        &[(
            "`sqdist` takes 2 arguments, but 1 was given",
            "sqdist(x_i - y_j)",
        )],
    );
    assert_errors(
        "clamp(sqdist(x_i, y_j), 0, 1, 2)",
        &[(
            "`clamp` takes 3 arguments, but 4 were given",
            "clamp(sqdist(x_i, y_j), 0, 1, 2)",
        )],
    );
    assert_errors(
        "sum_j(x_i * y_j, 2)",
        &[(
            "`sum_j` takes 1 argument (the formula to sum), but 2 were given",
            "sum_j(x_i * y_j, 2)",
        )],
    );
}

#[test]
fn fixed_dimension_mismatch() {
    assert_errors(
        "x_i: 3, y_j: 2 => exp(-sqnorm(x_i - y_j))",
        &[(
            "dimension mismatch: `x_i` has dimension 3 but `y_j` has dimension 2",
            "x_i - y_j",
        )],
    );
    // The message says where an operand's dimension comes from.
    assert_errors(
        "x_i: 3, y_j: 2 => sqnorm(x_i - z_i) + sqnorm(z_i - y_j)",
        &[(
            "dimension mismatch: `z_i` has dimension 3 (from the annotation `x_i: 3`) but `y_j` has \
             dimension 2",
            "z_i - y_j",
        )],
    );
    assert_errors(
        "x_i: 3, y_j: 2 => sqnorm((x_i + z_i) - y_j)",
        &[(
            "dimension mismatch: the left operand has dimension 3 (from the annotation `x_i: 3`) \
             but `y_j` has dimension 2",
            "(x_i + z_i) - y_j",
        )],
    );
    assert_errors(
        "x_i: 3, y_j: 2 => sqdist(x_i, y_j)",
        &[("dimension mismatch", "sqdist(x_i, y_j)")],
    );
    assert_errors(
        "x_i: 3, y_j: 3 => sqnorm(concat(x_i, y_j) - x_i)",
        &[(
            "dimension mismatch: this concatenation has dimension 6 but must have dimension 3",
            "concat(x_i, y_j)",
        )],
    );
    assert_errors(
        "x_i: 3, y_j: 3 => elem(x_i - y_j, 3)",
        &[(
            "elem(.., 3) is out of range for a vector of dimension 3",
            "elem(x_i - y_j, 3)",
        )],
    );
    assert_errors(
        "dot(x_i, sqnorm(y_j))",
        &[(
            "`dot` needs two vectors of the same dimension (or two scalars), but `x_i` is a \
             vector and argument 2 of `dot` is a scalar",
            "dot(x_i, sqnorm(y_j))",
        )],
    );
}

#[test]
fn dot_of_a_vector_parameter_and_a_scalar_is_an_error() {
    // An unannotated `c` is a scalar: fine...
    let f = ok(quote!(dot(c, 2) * sqdist(x_i, y_j * c)));
    assert_eq!(f.params[0].shape, Shape::Scalar);
    // ...but annotated as a vector, `dot(c, 2)` pairs a vector with a scalar.
    assert_errors(
        "c: 3 => dot(c, 2) * sqdist(x_i, y_j * c)",
        &[("`dot` needs two vectors of the same dimension", "dot(c, 2)")],
    );
}

#[test]
fn nested_reduction() {
    assert_errors(
        "exp(-sum_j(sqdist(x_i, y_j)))",
        &[(
            "a reduction cannot be nested inside a formula: `sum_j(..)` must be the whole formula",
            "sum_j(sqdist(x_i, y_j))",
        )],
    );
    assert_errors(
        "sum_j(exp(sum_j(y_j)) * x_i)",
        &[("a reduction cannot be nested", "sum_j(y_j)")],
    );
}

#[test]
fn variable_outside_the_reduction_over_its_index() {
    assert_errors(
        "sum_j(x_i * y_j) + y_j",
        &[
            ("a reduction cannot be nested", "sum_j(x_i * y_j)"),
            (
                "`y_j` is indexed by j, but it is outside `sum_j(..)`: the result of a sum over j \
                 no longer depends on j",
                "y_j",
            ),
        ],
    );
    // An i variable next to `sum_j(..)` is fine (only the nesting is an error).
    assert_errors(
        "sum_j(x_i * y_j) + x_i",
        &[("a reduction cannot be nested", "sum_j(x_i * y_j)")],
    );
}

#[test]
fn unsupported_syntax() {
    assert_errors(
        "sqnorm(x_i % y_j)",
        &[(
            "unsupported operator `%`: a formula uses `+ - * /`, comparisons `== != < <= > >=` \
             and functions; for a remainder use `modulo(f, m)`",
            "%",
        )],
    );
    assert_errors(
        "sqdist(x_i, y_j) ^ 2",
        &[("unsupported operator `^`: a formula uses `+ - * /`, comparisons `== != < <= > >=` and functions; for a power use `pow(f, n)`", "^")],
    );
    assert_errors(
        "(sqdist(x_i, y_j) < 1) && (x_i > 0)",
        &[("unsupported operator `&&`", "&&")],
    );
    assert_errors("!sqdist(x_i, y_j)", &[("unsupported operator `!`", "!")]);
    assert_errors(
        "sqdist(x_i, y_j).exp()",
        &[(
            "method calls are not supported in a formula: write `exp(f)` instead of `f.exp()`",
            "sqdist(x_i, y_j).exp()",
        )],
    );
    assert_errors(
        "if sqdist(x_i, y_j) { 1.0 } else { 0.0 }",
        &[(
            "`if` is not supported in a formula: use `ifelse(c, a, b)`",
            "if sqdist(x_i, y_j) { 1.0 } else { 0.0 }",
        )],
    );
    assert_errors(
        "std::f64::consts::PI * sqdist(x_i, y_j)",
        &[(
            "a parameter must be a plain local name: bind the value first, e.g. `let pi = ..;`",
            "std::f64::consts::PI",
        )],
    );
    assert_errors(
        "\"a\" * sqdist(x_i, y_j)",
        &[("only number literals can appear in a formula", "\"a\"")],
    );
    assert_errors(
        "(sqdist(x_i, y_j) as f32)",
        &[("unsupported syntax in a formula", "sqdist(x_i, y_j) as f32")],
    );
}

#[test]
fn pow_and_elem_need_integer_literals() {
    assert_errors(
        "pow(sqdist(x_i, y_j), 1.5)",
        &[(
            "the exponent of `pow` must be an integer literal; use `powf(f, g)` for a real exponent",
            "1.5",
        )],
    );
    assert_errors(
        "pow(sqdist(x_i, y_j), s)",
        &[("the exponent of `pow` must be an integer literal", "s")],
    );
    assert_errors(
        "pow(sqdist(x_i, y_j), 10000000000)",
        &[("the exponent of `pow` is out of range", "10000000000")],
    );
    assert_errors(
        "elem(x_i - y_j, -1)",
        &[(
            "the index of `elem` must be a non-negative integer literal",
            "-1",
        )],
    );
    // Negative integer exponents are fine.
    let f = ok(quote!(pow(sqdist(x_i, y_j), -2)));
    assert_eq!(f.nodes[f.root].op, Op::Pow(-2));
}

#[test]
fn annotations() {
    assert_errors(
        "x_i: 3, z_j: 3 => exp(-sqdist(x_i, y_j))",
        &[(
            "`z_j` is annotated but does not appear in the formula",
            "z_j",
        )],
    );
    // A bad annotation is one error, not also "unused".
    assert_errors(
        "x_i: 0 => sqdist(x_i, y_j)",
        &[("the dimension of `x_i` must be a positive integer", "0")],
    );
    assert_errors(
        "x_i: 5000 => sqdist(x_i, y_j)",
        &[(
            "the dimension of `x_i` is 5000, but keops supports dimensions up to 1024",
            "5000",
        )],
    );
    assert_errors(
        "x_i: 3, x_i: 3 => sqdist(x_i, y_j)",
        &[("`x_i` is annotated twice", "x_i")],
    );
    // A function's name is not a use.
    assert_errors(
        "exp: 3 => exp(-sqdist(x_i, y_j))",
        &[(
            "`exp` is annotated but does not appear in the formula",
            "exp",
        )],
    );
}

#[test]
fn kernel_matrix_must_be_scalar() {
    assert_errors(
        "x_i - y_j",
        &[(
            "a formula without a reduction is a kernel matrix K_ij and must be scalar, but this \
             one is a vector",
            "x_i - y_j",
        )],
    );
    // Scalar variables make it scalar; so does a reduction over j.
    ok(quote!(x_i: 1, y_j: 1 => x_i - y_j));
    ok(quote!(sum_j(x_i - y_j)));
}

#[test]
fn missing_index() {
    assert_errors(
        "exp(-sqnorm(x_i))",
        &[(
            "the formula needs at least one variable indexed by j (a name ending in `_j`) to \
             know the kernel matrix's columns",
            "exp(-sqnorm(x_i))",
        )],
    );
    assert_errors(
        "exp(-s)",
        &[
            (
                "the formula needs at least one variable indexed by i",
                "exp(-s)",
            ),
            (
                "the formula needs at least one variable indexed by j",
                "exp(-s)",
            ),
        ],
    );
    assert_errors(
        "sum_j(x_i * 2)",
        &[(
            "the formula needs at least one variable indexed by j (a name ending in `_j`) to \
             know the number of terms to sum",
            "x_i * 2",
        )],
    );
    assert_errors(
        "sum_i(x_i * 2)",
        &[(
            "the formula needs at least one variable indexed by j (a name ending in `_j`) to \
             know the number of output rows",
            "x_i * 2",
        )],
    );
}

#[test]
fn parse_errors() {
    assert_errors(
        "sqdist(x_i, y_j) + x_i: 3",
        &[(
            "dimension annotations come before the formula: `kernel!(x_i: 3 => formula)`",
            ":",
        )],
    );
    assert_errors(
        "x_i: three => sqdist(x_i, y_j)",
        &[(
            "expected the dimension of `x_i`: a positive integer literal",
            "three",
        )],
    );
    assert_errors(
        "x_i: 3 sqdist(x_i, y_j)",
        &[(
            "expected `,` or `=>` after a dimension annotation",
            "sqdist",
        )],
    );
    assert_errors(
        "x_i => sqdist(x_i, y_j)",
        &[("expected `name: dimension` annotations before `=>`", "=")],
    );
    assert_errors(
        "sqdist(x_i, y_j); 1",
        &[("unexpected tokens after the formula", ";")],
    );
    let e = analyze(quote!()).unwrap_err();
    assert_eq!(e.messages().len(), 1);
    assert!(e.messages()[0].contains("expected a formula"), "{e:?}");
    // A trailing comma before `=>` is accepted.
    ok(quote!(x_i: 3, y_j: 3, => sqdist(x_i, y_j)));
}

// ---------------------------------------------------------------------------------------------
// Valid formulas: the checked formula.

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

// ---------------------------------------------------------------------------------------------
// The operations added for KeOps parity, comparisons and `let`.

#[test]
fn new_operations_arity_and_integer_arguments() {
    assert_errors(
        "modulo(sqdist(x_i, y_j))",
        &[(
            "`modulo` takes 2 or 3 arguments, but 1 was given",
            "modulo(sqdist(x_i, y_j))",
        )],
    );
    assert_errors(
        "modulo(x_i, y_j, 1, 2)",
        &[(
            "`modulo` takes 2 or 3 arguments, but 4 were given",
            "modulo(x_i, y_j, 1, 2)",
        )],
    );
    // `mod` is a Rust keyword: `mod(..)` does not parse, and the error says what to write.
    assert_errors(
        "exp(-mod(sqdist(x_i, y_j), 2))",
        &[(
            "`mod` is a Rust keyword: KeOps' Mod is written `modulo(f, m)`",
            "mod",
        )],
    );
    assert_errors(
        "let m = mod(sqdist(x_i, y_j), 2); m",
        &[("`mod` is a Rust keyword", "mod")],
    );
    assert_errors(
        "atan2(sqdist(x_i, y_j))",
        &[(
            "`atan2` takes 2 arguments, but 1 was given",
            "atan2(sqdist(x_i, y_j))",
        )],
    );
    assert_errors(
        "xlogx(x_i, y_j)",
        &[(
            "`xlogx` takes 1 argument, but 2 were given",
            "xlogx(x_i, y_j)",
        )],
    );
    assert_errors(
        "clampint(sqdist(x_i, y_j), 0)",
        &[(
            "`clampint` takes 3 arguments, but 2 were given",
            "clampint(sqdist(x_i, y_j), 0)",
        )],
    );
    // Non-literal bounds: one error per bound, with the way out.
    assert_errors(
        "clampint(sqdist(x_i, y_j), s, 0.5)",
        &[
            (
                "a bound of `clampint` must be an integer literal; use `clamp(f, a, b)` for other bounds",
                "s",
            ),
            ("a bound of `clampint` must be an integer literal", "0.5"),
        ],
    );
    assert_errors(
        "clampint(sqdist(x_i, y_j), -1, 10000000000)",
        &[("a bound of `clampint` is out of range", "10000000000")],
    );
    assert_errors(
        "round(sqdist(x_i, y_j), d)",
        &[(
            "the number of decimals of `round` must be an integer literal",
            "d",
        )],
    );
    assert_errors(
        "round(sqdist(x_i, y_j), 31)",
        &[(
            "the number of decimals of `round` is out of range (-30 to 30)",
            "31",
        )],
    );
    // An error inside the operand is still found.
    assert_errors(
        "clampint(foo(x_i, y_j), 0, 1)",
        &[("unknown function `foo`", "foo")],
    );
    let f = ok(quote!(
        clampint(sqdist(x_i, y_j), -2, 3) + round(sqdist(x_i, y_j), -1)
    ));
    let ops: Vec<Op> = f.nodes[f.root]
        .args
        .iter()
        .map(|&a| f.nodes[a].op)
        .collect();
    assert!(ops.contains(&Op::ClampInt(-2, 3)), "{ops:?}");
    assert!(ops.contains(&Op::Round(-1)), "{ops:?}");
    // `modulo(f, m)` is `modulo(f, m, 0)`.
    let f = ok(quote!(modulo(sqdist(x_i, y_j), 2)));
    let n = &f.nodes[f.root];
    assert_eq!(n.op, Op::Mod);
    assert_eq!(f.nodes[n.args[2]].op, Op::Const(Const(0.0)));
}

#[test]
fn comparisons_are_operators_and_functions() {
    // `a > b` is `b < a`, `a >= b` is `b <= a`: with the functions, one node each.
    let f = ok(
        quote!(x_i: 1, y_j: 1 => (x_i > y_j) + lessthan(y_j, x_i) * 2 + (y_j <= x_i) + (x_i >= y_j)),
    );
    assert_eq!(count_live(&f, |op| op == Op::LessThan), 1);
    assert_eq!(count_live(&f, |op| op == Op::LessOrEqual), 1);
    assert_eq!(count_live(&f, |op| op == Op::GreaterThan), 0);
    let f = ok(quote!(x_i: 1, y_j: 1 => (x_i == y_j) * equal(y_j, x_i) + (x_i != y_j)));
    assert_eq!(count_live(&f, |op| op == Op::Equal), 1, "== is commutative");
    assert_eq!(count_live(&f, |op| op == Op::NotEqual), 1);
    // Entrywise with KeOps broadcasting: dimension clashes are reported like `+`'s.
    assert_errors(
        "x_i: 2, y_j: 3 => sum_j((x_i < y_j) * 2)",
        &[(
            "dimension mismatch: `x_i` has dimension 2 but `y_j` has dimension 3",
            "x_i < y_j",
        )],
    );
    let f = ok(quote!(x_i: 3 => sum_j((x_i < 0.5) * y_j)));
    assert!(matches!(f.nodes[f.root].shape, Shape::Vector(_)));
}

#[test]
fn let_names_sub_expressions() {
    // One node per let, whatever the number of uses; later lets use earlier ones.
    let f = ok(quote!(let d = sqdist(x_i, y_j); exp(-d) * (1 + d)));
    assert_eq!(count_live(&f, |op| op == Op::SqDist), 1);
    let g = ok(quote!(exp(-sqdist(x_i, y_j)) * (1 + sqdist(x_i, y_j))));
    assert_eq!(f.canonical(), g.canonical(), "a let is only a name");
    let f = ok(quote!(
        x_i: 3 =>
        let d = sqdist(x_i, y_j);
        let k = exp(-d / (2 * s));
        sum_j(k * b_j + d * k)
    ));
    assert_eq!(count_live(&f, |op| op == Op::Exp), 1);
    assert_eq!(f.reduction, Reduction::SumJ);
    // The variables a let mentions count for the checks that need an i and a j variable.
    ok(quote!(let d = sqdist(x_i, y_j); sum_j(exp(-d))));
}

#[test]
fn let_errors() {
    assert_errors(
        "let a = b + 1; let b = sqdist(x_i, y_j); exp(-a)",
        &[(
            "`b` is used before its `let`: a `let` can only use earlier ones",
            "b",
        )],
    );
    assert_errors(
        "let d = d * sqdist(x_i, y_j); exp(-d)",
        &[("`d` is used before its `let`", "d")],
    );
    assert_errors(
        "let d = sqdist(x_i, y_j); let d = 2 * d; exp(-d)",
        &[(
            "`d` is already defined by an earlier `let`: choose another name",
            "d",
        )],
    );
    assert_errors(
        "let d = sqdist(x_i, y_j); let e = 2; exp(-sqdist(x_i, y_j) * d)",
        &[("`e` is defined but never used", "e")],
    );
    assert_errors(
        "let d_j = 2 * y_j; exp(-sqdist(x_i, d_j))",
        &[(
            "`d_j` ends in `_j`, which names a variable indexed by j: choose another name for this `let`",
            "d_j",
        )],
    );
    assert_errors(
        "d: 3 => let d = x_i - y_j; exp(-sqnorm(d))",
        &[(
            "`d` is a `let` name, not a variable or parameter: annotate what it is computed from",
            "d",
        )],
    );
    // Errors inside a let are reported once, and its uses stay silent.
    assert_errors(
        "let d = foo(x_i, y_j); exp(-d) * d",
        &[("unknown function `foo`", "foo")],
    );
    // Syntax.
    assert_errors(
        "let d: f64 = sqdist(x_i, y_j); exp(-d)",
        &[("a `let` in a formula has no type", ":")],
    );
    assert_errors(
        "let d = sqdist(x_i, y_j) exp(-d)",
        &[("expected `;` after the expression of `let d`", "exp")],
    );
    assert_errors(
        "let d = sqdist(x_i, y_j);",
        &[(
            "unexpected end of input, expected the formula after the `let`s",
            "",
        )],
    );
    assert_errors(
        "let (a, b) = (x_i, y_j); a * b",
        &[("expected a name after `let`", "(")],
    );
    // A let inside the formula is not a statement of this language.
    assert_errors(
        "exp(-sqdist(x_i, y_j)); let d = 1;",
        &[("unexpected tokens after the formula: `;`", ";")],
    );
}

// ---------------------------------------------------------------------------------------------
// Reductions besides the sum.

#[test]
fn reductions_parse_with_their_kind_and_index() {
    use keops_formula::ir::RedOp;
    let cases: &[(TokenStream, Reduction)] = &[
        (
            quote!(min_j(sqdist(x_i, y_j))),
            Reduction::Other(RedOp::Min, Role::J),
        ),
        (
            quote!(max_i(sqdist(x_i, y_j))),
            Reduction::Other(RedOp::Max, Role::I),
        ),
        (
            quote!(argmin_j(sqdist(x_i, y_j))),
            Reduction::Other(RedOp::ArgMin, Role::J),
        ),
        (
            quote!(argmax_i(sqdist(x_i, y_j))),
            Reduction::Other(RedOp::ArgMax, Role::I),
        ),
        (
            quote!(min_argmin_j(sqdist(x_i, y_j))),
            Reduction::Other(RedOp::MinArgMin, Role::J),
        ),
        (
            quote!(max_argmax_j(sqdist(x_i, y_j))),
            Reduction::Other(RedOp::MaxArgMax, Role::J),
        ),
        (
            quote!(kmin_j(sqdist(x_i, y_j), 3)),
            Reduction::Other(RedOp::KMin(3), Role::J),
        ),
        (
            quote!(argkmin_i(sqdist(x_i, y_j), 10)),
            Reduction::Other(RedOp::ArgKMin(10), Role::I),
        ),
        (
            quote!(kmin_argkmin_j(sqdist(x_i, y_j), 2)),
            Reduction::Other(RedOp::KMinArgKMin(2), Role::J),
        ),
        (
            quote!(logsumexp_j(-sqdist(x_i, y_j))),
            Reduction::Other(RedOp::LogSumExp, Role::J),
        ),
        (
            quote!(logsumexp_i(-sqdist(x_i, y_j), b_j)),
            Reduction::Other(RedOp::LogSumExpWeight, Role::I),
        ),
        (
            quote!(sumsoftmaxweight_j(-sqdist(x_i, y_j), b_j)),
            Reduction::Other(RedOp::SumSoftMaxWeight, Role::J),
        ),
    ];
    let mut canon = HashSet::new();
    for (tokens, want) in cases {
        let f = ok(tokens.clone());
        assert_eq!(f.reduction, *want, "{tokens}");
        assert_eq!(f.reduction.inner(), want.inner());
        assert_ne!(f.reduction.outer(), f.reduction.inner());
        // The weight is a second root only for the weighted forms.
        let weighted = matches!(
            want.op(),
            Some(RedOp::LogSumExpWeight | RedOp::SumSoftMaxWeight)
        );
        assert_eq!(f.weight.is_some(), weighted, "{tokens}");
        assert!(
            canon.insert(f.canonical()),
            "{tokens}: canonical text not distinct"
        );
    }
    // The canonical text (hence the GPU kernels' names) tells K, the index and the kind apart.
    for tokens in [
        quote!(kmin_j(sqdist(x_i, y_j), 4)),
        quote!(kmin_i(sqdist(x_i, y_j), 3)),
        quote!(sum_j(sqdist(x_i, y_j))),
        quote!(logsumexp_j(-sqdist(x_i, y_j), y_j)),
    ] {
        assert!(canon.insert(ok(tokens.clone()).canonical()), "{tokens}");
    }
    // Over i, the i variables are the reduced ones.
    let f = ok(quote!(argkmin_i(sqdist(x_i, y_j), 10)));
    assert_eq!(f.reduction.outer(), Role::J);
    assert_eq!(f.reduction.name().as_deref(), Some("argkmin_i"));
}

#[test]
fn reduction_arity_and_k() {
    assert_errors(
        "kmin_j(sqdist(x_i, y_j))",
        &[(
            "`kmin_j` takes 2 arguments (the formula and K, a positive integer literal), but 1 was given",
            "kmin_j(sqdist(x_i, y_j))",
        )],
    );
    assert_errors(
        "min_argmin_i(sqdist(x_i, y_j), 3)",
        &[(
            "`min_argmin_i` takes 1 argument (the formula to reduce), but 2 were given",
            "min_argmin_i(sqdist(x_i, y_j), 3)",
        )],
    );
    assert_errors(
        "logsumexp_j(x_i, y_j, x_i)",
        &[(
            "`logsumexp_j` takes 1 or 2 arguments (the formula and, optionally, a weight), but 3 were given",
            "logsumexp_j(x_i, y_j, x_i)",
        )],
    );
    assert_errors(
        "sumsoftmaxweight_i(-sqdist(x_i, y_j))",
        &[(
            "`sumsoftmaxweight_i` takes 2 arguments (the formula F and the values V",
            "sumsoftmaxweight_i(-sqdist(x_i, y_j))",
        )],
    );
    for (src, k) in [
        ("kmin_j(sqdist(x_i, y_j), k)", "k"),
        ("argkmin_i(sqdist(x_i, y_j), 0)", "0"),
        ("kmin_argkmin_j(sqdist(x_i, y_j), 2.5)", "2.5"),
        ("argkmin_j(sqdist(x_i, y_j), -3)", "-3"),
    ] {
        let name = src.split('(').next().unwrap();
        assert_errors(
            src,
            &[(
                &format!(
                    "K, the number of smallest values `{name}` keeps, must be a positive integer literal"
                ),
                k,
            )],
        );
    }
    // The formula's own errors are still reported next to a bad K.
    assert_errors(
        "kmin_j(sqdsit(x_i, y_j), k)",
        &[
            ("K, the number of smallest values `kmin_j` keeps", "k"),
            (
                "unknown function `sqdsit`; did you mean `sqdist`?",
                "sqdsit",
            ),
        ],
    );
    assert_errors(
        "argkmn_j(sqdist(x_i, y_j), 3)",
        &[(
            "unknown function `argkmn_j`; did you mean `argkmin_j`?",
            "argkmn_j",
        )],
    );
}

#[test]
fn log_sum_exp_needs_a_scalar_formula() {
    assert_errors(
        "logsumexp_j(x_i - y_j)",
        &[(
            "`logsumexp_j` needs a scalar formula F (KeOps' LogSumExp reduces one value per pair), \
             but this one is a vector: annotate scalar variables `x_i: 1`",
            "x_i - y_j",
        )],
    );
    assert_errors(
        "x_i: 3 => sumsoftmaxweight_i(x_i * y_j, y_j)",
        &[(
            "`sumsoftmaxweight_i` needs a scalar formula F (KeOps' SumSoftMaxWeight",
            "x_i * y_j",
        )],
    );
    // Scalar by annotation or by reduction; the weight and the values may be vectors.
    ok(quote!(x_i: 1, y_j: 1 => logsumexp_j(x_i * y_j)));
    let f = ok(quote!(logsumexp_i(-sqdist(x_i, y_j), y_j)));
    assert!(matches!(f.nodes[f.weight.unwrap()].shape, Shape::Vector(_)));
    ok(quote!(sumsoftmaxweight_j(dot(x_i, y_j), concat(y_j, x_i))));
}

#[test]
fn reductions_cannot_nest() {
    assert_errors(
        "exp(-min_j(sqdist(x_i, y_j)))",
        &[(
            "a reduction cannot be nested inside a formula: `min_j(..)` must be the whole formula",
            "min_j(sqdist(x_i, y_j))",
        )],
    );
    assert_errors(
        "sum_j(argmin_i(sqdist(x_i, y_j)) * y_j)",
        &[("a reduction cannot be nested", "argmin_i(sqdist(x_i, y_j))")],
    );
    assert_errors(
        "logsumexp_j(-sqdist(x_i, y_j), kmin_j(y_j, 2))",
        &[("a reduction cannot be nested", "kmin_j(y_j, 2)")],
    );
    assert_errors(
        "min_j(x_i * 2)",
        &[(
            "the formula needs at least one variable indexed by j (a name ending in `_j`) to know \
             the rows to reduce over",
            "x_i * 2",
        )],
    );
}

// ---------------------------------------------------------------------------------------------
// The vector operations: min(f), max(f), argmin(f), argmax(f), onehot, extract, extract_t,
// elem_t, zero.

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
