//! KeOps' reductions besides the sum: `min`, `max`, `argmin`, `argmax`, `min_argmin`,
//! `max_argmax`, `kmin`, `argkmin`, `kmin_argkmin`, `logsumexp` (with and without a weight) and
//! `sumsoftmaxweight`, over j and over i, on the CPU engine and in the generated CUDA kernels run
//! as host C++ (tests/common/gpu_host/), against dense f64 references written with plain loops.
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

#[path = "../common/mod.rs"]
mod common;

use std::cell::Cell;

use common::gpu_host::{self, Outcome};
use common::{check_close, Rng};
use keops::prelude::*;
use keops::ReductionOutput;
use keops_runtime::BoundReduction;

mod extrema;
mod kmin;
mod logsumexp;
mod result_types;

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

/// Each output entry's scale: its row's `1 + max |F|`, repeated over `dim` entries.
fn scale_of(f: &Dense, dim: usize) -> Vec<f64> {
    (0..f.n_out * dim).map(|e| f.row_scale(e / dim)).collect()
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
