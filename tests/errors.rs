//! Bad input gets a typed `KeopsError`, never a panic: each test checks the exact variant and its
//! fields, and that the message names the variable at fault.

use keops::prelude::*;
use nalgebra::DMatrix;

/// The error of a call that must fail (no `Debug` bound on the success type).
fn err<R>(r: Result<R, KeopsError>) -> KeopsError {
    match r {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e,
    }
}

/// `n` points of dimension `D` with small distinct coordinates.
fn pts<const D: usize>(n: usize) -> Vec<[f64; D]> {
    (0..n)
        .map(|r| std::array::from_fn(|c| ((r * D + c) as f64 * 0.37).sin()))
        .collect()
}

/// The Gaussian kernel matrix of points `x` and `y`, for the tests of kernel matrices: one
/// `kernel!` site, as each site compiles the engines for every arm of its run-time dimensions.
fn gaussian<'a, const D: usize>(
    x: &'a [[f64; D]],
    y: &'a [[f64; D]],
) -> Result<KernelMatrix<f64, impl keops::__private::BoundKernel<f64> + 'a>, KeopsError> {
    kernel!(exp(-sqdist(x_i, y_j))).x_i(x).y_j(y).matrix()
}

fn line(n: usize) -> Vec<f64> {
    (0..n).map(|r| (r as f64 * 0.21).cos()).collect()
}

/// Asserts that the `Display` message of `e` contains every string of `parts`.
fn says(e: &KeopsError, parts: &[&str]) {
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} does not mention {p:?}");
    }
}

#[test]
fn row_counts_of_two_i_variables_differ() {
    let x = pts::<2>(10);
    let a = line(9);
    let y = pts::<2>(7);
    let e = err(kernel!(a_i: 1 => sum_j(sqdist(x_i, y_j) * a_i))
        .x_i(&x)
        .y_j(&y)
        .a_i(&a)
        .eval());
    assert_eq!(
        e,
        KeopsError::LengthMismatch {
            index: 'i',
            first: "x_i".into(),
            first_rows: 10,
            var: "a_i".into(),
            rows: 9,
        }
    );
    says(&e, &["x_i", "a_i", "10", "9"]);
}

#[test]
fn row_counts_of_two_j_variables_differ() {
    let x = pts::<3>(4);
    let y = pts::<3>(20);
    let b = pts::<2>(21);
    let f = kernel!(b_j: 2 => sum_j(exp(-sqdist(x_i, y_j)) * b_j));
    let e = err(f.x_i(&x).y_j(&y).b_j(&b).eval());
    assert_eq!(
        e,
        KeopsError::LengthMismatch {
            index: 'j',
            first: "y_j".into(),
            first_rows: 20,
            var: "b_j".into(),
            rows: 21,
        }
    );
    says(&e, &["y_j", "b_j", "20", "21"]);
    // Also through a kernel matrix.
    let k = kernel!(c_j: 2 => exp(-sqdist(x_i, y_j)) * sum(c_j));
    let e = err(k.x_i(&x).y_j(&y).c_j(&b[..19]).matrix());
    assert!(
        matches!(&e, KeopsError::LengthMismatch { index: 'j', first, first_rows: 20, var, rows: 19 }
            if first == "y_j" && var == "c_j"),
        "{e:?}"
    );
}

#[test]
fn dimensions_of_two_variables_differ() {
    let x = pts::<2>(5);
    let y = pts::<3>(6);
    let e = err(kernel!(sum_j(sqnorm(x_i - y_j))).x_i(&x).y_j(&y).eval());
    match &e {
        KeopsError::DimensionMismatch {
            var,
            expected: 2,
            found: 3,
            hint,
        } => {
            assert_eq!(var, "y_j");
            assert!(hint.contains("x_i"), "hint {hint:?} should name x_i");
        }
        other => panic!("wrong error {other:?}"),
    }
    says(&e, &["y_j", "x_i", "2", "3"]);
}

