//! The Nyström preconditioner of `(alpha I + A)`, from `m` landmark columns:
//!
//! `M = alpha I + C W^-1 C^T`, with `C = A[:, S]` (`n x m`) and `W = A[S, S]` (`m x m`),
//!
//! applied through the Woodbury identity as
//!
//! `M^-1 r = (r - C (alpha W + C^T C)^-1 C^T r) / alpha`
//!
//! at the cost of two thin products with `C` and one `m x m` triangular solve pair per iteration.
//! Greedy landmarks come from a pivoted Cholesky factorisation, which gives `C W^-1 C^T = L L^T`
//! directly (`L` takes `C`'s place and `W = I`).
//!
//! It also gives `log det M` and draws from `N(0, M)`, what a stochastic Lanczos quadrature of
//! `log det(alpha I + A)` needs besides [`batched_cg`](crate::batched_cg).

use std::sync::Mutex;

use nalgebra::{DMatrix, DMatrixViewMut};
use rayon::prelude::*;

mod estimates;

use super::basis::{columns, entry, gram, sub_rows, with_basis, Basis, Entry, ROWS};
use crate::{KeopsError, LinearOperator, Preconditioner, Real};

/// How a Nyström preconditioner picks its `m` landmark points (columns of `A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landmarks {
    /// Greedy pivoted Cholesky: each landmark is the point the previous ones approximate worst
    /// (largest diagonal of `A - L L^T`). Deterministic; adapts to low-rank kernels: with an
    /// automatic rank it stops at the first column whose energy `||l||^2` (about the eigenvalue
    /// it would capture) is at most `alpha` or twice its pivot `d_p` (a column that is little
    /// more than its diagonal entry): what is left hardly changes the condition number, and a
    /// nearly diagonal `A` gets no landmark at all. Needs [`LinearOperator::diagonal`].
    Greedy,
    /// `m` distinct points drawn uniformly by a generator seeded with `seed` (reproducible);
    /// all columns evaluated in one pass.
    Uniform {
        /// The generator's seed.
        seed: u64,
    },
    /// [`Greedy`](Self::Greedy) among `rows` points drawn uniformly (reproducible with `seed`),
    /// its automatic stop estimated from them; the chosen columns are then evaluated over all
    /// `n` points in one pass and used as uniform landmarks are. The choice costs `rows m^2`
    /// flops instead of `n m^2` (greedy's factor is rebuilt and read once per landmark): for
    /// large `n`, where that would cost more than the solve's products (the hierarchical
    /// operator's default). All points when `rows >= n`.
    SampledGreedy {
        /// Points the landmarks are chosen from.
        rows: usize,
        /// The generator's seed.
        seed: u64,
    },
}

/// Settings of the Nyström preconditioner: landmarks, rank `m` and memory budget.
///
/// It stores `m` columns of `A` in f64 (`8 n m` bytes; in f32, half that, for f32 data) and two
/// `m x m` matrices; the rank is limited so that `8 m (n + 2 m)` bytes fit the budget (256 MiB by
/// default). The automatic rank
/// is at most `min(n, 2 sqrt(n) + 100, 1000)` and the budget's; greedy landmarks may stop
/// earlier (see [`Landmarks::Greedy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nystrom {
    landmarks: Landmarks,
    rank: Option<usize>,
    /// A cap on the automatic rank.
    limit: Option<usize>,
    memory: usize,
}

impl Default for Nystrom {
    fn default() -> Self {
        Nystrom {
            landmarks: Landmarks::Greedy,
            rank: None,
            limit: None,
            memory: 256 << 20,
        }
    }
}

/// Pivots whose residual diagonal falls below this fraction of the largest initial one are
/// numerically spent (the kernel has lower rank than asked).
const SPENT: f64 = 1e-13;

