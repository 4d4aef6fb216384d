//! KeOps' reductions besides the sum: `min`, `max`, `argmin`, `argmax`, `min_argmin`,
//! `max_argmax`, `kmin`, `argkmin`, `kmin_argkmin`, `logsumexp` (with and without a weight) and
//! `sumsoftmaxweight`, over j and over i, on the CPU engine and in the generated CUDA kernels run
//! as host C++ (tests/common/gpu_host.rs), against dense f64 references written with plain loops.
//!
//! Inputs are random, rounded to the precision under test and widened again, so the reference sees
//! exactly the numbers the library sees. Sizes (output rows x reduction rows) are not multiples of
//! the 256-row tiles and blocks: (7, 13), (65, 257), (300, 1037). The emulated kernels run with the
//! plan's own split of the reduction range and with 3 blocks along it (2 at (65, 257), clamped to
//! the tiles), whose states `keops_combine_red` merges; in f64 at every size, in f32 up to 100,000
//! pairs.
//!
//! Semantics checked (KeOps'): min / max entrywise for a vector F; the arg reductions give the
//! first index among ties (exact ties with integer data); the k smallest come ascending, rank-major
//! (entry d of the q-th smallest at q * dim + d), ties in index order; log-sum-exp is shifted by the
//! running maximum (arguments near +-1000 whose exponential overflows f32 and f64); K larger than
//! the number of reduction rows is a typed error.
//!
//! Tolerances, per output entry, `|got - want| <= tol * scale`:
//! - selections (min, max, the k smallest): the result is F at one index, F evaluated in T, so
//!   `scale = 1 + max_r |F(o, r)|` over the row and tol = 1e-5 in f32 (a few ulps of F's terms),
//!   1e-13 in f64. An index is right when F at it (in f64) is within the same bound of the wanted
//!   value (near-ties may pick either index), exactly right with integer data;
//! - log-sum-exp: `scale = 1 + max |F|` (the error of `m + log s` is that of F's values, the f64
//!   sum of f32 exponentials adds ~1e-7 relative to `s`), tol 1e-5 / 1e-12; near +-1000,
//!   `scale = |want|` and tol 3e-7 in f32 (F rounded to f32 near 1000 is off by up to 3e-5);
//! - soft-max: `scale = max |V| * (1 + max |F|)`, tol 1e-5 / 1e-12.
//!
//! Observed worst `|err| / scale` (printed by each test, `--nocapture`): f32 ~1e-7 (selections)
//! to ~2e-7 (soft-max), f64 ~1e-16 to ~2e-15.

#![allow(clippy::needless_range_loop)]
// the references are plain index loops, on purpose
// `!(err <= bound)` also fails on NaN, on purpose.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod common;

use std::cell::Cell;

use common::gpu_host::{self, Outcome};
use common::{check_close, Rng};
use keops::prelude::*;
use keops::ReductionOutput;
use keops_runtime::BoundReduction;

const SIZES: &[(usize, usize)] = &[(7, 13), (65, 257), (300, 1037)];
/// Pairs above which the kernels are emulated in f64 only.
const HOST_F32_MAX_PAIRS: usize = 100_000;

trait Prec: Real {
    const TOL: f64;
}
impl Prec for f32 {
    const TOL: f64 = 1e-5;
}
impl Prec for f64 {
    const TOL: f64 = 1e-13;
}

thread_local! {
    /// The worst |err| / scale a test met (values and indices' values), for its summary line.
    static WORST: Cell<f64> = const { Cell::new(0.0) };
}

fn note_worst(r: f64) {
    WORST.with(|w| w.set(w.get().max(r)));
}

fn take_worst() -> f64 {
    WORST.with(|w| w.replace(0.0))
}

/// `len` random values in `[lo, hi)` rounded to `T`: (in `T`, the same in f64).
fn data<T: Real>(rng: &mut Rng, len: usize, lo: f64, hi: f64) -> (Vec<T>, Vec<f64>) {
    let t: Vec<T> = rng.reals(len, lo, hi);
    let r = t.iter().map(|v| v.to_f64()).collect();
    (t, r)
}

