//! All errors at once, no cascade.

use super::*;

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
