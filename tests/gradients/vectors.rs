//! Tensor and vector operations' rules, concatenations of run-time dimensions, and a Laplacian
//! built from `grad` and `onehot`.

use super::*;

/// The tensor operations and weighted norms: their gradients are contractions too.
#[test]
fn tensor_operation_rules() {
    let mut r = Rng::named("tensor", 7);
    let x = r.vec(N * 3, -1.0, 1.0);
    let y = r.vec(M * 3, -1.0, 1.0);
    let a = r.vec(M * 6, -1.0, 1.0);
    let b = r.vec(M * 6, -1.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let w: [f64; 9] = [2.0, 0.3, 0.1, 0.3, 1.5, -0.2, 0.1, -0.2, 1.0];
    let d: [f64; 3] = [0.5, 1.0, 2.0];
    let s = 0.7;
    let fwd = |x: &[f64], a: &[f64]| {
        kernel!(x_i: 3, y_j: 3, a_j: 6, b_j: 6, w: 9, d: 3 => sum_j(
            dot(matvec(a_j, x_i), vecmat(x_i, b_j))
                + sum(square(tensorprod(x_i, y_j))) * 0.1
                + weightedsqnorm(w, x_i - y_j)
                + weightedsqdist(s, x_i, y_j)
                + weightedsqdist(d, x_i, y_j)
                + sum(kron(x_i, y_j, [3], [3]) * tensorprod(y_j, x_i))
                + sum(tensordot(tensorprod(x_i, y_j), a_j, [3, 3], [2, 3], [1], [1]))
        ))
        .x_i(v3(x))
        .y_j(v3(&y))
        .a_j(View::new(a, 6).unwrap())
        .b_j(View::new(&b, 6).unwrap())
        .eval()
        .unwrap()
        .into_vec()
    };
    let gx = kernel!(x_i: 3, y_j: 3, a_j: 6, b_j: 6, w: 9, d: 3 => grad(sum_j(
        dot(matvec(a_j, x_i), vecmat(x_i, b_j))
            + sum(square(tensorprod(x_i, y_j))) * 0.1
            + weightedsqnorm(w, x_i - y_j)
            + weightedsqdist(s, x_i, y_j)
            + weightedsqdist(d, x_i, y_j)
            + sum(kron(x_i, y_j, [3], [3]) * tensorprod(y_j, x_i))
            + sum(tensordot(tensorprod(x_i, y_j), a_j, [3, 3], [2, 3], [1], [1]))
    ), x_i, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .a_j(View::new(&a, 6).unwrap())
    .b_j(View::new(&b, 6).unwrap())
    .e_i(&e)
    .bind()
    .unwrap();
    assert_grad(
        "tensor operations, x_i",
        &gx.eval(),
        &fd(&x, &e, &|z| fwd(z, &a)),
    );
    assert_host("tensor operations, x_i", &gx, 1e-11);
    let ga = kernel!(x_i: 3, y_j: 3, a_j: 6, b_j: 6, w: 9, d: 3 => grad(sum_j(
        dot(matvec(a_j, x_i), vecmat(x_i, b_j))
            + sum(square(tensorprod(x_i, y_j))) * 0.1
            + weightedsqnorm(w, x_i - y_j)
            + weightedsqdist(s, x_i, y_j)
            + weightedsqdist(d, x_i, y_j)
            + sum(kron(x_i, y_j, [3], [3]) * tensorprod(y_j, x_i))
            + sum(tensordot(tensorprod(x_i, y_j), a_j, [3, 3], [2, 3], [1], [1]))
    ), a_j, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .a_j(View::new(&a, 6).unwrap())
    .b_j(View::new(&b, 6).unwrap())
    .e_i(&e)
    .eval()
    .unwrap();
    assert_grad("tensor operations, a_j", &ga, &fd(&a, &e, &|z| fwd(&x, z)));
}

/// The operations over a vector's entries: `min(f)`/`max(f)` send the adjoint to the chosen entry
/// (a one-hot of its arg), `extract`/`extract_t`/`elem_t` to the entries they move, `onehot`,
/// `argmin` and `zero` nowhere.
#[test]
fn vector_operation_rules() {
    let mut r = Rng::named("vector", 8);
    let x = r.vec(N * 3, -1.0, 1.0);
    let y = r.vec(M * 3, -1.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let fwd = |x: &[f64], y: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => sum_j(
            min(x_i * y_j) + max(x_i - y_j) * 2
                + sum(extract(concat(x_i, y_j), 2, 3) * y_j)
                + dot(extract_t(x_i, 1, 5), extract_t(y_j * y_j, 0, 5))
                + sum(elem_t(elem(x_i, 0), 4, 2) * extract(concat(x_i, y_j), 1, 4))
                + sum(zero(3) + x_i * elem(y_j, 1))
                + sum(onehot(elem(y_j, 0) * 2 + 1, 3) * x_i)
                + argmin(x_i + y_j) * elem(x_i, 2)
        ))
        .x_i(v3(x))
        .y_j(v3(y))
        .eval()
        .unwrap()
        .into_vec()
    };
    let gx = kernel!(x_i: 3, y_j: 3 => grad(sum_j(
        min(x_i * y_j) + max(x_i - y_j) * 2
            + sum(extract(concat(x_i, y_j), 2, 3) * y_j)
            + dot(extract_t(x_i, 1, 5), extract_t(y_j * y_j, 0, 5))
            + sum(elem_t(elem(x_i, 0), 4, 2) * extract(concat(x_i, y_j), 1, 4))
            + sum(zero(3) + x_i * elem(y_j, 1))
            + sum(onehot(elem(y_j, 0) * 2 + 1, 3) * x_i)
            + argmin(x_i + y_j) * elem(x_i, 2)
    ), x_i, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .e_i(&e)
    .bind()
    .unwrap();
    assert_grad(
        "vector operations, x_i",
        &gx.eval(),
        &fd(&x, &e, &|z| fwd(z, &y)),
    );
    assert_host("vector operations, x_i", &gx, 1e-11);
    let gy = kernel!(x_i: 3, y_j: 3 => grad(sum_j(
        min(x_i * y_j) + max(x_i - y_j) * 2
            + sum(extract(concat(x_i, y_j), 2, 3) * y_j)
            + dot(extract_t(x_i, 1, 5), extract_t(y_j * y_j, 0, 5))
            + sum(elem_t(elem(x_i, 0), 4, 2) * extract(concat(x_i, y_j), 1, 4))
            + sum(zero(3) + x_i * elem(y_j, 1))
            + sum(onehot(elem(y_j, 0) * 2 + 1, 3) * x_i)
            + argmin(x_i + y_j) * elem(x_i, 2)
    ), y_j, e_i))
    .x_i(v3(&x))
    .y_j(v3(&y))
    .e_i(&e)
    .bind()
    .unwrap();
    assert_grad(
        "vector operations, y_j",
        &gy.eval(),
        &fd(&y, &e, &|z| fwd(&x, z)),
    );
    assert_host("vector operations, y_j", &gy, 1e-11);
}

/// Concatenations of run-time dimensions send each part its slice of the adjoint (the second
/// part's from the end: `Tail`).
#[test]
fn concat_of_runtime_dimensions() {
    let mut r = Rng::named("concat", 9);
    let x = r.vec(N * 3, -1.0, 1.0);
    let b = r.vec(M * 2, -1.0, 1.0);
    let c = r.vec(M * 5, -1.0, 1.0);
    let e = r.vec(N, -1.0, 1.0);
    let fwd = |x: &[f64]| {
        kernel!(sum_j(exp(-sqnorm(concat(x_i, b_j) - c_j))))
            .x_i(v3(x))
            .b_j(v2(&b))
            .c_j(View::new(&c, 5).unwrap())
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(grad(sum_j(exp(-sqnorm(concat(x_i, b_j) - c_j))), x_i, e_i))
        .x_i(v3(&x))
        .b_j(v2(&b))
        .c_j(View::new(&c, 5).unwrap())
        .e_i(&e)
        .bind()
        .unwrap();
    assert_grad("concat, x_i", &g.eval(), &fd(&x, &e, &fwd));
    assert_host("concat, x_i", &g, 1e-12);
}

/// KeOps' Divergence and Laplacian written with `grad`, `onehot` and `elem` (see
/// docs/keops-parity.md): the Laplacian of a Gaussian in 3D, `(4 r^2 - 6) exp(-r^2)`.
#[test]
fn laplacian_from_grad_and_onehot() {
    let mut r = Rng::named("laplacian", 10);
    let x = r.vec(N * 3, 0.0, 1.0);
    let y = r.vec(M * 3, 0.0, 1.0);
    let lap = kernel!(x_i: 3, y_j: 3 =>
        let g = grad(exp(-sqdist(x_i, y_j)), x_i, 1);
        sum_j(
            elem(grad(g, x_i, onehot(0, 3)), 0)
                + elem(grad(g, x_i, onehot(1, 3)), 1)
                + elem(grad(g, x_i, onehot(2, 3)), 2)
        )
    );
    let got = lap.x_i(v3(&x)).y_j(v3(&y)).eval().unwrap();
    let (mut want, mut scale) = (vec![0.0; N], vec![0.0; N]);
    for i in 0..N {
        for j in 0..M {
            let r2: f64 = (0..3).map(|k| (x[i * 3 + k] - y[j * 3 + k]).powi(2)).sum();
            let t = (4.0 * r2 - 6.0) * (-r2).exp();
            want[i] += t;
            scale[i] += t.abs();
        }
    }
    check_close(&got, &want, &scale, 1e-13).unwrap();
}
