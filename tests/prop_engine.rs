//! Property tests of the engine (issue 15): formulas whose dimensions are known at run time only,
//! on random sizes (N, M in 1..300), dimensions (1..8) and values, against plain-loop f64
//! references computed from the same (rounded) inputs. Normwise relative error
//! `||got - want|| / ||want||` at most 1e-12 in f64 and 1e-4 in f32.
//!
//! The values come from a SplitMix64 seeded by the case (so that shrinking acts on the sizes, the
//! dimensions and the scale, not on thousands of floats). Fixed proptest seed, no failure files;
//! `PROPTEST_CASES=N` runs N cases of each property (README: Contributing).

use keops::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x656e_6769_6e65),
        failure_persistence: None,
        ..Config::default()
    }
}

/// One case: sizes, dimensions, the spread of the points and a seed for the values.
#[derive(Debug, Clone)]
struct Case {
    n: usize,
    m: usize,
    /// Dimension of the points.
    d: usize,
    /// Dimension of the weights `b_j` (of the vector `v` for a kernel matrix).
    e: usize,
    /// Points uniform in `[-scale, scale]^d`: from nearly constant kernels to nearly diagonal.
    scale: f64,
    /// The kernel matrix is `K_xx` (y = x, the symmetric path) rather than `K_xy`.
    same: bool,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..300,
        1usize..300,
        1usize..8,
        1usize..5,
        prop::sample::select(&[0.05, 0.5, 1.0, 3.0][..]),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(n, m, d, e, scale, same, seed)| Case {
            n,
            m: if same { n } else { m },
            d,
            e,
            scale,
            same,
            seed,
        })
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// `n` values uniform in `[-a, a]`, rounded to `T`.
    fn reals<T: Real>(&mut self, n: usize, a: f64) -> Vec<T> {
        (0..n)
            .map(|_| T::from_f64(a * (2.0 * self.unit() - 1.0)))
            .collect()
    }
}

/// The data of a case in precision `T`: points x (n, d), y (m, d), weights b (m, e), a (n, e).
struct Data<T> {
    x: Vec<T>,
    y: Vec<T>,
    b: Vec<T>,
    a: Vec<T>,
}

impl Case {
    fn data<T: Real>(&self) -> Data<T> {
        let mut rng = Rng(self.seed);
        let x = rng.reals(self.n * self.d, self.scale);
        let y = if self.same {
            x.clone()
        } else {
            rng.reals(self.m * self.d, self.scale)
        };
        Data {
            x,
            y,
            b: rng.reals(self.m * self.e, 1.0),
            a: rng.reals(self.n * self.e, 1.0),
        }
    }
}

