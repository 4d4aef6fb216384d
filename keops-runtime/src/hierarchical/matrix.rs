//! [`HierarchicalMatrix`]: the build (tree, order raised until the measured error meets the
//! tolerance, memory checked against the budget), products, the sampled error check, solves.

use std::time::Instant;

use super::far::{Far, FarOptions, Rebound};
use super::tree::Tree;
use super::{random_signed, ExactReason, Hierarchical, HierarchicalError, HierarchicalInfo};
use crate::bound::check_operand_shape;
use crate::ranges::cluster::gather;
use crate::solve::sample_indices;
use crate::{
    BoundKernel, ConjugateGradient, IntoView, KeopsError, KernelMatrix, Landmarks, LinearOperator,
    Nystrom, ProductOut, Ranges, Real, Rows, Solution, SolveError, View,
};

/// A kernel matrix whose products are hierarchical (`KernelMatrix::hierarchical`): exact between
/// neighbouring boxes, interpolated between well-separated ones, to a measured relative error.
/// Usable wherever a kernel matrix is: products with one or several columns, the solver
/// ([`LinearOperator`]), the preconditioners (its diagonal and columns are exact).
///
/// README.md's section "Hierarchical products" has an example (doctested).
pub struct HierarchicalMatrix<T: Real, B> {
    exact: KernelMatrix<T, B>,
    info: HierarchicalInfo,
    /// `None`: products are exact ([`HierarchicalInfo::exact_reason`]).
    plan: Option<Plan<T>>,
    check_rows: usize,
    seed: u64,
}

/// The tree, the points in its order and the near and far fields of one order.
struct Plan<T: Real> {
    tree: Tree,
    xs: Vec<T>,
    ys: Vec<T>,
    near: Rebound<T>,
    far: Far<T>,
}

impl<T: Real, B: BoundKernel<T>> KernelMatrix<T, B> {
    /// This kernel matrix with hierarchical products of relative error about
    /// `params.tolerance` (measured when built): see [`HierarchicalMatrix`].
    ///
    /// Errors: [`HierarchicalError::NoPoints`] for a kernel of other variables than one i and
    /// one j point set (or with block-sparse ranges), [`HierarchicalError::Memory`] over the
    /// budget, [`HierarchicalError::Parameter`] for invalid parameters.
    pub fn hierarchical(
        self,
        params: &Hierarchical,
    ) -> Result<HierarchicalMatrix<T, B>, KeopsError> {
        let start = Instant::now();
        params.check()?;
        if self.block_sparsity().is_some() {
            return Err(HierarchicalError::NoPoints.into());
        }
        let [x, y] = self.bound().points().ok_or(HierarchicalError::NoPoints)?;
        let fitted = fit(self.bound(), &x, &y, params)?;
        let (plan, order, error, reason) = match fitted {
            Fitted::Plan { plan, order, error } => (Some(*plan), order, error, None),
            Fitted::Exact(reason) => (None, 0, 0.0, Some(reason)),
        };
        let memory_bytes = plan.as_ref().map_or(0, |p| {
            memory(&p.tree, order, size_of::<T>()) + p.far.bytes()
        });
        let (levels, leaves, near, far, stored_levels) =
            plan.as_ref().map_or((0, 0, 0, 0, 0), |p| {
                let leaves = p.tree.targets.levels[p.tree.depth].keys.len();
                let near = p.near.block_sparsity().map_or(0, Ranges::kept_pairs);
                let far = p.far.evaluations;
                (p.tree.depth, leaves, near, far, p.far.stored_levels())
            });
        let info = HierarchicalInfo {
            order,
            levels,
            leaves,
            tolerance: params.tolerance,
            estimated_error: error,
            exact_reason: reason,
            memory_bytes,
            build_time: start.elapsed(),
            near_evaluations: near,
            far_evaluations: far,
            stored_levels,
        };
        log::info!("hierarchical kernel matrix: {info}");
        Ok(HierarchicalMatrix {
            exact: self,
            info,
            plan,
            check_rows: params.check_rows,
            seed: params.seed,
        })
    }
}

