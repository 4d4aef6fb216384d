//! Cluster centroids and radii, and the cluster pairs within a cut-off, found through a grid
//! over the centroids rather than by testing every pair.

use std::ops::Range;

use rayon::prelude::*;

use super::search;
use super::{
    check_cutoff, check_length, check_points, check_same_dim, first_position, ranges_by_search,
    ClusterError,
};
use crate::data::same_data;
use crate::ranges::Ranges;
use crate::{IntoView, Real, Rows, View};

/// The mean of each cluster's points (KeOps' `cluster_centroids` with unit weights), computed in
/// f64 and rounded to `T`; an empty cluster's is the origin. `points` are the sorted points,
/// `clusters` ranges of their rows (for example [`SortedClusters`](super::SortedClusters)'s).
///
/// Errors: points of dimension 0 or not finite, a cluster that is not a range of the points, a
/// centroid that overflows.
pub fn centroids<'a, T: Real>(
    points: impl IntoView<'a, T>,
    clusters: &[Range<usize>],
) -> Result<Rows<T>, ClusterError> {
    let points = points.into_view();
    check_points("points", &points)?;
    check_cluster_ranges(clusters, points.rows())?;
    centroids_of(&points, clusters)
}

/// The radius of each cluster: the largest distance of its points to its centroid (0 for an
/// empty cluster), computed in f64 and rounded up to `T`, so every point lies within it.
///
/// Errors: points or centroids of dimension 0, not finite or of different dimensions, a cluster
/// that is not a range of the points, not one centroid per cluster.
pub fn radii<'a, 'b, T: Real>(
    points: impl IntoView<'a, T>,
    clusters: &[Range<usize>],
    centroids: impl IntoView<'b, T>,
) -> Result<Vec<T>, ClusterError> {
    let (points, centroids) = (points.into_view(), centroids.into_view());
    check_points("points", &points)?;
    check_points("centroids", &centroids)?;
    check_same_dim(("points", points.dim()), ("centroids", centroids.dim()))?;
    check_cluster_ranges(clusters, points.rows())?;
    check_length(
        "centroids",
        centroids.rows(),
        clusters.len(),
        "one per cluster",
    )?;
    Ok(radii_of(&points, clusters, &centroids))
}

/// The cluster pairs `(ci, cj)` whose points may be closer than `cutoff`, sorted: those with
/// `|c_i - c_j| - (r_i + r_j) < cutoff + delta (|c_i - c_j| + r_i + r_j + cutoff)`, distances
/// computed in f64 from the centroids `c` and radii `r`, where `delta = 8 (D + 2) eps` (`eps` the
/// precision of `T`: 1.2e-7 for f32) absorbs rounding.
///
/// **No pair of points closer than `cutoff` is dropped**: a point `p` of cluster `ci` and `q` of
/// `cj` (within their radii of their centroids) have `|p - q| >= |c_i - c_j| - r_i - r_j`, so a
/// pair of clusters left out holds no pair of points closer than `cutoff`, even with the points'
/// distance computed in `T`.
///
/// Candidates come from a grid over the `j` centroids with cells of a third of the largest
/// distance at which a pair can be kept: the time grows with the pairs kept, not with all
/// `clusters_i x clusters_j` pairs. The test is symmetric: with the same centroids and radii on
/// both sides, `(ci, cj)` is kept exactly when `(cj, ci)` is.
///
/// Errors: a cut-off that is not finite and positive, centroids of dimension 0, not finite or of
/// different dimensions, not one radius per centroid, a radius negative or NaN.
///
/// ```
/// use keops_runtime::ranges::cluster::pairs_within;
/// let c = vec![[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]];
/// let r = [0.2, 0.2, 0.2];
/// // Centroids 1 apart minus radii 0.4: 0.6 < 0.7 kept; 4 - 0.4 = 3.6 is not.
/// assert_eq!(pairs_within(&c, &r, &c, &r, 0.7)?, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 2)]);
/// # Ok::<(), keops_runtime::ranges::cluster::ClusterError>(())
/// ```
pub fn pairs_within<'a, 'b, T: Real>(
    centroids_i: impl IntoView<'a, T>,
    radii_i: &[T],
    centroids_j: impl IntoView<'b, T>,
    radii_j: &[T],
    cutoff: T,
) -> Result<Vec<(usize, usize)>, ClusterError> {
    let (ci, cj) = (centroids_i.into_view(), centroids_j.into_view());
    check_cutoff(cutoff)?;
    check_points("centroids_i", &ci)?;
    check_points("centroids_j", &cj)?;
    check_same_dim(("centroids_i", ci.dim()), ("centroids_j", cj.dim()))?;
    check_length("radii_i", radii_i.len(), ci.rows(), "one per centroid")?;
    check_length("radii_j", radii_j.len(), cj.rows(), "one per centroid")?;
    check_radii("radii_i", radii_i)?;
    check_radii("radii_j", radii_j)?;
    Ok(search::pairs(
        ci.dim(),
        (ci.as_slice(), radii_i),
        (cj.as_slice(), radii_j),
        cutoff,
    ))
}