fn f64s<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn sqdist(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// `out[r] = sum_c w(r, c) * v[c]` over rows of `rows` points and columns of `cols` points (both
/// of dimension `d`), `v` and `out` with `e` entries per row: the dense reference of a sum.
fn reference(
    rows: &[f64],
    cols: &[f64],
    d: usize,
    v: &[f64],
    e: usize,
    w: impl Fn(&[f64], &[f64]) -> f64,
) -> Vec<f64> {
    let mut out = vec![0.0; rows.len() / d * e];
    for (r, p) in rows.chunks(d).enumerate() {
        for (c, q) in cols.chunks(d).enumerate() {
            let k = w(p, q);
            for t in 0..e {
                out[r * e + t] += k * v[c * e + t];
            }
        }
    }
    out
}

/// `||got - want|| / ||want||` at most `tol`.
fn close<T: Real>(what: &str, got: &[T], want: &[f64], tol: f64) -> Result<(), TestCaseError> {
    close_to_scale(what, got, want, tol, 0.0)
}

/// `||got - want|| / max(||want||, floor)` at most `tol`: `floor` is the norm below which the
/// error is taken as absolute (a log-sum-exp may be 0 where its terms are not).
fn close_to_scale<T: Real>(
    what: &str,
    got: &[T],
    want: &[f64],
    tol: f64,
    floor: f64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{}: length", what);
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(want) {
        err += (g.to_f64() - w).powi(2);
        norm += w * w;
    }
    let rel = err.sqrt() / norm.sqrt().max(floor);
    prop_assert!(
        rel <= tol,
        "{}: relative error {:e} > {:e} (T = {})",
        what,
        rel,
        tol,
        T::NAME
    );
    Ok(())
}

fn tolerance<T: Real>() -> f64 {
    if T::NAME == "f64" {
        1e-12
    } else {
        1e-4
    }
}

/// `sum_j exp(-|x_i - y_j|^2) b_j`, `sum_i exp(-|x_i - y_j|^2) a_i` and
/// `sum_j exp(-g |x_i - y_j|) (x_i . y_j) b_j`: run-time dimensions d and e.
fn reductions<T: Real>(c: &Case) -> Result<(), TestCaseError> {
    let data = c.data::<T>();
    let (x, y, b, a) = (f64s(&data.x), f64s(&data.y), f64s(&data.b), f64s(&data.a));
    let view = |v, d| View::new(v, d).unwrap();
    let (xv, yv) = (|| view(&data.x, c.d), || view(&data.y, c.d));
    let tol = tolerance::<T>();

    let got: Rows<T> = kernel!(sum_j(exp(-sqnorm(x_i - y_j)) * b_j))
        .x_i(xv())
        .y_j(yv())
        .b_j(view(&data.b, c.e))
        .eval()
        .unwrap();
    prop_assert_eq!((got.rows(), got.dim()), (c.n, c.e));
    let want = reference(&x, &y, c.d, &b, c.e, |p, q| (-sqdist(p, q)).exp());
    close("sum_j(exp(-sqnorm(x_i - y_j)) * b_j)", &got, &want, tol)?;

    let got: Rows<T> = kernel!(sum_i(exp(-sqdist(x_i, y_j)) * a_i))
        .x_i(xv())
        .y_j(yv())
        .a_i(view(&data.a, c.e))
        .eval()
        .unwrap();
    prop_assert_eq!((got.rows(), got.dim()), (c.m, c.e));
    let want = reference(&y, &x, c.d, &a, c.e, |q, p| (-sqdist(p, q)).exp());
    close("sum_i(exp(-sqdist(x_i, y_j)) * a_i)", &got, &want, tol)?;

    let g = 0.7;
    let got: Rows<T> = kernel!(sum_j(exp(-g * norm(x_i - y_j)) * dot(x_i, y_j) * b_j))
        .x_i(xv())
        .y_j(yv())
        .b_j(view(&data.b, c.e))
        .eval()
        .unwrap();
    let want = reference(&x, &y, c.d, &b, c.e, |p, q| {
        let dot: f64 = p.iter().zip(q).map(|(u, v)| u * v).sum();
        (-g * sqdist(p, q).sqrt()).exp() * dot
    });
    close(
        "sum_j(exp(-g norm(x_i - y_j)) dot(x_i, y_j) b_j)",
        &got,
        &want,
        tol,
    )?;
    Ok(())
}

/// The Gaussian kernel matrix `exp(-|x_i - y_j|^2 / (2 s^2))` times a block `v` of e columns
/// (the symmetric path when y = x), and its `logsumexp_j`.
fn matrix<T: Real>(c: &Case) -> Result<(), TestCaseError> {
    let data = c.data::<T>();
    let (x, y, v) = (f64s(&data.x), f64s(&data.y), f64s(&data.b));
    let (xv, yv) = (
        || View::new(&data.x, c.d).unwrap(),
        || View::new(&data.y, c.d).unwrap(),
    );
    let s = 0.3 + c.scale;
    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let k = gauss.x_i(xv()).y_j(yv()).matrix().unwrap();
    prop_assert_eq!((k.nrows(), k.ncols()), (c.n, c.m));
    let got = k.matvec(View::new(&data.b, c.e).unwrap()).unwrap();
    let want = reference(&x, &y, c.d, &v, c.e, |p, q| {
        (-sqdist(p, q) / (2.0 * s * s)).exp()
    });
    close("K v", &got, &want, tolerance::<T>())?;

    let got: Rows<T> = kernel!(logsumexp_j(-sqdist(x_i, y_j) / s))
        .x_i(xv())
        .y_j(yv())
        .eval()
        .unwrap();
    let want: Vec<f64> = x
        .chunks(c.d)
        .map(|p| {
            let e: Vec<f64> = y.chunks(c.d).map(|q| -sqdist(p, q) / s).collect();
            let top = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            top + e.iter().map(|v| (v - top).exp()).sum::<f64>().ln()
        })
        .collect();
    // Its values are O(1) (log M plus the largest exponent), possibly 0 (n = m = 1, y = x):
    // an absolute error per entry below 1 counts as relative.
    let floor = (c.n as f64).sqrt();
    let what = "logsumexp_j(-sqdist(x_i, y_j) / s)";
    close_to_scale(what, &got, &want, tolerance::<T>(), floor)?;
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn reductions_match_dense_references(c in case()) {
        reductions::<f64>(&c)?;
        reductions::<f32>(&c)?;
    }

    #[test]
    fn kernel_matrices_match_dense_references(c in case()) {
        matrix::<f64>(&c)?;
        matrix::<f32>(&c)?;
    }
}

/// The comparison can fail: a reference off by one ulp-scale bump in one entry is caught.
#[test]
fn a_wrong_reference_is_caught() {
    let c = Case {
        n: 40,
        m: 30,
        d: 3,
        e: 2,
        scale: 1.0,
        same: false,
        seed: 7,
    };
    let data = c.data::<f64>();
    let got: Rows<f64> = kernel!(sum_j(exp(-sqnorm(x_i - y_j)) * b_j))
        .x_i(View::new(&data.x, c.d).unwrap())
        .y_j(View::new(&data.y, c.d).unwrap())
        .b_j(View::new(&data.b, c.e).unwrap())
        .eval()
        .unwrap();
    let mut want = reference(&data.x, &data.y, c.d, &data.b, c.e, |p, q| {
        (-sqdist(p, q)).exp()
    });
    assert!(close("exact", &got, &want, 1e-12).is_ok());
    want[17] *= 1.0 + 1e-9;
    assert!(close("perturbed", &got, &want, 1e-12).is_err());
}
