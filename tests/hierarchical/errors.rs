//! Builds that are refused, each with its typed `HierarchicalError`.

use super::*;

/// The hierarchical error inside a `KeopsError`.
fn hier(e: KeopsError) -> HierarchicalError {
    match e {
        KeopsError::Hierarchical(h) => h,
        e => panic!("expected a hierarchical error, got {e:?}"),
    }
}

fn points(n: usize, d: usize) -> Vec<f64> {
    uniform(&mut Rng::named("error points", (n * d) as u64), n, d)
}

/// A kernel of a third variable (`b_j`) besides its points: nothing to cluster it by.
#[test]
fn kernel_of_another_variable_has_no_points() {
    let x = points(3_000, 2);
    let b = points(3_000, 1);
    let k = kernel!(b_j: 1 => exp(-sqdist(x_i, y_j)) * b_j)
        .x_i(view(&x, 2))
        .y_j(view(&x, 2))
        .b_j(&b[..])
        .matrix()
        .unwrap();
    let e = hier(err(k.hierarchical(&Hierarchical::new())));
    assert_eq!(e, HierarchicalError::NoPoints);
    assert!(e.to_string().contains("one i variable and one j variable"));
}

/// A block-sparse kernel matrix (ranges) is not the kernel of its points.
#[test]
fn block_sparse_matrix_has_no_points() {
    let n = 2_345;
    let x = points(n, 2);
    let k = Gaussian(0.1)
        .matrix(&x, &x, 2)
        .ranges(&Ranges::dense(n, n))
        .unwrap();
    let e = hier(err(k.hierarchical(&Hierarchical::new().tolerance(1e-4))));
    assert_eq!(e, HierarchicalError::NoPoints);
}

/// A budget of 1000 bytes cannot hold the points sorted by box.
#[test]
fn memory_over_the_budget() {
    let x = points(3_001, 2);
    for budget in [1_000, 100_000] {
        let k = Laplacian(0.1).matrix(&x, &x, 2);
        let e = hier(err(k.hierarchical(
            &Hierarchical::new().tolerance(1e-5).memory_budget(budget),
        )));
        match e {
            HierarchicalError::Memory { needed, budget: b } => {
                assert_eq!(b, budget);
                assert!(
                    needed > budget,
                    "needed {needed} within the budget {budget}"
                );
            }
            e => panic!("expected Memory, got {e:?}"),
        }
        assert!(e.to_string().contains("memory_budget"));
    }
    // The memory a build reports is within its budget.
    let h = Laplacian(0.1)
        .matrix(&x, &x, 2)
        .hierarchical(&Hierarchical::new().tolerance(1e-5))
        .unwrap();
    let used = h.info().memory_bytes;
    assert!(used > 0 && used < 4 << 30, "{used} bytes");
    let stored = h.info().stored_levels;
    assert!(stored > 0, "{}", h.info());
    let h = Laplacian(0.1)
        .matrix(&x, &x, 2)
        .hierarchical(&Hierarchical::new().tolerance(1e-5).memory_budget(used))
        .unwrap();
    // Within a budget of what the default build used, a build fits: stored far-field operators
    // are optional and take a quarter of the budget at most, which here (40 offsets x 49^2
    // entries x 8 bytes per level) holds fewer of them; the others are evaluated.
    assert!(h.info().memory_bytes <= used, "{}", h.info());
    assert!(h.info().stored_levels < stored, "{}", h.info());
}

/// Each invalid parameter is a `Parameter` error with the value given, before anything is built.
#[test]
fn invalid_parameters() {
    let x = points(2_000, 1);
    let check = |p: Hierarchical, value: f64| {
        let e = hier(err(Gaussian(0.1).matrix(&x, &x, 1).hierarchical(&p)));
        match e {
            HierarchicalError::Parameter { what, value: v } => {
                assert!(
                    v == value || (v.is_nan() && value.is_nan()),
                    "{what}: {v} reported for {value}"
                );
                assert!(e.to_string().starts_with("invalid "), "{e}");
            }
            e => panic!("expected Parameter for {p:?}, got {e:?}"),
        }
    };
    for t in [0.0, 1.0, f64::NAN, -1.0, 2.0, f64::INFINITY, -0.0] {
        check(Hierarchical::new().tolerance(t), t);
    }
    check(Hierarchical::new().leaf_size(0), 0.0);
    check(Hierarchical::new().check_rows(0), 0.0);
    check(Hierarchical::new().max_order(1), 1.0);
    check(Hierarchical::new().max_order(0), 0.0);
    check(Hierarchical::new().max_order(33), 33.0);
    // Parameters are checked before the kernel: a bad tolerance on a kernel without points.
    let k = Gaussian(0.1)
        .matrix(&x, &x, 1)
        .ranges(&Ranges::dense(2_000, 2_000))
        .unwrap();
    let e = hier(err(k.hierarchical(&Hierarchical::new().tolerance(0.0))));
    assert!(matches!(e, HierarchicalError::Parameter { .. }), "{e:?}");
    // The extremes of the ranges are accepted.
    for p in [
        Hierarchical::new().leaf_size(1).tolerance(1e-3),
        Hierarchical::new().max_order(2).tolerance(0.5),
        Hierarchical::new().max_order(32).check_rows(1),
    ] {
        Gaussian(0.1).matrix(&x, &x, 1).hierarchical(&p).unwrap();
    }
}
