//! The boxes: a `2^d`-tree over a bounding cube of both point sets, every level's non-empty
//! boxes (of the i points, the targets, and of the j points, the sources), each box's points
//! contiguous once the points are sorted by Morton key; neighbours and interaction lists.
//!
//! Boxes at level `l` are the cells of a `2^l`-per-side grid. Two boxes of a level are neighbours
//! when their cells touch (index difference at most 1 in every dimension). The far field of a
//! target box at level `l >= 2` is the source boxes whose parents are neighbours of its parent
//! but which are not its neighbours (separated by at least one box side: the admissibility
//! rule); at the leaves, neighbours are the near field.

use std::ops::Range;

use rayon::prelude::*;

use super::HierarchicalError;
use crate::{Real, View};

/// One point set's boxes.
#[derive(Clone, Debug)]
pub(super) struct Side {
    /// Sorted position -> the point's row in the caller's order.
    pub(super) perm: Vec<usize>,
    /// Per level `0..=depth`, the non-empty boxes.
    pub(super) levels: Vec<Level>,
}

/// The non-empty boxes of one level, in Morton order.
#[derive(Clone, Debug, Default)]
pub(super) struct Level {
    /// The boxes' Morton keys at this level.
    pub(super) keys: Vec<u64>,
    /// Their points, as positions in the sorted order.
    pub(super) points: Vec<Range<usize>>,
    /// The parent's index in the level above (0 at the root).
    pub(super) parent: Vec<usize>,
}

/// The tree of both point sets.
#[derive(Clone, Debug)]
pub(super) struct Tree {
    pub(super) d: usize,
    /// The cube's lower corner and side.
    lo: Vec<f64>,
    side: f64,
    /// The leaves' level.
    pub(super) depth: usize,
    pub(super) targets: Side,
    /// `None` when the sources are the targets (the same points).
    sources: Option<Side>,
}

impl Tree {
    /// The tree of `x` (targets) and `y` (sources), as deep as makes the mean non-empty leaf
    /// nearest `leaf_size` points (for the larger set), at least `min_depth` levels, within the
    /// keys' resolution.
    pub(super) fn new<T: Real>(
        x: &View<'_, T>,
        y: &View<'_, T>,
        same: bool,
        leaf_size: usize,
        min_depth: usize,
    ) -> Result<Tree, HierarchicalError> {
        let d = x.dim();
        let (lo, side) = bounding_cube(x, y)?;
        let bits = max_level(d);
        let keys_x = morton_keys(x, &lo, side, bits);
        let keys_y = (!same).then(|| morton_keys(y, &lo, side, bits));
        // The larger of the two sets' mean points per non-empty box at level l.
        let mean = |l: usize| {
            let shift = d * (bits - l);
            let per_box = |keys: &[(u64, usize)]| {
                let boxes = 1 + keys
                    .windows(2)
                    .filter(|w| w[0].0 >> shift != w[1].0 >> shift)
                    .count();
                keys.len() as f64 / boxes as f64
            };
            per_box(&keys_x).max(keys_y.as_deref().map_or(0.0, per_box))
        };
        // The level whose mean leaf is nearest `leaf_size` (by ratio).
        let leaf = leaf_size as f64;
        let depth = match (0..=bits).find(|&l| mean(l) <= leaf) {
            Some(l) if l > 0 && mean(l - 1) / leaf < leaf / mean(l) => l - 1,
            Some(l) => l,
            None => bits,
        }
        .max(min_depth.min(bits));
        let shift = d * (bits - depth);
        Ok(Tree {
            d,
            lo,
            side,
            depth,
            targets: Side::new(&keys_x, shift, d, depth),
            sources: keys_y.map(|k| Side::new(&k, shift, d, depth)),
        })
    }

    /// The source boxes (the targets' when the points are the same).
    pub(super) fn sources(&self) -> &Side {
        self.sources.as_ref().unwrap_or(&self.targets)
    }

    /// Whether sources and targets are the same points.
    pub(super) fn same(&self) -> bool {
        self.sources.is_none()
    }

