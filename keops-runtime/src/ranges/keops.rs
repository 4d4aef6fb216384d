//! KeOps' six-array layout of block-sparse ranges, to and from [`Ranges`].

use std::ops::Range;
use std::sync::Arc;

use super::sparsity::{transpose, BlockSparsity};
use super::{Both, Ranges, RangesError};

/// KeOps' `ranges` tuple, `(ranges_i, slices_i, redranges_j, ranges_j, slices_j, redranges_i)`:
/// `[start, end)` pairs and cumulative ends, as pykeops' `from_matrix` returns them (there int32
/// tensors of shapes `(Mc, 2)`, `(Mc,)`, ...).
///
/// ```
/// use keops_runtime::{KeopsRanges, Ranges};
/// let clusters = [0..2, 2..5];
/// let r = Ranges::from_mask(&clusters, &clusters, &[true, true, false, true])?;
/// let k = r.to_keops();
/// assert_eq!(k.ranges_i, vec![[0, 2], [2, 5]]);
/// assert_eq!(k.slices_i, vec![1, 2]); // cluster 0 visits 0..5 (two clusters merged), 1 visits 2..5
/// assert_eq!(k.redranges_j, vec![[0, 5], [2, 5]]);
/// assert_eq!(Ranges::try_from(k)?, r);
/// # Ok::<(), keops_runtime::RangesError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeopsRanges {
    /// Clusters of i rows.
    pub ranges_i: Vec<[usize; 2]>,
    /// For each cluster of i rows, the end of its ranges in `redranges_j`.
    pub slices_i: Vec<usize>,
    /// Ranges of j visited by the clusters of i rows, cluster after cluster.
    pub redranges_j: Vec<[usize; 2]>,
    /// Clusters of j rows.
    pub ranges_j: Vec<[usize; 2]>,
    /// For each cluster of j rows, the end of its ranges in `redranges_i`.
    pub slices_j: Vec<usize>,
    /// Ranges of i visited by the clusters of j rows, cluster after cluster.
    pub redranges_i: Vec<[usize; 2]>,
}

fn to_ranges(a: &[[usize; 2]]) -> Vec<Range<usize>> {
    a.iter().map(|&[s, e]| s..e).collect()
}

fn to_pairs(a: &[Range<usize>]) -> Vec<[usize; 2]> {
    a.iter().map(|r| [r.start, r.end]).collect()
}

impl TryFrom<KeopsRanges> for Ranges {
    type Error = RangesError;

    /// Checks each direction (see [`RangesError`]), that both keep as many pairs and, where every
    /// range is a union of whole clusters of the other side (as `from_matrix` builds them), the
    /// same pairs.
    fn try_from(k: KeopsRanges) -> Result<Self, RangesError> {
        let over_j = BlockSparsity::new(
            ["ranges_i", "slices_i", "redranges_j"],
            to_ranges(&k.ranges_i),
            k.slices_i,
            to_ranges(&k.redranges_j),
        )?;
        let over_i = BlockSparsity::new(
            ["ranges_j", "slices_j", "redranges_i"],
            to_ranges(&k.ranges_j),
            k.slices_j,
            to_ranges(&k.redranges_i),
        )?;
        if over_j.kept_pairs() != over_i.kept_pairs() {
            return Err(RangesError::Inconsistent);
        }
        let pairs_j = cluster_pairs(&over_j, over_i.clusters());
        let pairs_i = cluster_pairs(&over_i, over_j.clusters());
        let symmetric = match (&pairs_j, &pairs_i) {
            (Some(pj), Some(pi)) => {
                if transpose(pi, over_j.clusters().len()) != *pj {
                    return Err(RangesError::Inconsistent);
                }
                over_j.clusters() == over_i.clusters() && pj == pi
            }
            _ => false,
        };
        Ok(Ranges(Arc::new(Both {
            over_j,
            over_i,
            symmetric,
        })))
    }
}

impl Ranges {
    /// KeOps' six arrays (see [`KeopsRanges`]).
    pub fn to_keops(&self) -> KeopsRanges {
        let (j, i) = (self.over_j(), self.over_i());
        KeopsRanges {
            ranges_i: to_pairs(j.clusters()),
            slices_i: j.slices().to_vec(),
            redranges_j: to_pairs(j.reduced()),
            ranges_j: to_pairs(i.clusters()),
            slices_j: i.slices().to_vec(),
            redranges_i: to_pairs(i.reduced()),
        }
    }
}

/// The cluster pairs `(output cluster, reduction cluster)` of `s`, sorted, when each of its
/// ranges is a union of consecutive whole clusters of `red` (empty clusters skipped); else None.
fn cluster_pairs(s: &BlockSparsity, red: &[Range<usize>]) -> Option<Vec<(usize, usize)>> {
    let mut pairs = Vec::new();
    for c in 0..s.clusters().len() {
        for r in s.ranges_of(c) {
            let mut k = red.partition_point(|x| x.start < r.start);
            let mut at = r.start;
            while at < r.end {
                // Empty clusters at `at` cover nothing; the next non-empty one must start there.
                while k < red.len() && red[k].is_empty() {
                    k += 1;
                }
                if k == red.len() || red[k].start != at || red[k].end > r.end {
                    return None;
                }
                pairs.push((c, k));
                at = red[k].end;
                k += 1;
            }
        }
    }
    Some(pairs)
}