/// A formula's value at every pair in f64: `v[(o * n_red + r) * dim + d]`, `o` the output index.
struct Dense {
    n_out: usize,
    n_red: usize,
    dim: usize,
    v: Vec<f64>,
}

impl Dense {
    fn new(n_out: usize, n_red: usize, dim: usize, f: impl Fn(usize, usize, &mut [f64])) -> Self {
        let mut v = vec![0.0; n_out * n_red * dim];
        for o in 0..n_out {
            for r in 0..n_red {
                f(
                    o,
                    r,
                    &mut v[(o * n_red + r) * dim..(o * n_red + r + 1) * dim],
                );
            }
        }
        Dense {
            n_out,
            n_red,
            dim,
            v,
        }
    }
    fn at(&self, o: usize, r: usize, d: usize) -> f64 {
        self.v[(o * self.n_red + r) * self.dim + d]
    }
    /// `1 + max |F|` over output row `o`.
    fn row_scale(&self, o: usize) -> f64 {
        1.0 + self.v[o * self.n_red * self.dim..(o + 1) * self.n_red * self.dim]
            .iter()
            .fold(0.0f64, |m, x| m.max(x.abs()))
    }
}

/// The first `k` pairs `(value, index)` of each row and entry of `f`, ascending (descending for
/// `max`), ties in index order: values and indices `(n_out, k * dim)`, rank-major.
fn select_ref(f: &Dense, k: usize, max: bool) -> (Vec<f64>, Vec<usize>) {
    let w = k * f.dim;
    let (mut vals, mut idx) = (vec![0.0; f.n_out * w], vec![0; f.n_out * w]);
    for o in 0..f.n_out {
        for d in 0..f.dim {
            let mut all: Vec<(f64, usize)> = (0..f.n_red).map(|r| (f.at(o, r, d), r)).collect();
            // A stable sort keeps equal values in index order.
            if max {
                all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
            } else {
                all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            }
            for q in 0..k {
                vals[o * w + q * f.dim + d] = all[q].0;
                idx[o * w + q * f.dim + d] = all[q].1;
            }
        }
    }
    (vals, idx)
}

/// Checks a selection (min / max / the k smallest and their indices) against [`select_ref`]:
/// values within `tol * scale`, each index pointing at a value within the same bound of the
/// wanted one (exactly the wanted index when `exact`), distinct indices per entry, values and
/// indices consistent. `got_vals` / `got_idx` are empty when the reduction has no such part.
#[allow(clippy::too_many_arguments)]
fn check_select(
    f: &Dense,
    k: usize,
    max: bool,
    got_vals: &[f64],
    got_idx: &[usize],
    (has_vals, has_idx): (bool, bool),
    tol: f64,
    exact: bool,
) -> Result<(), String> {
    let (want, want_idx) = select_ref(f, k, max);
    let w = k * f.dim;
    let scale: Vec<f64> = (0..f.n_out * w).map(|e| f.row_scale(e / w)).collect();
    let ratio = |err: f64, s: f64| err / s;
    if has_vals {
        check_close(got_vals, &want, &scale, tol).map_err(|e| format!("values: {e}"))?;
        for e in 0..want.len() {
            note_worst(ratio((got_vals[e] - want[e]).abs(), scale[e]));
        }
    } else if !got_vals.is_empty() {
        return Err(format!("{} values where none were wanted", got_vals.len()));
    }
    if !has_idx {
        return match got_idx.len() {
            0 => Ok(()),
            n => Err(format!("{n} indices where none were wanted")),
        };
    }
    if got_idx.len() != want_idx.len() {
        return Err(format!(
            "{} indices, want {}",
            got_idx.len(),
            want_idx.len()
        ));
    }
    for o in 0..f.n_out {
        for d in 0..f.dim {
            let mut seen = Vec::new();
            for q in 0..k {
                let e = o * w + q * f.dim + d;
                let r = got_idx[e];
                if r >= f.n_red {
                    return Err(format!("[{e}] index {r} out of range ({})", f.n_red));
                }
                if exact && r != want_idx[e] {
                    return Err(format!(
                        "[{e}] (row {o}, rank {q}, entry {d}): index {r}, want {} (value {})",
                        want_idx[e], want[e]
                    ));
                }
                let err = (f.at(o, r, d) - want[e]).abs();
                note_worst(ratio(err, scale[e]));
                if !(err <= tol * scale[e]) {
                    return Err(format!(
                        "[{e}] (row {o}, rank {q}, entry {d}): index {r} has value {}, want {} (index {})",
                        f.at(o, r, d),
                        want[e],
                        want_idx[e]
                    ));
                }
                if has_vals && !((got_vals[e] - f.at(o, r, d)).abs() <= tol * scale[e]) {
                    return Err(format!(
                        "[{e}]: value {} but F at its index {r} is {}",
                        got_vals[e],
                        f.at(o, r, d)
                    ));
                }
                if seen.contains(&r) {
                    return Err(format!("[{e}]: index {r} twice (row {o}, entry {d})"));
                }
                seen.push(r);
            }
        }
    }
    Ok(())
}

