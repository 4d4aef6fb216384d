//! Every way of binding data gives the same result as a dense f64 loop over the same values:
//! `&Vec<T>`/`&[T]` (dimension 1), `&Vec<[T; D]>`, `&[[T; D]]`, `View::new`, `View::from_vec`,
//! `&View`, nalgebra matrices (column-major, packed into rows), `&Rows<T>` outputs fed back, in f32
//! and f64, at sizes that are not multiples of the engine's tile (256) or block (64), including
//! few output rows over many reduced points (the engine then splits the reduction range).
//!
//! Tolerance: |got - want| <= tol * sum_j |term_ij| (the sum of the absolute values of the
//! reduced terms, from the f64 reference), tol = 1e-5 for f32 and 1e-12 for f64.

mod common;

use common::Rng;
use keops::prelude::*;
use nalgebra::{DMatrix, DVector};

// ---------------------------------------------------------------- helpers

fn tol<T: Real>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        1e-5
    } else {
        1e-12
    }
}

fn f64s<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|v| v.to_f64()).collect()
}

fn points<T: Real, const D: usize>(flat: &[T]) -> Vec<[T; D]> {
    flat.chunks_exact(D)
        .map(|c| std::array::from_fn(|k| c[k]))
        .collect()
}

/// Dense f64 reference of `out_i = sum_j k(x_i, y_j) b_j`: `x` is (n, d), `y` (m, d), `b` (m, e),
/// all row-major. Returns the sums and, per entry, `sum_j |k b_j|` (the scale of the rounding).
fn reference(
    x: &[f64],
    y: &[f64],
    b: &[f64],
    d: usize,
    e: usize,
    k: impl Fn(&[f64], &[f64]) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (x.len() / d, y.len() / d);
    assert_eq!(b.len(), m * e);
    let mut want = vec![0.0; n * e];
    let mut scale = vec![0.0; n * e];
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..m {
            let kij = k(xi, &y[j * d..(j + 1) * d]);
            for c in 0..e {
                let t = kij * b[j * e + c];
                want[i * e + c] += t;
                scale[i * e + c] += t.abs();
            }
        }
    }
    (want, scale)
}

fn gauss(g: f64) -> impl Fn(&[f64], &[f64]) -> f64 {
    move |a, b| {
        let d2: f64 = a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum();
        (-d2 * g).exp()
    }
}

