//! The operation tests' plumbing (tests/operations/, tests/ops_extra.rs, tests/ops_vector.rs,
//! tests/ops_tensor.rs):
//! random inputs `x_i`, `a_i` (N rows), `y_j`, `b_j` (M rows) and parameters in f32 or f64, the
//! same numbers in f64, a dense f64 reference `out[o] = sum_r term(o, r)` written with plain loops,
//! and the comparison of the CPU engine's result and of the host-emulated CUDA kernels' (recorded
//! by the test's evaluation, see [`gpu_host::record_reduction`]) with it.
//!
//! Tolerances are norm-wise, per output entry: `|got - want| <= tol * sum_terms |term|` (see
//! tests/operations/ for the bounds behind [`TOL_F32`] and [`TOL_F64`]).

use keops::prelude::*;
use keops_runtime::{BoundKernel, BoundReduction};

use super::{check_close, gpu_host, Rng};

pub const TOL_F32: f64 = 1e-4;
pub const TOL_F64: f64 = 1e-12;

/// A precision: its tolerance, and its rounding (for references that must see exactly the
/// argument the library computes, e.g. of an operation that jumps).
pub trait Prec: Real {
    const TOL: f64;
    /// Rounds an f64 to this precision (and back).
    fn rt(v: f64) -> f64;
}
impl Prec for f32 {
    const TOL: f64 = TOL_F32;
    fn rt(v: f64) -> f64 {
        v as f32 as f64
    }
}
impl Prec for f64 {
    const TOL: f64 = TOL_F64;
    fn rt(v: f64) -> f64 {
        v
    }
}

/// Output rows times reduction rows above which the CUDA kernels are emulated in f64 only: the
/// emulation costs ~1 ms per block and `__syncthreads`, and the f32 and f64 kernels are one
/// template, which the smaller sizes run in both precisions. f64 for the large sizes: its 1e-12
/// tolerance is the sharper test of the split scheme's partial sums.
pub const HOST_F32_MAX_PAIRS: usize = 100_000;

pub fn host_wanted<T: Real>(n_out: usize, n_red: usize) -> bool {
    T::NAME == "f64" || n_out * n_red <= HOST_F32_MAX_PAIRS
}

/// The sizes (N, M) of ops_extra, ops_vector and ops_tensor: (65, 257) crosses a row block and a
/// reduction tile, (300, 1037) is emulated on the host in f64 only; one list for the three files.
pub const SIZES: &[(usize, usize)] = &[(7, 13), (65, 257), (300, 1037)];

/// Evaluates a bound reduction on the CPU engine and records its CUDA kernel under host
/// emulation, for [`try_labeled`] (or a test's own check) to compare: one copy for every
/// operation test, so that no evaluation skips the GPU path.
pub fn eval<T: Real, B: BoundReduction<T, Output = Rows<T>>>(r: Reduction<T, B>) -> Rows<T> {
    let task = r.gpu_task();
    if host_wanted::<T>(task.n_out, task.n_red) {
        gpu_host::record_reduction(&task);
    }
    r.eval()
}

/// Records K's CUDA matvec kernels for `v` under host emulation, as [`eval`] does, for a test
/// that computes `K v` on the CPU itself (e.g. through another argument type than a [`View`]).
pub fn host_matvec<T: Real, B: BoundKernel<T>>(k: &KernelMatrix<T, B>, v: &View<'_, T>) {
    let task = k.gpu_task();
    if host_wanted::<T>(task.n_out, task.n_red) {
        gpu_host::record_matvec(&task, v.as_slice(), v.dim());
    }
}

/// `K v` on the CPU, with K's matvec kernels recorded under host emulation ([`host_matvec`]): the
/// kernel-matrix counterpart of [`eval`], shared by the operation tests.
pub fn matvec<T: Real, B: BoundKernel<T>>(k: KernelMatrix<T, B>, v: View<'_, T>) -> Rows<T> {
    host_matvec(&k, &v);
    k.matvec(v).unwrap()
}

/// `o[k] = kij * b[k]`: a kernel matrix's term of `K b`, the reference of every matvec case.
#[allow(clippy::needless_range_loop)] // a plain index loop, as the references are
pub fn times_b(kij: f64, a: &Args, o: &mut [f64]) {
    for k in 0..a.b.len() {
        o[k] = kij * a.b[k];
    }
}

/// Shapes and ranges of a case's inputs: `x_i`, `a_i` (N rows), `y_j`, `b_j` (M rows), and `np`
/// parameter values.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub dx: usize,
    pub dy: usize,
    pub da: usize,
    pub db: usize,
    pub np: usize,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub a: (f64, f64),
    pub b: (f64, f64),
    pub p: (f64, f64),
    /// About half of the data values snapped to a multiple of 1/4 (exact zeros, ties, halves).
    pub snap: bool,
}