impl Nystrom {
    /// Greedy landmarks, automatic rank, 256 MiB.
    pub fn new() -> Self {
        Self::default()
    }
    /// How landmarks are chosen.
    pub fn landmarks(mut self, landmarks: Landmarks) -> Self {
        self.landmarks = landmarks;
        self
    }
    /// At most `m` landmarks (exactly `m` when uniform; greedy stops earlier only when the
    /// kernel's numerical rank is lower). Must be at most `n` and fit the memory budget.
    pub fn rank(mut self, m: usize) -> Self {
        self.rank = Some(m);
        self
    }
    /// Rank chosen from `n`, the budget and (greedy) the spectrum; the default.
    pub fn auto_rank(mut self) -> Self {
        self.rank = None;
        self
    }
    /// The automatic rank, at most `m` (for an operator whose products cost much less than
    /// `n` evaluations per row, so that the setup's `n m^2` flops stay within a few products).
    pub fn auto_rank_limit(mut self, m: usize) -> Self {
        self.rank = None;
        self.limit = Some(m);
        self
    }
    /// Bytes the preconditioner may keep (`8 m (n + 2 m)`).
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self
    }
    /// The landmark choice.
    pub fn get_landmarks(&self) -> Landmarks {
        self.landmarks
    }
    /// The requested rank, `None` when automatic.
    pub fn get_rank(&self) -> Option<usize> {
        self.rank
    }
    /// The memory budget in bytes.
    pub fn get_memory_budget(&self) -> usize {
        self.memory
    }

    /// The largest rank the budget allows for `n` points.
    fn budget_rank(&self, n: usize) -> usize {
        // 8 m (n + 2 m) <= memory, solved for m.
        let (n, mem) = (n as f64, self.memory as f64 / 8.0);
        (((n * n + 8.0 * mem).sqrt() - n) / 4.0).floor() as usize
    }

    /// The rank limit for `n` points: the requested one (checked), or the automatic one.
    fn max_rank(&self, n: usize) -> Result<usize, KeopsError> {
        let budget = self.budget_rank(n);
        match self.rank {
            Some(m) if m > n => Err(KeopsError::NystromRank {
                rank: m,
                reason: format!("there are only {n} points"),
            }),
            Some(m) if m > budget => Err(KeopsError::NystromRank {
                rank: m,
                reason: format!(
                    "it needs {:.1} MiB for {n} points, the memory budget is {:.1} MiB (at most rank {budget})",
                    (8 * m * (n + 2 * m)) as f64 / (1u64 << 20) as f64,
                    self.memory as f64 / (1u64 << 20) as f64
                ),
            }),
            Some(m) => Ok(m),
            None => Ok(n.min(budget).min(auto_rank(n)).min(self.limit.unwrap_or(n))),
        }
    }

    /// Builds the preconditioner of `alpha I + A` (`alpha > 0`).
    pub fn build<T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
    ) -> Result<NystromPreconditioner, KeopsError> {
        let n = square(op, alpha)?;
        let m_max = self.max_rank(n)?;
        let f32_data = T::NAME == "f32";
        // Only the operator's entries are fetched here (generic code, instantiated per operator
        // type); the factorisations are plain functions.
        match self.landmarks {
            Landmarks::Greedy => {
                let mut d = vec![0.0; n];
                op.diagonal(&mut d)?;
                let mut column = |p: usize, col: &mut [f64]| op.columns(&[p], col);
                let adaptive = self.rank.is_none();
                let (l, pivots) = pivoted_cholesky(d, alpha, 1.0, m_max, adaptive, &mut column)?;
                assemble(n, alpha, Basis::new(l, f32_data), pivots, false, f32_data)
            }
            Landmarks::SampledGreedy { rows, seed } => {
                let subset = sample_indices(n, rows.max(1), seed);
                let mut d = vec![0.0; n];
                op.diagonal(&mut d)?;
                let ds = subset.iter().map(|&i| d[i]).collect();
                let mut full = vec![0.0; n];
                let mut column = |p: usize, col: &mut [f64]| {
                    op.columns(&[subset[p]], &mut full)?;
                    col.iter_mut().zip(&subset).for_each(|(c, &i)| *c = full[i]);
                    Ok(())
                };
                let adaptive = self.rank.is_none();
                // Each sampled row stands for n / rows points in the energies.
                let weight = n as f64 / subset.len() as f64;
                let (_, pivots) =
                    pivoted_cholesky(ds, alpha, weight, m_max, adaptive, &mut column)?;
                let landmarks: Vec<usize> = pivots.iter().map(|&p| subset[p]).collect();
                let c = columns(op, &landmarks, f32_data)?;
                assemble(n, alpha, c, landmarks, true, f32_data)
            }
            Landmarks::Uniform { seed } => {
                let landmarks = sample_indices(n, m_max, seed);
                let c = columns(op, &landmarks, f32_data)?;
                assemble(n, alpha, c, landmarks, true, f32_data)
            }
        }
    }

    /// Builds the preconditioner of `alpha I + A` on these landmarks (distinct indices below
    /// `n`, at most the memory budget's rank), whatever [`landmarks`](Self::landmarks) says:
    /// for operators that should share them, such as the kernel matrices of a hyperparameter
    /// fit (landmarks that move with the hyperparameters would make estimates built on the
    /// preconditioner jump), or ranks that must agree. Take them from an earlier
    /// [`NystromPreconditioner::landmarks`].
    pub fn build_on<T: Real, A: LinearOperator<T> + ?Sized>(
        &self,
        op: &A,
        alpha: f64,
        landmarks: &[usize],
    ) -> Result<NystromPreconditioner, KeopsError> {
        let n = square(op, alpha)?;
        let rank = |reason: String| KeopsError::NystromRank {
            rank: landmarks.len(),
            reason,
        };
        let budget = self.budget_rank(n);
        if landmarks.len() > budget {
            return Err(rank(format!(
                "the memory budget allows rank {budget} for {n} points"
            )));
        }
        let mut sorted = landmarks.to_vec();
        sorted.sort_unstable();
        if let Some(&p) = sorted.iter().find(|&&p| p >= n) {
            return Err(rank(format!("landmark {p} is not one of the {n} points")));
        }
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(rank(format!("landmark {} is given twice", w[0])));
        }
        let f32_data = T::NAME == "f32";
        let c = columns(op, landmarks, f32_data)?;
        assemble(n, alpha, c, landmarks.to_vec(), true, f32_data)
    }
}

