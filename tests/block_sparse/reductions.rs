//! Every reduction kind with ranges, over j and over i, against masked dense references.

use super::*;
use common::assert_close;

/// Sizes (i rows, j rows): not multiples of the 64-row blocks or the 256-index tiles; the last
/// has clusters across several blocks.
const SIZES: &[(usize, usize)] = &[(13, 7), (203, 157), (700, 531)];

/// Random 2D points, `x` (n_i) and `y` (n_j) in [0, 2)^2, weights `a` (n_i) and `b` (n_j, 3).
struct Data<T> {
    x: Vec<T>,
    y: Vec<T>,
    a: Vec<T>,
    b: Vec<T>,
}

impl<T: Prec> Data<T> {
    fn new(rng: &mut Rng, n_i: usize, n_j: usize) -> Self {
        Data {
            x: rng.reals(2 * n_i, 0.0, 2.0),
            y: rng.reals(2 * n_j, 0.0, 2.0),
            a: rng.reals(n_i, -1.0, 1.0),
            b: rng.reals(3 * n_j, -1.0, 1.0),
        }
    }
    fn xv(&self) -> View<'_, T> {
        View::new(&self.x, 2).unwrap()
    }
    fn yv(&self) -> View<'_, T> {
        View::new(&self.y, 2).unwrap()
    }
    fn bv(&self) -> View<'_, T> {
        View::new(&self.b, 3).unwrap()
    }
    fn sqdist(&self, i: usize, j: usize) -> f64 {
        (0..2)
            .map(|d| (self.x[2 * i + d].to_f64() - self.y[2 * j + d].to_f64()).powi(2))
            .sum()
    }
}

/// Each layout the tests run: random masks, everything, nothing, clusters longer than a GPU block;
/// every size.
fn each_case(name: &str, mut f: impl FnMut(&str, &Layout, usize, usize, &mut Rng)) {
    for (s, &(n_i, n_j)) in SIZES.iter().enumerate() {
        let mut rng = Rng::named(name, s as u64);
        let layouts = [
            ("random 0.3", Layout::random(&mut rng, n_i, n_j, 0.3)),
            ("random 0.7", Layout::random(&mut rng, n_i, n_j, 0.7)),
            ("everything", Layout::all(&mut rng, n_i, n_j, true)),
            ("nothing", Layout::all(&mut rng, n_i, n_j, false)),
            ("long clusters", Layout::long(&mut rng, n_i, n_j, 0.5)),
        ];
        for (what, l) in &layouts {
            f(&format!("{name} {what} {n_i}x{n_j}"), l, n_i, n_j, &mut rng);
        }
    }
}

fn sums<T: Prec>() {
    let f = kernel!(x_i: 2, y_j: 2, b_j: 3 => sum_j(exp(-sqdist(x_i, y_j)) * b_j));
    let g = kernel!(x_i: 2, y_j: 2, a_i: 1 => sum_i(exp(-sqdist(x_i, y_j)) * a_i));
    each_case("sums", |what, l, n_i, n_j, rng| {
        let d = Data::<T>::new(rng, n_i, n_j);
        let keep = l.dense(n_i, n_j);
        let r = l.ranges();
        let red = (f.x_i(d.xv()).y_j(d.yv()).b_j(d.bv()))
            .ranges(&r)
            .bind()
            .unwrap();
        let (mut want, mut scale) = (vec![0.0; 3 * n_i], vec![0.0; 3 * n_i]);
        for i in 0..n_i {
            for j in (0..n_j).filter(|&j| keep[i * n_j + j]) {
                let k = (-d.sqdist(i, j)).exp();
                for e in 0..3 {
                    want[3 * i + e] += k * d.b[3 * j + e].to_f64();
                    scale[3 * i + e] += (k * d.b[3 * j + e].to_f64()).abs();
                }
            }
        }
        for (engine, got) in cuda::engines(what, &red) {
            let what = format!("{what} ({engine})");
            assert_close(&what, &wide(got.as_slice()), &want, &scale, T::TOL);
        }
        let red = (g.x_i(d.xv()).y_j(d.yv()).a_i(&d.a))
            .ranges(&r)
            .bind()
            .unwrap();
        let (mut want, mut scale) = (vec![0.0; n_j], vec![0.0; n_j]);
        for j in 0..n_j {
            for i in (0..n_i).filter(|&i| keep[i * n_j + j]) {
                let t = (-d.sqdist(i, j)).exp() * d.a[i].to_f64();
                want[j] += t;
                scale[j] += t.abs();
            }
        }
        for (engine, got) in cuda::engines(what, &red) {
            let what = format!("{what} over i ({engine})");
            assert_close(&what, &wide(got.as_slice()), &want, &scale, T::TOL);
        }
    });
}

#[test]
fn sums_f32() {
    sums::<f32>();
}