/// `m + log sum exp(F - m) W` (`W = 1` when `w` is `None`), or with `softmax`
/// `sum exp(F - m) W / sum exp(F - m)`: `(n_out, dim(W))`.
fn shifted_exp_ref(f: &Dense, w: Option<&Dense>, softmax: bool) -> Vec<f64> {
    let dim = w.map_or(1, |w| w.dim);
    let mut out = vec![0.0; f.n_out * dim];
    for o in 0..f.n_out {
        let m = (0..f.n_red).fold(f64::NEG_INFINITY, |m, r| m.max(f.at(o, r, 0)));
        for d in 0..dim {
            let (mut s, mut s0) = (0.0, 0.0);
            for r in 0..f.n_red {
                let e = (f.at(o, r, 0) - m).exp();
                s += e * w.map_or(1.0, |w| w.at(o, r, d));
                s0 += e;
            }
            out[o * dim + d] = if softmax { s / s0 } else { m + s.ln() };
        }
    }
    out
}

/// The values and indices of `red` on the CPU engine, then of its CUDA kernel under host
/// emulation (each split): `check(label, vals, idx)` for each.
fn each_result<T: Real, B: BoundReduction<T>>(
    what: &str,
    red: &Reduction<T, B>,
    check: &Check<'_>,
) {
    let (v, i) = red.eval().into_parts();
    let v: Vec<f64> = v.iter().map(|x| x.to_f64()).collect();
    check(&v, &i).unwrap_or_else(|e| panic!("{what} in {} (CPU engine): {e}", T::NAME));
    #[cfg(feature = "cuda")]
    on_gpu(what, red, check);
    let task = red.gpu_task();
    if T::NAME == "f32" && task.n_out * task.n_red > HOST_F32_MAX_PAIRS {
        return;
    }
    let run = match gpu_host::run_reduction_splits(&task, &[None, Some(3)]) {
        Ok(Outcome::Ran(run)) => run,
        Ok(Outcome::Skipped(why)) => {
            eprintln!("{what}: host emulation skipped: {why}");
            return;
        }
        Err(e) => panic!("{what} in {}: {e}", T::NAME),
    };
    for ((v, i), p) in run.outs.iter().zip(&run.idx).zip(&run.plans) {
        let v: Vec<f64> = v.iter().map(|x| x.to_f64()).collect();
        let i: Vec<usize> = i
            .iter()
            .map(|&i| usize::try_from(i).unwrap_or(usize::MAX))
            .collect();
        check(&v, &i).unwrap_or_else(|e| {
            panic!(
                "{what} in {}: host-emulated {} (grid {}x{}): {e}",
                T::NAME,
                run.kernel,
                p.grid_x,
                p.grid_y
            )
        });
    }
}

/// GPU 0 with the `cuda` feature, or `None` (noted once) without one.
#[cfg(feature = "cuda")]
fn gpu() -> Option<&'static keops::Gpu> {
    static GPU: std::sync::OnceLock<Option<keops::Gpu>> = std::sync::OnceLock::new();
    GPU.get_or_init(|| match keops::Gpu::new(0) {
        Ok(g) => {
            eprintln!("GPU: {} ({} SMs)", g.name(), g.multiprocessors());
            Some(g)
        }
        Err(e) => {
            eprintln!("no GPU, the CUDA runs are skipped: {e}");
            None
        }
    })
    .as_ref()
}