/// The size of `op`, checked square, and `alpha` checked positive and finite.
fn square<T: Real, A: LinearOperator<T> + ?Sized>(op: &A, alpha: f64) -> Result<usize, KeopsError> {
    let n = op.nrows();
    if op.ncols() != n {
        return Err(KeopsError::NotSquare {
            rows: n,
            cols: op.ncols(),
        });
    }
    if !(alpha > 0.0 && alpha.is_finite()) {
        return Err(KeopsError::NystromAlpha { alpha });
    }
    Ok(n)
}

/// The preconditioner from its basis (`n x m`, column-major): `C` for uniform landmarks (`W =
/// C[S, :]`), `L` for greedy ones (`W = I`); factors `alpha W + B^T B`.
fn assemble(
    n: usize,
    alpha: f64,
    basis: Basis,
    landmarks: Vec<usize>,
    uniform: bool,
    f32_data: bool,
) -> Result<NystromPreconditioner, KeopsError> {
    let m = landmarks.len();
    let mut core = with_basis!(&basis, |b| gram(b, n, m));
    for a in 0..m {
        if uniform {
            // alpha W, W = A[S, S] (`factor` symmetrises the sum).
            for b in 0..m {
                let w = with_basis!(&basis, |c| entry(c, b * n + landmarks[a]));
                core[(a, b)] += alpha * w;
            }
        } else {
            core[(a, a)] += alpha;
        }
    }
    let (core, jitter) = factor(core, f32_data)?;
    Ok(NystromPreconditioner {
        n,
        alpha,
        basis,
        core,
        jitter,
        uniform,
        landmarks,
        workspace: Mutex::new(Vec::new()),
    })
}

