//! Tests of the clustering helpers: each step against a brute-force reference on random point
//! sets (dimensions 1, 2, 3 and 5; f32 and f64), the no-drop guarantee, the errors.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::*;
use crate::Rows;

mod edges;

fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x636c_7573),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Two point sets of one dimension (row-major, in f64: each test rounds them to its `T`), a cell
/// size and a cut-off.
#[derive(Debug, Clone)]
struct Case {
    dim: usize,
    x: Vec<f64>,
    y: Vec<f64>,
    cell: f64,
    cutoff: f64,
}

fn case() -> impl Strategy<Value = Case> {
    let shape = (
        prop::sample::select(vec![1usize, 2, 3, 5]),
        0usize..100,
        0usize..60,
        0.05f64..1.0,
        0.05f64..1.5,
        any::<bool>(),
    );
    shape
        .prop_flat_map(|(dim, n, m, cell, cutoff, aligned)| {
            let values = move |rows: usize| {
                if aligned {
                    // Multiples of the cell 0.25: coordinates exactly on cells' boundaries.
                    prop::collection::vec((-12i32..12).prop_map(|k| f64::from(k) * 0.25), rows)
                        .boxed()
                } else {
                    prop::collection::vec(-2.0f64..2.0, rows).boxed()
                }
            };
            let cell = if aligned { 0.25 } else { cell };
            (values(n * dim), values(m * dim), Just((dim, cell, cutoff)))
        })
        .prop_map(|(x, y, (dim, cell, cutoff))| Case {
            dim,
            x,
            y,
            cell,
            cutoff,
        })
}

fn to_t<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

fn eps<T: Real>() -> f64 {
    if T::NAME == "f32" {
        f64::from(f32::EPSILON)
    } else {
        f64::EPSILON
    }
}

fn dist<T: Real>(a: &[T], b: &[T]) -> f64 {
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p.to_f64() - q.to_f64()).powi(2))
        .sum();
    s.sqrt()
}

/// The distance as a kernel computes it, in `T`.
fn dist_in_t<T: Real>(a: &[T], b: &[T]) -> T {
    let mut s = T::ZERO;
    for (&p, &q) in a.iter().zip(b) {
        s += (p - q) * (p - q);
    }
    s.sqrt()
}

/// Labels as the ranks of the cells `floor(x / cell)` in lexicographic order.
fn brute_labels<T: Real>(x: &[T], dim: usize, cell: T) -> Vec<usize> {
    let cells: Vec<Vec<i64>> = x
        .chunks(dim)
        .map(|row| {
            row.iter()
                .map(|v| (v.to_f64() / cell.to_f64()).floor() as i64)
                .collect()
        })
        .collect();
    let sorted: Vec<&Vec<i64>> = cells.iter().collect::<BTreeSet<_>>().into_iter().collect();
    cells
        .iter()
        .map(|c| sorted.binary_search(&c).expect("a cell"))
        .collect()
}

/// The sorted points are the points in `permutation` order; clusters are contiguous, non-empty,
/// cover every row, hold one label each in increasing order, rows in original order.
fn check_sorted<T: Real>(
    x: &[T],
    dim: usize,
    labels: &[usize],
    s: &SortedClusters<T>,
) -> Result<(), TestCaseError> {
    let n = x.len() / dim;
    let order = s.permutation.order();
    prop_assert_eq!(
        Permutation::from_order(order.to_vec()),
        Ok(s.permutation.clone())
    );
    prop_assert_eq!((s.points.rows(), s.points.dim()), (n, dim));
    for (k, &r) in order.iter().enumerate() {
        prop_assert_eq!(s.points.row(k), &x[r * dim..(r + 1) * dim]);
    }
    let mut next = 0;
    let mut last_label = None;
    for c in &s.clusters {
        prop_assert!(c.start == next && c.end > c.start, "{:?}", s.clusters);
        next = c.end;
        let l = labels[order[c.start]];
        prop_assert!(last_label < Some(l));
        last_label = Some(l);
        for k in c.clone() {
            prop_assert_eq!(labels[order[k]], l);
            prop_assert!(k == c.start || order[k - 1] < order[k]);
        }
    }
    prop_assert_eq!(next, n);
    Ok(())
}

/// The pairs [`pairs_within`] documents, tested one by one.
fn brute_pairs<T: Real>(
    dim: usize,
    (ci, ri): (&[T], &[T]),
    (cj, rj): (&[T], &[T]),
    cutoff: T,
) -> Vec<(usize, usize)> {
    let delta = 8.0 * (dim as f64 + 2.0) * eps::<T>();
    let cutoff = cutoff.to_f64();
    let mut pairs = Vec::new();
    for i in 0..ri.len() {
        for j in 0..rj.len() {
            let d = dist(&ci[i * dim..(i + 1) * dim], &cj[j * dim..(j + 1) * dim]);
            let s = ri[i].to_f64() + rj[j].to_f64();
            if d - s < cutoff + delta * (d + s + cutoff) {
                pairs.push((i, j));
            }
        }
    }
    pairs
}