/// With the `cuda` feature and a GPU: `red` on the device through the cudarc backend, with the
/// plan's own split of the reduction range, none, and 4 blocks along it.
#[cfg(feature = "cuda")]
fn on_gpu<T: Real, B: BoundReduction<T>>(what: &str, red: &Reduction<T, B>, check: &Check<'_>) {
    let Some(gpu) = gpu() else { return };
    for split in [None, Some(1), Some(4)] {
        let (v, i) = keops::cuda::reduce_parts_with(gpu, &red.gpu_task(), split)
            .unwrap_or_else(|e| panic!("{what} in {} on the GPU (split {split:?}): {e}", T::NAME));
        let v: Vec<f64> = v.iter().map(|x| x.to_f64()).collect();
        check(&v, &i)
            .unwrap_or_else(|e| panic!("{what} in {} on the GPU (split {split:?}): {e}", T::NAME));
    }
}

/// Checks one result: its values (in f64) and its indices.
type Check<'a> = dyn Fn(&[f64], &[usize]) -> Result<(), String> + 'a;

/// Checks a selection reduction `red` (see [`check_select`]).
fn selection<T: Prec, B: BoundReduction<T>>(
    what: &str,
    red: Reduction<T, B>,
    f: &Dense,
    k: usize,
    max: bool,
    exact: bool,
) {
    let parts = (B::Output::VALUES, B::Output::INDICES);
    assert_eq!(red.dim(), k * f.dim, "{what}: dim");
    assert_eq!(red.rows(), f.n_out, "{what}: rows");
    each_result(what, &red, &|v, i| {
        check_select(f, k, max, v, i, parts, T::TOL, exact)
    });
}