/// The automatic rank limit for `n` points: enough landmarks for the tutorial's kernels while
/// the setup (`n m^2` flops) stays within a few products (`n^2` kernel evaluations).
fn auto_rank(n: usize) -> usize {
    ((2.0 * (n as f64).sqrt()) as usize + 100).min(1000)
}

/// `m` distinct indices of `0..n` (all of them when `m >= n`), uniformly, sorted: a partial
/// Fisher-Yates shuffle driven by splitmix64, the same for a seed on every machine (uniform
/// landmarks, the hierarchical operator's sampled checks, a Gaussian process' fitting subset).
///
/// ```
/// let rows = keops_runtime::sample_indices(10, 3, 7);
/// assert_eq!(rows.len(), 3);
/// assert!(rows.windows(2).all(|w| w[0] < w[1]) && rows[2] < 10);
/// ```
pub fn sample_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || splitmix64(&mut state);
    let mut idx: Vec<usize> = (0..n).collect();
    let m = m.min(n);
    for i in 0..m {
        // Multiply-shift: uniform enough in 0..n - i for any n that fits memory.
        let j = i + ((next() as u128 * (n - i) as u128) >> 64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(m);
    idx.sort_unstable();
    idx
}

/// The next value of the splitmix64 generator (reproducible sampling without a dependency).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Column `p` of `A` into a buffer of its `n` rows.
type Column<'a> = dyn FnMut(usize, &mut [f64]) -> Result<(), KeopsError> + 'a;

/// Greedy pivoted Cholesky of `A` (`n x n`, diagonal `d`, columns from `column`): `L` (`n x m`,
/// column-major) with `A ≈ L L^T` exact on the pivot rows and columns, and the pivots. At most
/// `m_max` columns; stops when the residual diagonal is spent, or (`adaptive`) at the first
/// column with `||l||^2 <= max(alpha, 2 d_p)`, where `||l||^2` is `d_p` plus `weight` times the
/// other rows' squares (`A` a sample of rows and columns of a larger matrix, each standing for
/// `weight` of its points).
fn pivoted_cholesky(
    mut d: Vec<f64>,
    alpha: f64,
    weight: f64,
    m_max: usize,
    adaptive: bool,
    column: &mut Column<'_>,
) -> Result<(Vec<f64>, Vec<usize>), KeopsError> {
    let n = d.len();
    if let Some(i) = d.iter().position(|v| !v.is_finite()) {
        return Err(KeopsError::KernelUndefined {
            row: i,
            value: d[i],
        });
    }
    let d0 = d.iter().copied().fold(0.0, f64::max);
    // Reserved, not touched: pages are only used as columns are added.
    let mut l: Vec<f64> = Vec::with_capacity(n * m_max);
    let mut pivots = Vec::with_capacity(m_max);
    let mut col = vec![0.0; n];
    let mut row_p = Vec::with_capacity(m_max);
    while pivots.len() < m_max {
        let (p, dp) = d
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, f64::NEG_INFINITY),
                |b, (i, v)| if v > b.1 { (i, v) } else { b },
            );
        if dp <= SPENT * d0 {
            break;
        }
        column(p, &mut col)?;
        // l = (A[:, p] - L L[p, :]^T) / sqrt(d_p).
        row_p.clear();
        row_p.extend((0..pivots.len()).map(|j| l[j * n + p]));
        let energy = dp + weight * (next_factor_column(&mut col, &l, &row_p, 1.0 / dp.sqrt()) - dp);
        // The eigenvalue this column would capture is about its energy: not worth it when it
        // is at most alpha (it hardly changes the condition number), nor when the column is
        // about its own pivot alone (energy <= 2 d_p: A is diagonal-like there).
        if adaptive && energy <= alpha.max(2.0 * dp) {
            break;
        }
        // Exact zeros where A - L L^T vanishes: the earlier pivots' rows.
        for &q in &pivots {
            col[q] = 0.0;
        }
        col[p] = dp.sqrt();
        for (d, c) in d.iter_mut().zip(&col) {
            *d = (*d - c * c).max(0.0);
        }
        d[p] = 0.0;
        l.extend_from_slice(&col);
        pivots.push(p);
    }
    Ok((l, pivots))
}

