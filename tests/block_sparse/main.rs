//! Block-sparse reductions (KeOps' `ranges`, issue 16) against dense f64 references with the
//! same mask applied, written with plain loops: every reduction kind over j and over i, kernel
//! products (one and several columns, the symmetric pair-once product, the scalar engine),
//! columns and the diagonal, in f32 and f64; the reductions and products on the CPU engine and
//! as the generated CUDA kernels' block-sparse launches under host emulation (`cuda.rs`).
//!
//! Layouts are random: clusters of random sizes (empty ones and single points included) over
//! sizes that are not multiples of the 64-row blocks or 256-index tiles, a random cluster-pair
//! mask, clusters longer than a GPU block of 256 threads with rows in no cluster; plus the masks
//! that keep everything (equal to the dense reduction) and nothing (the reduction's neutral
//! element: 0 for sums, +inf and index 0 for min and kmin, -inf and index 0 for max, -inf for
//! log-sum-exp, NaN (0 / 0) for the soft-max weights, as KeOps). The reference's mask is built
//! from the layout, not from `Ranges`.
//!
//! Tolerance, per output entry: `|got - want| <= tol * scale` with `scale` the sum of the absolute
//! values of the kept terms (1 + the largest |F| for selections), tol 1e-5 in f32, 1e-12 in f64.

#![allow(clippy::needless_range_loop)] // the references are plain index loops, on purpose

#[path = "../common/mod.rs"]
mod common;

mod cuda;
mod errors;
mod products;
mod reductions;

use std::ops::Range;

use common::Rng;
use keops::prelude::*;

trait Prec: Real {
    const TOL: f64;
}
impl Prec for f32 {
    const TOL: f64 = 1e-5;
}
impl Prec for f64 {
    const TOL: f64 = 1e-12;
}

/// Clusters of rows and a cluster-pair mask: what the reference applies.
#[derive(Clone, Debug)]
struct Layout {
    ci: Vec<Range<usize>>,
    cj: Vec<Range<usize>>,
    /// `mask[a * cj.len() + b]`: clusters `a` of i and `b` of j are visited.
    mask: Vec<bool>,
}

impl Layout {
    /// Random clusters of `n_i` and `n_j` rows, each pair kept with probability `p`.
    fn random(rng: &mut Rng, n_i: usize, n_j: usize, p: f64) -> Self {
        let ci = rng.clusters(n_i, 90);
        let cj = rng.clusters(n_j, 90);
        let mask = (0..ci.len() * cj.len()).map(|_| rng.unit() < p).collect();
        Layout { ci, cj, mask }
    }

    /// As [`random`](Self::random) with clusters of up to 600 rows, starting with an empty
    /// cluster, a single point and up to 300 rows (longer than a GPU block of threads), and with
    /// rows in no cluster (5 after the long one, and every third random cluster left out).
    fn long(rng: &mut Rng, n_i: usize, n_j: usize, p: f64) -> Self {
        let mut long = |n: usize| {
            let first = 1 + 300.min(n / 2);
            let start = first + 5.min(n - first);
            let rest = rng.clusters(n - start, 600).into_iter().enumerate();
            let rest =
                (rest.filter(|(k, _)| k % 3 != 1)).map(|(_, r)| r.start + start..r.end + start);
            [0..0, 0..1, 1..first]
                .into_iter()
                .chain(rest)
                .collect::<Vec<_>>()
        };
        let (ci, cj) = (long(n_i), long(n_j));
        let mask = (0..ci.len() * cj.len()).map(|_| rng.unit() < p).collect();
        Layout { ci, cj, mask }
    }

    /// The same random clusters on both sides and a symmetric mask (diagonal blocks kept).
    fn symmetric(rng: &mut Rng, n: usize, p: f64) -> Self {
        let ci = rng.clusters(n, 90);
        let m = ci.len();
        let mut mask = vec![false; m * m];
        for a in 0..m {
            for b in a..m {
                let k = a == b || rng.unit() < p;
                mask[a * m + b] = k;
                mask[b * m + a] = k;
            }
        }
        Layout {
            cj: ci.clone(),
            ci,
            mask,
        }
    }

    /// Every pair kept (`true`) or none.
    fn all(rng: &mut Rng, n_i: usize, n_j: usize, keep: bool) -> Self {
        let mut l = Layout::random(rng, n_i, n_j, 0.0);
        l.mask.fill(keep);
        l
    }

    fn ranges(&self) -> Ranges {
        Ranges::from_mask(&self.ci, &self.cj, &self.mask).expect("a valid layout")
    }

    /// Whether the pair `(i, j)` is kept, from the layout itself.
    fn keeps(&self, i: usize, j: usize) -> bool {
        let a = self.ci.iter().position(|r| r.contains(&i));
        let b = self.cj.iter().position(|r| r.contains(&j));
        matches!((a, b), (Some(a), Some(b)) if self.mask[a * self.cj.len() + b])
    }

    /// The dense mask `(n_i, n_j)`, row-major.
    fn dense(&self, n_i: usize, n_j: usize) -> Vec<bool> {
        let mut row_of = vec![None; n_i];
        for (a, r) in self.ci.iter().enumerate() {
            for i in r.clone() {
                row_of[i] = Some(a);
            }
        }
        let mut col_of = vec![None; n_j];
        for (b, r) in self.cj.iter().enumerate() {
            for j in r.clone() {
                col_of[j] = Some(b);
            }
        }
        let mut out = vec![false; n_i * n_j];
        for i in 0..n_i {
            for j in 0..n_j {
                if let (Some(a), Some(b)) = (row_of[i], col_of[j]) {
                    out[i * n_j + j] = self.mask[a * self.cj.len() + b];
                }
            }
        }
        out
    }
}

/// Widens to f64.
fn wide<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

#[test]
fn layouts_agree_with_ranges() {
    let mut rng = Rng::named("layouts", 0);
    for _ in 0..20 {
        let l = Layout::random(&mut rng, 137, 211, 0.3);
        let r = l.ranges();
        let dense = l.dense(137, 211);
        let mut kept = 0;
        for i in 0..137 {
            for j in 0..211 {
                assert_eq!(r.keeps(i, j), dense[i * 211 + j], "pair ({i}, {j})");
                assert_eq!(l.keeps(i, j), dense[i * 211 + j]);
                kept += u64::from(dense[i * 211 + j]);
            }
        }
        assert_eq!(r.kept_pairs(), kept);
        // The transposed direction keeps the transposed pairs.
        let t = r.over_i();
        for j in 0..211 {
            for i in 0..137 {
                assert_eq!(t.keeps(j, i), dense[i * 211 + j], "pair ({i}, {j}) over i");
            }
        }
        assert_eq!(Ranges::try_from(r.to_keops()).as_ref(), Ok(&r));
    }
    let mut rng = Rng::named("symmetric layouts", 0);
    let s = Layout::symmetric(&mut rng, 300, 0.2);
    assert!(s.ranges().is_symmetric());
    assert!(!Layout::random(&mut rng, 300, 300, 0.3)
        .ranges()
        .is_symmetric());
}