#[test]
fn one_dimensional_data_against_a_vector_suggests_broadcast_annotation() {
    let x = pts::<3>(5);
    let y = line(6);
    let e = err(kernel!(sum_j(sqnorm(x_i - y_j))).x_i(&x).y_j(&y).eval());
    match &e {
        KeopsError::DimensionMismatch {
            var,
            expected: 3,
            found: 1,
            hint,
        } => {
            assert_eq!(var, "y_j");
            assert!(hint.contains("y_j: 1"), "hint {hint:?}");
        }
        other => panic!("wrong error {other:?}"),
    }
    // With the annotation, the same data is accepted and broadcasts.
    let r = kernel!(y_j: 1 => sum_j(sqnorm(x_i - y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    let want: f64 = (0..6)
        .map(|j| (0..3).map(|k| (x[0][k] - y[j]).powi(2)).sum::<f64>())
        .sum();
    assert!((r[0] - want).abs() < 1e-12 * want.abs().max(1.0));
}

#[test]
fn data_disagrees_with_annotation() {
    let x = pts::<2>(5);
    let y = pts::<3>(6);
    let e = err(kernel!(x_i: 3 => sum_j(sqnorm(x_i - y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval());
    match &e {
        KeopsError::DimensionMismatch {
            var,
            expected: 3,
            found: 2,
            hint,
        } => {
            assert_eq!(var, "x_i");
            assert!(hint.contains("annotation"), "hint {hint:?}");
        }
        other => panic!("wrong error {other:?}"),
    }
    says(&e, &["x_i", "3", "2"]);
    // Data annotated as a scalar (`: 1`) but 2-D.
    let e = err(kernel!(y_j: 1 => sum_j(sqnorm(x_i - y_j)))
        .x_i(&y)
        .y_j(&x)
        .eval());
    assert!(
        matches!(&e, KeopsError::DimensionMismatch { var, expected: 1, found: 2, .. } if var == "y_j"),
        "{e:?}"
    );
}

#[test]
fn vector_parameter_of_wrong_length_at_run_time() {
    // A vector parameter is annotated (`c: 3`); an array's length is checked at compile time, a
    // Vec's when data is bound.
    let x = pts::<3>(5);
    let b = line(4);
    let c = vec![1.0, 2.0];
    let f = kernel!(c: 3 => sum_j(sqnorm(x_i - c) * b_j));
    let e = err(f.x_i(&x).b_j(&b).eval());
    match &e {
        KeopsError::DimensionMismatch {
            var,
            expected: 3,
            found: 2,
            hint,
        } => {
            assert_eq!(var, "c");
            assert!(hint.contains("annotation"), "hint {hint:?}");
        }
        other => panic!("wrong error {other:?}"),
    }
    says(&e, &["`c`", "3", "2"]);
    // A borrowed Vec of the wrong length.
    let c4 = vec![1.0, 2.0, 3.0, 4.0];
    let cs = &c4;
    let e = err(kernel!(cs: 3 => sum_j(sqnorm(x_i - cs) * b_j))
        .x_i(&x)
        .b_j(&b)
        .eval());
    assert!(
        matches!(&e, KeopsError::DimensionMismatch { var, expected: 3, found: 4, .. } if var == "cs"),
        "{e:?}"
    );
    // The same Vec with 3 entries works.
    let c = vec![1.0, 2.0, 3.0];
    let r = kernel!(c: 3 => sum_j(sqnorm(x_i - c) * b_j))
        .x_i(&x)
        .b_j(&b)
        .eval()
        .unwrap();
    let cc = [1.0, 2.0, 3.0];
    let s: f64 = (0..3).map(|k| (x[1][k] - cc[k]).powi(2)).sum();
    let want = s * b.iter().sum::<f64>();
    assert!((r[1] - want).abs() < 1e-12 * want.abs().max(1.0));
}

#[test]
fn vector_parameter_where_a_scalar_is_required() {
    let x = pts::<2>(5);
    let y = pts::<2>(6);
    // An unannotated Vec does not compile (ScalarParam, see tests/ui/unannotated_vector_param.rs);
    // annotated as a scalar, its length is checked when data is bound.
    let s = vec![1.0, 2.0];
    let f = kernel!(s: 1 => sum_j(exp(-sqdist(x_i, y_j) * s)));
    let e = err(f.x_i(&x).y_j(&y).eval());
    match &e {
        KeopsError::DimensionMismatch {
            var,
            expected: 1,
            found: 2,
            hint,
        } => {
            assert_eq!(var, "s");
            assert!(hint.contains("annotate it `s: 2`"), "hint {hint:?}");
        }
        other => panic!("wrong error {other:?}"),
    }
    says(&e, &["`s`", "s: 2"]);
}

#[test]
fn empty_sets() {
    let x = pts::<2>(5);
    let none: Vec<[f64; 2]> = Vec::new();
    let f = kernel!(sum_j(exp(-sqdist(x_i, y_j))));
    let e = err(f.x_i(&none).y_j(&x).eval());
    assert_eq!(e, KeopsError::Empty { var: "x_i".into() });
    says(&e, &["x_i"]);
    let e = err(f.x_i(&x).y_j(&none).eval());
    assert_eq!(e, KeopsError::Empty { var: "y_j".into() });
    says(&e, &["y_j"]);
    // An empty slice, an empty nalgebra matrix, an empty kernel matrix.
    let empty: &[f64] = &[];
    let e = err(kernel!(sum_j(x_i * y_j)).x_i(empty).y_j(&line(3)).eval());
    assert_eq!(e, KeopsError::Empty { var: "x_i".into() });
    let m = DMatrix::<f64>::zeros(0, 2);
    let e = err(f.x_i(&x).y_j(&m).eval());
    assert_eq!(e, KeopsError::Empty { var: "y_j".into() });
    let e = err(gaussian(&none, &x));
    assert_eq!(e, KeopsError::Empty { var: "x_i".into() });
    // An empty parameter vector.
    let c: Vec<f64> = Vec::new();
    let e = err(kernel!(c: 2 => sum_j(exp(-sqdist(x_i, y_j)) * c))
        .x_i(&x)
        .y_j(&x)
        .eval());
    assert_eq!(e, KeopsError::Empty { var: "c".into() });
    says(&e, &["`c`"]);
}

#[test]
fn zero_dimensional_data() {
    let x = pts::<2>(5);
    let z: Vec<[f64; 0]> = vec![[]; 5];
    let f = kernel!(sum_j(exp(-sqdist(x_i, y_j))));
    assert_eq!(err(f.x_i(&x).y_j(&z).eval()), KeopsError::ZeroDimension);
    let m = DMatrix::<f64>::zeros(5, 0);
    assert_eq!(err(f.x_i(&m).y_j(&x).eval()), KeopsError::ZeroDimension);
    let k = gaussian(&x, &x).unwrap();
    assert_eq!(err(k.matvec(&z)), KeopsError::ZeroDimension);
}

// NaN and infinity are REJECTED with `NonFinite`, not propagated: one NaN point would otherwise
// silently turn every output row of a sum into NaN. The error locates the first bad entry.
#[test]
fn non_finite_data_is_rejected() {
    let mut x = pts::<2>(6);
    let y = pts::<2>(7);
    let mut b = line(7);
    x[3][1] = f64::NAN;
    let f = kernel!(b_j: 1 => sum_j(exp(-sqdist(x_i, y_j)) * b_j));
    let e = err(f.x_i(&x).y_j(&y).b_j(&b).eval());
    assert!(
        matches!(&e, KeopsError::NonFinite { var, row: 3, col: 1, value } if var == "x_i" && value.is_nan()),
        "{e:?}"
    );
    says(&e, &["x_i", "row 3", "column 1", "NaN"]);

    x[3][1] = 0.5;
    b[5] = f64::INFINITY;
    let e = err(f.x_i(&x).y_j(&y).b_j(&b).eval());
    assert_eq!(
        e,
        KeopsError::NonFinite {
            var: "b_j".into(),
            row: 5,
            col: 0,
            value: f64::INFINITY
        }
    );
    says(&e, &["b_j", "row 5", "column 0", "inf"]);

    // f32 data, -inf.
    let mut y32: Vec<[f32; 2]> = y.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    let x32: Vec<[f32; 2]> = x.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    y32[0][0] = f32::NEG_INFINITY;
    let e = err(kernel!(sum_j(exp(-sqdist(x_i, y_j))))
        .x_i(&x32)
        .y_j(&y32)
        .eval());
    assert_eq!(
        e,
        KeopsError::NonFinite {
            var: "y_j".into(),
            row: 0,
            col: 0,
            value: f64::NEG_INFINITY
        }
    );
}

#[test]
fn non_finite_parameters_are_rejected() {
    let x = pts::<3>(4);
    let y = pts::<3>(5);
    let s = f64::NAN;
    let e = err(kernel!(sum_j(exp(-sqdist(x_i, y_j) * s)))
        .x_i(&x)
        .y_j(&y)
        .eval());
    assert!(
        matches!(&e, KeopsError::NonFinite { var, row: 0, col: 0, value } if var == "s" && value.is_nan()),
        "{e:?}"
    );
    says(&e, &["`s`"]);

    let c = [1.0, f64::INFINITY, 3.0];
    let e = err(kernel!(c: 3 => sum_j(exp(-sqdist(x_i - c, y_j))))
        .x_i(&x)
        .y_j(&y)
        .eval());
    assert_eq!(
        e,
        KeopsError::NonFinite {
            var: "c".into(),
            row: 0,
            col: 1,
            value: f64::INFINITY
        }
    );
    says(&e, &["`c`", "column 1"]);

    // A finite f64 parameter that overflows the f32 data's precision is rejected too.
    let big = 1e300;
    let x32: Vec<f32> = vec![1.0, 2.0];
    let e = err(kernel!(sum_j(x_i * y_j * big)).x_i(&x32).y_j(&x32).eval());
    assert!(
        matches!(&e, KeopsError::NonFinite { var, col: 0, value, .. } if var == "big" && *value == 1e300),
        "{e:?}"
    );
}

#[test]
fn non_finite_matvec_operand_is_rejected() {
    let x = pts::<2>(6);
    let y = pts::<2>(8);
    let k = gaussian(&x, &y).unwrap();
    let mut v = line(8);
    v[5] = f64::NAN;
    let e = err(k.matvec(&v));
    assert!(
        matches!(&e, KeopsError::NonFinite { row: 5, col: 0, value, .. } if value.is_nan()),
        "{e:?}"
    );
    says(&e, &["row 5", "column 0"]);
    let mut v2: Vec<[f64; 3]> = pts::<3>(8);
    v2[7][2] = f64::INFINITY;
    let mut out = vec![0.0; 6 * 3];
    let e = err(k.matvec_into(&v2, &mut out));
    assert!(
        matches!(&e, KeopsError::NonFinite { row: 7, col: 2, value, .. } if *value == f64::INFINITY),
        "{e:?}"
    );
}

#[test]
fn views_of_ragged_or_zero_dimension() {
    let flat: Vec<f64> = (0..7).map(|v| v as f64).collect();
    assert_eq!(
        View::new(&flat, 2).unwrap_err(),
        KeopsError::RaggedData { len: 7, dim: 2 }
    );
    assert_eq!(View::new(&flat, 0).unwrap_err(), KeopsError::ZeroDimension);
    assert_eq!(
        View::from_vec(flat.clone(), 3).unwrap_err(),
        KeopsError::RaggedData { len: 7, dim: 3 }
    );
    assert_eq!(
        View::from_vec(flat.clone(), 0).unwrap_err(),
        KeopsError::ZeroDimension
    );
    assert_eq!(
        Rows::from_vec(flat.clone(), 4).unwrap_err(),
        KeopsError::RaggedData { len: 7, dim: 4 }
    );
    let e = View::new(&flat, 2).unwrap_err().to_string();
    assert!(e.contains('7') && e.contains('2'), "{e}");
    // The good cases, for contrast.
    let v = View::new(&flat, 7).unwrap();
    assert_eq!((v.rows(), v.dim()), (1, 7));
    let v = View::new(&flat[..6], 3).unwrap();
    assert_eq!((v.rows(), v.dim()), (2, 3));
}

#[test]
fn output_buffers_of_wrong_length() {
    let x = pts::<3>(5);
    let y = pts::<3>(6);
    let b = pts::<2>(6);
    let f = kernel!(b_j: 2 => sum_j(exp(-sqdist(x_i, y_j)) * b_j));
    let mut short = vec![0.0; 9];
    let e = err(f.x_i(&x).y_j(&y).b_j(&b).eval_into(&mut short));
    assert_eq!(
        e,
        KeopsError::OutputLength {
            expected: 10,
            found: 9,
            rows: 5,
            dim: 2
        }
    );
    says(&e, &["10", "9"]);
    let red = f.x_i(&x).y_j(&y).b_j(&b).bind().unwrap();
    let mut long = vec![0.0; 11];
    assert_eq!(
        red.eval_into(&mut long).unwrap_err(),
        KeopsError::OutputLength {
            expected: 10,
            found: 11,
            rows: 5,
            dim: 2
        }
    );
    // The buffer is left alone on error.
    assert!(long.iter().all(|&v| v == 0.0));

    let k = gaussian(&x, &y).unwrap();
    let mut out = vec![0.0; 5 * 2 + 1];
    assert_eq!(
        k.matvec_into(&b, &mut out).unwrap_err(),
        KeopsError::OutputLength {
            expected: 10,
            found: 11,
            rows: 5,
            dim: 2
        }
    );
}

#[test]
fn matvec_operand_with_wrong_number_of_rows() {
    let x = pts::<2>(5);
    let y = pts::<2>(6);
    let k = gaussian(&x, &y).unwrap();
    let e = err(k.matvec(&line(5)));
    assert_eq!(
        e,
        KeopsError::OperandLength {
            expected: 6,
            found: 5
        }
    );
    says(&e, &["6", "5"]);
    let mut out = vec![0.0; 5 * 2];
    assert_eq!(
        k.matvec_into(&pts::<2>(7), &mut out).unwrap_err(),
        KeopsError::OperandLength {
            expected: 6,
            found: 7
        }
    );
}

#[test]
fn elem_index_out_of_range() {
    let x = pts::<3>(4);
    let y = pts::<3>(5);
    let e = err(kernel!(sum_j(elem(x_i, 5) * sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval());
    match &e {
        KeopsError::IndexOutOfRange {
            var,
            index: 5,
            dim: 3,
        } => assert!(var == "x_i" || var == "y_j", "{var}"),
        other => panic!("wrong error {other:?}"),
    }
    says(&e, &["5", "3"]);
    assert!(e.to_string().contains("x_i") || e.to_string().contains("y_j"));
    // Index 2 is fine.
    let r = kernel!(sum_j(elem(x_i, 2) * sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    let want: f64 = (0..5)
        .map(|j| x[0][2] * (0..3).map(|k| (x[0][k] - y[j][k]).powi(2)).sum::<f64>())
        .sum();
    assert!((r[0] - want).abs() < 1e-12 * want.abs().max(1.0));
}

#[test]
fn dimension_too_large() {
    let d = keops::MAX_DIM + 1;
    assert_eq!(d, 1025);
    let flat: Vec<f64> = (0..3 * d).map(|v| (v as f64 * 1e-3).sin()).collect();
    let x = View::new(&flat, d).unwrap();
    let e = err(kernel!(sum_j(exp(-sqdist(x_i, y_j))))
        .x_i(&x)
        .y_j(&x)
        .eval());
    assert_eq!(
        e,
        KeopsError::DimensionTooLarge {
            var: "x_i".into(),
            dim: 1025,
            max: 1024
        }
    );
    says(&e, &["x_i", "1025", "1024"]);
    // A concatenation that exceeds the limit though each part is fine.
    let flat: Vec<f64> = (0..2 * 600).map(|v| (v as f64 * 1e-3).cos()).collect();
    let x = View::new(&flat, 600).unwrap();
    let e = err(kernel!(sum_j(concat(x_i, y_j))).x_i(&x).y_j(&x).eval());
    assert!(
        matches!(&e, KeopsError::DimensionTooLarge { var, dim: 1200, max: 1024 } if var.contains("concat")),
        "{e:?}"
    );
    // 1024 itself is allowed.
    let flat: Vec<f64> = (0..2 * 1024).map(|v| (v as f64 * 1e-3).cos()).collect();
    let x = View::new(&flat, 1024).unwrap();
    let r = kernel!(sum_j(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&x)
        .eval()
        .unwrap();
    let want: f64 = (0..1024).map(|k| (flat[k] - flat[1024 + k]).powi(2)).sum();
    assert!((r[0] - want).abs() < 1e-9 * want, "{} vs {want}", r[0]);
}