/// `col = (col - L w) * s` for `L` (`n x w.len()`, column-major, `n = col.len()`), by blocks of
/// rows in parallel; returns the new `||col||^2`.
fn next_factor_column(col: &mut [f64], l: &[f64], w: &[f64], s: f64) -> f64 {
    let n = col.len();
    col.par_chunks_mut(ROWS)
        .enumerate()
        .map(|(t, chunk)| {
            let i0 = t * ROWS;
            for (j, &w) in w.iter().enumerate() {
                let lj = &l[j * n + i0..j * n + i0 + chunk.len()];
                for (o, &v) in chunk.iter_mut().zip(lj) {
                    *o -= w * v;
                }
            }
            chunk
                .iter_mut()
                .map(|o| {
                    *o *= s;
                    *o * *o
                })
                .sum::<f64>()
        })
        .sum()
}

/// Cholesky factor of the symmetric `core`, with jitter on the diagonal when rounding (of the
/// kernel's values in f32, or a numerically singular `W`) makes it indefinite: from `1e-13`
/// (`1e-7` for f32 data) of the largest diagonal entry, times 100 per try, up to `1e-3`.
/// Returns the factor and the jitter added.
fn factor(mut core: DMatrix<f64>, f32_data: bool) -> Result<(DMatrix<f64>, f64), KeopsError> {
    let m = core.nrows();
    let core_t = core.transpose();
    core += core_t;
    core *= 0.5;
    let scale = (0..m).map(|j| core[(j, j)]).fold(0.0, f64::max);
    let first = if f32_data { 1e-7 } else { 1e-13 };
    // No jitter, then a bounded ladder (an indefinite or zero `core` must not loop).
    let ladder = std::iter::once(0.0).chain(
        std::iter::successors(Some(first), |j| Some(j * 100.0))
            .take_while(|&j| j <= 1e-3)
            .map(|j| j * scale)
            .filter(|_| scale > 0.0 && scale.is_finite()),
    );
    let mut jitter = 0.0;
    for j in ladder {
        jitter = j;
        let mut shifted = core.clone();
        for i in 0..m {
            shifted[(i, i)] += jitter;
        }
        if let Some(c) = nalgebra::Cholesky::new(shifted) {
            return Ok((c.unpack(), jitter));
        }
    }
    Err(KeopsError::NystromFactorization { rank: m, jitter })
}

/// The Nyström preconditioner `M = alpha I + C W^-1 C^T` of `alpha I + A`, built by
/// [`Nystrom::build`]: `M^-1 r = (r - C (alpha W + C^T C)^-1 C^T r) / alpha`. Reusable for any
/// number of right-hand sides (with the same `alpha`).
#[derive(Debug)]
pub struct NystromPreconditioner {
    n: usize,
    alpha: f64,
    /// `C` (uniform landmarks) or `L` (greedy), `n x m` column-major.
    basis: Basis,
    /// Lower Cholesky factor of `alpha W + C^T C` (`alpha I + L^T L`), plus `jitter I`.
    core: DMatrix<f64>,
    /// What `factor` added to the diagonal of `core`: the `M` applied is then
    /// `alpha I + C H^-1 C^T` with `H = W + (jitter / alpha) I`, which `log_det` and `sample`
    /// must match.
    jitter: f64,
    /// Landmarks from sampled points (`C`, `W = C[S, :]`) rather than greedy ones (`L`, `W = I`).
    uniform: bool,
    landmarks: Vec<usize>,
    /// `C^T r`, `(m, k)` row-major; grown on first use, reused by later applications.
    workspace: Mutex<Vec<f64>>,
}

