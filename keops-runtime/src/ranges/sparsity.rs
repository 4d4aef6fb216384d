//! One direction of [`Ranges`](super::Ranges): clusters of output rows, each with the ranges of
//! the reduction index it visits.

use std::ops::Range;

use super::RangesError;

/// The output rows of a reduction in clusters (sorted, not overlapping), each with the sorted,
/// non-overlapping ranges of the reduction index it visits: KeOps' `ranges_i`, `slices_i`,
/// `redranges_j` for a reduction over j. Rows in no cluster visit nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSparsity {
    clusters: Vec<Range<usize>>,
    /// `slices[c]`: the end of cluster `c`'s ranges in `reduced` (they start at `slices[c - 1]`).
    slices: Vec<usize>,
    reduced: Vec<Range<usize>>,
    /// The largest end of a cluster and of a reduction range (0 for none): the binding's check.
    ends: (usize, usize),
}

impl BlockSparsity {
    /// From KeOps' three arrays, checked: ranges not reversed, clusters sorted and disjoint,
    /// `slices` one non-decreasing end per cluster, each cluster's ranges sorted and disjoint.
    pub(super) fn new(
        names: [&'static str; 3],
        clusters: Vec<Range<usize>>,
        slices: Vec<usize>,
        reduced: Vec<Range<usize>>,
    ) -> Result<Self, RangesError> {
        let [cn, sn, rn] = names;
        check_clusters(cn, &clusters)?;
        check_reversed(rn, &reduced)?;
        let slices_error = |problem: String| RangesError::Slices {
            array: sn,
            clusters: clusters.len(),
            ranges: reduced.len(),
            problem,
        };
        if slices.len() != clusters.len() {
            return Err(slices_error(format!("it has {} entries", slices.len())));
        }
        if let Some(w) = slices.windows(2).position(|w| w[1] < w[0]) {
            return Err(slices_error(format!("{sn}[{}] < {sn}[{w}]", w + 1)));
        }
        let last = slices.last().copied().unwrap_or(0);
        if last != reduced.len() {
            return Err(slices_error(format!("it ends at {last}")));
        }
        let s = BlockSparsity::assemble(clusters, slices, reduced);
        for c in 0..s.clusters.len() {
            if s.ranges_of(c).windows(2).any(|w| w[1].start < w[0].end) {
                return Err(RangesError::UnsortedRanges {
                    array: rn,
                    cluster: c,
                });
            }
        }
        Ok(s)
    }

    fn assemble(
        clusters: Vec<Range<usize>>,
        slices: Vec<usize>,
        reduced: Vec<Range<usize>>,
    ) -> Self {
        let end = |rs: &[Range<usize>]| rs.iter().map(|r| r.end).max().unwrap_or(0);
        let ends = (end(&clusters), end(&reduced));
        BlockSparsity {
            clusters,
            slices,
            reduced,
            ends,
        }
    }

    /// From cluster pairs sorted by `(output cluster, reduction cluster)`, checked clusters and
    /// pairs in range; adjacent reduction clusters merge into one range, empty ones are dropped.
    pub(super) fn from_sorted_pairs(
        out: &[Range<usize>],
        red: &[Range<usize>],
        pairs: &[(usize, usize)],
    ) -> Self {
        let mut slices = Vec::with_capacity(out.len());
        let mut reduced: Vec<Range<usize>> = Vec::new();
        let mut p = 0;
        for (c, cluster) in out.iter().enumerate() {
            let first = reduced.len();
            while p < pairs.len() && pairs[p].0 == c {
                // Empty clusters visit and are visited by nothing.
                let r = if cluster.is_empty() {
                    0..0
                } else {
                    red[pairs[p].1].clone()
                };
                p += 1;
                let merges = reduced.len() > first && reduced[reduced.len() - 1].end == r.start;
                if r.is_empty() {
                } else if merges {
                    reduced.last_mut().expect("a range of this cluster").end = r.end;
                } else {
                    reduced.push(r);
                }
            }
            slices.push(reduced.len());
        }
        BlockSparsity::assemble(out.to_vec(), slices, reduced)
    }

    /// The clusters of output rows.
    pub fn clusters(&self) -> &[Range<usize>] {
        &self.clusters
    }

    /// The ranges of the reduction index cluster `c` visits, sorted and disjoint.
    pub fn ranges_of(&self, c: usize) -> &[Range<usize>] {
        let start = if c == 0 { 0 } else { self.slices[c - 1] };
        &self.reduced[start..self.slices[c]]
    }

    /// KeOps' `slices`: the end of each cluster's ranges in [`reduced`](Self::reduced).
    pub fn slices(&self) -> &[usize] {
        &self.slices
    }

    /// Every cluster's ranges of the reduction index, one after the other.
    pub fn reduced(&self) -> &[Range<usize>] {
        &self.reduced
    }

    /// The cluster holding output row `o`, if any.
    pub fn cluster_of(&self, o: usize) -> Option<usize> {
        let c = self.clusters.partition_point(|r| r.end <= o);
        (c < self.clusters.len() && self.clusters[c].contains(&o)).then_some(c)
    }

    /// The first cluster ending after output row `o` (clusters before it end at or before `o`).
    pub fn first_cluster_after(&self, o: usize) -> usize {
        self.clusters.partition_point(|r| r.end <= o)
    }

    /// Whether output row `o` visits reduction index `r`.
    pub fn keeps(&self, o: usize, r: usize) -> bool {
        self.cluster_of(o).is_some_and(|c| {
            let rs = self.ranges_of(c);
            let k = rs.partition_point(|x| x.end <= r);
            k < rs.len() && rs[k].contains(&r)
        })
    }

    /// The number of visited pairs.
    pub fn kept_pairs(&self) -> u64 {
        (0..self.clusters.len())
            .map(|c| {
                let visited: usize = self.ranges_of(c).iter().map(|r| r.len()).sum();
                (self.clusters[c].len() as u64) * visited as u64
            })
            .sum()
    }

    /// Checks that the clusters lie within the `out` rows and the ranges within the `red` rows.
    pub(super) fn check_bounds(
        &self,
        (out_letter, n_out): (char, usize),
        (red_letter, n_red): (char, usize),
    ) -> Result<(), RangesError> {
        let names = |l: char| {
            if l == 'i' {
                ("ranges_i", "redranges_i")
            } else {
                ("ranges_j", "redranges_j")
            }
        };
        let beyond = |array, rs: &[Range<usize>], rows, letter| {
            let index = rs.iter().position(|r| r.end > rows).unwrap_or(0);
            RangesError::OutOfBounds {
                array,
                index,
                end: rs[index].end,
                rows,
                letter,
            }
        };
        if self.ends.0 > n_out {
            return Err(beyond(
                names(out_letter).0,
                &self.clusters,
                n_out,
                out_letter,
            ));
        }
        if self.ends.1 > n_red {
            return Err(beyond(
                names(red_letter).1,
                &self.reduced,
                n_red,
                red_letter,
            ));
        }
        Ok(())
    }
}

/// Ranges not reversed.
fn check_reversed(array: &'static str, rs: &[Range<usize>]) -> Result<(), RangesError> {
    match rs.iter().position(|r| r.end < r.start) {
        Some(index) => Err(RangesError::Reversed {
            array,
            index,
            start: rs[index].start,
            end: rs[index].end,
        }),
        None => Ok(()),
    }
}

/// Clusters not reversed, sorted and disjoint.
pub(super) fn check_clusters(array: &'static str, rs: &[Range<usize>]) -> Result<(), RangesError> {
    check_reversed(array, rs)?;
    match rs.windows(2).position(|w| w[1].start < w[0].end) {
        Some(w) => Err(RangesError::UnsortedClusters {
            array,
            index: w + 1,
        }),
        None => Ok(()),
    }
}

/// Pairs `(a, b)` sorted by `(a, b)` as pairs `(b, a)` sorted by `(b, a)`: a counting sort over
/// the `mb` values of `b`, linear in the pairs.
pub(super) fn transpose(pairs: &[(usize, usize)], mb: usize) -> Vec<(usize, usize)> {
    let mut starts = vec![0usize; mb + 1];
    for &(_, b) in pairs {
        starts[b + 1] += 1;
    }
    for k in 0..mb {
        starts[k + 1] += starts[k];
    }
    let mut out = vec![(0, 0); pairs.len()];
    for &(a, b) in pairs {
        out[starts[b]] = (b, a);
        starts[b] += 1;
    }
    out
}
