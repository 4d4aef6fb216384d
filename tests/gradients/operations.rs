//! `grad(F, x_i, e_i)` inside formulas: every scalar operation's rule, the piecewise constant ones,
//! a second derivative, and f32 against f64.

use super::*;

/// `grad(F, x_i, e_i)` inside `sum_j` for formulas that use every differentiable operation; the
/// reference differentiates `sum_j(F)`.
#[test]
fn every_operation_rule() {
    let mut r = Rng::named("ops", 3);
    let x = r.vec(N * 3, 0.2, 0.9);
    let y = r.vec(M * 3, 0.2, 0.9);
    let e = r.vec(N, -1.0, 1.0);
    let fa = |x: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            log(1 + square(sum(x_i * y_j)))
                + sqrt(sqnorm(x_i) + 1) * rsqrt(sqnorm(y_j) + 1)
                + inv(1 + abs(elem(x_i, 0) - elem(y_j, 1)))
                + sin(elem(x_i, 1)) * cos(elem(y_j, 0))
                + pow(elem(x_i, 2) - elem(y_j, 2), 3)
                + powf(elem(x_i, 0) + 1, elem(y_j, 1) + elem(x_i, 1))
                + atan(dot(x_i, y_j))
                + atan2(elem(x_i, 1), elem(y_j, 2) - elem(x_i, 0))
                + xlogx(norm(x_i))
                + sinxdivx(elem(x_i, 2) + 0.3)
                + exp(-sqdist(x_i, y_j)) / (1 + elem(x_i, 0))
        ))
        .x_i(v3(x))
        .y_j(v3(&y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let g = kernel!(e_i: 1, x_i: 3, y_j: 3 => sum_j(grad(
        log(1 + square(sum(x_i * y_j))) + sqrt(sqnorm(x_i) + 1) * rsqrt(sqnorm(y_j) + 1)
            + inv(1 + abs(elem(x_i, 0) - elem(y_j, 1)))
            + sin(elem(x_i, 1)) * cos(elem(y_j, 0))
            + pow(elem(x_i, 2) - elem(y_j, 2), 3)
            + powf(elem(x_i, 0) + 1, elem(y_j, 1) + elem(x_i, 1))
            + atan(dot(x_i, y_j))
            + atan2(elem(x_i, 1), elem(y_j, 2) - elem(x_i, 0))
            + xlogx(norm(x_i))
            + sinxdivx(elem(x_i, 2) + 0.3)
            + exp(-sqdist(x_i, y_j)) / (1 + elem(x_i, 0)),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).bind().unwrap();
    assert_grad("elementary functions", &got.eval(), &fd(&x, &e, &fa));
    assert_host("elementary functions", &got, 1e-11);

    let fb = |x: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            sum(normalize(x_i - y_j) * y_j)
                + min(elem(x_i, 0), elem(y_j, 0))
                + max(elem(x_i, 1) * 2, elem(y_j, 2))
                + clamp(elem(x_i, 2) - elem(y_j, 0), -0.2, 0.2)
                + clampint(elem(x_i, 2) * 3 - 1, 0, 1)
                + ifelse(elem(x_i, 0) - elem(y_j, 1), square(elem(x_i, 1)), exp(elem(x_i, 2)))
                + relu(elem(x_i, 1) - elem(y_j, 1))
                + asin(elem(x_i, 0) / 3)
                + acos(elem(x_i, 1) / 3)
                + dot(concat(x_i, elem(y_j, 0)), concat(y_j, elem(x_i, 2)))
        ))
        .x_i(v3(x))
        .y_j(v3(&y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3, e_i: 1 => sum_j(grad(
        sum(normalize(x_i - y_j) * y_j)
            + min(elem(x_i, 0), elem(y_j, 0))
            + max(elem(x_i, 1) * 2, elem(y_j, 2))
            + clamp(elem(x_i, 2) - elem(y_j, 0), -0.2, 0.2)
            + clampint(elem(x_i, 2) * 3 - 1, 0, 1)
            + ifelse(elem(x_i, 0) - elem(y_j, 1), square(elem(x_i, 1)), exp(elem(x_i, 2)))
            + relu(elem(x_i, 1) - elem(y_j, 1))
            + asin(elem(x_i, 0) / 3)
            + acos(elem(x_i, 1) / 3)
            + dot(concat(x_i, elem(y_j, 0)), concat(y_j, elem(x_i, 2))),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).bind().unwrap();
    assert_grad(
        "piecewise and vector operations",
        &got.eval(),
        &fd(&x, &e, &fb),
    );
    assert_host("piecewise and vector operations", &got, 1e-11);
}

/// Operations with jumps (finite differences across a jump are meaningless): `modulo` has slope
/// 1 in its argument, `sign`, `step`, `floor`, `round` and the comparisons slope 0; checked
/// against the closed form `3 * M * e_i` for the first entry of `x_i`, 0 for the others.
#[test]
fn piecewise_constant_rules() {
    let mut r = Rng::named("jumps", 6);
    let x = r.vec(N * 3, 0.0, 1.0);
    let y = r.vec(M * 3, 0.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let g = kernel!(x_i: 3, e_i: 1, y_j: 3 => sum_j(grad(
        modulo(elem(x_i, 0) * 3 + elem(y_j, 2), 0.7)
            + sign(elem(x_i, 1) - 0.5) * step(elem(y_j, 1) - 0.5) * floor(elem(x_i, 2) * 4)
            + round(elem(x_i, 1), 1) + (elem(x_i, 2) < elem(y_j, 0)),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    let want: Vec<f64> = (0..N * 3)
        .map(|k| {
            if k % 3 == 0 {
                3.0 * M as f64 * e[k / 3]
            } else {
                0.0
            }
        })
        .collect();
    let scale = vec![3.0 * M as f64; N * 3];
    check_close(&got, &want, &scale, 1e-12).unwrap();
}

/// A gradient is a formula, so it differentiates again: the gradient of the sum of the entries
/// of a gradient (a Laplacian-like second derivative).
#[test]
fn second_derivative() {
    let mut r = Rng::named("second", 4);
    let x = r.vec(N * 3, 0.0, 1.0);
    let y = r.vec(M * 3, 0.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let first = |x: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(sum(grad(
            exp(-sqdist(x_i, y_j)) * sin(elem(x_i, 0)),
            x_i,
            1
        ))))
        .x_i(v3(x))
        .y_j(v3(&y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let g = kernel!(e_i: 1, x_i: 3, y_j: 3 => sum_j(grad(
        sum(grad(exp(-sqdist(x_i, y_j)) * sin(elem(x_i, 0)), x_i, 1)),
        x_i,
        e_i
    )));
    let got = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    assert_grad("second derivative", &got, &fd(&x, &e, &first));
}

/// f32 gradients agree with f64 ones at sizes that are not multiples of the tiles.
#[test]
fn f32_matches_f64() {
    let mut r = Rng::named("f32", 5);
    let (n, m) = (300, 1037);
    let x = r.vec(n * 3, 0.0, 1.0);
    let y = r.vec(m * 3, 0.0, 1.0);
    let e = r.vec(n, -1.0, 1.0);
    let s = 0.5;
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let (x32, y32, e32) = (f32s(&x), f32s(&y), f32s(&e));
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), y_j, e_i));
    let want = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    let got = g
        .x_i(View::new(&x32, 3).unwrap())
        .y_j(View::new(&y32, 3).unwrap())
        .e_i(&e32)
        .bind()
        .unwrap();
    let got64: Vec<f64> = got.eval().iter().map(|&v| f64::from(v)).collect();
    let top = want.iter().fold(0f64, |a, w| a.max(w.abs()));
    let scale: Vec<f64> = want.iter().map(|w| w.abs() + 1e-2 * top).collect();
    check_close(&got64, &want, &scale, 1e-4).unwrap();
    assert_host("logsumexp_j, y_j, f32", &got, 1e-4);

    let g = kernel!(x_i: 3, y_j: 3 => grad(min_j(sqdist(x_i, y_j)), x_i, e_i));
    let want = g.x_i(v3(&x)).y_j(v3(&y)).e_i(&e).eval().unwrap();
    let got = g
        .x_i(View::new(&x32, 3).unwrap())
        .y_j(View::new(&y32, 3).unwrap())
        .e_i(&e32)
        .eval()
        .unwrap();
    let got64: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
    let top = want.iter().fold(0f64, |a, w| a.max(w.abs()));
    let scale: Vec<f64> = want.iter().map(|w| w.abs() + 1e-2 * top).collect();
    check_close(&got64, &want, &scale, 1e-4).unwrap();
}
