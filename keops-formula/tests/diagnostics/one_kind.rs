//! One kind of error at a time: message and span.

use super::*;

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