#[test]
fn sums_f64() {
    sums::<f64>();
}

/// The 3 smallest (value, index) pairs of `vals` over the kept `js`, ascending, ties in index
/// order, padded with (+inf, 0); the first one is the min and argmin.
fn smallest(js: impl Iterator<Item = (usize, f64)>, k: usize) -> Vec<(f64, usize)> {
    let mut v: Vec<(f64, usize)> = js.map(|(j, x)| (x, j)).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v.resize(k.max(v.len()), (f64::INFINITY, 0));
    v.truncate(k);
    v
}

/// Values within the selection tolerance, and each index pointing at a value within it.
fn check_selection<T: Prec>(
    what: &str,
    got: (&[T], &[usize]),
    want: &[(f64, usize)],
    f: impl Fn(usize, usize) -> f64,
    row_of: impl Fn(usize) -> usize,
) {
    for (e, (w, (g, &gi))) in want.iter().zip(got.0.iter().zip(got.1)).enumerate() {
        let g = g.to_f64();
        if w.0.is_infinite() {
            assert_eq!((g, gi), (w.0, w.1), "{what}: entry {e} of an empty row");
            continue;
        }
        let tol = T::TOL * (1.0 + w.0.abs());
        assert!(
            (g - w.0).abs() <= tol,
            "{what}: entry {e}: got {g}, want {}",
            w.0
        );
        let at = f(row_of(e), gi);
        assert!(
            (at - w.0).abs() <= tol,
            "{what}: entry {e}: index {gi} holds {at}, want {}",
            w.0
        );
    }
}

fn selections<T: Prec>() {
    let mn = kernel!(x_i: 2, y_j: 2 => min_argmin_j(sqdist(x_i, y_j)));
    let mx = kernel!(x_i: 2, y_j: 2 => max_argmax_i(sqdist(x_i, y_j)));
    let km = kernel!(x_i: 2, y_j: 2 => kmin_argkmin_j(sqdist(x_i, y_j), 3));
    each_case("selections", |what, l, n_i, n_j, rng| {
        let d = Data::<T>::new(rng, n_i, n_j);
        let keep = l.dense(n_i, n_j);
        let r = l.ranges();
        let sq = |i, j| d.sqdist(i, j);
        let keep = &keep;
        let kept_j = |i: usize| (0..n_j).filter(move |&j| keep[i * n_j + j]);
        let red = mn.x_i(d.xv()).y_j(d.yv()).ranges(&r).bind().unwrap();
        let want: Vec<_> = (0..n_i)
            .map(|i| smallest(kept_j(i).map(|j| (j, sq(i, j))), 1)[0])
            .collect();
        for (engine, (v, ix)) in cuda::engines(what, &red) {
            check_selection::<T>(
                &format!("{what} min_argmin_j ({engine})"),
                (v.as_slice(), ix.as_slice()),
                &want,
                sq,
                |e| e,
            );
        }
        let red = km.x_i(d.xv()).y_j(d.yv()).ranges(&r).bind().unwrap();
        let want: Vec<_> = (0..n_i)
            .flat_map(|i| smallest(kept_j(i).map(|j| (j, sq(i, j))), 3))
            .collect();
        for (engine, (v, ix)) in cuda::engines(what, &red) {
            check_selection::<T>(
                &format!("{what} kmin_argkmin_j ({engine})"),
                (v.as_slice(), ix.as_slice()),
                &want,
                sq,
                |e| e / 3,
            );
        }
        // The maximum over i: smallest of the negated values.
        let red = mx.x_i(d.xv()).y_j(d.yv()).ranges(&r).bind().unwrap();
        let want: Vec<_> = (0..n_j)
            .map(|j| {
                smallest(
                    (0..n_i)
                        .filter(|&i| keep[i * n_j + j])
                        .map(|i| (i, -sq(i, j))),
                    1,
                )[0]
            })
            .collect();
        for (engine, (v, ix)) in cuda::engines(what, &red) {
            let neg: Vec<T> = (v.as_slice().iter())
                .map(|x| T::from_f64(-x.to_f64()))
                .collect();
            check_selection::<T>(
                &format!("{what} max_argmax_i ({engine})"),
                (&neg, ix.as_slice()),
                &want,
                |j, i| -sq(i, j),
                |e| e,
            );
        }
    });
}

#[test]
fn selections_f32() {
    selections::<f32>();
}

#[test]
fn selections_f64() {
    selections::<f64>();
}