impl NystromPreconditioner {
    /// The landmark points (indices of rows of `A`), in the order of the basis columns.
    pub fn landmarks(&self) -> &[usize] {
        &self.landmarks
    }
    /// The `alpha` it was built for.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// Bytes it keeps: the `n x m` basis (in f32 for f32 data) and the `m x m` factor.
    pub fn memory(&self) -> usize {
        self.basis.bytes() + 8 * self.core.len()
    }

    fn apply_with(&self, r: &[f64], k: usize, out: &mut [f64], w: &mut Vec<f64>) {
        with_basis!(&self.basis, |b| self.apply_basis(b, r, k, out, w))
    }

    fn apply_basis<S: Entry>(
        &self,
        basis: &[S],
        r: &[f64],
        k: usize,
        out: &mut [f64],
        w: &mut Vec<f64>,
    ) {
        let (n, m) = (self.n, self.landmarks.len());
        let inv = 1.0 / self.alpha;
        if m == 0 {
            for (o, r) in out.iter_mut().zip(r) {
                *o = r * inv;
            }
            return;
        }
        // w = C^T r, (m, k): one pass over each basis column.
        w.clear();
        w.resize(m * k, 0.0);
        w.par_chunks_mut(k).enumerate().for_each(|(j, wj)| {
            let cj = &basis[j * n..(j + 1) * n];
            if k == 1 {
                wj[0] = cj.iter().zip(r).map(|(&c, r)| c.into() * r).sum();
            } else {
                for (&c, r) in cj.iter().zip(r.chunks_exact(k)) {
                    for (w, r) in wj.iter_mut().zip(r) {
                        *w += c.into() * r;
                    }
                }
            }
        });
        // w = (alpha W + C^T C)^-1 w: two triangular solves in place.
        {
            let mut wv = DMatrixViewMut::from_slice_with_strides_mut(&mut w[..], m, k, k, 1);
            let l = &self.core;
            l.solve_lower_triangular_mut(&mut wv);
            l.tr_solve_lower_triangular_mut(&mut wv);
        }
        // out = (r - C w) / alpha, by blocks of rows.
        let w = &w[..];
        out.par_chunks_mut(ROWS * k)
            .zip(r.par_chunks(ROWS * k))
            .enumerate()
            .for_each(|(t, (o, r))| {
                o.copy_from_slice(r);
                sub_rows(basis, n, t * ROWS, w, k, o);
                for o in o.iter_mut() {
                    *o *= inv;
                }
            });
    }
}

impl Preconditioner for NystromPreconditioner {
    fn size(&self) -> usize {
        self.n
    }
    fn apply(&self, r: &[f64], k: usize, out: &mut [f64]) {
        match self.workspace.try_lock() {
            Ok(mut w) => self.apply_with(r, k, out, &mut w),
            // In use by a concurrent solve: a fresh buffer.
            Err(_) => self.apply_with(r, k, out, &mut Vec::new()),
        }
    }
    fn name(&self) -> &'static str {
        "nystrom"
    }
    fn rank(&self) -> usize {
        self.landmarks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_distinct_sorted_and_reproducible() {
        let s = sample_indices(1000, 100, 7);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, sample_indices(1000, 100, 7));
        assert_ne!(s, sample_indices(1000, 100, 8));
        assert_eq!(sample_indices(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn budget_rank_fits_the_budget() {
        for &(n, mem) in &[
            (10_000usize, 256usize << 20),
            (100_000, 1 << 20),
            (7, 1 << 30),
        ] {
            let nys = Nystrom::new().memory_budget(mem);
            let m = nys.budget_rank(n);
            assert!(8 * m * (n + 2 * m) <= mem, "{n} {mem} {m}");
            assert!(8 * (m + 1) * (n + 2 * (m + 1)) > mem, "{n} {mem} {m}");
        }
    }
}
