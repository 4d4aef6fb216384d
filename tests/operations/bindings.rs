//! How a formula is bound and reduced: parameters and broadcasting, `sum_i`, kernel matrices.

use super::*;

#[test]
fn parameters_and_broadcasting() {
    // Unannotated parameters are scalars that broadcast against the vectors: s an f64, w an f32,
    // k an integer, c a reference to an f64.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (s, w, k, c) = (d.p[0], d.p[1] as f32, 3i32, &d.p[2]);
        kernel!(b_j: 2 => sum_j(exp(-s * sqdist(w * x_i, y_j - c)) * b_j * k))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (s, w, c) = (a.p[0], a.p[1] as f32 as f64, a.p[2]);
        let mut q = 0.0;
        for k in 0..a.x.len() {
            let t = w * a.x[k] - (a.y[k] - c);
            q += t * t;
        }
        let g = (-s * q).exp() * 3.0;
        o[0] = g * a.b[0];
        o[1] = g * a.b[1];
    };
    for &(dim, sizes) in DIMS {
        let spec = Spec::new(dim, dim).b(2).params(3, (0.25, 1.0));
        check("params", spec, sizes, Red::J, 2, both!(run), term);
    }
}

#[test]
fn annotated_parameter_and_scalar_variables() {
    // c: a vector parameter, which must be annotated; x_i joins its class.
    fn run_c3<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let c: [f64; 3] = [d.p[0], d.p[1], d.p[2]];
        kernel!(c: 3, b_j: 2 => sum_j(dot(x_i - c, y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // Scalar variables `: 1` and a scalar parameter broadcast against vectors.
    fn run_sv<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let c = d.p[0];
        kernel!(x_i: 7, b_j: 1, a_i: 1 => sum_j(b_j * (x_i - y_j) + a_i * y_j - c))
            .x_i(d.x())
            .y_j(d.y())
            .a_i(d.a())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let t: f64 = (0..3).map(|k| (a.x[k] - a.p[k]) * a.y[k]).sum();
        o[0] = t * a.b[0];
        o[1] = t * a.b[1];
    };
    let spec = Spec::new(3, 3).b(2).params(3, (-1.0, 1.0));
    check("param_c3", spec, ALL, Red::J, 2, both!(run_c3), term);
    let term = |a: &Args, o: &mut [f64]| {
        for k in 0..7 {
            o[k] = a.b[0] * (a.x[k] - a.y[k]) + a.a[0] * a.y[k] - a.p[0];
        }
    };
    let spec = Spec::new(7, 7).params(1, (-2.0, 2.0));
    check("scalar_vars", spec, ALL, Red::J, 7, both!(run_sv), term);
}

// ---------------------------------------------------------------------------------------------
// sum_i: one output row per j.

#[test]
fn sum_i_reductions() {
    // Run-time dimensions.
    fn gauss<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(a_i: 2 => sum_i(exp(-sqdist(x_i, y_j)) * a_i))
            .x_i(d.x())
            .y_j(d.y())
            .a_i(d.a())
            .bind()
            .map(eval)
            .unwrap()
    }
    // concat(a_i, b_j) has dimension 2 + 1 = 3 = dim(x) (x_i * 0 ties them).
    fn mixed<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, a_i: 2, b_j: 1 => sum_i(
            concat(a_i, b_j) * cos(sum(x_i - y_j)) + x_i * 0 + dot(x_i, y_j)
        ))
        .x_i(d.x())
        .y_j(d.y())
        .a_i(d.a())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    // Vector output.
    fn vector<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 2 => sum_i(x_i * y_j - sqnorm(y_j) + log(2 + x_i)))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let g = (-rf::sqdist(a.x, a.y)).exp();
        o[0] = g * a.a[0];
        o[1] = g * a.a[1];
    };
    for &(dim, sizes) in DIMS {
        check(
            "sum_i_gauss",
            Spec::new(dim, dim).a(2),
            sizes,
            Red::I,
            2,
            both!(gauss),
            term,
        );
    }
    let term = |a: &Args, o: &mut [f64]| {
        let c = (0..3).map(|k| a.x[k] - a.y[k]).sum::<f64>().cos();
        let cat = [a.a[0], a.a[1], a.b[0]];
        for k in 0..3 {
            o[k] = cat[k] * c + rf::dot(a.x, a.y);
        }
    };
    check(
        "sum_i_mixed",
        Spec::new(3, 3).a(2),
        ALL,
        Red::I,
        3,
        both!(mixed),
        term,
    );
    let term = |a: &Args, o: &mut [f64]| {
        for k in 0..2 {
            o[k] = a.x[k] * a.y[k] - rf::sqnorm(a.y) + (2.0 + a.x[k]).ln();
        }
    };
    check(
        "sum_i_vector",
        Spec::new(2, 2),
        ALL,
        Red::I,
        2,
        both!(vector),
        term,
    );
}

// ---------------------------------------------------------------------------------------------
// Kernel matrices: `K = kernel!(scalar formula)`, `(K v)_i = sum_j K_ij v_j` for v of 1 and 3
// columns.

#[test]
fn kernel_matrix_matvec() {
    // Run-time dimensions; v of one column is passed as a `&Vec<T>`, of several as a View.
    fn gauss<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let s = d.p[0];
        let g = kernel!(exp(-s * sqdist(x_i, y_j)));
        let k = g.x_i(d.x()).y_j(d.y()).matrix().unwrap();
        assert_eq!((k.nrows(), k.ncols()), (d.n, d.m));
        host_matvec(&k, &d.b());
        if d.s.db == 1 {
            k.matvec(&d.b).unwrap()
        } else {
            k.matvec(d.b()).unwrap()
        }
    }
    // A kernel with negative entries.
    fn linear<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 3 => dot(x_i, y_j) - 0.25 + sin(sum(x_i)))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    // Scalar variables: the scalar code path.
    fn cauchy<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let k = kernel!(x_i: 1, y_j: 1 => inv(1 + square(x_i - y_j)))
            .x_i(d.x())
            .y_j(d.y())
            .matrix()
            .unwrap();
        matvec(k, d.b())
    }
    let term = |a: &Args, o: &mut [f64]| times_b((-a.p[0] * rf::sqdist(a.x, a.y)).exp(), a, o);
    for &(dim, sizes) in DIMS {
        let spec = Spec::new(dim, dim).params(1, (0.5, 2.0));
        check_matvec("matvec_gauss", spec, sizes, both!(gauss), term);
    }
    let term = |a: &Args, o: &mut [f64]| {
        times_b(
            rf::dot(a.x, a.y) - 0.25 + a.x.iter().sum::<f64>().sin(),
            a,
            o,
        )
    };
    check_matvec("matvec_linear", Spec::new(3, 3), ALL, both!(linear), term);
    let term = |a: &Args, o: &mut [f64]| {
        let d = a.x[0] - a.y[0];
        times_b(1.0 / (1.0 + d * d), a, o)
    };
    check_matvec("matvec_cauchy", Spec::new(1, 1), ALL, both!(cauchy), term);
}
