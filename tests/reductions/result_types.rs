//! The results' types: values, indices or both, `eval_into` and `bind`.

use super::*;

/// `eval` gives values, indices or both; `eval_into` fills the caller's buffers and checks their
/// lengths; `bind` gives a reusable [`Reduction`].
#[test]
fn result_types_and_eval_into() {
    let x: Vec<f64> = vec![0.0, 1.0, 2.0, 3.0];
    let y: Vec<f64> = vec![2.9, 0.2, 1.1];
    let mins: Rows<f64> = kernel!(min_j(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    let want = [0.04, 0.01, 0.81, 0.01];
    for (g, w) in mins.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{mins:?}");
    }
    let idx: Indices = kernel!(argmin_j(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    assert_eq!(
        idx.as_slice(),
        [1, 2, 0, 0],
        "x = 2 is as far from 2.9 as from 1.1: the first"
    );
    let (v, i): (Rows<f64>, Indices) = kernel!(kmin_argkmin_j(sqdist(x_i, y_j), 2))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    assert_eq!((v.dim(), i.dim()), (2, 2));
    assert_eq!(i.row(3), [0, 2]);
    assert!((v.row(3)[1] - 3.61).abs() < 1e-12, "{v:?}");

    let red = kernel!(max_argmax_j(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .bind()
        .unwrap();
    let (mut vb, mut ib) = (vec![0.0; 4], vec![9usize; 4]);
    red.eval_into((&mut vb[..], &mut ib[..])).unwrap();
    assert_eq!(ib, [0, 0, 1, 1]);
    assert!((vb[3] - 7.84).abs() < 1e-12);
    let err = red.eval_into((&mut vb[..], &mut ib[..3])).unwrap_err();
    assert!(
        matches!(
            err,
            KeopsError::OutputLength {
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let arg = kernel!(argmax_i(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .bind()
        .unwrap();
    let mut ib = vec![0usize; 3];
    arg.eval_into(&mut ib).unwrap();
    assert_eq!(ib, [0, 3, 3]);
    let lse = kernel!(logsumexp_j(-sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .bind()
        .unwrap();
    let mut out = vec![0.0; 4];
    lse.eval_into(&mut out).unwrap();
    let want0 = ((-8.41f64).exp() + (-0.04f64).exp() + (-1.21f64).exp()).ln();
    assert!((out[0] - want0).abs() < 1e-12, "{out:?}");
}
