//! The generated gradient `grad(R, v, e)` of every reduction: the sum over j and over i, min and max
//! and kmin through their arg indices, log-sum-exp and soft-max.

use super::*;

#[test]
fn sum_gaussian_with_vector_weights() {
    let d = data("sum");
    let mut r = Rng::named("sum-e", 2);
    let e = r.vec(N * 2, -1.0, 1.0);
    let (x, y, b, s) = (&d.x, &d.y, &d.b, d.s);
    let fwd = |x: &[f64], y: &[f64], b: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, b_j: 2 => sum_j(exp(-sqdist(x_i, y_j) / s) * b_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let gx =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), x_i, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .bind()
            .unwrap();
    assert_eq!((gx.rows(), gx.dim()), (N, 3));
    assert_grad("sum_j, x_i", &gx.eval(), &fd(x, &e, &|z| fwd(z, y, b, s)));
    assert_host("sum_j, x_i", &gx, 1e-12);
    let gy =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), y_j, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .bind()
            .unwrap();
    assert_eq!((gy.rows(), gy.dim()), (M, 3));
    assert_grad("sum_j, y_j", &gy.eval(), &fd(y, &e, &|z| fwd(x, z, b, s)));
    assert_host("sum_j, y_j", &gy, 1e-12);
    let gb =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), b_j, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .eval()
            .unwrap();
    assert_grad("sum_j, b_j", &gb, &fd(b, &e, &|z| fwd(x, y, z, s)));
    let gs =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(sum_j(exp(-sqdist(x_i, y_j) / s) * b_j), s, e_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .e_i(v2(&e))
            .bind()
            .unwrap();
    assert_eq!(
        (gs.rows(), gs.dim()),
        (1, 1),
        "a parameter's gradient is one row"
    );
    assert_grad(
        "sum_j, s",
        &gs.eval(),
        &fd(&[s], &e, &|z| fwd(x, y, b, z[0])),
    );
    assert_host("sum_j, s", &gs, 1e-12);
}

#[test]
fn sum_over_i() {
    let d = data("sum_i");
    let mut r = Rng::named("sum_i-e", 2);
    let e = r.vec(M, -1.0, 1.0);
    let a = r.vec(N, -1.0, 1.0);
    let (x, y, s) = (&d.x, &d.y, d.s);
    let fwd = |x: &[f64], y: &[f64], a: &[f64], s: f64| {
        kernel!(a_i: 1, x_i: 3, y_j: 3 => sum_i(exp(-sqdist(x_i, y_j) / s) * a_i))
            .x_i(v3(x))
            .y_j(v3(y))
            .a_i(a)
            .eval()
            .unwrap()
            .into_vec()
    };
    let g =
        kernel!(a_i: 1, x_i: 3, y_j: 3 => grad(sum_i(exp(-sqdist(x_i, y_j) / s) * a_i), x_i, e_j));
    let gx = g.x_i(v3(x)).y_j(v3(y)).a_i(&a).e_j(&e).eval().unwrap();
    assert_grad("sum_i, x_i", &gx, &fd(x, &e, &|z| fwd(z, y, &a, s)));
    let g =
        kernel!(a_i: 1, x_i: 3, y_j: 3 => grad(sum_i(exp(-sqdist(x_i, y_j) / s) * a_i), y_j, e_j));
    let gy = g.x_i(v3(x)).y_j(v3(y)).a_i(&a).e_j(&e).bind().unwrap();
    assert_grad("sum_i, y_j", &gy.eval(), &fd(y, &e, &|z| fwd(x, z, &a, s)));
    assert_host("sum_i, y_j", &gy, 1e-12);
    let g =
        kernel!(a_i: 1, x_i: 3, y_j: 3 => grad(sum_i(exp(-sqdist(x_i, y_j) / s) * a_i), s, e_j));
    let gs = g.x_i(v3(x)).y_j(v3(y)).a_i(&a).e_j(&e).eval().unwrap();
    assert_grad("sum_i, s", &gs, &fd(&[s], &e, &|z| fwd(x, y, &a, z[0])));
}

