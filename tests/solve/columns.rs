//! Columns and diagonals of kernel matrices and of a user's operator.

use super::*;

/// Columns and diagonal of a kernel matrix, evaluated directly, against dense f64 entries; and
/// the default `columns` of a user's operator (products with unit vectors).
#[test]
fn kernel_columns_match_dense() {
    let mut rng = Rng::named("columns", 1);
    let n = 300;
    let x = rng.vec(2 * n, 0.0, 1.0);
    let cols = [0, 7, 299, 7, 130];
    let s = 0.2;
    let mut out = vec![0.0; n * cols.len()];
    laplacian_matrix(&x, s)
        .columns_into(&cols, &mut out)
        .unwrap();
    let xf: Vec<f32> = to_t(&x);
    let mut out32 = vec![0.0; n * cols.len()];
    laplacian_matrix(&xf, s)
        .columns_into(&cols, &mut out32)
        .unwrap();
    let xr = round::<f32>(&x);
    for (c, &j) in cols.iter().enumerate() {
        for i in 0..n {
            let want = laplacian(&x[2 * i..2 * i + 2], &x[2 * j..2 * j + 2], s);
            assert!((out[c * n + i] - want).abs() < 1e-14, "({i}, {j})");
            let want = laplacian(&xr[2 * i..2 * i + 2], &xr[2 * j..2 * j + 2], s);
            assert!((out32[c * n + i] - want).abs() < 1e-6, "f32 ({i}, {j})");
        }
    }
    let d = laplacian_matrix(&x, s).diagonal();
    assert_eq!(d, vec![1.0; n]);
    let e = laplacian_matrix(&x, s)
        .columns_into(&[300], &mut vec![0.0; n])
        .unwrap_err();
    assert!(
        matches!(
            e,
            KeopsError::ColumnOutOfRange {
                col: 300,
                ncols: 300
            }
        ),
        "{e:?}"
    );
    let e = laplacian_matrix(&x, s)
        .columns_into(&[1], &mut vec![0.0; n - 1])
        .unwrap_err();
    assert!(matches!(e, KeopsError::OutputLength { .. }), "{e:?}");
    // The default through products: 70 columns (two groups of products).
    let a = DMatrix::from_fn(n, n, |i, j| (i * 3 + j * 5) as f64 % 7.0);
    let cols: Vec<usize> = (0..70).map(|c| (c * 13) % n).collect();
    let mut out = vec![0.0; n * cols.len()];
    Dense(a.clone(), false).columns(&cols, &mut out).unwrap();
    for (c, &j) in cols.iter().enumerate() {
        for i in 0..n {
            assert_eq!(out[c * n + i], a[(i, j)]);
        }
    }
}
