//! Hierarchical kernel products: `K v` in O(N) kernel evaluations for points in 1 to 3
//! dimensions, to a requested relative accuracy, from nothing but the formula and its points.
//!
//! The method is the black-box fast multipole method (bbFMM, Fong & Darve 2009): a tree of boxes
//! over the points; pairs of neighbouring leaves (the near field) are evaluated exactly by the
//! block-sparse engine; the interaction of well-separated boxes (the far field) goes through
//! the kernel's tensor-product Chebyshev interpolation on `p^d` nodes per box. Its bases are
//! nested (a box's nodes are interpolated from its children's), so storage is O(N p d), and the
//! interactions between the nodes of well-separated boxes are themselves a block-sparse product
//! of the compiled formula, evaluated at every product by the SIMD engine; when the kernel is
//! translation invariant (`K(x + s, y + s) = K(x, y)`, which the build checks rather than
//! assumes), they depend only on the offset between the boxes, and one operator per offset and
//! level is stored and applied by matrix products instead (`m2l`).
//!
//! Why Chebyshev interpolation rather than adaptive cross approximation (ACA): the formula can be
//! evaluated anywhere, not only at the data points, so the interpolation needs no sampling of the
//! matrix and gives nested bases for any smooth kernel; ACA's low-rank factor pairs, one per
//! admissible block, would need about 3e9 values (12 GB in f32) at N = 1e6 in 2D for the ranks
//! measured when planning this (13 to 22 at 1e-6 for the Laplacian and Gaussian kernels), where
//! the interpolation stores the points' weights, a few hundred MB; and the node-to-node
//! interactions run at the engine's rate (billions of evaluations per second on two cores).
//!
//! The order `p` is not guessed from the kernel: the build measures the relative error of a
//! product on sampled rows against the exact engine and raises `p` until it is below the
//! tolerance; a formula that does not compress by the largest order (oscillating, or not smooth
//! away from the diagonal) falls back to exact products and says so
//! ([`HierarchicalInfo::exact_reason`]).
//!
//! - `tree`: the boxes at each level, neighbours and interaction lists;
//! - `chebyshev`: nodes, interpolation weights, the parent-child transfers;
//! - `far`: the far field (upward pass, node interactions, downward pass);
//! - `m2l`: stored node interactions for translation-invariant kernels;
//! - `matrix`: [`HierarchicalMatrix`], its build, products, error check and solves.

mod chebyshev;
mod far;
mod m2l;
mod matrix;
mod tree;

use std::fmt;
use std::time::Duration;

pub use matrix::HierarchicalMatrix;

/// A pseudo-random value in `[-1, 1)` from a splitmix64 state (the builds' random vectors).
fn random_signed(state: &mut u64) -> f64 {
    (crate::solve::splitmix64(state) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// How a [`HierarchicalMatrix`] is built (`KernelMatrix::hierarchical`).
///
/// ```
/// # use keops_runtime::Hierarchical;
/// let params = Hierarchical::new().tolerance(1e-5).memory_budget(1 << 30);
/// assert_eq!(params.get_tolerance(), 1e-5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Hierarchical {
    tolerance: f64,
    leaf_size: Option<usize>,
    max_order: Option<usize>,
    memory_budget: usize,
    check_rows: usize,
    seed: u64,
}

impl Default for Hierarchical {
    fn default() -> Self {
        Hierarchical {
            tolerance: 1e-6,
            leaf_size: None,
            max_order: None,
            memory_budget: 4 << 30,
            check_rows: 256,
            seed: 0x006b_656f_7073,
        }
    }
}

impl Hierarchical {
    /// Relative tolerance 1e-6, automatic leaf size and order cap, a 4 GiB memory budget, 256
    /// sampled rows for the error check.
    pub fn new() -> Self {
        Self::default()
    }
    /// The relative error of a product `||K~ v - K v|| / ||K v||` to reach (measured on sampled
    /// rows for a random `v` when built), in `(0, 1)`. In f32 the products' own rounding leaves
    /// about 1e-6: a smaller tolerance is met only to that ([`HierarchicalInfo::estimated_error`]
    /// says what was reached).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }
    /// Points per leaf box (default: from the order and the dimension, balancing the near field's
    /// evaluations against the far field's).
    pub fn leaf_size(mut self, leaf_size: usize) -> Self {
        self.leaf_size = Some(leaf_size);
        self
    }
    /// The largest interpolation order `p` tried before falling back to exact products (default:
    /// 16 in 1D and 2D, 10 in 3D, 6 above).
    pub fn max_order(mut self, max_order: usize) -> Self {
        self.max_order = Some(max_order);
        self
    }
    /// Bytes the operator may hold (points sorted by box, interpolation weights, node values);
    /// a build that needs more fails with [`HierarchicalError::Memory`]. Default 4 GiB.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }
    /// Rows sampled to measure the error against the exact engine (default 256; at least 1).
    pub fn check_rows(mut self, rows: usize) -> Self {
        self.check_rows = rows;
        self
    }
    /// Seed of the sampled rows and of the check's random vector (the build is deterministic).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The requested relative tolerance.
    pub fn get_tolerance(&self) -> f64 {
        self.tolerance
    }
    /// The memory budget in bytes.
    pub fn get_memory_budget(&self) -> usize {
        self.memory_budget
    }

    /// Rejects values no build can use.
    fn check(&self) -> Result<(), HierarchicalError> {
        let bad =
            |what: &'static str, value: f64| Err(HierarchicalError::Parameter { what, value });
        if !(self.tolerance > 0.0 && self.tolerance < 1.0) {
            return bad("tolerance (in (0, 1))", self.tolerance);
        }
        if self.leaf_size == Some(0) {
            return bad("leaf size (at least 1)", 0.0);
        }
        if let Some(p) = self.max_order.filter(|&p| !(2..=32).contains(&p)) {
            return bad("largest order (2 to 32)", p as f64);
        }
        if self.check_rows == 0 {
            return bad("sampled rows (at least 1)", 0.0);
        }
        Ok(())
    }
}

/// Why products of a [`HierarchicalMatrix`] are exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExactReason {
    /// Too few points for any pair of boxes to be well separated: the near field is everything.
    NoFarField,
    /// The interpolation did not reach the tolerance by the largest order (the formula does not
    /// compress: oscillating, or not smooth away from the diagonal).
    NotCompressible {
        /// The largest order tried.
        order: usize,
        /// The relative error it reached.
        error: f64,
        /// The error the build aimed at: half the tolerance, but no less than 8 units of
        /// roundoff of the data's precision (what the products' own rounding leaves).
        target: f64,
    },
}

