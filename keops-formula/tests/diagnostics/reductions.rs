//! Reductions besides the sum: kinds, indices, arity, K, nesting.

use super::*;

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