/// Every pair of sorted points closer than the cut-off (in f64 or in `T`) is kept.
fn check_no_drop<T: Real>(b: &BlockSparse<T>, cutoff: T) -> Result<(), TestCaseError> {
    for i in 0..b.x.points.rows() {
        for j in 0..b.y.points.rows() {
            let (p, q) = (b.x.points.row(i), b.y.points.row(j));
            if dist(p, q) < cutoff.to_f64() || dist_in_t(p, q) < cutoff {
                prop_assert!(b.ranges.keeps(i, j), "({i}, {j}) at {} dropped", dist(p, q));
            }
        }
    }
    Ok(())
}

/// Centroids and radii against direct computation: the mean, and every point within its radius,
/// which is at most a few roundings above the largest distance.
fn check_centroids_radii<T: Real>(
    s: &SortedClusters<T>,
) -> Result<(Rows<T>, Vec<T>), TestCaseError> {
    let c = centroids(&s.points, &s.clusters).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let r = radii(&s.points, &s.clusters, &c).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!((c.rows(), r.len()), (s.clusters.len(), s.clusters.len()));
    for (k, cl) in s.clusters.iter().enumerate() {
        for d in 0..s.points.dim() {
            let mean =
                cl.clone().map(|p| s.points.row(p)[d].to_f64()).sum::<f64>() / cl.len() as f64;
            let got = c.row(k)[d].to_f64();
            prop_assert!(
                (got - mean).abs() <= 2.0 * eps::<T>() * (1.0 + mean.abs()),
                "{got} {mean}"
            );
        }
        let largest = cl
            .clone()
            .map(|p| dist(s.points.row(p), c.row(k)))
            .fold(0.0, f64::max);
        let got = r[k].to_f64();
        prop_assert!(got >= largest && got <= largest * (1.0 + 4.0 * eps::<T>()) + 1e-300);
    }
    Ok((c, r))
}

/// Every step of one case in precision `T`.
fn check_case<T: Real>(c: &Case) -> Result<(), TestCaseError> {
    let (x, y) = (to_t::<T>(&c.x), to_t::<T>(&c.y));
    let (cell, cutoff) = (T::from_f64(c.cell), T::from_f64(c.cutoff));
    let xv = View::new(&x, c.dim).expect("rows of dim");
    let labels = grid_cluster(&xv, cell).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&labels, &brute_labels(&x, c.dim, cell));
    // A point far away: cells keyed sparsely (1D) or by coordinate tuples (2D and more).
    let mut far = x.clone();
    far.extend((0..c.dim).map(|d| T::from_f64(if d % 2 == 0 { 1e12 } else { -1e12 })));
    let far_view = View::new(&far, c.dim).expect("rows of dim");
    let far_labels =
        grid_cluster(&far_view, cell).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(far_labels, brute_labels(&far, c.dim, cell));
    let s = sort_clusters(&xv, &labels).map_err(|e| TestCaseError::fail(e.to_string()))?;
    check_sorted(&x, c.dim, &labels, &s)?;
    let (cx, rx) = check_centroids_radii(&s)?;
    let pairs =
        pairs_within(&cx, &rx, &cx, &rx, cutoff).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let brute = brute_pairs(c.dim, (&cx, &rx), (&cx, &rx), cutoff);
    prop_assert_eq!(&pairs, &brute);

    // The one call: the same sort, the brute-force pairs, symmetric for the same points.
    let b =
        BlockSparse::new(&xv, &xv, cell, cutoff).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&b.x, &s);
    prop_assert_eq!(&b.y, &s);
    let want = Ranges::from_pairs(&s.clusters, &s.clusters, brute).expect("valid");
    prop_assert_eq!(&b.ranges, &want);
    prop_assert!(b.ranges.is_symmetric());
    check_no_drop(&b, cutoff)?;
    let r = ranges_within(&s.points, &s.clusters, &s.points, &s.clusters, cutoff)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&r, &want);
    // Both directions searched, symmetry found by comparing them.
    let side = (cx.as_slice(), rx.as_slice(), s.clusters.as_slice());
    let both = ranges_by_search(c.dim, side, side, cutoff, false)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&both, &want);

    // Different points on each side.
    let yv = View::new(&y, c.dim).expect("rows of dim");
    let b =
        BlockSparse::new(&xv, &yv, cell, cutoff).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (cy, ry) = check_centroids_radii(&b.y)?;
    let brute = brute_pairs(c.dim, (&cx, &rx), (&cy, &ry), cutoff);
    prop_assert_eq!(
        &pairs_within(&cx, &rx, &cy, &ry, cutoff)
            .map_err(|e| TestCaseError::fail(e.to_string()))?,
        &brute
    );
    let want = Ranges::from_pairs(&b.x.clusters, &b.y.clusters, brute).expect("valid");
    prop_assert_eq!(&b.ranges, &want);
    check_no_drop(&b, cutoff)?;
    Ok(())
}

