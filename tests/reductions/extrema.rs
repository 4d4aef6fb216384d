//! `min`, `max`, `argmin`, `argmax`, `min_argmin`, `max_argmax`: scalar and vector F, over j and i.

use super::*;

fn extrema_scalar<T: Prec>() {
    for &(n, m) in SIZES {
        let s = Xyab::<T>::new("extrema_scalar", n, m, 3);
        let (x, y) = (s.x(3), s.y(3));
        let (a, b) = (&s.a, &s.b);
        let what = |r: &str| format!("{r}(sqdist(x, y) + a b) at ({n}, {m})");
        let fj = scalar_f(&s, false);
        let fi = scalar_f(&s, true);
        let red = kernel!(a_i: 1, b_j: 1 => min_j(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("min_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            1,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => max_j(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("max_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            1,
            true,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argmin_j(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("argmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            1,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argmax_j(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("argmax_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            1,
            true,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => min_argmin_j(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("min_argmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            1,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => max_argmax_j(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("max_argmax_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            1,
            true,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => min_i(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("min_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            1,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => max_i(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("max_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            1,
            true,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argmin_i(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("argmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            1,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argmax_i(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("argmax_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            1,
            true,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => min_argmin_i(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("min_argmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            1,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => max_argmax_i(sqdist(x_i, y_j) + a_i * b_j));
        selection(
            &what("max_argmax_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            1,
            true,
            false,
        );
    }
    eprintln!(
        "extrema, scalar F, {}: worst |err|/scale {:.2e}",
        T::NAME,
        take_worst()
    );
}

#[test]
fn extrema_scalar_f32() {
    extrema_scalar::<f32>();
}

#[test]
fn extrema_scalar_f64() {
    extrema_scalar::<f64>();
}

/// A vector F (dimension 4) reduces entry by entry.
fn extrema_vector<T: Prec>() {
    for &(n, m) in SIZES {
        let s = Xyab::<T>::new("extrema_vector", n, m, 4);
        let (x, y, b) = (s.x(4), s.y(4), &s.b);
        let what = |r: &str| format!("{r}(x * y - b) (dimension 4) at ({n}, {m})");
        let (fj, fi) = (vector_f(&s, 4, false), vector_f(&s, 4, true));
        let red = kernel!(b_j: 1 => min_j(x_i * y_j - b_j));
        selection(
            &what("min_j"),
            red.x_i(&x).y_j(&y).b_j(b).bind().unwrap(),
            &fj,
            1,
            false,
            false,
        );
        let red = kernel!(b_j: 1 => argmax_j(x_i * y_j - b_j));
        selection(
            &what("argmax_j"),
            red.x_i(&x).y_j(&y).b_j(b).bind().unwrap(),
            &fj,
            1,
            true,
            false,
        );
        let red = kernel!(b_j: 1 => min_argmin_j(x_i * y_j - b_j));
        selection(
            &what("min_argmin_j"),
            red.x_i(&x).y_j(&y).b_j(b).bind().unwrap(),
            &fj,
            1,
            false,
            false,
        );
        let red = kernel!(b_j: 1 => max_argmax_i(x_i * y_j - b_j));
        selection(
            &what("max_argmax_i"),
            red.x_i(&x).y_j(&y).b_j(b).bind().unwrap(),
            &fi,
            1,
            true,
            false,
        );
        let red = kernel!(b_j: 1 => argmin_i(x_i * y_j - b_j));
        selection(
            &what("argmin_i"),
            red.x_i(&x).y_j(&y).b_j(b).bind().unwrap(),
            &fi,
            1,
            false,
            false,
        );
        let red = kernel!(b_j: 1 => max_i(x_i * y_j - b_j));
        selection(
            &what("max_i"),
            red.x_i(&x).y_j(&y).b_j(b).bind().unwrap(),
            &fi,
            1,
            true,
            false,
        );
    }
    eprintln!(
        "extrema, vector F, {}: worst |err|/scale {:.2e}",
        T::NAME,
        take_worst()
    );
}

#[test]
fn extrema_vector_f32() {
    extrema_vector::<f32>();
}

#[test]
fn extrema_vector_f64() {
    extrema_vector::<f64>();
}