impl Spec {
    /// `x_i` of dimension `dx`, `y_j` of dimension `dy`, in (-1, 1); scalar `a_i`, `b_j` in
    /// (-1, 1); no parameter.
    pub fn new(dx: usize, dy: usize) -> Self {
        Spec {
            dx,
            dy,
            da: 1,
            db: 1,
            np: 0,
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
            a: (-1.0, 1.0),
            b: (-1.0, 1.0),
            p: (0.5, 1.5),
            snap: false,
        }
    }
    pub fn xy(mut self, x: (f64, f64), y: (f64, f64)) -> Self {
        self.x = x;
        self.y = y;
        self
    }
    pub fn a(mut self, da: usize) -> Self {
        self.da = da;
        self
    }
    pub fn b(mut self, db: usize) -> Self {
        self.db = db;
        self
    }
    pub fn params(mut self, np: usize, range: (f64, f64)) -> Self {
        self.np = np;
        self.p = range;
        self
    }
    /// Snaps about half of the data values to a multiple of 1/4.
    pub fn snap(mut self) -> Self {
        self.snap = true;
        self
    }
}

/// A case's inputs in precision `T`, and the same numbers in f64 for the reference.
pub struct Inputs<T> {
    pub n: usize,
    pub m: usize,
    pub s: Spec,
    pub x: Vec<T>,
    pub y: Vec<T>,
    pub a: Vec<T>,
    pub b: Vec<T>,
    pub xr: Vec<f64>,
    pub yr: Vec<f64>,
    pub ar: Vec<f64>,
    pub br: Vec<f64>,
    /// Parameters, exactly representable in `T`.
    pub p: Vec<f64>,
}

/// `len` random values in `range` (with `snap`, about half of them snapped to a multiple of 1/4),
/// rounded to `T`: (in `T`, the same in f64).
pub fn values<T: Real>(
    rng: &mut Rng,
    len: usize,
    range: (f64, f64),
    snap: bool,
) -> (Vec<T>, Vec<f64>) {
    let t: Vec<T> = (0..len)
        .map(|_| {
            let v = rng.range(range.0, range.1);
            let v = if snap && rng.unit() < 0.5 {
                (v * 4.0).round() / 4.0
            } else {
                v
            };
            T::from_f64(v)
        })
        .collect();
    let r = t.iter().map(|v| v.to_f64()).collect();
    (t, r)
}

impl<T: Real> Inputs<T> {
    pub fn new(rng: &mut Rng, n: usize, m: usize, s: Spec) -> Self {
        let (x, xr) = values(rng, n * s.dx, s.x, s.snap);
        let (y, yr) = values(rng, m * s.dy, s.y, s.snap);
        let (a, ar) = values(rng, n * s.da, s.a, s.snap);
        let (b, br) = values(rng, m * s.db, s.b, s.snap);
        let (_, p) = values::<T>(rng, s.np, s.p, false);
        Inputs {
            n,
            m,
            s,
            x,
            y,
            a,
            b,
            xr,
            yr,
            ar,
            br,
            p,
        }
    }
    pub fn x(&self) -> View<'_, T> {
        View::new(&self.x, self.s.dx).unwrap()
    }
    pub fn y(&self) -> View<'_, T> {
        View::new(&self.y, self.s.dy).unwrap()
    }
    pub fn a(&self) -> View<'_, T> {
        View::new(&self.a, self.s.da).unwrap()
    }
    pub fn b(&self) -> View<'_, T> {
        View::new(&self.b, self.s.db).unwrap()
    }
}

/// One pair's inputs, in f64 (exactly the library's values), for a reference term, and the
/// rounding to the precision.
pub struct Args<'a> {
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub p: &'a [f64],
    pub rt: fn(f64) -> f64,
}

/// Which index the formula sums over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Red {
    /// `sum_j`, or a kernel matrix times a vector: one output row per i.
    J,
    /// `sum_i`: one output row per j.
    I,
}

pub type Term<'t> = &'t dyn Fn(&Args, &mut [f64]);

/// A case's run function in f32 and in f64 (see [`both!`]).
pub type Runs = (fn(&Inputs<f32>) -> Rows<f32>, fn(&Inputs<f64>) -> Rows<f64>);

