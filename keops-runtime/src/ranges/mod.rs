//! Block-sparse reductions (KeOps' `ranges`): which blocks of the `N x M` kernel matrix a
//! reduction visits.
//!
//! Points are sorted into clusters (contiguous rows, see [`cluster`]); a [`Ranges`] says, for
//! each cluster of i rows, which contiguous ranges of j rows a reduction over j visits, and for
//! each cluster of j rows which ranges of i rows a reduction over i visits. Pairs outside them
//! are skipped: a reduction of a row over nothing is the reduction's neutral element (0 for a
//! sum, +inf for a min with index 0, -inf for a log-sum-exp...), as in KeOps.
//!
//! ```
//! use keops_runtime::Ranges;
//! // Rows 0..3 and 3..5 of i and j in two clusters each; cluster pairs (0, 0), (1, 1) kept.
//! let clusters = [0..3, 3..5];
//! let r = Ranges::from_mask(&clusters, &clusters, &[true, false, false, true])?;
//! assert!(r.keeps(1, 2) && !r.keeps(1, 4));
//! assert_eq!(r.kept_pairs(), 3 * 3 + 2 * 2);
//! assert!(r.is_symmetric());
//! # Ok::<(), keops_runtime::RangesError>(())
//! ```

pub mod cluster;
mod keops;
mod sparsity;

use std::ops::Range;
use std::sync::Arc;

pub use keops::KeopsRanges;
pub use sparsity::BlockSparsity;

/// Why ranges are invalid: each a reading of KeOps' arrays (`ranges_i`, `slices_i`,
/// `redranges_j` and their transposes `ranges_j`, `slices_j`, `redranges_i`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangesError {
    /// A range whose end is before its start.
    #[error("{array}[{index}] = {start}..{end} ends before it starts")]
    Reversed {
        /// The array (`ranges_i`, `redranges_j`...).
        array: &'static str,
        /// The range's position in it.
        index: usize,
        /// Its start.
        start: usize,
        /// Its end.
        end: usize,
    },
    /// Clusters of rows that are unsorted or overlap.
    #[error("{array}[{index}] starts before {array}[{}] ends: clusters of rows must be sorted and must not overlap", .index - 1)]
    UnsortedClusters {
        /// The array (`ranges_i` or `ranges_j`).
        array: &'static str,
        /// The first cluster out of order.
        index: usize,
    },
    /// The ranges one cluster visits are unsorted or overlap.
    #[error("the ranges of cluster {cluster} in {array} are unsorted or overlap (a pair would be visited twice, or out of order for the arg reductions)")]
    UnsortedRanges {
        /// The array (`redranges_j` or `redranges_i`).
        array: &'static str,
        /// The cluster.
        cluster: usize,
    },
    /// `slices` of the wrong length, decreasing, or not ending at the number of ranges.
    #[error("{array} must have one non-decreasing entry per cluster ({clusters}), the last equal to the number of reduction ranges ({ranges}): {problem}")]
    Slices {
        /// The array (`slices_i` or `slices_j`).
        array: &'static str,
        /// Clusters of rows.
        clusters: usize,
        /// Reduction ranges.
        ranges: usize,
        /// What is wrong.
        problem: String,
    },
    /// A range reaching beyond the rows of its index.
    #[error("{array}[{index}] ends at {end}, beyond the {rows} points indexed by {letter}")]
    OutOfBounds {
        /// The array.
        array: &'static str,
        /// The range's position in it.
        index: usize,
        /// Its end.
        end: usize,
        /// The number of points of that index.
        rows: usize,
        /// The index (`i` or `j`).
        letter: char,
    },
    /// A cluster-pair mask whose length is not clusters_i x clusters_j.
    #[error("the mask has {found} entries, but {clusters_i} x {clusters_j} clusters need {}", .clusters_i * .clusters_j)]
    MaskLength {
        /// Clusters of i rows.
        clusters_i: usize,
        /// Clusters of j rows.
        clusters_j: usize,
        /// Entries of the mask.
        found: usize,
    },
    /// A cluster pair naming a cluster that does not exist.
    #[error("the cluster pair ({ci}, {cj}) names a cluster beyond the {clusters_i} x {clusters_j} clusters")]
    PairOutOfRange {
        /// The pair's i cluster.
        ci: usize,
        /// The pair's j cluster.
        cj: usize,
        /// Clusters of i rows.
        clusters_i: usize,
        /// Clusters of j rows.
        clusters_j: usize,
    },
    /// The two directions of KeOps' arrays keep different pairs.
    #[error("redranges_i/slices_j keep pairs that ranges_i/slices_i/redranges_j do not (or the reverse): the two directions must describe the same mask")]
    Inconsistent,
}

/// Which pairs `(i, j)` a block-sparse reduction visits, in both directions: for a reduction over
/// j ([`over_j`](Self::over_j): clusters of i rows, each with ranges of j) and over i
/// ([`over_i`](Self::over_i)). Checked when built; checked against the points when bound
/// (`.ranges(&r)` on a formula with its data, or on a kernel matrix). Cheap to clone (shared).
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges(Arc<Both>);