impl<T: Real, B: BoundKernel<T>> HierarchicalMatrix<T, B> {
    /// What the build made and measured.
    pub fn info(&self) -> &HierarchicalInfo {
        &self.info
    }
    /// The exact kernel matrix (for exact products, columns, the diagonal).
    pub fn exact(&self) -> &KernelMatrix<T, B> {
        &self.exact
    }
    /// Number of rows (i points).
    pub fn nrows(&self) -> usize {
        self.exact.nrows()
    }
    /// Number of columns (j points).
    pub fn ncols(&self) -> usize {
        self.exact.ncols()
    }

    /// `K v` for `v` of shape `(ncols, k)`, hierarchical: shape `(nrows, k)`.
    pub fn matvec<'v>(&self, v: impl IntoView<'v, T>) -> Result<Rows<T>, KeopsError> {
        let v = v.into_view();
        check_operand_shape(self.ncols(), &v)?;
        v.check_finite("the vector")?;
        let mut out = vec![0.0; self.nrows() * v.dim()];
        self.product(v.as_slice(), v.dim(), &mut out);
        Rows::from_vec(out.into_iter().map(T::from_f64).collect(), v.dim())
    }

    /// `out = K~ v` in f64 (caller's order); lengths checked by the callers.
    fn product(&self, v: &[T], nv: usize, out: &mut [f64]) {
        match &self.plan {
            None => {
                let mut o = vec![T::ZERO; out.len()];
                self.exact.product(v, nv, ProductOut::Real(&mut o));
                out.iter_mut().zip(o).for_each(|(a, b)| *a = b.to_f64());
            }
            Some(plan) => {
                let vs = gather(v, nv, &plan.tree.sources().perm);
                let os = plan.product_sorted(&vs, nv);
                for (pos, &row) in plan.tree.targets.perm.iter().enumerate() {
                    out[row * nv..(row + 1) * nv].copy_from_slice(&os[pos * nv..(pos + 1) * nv]);
                }
            }
        }
    }

    /// The relative error `||K~ v - K v|| / ||K v||` of a product, on `rows` rows drawn with
    /// `seed` (all rows if fewer), against the exact engine: `rows * ncols` kernel evaluations
    /// beyond the product.
    pub fn sampled_error<'v>(
        &self,
        v: impl IntoView<'v, T>,
        rows: usize,
        seed: u64,
    ) -> Result<f64, KeopsError> {
        let v = v.into_view();
        check_operand_shape(self.ncols(), &v)?;
        v.check_finite("the vector")?;
        let nv = v.dim();
        let mut approx = vec![0.0; self.nrows() * nv];
        self.product(v.as_slice(), nv, &mut approx);
        let picked = sample_indices(self.nrows(), rows.max(1), seed);
        let exact = self.exact_rows(&picked, v.as_slice(), nv)?;
        Ok(relative_error(&picked, &approx, &exact, nv))
    }

    /// Exact `(K v)_i` for the rows `rows` (caller's order), in f64.
    fn exact_rows(&self, rows: &[usize], v: &[T], nv: usize) -> Result<Vec<f64>, KeopsError> {
        let [x, y] = self
            .exact
            .bound()
            .points()
            .ok_or(HierarchicalError::NoPoints)?;
        let xr = gather(x.as_slice(), x.dim(), rows);
        exact_rows(
            self.exact.bound(),
            xr,
            y.as_slice().to_vec(),
            x.dim(),
            v,
            nv,
        )
    }

    /// Solves `(alpha I + K~) a = b` by [`ConjugateGradient`] with its defaults; the solution's
    /// [`sampled_residual`](Solution::sampled_residual) is the exact system's residual on sampled
    /// rows.
    pub fn solve<'b>(
        &self,
        b: impl IntoView<'b, T>,
        alpha: f64,
    ) -> Result<Solution<T>, SolveError<T>> {
        self.solve_with(&ConjugateGradient::default(), b, alpha)
    }

    /// [`solve`](Self::solve) with the caller's solver settings.
    pub fn solve_with<'b>(
        &self,
        cg: &ConjugateGradient,
        b: impl IntoView<'b, T>,
        alpha: f64,
    ) -> Result<Solution<T>, SolveError<T>> {
        let b = b.into_view();
        let residual =
            |sol: &Solution<T>| self.sampled_residual(b.reborrow(), alpha, &sol.coefficients);
        match cg.solve_shifted(self, alpha, b.reborrow()) {
            Ok(mut sol) => {
                sol.sampled_residual = Some(residual(&sol)?);
                Ok(sol)
            }
            Err(SolveError::NotConverged {
                mut solution,
                tolerance,
                stagnated,
            }) => {
                solution.sampled_residual = Some(residual(&solution)?);
                Err(SolveError::NotConverged {
                    solution,
                    tolerance,
                    stagnated,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The exact system's relative residual `max over columns ||b - alpha a - K a|| / ||b||` on
    /// sampled rows (as many as the build's check, drawn from its seed), with exact products: what
    /// [`solve`](Self::solve) reports as [`Solution::sampled_residual`], for a solve run otherwise
    /// (say with [`ConjugateGradient::solve_with_callback`]). `b` and `a` are `(n, k)`.
    pub fn sampled_residual<'b>(
        &self,
        b: impl IntoView<'b, T>,
        alpha: f64,
        a: &Rows<T>,
    ) -> Result<f64, KeopsError> {
        let b = b.into_view();
        check_operand_shape(self.nrows(), &b)?;
        if a.rows() != b.rows() || a.dim() != b.dim() {
            return Err(KeopsError::OperandLength {
                expected: b.rows() * b.dim(),
                found: a.rows() * a.dim(),
            });
        }
        let nv = b.dim();
        let rows = sample_indices(self.nrows(), self.check_rows, self.seed ^ 0x5eed);
        let ka = self.exact_rows(&rows, a.as_slice(), nv)?;
        let mut worst: f64 = 0.0;
        for c in 0..nv {
            let (mut num, mut den) = (0.0, 0.0);
            for (r, &i) in rows.iter().enumerate() {
                let bi = b.as_slice()[i * nv + c].to_f64();
                let ri = bi - alpha * a.as_slice()[i * nv + c].to_f64() - ka[r * nv + c];
                num += ri * ri;
                den += bi * bi;
            }
            worst = worst.max(if den > 0.0 {
                (num / den).sqrt()
            } else {
                num.sqrt()
            });
        }
        Ok(worst)
    }
}

impl<T: Real> Plan<T> {
    /// The points sorted by box, the near field's kernel and the far field of order `p`.
    fn new<B: BoundKernel<T>>(
        bound: &B,
        x: &View<'_, T>,
        y: &View<'_, T>,
        tree: Tree,
        p: usize,
        opts: &FarOptions,
    ) -> Result<Self, KeopsError> {
        let d = tree.d;
        let xs = gather(x.as_slice(), d, &tree.targets.perm);
        let ys = gather(y.as_slice(), d, &tree.sources().perm);
        let leaves = |side: &super::tree::Side| side.levels[tree.depth].points.clone();
        let ranges = Ranges::from_pairs(
            &leaves(&tree.targets),
            &leaves(tree.sources()),
            tree.near_pairs(),
        )?;
        let near = bound
            .with_points(
                View::from_vec(xs.clone(), d)?,
                View::from_vec(ys.clone(), d)?,
            )
            .ok_or(HierarchicalError::NoPoints)?;
        let near = KernelMatrix::new(near).ranges(&ranges)?;
        let far = Far::new(bound, &tree, p, opts)?;
        Ok(Plan {
            tree,
            xs,
            ys,
            near,
            far,
        })
    }

    /// `K~ v` for `v` in the sources' sorted order, in the targets' sorted order.
    fn product_sorted(&self, v: &[T], nv: usize) -> Vec<f64> {
        let mut near = vec![T::ZERO; self.xs.len() / self.tree.d * nv];
        self.near.product(v, nv, ProductOut::Real(&mut near));
        let mut out: Vec<f64> = near.iter().map(|x| x.to_f64()).collect();
        let v64: Vec<f64> = v.iter().map(|x| x.to_f64()).collect();
        self.far
            .apply(&self.tree, &self.xs, &self.ys, &v64, nv, &mut out);
        out
    }

    /// The relative error of a product with a random vector (entries in [-1, 1]) on `rows`
    /// sampled rows, against the exact engine.
    fn build_error<B: BoundKernel<T>>(
        &self,
        bound: &B,
        rows: usize,
        seed: u64,
    ) -> Result<f64, KeopsError> {
        let (n, m) = (self.xs.len() / self.tree.d, self.ys.len() / self.tree.d);
        let mut state = seed;
        let v: Vec<T> = (0..m)
            .map(|_| T::from_f64(random_signed(&mut state)))
            .collect();
        let approx = self.product_sorted(&v, 1);
        let picked = sample_indices(n, rows, seed ^ 0xc0ffee);
        let d = self.tree.d;
        let exact = exact_rows(
            bound,
            gather(&self.xs, d, &picked),
            self.ys.clone(),
            d,
            &v,
            1,
        )?;
        Ok(relative_error(&picked, &approx, &exact, 1))
    }
}

/// Points the preconditioner's greedy landmarks are chosen from (`Landmarks::SampledGreedy`):
/// at 1e6 points, greedy over all of them costs 15 products of the 2D Laplacian (it reads its
/// growing factor once per landmark); among 65,536 the landmarks do as well (70 iterations).
const SAMPLED_ROWS: usize = 1 << 16;

/// What the order search ends with.
enum Fitted<T: Real> {
    /// A plan of this order, its measured error.
    Plan {
        plan: Box<Plan<T>>,
        order: usize,
        error: f64,
    },
    /// Exact products, and why.
    Exact(ExactReason),
}

/// The lowest order (from the first guess, raised at the measured convergence rate) whose
/// product's error on sampled rows meets the target, within the memory budget.
fn fit<T: Real, B: BoundKernel<T>>(
    bound: &B,
    x: &View<'_, T>,
    y: &View<'_, T>,
    params: &Hierarchical,
) -> Result<Fitted<T>, KeopsError> {
    let same = crate::data::same_data(x, y);
    let d = x.dim();
    let max_order = params.max_order.unwrap_or(match d {
        1 | 2 => 16,
        3 => 10,
        _ => 6,
    });
    // Half the tolerance, for the error of other vectors than the check's; f32's rounding of
    // the products (a few 1e-7) is a floor no order goes below.
    let target = (0.5 * params.tolerance).max(8.0 * epsilon::<T>());
    let mut p = first_order(params.tolerance).min(max_order);
    let mut opts = FarOptions {
        store_bytes: 0,
        // Stored operators may differ from evaluated ones by the data's rounding (node
        // coordinates rounded at other places), and by a tenth of the tolerance at most.
        invariance: (0.1 * params.tolerance).max(32.0 * epsilon::<T>()),
        seed: params.seed ^ 0x1a7e,
    };
    let mut last: Option<(usize, f64)> = None;
    loop {
        let leaf = params.leaf_size.unwrap_or_else(|| default_leaf(p, d));
        // Higher orders want larger leaves, but never at the cost of the far field the first
        // order found (two levels at least).
        let min_depth = if last.is_some() { 2 } else { 0 };
        let tree = Tree::new(x, y, same, leaf, min_depth)?;
        if tree.depth < 2 {
            return Ok(Fitted::Exact(ExactReason::NoFarField));
        }
        let needed = memory(&tree, p, size_of::<T>()) + node_memory::<T>(&tree, p);
        let budget = params.memory_budget;
        if needed > budget {
            return Err(HierarchicalError::Memory { needed, budget }.into());
        }
        // Stored far-field operators are optional: in what the budget leaves, a quarter at most.
        opts.store_bytes = (budget - needed).min(budget / 4);
        let plan = Plan::new(bound, x, y, tree, p, &opts)?;
        let error = plan.build_error(bound, params.check_rows, params.seed)?;
        if error <= target {
            return Ok(Fitted::Plan {
                plan: Box::new(plan),
                order: p,
                error,
            });
        }
        if p >= max_order {
            let order = p;
            return Ok(Fitted::Exact(ExactReason::NotCompressible {
                order,
                error,
                target,
            }));
        }
        let next = next_order(p, error, last, target);
        last = Some((p, error));
        p = next.min(max_order);
    }
}

/// Exact `K(x_r, y) v` for the points `xr` against all of `ys`, in f64.
fn exact_rows<T: Real, B: BoundKernel<T>>(
    bound: &B,
    xr: Vec<T>,
    ys: Vec<T>,
    d: usize,
    v: &[T],
    nv: usize,
) -> Result<Vec<f64>, KeopsError> {
    let rows = xr.len() / d;
    let k = bound
        .with_points(View::from_vec(xr, d)?, View::from_vec(ys, d)?)
        .ok_or(HierarchicalError::NoPoints)?;
    let mut out = vec![T::ZERO; rows * nv];
    KernelMatrix::new(k).product(v, nv, ProductOut::Real(&mut out));
    Ok(out.into_iter().map(|x| x.to_f64()).collect())
}

/// `||approx[rows] - exact|| / ||exact||` (rows of `nv` columns).
fn relative_error(rows: &[usize], approx: &[f64], exact: &[f64], nv: usize) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (r, &i) in rows.iter().enumerate() {
        for c in 0..nv {
            let (a, e) = (approx[i * nv + c], exact[r * nv + c]);
            num += (a - e) * (a - e);
            den += e * e;
        }
    }
    if den > 0.0 {
        (num / den).sqrt()
    } else {
        num.sqrt()
    }
}

/// The unit roundoff of `T`.
fn epsilon<T: Real>() -> f64 {
    if T::from_f64(1.0 + 1e-10).to_f64() == 1.0 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    }
}

/// A first order for a tolerance: measured on the 2D Laplacian kernel (sigma 0.1, f32), orders
/// 6, 7 and 8 give relative product errors of 8e-6, 1.2e-6 and 4e-7 (the f32 floor); smoother
/// kernels need fewer (it only costs time), rougher ones more (the build raises it).
fn first_order(tolerance: f64) -> usize {
    (-tolerance.log10()).max(1.0).ceil() as usize + 2
}

/// The next order to try from the last measurements: the convergence rate of the last two, or
/// two more.
fn next_order(p: usize, error: f64, last: Option<(usize, f64)>, target: f64) -> usize {
    let step = match last {
        Some((q, e)) if e > error && p > q => {
            let rate = (e / error).ln() / (p - q) as f64;
            ((error / target).ln() / rate).ceil().clamp(1.0, 6.0) as usize
        }
        _ => 2,
    };
    p + step
}

/// Points per leaf balancing the near field (`3^d` leaves of `s` points per point) against the
/// far field (a few dozen boxes of `p^d` nodes per leaf): `s ~ 1.5 p^d`, measured with stored
/// far-field operators (2D Laplacian, order 8: at 1e6 points leaves of ~61 points make products
/// 25% faster than ~244; at 1e4, ~156 beat ~39). The tree takes the level whose mean leaf is
/// nearest.
fn default_leaf(p: usize, d: usize) -> usize {
    (3 * p.pow(d as u32) / 2).clamp(32, 1 << 14)
}

/// Bytes a plan of order `p` over `tree` holds, and one product's buffers (one column), the far
/// field's node interactions aside ([`node_memory`]).
fn memory(tree: &Tree, p: usize, real: usize) -> usize {
    let d = tree.d;
    let nodes = p.pow(d as u32);
    let points = tree.targets.perm.len()
        + if tree.same() {
            0
        } else {
            tree.sources().perm.len()
        };
    // Sorted points twice (ours, the near kernel's), their order, a product's vectors.
    let point_bytes = points * (2 * d * real + 8 + 2 * (8 + real));
    let boxes: usize = (2..=tree.depth)
        .map(|l| tree.targets.levels[l].keys.len() + tree.sources().levels[l].keys.len())
        .sum();
    // Multipoles and locals in f64 and in T.
    let box_bytes = boxes * nodes * 2 * (8 + real);
    let near_pairs = tree.targets.levels[tree.depth].keys.len() * 3usize.pow(d as u32);
    point_bytes + box_bytes + near_pairs * 48
}

/// Bytes of every level's interpolation nodes (one or both sides, in `T`), which evaluated node
/// interactions hold (stored ones replace them, within `FarOptions::store_bytes`).
fn node_memory<T: Real>(tree: &Tree, p: usize) -> usize {
    let nodes = p.pow(tree.d as u32);
    let boxes: usize = (2..=tree.depth)
        .map(|l| {
            let sources = if tree.same() {
                0
            } else {
                tree.sources().levels[l].keys.len()
            };
            tree.targets.levels[l].keys.len() + sources
        })
        .sum();
    boxes * nodes * tree.d * size_of::<T>()
}

impl<T: Real, B: BoundKernel<T>> LinearOperator<T> for HierarchicalMatrix<T, B> {
    fn nrows(&self) -> usize {
        HierarchicalMatrix::nrows(self)
    }
    fn ncols(&self) -> usize {
        HierarchicalMatrix::ncols(self)
    }
    fn apply(&self, x: &[T], k: usize, out: &mut [T]) -> Result<(), KeopsError> {
        let mut o = vec![0.0; out.len()];
        self.product(x, k, &mut o);
        out.iter_mut().zip(o).for_each(|(a, b)| *a = T::from_f64(b));
        Ok(())
    }
    fn apply_shifted(
        &self,
        alpha: f64,
        x: &[T],
        k: usize,
        out: &mut [f64],
        _scratch: &mut [T],
    ) -> Result<(), KeopsError> {
        self.product(x, k, out);
        out.iter_mut()
            .zip(x)
            .for_each(|(o, x)| *o += alpha * x.to_f64());
        Ok(())
    }
    /// Greedy landmarks chosen among 65,536 sampled points (all of them below that) with the
    /// automatic rank (it stops when the next landmark would hardly help), at most `3 sqrt(e)`
    /// for `e` kernel entries per row and product (about 140 for the 2D Laplacian at 1e-6,
    /// against `2 sqrt(n) + 100` for exact products; at least 64), so that the setup's
    /// `n m^2` flops (the columns' Gram matrix) cost a few products; 1 GiB for the `n x m`
    /// columns.
    fn auto_nystrom(&self) -> Nystrom {
        let per_row = (self.info.near_evaluations + self.info.far_evaluations) as f64
            / self.nrows().max(1) as f64;
        let landmarks = if self.nrows() > SAMPLED_ROWS {
            Landmarks::SampledGreedy {
                rows: SAMPLED_ROWS,
                seed: self.seed,
            }
        } else {
            Landmarks::Greedy
        };
        match self.plan {
            None => Nystrom::new(),
            Some(_) => Nystrom::new()
                .landmarks(landmarks)
                .auto_rank_limit(((3.0 * per_row.sqrt()) as usize).clamp(64, 1000))
                .memory_budget(1 << 30),
        }
    }
    fn columns(&self, cols: &[usize], out: &mut [f64]) -> Result<(), KeopsError> {
        self.exact.columns_into(cols, out)
    }
    fn diagonal(&self, out: &mut [f64]) -> Result<(), KeopsError> {
        LinearOperator::diagonal(&self.exact, out)
    }
}

impl<T: Real, B> std::fmt::Debug for HierarchicalMatrix<T, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HierarchicalMatrix")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