/// The dense reference: `out[o] = sum_r term(o, r)` with plain loops in f64, and the scale
/// `sum_r |term(o, r)|` of each entry.
pub fn reference<T: Prec>(d: &Inputs<T>, red: Red, dim: usize, term: Term) -> (Vec<f64>, Vec<f64>) {
    let (rows, inner) = match red {
        Red::J => (d.n, d.m),
        Red::I => (d.m, d.n),
    };
    let s = &d.s;
    let mut want = vec![0.0; rows * dim];
    let mut scale = vec![0.0; rows * dim];
    let mut t = vec![0.0; dim];
    for o in 0..rows {
        for r in 0..inner {
            let (i, j) = match red {
                Red::J => (o, r),
                Red::I => (r, o),
            };
            t.fill(f64::NAN);
            let args = Args {
                x: &d.xr[i * s.dx..(i + 1) * s.dx],
                y: &d.yr[j * s.dy..(j + 1) * s.dy],
                a: &d.ar[i * s.da..(i + 1) * s.da],
                b: &d.br[j * s.db..(j + 1) * s.db],
                p: &d.p,
                rt: T::rt,
            };
            term(&args, &mut t);
            for k in 0..dim {
                want[o * dim + k] += t[k];
                scale[o * dim + k] += t[k].abs();
            }
        }
    }
    (want, scale)
}

/// Runs one case at one size in precision `T`: `run` on random inputs (seeded by the name, the
/// size and the dimensions), its result from the CPU engine and from the host-emulated kernels
/// it recorded against the reference. For an output made of `labels.len()` equal blocks of
/// columns (one per sub-formula), a mismatch names the blocks that differ. Returns the worst
/// `|got - want| / scale`; `Err` describes a mismatch.
#[allow(clippy::too_many_arguments)]
pub fn try_labeled<T: Prec>(
    name: &str,
    spec: Spec,
    (n, m): (usize, usize),
    red: Red,
    dim: usize,
    run: fn(&Inputs<T>) -> Rows<T>,
    term: Term,
    labels: &[&str],
) -> Result<f64, String> {
    let salt = (n as u64) << 32 | m as u64 | (spec.dx as u64) << 48 | (spec.dy as u64) << 56;
    let d = Inputs::<T>::new(&mut Rng::named(name, salt), n, m, spec);
    gpu_host::take_recorded();
    let got = run(&d);
    let host = gpu_host::take_recorded();
    let rows = if red == Red::J { n } else { m };
    let ctx = format!("{name} in {} with (N, M) = ({n}, {m}), {spec:?}", T::NAME);
    if (got.rows(), got.dim()) != (rows, dim) {
        return Err(format!(
            "{ctx}: output is ({}, {}), expected ({rows}, {dim})",
            got.rows(),
            got.dim()
        ));
    }
    let (want, scale) = reference(&d, red, dim, term);
    let got: Vec<f64> = got.iter().map(|v| v.to_f64()).collect();
    let mut worst = 0f64;
    // The CPU engine's result, then the host-emulated CUDA kernels', against the same reference.
    let mut compare = |what: &str, got: &[f64]| {
        check_close(got, &want, &scale, T::TOL).map_err(|e| {
            let mut failing = Vec::new();
            if !labels.is_empty() {
                let w = dim / labels.len();
                for (q, label) in labels.iter().enumerate() {
                    let block = |v: &[f64]| -> Vec<f64> {
                        v.chunks(dim)
                            .flat_map(|row| row[q * w..(q + 1) * w].to_vec())
                            .collect()
                    };
                    if check_close(&block(got), &block(&want), &block(&scale), T::TOL).is_err() {
                        failing.push(*label);
                    }
                }
            }
            format!("{ctx}: {what}: differing sub-formulas {failing:?}: {e}")
        })?;
        for (k, (&g, &w)) in got.iter().zip(&want).enumerate() {
            if scale[k] > 0.0 {
                worst = worst.max((g - w).abs() / scale[k]);
            }
        }
        Ok::<(), String>(())
    };
    compare("CPU engine", &got)?;
    for h in host {
        let got = h.got.map_err(|e| format!("{ctx}: {}: {e}", h.what))?;
        compare(&h.what, &got)?;
    }
    Ok(worst)
}

/// [`try_labeled`] for an output without labelled blocks: what most cases and the harness checks
/// of every operation test run.
pub fn try_case<T: Prec>(
    name: &str,
    spec: Spec,
    size: (usize, usize),
    red: Red,
    dim: usize,
    run: fn(&Inputs<T>) -> Rows<T>,
    term: Term,
) -> Result<f64, String> {
    try_labeled(name, spec, size, red, dim, run, term, &[])
}