/// Checks `got` against the reference, entry by entry.
fn check<T: Real>(what: &str, got: &[T], want: &[f64], scale: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    let t = tol::<T>();
    for (p, ((g, w), s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (g.to_f64() - w).abs();
        assert!(
            err <= t * (s + 1e-300),
            "{what} ({}): entry {p}: got {g}, want {w}, error {err:e} > {t:e} * {s:e}",
            T::NAME
        );
    }
}

/// Checks a `Rows` result's shape and values.
fn check_rows<T: Real>(
    what: &str,
    got: &Rows<T>,
    rows: usize,
    dim: usize,
    ref_: &(Vec<f64>, Vec<f64>),
) {
    assert_eq!((got.rows(), got.dim()), (rows, dim), "{what}: shape");
    check(what, got.as_slice(), &ref_.0, &ref_.1);
}

// Sizes: not multiples of 64 (BLOCK) or 256 (TILE); a single pair; few rows over many points (the
// split-j path: fewer row blocks than twice the threads) and many rows over few points.
const SIZES: &[(usize, usize)] = &[
    (1, 1),
    (65, 257),
    (257, 65),
    (1000, 1037),
    (3, 5000),
    (5000, 3),
];

// ---------------------------------------------------------------- point sets of dimension 3

/// One formula, every binding of (x: (n, 3), y: (m, 3), b: (m, 2)).
fn all_bindings<T: Real + nalgebra::Scalar>(n: usize, m: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let xf: Vec<T> = rng.reals(n * 3, 0.0, 2.0);
    let yf: Vec<T> = rng.reals(m * 3, 0.0, 2.0);
    let bf: Vec<T> = rng.reals(m * 2, -1.0, 1.0);
    let g = 1.5;
    let r = reference(&f64s(&xf), &f64s(&yf), &f64s(&bf), 3, 2, gauss(g));
    let what = |s: &str| format!("{s} n={n} m={m}");

    let f = kernel!(sum_j(exp(-sqdist(x_i, y_j) * g) * b_j));
    let (xa, ya, ba) = (
        points::<T, 3>(&xf),
        points::<T, 3>(&yf),
        points::<T, 2>(&bf),
    );

    // &Vec<[T; D]>
    let out = f.x_i(&xa).y_j(&ya).b_j(&ba).eval().unwrap();
    check_rows(&what("&Vec<[T; D]>"), &out, n, 2, &r);
    // &[[T; D]]
    let out = f
        .x_i(xa.as_slice())
        .y_j(ya.as_slice())
        .b_j(ba.as_slice())
        .eval()
        .unwrap();
    check_rows(&what("&[[T; D]]"), &out, n, 2, &r);
    // View::new on flat row-major slices
    let (vx, vy, vb) = (
        View::new(&xf, 3).unwrap(),
        View::new(&yf, 3).unwrap(),
        View::new(&bf, 2).unwrap(),
    );
    let out = f.x_i(&vx).y_j(&vy).b_j(&vb).eval().unwrap();
    check_rows(&what("&View::new"), &out, n, 2, &r);
    let out = f.x_i(vx).y_j(vy).b_j(vb).eval().unwrap();
    check_rows(&what("View::new"), &out, n, 2, &r);
    // View::from_vec (owned)
    let out = f
        .x_i(View::from_vec(xf.clone(), 3).unwrap())
        .y_j(View::from_vec(yf.clone(), 3).unwrap())
        .b_j(View::from_vec(bf.clone(), 2).unwrap())
        .eval()
        .unwrap();
    check_rows(&what("View::from_vec"), &out, n, 2, &r);
    // nalgebra: rows are points, storage is column-major.
    let (mx, my, mb) = (
        DMatrix::from_row_slice(n, 3, &xf),
        DMatrix::from_row_slice(m, 3, &yf),
        DMatrix::from_row_slice(m, 2, &bf),
    );
    if n > 1 {
        // Column-major indeed: the second stored value is point 1's first coordinate.
        assert_eq!(mx.as_slice()[1], xf[3]);
    }
    let out = f.x_i(&mx).y_j(&my).b_j(&mb).eval().unwrap();
    check_rows(&what("&DMatrix"), &out, n, 2, &r);
    // Rows::from_vec
    let (rx, ry, rb) = (
        Rows::from_vec(xf.clone(), 3).unwrap(),
        Rows::from_vec(yf.clone(), 3).unwrap(),
        Rows::from_vec(bf.clone(), 2).unwrap(),
    );
    let out = f.x_i(&rx).y_j(&ry).b_j(&rb).eval().unwrap();
    check_rows(&what("&Rows"), &out, n, 2, &r);
    // Mixed bindings in one call.
    let out = f
        .x_i(&mx)
        .y_j(View::new(&yf, 3).unwrap())
        .b_j(&ba)
        .eval()
        .unwrap();
    check_rows(&what("mixed"), &out, n, 2, &r);
    // Binding order does not matter.
    let out = f.b_j(&ba).x_i(&xa).y_j(&my).eval().unwrap();
    check_rows(&what("b_j first"), &out, n, 2, &r);

    // eval vs eval_into vs bind()?.eval() twice: the same bits.
    let once = f.x_i(&xa).y_j(&ya).b_j(&ba).eval().unwrap();
    let mut buf = vec![T::from_f64(7.0); n * 2];
    f.x_i(&xa).y_j(&ya).b_j(&ba).eval_into(&mut buf).unwrap();
    assert_eq!(once.as_slice(), buf.as_slice(), "eval vs eval_into");
    let red = f.x_i(&xa).y_j(&ya).b_j(&ba).bind().unwrap();
    assert_eq!((red.rows(), red.dim()), (n, 2));
    let (a1, a2) = (red.eval(), red.eval());
    assert_eq!(a1, once, "bind().eval() vs eval()");
    assert_eq!(a1, a2, "bind().eval() twice");
    let mut buf2 = vec![T::ZERO; n * 2];
    red.eval_into(&mut buf2).unwrap();
    assert_eq!(buf2, buf, "Reduction::eval_into");
    // Rows accessors agree with the flat data.
    assert_eq!(once.row(n - 1), &buf[(n - 1) * 2..]);
    assert_eq!(&once[..], &buf[..]);
    assert_eq!(once.to_dmatrix(), DMatrix::from_row_slice(n, 2, &buf));
    assert_eq!(once.clone().into_vec(), buf);

    // An output fed back as input: out (n, 2) becomes the b_j of a reduction over the n points.
    let z: Vec<T> = rng.reals(7 * 3, 0.0, 2.0);
    let back = f
        .x_i(View::new(&z, 3).unwrap())
        .y_j(&xa)
        .b_j(&once)
        .eval()
        .unwrap();
    let r2 = reference(&f64s(&z), &f64s(&xf), &f64s(&once), 3, 2, gauss(g));
    check_rows(&what("&Rows output as b_j"), &back, 7, 2, &r2);
}

#[test]
fn all_bindings_f64() {
    for (s, &(n, m)) in SIZES.iter().enumerate() {
        all_bindings::<f64>(n, m, 100 + s as u64);
    }
}

#[test]
fn all_bindings_f32() {
    for (s, &(n, m)) in SIZES.iter().enumerate() {
        all_bindings::<f32>(n, m, 200 + s as u64);
    }
}

// ---------------------------------------------------------------- dimension 1

/// Scalar points: `&Vec<T>`, `&[T]`, `View::new(.., 1)`, `&DVector`, `&DMatrix` with one column.
fn line_bindings<T: Real + nalgebra::Scalar>(n: usize, m: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let x: Vec<T> = rng.reals(n, -2.0, 2.0);
    let y: Vec<T> = rng.reals(m, -2.0, 2.0);
    let b: Vec<T> = rng.reals(m, 0.0, 1.0);
    let g = 0.7;
    let r = reference(&f64s(&x), &f64s(&y), &f64s(&b), 1, 1, gauss(g));
    let what = |s: &str| format!("{s} n={n} m={m}");
    let f = kernel!(sum_j(exp(-square(x_i - y_j) * g) * b_j));

    let out = f.x_i(&x).y_j(&y).b_j(&b).eval().unwrap();
    check_rows(&what("&Vec<T>"), &out, n, 1, &r);
    let out = f
        .x_i(x.as_slice())
        .y_j(y.as_slice())
        .b_j(b.as_slice())
        .eval()
        .unwrap();
    check_rows(&what("&[T]"), &out, n, 1, &r);
    let out = f
        .x_i(View::new(&x, 1).unwrap())
        .y_j(View::new(&y, 1).unwrap())
        .b_j(View::from_vec(b.clone(), 1).unwrap())
        .eval()
        .unwrap();
    check_rows(&what("View (dim 1)"), &out, n, 1, &r);
    let (dx, dy, db) = (
        DVector::from_column_slice(&x),
        DMatrix::from_column_slice(m, 1, &y),
        DVector::from_column_slice(&b),
    );
    let out = f.x_i(&dx).y_j(&dy).b_j(&db).eval().unwrap();
    check_rows(&what("&DVector / &DMatrix (m, 1)"), &out, n, 1, &r);
    let mut buf = vec![T::ZERO; n];
    f.x_i(&x).y_j(&y).b_j(&b).eval_into(&mut buf).unwrap();
    check(&what("eval_into (dim 1)"), &buf, &r.0, &r.1);
}

#[test]
fn line_bindings_both_precisions() {
    for (s, &(n, m)) in SIZES.iter().enumerate() {
        line_bindings::<f64>(n, m, 300 + s as u64);
        line_bindings::<f32>(n, m, 400 + s as u64);
    }
}

// ---------------------------------------------------------------- kernel matrices

/// `K v` with `v` bound every way, one and several columns.
fn matvec_bindings<T: Real + nalgebra::Scalar>(n: usize, m: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let xf: Vec<T> = rng.reals(n * 2, 0.0, 2.0);
    let yf: Vec<T> = rng.reals(m * 2, 0.0, 2.0);
    let v1: Vec<T> = rng.reals(m, -1.0, 1.0);
    let v3: Vec<T> = rng.reals(m * 3, -1.0, 1.0);
    let s = 0.8;
    let g = 1.0 / (2.0 * s * s);
    let (x64, y64) = (f64s(&xf), f64s(&yf));
    let r1 = reference(&x64, &y64, &f64s(&v1), 2, 1, gauss(g));
    let r3 = reference(&x64, &y64, &f64s(&v3), 2, 3, gauss(g));
    let what = |s: &str| format!("{s} n={n} m={m}");
    let ya = points::<T, 2>(&yf);
    let f = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let k = f.x_i(View::new(&xf, 2).unwrap()).y_j(&ya).matrix().unwrap();
    assert_eq!((k.nrows(), k.ncols()), (n, m));
    check_rows(&what("matvec &Vec<T>"), &k.matvec(&v1).unwrap(), n, 1, &r1);
    check_rows(
        &what("matvec &[T]"),
        &k.matvec(v1.as_slice()).unwrap(),
        n,
        1,
        &r1,
    );
    check_rows(
        &what("matvec &Vec<[T; 3]>"),
        &k.matvec(&points::<T, 3>(&v3)).unwrap(),
        n,
        3,
        &r3,
    );
    check_rows(
        &what("matvec View"),
        &k.matvec(View::new(&v3, 3).unwrap()).unwrap(),
        n,
        3,
        &r3,
    );
    let dm = DMatrix::from_row_slice(m, 3, &v3);
    check_rows(&what("matvec &DMatrix"), &k.matvec(&dm).unwrap(), n, 3, &r3);
    let rows = Rows::from_vec(v3.clone(), 3).unwrap();
    let kv = k.matvec(&rows).unwrap();
    check_rows(&what("matvec &Rows"), &kv, n, 3, &r3);
    let mut buf = vec![T::ZERO; n * 3];
    k.matvec_into(&dm, &mut buf).unwrap();
    assert_eq!(buf.as_slice(), kv.as_slice(), "matvec_into vs matvec");
    // Several columns at once equal the columns one by one.
    for c in 0..3 {
        let col: Vec<T> = (0..m).map(|j| v3[j * 3 + c]).collect();
        let kc = k.matvec(&col).unwrap();
        for i in 0..n {
            let (a, b) = (kc[i].to_f64(), kv.row(i)[c].to_f64());
            assert!(
                (a - b).abs() <= tol::<T>() * r3.1[i * 3 + c] + 1e-300,
                "column {c} row {i}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn matvec_bindings_both_precisions() {
    for (s, &(n, m)) in SIZES.iter().enumerate() {
        matvec_bindings::<f64>(n, m, 500 + s as u64);
        matvec_bindings::<f32>(n, m, 600 + s as u64);
    }
}

// ---------------------------------------------------------------- sum_i vs sum_j

/// `sum_j F(x_i, y_j) b_j` bound (X, Y, B) equals `sum_i F(y_j, x_i) a_i` bound x_i = Y, y_j = X,
/// a_i = B: the same reduction written over the other index. F is not symmetric in its arguments.
fn transposed<T: Real>(n: usize, m: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let xf: Vec<T> = rng.reals(n * 3, 0.0, 1.5);
    let yf: Vec<T> = rng.reals(m * 3, 0.0, 1.5);
    let bf: Vec<T> = rng.reals(m * 2, -1.0, 1.0);
    let g = 0.9;
    let k = |a: &[f64], c: &[f64]| {
        let d2: f64 = a.iter().zip(c).map(|(a, c)| (a - c) * (a - c)).sum();
        let sc: f64 = c.iter().sum();
        (-d2 * g).exp() * (1.0 + sc * sc)
    };
    let r = reference(&f64s(&xf), &f64s(&yf), &f64s(&bf), 3, 2, k);
    let (vx, vy, vb) = (
        View::new(&xf, 3).unwrap(),
        View::new(&yf, 3).unwrap(),
        View::new(&bf, 2).unwrap(),
    );
    let by_j =
        kernel!(x_i: 3, y_j: 3 => sum_j(exp(-sqdist(x_i, y_j) * g) * (1 + square(sum(y_j))) * b_j))
            .x_i(&vx)
            .y_j(&vy)
            .b_j(&vb)
            .eval()
            .unwrap();
    check_rows(&format!("sum_j n={n} m={m}"), &by_j, n, 2, &r);
    let by_i =
        kernel!(x_i: 3, y_j: 3 => sum_i(exp(-sqdist(y_j, x_i) * g) * (1 + square(sum(x_i))) * a_i))
            .x_i(&vy)
            .y_j(&vx)
            .a_i(&vb)
            .eval()
            .unwrap();
    check_rows(&format!("sum_i n={n} m={m}"), &by_i, n, 2, &r);
}

#[test]
fn sum_i_is_sum_j_transposed() {
    for (s, &(n, m)) in SIZES.iter().enumerate() {
        transposed::<f64>(n, m, 700 + s as u64);
        transposed::<f32>(n, m, 800 + s as u64);
    }
}

// ---------------------------------------------------------------- parameters

struct Data {
    x: Vec<[f64; 3]>,
    y: Vec<[f64; 3]>,
    b: Vec<[f64; 2]>,
}

fn data(n: usize, m: usize, seed: u64) -> Data {
    let mut rng = Rng::new(seed);
    let xf: Vec<f64> = rng.reals(n * 3, 0.0, 2.0);
    let yf: Vec<f64> = rng.reals(m * 3, 0.0, 2.0);
    let bf: Vec<f64> = rng.reals(m * 2, -1.0, 1.0);
    Data {
        x: points(&xf),
        y: points(&yf),
        b: points(&bf),
    }
}

/// Reference of `sum_j exp(-|x_i - c - y_j|^2 g) b_j`.
fn shifted_ref(d: &Data, c: [f64; 3], g: f64) -> (Vec<f64>, Vec<f64>) {
    let xs: Vec<f64> =
        d.x.iter()
            .flat_map(|p| [p[0] - c[0], p[1] - c[1], p[2] - c[2]])
            .collect();
    reference(&xs, d.y.as_flattened(), d.b.as_flattened(), 3, 2, gauss(g))
}

#[test]
fn scalar_parameters_of_every_type() {
    let (n, m) = (130, 301);
    let d = data(n, m, 900);
    let ref_ = |g: f64| shifted_ref(&d, [0.0; 3], g);
    // f64
    let g = 1.25f64;
    let out = kernel!(x_i: 3, y_j: 3, b_j: 2 => sum_j(exp(-sqdist(x_i, y_j) * g) * b_j))
        .x_i(&d.x)
        .y_j(&d.y)
        .b_j(&d.b)
        .eval()
        .unwrap();
    check_rows("g: f64", &out, n, 2, &ref_(1.25));
    // f32 (converted exactly: 1.25 is representable)
    let g = 1.25f32;
    let out = kernel!(x_i: 3, y_j: 3, b_j: 2 => sum_j(exp(-sqdist(x_i, y_j) * g) * b_j))
        .x_i(&d.x)
        .y_j(&d.y)
        .b_j(&d.b)
        .eval()
        .unwrap();
    check_rows("g: f32", &out, n, 2, &ref_(1.25));
    // integers, also a reference to one
    let g = 2i32;
    let h = 4u64;
    let hr = &h;
    let out = kernel!(x_i: 3, y_j: 3, b_j: 2 => sum_j(exp(-sqdist(x_i, y_j) * g / hr) * b_j))
        .x_i(&d.x)
        .y_j(&d.y)
        .b_j(&d.b)
        .eval()
        .unwrap();
    check_rows("g: i32, h: &u64", &out, n, 2, &ref_(0.5));
    // f64 parameter, f32 data: converted to f32 at binding.
    let x32: Vec<[f32; 3]> = d.x.iter().map(|p| p.map(|v| v as f32)).collect();
    let y32: Vec<[f32; 3]> = d.y.iter().map(|p| p.map(|v| v as f32)).collect();
    let b32: Vec<[f32; 2]> = d.b.iter().map(|p| p.map(|v| v as f32)).collect();
    let r32 = reference(
        &f64s(x32.as_flattened()),
        &f64s(y32.as_flattened()),
        &f64s(b32.as_flattened()),
        3,
        2,
        gauss(0.75),
    );
    let g = 0.75f64;
    let out = kernel!(x_i: 3, y_j: 3, b_j: 2 => sum_j(exp(-sqdist(x_i, y_j) * g) * b_j))
        .x_i(&x32)
        .y_j(&y32)
        .b_j(&b32)
        .eval()
        .unwrap();
    check_rows("g: f64 with f32 data", &out, n, 2, &r32);
}

#[test]
fn vector_parameters_of_every_type() {
    let (n, m) = (67, 259);
    let d = data(n, m, 901);
    let c = [0.3, -0.2, 0.5];
    let g = 1.1;
    let r = shifted_ref(&d, c, g);
    let bind = |what: &str, out: Result<Rows<f64>, KeopsError>| {
        check_rows(what, &out.unwrap(), n, 2, &r);
    };
    // A vector parameter is annotated with its dimension; x_i's is then checked at run time.
    let ca = c;
    bind(
        "[f64; 3]",
        kernel!(ca: 3 => sum_j(exp(-sqdist(x_i - ca, y_j) * g) * b_j))
            .x_i(&d.x)
            .y_j(&d.y)
            .b_j(&d.b)
            .eval(),
    );
    let cv: Vec<f64> = c.to_vec();
    bind(
        "Vec<f64>",
        kernel!(x_i: 3, y_j: 3, b_j: 2, cv: 3 => sum_j(exp(-sqdist(x_i - cv, y_j) * g) * b_j))
            .x_i(&d.x)
            .y_j(&d.y)
            .b_j(&d.b)
            .eval(),
    );
    let cvec: Vec<f64> = c.to_vec();
    let cs = &cvec;
    bind(
        "&Vec<f64>",
        kernel!(x_i: 3, y_j: 3, b_j: 2, cs: 3 => sum_j(exp(-sqdist(x_i - cs, y_j) * g) * b_j))
            .x_i(&d.x)
            .y_j(&d.y)
            .b_j(&d.b)
            .eval(),
    );
    let cr = &c;
    bind(
        "&[f64; 3]",
        kernel!(x_i: 3, y_j: 3, b_j: 2, cr: 3 => sum_j(exp(-sqdist(x_i - cr, y_j) * g) * b_j))
            .x_i(&d.x)
            .y_j(&d.y)
            .b_j(&d.b)
            .eval(),
    );
    // Annotated `c: 3`: checked at compile time.
    bind(
        "c: 3 annotated",
        kernel!(c: 3, b_j: 2 => sum_j(exp(-sqdist(x_i - c, y_j) * g) * b_j))
            .x_i(&d.x)
            .y_j(&d.y)
            .b_j(&d.b)
            .eval(),
    );
    // f32 array: the reference uses the f32 values.
    let c32 = [0.3f32, -0.2, 0.5];
    let r32 = shifted_ref(&d, c32.map(|v| v as f64), g);
    let out =
        kernel!(x_i: 3, y_j: 3, b_j: 2, c32: 3 => sum_j(exp(-sqdist(x_i - c32, y_j) * g) * b_j))
            .x_i(&d.x)
            .y_j(&d.y)
            .b_j(&d.b)
            .eval()
            .unwrap();
    check_rows("[f32; 3]", &out, n, 2, &r32);
    // A scalar where a vector is expected broadcasts.
    let cb = 0.25;
    let rb = shifted_ref(&d, [0.25; 3], g);
    let out = kernel!(x_i: 3, y_j: 3, b_j: 2 => sum_j(exp(-sqdist(x_i - cb, y_j) * g) * b_j))
        .x_i(&d.x)
        .y_j(&d.y)
        .b_j(&d.b)
        .eval()
        .unwrap();
    check_rows("scalar broadcast", &out, n, 2, &rb);
}

#[test]
fn formula_is_reusable_with_other_data() {
    // One captured formula, bound to different data sets in turn (different sizes and dimensions).
    let g = 0.6;
    let f = kernel!(sum_j(exp(-sqdist(x_i, y_j) * g) * b_j));
    for (s, &(n, m)) in SIZES.iter().take(4).enumerate() {
        let mut rng = Rng::new(1000 + s as u64);
        let dim = 1 + s; // 1, 2, 3, 4
        let xf: Vec<f64> = rng.reals(n * dim, 0.0, 1.0);
        let yf: Vec<f64> = rng.reals(m * dim, 0.0, 1.0);
        let bf: Vec<f64> = rng.reals(m * 5, -1.0, 1.0);
        let r = reference(&xf, &yf, &bf, dim, 5, gauss(g));
        let out = f
            .x_i(View::new(&xf, dim).unwrap())
            .y_j(View::new(&yf, dim).unwrap())
            .b_j(View::new(&bf, 5).unwrap())
            .eval()
            .unwrap();
        check_rows(&format!("reuse dim {dim} n={n} m={m}"), &out, n, 5, &r);
    }
}
