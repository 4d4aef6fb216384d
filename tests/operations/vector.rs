//! Vector operations: sqnorm sqnorm2 norm norm2 dot sum sqdist normalize elem concat, each at a
//! fixed (annotated) dimension, 2 to 20, and all of them on scalars; `runtime_dimensions`
//! (entrywise.rs) and `concat` below run them at run-time dimensions.

use super::*;

#[test]
fn sqnorm_times_vector() {
    // sqnorm is a scalar; times b_j (dimension 2, its own class): vector output of dimension 2.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 2, b_j: 2 => sum_j(sqnorm(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s = rf::sqdist(a.x, a.y);
        o[0] = s * a.b[0];
        o[1] = s * a.b[1];
    };
    check(
        "sqnorm",
        Spec::new(2, 2).b(2),
        ALL,
        Red::J,
        2,
        both!(run),
        term,
    );
}

#[test]
fn sqnorm2_norm_norm2() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3 => sum_j(concat(sqnorm2(x_i + y_j), norm(x_i - y_j) + 2 * norm2(y_j))))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s: Vec<f64> = a.x.iter().zip(a.y).map(|(x, y)| x + y).collect();
        o[0] = rf::sqnorm(&s);
        o[1] = rf::sqdist(a.x, a.y).sqrt() + 2.0 * rf::sqnorm(a.y).sqrt();
    };
    check("norms", Spec::new(3, 3), ALL, Red::J, 2, both!(run), term);
}

#[test]
fn dot_sum_sqdist() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 7, b_j: 3 => sum_j(
            dot(x_i, y_j) * b_j + sum(x_i * y_j - x_i) - exp(-sqdist(x_i, y_j))
        ))
        .x_i(d.x())
        .y_j(d.y())
        .b_j(d.b())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s: f64 = a.x.iter().zip(a.y).map(|(x, y)| x * y - x).sum();
        let common = s - (-rf::sqdist(a.x, a.y)).exp();
        for k in 0..3 {
            o[k] = rf::dot(a.x, a.y) * a.b[k] + common;
        }
    };
    check(
        "dot_sum_sqdist",
        Spec::new(7, 7).b(3),
        ALL,
        Red::J,
        3,
        both!(run),
        term,
    );
}

#[test]
fn normalize() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 4 => sum_j(normalize(x_i - y_j)))
            .x_i(d.x())
            .y_j(d.y())
            .bind()
            .map(eval)
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let r = rf::sqdist(a.x, a.y).sqrt();
        for k in 0..a.x.len() {
            o[k] = (a.x[k] - a.y[k]) / r;
        }
    };
    // x - y is never 0: x in [-1, 0.2), y in [0.3, 1.5).
    let spec = Spec::new(4, 4).xy((-1.0, 0.2), (0.3, 1.5));
    check("normalize", spec, ALL, Red::J, 4, both!(run), term);
}

#[test]
fn elem() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 20 => sum_j(
            elem(x_i, 0) * elem(y_j, 19) - elem(x_i, 2) * exp(elem(x_i - y_j, 1))
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        o[0] = a.x[0] * a.y[19] - a.x[2] * (a.x[1] - a.y[1]).exp();
    };
    check("elem", Spec::new(20, 20), ALL, Red::J, 1, both!(run), term);
}

/// The vector operations applied to scalars (`x_i: 1`): the scalar code path of each.
#[test]
fn vector_ops_on_scalars() {
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 1, y_j: 1 => sum_j(concat(
            concat(concat(sqnorm(x_i - y_j), norm(x_i - y_j)), concat(dot(x_i, y_j), sum(x_i))),
            concat(
                concat(sqdist(x_i, y_j), normalize(x_i - y_j) * (y_j + 2)),
                concat(elem(y_j, 0), 3 * normalize(3 * y_j))
            )
        )))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x[0], a.y[0]);
        let t = [
            (x - y) * (x - y),
            (x - y).abs(),
            x * y,
            x,
            (x - y) * (x - y),
            rf::sign(x - y) * (y + 2.0),
            y,
            3.0 * rf::sign(y),
        ];
        o.copy_from_slice(&t);
    };
    let names = [
        "sqnorm",
        "norm",
        "dot",
        "sum",
        "sqdist",
        "normalize",
        "elem",
        "normalize",
    ];
    let spec = Spec::new(1, 1);
    check_labeled("scalars", &names, spec, ALL, Red::J, 8, both!(run), &term);
}

#[test]
fn concat() {
    // Run-time dimensions: x_i's class and concat(x_i - y_j, b_j)'s (dimension dx + 2), the second
    // dispatched to the exact arms and the buckets of the second slot.
    fn run<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(b_j: 2 => sum_j(concat(x_i - y_j, b_j) * exp(-sqdist(x_i, y_j))))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // A scalar then a vector, a literal then a vector, concat inside sqnorm and elem.
    fn run_sv<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            concat(sqnorm(x_i), y_j) * dot(x_i, y_j) - sqnorm(concat(x_i, 2 * y_j))
                + elem(concat(7, x_i), 0)
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    // A concat of annotated variables is fixed (2 + 3 = 5), and two such concats can meet
    // entrywise.
    fn run_fixed<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 2, y_j: 3 => sum_j(
            concat(x_i, y_j) - concat(elem(y_j, 0) * x_i, y_j * elem(x_i, 1))
        ))
        .x_i(d.x())
        .y_j(d.y())
        .bind()
        .map(eval)
        .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        let g = (-rf::sqdist(a.x, a.y)).exp();
        let dx = a.x.len();
        for k in 0..dx {
            o[k] = (a.x[k] - a.y[k]) * g;
        }
        o[dx] = a.b[0] * g;
        o[dx + 1] = a.b[1] * g;
    };
    for &(dim, sizes) in DIMS.iter().chain(&[(15, SMALL), (16, SMALL)]) {
        let spec = Spec::new(dim, dim).b(2);
        check("concat", spec, sizes, Red::J, dim + 2, both!(run), term);
    }
    let term = |a: &Args, o: &mut [f64]| {
        let s = rf::dot(a.x, a.y);
        let q = rf::sqnorm(a.x) + 4.0 * rf::sqnorm(a.y);
        o[0] = rf::sqnorm(a.x) * s - q + 7.0;
        for k in 0..3 {
            o[1 + k] = a.y[k] * s - q + 7.0;
        }
    };
    check(
        "concat_sv",
        Spec::new(3, 3),
        ALL,
        Red::J,
        4,
        both!(run_sv),
        term,
    );
    let term = |a: &Args, o: &mut [f64]| {
        let (x, y) = (a.x, a.y);
        let c = [x[0], x[1], y[0], y[1], y[2]];
        let e = [
            y[0] * x[0],
            y[0] * x[1],
            y[0] * x[1],
            y[1] * x[1],
            y[2] * x[1],
        ];
        for k in 0..5 {
            o[k] = c[k] - e[k];
        }
    };
    check(
        "concat_fixed",
        Spec::new(2, 3),
        ALL,
        Red::J,
        5,
        both!(run_fixed),
        term,
    );
}