/// Checks a log-sum-exp or soft-max reduction `red` against `want` with per-entry `scale`.
fn values<T: Real, B: BoundReduction<T>>(
    what: &str,
    red: Reduction<T, B>,
    want: &[f64],
    scale: &[f64],
    tol: f64,
) {
    each_result(what, &red, &|v, i| {
        if !i.is_empty() {
            return Err("indices from a reduction to values".into());
        }
        check_close(v, want, scale, tol)?;
        for e in 0..want.len() {
            note_worst((v[e] - want[e]).abs() / scale[e]);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// x (N, 3), y (M, 3), a (N), b (M) in T and f64.
struct Xyab<T> {
    n: usize,
    m: usize,
    x: Vec<T>,
    y: Vec<T>,
    a: Vec<T>,
    b: Vec<T>,
    xr: Vec<f64>,
    yr: Vec<f64>,
    ar: Vec<f64>,
    br: Vec<f64>,
}

impl<T: Real> Xyab<T> {
    fn new(name: &str, n: usize, m: usize, dx: usize) -> Self {
        let mut rng = Rng::named(name, (n * 7919 + m) as u64);
        let (x, xr) = data(&mut rng, n * dx, -1.0, 1.0);
        let (y, yr) = data(&mut rng, m * dx, -1.0, 1.0);
        let (a, ar) = data(&mut rng, n, -1.0, 1.0);
        let (b, br) = data(&mut rng, m, -1.0, 1.0);
        Xyab {
            n,
            m,
            x,
            y,
            a,
            b,
            xr,
            yr,
            ar,
            br,
        }
    }
    fn x(&self, dx: usize) -> View<'_, T> {
        View::new(&self.x, dx).unwrap()
    }
    fn y(&self, dx: usize) -> View<'_, T> {
        View::new(&self.y, dx).unwrap()
    }
}

fn sqdist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// `sqdist(x_i, y_j) + a_i * b_j` at every pair, over j (`over_i = false`: rows are i) or i.
fn scalar_f(s: &Xyab<impl Real>, over_i: bool) -> Dense {
    let f = |i: usize, j: usize| {
        sqdist(&s.xr[i * 3..i * 3 + 3], &s.yr[j * 3..j * 3 + 3]) + s.ar[i] * s.br[j]
    };
    if over_i {
        Dense::new(s.m, s.n, 1, |o, r, v| v[0] = f(r, o))
    } else {
        Dense::new(s.n, s.m, 1, |o, r, v| v[0] = f(o, r))
    }
}

/// `x_i * y_j - b_j` (dimension `d`) at every pair.
fn vector_f(s: &Xyab<impl Real>, d: usize, over_i: bool) -> Dense {
    let f = |i: usize, j: usize, v: &mut [f64]| {
        for k in 0..d {
            v[k] = s.xr[i * d + k] * s.yr[j * d + k] - s.br[j];
        }
    };
    if over_i {
        Dense::new(s.m, s.n, d, |o, r, v| f(r, o, v))
    } else {
        Dense::new(s.n, s.m, d, |o, r, v| f(o, r, v))
    }
}

// ---------------------------------------------------------------------------------------------
// Min, max and their args.

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

// ---------------------------------------------------------------------------------------------
// The k smallest.

fn kmin_family<T: Prec>() {
    for &(n, m) in SIZES {
        let s = Xyab::<T>::new("kmin_family", n, m, 3);
        let (x, y) = (s.x(3), s.y(3));
        let (a, b) = (&s.a, &s.b);
        let what = |r: &str| format!("{r}(sqdist(x, y) + a b, 4) at ({n}, {m})");
        let (fj, fi) = (scalar_f(&s, false), scalar_f(&s, true));
        let red = kernel!(a_i: 1, b_j: 1 => kmin_j(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argkmin_j(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("argkmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => kmin_argkmin_j(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_argkmin_j"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fj,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => kmin_i(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => argkmin_i(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("argkmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            4,
            false,
            false,
        );
        let red = kernel!(a_i: 1, b_j: 1 => kmin_argkmin_i(sqdist(x_i, y_j) + a_i * b_j, 4));
        selection(
            &what("kmin_argkmin_i"),
            red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap(),
            &fi,
            4,
            false,
            false,
        );
        // A vector F of dimension 5 (a bucket arm on the GPU), K = 3, entry by entry.
        let v = Xyab::<T>::new("kmin_family_vector", n, m, 5);
        let (x5, y5, b5) = (v.x(5), v.y(5), &v.b);
        let what = |r: &str| format!("{r}(x * y - b, 3) (dimension 5) at ({n}, {m})");
        let (gj, gi) = (vector_f(&v, 5, false), vector_f(&v, 5, true));
        let red = kernel!(b_j: 1 => kmin_argkmin_j(x_i * y_j - b_j, 3));
        selection(
            &what("kmin_argkmin_j"),
            red.x_i(&x5).y_j(&y5).b_j(b5).bind().unwrap(),
            &gj,
            3,
            false,
            false,
        );
        let red = kernel!(b_j: 1 => argkmin_i(x_i * y_j - b_j, 3));
        selection(
            &what("argkmin_i"),
            red.x_i(&x5).y_j(&y5).b_j(b5).bind().unwrap(),
            &gi,
            3,
            false,
            false,
        );
    }
    eprintln!(
        "k smallest, {}: worst |err|/scale {:.2e}",
        T::NAME,
        take_worst()
    );
}

#[test]
fn kmin_family_f32() {
    kmin_family::<f32>();
}

#[test]
fn kmin_family_f64() {
    kmin_family::<f64>();
}

/// Integer-valued points: `sqdist` is exact and full of ties. The arg reductions give the first
/// index among equal values, the k smallest keep equal values in index order, on the CPU (with
/// and without a split of the reduction range: 3 rows split it) and on the GPU (one block along
/// the reduction index, and split ones merged by the combining pass).
fn ties<T: Prec>() {
    for &(n, m) in &[(3usize, 1037usize), (300, 1037)] {
        let mut rng = Rng::named("ties", (n + m) as u64);
        let mut ints = |len: usize| -> (Vec<T>, Vec<f64>) {
            let r: Vec<f64> = (0..len).map(|_| rng.int(0, 2) as f64).collect();
            (r.iter().map(|&v| T::from_f64(v)).collect(), r)
        };
        let ((x, xr), (y, yr)) = (ints(n * 2), ints(m * 2));
        let (xv, yv) = (View::new(&x, 2).unwrap(), View::new(&y, 2).unwrap());
        let fj = Dense::new(n, m, 1, |o, r, v| {
            v[0] = sqdist(&xr[o * 2..o * 2 + 2], &yr[r * 2..r * 2 + 2])
        });
        let fi = Dense::new(m, n, 1, |o, r, v| {
            v[0] = sqdist(&xr[r * 2..r * 2 + 2], &yr[o * 2..o * 2 + 2])
        });
        let what = |r: &str| format!("{r} with ties at ({n}, {m})");
        let red = kernel!(min_argmin_j(sqdist(x_i, y_j)));
        selection(
            &what("min_argmin_j"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fj,
            1,
            false,
            true,
        );
        let red = kernel!(max_argmax_j(sqdist(x_i, y_j)));
        selection(
            &what("max_argmax_j"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fj,
            1,
            true,
            true,
        );
        let red = kernel!(kmin_argkmin_j(sqdist(x_i, y_j), 7));
        selection(
            &what("kmin_argkmin_j"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fj,
            7,
            false,
            true,
        );
        let red = kernel!(argmin_i(sqdist(x_i, y_j)));
        selection(
            &what("argmin_i"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fi,
            1,
            false,
            true,
        );
        let red = kernel!(argkmin_i(sqdist(x_i, y_j), 3));
        selection(
            &what("argkmin_i"),
            red.x_i(&xv).y_j(&yv).bind().unwrap(),
            &fi,
            3,
            false,
            true,
        );
    }
}

#[test]
fn ties_keep_the_first_index_f32() {
    ties::<f32>();
}

#[test]
fn ties_keep_the_first_index_f64() {
    ties::<f64>();
}

/// K larger than the number of rows reduced over is a typed error when binding.
#[test]
fn k_larger_than_the_reduction_rows() {
    let x = vec![[0.0f32, 1.0]; 7];
    let y = vec![[1.0f32, 0.0]; 13];
    let red = kernel!(kmin_i(sqdist(x_i, y_j), 10));
    match red.x_i(&x).y_j(&y).bind() {
        Err(KeopsError::KTooLarge {
            reduction,
            k,
            index,
            rows,
        }) => {
            assert_eq!((reduction.as_str(), k, index, rows), ("kmin_i", 10, 'i', 7));
        }
        other => panic!("expected KTooLarge, got {:?}", other.map(|r| r.rows())),
    }
    let red = kernel!(argkmin_j(sqdist(x_i, y_j), 14));
    let err = red.x_i(&x).y_j(&y).eval().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`argkmin_j` keeps the 14 smallest values over j, but there are only 13"),
        "{err}"
    );
    // K equal to the rows is fine: every index, sorted.
    let red = kernel!(argkmin_j(sqdist(x_i, y_j), 13));
    let idx = red.x_i(&x).y_j(&y).eval().unwrap();
    assert_eq!(
        idx.row(0),
        (0..13).collect::<Vec<_>>(),
        "equal values in index order"
    );
}

/// K nearest neighbours: 10,000 random 3D points against 10,000 others, K = 10, compared with a
/// brute-force f64 search. Neighbour sets are compared allowing near-ties: every index returned is
/// within 1e-5 (f32 rounding of the distances) of the 10th smallest distance, and every point
/// clearly closer than it is returned.
#[test]
fn k_nearest_neighbours() {
    const K: usize = 10;
    let mut rng = Rng::named("knn", 0);
    let (x, xr) = data::<f32>(&mut rng, 30_000, 0.0, 1.0);
    let (y, yr) = data::<f32>(&mut rng, 30_000, 0.0, 1.0);
    let (xv, yv) = (View::new(&x, 3).unwrap(), View::new(&y, 3).unwrap());
    let knn = kernel!(argkmin_j(sqdist(x_i, y_j), 10));
    let t0 = std::time::Instant::now();
    let idx = knn.x_i(&xv).y_j(&yv).eval().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!((idx.rows(), idx.dim()), (10_000, K));
    let check = |name: &str, idx: &[usize], n: usize| {
        let mut d = vec![0.0; 10_000];
        for o in 0..n {
            for (r, d) in d.iter_mut().enumerate() {
                *d = sqdist(&xr[o * 3..o * 3 + 3], &yr[r * 3..r * 3 + 3]);
            }
            let mut sorted = d.clone();
            sorted.select_nth_unstable_by(K - 1, |a, b| a.partial_cmp(b).unwrap());
            let kth = sorted[K - 1];
            let got = &idx[o * K..(o + 1) * K];
            let mut seen = got.to_vec();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), K, "{name}: row {o}: repeated indices {got:?}");
            for w in got.windows(2) {
                assert!(d[w[0]] <= d[w[1]] + 1e-5, "{name}: row {o} not ascending");
            }
            for &r in got {
                assert!(
                    d[r] <= kth + 1e-5,
                    "{name}: row {o}: {r} at {} > {kth}",
                    d[r]
                );
            }
            for (r, &dr) in d.iter().enumerate() {
                if dr < kth - 1e-5 {
                    assert!(
                        got.contains(&r),
                        "{name}: row {o}: misses {r} at {dr} < {kth}"
                    );
                }
            }
        }
    };
    check("CPU engine", idx.as_slice(), 10_000);
    eprintln!("k nearest neighbours, 10,000 x 10,000, K = 10, f32: {secs:.2} s on the CPU");
    // The GPU kernel on the first 1,000 queries (the emulation runs 256 threads per block on the
    // host's cores), with the plan's own split of the 10,000 points and with 3 blocks along them.
    let head = View::new(&x[..3000], 3).unwrap();
    let task_red = knn.x_i(&head).y_j(&yv).bind().unwrap();
    match gpu_host::run_reduction_splits(&task_red.gpu_task(), &[None, Some(3)]) {
        Ok(Outcome::Ran(run)) => {
            for (i, p) in run.idx.iter().zip(&run.plans) {
                let i: Vec<usize> = i.iter().map(|&i| i as usize).collect();
                check(
                    &format!("host-emulated kernel, grid {}x{}", p.grid_x, p.grid_y),
                    &i,
                    1000,
                );
            }
        }
        Ok(Outcome::Skipped(why)) => eprintln!("host emulation skipped: {why}"),
        Err(e) => panic!("{e}"),
    }
    // On a GPU, the whole problem.
    #[cfg(feature = "cuda")]
    if let Some(gpu) = gpu() {
        let bound = knn.x_i(&xv).y_j(&yv).bind().unwrap();
        let t0 = std::time::Instant::now();
        let g = bound.eval_on(keops::Backend::Cuda(0)).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        check("GPU", g.as_slice(), 10_000);
        eprintln!(
            "k nearest neighbours on {}: {secs:.3} s (first call)",
            gpu.name()
        );
    }
}

/// With a GPU: few output rows and 200,000 reduction rows, so that the plan splits the reduction
/// range into ~200 blocks whose states `keops_combine_red` merges.
#[cfg(feature = "cuda")]
#[test]
fn many_splits_on_the_gpu() {
    fn case<T: Prec>() {
        let (n, m) = (100, 200_000);
        let s = Xyab::<T>::new("many_splits", n, m, 3);
        let (x, y, a, b) = (s.x(3), s.y(3), &s.a, &s.b);
        let fj = scalar_f(&s, false);
        let what = |r: &str| format!("{r} at ({n}, {m})");
        let red = kernel!(a_i: 1, b_j: 1 => min_argmin_j(sqdist(x_i, y_j) + a_i * b_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        let plan = r
            .gpu_task()
            .plan(0, gpu().map_or(1, |g| g.multiprocessors()), None);
        eprintln!("{}: plan {} x {} blocks", T::NAME, plan.grid_x, plan.grid_y);
        selection(&what("min_argmin_j"), r, &fj, 1, false, false);
        let red = kernel!(a_i: 1, b_j: 1 => kmin_argkmin_j(sqdist(x_i, y_j) + a_i * b_j, 10));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        selection(&what("kmin_argkmin_j"), r, &fj, 10, false, false);
        let red = kernel!(a_i: 1, b_j: 1 => max_argmax_j(sqdist(x_i, y_j) + a_i * b_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        selection(&what("max_argmax_j"), r, &fj, 1, true, false);
        let tol = if T::NAME == "f32" { 1e-5 } else { 1e-12 };
        let red = kernel!(a_i: 1, b_j: 1 => logsumexp_j(-4 * (sqdist(x_i, y_j) + a_i * b_j)));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        let f4 = Dense::new(n, m, 1, |o, r, v| v[0] = -4.0 * fj.at(o, r, 0));
        values(
            &what("logsumexp_j"),
            r,
            &shifted_exp_ref(&f4, None, false),
            &scale_of(&f4, 1),
            tol,
        );
        let red =
            kernel!(a_i: 1, b_j: 1 => sumsoftmaxweight_j(-4 * (sqdist(x_i, y_j) + a_i * b_j), y_j));
        let r = red.x_i(&x).y_j(&y).a_i(a).b_j(b).bind().unwrap();
        let v = Dense::new(n, m, 3, |_, r, v| {
            v.copy_from_slice(&s.yr[r * 3..r * 3 + 3])
        });
        values(
            &what("sumsoftmaxweight_j"),
            r,
            &shifted_exp_ref(&f4, Some(&v), true),
            &scale_of(&f4, 3),
            tol,
        );
        eprintln!(
            "many splits, {}: worst |err|/scale {:.2e}",
            T::NAME,
            take_worst()
        );
    }
    if gpu().is_none() {
        return;
    }
    case::<f32>();
    case::<f64>();
}

// ---------------------------------------------------------------------------------------------
// Log-sum-exp and soft-max.

fn scale_of(f: &Dense, dim: usize) -> Vec<f64> {
    (0..f.n_out * dim).map(|e| f.row_scale(e / dim)).collect()
}

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

// ---------------------------------------------------------------------------------------------
// The results' types.

/// `eval` gives values, indices or both; `eval_into` fills the caller's buffers and checks their
/// lengths; `bind` gives a reusable [`Reduction`].
#[test]
fn result_types_and_eval_into() {
    let x: Vec<f64> = vec![0.0, 1.0, 2.0, 3.0];
    let y: Vec<f64> = vec![2.9, 0.2, 1.1];
    let mins: Rows<f64> = kernel!(min_j(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    let want = [0.04, 0.01, 0.81, 0.01];
    for (g, w) in mins.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{mins:?}");
    }
    let idx: Indices = kernel!(argmin_j(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    assert_eq!(
        idx.as_slice(),
        [1, 2, 0, 0],
        "x = 2 is as far from 2.9 as from 1.1: the first"
    );
    let (v, i): (Rows<f64>, Indices) = kernel!(kmin_argkmin_j(sqdist(x_i, y_j), 2))
        .x_i(&x)
        .y_j(&y)
        .eval()
        .unwrap();
    assert_eq!((v.dim(), i.dim()), (2, 2));
    assert_eq!(i.row(3), [0, 2]);
    assert!((v.row(3)[1] - 3.61).abs() < 1e-12, "{v:?}");

    let red = kernel!(max_argmax_j(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .bind()
        .unwrap();
    let (mut vb, mut ib) = (vec![0.0; 4], vec![9usize; 4]);
    red.eval_into((&mut vb[..], &mut ib[..])).unwrap();
    assert_eq!(ib, [0, 0, 1, 1]);
    assert!((vb[3] - 7.84).abs() < 1e-12);
    let err = red.eval_into((&mut vb[..], &mut ib[..3])).unwrap_err();
    assert!(
        matches!(
            err,
            KeopsError::OutputLength {
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let arg = kernel!(argmax_i(sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .bind()
        .unwrap();
    let mut ib = vec![0usize; 3];
    arg.eval_into(&mut ib).unwrap();
    assert_eq!(ib, [0, 3, 3]);
    let lse = kernel!(logsumexp_j(-sqdist(x_i, y_j)))
        .x_i(&x)
        .y_j(&y)
        .bind()
        .unwrap();
    let mut out = vec![0.0; 4];
    lse.eval_into(&mut out).unwrap();
    let want0 = ((-8.41f64).exp() + (-0.04f64).exp() + (-1.21f64).exp()).ln();
    assert!((out[0] - want0).abs() < 1e-12, "{out:?}");
}
