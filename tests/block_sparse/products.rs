//! Kernel matrices with ranges: products (SIMD and scalar engines, the CUDA kernels under host
//! emulation; one and several columns, the symmetric pair-once product), columns and the diagonal,
//! and the solver with every preconditioner against a dense Cholesky solve of the truncated matrix.

use nalgebra::{DMatrix, DVector};

use super::*;
use common::assert_close;

/// The masked dense product `(K .* mask) v` in f64 and its scale (sums of |terms|), `v` of `nv`
/// columns.
fn reference(
    kij: impl Fn(usize, usize) -> f64,
    keep: &[bool],
    (n_i, n_j): (usize, usize),
    v: &[f64],
    nv: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut want, mut scale) = (vec![0.0; n_i * nv], vec![0.0; n_i * nv]);
    for i in 0..n_i {
        for j in (0..n_j).filter(|&j| keep[i * n_j + j]) {
            let k = kij(i, j);
            for c in 0..nv {
                want[i * nv + c] += k * v[j * nv + c];
                scale[i * nv + c] += (k * v[j * nv + c]).abs();
            }
        }
    }
    (want, scale)
}

fn gauss(x: &[f64], y: &[f64], dim: usize, i: usize, j: usize, s: f64) -> f64 {
    let d2: f64 = (0..dim)
        .map(|d| (x[i * dim + d] - y[j * dim + d]).powi(2))
        .sum();
    (-d2 / (2.0 * s * s)).exp()
}