#[derive(Debug, PartialEq)]
struct Both {
    over_j: BlockSparsity,
    over_i: BlockSparsity,
    /// The kept pairs are symmetric: the same clusters of rows on both sides and a symmetric
    /// cluster-pair relation, so `(i, j)` is kept exactly when `(j, i)` is.
    symmetric: bool,
}

impl Ranges {
    /// Ranges from a cluster-pair mask, KeOps' `from_matrix`: `clusters_i` and `clusters_j`
    /// are the clusters of rows (sorted, not overlapping), `keep[ci * clusters_j.len() + cj]`
    /// whether the block of clusters `ci` and `cj` is visited. Adjacent kept clusters merge
    /// into one range.
    pub fn from_mask(
        clusters_i: &[Range<usize>],
        clusters_j: &[Range<usize>],
        keep: &[bool],
    ) -> Result<Self, RangesError> {
        let (mi, mj) = (clusters_i.len(), clusters_j.len());
        if keep.len() != mi * mj {
            return Err(RangesError::MaskLength {
                clusters_i: mi,
                clusters_j: mj,
                found: keep.len(),
            });
        }
        let pairs = keep
            .iter()
            .enumerate()
            .filter(|(_, &k)| k)
            .map(|(e, _)| (e / mj.max(1), e % mj.max(1)));
        Self::from_pairs(clusters_i, clusters_j, pairs.collect())
    }

    /// Ranges from the kept cluster pairs `(ci, cj)` (any order; duplicates are kept once): the
    /// sparse form of [`from_mask`](Self::from_mask), linear in the number of pairs.
    pub fn from_pairs(
        clusters_i: &[Range<usize>],
        clusters_j: &[Range<usize>],
        mut pairs: Vec<(usize, usize)>,
    ) -> Result<Self, RangesError> {
        sparsity::check_clusters("ranges_i", clusters_i)?;
        sparsity::check_clusters("ranges_j", clusters_j)?;
        let (mi, mj) = (clusters_i.len(), clusters_j.len());
        if let Some(&(ci, cj)) = pairs.iter().find(|&&(ci, cj)| ci >= mi || cj >= mj) {
            return Err(RangesError::PairOutOfRange {
                ci,
                cj,
                clusters_i: mi,
                clusters_j: mj,
            });
        }
        if !pairs.is_sorted() {
            pairs.sort_unstable();
        }
        pairs.dedup();
        let over_j = BlockSparsity::from_sorted_pairs(clusters_i, clusters_j, &pairs);
        let transposed = sparsity::transpose(&pairs, mj);
        let over_i = BlockSparsity::from_sorted_pairs(clusters_j, clusters_i, &transposed);
        let symmetric = clusters_i == clusters_j && pairs == transposed;
        Ok(Ranges(Arc::new(Both {
            over_j,
            over_i,
            symmetric,
        })))
    }

    /// From both directions, built consistently by the caller (the clustering's search).
    pub(super) fn from_directions(
        over_j: BlockSparsity,
        over_i: BlockSparsity,
        symmetric: bool,
    ) -> Self {
        Ranges(Arc::new(Both {
            over_j,
            over_i,
            symmetric,
        }))
    }

    /// Every pair: one cluster of all `n_i` rows against all `n_j` (the dense reduction, as
    /// ranges; useful to compare).
    pub fn dense(n_i: usize, n_j: usize) -> Self {
        let (ci, cj) = (0..n_i, 0..n_j);
        Self::from_pairs(
            std::slice::from_ref(&ci),
            std::slice::from_ref(&cj),
            vec![(0, 0)],
        )
        .expect("one valid cluster each")
    }

    /// For a reduction over j (`sum_j`, a kernel matrix's rows): clusters of i rows, each with
    /// the ranges of j it visits (KeOps' `ranges_i`, `slices_i`, `redranges_j`).
    pub fn over_j(&self) -> &BlockSparsity {
        &self.0.over_j
    }

    /// For a reduction over i (`sum_i`): clusters of j rows, each with the ranges of i it
    /// visits (KeOps' `ranges_j`, `slices_j`, `redranges_i`).
    pub fn over_i(&self) -> &BlockSparsity {
        &self.0.over_i
    }

    /// The direction a reduction over `index` (`'i'` or `'j'`) uses.
    #[doc(hidden)]
    pub fn reducing_over(&self, index: char) -> &BlockSparsity {
        if index == 'i' {
            self.over_i()
        } else {
            self.over_j()
        }
    }

    /// Whether the kept pairs are symmetric (`(i, j)` kept exactly when `(j, i)` is): then a
    /// symmetric kernel bound to the same points twice keeps evaluating each pair once.
    pub fn is_symmetric(&self) -> bool {
        self.0.symmetric
    }

    /// Whether the pair `(i, j)` is visited.
    pub fn keeps(&self, i: usize, j: usize) -> bool {
        self.over_j().keeps(i, j)
    }

    /// The number of visited pairs (the kernel evaluations of one reduction over j).
    pub fn kept_pairs(&self) -> u64 {
        self.over_j().kept_pairs()
    }

    /// Checks the ranges against the numbers of i and j points of a binding.
    pub fn check(&self, n_i: usize, n_j: usize) -> Result<(), RangesError> {
        self.over_j().check_bounds(('i', n_i), ('j', n_j))?;
        self.over_i().check_bounds(('j', n_j), ('i', n_i))
    }
}
