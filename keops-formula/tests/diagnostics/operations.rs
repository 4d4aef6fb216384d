//! The operations added for KeOps parity, comparisons and `let`.

use super::*;

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