#[test]
fn min_max_through_arg_indices() {
    let d = data("min");
    let mut r = Rng::named("min-e", 2);
    let e = r.vec(N * 2, -1.0, 1.0);
    let (x, y, b, s) = (&d.x, &d.y, &d.b, d.s);
    // F is a vector (dimension 2): each entry has its own minimizing j.
    let fmin = |x: &[f64], y: &[f64], b: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, b_j: 2 => min_j(sqdist(x_i, y_j) * s + b_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let bind = |x, y, b, e| (v3(x), v3(y), v2(b), v2(e));
    let (xv, yv, bv, ev) = bind(x, y, b, &e);
    let gx = kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_j(sqdist(x_i, y_j) * s + b_j), x_i, e_i))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .b_j(bv.clone())
        .e_i(ev.clone())
        .bind()
        .unwrap();
    assert_grad("min_j, x_i", &gx.eval(), &fd(x, &e, &|z| fmin(z, y, b, s)));
    assert_host("min_j, x_i", &gx, 1e-12);
    let gy = kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_j(sqdist(x_i, y_j) * s + b_j), y_j, e_i))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .b_j(bv.clone())
        .e_i(ev.clone())
        .bind()
        .unwrap();
    assert_grad("min_j, y_j", &gy.eval(), &fd(y, &e, &|z| fmin(x, z, b, s)));
    assert_host("min_j, y_j", &gy, 1e-12);
    let gb =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_argmin_j(sqdist(x_i, y_j) * s + b_j), b_j, e_i))
            .x_i(xv.clone())
            .y_j(yv.clone())
            .b_j(bv.clone())
            .e_i(ev.clone())
            .eval()
            .unwrap();
    assert_grad("min_argmin_j, b_j", &gb, &fd(b, &e, &|z| fmin(x, y, z, s)));
    let gs = kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(min_j(sqdist(x_i, y_j) * s + b_j), s, e_i))
        .x_i(xv.clone())
        .y_j(yv.clone())
        .b_j(bv.clone())
        .e_i(ev.clone())
        .eval()
        .unwrap();
    assert_grad("min_j, s", &gs, &fd(&[s], &e, &|z| fmin(x, y, b, z[0])));

    let fmax = |x: &[f64], y: &[f64]| {
        kernel!(x_i: 3, y_j: 3, b_j: 2 => max_j(-sqdist(x_i, y_j) * b_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let gy =
        kernel!(x_i: 3, y_j: 3, b_j: 2 => grad(max_argmax_j(-sqdist(x_i, y_j) * b_j), y_j, e_i))
            .x_i(xv.clone())
            .y_j(yv.clone())
            .b_j(bv.clone())
            .e_i(ev.clone())
            .bind()
            .unwrap();
    assert_grad("max_argmax_j, y_j", &gy.eval(), &fd(y, &e, &|z| fmax(x, z)));
    assert_host("max_argmax_j, y_j", &gy, 1e-12);
}

#[test]
fn kmin_through_arg_indices() {
    let d = data("kmin");
    let mut r = Rng::named("kmin-e", 2);
    let (x, y, b) = (&d.x, &d.y, &d.b);
    // Vector F (dimension 2), K = 3: the cotangent has K * 2 entries per row, rank-major.
    let e = r.vec(N * 6, -1.0, 1.0);
    let fk = |x: &[f64], y: &[f64], b: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => kmin_j(sqdist(x_i, y_j) * b_j, 3))
            .x_i(v3(x))
            .y_j(v3(y))
            .b_j(v2(b))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_j(sqdist(x_i, y_j) * b_j, 3), x_i, e_i));
    let gx = g
        .x_i(v3(x))
        .y_j(v3(y))
        .b_j(v2(b))
        .e_i(View::new(&e, 6).unwrap());
    let gx = gx.bind().unwrap();
    assert_grad("kmin_j, x_i", &gx.eval(), &fd(x, &e, &|z| fk(z, y, b)));
    assert_host("kmin_j, x_i", &gx, 1e-12);
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_argkmin_j(sqdist(x_i, y_j) * b_j, 3), y_j, e_i));
    let gy = g
        .x_i(v3(x))
        .y_j(v3(y))
        .b_j(v2(b))
        .e_i(View::new(&e, 6).unwrap());
    let gy = gy.bind().unwrap();
    assert_grad(
        "kmin_argkmin_j, y_j",
        &gy.eval(),
        &fd(y, &e, &|z| fk(x, z, b)),
    );
    assert_host("kmin_argkmin_j, y_j", &gy, 1e-12);
    // A cotangent without K times F's dimension is a typed error, not an out-of-bounds read.
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_j(sqdist(x_i, y_j) * b_j, 3), x_i, e_i));
    let bad = g
        .x_i(v3(x))
        .y_j(v3(y))
        .b_j(v2(b))
        .e_i(View::new(&e[..N * 4], 4).unwrap())
        .eval();
    assert!(
        matches!(bad, Err(KeopsError::DimensionMismatch { .. })),
        "{bad:?}"
    );
    // Scalar F, K = 4.
    let e4 = r.vec(M * 4, -1.0, 1.0);
    let fk = |x: &[f64], y: &[f64]| {
        kernel!(x_i: 3, y_j: 3 => kmin_i(sqdist(x_i, y_j), 4))
            .x_i(v3(x))
            .y_j(v3(y))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3 => grad(kmin_i(sqdist(x_i, y_j), 4), x_i, e_j));
    let gx = g.x_i(v3(x)).y_j(v3(y)).e_j(View::new(&e4, 4).unwrap());
    assert_grad(
        "kmin_i, x_i",
        &gx.eval().unwrap(),
        &fd(x, &e4, &|z| fk(z, y)),
    );
}

