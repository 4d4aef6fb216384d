//! Typed errors for everything that can go wrong once data meets a formula.

/// Why binding data to a formula, or running it, failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KeopsError {
    /// A flat slice whose length is not a multiple of the declared dimension.
    #[error("a slice of length {len} cannot be viewed as rows of dimension {dim}")]
    RaggedData {
        /// Length of the slice.
        len: usize,
        /// The declared dimension.
        dim: usize,
    },
    /// Block-sparse ranges that are invalid, or do not fit the bound points.
    #[error("invalid ranges: {0}")]
    Ranges(#[from] crate::RangesError),
    /// A dimension of zero was requested.
    #[error("dimension must be at least 1 (got 0)")]
    ZeroDimension,
    /// A variable was bound to a set with no points, or a parameter holds no value.
    #[error(
        "`{var}` is empty: a variable needs at least one point, a parameter at least one value"
    )]
    Empty {
        /// The variable or parameter.
        var: String,
    },
    /// Two variables indexed by the same index have different numbers of rows.
    #[error("variables indexed by {index} must have the same number of rows: `{first}` has {first_rows}, `{var}` has {rows}")]
    LengthMismatch {
        /// The index (`i` or `j`).
        index: char,
        /// The first variable of that index.
        first: String,
        /// Its rows.
        first_rows: usize,
        /// The variable that disagrees.
        var: String,
        /// Its rows.
        rows: usize,
    },
    /// A variable's (or parameter's) dimension disagrees with the formula.
    #[error("`{var}` has dimension {found}, but the formula needs {expected} here{hint}")]
    DimensionMismatch {
        /// The variable or parameter.
        var: String,
        /// The dimension the formula needs.
        expected: usize,
        /// The dimension it has.
        found: usize,
        /// Why the formula needs it, and how to fix it.
        hint: String,
    },
    /// A gradient through arg indices (of `min_j`, `kmin_j`...) compares indices as reals: an
    /// index beyond what the precision represents exactly (2^24 in f32) cannot be used.
    #[error("the gradient compares row indices as reals, but index {index} is not exact in {bits}-bit floats: use f64 data")]
    IndexNotExact {
        /// The index.
        index: usize,
        /// Bits of the data's floats.
        bits: usize,
    },
    /// A SIMD level was requested that this CPU does not run.
    #[error("this CPU cannot run the SIMD level `{level}`")]
    SimdUnavailable {
        /// The level's name.
        level: &'static str,
    },
    /// A dimension larger than the engine's stack vectors hold.
    #[error("`{var}` has dimension {dim}; this engine supports dimensions up to {max}")]
    DimensionTooLarge {
        /// The operand.
        var: String,
        /// Its dimension.
        dim: usize,
        /// The largest the engine supports.
        max: usize,
    },
    /// An `elem(f, k)` index is not below the dimension of `f`; `var` names the operand whose
    /// dimension `f` has.
    #[error("elem(.., {index}) is out of range: its operand has the dimension of `{var}`, {dim} (indices start at 0)")]
    IndexOutOfRange {
        /// The variable whose dimension the operand has.
        var: String,
        /// The index read.
        index: usize,
        /// The operand's dimension.
        dim: usize,
    },
    /// An `extract(f, start, len)` reads entries beyond the dimension of `f`; `var` names the
    /// operand whose dimension `f` has.
    #[error("extract(.., {start}, {len}) is out of range: it reads entries {start}..{} of an operand with the dimension of `{var}`, {dim}", .start + .len)]
    ExtractOutOfRange {
        /// The variable whose dimension the operand has.
        var: String,
        /// The first entry read.
        start: usize,
        /// Entries read.
        len: usize,
        /// The operand's dimension.
        dim: usize,
    },
    /// NaN or infinity in the input: rejected, because it would silently poison every output row.
    #[error("`{var}` holds a non-finite value ({value}) at row {row}, column {col}; NaN and infinities are rejected, as is an f64 parameter too large for f32 data")]
    NonFinite {
        /// The variable or parameter.
        var: String,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value (in f64).
        value: f64,
    },
    /// The caller's output buffer has the wrong length.
    #[error(
        "output buffer has length {found}, expected {expected} ({rows} rows x dimension {dim})"
    )]
    OutputLength {
        /// The length needed.
        expected: usize,
        /// The buffer's length.
        found: usize,
        /// Rows of the result.
        rows: usize,
        /// Entries per row.
        dim: usize,
    },
    /// `kmin_j(F, K)`, `argkmin_j` or `kmin_argkmin_j` with fewer than `K` rows to reduce over.
    #[error("`{reduction}` keeps the {k} smallest values over {index}, but there are only {rows} rows indexed by {index}: bind at least {k} points or use a smaller K")]
    KTooLarge {
        /// The reduction.
        reduction: String,
        /// K.
        k: usize,
        /// The reduction index.
        index: char,
        /// Rows indexed by it.
        rows: usize,
    },
    /// A vector multiplied by a kernel matrix has the wrong number of rows.
    #[error("the vector has {found} rows, but the kernel matrix has {expected} columns")]
    OperandLength {
        /// Rows needed (columns of the matrix).
        expected: usize,
        /// Rows of the vector.
        found: usize,
    },
    /// A solve needs a square operator (`K_xx`: the same points for both indices).
    #[error("a solve needs a square matrix, this one is {rows} x {cols}: bind the same points to both variables (K_xx)")]
    NotSquare {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
    },
    /// The ridge `alpha` of `(alpha I + K) a = b` must be finite and non-negative.
    #[error("alpha must be finite and >= 0 (got {alpha})")]
    InvalidAlpha {
        /// The value given.
        alpha: f64,
    },
    /// A solver tolerance must be finite and positive.
    #[error("the tolerance must be finite and > 0 (got {tolerance})")]
    InvalidTolerance {
        /// The value given.
        tolerance: f64,
    },
    /// Conjugate gradient met `p^T (alpha I + K) p <= 0`: the operator is not positive definite.
    #[error("the operator is not positive definite: p^T (alpha I + K) p = {curvature:e} at iteration {iteration} (right-hand side column {column}); use a positive definite kernel with the same points on both sides, or a larger alpha")]
    NotPositiveDefinite {
        /// The iteration (from 1).
        iteration: usize,
        /// The right-hand side column.
        column: usize,
        /// `p^T (alpha I + K) p`.
        curvature: f64,
    },
    /// A kernel whose parameters make it undefined: its diagonal `K(x_i, x_i)` is NaN or
    /// infinite (a width so small that its square underflows to 0 gives `0 / 0`, one so large
    /// that it overflows gives `inf / inf`).
    #[error("the kernel is undefined with these parameters: K(x_i, x_i) = {value} at row {row} is not finite (a parameter such as the width sigma so small that its square underflows to 0, or so large that it overflows, at this precision); choose parameters for which the kernel's values are finite")]
    KernelUndefined {
        /// The row of the first non-finite diagonal entry.
        row: usize,
        /// Its value.
        value: f64,
    },
    /// Rounding makes `alpha I + K` numerically singular: `alpha` is too small for the kernel's
    /// conditioning at the data's precision, so the conjugate gradient met a curvature
    /// `p^T (alpha I + K) p` that is not positive (or not finite) within the products' rounding.
    #[error("alpha = {alpha:.3e} is too small for this kernel's conditioning in {precision}: alpha / max K_ii = {ratio:.3e}, below what the products' rounding resolves, so rounding makes alpha I + K numerically singular ({detail}); raise alpha to at least about {suggested:.1e}{}", f64_hint(precision))]
    AlphaTooSmall {
        /// The shift `alpha`.
        alpha: f64,
        /// `alpha / max_i K_ii`, the estimate of how singular the system is.
        ratio: f64,
        /// The data's precision.
        precision: &'static str,
        /// An `alpha` above the products' rounding.
        suggested: f64,
        /// Where the iteration broke down.
        detail: String,
    },
    /// Conjugate gradient reached its iteration cap (see [`SolveError`](crate::SolveError), which
    /// also keeps the last iterate).
    #[error("conjugate gradient did not converge: relative residual {residual:.3e} after {iterations} iterations (tolerance {tolerance:.1e}){}", stagnation_hint(*.stagnated))]
    NotConverged {
        /// Iterations of the column that needed most.
        iterations: usize,
        /// Largest relative residual over the columns.
        residual: f64,
        /// The relative tolerance.
        tolerance: f64,
        /// The residual stopped decreasing before the iteration cap.
        stagnated: bool,
    },
    /// A column index past the matrix.
    #[error("column {col} is out of range: the matrix has {ncols} columns")]
    ColumnOutOfRange {
        /// The index asked for.
        col: usize,
        /// Columns of the matrix.
        ncols: usize,
    },
    /// Jacobi or greedy Nyström on an operator without
    /// [`LinearOperator::diagonal`](crate::LinearOperator::diagonal).
    #[error("this operator does not give its diagonal, which the Jacobi preconditioner and greedy Nyström landmarks need: implement LinearOperator::diagonal, or use uniform landmarks")]
    NoDiagonal,
    /// A preconditioner that is not positive definite: Jacobi with `alpha + A_ii <= 0`, or a
    /// user's preconditioner giving `r^T M^-1 r <= 0`.
    #[error("the preconditioner is not positive definite: {what} = {value:e}")]
    PreconditionerNotPositive {
        /// The quantity that is not positive, and where.
        what: String,
        /// Its value.
        value: f64,
    },
    /// The Nyström preconditioner with `alpha = 0`.
    #[error("the Nyström preconditioner needs alpha > 0 (got {alpha}): its inverse is (1 / alpha) (I - ...); solve without it (Preconditioning::Off) or with Jacobi")]
    NystromAlpha {
        /// The value given.
        alpha: f64,
    },
    /// A Nyström rank larger than the points or the memory budget allow.
    #[error("Nyström rank {rank} is not possible here: {reason}")]
    NystromRank {
        /// The rank asked for.
        rank: usize,
        /// Why it is not possible.
        reason: String,
    },
    /// The Nyström preconditioner's small system could not be factored.
    #[error("the Nyström preconditioner's {rank} x {rank} system is not positive definite, even with jitter {jitter:.1e} on its diagonal (kernel not positive semidefinite, or data not finite)")]
    NystromFactorization {
        /// The rank.
        rank: usize,
        /// The largest jitter tried.
        jitter: f64,
    },
    /// No usable NVIDIA GPU (CUDA backend): the driver library is missing, the driver failed to
    /// initialise, or the requested device does not exist.
    #[error("no CUDA device available: {reason}")]
    NoCudaDriver {
        /// Why.
        reason: String,
    },
    /// The formula has no GPU kernel for this call (a dimension beyond the GPU's buckets, a kernel
    /// missing from the crate's PTX with NVRTC unavailable, ...): run it on the CPU.
    #[error("no GPU kernel for formula {formula}: {reason}")]
    NoGpuKernel {
        /// The formula's id.
        formula: String,
        /// Why.
        reason: String,
    },
    /// A kernel launch, or the execution it started, failed.
    #[error("CUDA kernel {kernel} failed: {reason}")]
    CudaLaunch {
        /// The kernel.
        kernel: String,
        /// The driver's error.
        reason: String,
    },
    /// The device ran out of memory allocating `bytes`.
    #[error("the GPU is out of memory (allocating {bytes} bytes)")]
    CudaOutOfMemory {
        /// The allocation's size (0 when unknown).
        bytes: usize,
    },
    /// Run-time compilation of a formula's CUDA source (NVRTC) failed; `log` is the compiler's.
    #[error("NVRTC could not compile the formula's CUDA source:\n{log}")]
    Nvrtc {
        /// The compiler's log.
        log: String,
    },
    /// Another CUDA driver call failed (copies, module loading, synchronisation).
    #[error("CUDA {operation} failed: {reason}")]
    Cuda {
        /// The operation.
        operation: String,
        /// The driver's error.
        reason: String,
    },
    /// Clustering points for block-sparse ranges failed (bad cell size, cut-off, coordinates).
    #[error("clustering failed: {0}")]
    Cluster(#[from] crate::ranges::cluster::ClusterError),
    /// A hierarchical operator could not be built (its kernel, parameters or memory budget).
    #[error("hierarchical products: {0}")]
    Hierarchical(#[from] crate::hierarchical::HierarchicalError),
}

/// What an `alpha` too small in f32 can also do.
pub(crate) fn f64_hint(precision: &str) -> &'static str {
    if precision == "f32" {
        ", or use f64 data (which resolves a much smaller alpha)"
    } else {
        ""
    }
}

/// What a stalled solve tells its user.
pub(crate) fn stagnation_hint(stagnated: bool) -> &'static str {
    if stagnated {
        "; the residual stopped decreasing: the products' precision limits the attainable accuracy (in f32 about 1e-6 relative), use f64 data or a larger tolerance"
    } else {
        "; raise max_iterations or alpha"
    }
}