/// Random centroids with random radii (some large, some zero) on two sides.
/// Dimension, centroids and radii of i, of j (in f64), a cut-off.
type CentroidSets = (usize, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, f64);

fn centroid_sets() -> impl Strategy<Value = CentroidSets> {
    (
        prop::sample::select(vec![1usize, 2, 3, 5]),
        0usize..40,
        0usize..40,
        0.01f64..2.0,
    )
        .prop_flat_map(|(dim, mi, mj, cutoff)| {
            let radius = prop_oneof![Just(0.0), 0.0f64..0.3, 0.0f64..5.0];
            (
                Just(dim),
                prop::collection::vec(-3.0f64..3.0, mi * dim),
                prop::collection::vec(radius.clone(), mi),
                prop::collection::vec(-3.0f64..3.0, mj * dim),
                prop::collection::vec(radius, mj),
                Just(cutoff),
            )
        })
}

/// With `far`, a centroid far away on each side: a search grid too spread out to number densely
/// (binary searches in 1 to 3 dimensions, every cell tested in 5).
fn check_pairs<T: Real>(
    (dim, ci, ri, cj, rj, cutoff): &CentroidSets,
    far: bool,
) -> Result<(), TestCaseError> {
    let (mut ci, mut ri, mut cj, mut rj) =
        (to_t::<T>(ci), to_t::<T>(ri), to_t::<T>(cj), to_t::<T>(rj));
    if far {
        ci.extend((0..*dim).map(|_| T::from_f64(-1e7)));
        cj.extend((0..*dim).map(|d| T::from_f64(if d == 0 { 1e7 } else { 0.5 })));
        ri.push(T::from_f64(0.5));
        rj.push(T::ZERO);
    }
    let cutoff = T::from_f64(*cutoff);
    let (vi, vj) = (
        View::new(&ci, *dim).expect("dim"),
        View::new(&cj, *dim).expect("dim"),
    );
    let got =
        pairs_within(&vi, &ri, &vj, &rj, cutoff).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(got, brute_pairs(*dim, (&ci, &ri), (&cj, &rj), cutoff));
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn every_step_matches_brute_force(c in case()) {
        check_case::<f64>(&c)?;
        check_case::<f32>(&c)?;
    }

    #[test]
    fn pairs_within_matches_all_pairs(s in centroid_sets(), far in any::<bool>()) {
        check_pairs::<f64>(&s, far)?;
        check_pairs::<f32>(&s, far)?;
    }

    #[test]
    fn permutations_round_trip(
        order in (0usize..200).prop_flat_map(|n| Just((0..n).collect::<Vec<_>>()).prop_shuffle()),
        dim in 1usize..4,
    ) {
        let n = order.len();
        let p = Permutation::from_order(order.clone()).expect("a permutation");
        let rows: Vec<f64> = (0..n * dim).map(|v| v as f64).collect();
        let view = View::new(&rows, dim).expect("dim");
        let sorted = p.sort_rows(&view).expect("n rows");
        for (k, &r) in order.iter().enumerate() {
            prop_assert_eq!(sorted.row(k), view.row(r));
        }
        let back = p.unsort_rows(&sorted).expect("n rows");
        prop_assert_eq!(back.as_slice(), rows.as_slice());
        let inv = p.inverse();
        prop_assert!((0..n).all(|r| order[inv.order()[r]] == r));
        prop_assert_eq!(inv.inverse(), p.clone());
        // Indices of sorted rows, as an arg reduction returns them, name the original rows.
        let idx = Rows::from_parts((0..n).rev().collect(), n, 1);
        let orig = p.original_indices(&idx).expect("in range");
        prop_assert!((0..n).all(|k| orig.row(k)[0] == p.original(n - 1 - k)));
        let ints = Rows::from_parts((0..n * dim).collect::<Vec<usize>>(), n, dim);
        let back = p.unsort_rows(&ints).expect("n rows");
        prop_assert!((0..n).all(|k| back.row(order[k]) == ints.row(k)));
    }
}
