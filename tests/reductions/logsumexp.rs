//! Log-sum-exp (with and without a weight, near +-1000) and `sumsoftmaxweight`.

use super::*;

fn logsumexp<T: Prec>() {
    let tol = if T::NAME == "f32" { 1e-5 } else { 1e-12 };
    for &(n, m) in SIZES {
        let s = Xyab::<T>::new("logsumexp", n, m, 3);
        let (x, y) = (s.x(3), s.y(3));
        let (a, b) = (&s.a, &s.b);
        let what = |r: &str| format!("{r}(-4 sqdist(x, y) + a b) at ({n}, {m})");
        let fs = |over_i: bool| {
            let f = scalar_f(&s, over_i);
            let g = |o: usize, r: usize| {
                let (i, j) = if over_i { (r, o) } else { (o, r) };
                -4.0 * sqdist(&s.xr[i * 3..i * 3 + 3], &s.yr[j * 3..j * 3 + 3]) + s.ar[i] * s.br[j]
            };
            Dense::new(f.n_out, f.n_red, 1, |o, r, v| v[0] = g(o, r))
        };
        let (fj, fi) = (fs(false), fs(true));
        let red = kernel!(a_i: 1, b_j: 1 => logsumexp_j(-4 * sqdist(x_i, y_j) + a_i * b_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        values(
            &what("logsumexp_j"),
            r,
            &shifted_exp_ref(&fj, None, false),
            &scale_of(&fj, 1),
            tol,
        );
        let red = kernel!(a_i: 1, b_j: 1 => logsumexp_i(-4 * sqdist(x_i, y_j) + a_i * b_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        values(
            &what("logsumexp_i"),
            r,
            &shifted_exp_ref(&fi, None, false),
            &scale_of(&fi, 1),
            tol,
        );

        // With a weight: W = (1 + y_j^2 entrywise)[..2]: a vector of dimension 3, positive.
        let wj = Dense::new(n, m, 3, |_, r, v| {
            for k in 0..3 {
                v[k] = 1.0 + s.yr[r * 3 + k] * s.yr[r * 3 + k];
            }
        });
        let wi = Dense::new(m, n, 3, |o, _, v| {
            for k in 0..3 {
                v[k] = 1.0 + s.yr[o * 3 + k] * s.yr[o * 3 + k];
            }
        });
        let red = kernel!(a_i: 1, b_j: 1 => logsumexp_j(-4 * sqdist(x_i, y_j) + a_i * b_j, 1 + y_j * y_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        assert_eq!(r.dim(), 3);
        let what_w = |r: &str| format!("{r}(-4 sqdist(x, y) + a b, 1 + y * y) at ({n}, {m})");
        values(
            &what_w("logsumexp_j"),
            r,
            &shifted_exp_ref(&fj, Some(&wj), false),
            &scale_of(&fj, 3),
            tol,
        );
        let red = kernel!(a_i: 1, b_j: 1 => logsumexp_i(-4 * sqdist(x_i, y_j) + a_i * b_j, 1 + y_j * y_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        values(
            &what_w("logsumexp_i"),
            r,
            &shifted_exp_ref(&fi, Some(&wi), false),
            &scale_of(&fi, 3),
            tol,
        );
    }
    eprintln!(
        "log-sum-exp, {}: worst |err|/scale {:.2e}",
        T::NAME,
        take_worst()
    );
}

#[test]
fn logsumexp_f32() {
    logsumexp::<f32>();
}

#[test]
fn logsumexp_f64() {
    logsumexp::<f64>();
}

/// Arguments near +1000 and -1000: exp overflows (to infinity in f32 at 89, in f64 at 710) or
/// underflows to 0, so a naive log(sum exp) gives inf or -inf; the shifted form stays within the
/// rounding of F itself (near 1000 an f32 is within 3e-5).
fn logsumexp_far<T: Prec>() {
    let tol = if T::NAME == "f32" { 3e-7 } else { 1e-14 };
    for c in [1000.0f64, -1000.0] {
        for &(n, m) in SIZES {
            let mut rng = Rng::named("logsumexp_far", (n + m) as u64);
            let (x, xr) = data::<T>(&mut rng, n, -3.0, 3.0);
            let (y, yr) = data::<T>(&mut rng, m, -3.0, 3.0);
            let naive: f64 = (0..m)
                .map(|j| (T::from_f64(c + xr[0] * yr[j])).to_f64().exp())
                .sum();
            if T::NAME == "f32" {
                let naive32: f32 = (0..m)
                    .map(|j| ((c as f32) + x[0].to_f64() as f32 * yr[j] as f32).exp())
                    .sum();
                assert!(
                    !naive32.ln().is_finite() || naive32 == 0.0,
                    "the naive f32 form does not overflow"
                );
            } else {
                assert!(
                    naive == 0.0 || !naive.is_finite(),
                    "the naive f64 form does not overflow"
                );
            }
            let f = Dense::new(n, m, 1, |o, r, v| v[0] = c + xr[o] * yr[r]);
            let want = shifted_exp_ref(&f, None, false);
            let scale: Vec<f64> = want.iter().map(|w| w.abs()).collect();
            let red = kernel!(x_i: 1, y_j: 1 => logsumexp_j(c + x_i * y_j));
            let r = red.x_i(&x).y_j(&y).bind().unwrap();
            values(
                &format!("logsumexp_j({c} + x y) at ({n}, {m})"),
                r,
                &want,
                &scale,
                tol,
            );
        }
    }
    eprintln!(
        "log-sum-exp near +-1000, {}: worst |err|/|want| {:.2e}",
        T::NAME,
        take_worst()
    );
}

#[test]
fn logsumexp_near_1000_f32() {
    logsumexp_far::<f32>();
}

#[test]
fn logsumexp_near_1000_f64() {
    logsumexp_far::<f64>();
}

fn softmax<T: Prec>() {
    let tol = if T::NAME == "f32" { 1e-5 } else { 1e-12 };
    for &(n, m) in SIZES {
        let s = Xyab::<T>::new("softmax", n, m, 3);
        let (x, y) = (s.x(3), s.y(3));
        let b = &s.b;
        // F = -8 sqdist(x_i, y_j) * (1 + b_j^2) spans [-200, 0]: exp of its raw values underflows
        // in f32 where the shifted weights do not.
        let f = |i: usize, j: usize| {
            -8.0 * sqdist(&s.xr[i * 3..i * 3 + 3], &s.yr[j * 3..j * 3 + 3])
                * (1.0 + s.br[j] * s.br[j])
        };
        let fj = Dense::new(n, m, 1, |o, r, v| v[0] = f(o, r));
        let fi = Dense::new(m, n, 1, |o, r, v| v[0] = f(r, o));
        let vj = Dense::new(n, m, 3, |_, r, v| {
            v.copy_from_slice(&s.yr[r * 3..r * 3 + 3])
        });
        let vi = Dense::new(m, n, 3, |_, r, v| {
            v.copy_from_slice(&s.xr[r * 3..r * 3 + 3])
        });
        let scale = |f: &Dense| -> Vec<f64> { scale_of(f, 3) };
        let red =
            kernel!(b_j: 1 => sumsoftmaxweight_j(-8 * sqdist(x_i, y_j) * (1 + b_j * b_j), y_j));
        let r = red.x_i(&x).y_j(&y).b_j(b).bind().unwrap();
        values(
            &format!("sumsoftmaxweight_j at ({n}, {m})"),
            r,
            &shifted_exp_ref(&fj, Some(&vj), true),
            &scale(&fj),
            tol,
        );
        let red =
            kernel!(b_j: 1 => sumsoftmaxweight_i(-8 * sqdist(x_i, y_j) * (1 + b_j * b_j), x_i));
        let r = red.x_i(&x).y_j(&y).b_j(b).bind().unwrap();
        values(
            &format!("sumsoftmaxweight_i at ({n}, {m})"),
            r,
            &shifted_exp_ref(&fi, Some(&vi), true),
            &scale(&fi),
            tol,
        );
        // Values that do not depend on the reduction index (computed once per output row): the
        // weights sum to 1, so the result is x_i itself; with a logsumexp weight, the log of the
        // weight adds to each entry.
        let red =
            kernel!(b_j: 1 => sumsoftmaxweight_j(-8 * sqdist(x_i, y_j) * (1 + b_j * b_j), x_i));
        let r = red.x_i(&x).y_j(&y).b_j(b).bind().unwrap();
        let xo = Dense::new(n, m, 3, |o, _, v| {
            v.copy_from_slice(&s.xr[o * 3..o * 3 + 3])
        });
        values(
            &format!("sumsoftmaxweight_j(.., x_i) at ({n}, {m})"),
            r,
            &shifted_exp_ref(&fj, Some(&xo), true),
            &scale(&fj),
            tol,
        );
        let red = kernel!(b_j: 1 => logsumexp_j(-8 * sqdist(x_i, y_j) * (1 + b_j * b_j), 2 + x_i));
        let r = red.x_i(&x).y_j(&y).b_j(b).bind().unwrap();
        let xo2 = Dense::new(n, m, 3, |o, _, v| {
            for k in 0..3 {
                v[k] = 2.0 + s.xr[o * 3 + k];
            }
        });
        values(
            &format!("logsumexp_j(.., 2 + x_i) at ({n}, {m})"),
            r,
            &shifted_exp_ref(&fj, Some(&xo2), false),
            &scale(&fj),
            tol,
        );
    }
    eprintln!(
        "soft-max weighted sums, {}: worst |err|/scale {:.2e}",
        T::NAME,
        take_worst()
    );
}

#[test]
fn sumsoftmaxweight_f32() {
    softmax::<f32>();
}

#[test]
fn sumsoftmaxweight_f64() {
    softmax::<f64>();
}