/// The ranges of the cluster pairs whose points may be closer than `cutoff`: [`centroids`] and
/// [`radii`] of sorted points `x` and `y` and their clusters, then the ranges that
/// [`Ranges::from_pairs`] would build from [`pairs_within`]'s pairs, without the list of pairs
/// (each direction straight from a search). With the same points and clusters on both sides the
/// ranges are symmetric.
///
/// Errors: those of the steps, and clusters unsorted or overlapping ([`ClusterError::Ranges`]).
pub fn ranges_within<'a, 'b, T: Real>(
    x: impl IntoView<'a, T>,
    clusters_x: &[Range<usize>],
    y: impl IntoView<'b, T>,
    clusters_y: &[Range<usize>],
    cutoff: T,
) -> Result<Ranges, ClusterError> {
    let (x, y) = (x.into_view(), y.into_view());
    check_cutoff(cutoff)?;
    check_points("x", &x)?;
    check_points("y", &y)?;
    check_same_dim(("x", x.dim()), ("y", y.dim()))?;
    check_cluster_ranges(clusters_x, x.rows())?;
    check_cluster_ranges(clusters_y, y.rows())?;
    let dim = x.dim();
    let (cx, rx) = centroids_and_radii(&x, clusters_x)?;
    let i = (cx.as_slice(), rx.as_slice(), clusters_x);
    if same_data(&x, &y) && clusters_x == clusters_y {
        return ranges_by_search(dim, i, i, cutoff, true);
    }
    let (cy, ry) = centroids_and_radii(&y, clusters_y)?;
    ranges_by_search(
        dim,
        i,
        (cy.as_slice(), ry.as_slice(), clusters_y),
        cutoff,
        false,
    )
}

/// [`centroids`] and [`radii`] of checked points and clusters.
pub(super) fn centroids_and_radii<T: Real>(
    points: &View<'_, T>,
    clusters: &[Range<usize>],
) -> Result<(Rows<T>, Vec<T>), ClusterError> {
    let c = centroids_of(points, clusters)?;
    let r = radii_of(points, clusters, &(&c).into_view());
    Ok((c, r))
}

/// Each cluster a range of the `rows` points.
fn check_cluster_ranges(clusters: &[Range<usize>], rows: usize) -> Result<(), ClusterError> {
    match clusters
        .iter()
        .position(|r| r.start > r.end || r.end > rows)
    {
        None => Ok(()),
        Some(cluster) => Err(ClusterError::ClusterRange {
            cluster,
            start: clusters[cluster].start,
            end: clusters[cluster].end,
            rows,
        }),
    }
}

/// Radii not negative, not NaN (infinite ones keep every pair).
fn check_radii<T: Real>(what: &'static str, radii: &[T]) -> Result<(), ClusterError> {
    match radii
        .iter()
        .position(|r| r.to_f64().is_nan() || r.to_f64() < 0.0)
    {
        None => Ok(()),
        Some(cluster) => Err(ClusterError::Radius {
            what,
            cluster,
            value: radii[cluster].to_f64(),
        }),
    }
}

/// [`centroids`] of checked points and clusters.
fn centroids_of<T: Real>(
    points: &View<'_, T>,
    clusters: &[Range<usize>],
) -> Result<Rows<T>, ClusterError> {
    let dim = points.dim();
    let data: Vec<T> = clusters
        .par_iter()
        .flat_map_iter(|r| {
            let mut sum = vec![0.0; dim];
            // Offsets from the first point: small for a grid cell, so no overflow and little
            // cancellation whatever the coordinates' magnitude.
            let origin: Vec<f64> = match r.is_empty() {
                true => vec![0.0; dim],
                false => points.row(r.start).iter().map(|x| x.to_f64()).collect(),
            };
            for k in r.clone() {
                for ((s, x), o) in sum.iter_mut().zip(points.row(k)).zip(&origin) {
                    *s += x.to_f64() - o;
                }
            }
            let n = r.len().max(1) as f64;
            origin
                .into_iter()
                .zip(sum)
                .map(move |(o, s)| T::from_f64(o + s / n))
        })
        .collect();
    if let Some(p) = first_position(&data, |x| !x.is_finite()) {
        return Err(ClusterError::CentroidOverflow { cluster: p / dim });
    }
    Ok(Rows::from_parts(data, clusters.len(), dim))
}

/// [`radii`] of checked points, clusters and centroids.
fn radii_of<T: Real>(
    points: &View<'_, T>,
    clusters: &[Range<usize>],
    centroids: &View<'_, T>,
) -> Vec<T> {
    clusters
        .par_iter()
        .enumerate()
        .map(|(c, r)| {
            let centroid = centroids.row(c);
            let largest = r
                .clone()
                .map(|k| distance(points.row(k), centroid))
                .fold(0.0, f64::max);
            round_up(largest)
        })
        .collect()
}

/// The Euclidean distance in f64.
#[inline]
fn distance<T: Real>(a: &[T], b: &[T]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x.to_f64() - y.to_f64();
            d * d
        })
        .sum::<f64>()
        .sqrt()
}

/// The smallest `T` not below `r` (or at most a few units of its last place above).
fn round_up<T: Real>(r: f64) -> T {
    let mut t = T::from_f64(r);
    let mut bump = r * 1e-7 + 1e-44;
    while t.to_f64() < r {
        t = T::from_f64(r + bump);
        bump *= 2.0;
    }
    t
}