fn products<T: Prec>() {
    let s = 0.3;
    let k = kernel!(x_i: 2, y_j: 2 => exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    for (seed, &(n_i, n_j)) in [(203usize, 157usize), (700, 531), (1000, 1000)]
        .iter()
        .enumerate()
    {
        let mut rng = Rng::named("products", seed as u64);
        let x: Vec<T> = rng.reals(2 * n_i, 0.0, 2.0);
        let y: Vec<T> = rng.reals(2 * n_j, 0.0, 2.0);
        let (xw, yw) = (wide(&x), wide(&y));
        let layouts = [
            ("random", Layout::random(&mut rng, n_i, n_j, 0.4)),
            ("everything", Layout::all(&mut rng, n_i, n_j, true)),
            ("nothing", Layout::all(&mut rng, n_i, n_j, false)),
            ("long clusters", Layout::long(&mut rng, n_i, n_j, 0.5)),
        ];
        for (what, l) in &layouts {
            let keep = l.dense(n_i, n_j);
            let m = k
                .x_i(View::new(&x, 2).unwrap())
                .y_j(View::new(&y, 2).unwrap())
                .matrix()
                .unwrap();
            let m = m.ranges(&l.ranges()).unwrap();
            // 9 columns: two launches of the matvec kernels (8 columns, then 1).
            for nv in [1, 3, 9] {
                let v: Vec<T> = rng.reals(n_j * nv, -1.0, 1.0);
                let (want, scale) = reference(
                    |i, j| gauss(&xw, &yw, 2, i, j, s),
                    &keep,
                    (n_i, n_j),
                    &wide(&v),
                    nv,
                );
                let what = format!("{what} {n_i}x{n_j} nv={nv}");
                for (engine, got) in cuda::products(&what, &m, &v, nv) {
                    let what = format!("{what} ({engine})");
                    assert_close(&what, &wide(&got), &want, &scale, T::TOL);
                }
            }
            // Columns and the diagonal of the truncated matrix.
            let cols = [0, n_j / 2, n_j - 1];
            let mut out = vec![0.0; n_i * cols.len()];
            m.columns_into(&cols, &mut out).unwrap();
            for (c, &j) in cols.iter().enumerate() {
                for i in 0..n_i {
                    let want = if keep[i * n_j + j] {
                        gauss(&xw, &yw, 2, i, j, s)
                    } else {
                        0.0
                    };
                    assert!(
                        (out[c * n_i + i] - want).abs() <= T::TOL,
                        "{what}: column {j}, row {i}"
                    );
                }
            }
            let diag = m.diagonal();
            for (i, &g) in diag.iter().enumerate() {
                let want = if keep[i * n_j + i] {
                    gauss(&xw, &yw, 2, i, i, s)
                } else {
                    0.0
                };
                assert!((g - want).abs() <= T::TOL, "{what}: diagonal {i}");
            }
        }
    }
}

#[test]
fn products_f32() {
    products::<f32>();
}

#[test]
fn products_f64() {
    products::<f64>();
}

/// The symmetric product: symmetric ranges keep the pair-once evaluation and its result; others
/// fall back to the row-wise product.
fn symmetric<T: Prec>() {
    let s = 0.2;
    let k = kernel!(x_i: 3, y_j: 3 => exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    for (seed, n) in [67usize, 333, 1500].into_iter().enumerate() {
        let mut rng = Rng::named("symmetric", seed as u64);
        let x: Vec<T> = rng.reals(3 * n, 0.0, 1.0);
        let xw = wide(&x);
        let v: Vec<T> = rng.reals(n, -1.0, 1.0);
        let layouts = [
            (true, Layout::symmetric(&mut rng, n, 0.3)),
            (true, Layout::all(&mut rng, n, n, true)),
            (false, Layout::random(&mut rng, n, n, 0.3)),
        ];
        for (sym, l) in &layouts {
            let view = View::new(&x, 3).unwrap();
            let m = k.x_i(view.clone()).y_j(view).matrix().unwrap();
            let m = m.ranges(&l.ranges()).unwrap();
            assert_eq!(m.symmetric(), *sym && l.ranges().is_symmetric());
            let got = m.matvec(&v).unwrap();
            let keep = l.dense(n, n);
            let (want, scale) = reference(
                |i, j| gauss(&xw, &xw, 3, i, j, s),
                &keep,
                (n, n),
                &wide(&v),
                1,
            );
            assert_close(
                &format!("symmetric {sym} n={n}"),
                &wide(got.as_slice()),
                &want,
                &scale,
                T::TOL,
            );
        }
    }
}

#[test]
fn symmetric_f32() {
    symmetric::<f32>();
}

#[test]
fn symmetric_f64() {
    symmetric::<f64>();
}

/// Points of dimension 20 have no SIMD lane version: the scalar engine's products with ranges.
#[test]
fn scalar_engine() {
    let k = kernel!(x_i: 20, y_j: 20 => exp(-sqdist(x_i, y_j) / 4));
    let (n_i, n_j, dim) = (301, 277, 20);
    let mut rng = Rng::named("scalar engine", 0);
    let x = rng.vec(dim * n_i, 0.0, 1.0);
    let y = rng.vec(dim * n_j, 0.0, 1.0);
    let l = Layout::random(&mut rng, n_i, n_j, 0.4);
    let keep = l.dense(n_i, n_j);
    let m = k
        .x_i(View::new(&x, dim).unwrap())
        .y_j(View::new(&y, dim).unwrap())
        .matrix()
        .unwrap();
    let m = m.ranges(&l.ranges()).unwrap();
    let kij = |i: usize, j: usize| gauss(&x, &y, dim, i, j, 2f64.sqrt());
    for nv in [1, 2] {
        let v = rng.vec(n_j * nv, -1.0, 1.0);
        let got = m.matvec(View::new(&v, nv).unwrap()).unwrap();
        let (want, scale) = reference(kij, &keep, (n_i, n_j), &v, nv);
        assert_close("scalar engine", got.as_slice(), &want, &scale, 1e-12);
    }
}

/// `(alpha I + K .* mask) a = b` with every preconditioner, against nalgebra's Cholesky of the
/// dense truncated matrix: a Gaussian truncated beyond 5 widths stays positive definite here.
#[test]
fn solves_match_cholesky() {
    let (n, s, alpha) = (900, 0.02, 0.1);
    let mut rng = Rng::named("solve", 0);
    let x = rng.vec(2 * n, 0.0, 1.0);
    let b = rng.vec(n, -1.0, 1.0);
    // Grid cells of 0.1 along the first coordinate, after sorting the points by it.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&p, &q| x[2 * p].total_cmp(&x[2 * q]));
    let x: Vec<f64> = order
        .iter()
        .flat_map(|&p| [x[2 * p], x[2 * p + 1]])
        .collect();
    let cell = |i: usize| (x[2 * i] / 0.1) as usize;
    let mut clusters: Vec<Range<usize>> = Vec::new();
    for i in 0..n {
        match clusters.last_mut() {
            Some(c) if cell(c.start) == cell(i) => c.end = i + 1,
            _ => clusters.push(i..i + 1),
        }
    }
    let m = clusters.len();
    let mask: Vec<bool> = (0..m * m)
        .map(|e| cell(clusters[e / m].start).abs_diff(cell(clusters[e % m].start)) <= 1)
        .collect();
    let l = Layout {
        ci: clusters.clone(),
        cj: clusters,
        mask,
    };
    let keep = l.dense(n, n);
    let dense = DMatrix::from_fn(n, n, |i, j| {
        f64::from(i == j) * alpha
            + if keep[i * n + j] {
                gauss(&x, &x, 2, i, j, s)
            } else {
                0.0
            }
    });
    let want = dense
        .cholesky()
        .expect("positive definite")
        .solve(&DVector::from_column_slice(&b));
    // Run-time dimensions (the arms a user's `kernel!` gets), with the solver.
    let k = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let view = View::new(&x, 2).unwrap();
    let km = k
        .x_i(view.clone())
        .y_j(view)
        .matrix()
        .unwrap()
        .ranges(&l.ranges())
        .unwrap();
    assert!(km.symmetric());
    for pre in [
        Preconditioning::Off,
        Preconditioning::Jacobi,
        Preconditioning::Auto,
    ] {
        let cg = ConjugateGradient::new()
            .tolerance(1e-10)
            .preconditioning(pre);
        let sol = km.solve_with(&cg, &b, alpha).unwrap();
        let err = (0..n)
            .map(|i| (sol.coefficients[i] - want[i]).abs())
            .fold(0.0, f64::max);
        let norm = want.amax();
        assert!(err <= 1e-7 * norm, "{pre:?}: error {err:e} (|a| {norm:e})");
    }
}

/// A kernel truncated well inside its width is not positive definite: with a small `alpha` the
/// solver reports it (an error, never coefficients that do not solve the system), and a larger
/// `alpha`, above the largest row sum of the dropped entries, makes it solvable again.
#[test]
fn indefinite_truncation_is_reported() {
    let (n, s) = (400, 0.3);
    let x: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
    let k = kernel!(x_i: 1, y_j: 1 => exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    // Clusters of 20 points (0.05 wide), neighbours only: entries at distance 0.1 (0.3 widths)
    // are dropped.
    let c: Vec<Range<usize>> = (0..n / 20).map(|a| 20 * a..20 * a + 20).collect();
    let m = c.len();
    let mask: Vec<bool> = (0..m * m).map(|e| (e / m).abs_diff(e % m) <= 1).collect();
    let l = Layout {
        ci: c.clone(),
        cj: c,
        mask,
    };
    let keep = l.dense(n, n);
    let kij = |i: usize, j: usize| (-(x[i] - x[j]).powi(2) / (2.0 * s * s)).exp();
    let truncated = DMatrix::from_fn(n, n, |i, j| if keep[i * n + j] { kij(i, j) } else { 0.0 });
    let lowest = truncated.clone().symmetric_eigenvalues().min();
    assert!(
        lowest < -0.1,
        "the truncated matrix is indefinite (lowest eigenvalue {lowest})"
    );
    let km = k
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap()
        .ranges(&l.ranges())
        .unwrap();
    for pre in [Preconditioning::Off, Preconditioning::Auto] {
        let cg = ConjugateGradient::new().preconditioning(pre);
        let b: Vec<f64> = x.iter().map(|x| (6.0 * x).sin()).collect();
        let e = km
            .solve_with(&cg, &b, 1e-3)
            .expect_err("an indefinite system");
        assert!(
            matches!(
                e,
                SolveError::Failed(KeopsError::NotPositiveDefinite { .. })
                    | SolveError::Failed(KeopsError::AlphaTooSmall { .. })
            ),
            "{pre:?}: {e}"
        );
        // Gershgorin: alpha above the largest row sum of |dropped entries| is safe.
        let dropped = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| !keep[i * n + j])
                    .map(|j| kij(i, j))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        let sol = km.solve_with(&cg, &b, dropped * 1.01).unwrap();
        let want = (truncated.clone() + DMatrix::identity(n, n) * dropped * 1.01)
            .cholesky()
            .unwrap()
            .solve(&DVector::from_column_slice(&b));
        let err = (0..n)
            .map(|i| (sol.coefficients[i] - want[i]).abs())
            .fold(0.0, f64::max);
        assert!(err <= 1e-4 * want.amax(), "{pre:?}: error {err:e}");
    }
}