/// Runs a case at `sizes` in f32 and f64 (`runs`); panics on a mismatch, prints the
/// worst `|err| / scale` per precision (`-- --nocapture`). The one driver of the operation tests.
pub fn check(
    name: &str,
    spec: Spec,
    sizes: &[(usize, usize)],
    red: Red,
    dim: usize,
    runs: Runs,
    term: impl Fn(&Args, &mut [f64]),
) {
    check_labeled(name, &[], spec, sizes, red, dim, runs, &term);
}

/// [`check`] of an output made of `labels.len()` blocks of columns, one per sub-formula: a
/// mismatch names the blocks that differ (see [`try_labeled`]).
#[allow(clippy::too_many_arguments)]
pub fn check_labeled(
    name: &str,
    labels: &[&str],
    spec: Spec,
    sizes: &[(usize, usize)],
    red: Red,
    dim: usize,
    runs: Runs,
    term: Term,
) {
    let (mut w32, mut w64) = (0f64, 0f64);
    for &size in sizes {
        let r32 = try_labeled::<f32>(name, spec, size, red, dim, runs.0, term, labels);
        w32 = w32.max(r32.unwrap_or_else(|e| panic!("{e}")));
        let r64 = try_labeled::<f64>(name, spec, size, red, dim, runs.1, term, labels);
        w64 = w64.max(r64.unwrap_or_else(|e| panic!("{e}")));
    }
    eprintln!("{name}: worst |err| / sum |term|: f32 {w32:.1e}, f64 {w64:.1e}");
}

/// [`check`] of a kernel matrix times `v` (`b_j`) of 1 and of 3 columns: the matvec half of
/// most operation tests.
pub fn check_matvec(
    name: &str,
    spec: Spec,
    sizes: &[(usize, usize)],
    runs: Runs,
    term: impl Fn(&Args, &mut [f64]),
) {
    for nv in [1, 3] {
        check(name, spec.b(nv), sizes, Red::J, nv, runs, &term);
    }
}

/// Asserts that the harness accepts `right` and rejects each of `wrong` (named), in f32 and f64
/// at every size of `sizes` (one output row per i): the comparisons of a test file can fail.
pub fn check_rejects(
    name: &str,
    spec: Spec,
    sizes: &[(usize, usize)],
    dim: usize,
    runs: Runs,
    right: Term,
    wrong: &[(&str, Term)],
) {
    for &size in sizes {
        try_case::<f64>(name, spec, size, Red::J, dim, runs.1, right).unwrap();
        try_case::<f32>(name, spec, size, Red::J, dim, runs.0, right).unwrap();
        for &(what, wrong) in wrong {
            assert!(
                try_case::<f64>(name, spec, size, Red::J, dim, runs.1, wrong).is_err(),
                "{what} at {size:?} f64 was accepted"
            );
            assert!(
                try_case::<f32>(name, spec, size, Red::J, dim, runs.0, wrong).is_err(),
                "{what} at {size:?} f32 was accepted"
            );
        }
    }
}

/// Asserts that every host-emulated kernel recorded since the last call gave exactly `want`
/// (the exact special-point tests compare the GPU path as they compare the CPU engine).
pub fn assert_host_exact(what: &str, want: &[f64]) {
    for h in gpu_host::take_recorded() {
        let got = h.got.unwrap_or_else(|e| panic!("{what}: {}: {e}", h.what));
        assert_eq!(got, want, "{what}: {}", h.what);
    }
}

/// Runs a formula of scalar `x_i`, `y_j` on exact data (`x`, `y`, exactly representable in f32)
/// in f64 and in f32, and asserts that the CPU engine and the host-emulated kernels give exactly
/// `want`: the shared part of the special-point tests.
pub fn assert_exact_both(
    x: &[f64],
    y: &[f64],
    want: &[f64],
    run32: fn(&[f32], &[f32]) -> Rows<f32>,
    run64: fn(&[f64], &[f64]) -> Rows<f64>,
) {
    gpu_host::take_recorded();
    let got64 = run64(x, y);
    assert_eq!(got64.as_slice(), want, "f64");
    assert_host_exact("f64", want);
    let (x32, y32): (Vec<f32>, Vec<f32>) = (
        x.iter().map(|v| *v as f32).collect(),
        y.iter().map(|v| *v as f32).collect(),
    );
    let got32: Vec<f64> = run32(&x32, &y32).iter().map(|v| *v as f64).collect();
    assert_eq!(got32, want, "f32");
    assert_host_exact("f32", want);
}

/// `(run::<f32>, run::<f64>)`: one generic run function as the [`Runs`] of both precisions, so
/// that each case is written once for f32 and f64.
#[allow(unused_macros)]
macro_rules! both {
    ($run:ident) => {
        ($run::<f32>, $run::<f64>)
    };
}
#[allow(unused_imports)]
pub(crate) use both;