    /// Centre and half side of the box with key `key` at level `l`.
    pub(super) fn cell(&self, l: usize, key: u64) -> (Vec<f64>, f64) {
        let h = self.side / (1u64 << (l + 1)) as f64;
        let c = decode(key, self.d, l)
            .iter()
            .zip(&self.lo)
            .map(|(&i, lo)| lo + (2 * i + 1) as f64 * h)
            .collect();
        (c, h)
    }

    /// Integer coordinates of the box with key `key` at level `l` (cells of a `2^l` grid).
    pub(super) fn coords(&self, l: usize, key: u64) -> Vec<i64> {
        decode(key, self.d, l)
            .into_iter()
            .map(|v| v as i64)
            .collect()
    }

    /// Pairs (target box, source box) of level `l` whose cells are within `reach` of each other
    /// in every dimension (index difference), filtered by `keep(target coords, source coords)`.
    fn pairs(
        &self,
        l: usize,
        reach: i64,
        keep: impl Fn(&[i64], &[i64]) -> bool,
    ) -> Vec<(usize, usize)> {
        let (tl, sl) = (&self.targets.levels[l], &self.sources().levels[l]);
        let d = self.d;
        let width = 2 * reach + 1;
        let mut out = Vec::new();
        let mut b = vec![0i64; d];
        for (t, &key) in tl.keys.iter().enumerate() {
            let a = decode(key, d, l);
            let base: Vec<i64> = a.iter().map(|&v| v as i64).collect();
            for offset in 0..width.pow(d as u32) {
                let mut r = offset;
                for k in 0..d {
                    b[k] = base[k] + r % width - reach;
                    r /= width;
                }
                if b.iter().any(|&v| v < 0 || v >= 1 << l) || !keep(&base, &b) {
                    continue;
                }
                if let Ok(s) = sl.keys.binary_search(&encode(&b, d)) {
                    out.push((t, s));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The leaves' near field: neighbouring (target, source) leaves, the box itself included.
    pub(super) fn near_pairs(&self) -> Vec<(usize, usize)> {
        self.pairs(self.depth, 1, |_, _| true)
    }

    /// Level `l`'s far field (`l >= 2`): parents neighbours, boxes not.
    pub(super) fn far_pairs(&self, l: usize) -> Vec<(usize, usize)> {
        self.pairs(l, 3, |a, b| {
            let parents = a
                .iter()
                .zip(b)
                .all(|(a, b)| (a.div_euclid(2) - b.div_euclid(2)).abs() <= 1);
            let apart = a.iter().zip(b).any(|(a, b)| (a - b).abs() > 1);
            parents && apart
        })
    }
}

impl Side {
    /// Boxes of every level from the points' sorted keys (`shift` turns a key into its leaf's).
    fn new(keys: &[(u64, usize)], shift: usize, d: usize, depth: usize) -> Side {
        let mut levels: Vec<Level> = Vec::with_capacity(depth + 1);
        for l in (0..=depth).rev() {
            let s = shift + d * (depth - l);
            let mut level = Level::default();
            let mut start = 0;
            for e in 1..=keys.len() {
                if e == keys.len() || keys[e].0 >> s != keys[start].0 >> s {
                    level.keys.push(keys[start].0 >> s);
                    level.points.push(start..e);
                    start = e;
                }
            }
            levels.push(level);
        }
        levels.reverse();
        for l in 1..=depth {
            let (up, here) = levels.split_at_mut(l);
            let above = &up[l - 1].keys;
            here[0].parent = here[0]
                .keys
                .iter()
                .map(|k| {
                    above
                        .binary_search(&(k >> d))
                        .expect("a box's parent holds its points")
                })
                .collect();
        }
        levels[0].parent = vec![0; levels[0].keys.len()];
        Side {
            perm: keys.iter().map(|&(_, r)| r).collect(),
            levels,
        }
    }
}

/// Levels the keys resolve: 63 bits shared by the dimensions, at most 20 per dimension.
pub(super) fn max_level(d: usize) -> usize {
    (63 / d).min(20)
}

/// The smallest cube holding both point sets (a point set of one point: a unit cube).
fn bounding_cube<T: Real>(
    x: &View<'_, T>,
    y: &View<'_, T>,
) -> Result<(Vec<f64>, f64), HierarchicalError> {
    let d = x.dim();
    let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
    for (set, v) in [("i", x), ("j", y)] {
        for (row, p) in v.as_slice().chunks(d).enumerate() {
            for (k, q) in p.iter().enumerate() {
                let q = q.to_f64();
                if !q.is_finite() {
                    return Err(HierarchicalError::NonFinite { set, row });
                }
                lo[k] = lo[k].min(q);
                hi[k] = hi[k].max(q);
            }
        }
    }
    let side = lo.iter().zip(&hi).map(|(l, h)| h - l).fold(0.0, f64::max);
    // A little room so that the largest coordinate falls inside the last cell.
    let side = if side > 0.0 { side * (1.0 + 1e-9) } else { 1.0 };
    Ok((lo, side))
}

/// `(Morton key at level bits, row)` of every point, sorted by key (then row).
fn morton_keys<T: Real>(v: &View<'_, T>, lo: &[f64], side: f64, bits: usize) -> Vec<(u64, usize)> {
    let d = v.dim();
    let cells = (1u64 << bits) as f64;
    let mut keys: Vec<(u64, usize)> = v
        .as_slice()
        .chunks(d)
        .enumerate()
        .map(|(r, p)| {
            let c: Vec<i64> = p
                .iter()
                .zip(lo)
                .map(|(q, lo)| {
                    (((q.to_f64() - lo) / side * cells) as i64).clamp(0, cells as i64 - 1)
                })
                .collect();
            (encode(&c, d), r)
        })
        .collect();
    keys.par_sort_unstable();
    keys
}

/// Interleaves the cell indices: bit `b` of dimension `k` goes to bit `b * d + k`.
fn encode(c: &[i64], d: usize) -> u64 {
    let mut key = 0u64;
    for (k, &ck) in c.iter().enumerate() {
        let mut v = ck as u64;
        let mut b = 0;
        while v != 0 {
            key |= (v & 1) << (b * d + k);
            v >>= 1;
            b += 1;
        }
    }
    key
}

/// The cell indices of a key of level `l`.
fn decode(key: u64, d: usize, l: usize) -> Vec<u64> {
    (0..d)
        .map(|k| (0..l).fold(0u64, |acc, b| acc | ((key >> (b * d + k)) & 1) << b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid_points(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn keys_round_trip() {
        for d in 1..=3 {
            let c: Vec<i64> = (0..d as i64).map(|k| 5 + 3 * k).collect();
            let back = decode(encode(&c, d), d, 6);
            assert_eq!(back, c.iter().map(|&v| v as u64).collect::<Vec<_>>());
        }
    }

    /// Every (target, source) pair of points is covered exactly once: by the near field at the
    /// leaves, or by one level's far field (through the boxes holding them).
    #[test]
    fn near_and_far_fields_partition_the_pairs() {
        for d in 1..=3 {
            let (x, y) = (grid_points(300, d, 1), grid_points(250, d, 2));
            let (vx, vy) = (View::new(&x, d).unwrap(), View::new(&y, d).unwrap());
            let tree = Tree::new(&vx, &vy, false, 8, 0).unwrap();
            assert!(tree.depth >= 2, "d = {d}: depth {}", tree.depth);
            let mut cover = vec![0u32; 300 * 250];
            let mut mark = |l: usize, pairs: &[(usize, usize)]| {
                for &(t, s) in pairs {
                    for i in tree.targets.levels[l].points[t].clone() {
                        for j in tree.sources().levels[l].points[s].clone() {
                            cover[tree.targets.perm[i] * 250 + tree.sources().perm[j]] += 1;
                        }
                    }
                }
            };
            mark(tree.depth, &tree.near_pairs());
            for l in 2..=tree.depth {
                mark(l, &tree.far_pairs(l));
            }
            assert!(cover.iter().all(|&c| c == 1), "d = {d}");
        }
    }
}