#[test]
fn logsumexp_and_softmax() {
    let d = data("lse");
    let mut r = Rng::named("lse-e", 2);
    let (x, y, b, s) = (&d.x, &d.y, &d.b, d.s);
    let e1 = r.vec(N, -1.0, 1.0);
    let e2 = r.vec(N * 2, -1.0, 1.0);
    let lse = |x: &[f64], y: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3 => logsumexp_j(-sqdist(x_i, y_j) / s))
            .x_i(v3(x))
            .y_j(v3(y))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), x_i, e_i));
    let gx = g.x_i(v3(x)).y_j(v3(y)).e_i(&e1).bind().unwrap();
    assert_grad(
        "logsumexp_j, x_i",
        &gx.eval(),
        &fd(x, &e1, &|z| lse(z, y, s)),
    );
    assert_host("logsumexp_j, x_i", &gx, 1e-12);
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), y_j, e_i));
    let gy = g.x_i(v3(x)).y_j(v3(y)).e_i(&e1).eval().unwrap();
    assert_grad("logsumexp_j, y_j", &gy, &fd(y, &e1, &|z| lse(x, z, s)));
    let g = kernel!(x_i: 3, y_j: 3 => grad(logsumexp_j(-sqdist(x_i, y_j) / s), s, e_i));
    let gs = g.x_i(v3(x)).y_j(v3(y)).e_i(&e1).eval().unwrap();
    assert_grad("logsumexp_j, s", &gs, &fd(&[s], &e1, &|z| lse(x, y, z[0])));

    // With a vector weight: log sum_j exp(F) w_j, entry by entry.
    let lsew = |x: &[f64], y: &[f64], w: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, w_j: 2 => logsumexp_j(-sqdist(x_i, y_j) / s, w_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .w_j(v2(w))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g =
        kernel!(x_i: 3, y_j: 3, w_j: 2 => grad(logsumexp_j(-sqdist(x_i, y_j) / s, w_j), y_j, e_i));
    let gy = g
        .x_i(v3(x))
        .y_j(v3(y))
        .w_j(v2(b))
        .e_i(v2(&e2))
        .bind()
        .unwrap();
    assert_grad(
        "logsumexp_j(F, w), y_j",
        &gy.eval(),
        &fd(y, &e2, &|z| lsew(x, z, b, s)),
    );
    assert_host("logsumexp_j(F, w), y_j", &gy, 1e-12);
    let g =
        kernel!(x_i: 3, y_j: 3, w_j: 2 => grad(logsumexp_j(-sqdist(x_i, y_j) / s, w_j), w_j, e_i));
    let gw = g
        .x_i(v3(x))
        .y_j(v3(y))
        .w_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "logsumexp_j(F, w), w_j",
        &gw,
        &fd(b, &e2, &|z| lsew(x, y, z, s)),
    );
    let g =
        kernel!(x_i: 3, y_j: 3, w_j: 2 => grad(logsumexp_j(-sqdist(x_i, y_j) / s, w_j), x_i, e_i));
    let gx = g
        .x_i(v3(x))
        .y_j(v3(y))
        .w_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "logsumexp_j(F, w), x_i",
        &gx,
        &fd(x, &e2, &|z| lsew(z, y, b, s)),
    );

    let ssw = |x: &[f64], y: &[f64], v: &[f64], s: f64| {
        kernel!(x_i: 3, y_j: 3, v_j: 2 => sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j))
            .x_i(v3(x))
            .y_j(v3(y))
            .v_j(v2(v))
            .eval()
            .unwrap()
            .into_vec()
    };
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(
        sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j),
        x_i,
        e_i
    ));
    let gx = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .bind()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, x_i",
        &gx.eval(),
        &fd(x, &e2, &|z| ssw(z, y, b, s)),
    );
    assert_host("sumsoftmaxweight_j, x_i", &gx, 1e-12);
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(
        sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j),
        y_j,
        e_i
    ));
    let gy = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, y_j",
        &gy,
        &fd(y, &e2, &|z| ssw(x, z, b, s)),
    );
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(
        sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j),
        v_j,
        e_i
    ));
    let gv = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, v_j",
        &gv,
        &fd(b, &e2, &|z| ssw(x, y, z, s)),
    );
    let g = kernel!(x_i: 3, y_j: 3, v_j: 2 => grad(sumsoftmaxweight_j(-sqdist(x_i, y_j) / s, v_j), s, e_i));
    let gs = g
        .x_i(v3(x))
        .y_j(v3(y))
        .v_j(v2(b))
        .e_i(v2(&e2))
        .eval()
        .unwrap();
    assert_grad(
        "sumsoftmaxweight_j, s",
        &gs,
        &fd(&[s], &e2, &|z| ssw(x, y, b, z[0])),
    );
}