fn log_sum_exp<T: Prec>() {
    let lse = kernel!(x_i: 2, y_j: 2 => logsumexp_j(-sqdist(x_i, y_j)));
    let smw = kernel!(x_i: 2, y_j: 2, b_j: 3 => sumsoftmaxweight_j(-sqdist(x_i, y_j), b_j));
    let grad = kernel!(grad(logsumexp_j(-sqdist(x_i, y_j)), x_i, e_i));
    each_case("log-sum-exp", |what, l, n_i, n_j, rng| {
        let d = Data::<T>::new(rng, n_i, n_j);
        let e: Vec<T> = rng.reals(n_i, -1.0, 1.0);
        let keep = l.dense(n_i, n_j);
        let r = l.ranges();
        let keep = &keep;
        let kept_j = |i: usize| (0..n_j).filter(move |&j| keep[i * n_j + j]);
        let lse = lse.x_i(d.xv()).y_j(d.yv()).ranges(&r).bind().unwrap();
        let smw = (smw.x_i(d.xv()).y_j(d.yv()).b_j(d.bv()))
            .ranges(&r)
            .bind()
            .unwrap();
        let grad = (grad.x_i(d.xv()).y_j(d.yv()).e_i(&e))
            .ranges(&r)
            .bind()
            .unwrap();
        let each = (cuda::engines(what, &lse).into_iter())
            .zip(cuda::engines(what, &smw))
            .zip(cuda::engines(what, &grad));
        for (((engine, got_lse), (_, got_smw)), (_, got_grad)) in each {
            let what = &format!("{what} ({engine})");
            for i in 0..n_i {
                let z: f64 = kept_j(i).map(|j| (-d.sqdist(i, j)).exp()).sum();
                let g = got_lse.row(i)[0].to_f64();
                if z == 0.0 {
                    assert_eq!(g, f64::NEG_INFINITY, "{what}: empty row {i}");
                    assert!(
                        got_smw.row(i).iter().all(|v| v.to_f64().is_nan()),
                        "{what}: 0 / 0"
                    );
                    assert!(
                        got_grad.row(i).iter().all(|v| v.to_f64() == 0.0),
                        "{what}: gradient"
                    );
                    continue;
                }
                assert!(
                    (g - z.ln()).abs() <= T::TOL * (1.0 + z.ln().abs()),
                    "{what} row {i}: {g} vs {}",
                    z.ln()
                );
                let mut w = [0.0; 3];
                let mut gr = [0.0; 2];
                for j in kept_j(i) {
                    let p = (-d.sqdist(i, j)).exp() / z;
                    for c in 0..3 {
                        w[c] += p * d.b[3 * j + c].to_f64();
                    }
                    for c in 0..2 {
                        gr[c] -= 2.0
                            * p
                            * (d.x[2 * i + c].to_f64() - d.y[2 * j + c].to_f64())
                            * e[i].to_f64();
                    }
                }
                assert_close(
                    &format!("{what} soft-max row {i}"),
                    &wide(got_smw.row(i)),
                    &w,
                    &[1.0; 3],
                    T::TOL * 10.0,
                );
                assert_close(
                    &format!("{what} gradient row {i}"),
                    &wide(got_grad.row(i)),
                    &gr,
                    &[4.0; 2],
                    T::TOL * 10.0,
                );
            }
        }
    });
}

#[test]
fn log_sum_exp_f32() {
    log_sum_exp::<f32>();
}

#[test]
fn log_sum_exp_f64() {
    log_sum_exp::<f64>();
}

/// A gradient with respect to `y_j` reduces over i: the transposed direction of the ranges.
fn gradient_over_i<T: Prec>() {
    let g = kernel!(grad(sum_j(exp(-sqdist(x_i, y_j)) * b_j), y_j, e_i));
    each_case("gradient over i", |what, l, n_i, n_j, rng| {
        let d = Data::<T>::new(rng, n_i, n_j);
        let b: Vec<T> = rng.reals(n_j, -1.0, 1.0);
        let e: Vec<T> = rng.reals(n_i, -1.0, 1.0);
        let keep = l.dense(n_i, n_j);
        let red = (g.x_i(d.xv()).y_j(d.yv()).b_j(&b).e_i(&e))
            .ranges(&l.ranges())
            .bind()
            .unwrap();
        let (mut want, mut scale) = (vec![0.0; 2 * n_j], vec![0.0; 2 * n_j]);
        for j in 0..n_j {
            for i in (0..n_i).filter(|&i| keep[i * n_j + j]) {
                let k = (-d.sqdist(i, j)).exp() * b[j].to_f64() * e[i].to_f64();
                for c in 0..2 {
                    let t = 2.0 * k * (d.x[2 * i + c].to_f64() - d.y[2 * j + c].to_f64());
                    want[2 * j + c] += t;
                    scale[2 * j + c] += t.abs();
                }
            }
        }
        for (engine, got) in cuda::engines(what, &red) {
            let what = format!("{what} ({engine})");
            assert_close(&what, &wide(got.as_slice()), &want, &scale, T::TOL * 10.0);
        }
    });
}

#[test]
fn gradient_over_i_f32() {
    gradient_over_i::<f32>();
}

#[test]
fn gradient_over_i_f64() {
    gradient_over_i::<f64>();
}
