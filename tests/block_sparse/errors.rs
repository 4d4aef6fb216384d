//! Every invalid-ranges case is its typed error, when built or when bound: never an
//! out-of-bounds access.

use keops::{KeopsRanges, RangesError};

use super::*;

/// KeOps' arrays of one cluster of i rows `0..4` visiting j `0..3`, and the transpose.
fn valid() -> KeopsRanges {
    KeopsRanges {
        ranges_i: vec![[0, 4]],
        slices_i: vec![1],
        redranges_j: vec![[0, 3]],
        ranges_j: vec![[0, 3]],
        slices_j: vec![1],
        redranges_i: vec![[0, 4]],
    }
}

fn error(k: KeopsRanges) -> RangesError {
    Ranges::try_from(k).expect_err("invalid ranges")
}

#[test]
fn built_ranges_are_checked() {
    assert!(Ranges::try_from(valid()).is_ok());
    let e = error(KeopsRanges {
        ranges_i: vec![[4, 0]],
        ..valid()
    });
    assert!(
        matches!(
            e,
            RangesError::Reversed {
                array: "ranges_i",
                index: 0,
                ..
            }
        ),
        "{e}"
    );
    let e = error(KeopsRanges {
        redranges_j: vec![[3, 0]],
        ..valid()
    });
    assert!(
        matches!(
            e,
            RangesError::Reversed {
                array: "redranges_j",
                ..
            }
        ),
        "{e}"
    );
    let e = error(KeopsRanges {
        ranges_i: vec![[0, 3], [2, 4]],
        slices_i: vec![1, 1],
        ..valid()
    });
    assert!(
        matches!(
            e,
            RangesError::UnsortedClusters {
                array: "ranges_i",
                index: 1
            }
        ),
        "{e}"
    );
    let e = error(KeopsRanges {
        redranges_j: vec![[2, 3], [0, 1]],
        slices_i: vec![2],
        ..valid()
    });
    assert!(
        matches!(
            e,
            RangesError::UnsortedRanges {
                array: "redranges_j",
                cluster: 0
            }
        ),
        "{e}"
    );
    let e = error(KeopsRanges {
        redranges_j: vec![[0, 2], [1, 3]],
        slices_i: vec![2],
        ..valid()
    });
    assert!(
        matches!(e, RangesError::UnsortedRanges { .. }),
        "overlap: {e}"
    );
    for slices in [vec![], vec![1, 1], vec![0], vec![2]] {
        let e = error(KeopsRanges {
            slices_i: slices.clone(),
            ..valid()
        });
        assert!(
            matches!(
                e,
                RangesError::Slices {
                    array: "slices_i",
                    ..
                }
            ),
            "{slices:?}: {e}"
        );
    }
    let e = error(KeopsRanges {
        ranges_i: vec![[0, 2], [2, 4]],
        slices_i: vec![1, 0],
        ..valid()
    });
    assert!(matches!(e, RangesError::Slices { .. }), "decreasing: {e}");
    // The transpose keeps another pair: rows 0..4 visit j 0..3, but j 0..3 visit i 0..2 only.
    let e = error(KeopsRanges {
        redranges_i: vec![[0, 2]],
        ..valid()
    });
    assert_eq!(e, RangesError::Inconsistent);
    // Masks and pairs.
    let c = [0..2, 2..4];
    let e = Ranges::from_mask(&c, &c, &[true; 3]).unwrap_err();
    assert!(
        matches!(
            e,
            RangesError::MaskLength {
                clusters_i: 2,
                clusters_j: 2,
                found: 3
            }
        ),
        "{e}"
    );
    let e = Ranges::from_pairs(&c, &c, vec![(0, 2)]).unwrap_err();
    assert!(
        matches!(e, RangesError::PairOutOfRange { ci: 0, cj: 2, .. }),
        "{e}"
    );
    let e = Ranges::from_mask(&[0..2, 1..4], &c, &[true; 4]).unwrap_err();
    assert!(matches!(e, RangesError::UnsortedClusters { .. }), "{e}");
}

#[test]
fn bound_ranges_are_checked() {
    let x = vec![0.5f64; 4];
    let y = vec![0.25f64; 3];
    let r = Ranges::try_from(valid()).unwrap();
    let sum = kernel!(x_i: 1, y_j: 1 => sum_j(exp(-sqdist(x_i, y_j))));
    assert!(sum.x_i(&x).y_j(&y).ranges(&r).eval().is_ok());
    // Rows 0..4 of i, but 3 points.
    let e = sum.x_i(&y).y_j(&y).ranges(&r).eval().unwrap_err();
    let want = RangesError::OutOfBounds {
        array: "ranges_i",
        index: 0,
        end: 4,
        rows: 3,
        letter: 'i',
    };
    assert_eq!(e, KeopsError::Ranges(want.clone()));
    assert!(
        e.to_string().contains("beyond the 3 points indexed by i"),
        "{e}"
    );
    // j ranges 0..3, but 2 points.
    let e = sum.x_i(&x).y_j(&y[..2]).ranges(&r).eval().unwrap_err();
    assert!(
        matches!(
            e,
            KeopsError::Ranges(RangesError::OutOfBounds {
                array: "redranges_j",
                letter: 'j',
                ..
            })
        ),
        "{e}"
    );
    // A kernel matrix, and a reduction over i (the transposed arrays).
    let k = kernel!(x_i: 1, y_j: 1 => exp(-sqdist(x_i, y_j)));
    let e = k.x_i(&y).y_j(&y).matrix().unwrap().ranges(&r).unwrap_err();
    assert_eq!(e, KeopsError::Ranges(want));
    let over_i = kernel!(x_i: 1, y_j: 1 => sum_i(exp(-sqdist(x_i, y_j))));
    let e = over_i.x_i(&y).y_j(&y).ranges(&r).eval().unwrap_err();
    assert!(
        matches!(e, KeopsError::Ranges(RangesError::OutOfBounds { .. })),
        "{e}"
    );
}