/// What a build made and measured ([`HierarchicalMatrix::info`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HierarchicalInfo {
    /// Chebyshev nodes per dimension and box (0 when products are exact).
    pub order: usize,
    /// Levels of the tree below the root (the leaves' level).
    pub levels: usize,
    /// Non-empty leaf boxes (of either point set).
    pub leaves: usize,
    /// The requested relative tolerance.
    pub tolerance: f64,
    /// The relative error of a product measured on sampled rows against the exact engine when
    /// built (0 for exact products).
    pub estimated_error: f64,
    /// Set when products are exact, with the reason.
    pub exact_reason: Option<ExactReason>,
    /// Bytes held by the operator (beyond the kernel matrix's own points).
    pub memory_bytes: usize,
    /// Time to build, the error checks included.
    pub build_time: Duration,
    /// Kernel evaluations per product between near points (exact part).
    pub near_evaluations: u64,
    /// Kernel entries per product between interpolation nodes (far field): evaluated, or
    /// applied from stored operators at the levels counted by `stored_levels`.
    pub far_evaluations: u64,
    /// Levels whose node interactions are stored, one operator per offset between boxes,
    /// because the kernel proved translation invariant there (see the module's docs); the
    /// other levels evaluate the kernel at each product.
    pub stored_levels: usize,
}

impl fmt::Display for HierarchicalInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = self.memory_bytes as f64 / 1e6;
        let t = self.build_time.as_secs_f64();
        match self.exact_reason {
            Some(ExactReason::NoFarField) => write!(
                f,
                "exact products (too few points for a far field), built in {t:.3} s"
            ),
            Some(ExactReason::NotCompressible {
                order,
                error,
                target,
            }) => write!(
                f,
                "exact products: the kernel did not compress (order {order} reached relative \
                 error {error:.1e}, above the target {target:.1e}), built in {t:.3} s"
            ),
            None => write!(
                f,
                "order {}, {} levels ({} with stored far-field operators), {} leaves, estimated \
                 relative error {:.1e} (tolerance {:.1e}), {mb:.1} MB, built in {t:.3} s",
                self.order,
                self.levels,
                self.stored_levels,
                self.leaves,
                self.estimated_error,
                self.tolerance
            ),
        }
    }
}

/// Why a hierarchical operator cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HierarchicalError {
    /// The kernel is not a function of one i variable and one j variable (the points).
    #[error("hierarchical products need a kernel of one i variable and one j variable (the points), parameters aside")]
    NoPoints,
    /// A build parameter out of its range.
    #[error("invalid {what}: {value}")]
    Parameter {
        /// The parameter and its range.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// The operator would hold more than the budget.
    #[error("the hierarchical operator needs about {needed} bytes, over its budget of {budget} bytes (Hierarchical::memory_budget): raise the budget, the leaf size, or lower the tolerance")]
    Memory {
        /// Bytes the build would hold.
        needed: usize,
        /// The budget.
        budget: usize,
    },
    /// A point with a non-finite coordinate (the tree needs finite bounds).
    #[error("point {row} of the {set} points has a non-finite coordinate")]
    NonFinite {
        /// `"i"` or `"j"`.
        set: &'static str,
        /// Its row.
        row: usize,
    },
}
