//! The far field of a product: the sources' weights interpolated onto their leaves' nodes
//! (P2M) and up the tree (M2M), the kernel between the nodes of well-separated boxes at every
//! level (M2L: a block-sparse product of the formula rebound to the nodes), and the result
//! interpolated down the tree (L2L) onto the target points (L2P). Sums in f64; the node
//! products in the data's precision, as every product of the formula.

use rayon::prelude::*;

use super::chebyshev::Chebyshev;
use super::tree::{Level, Tree};
use super::HierarchicalError;
use crate::{BoundKernel, KeopsError, KernelMatrix, ProductOut, Ranges, Real, View};

/// A kernel rebound to other points (sorted points, or interpolation nodes).
pub(super) type Rebound<T> = KernelMatrix<T, Box<dyn BoundKernel<T>>>;

/// The interpolation of one order and the node kernels of every level.
pub(super) struct Far<T: Real> {
    pub(super) cheb: Chebyshev,
    /// Per level, the kernel between the target boxes' nodes and the source boxes' nodes,
    /// restricted to the level's far pairs (`None` above level 2 or without far pairs).
    m2l: Vec<Option<Rebound<T>>>,
    /// Kernel evaluations of the node products, per product.
    pub(super) evaluations: u64,
}

impl<T: Real> Far<T> {
    /// The node kernels of order `p` over `tree`.
    pub(super) fn new<B: BoundKernel<T>>(
        bound: &B,
        tree: &Tree,
        p: usize,
    ) -> Result<Self, KeopsError> {
        let cheb = Chebyshev::new(p, tree.d);
        let n = cheb.len();
        let mut m2l = Vec::with_capacity(tree.depth + 1);
        let mut evaluations = 0;
        for l in 0..=tree.depth {
            let pairs = if l >= 2 {
                tree.far_pairs(l)
            } else {
                Vec::new()
            };
            if pairs.is_empty() {
                m2l.push(None);
                continue;
            }
            let (tl, sl) = (&tree.targets.levels[l], &tree.sources().levels[l]);
            let clusters =
                |boxes: usize| (0..boxes).map(|b| b * n..(b + 1) * n).collect::<Vec<_>>();
            let ranges =
                Ranges::from_pairs(&clusters(tl.keys.len()), &clusters(sl.keys.len()), pairs)?;
            evaluations += ranges.kept_pairs();
            let xn = nodes::<T>(tree, &cheb, l, tl);
            // The same nodes on both sides (bitwise): the product evaluates each pair once.
            let yn = if tree.same() {
                xn.clone()
            } else {
                nodes::<T>(tree, &cheb, l, sl)
            };
            let rebound = bound
                .with_points(View::from_vec(xn, tree.d)?, View::from_vec(yn, tree.d)?)
                .ok_or(HierarchicalError::NoPoints)?;
            m2l.push(Some(KernelMatrix::new(rebound).ranges(&ranges)?));
        }
        Ok(Far {
            cheb,
            m2l,
            evaluations,
        })
    }

    /// `out += far field of K v` for `v` (sources, sorted, `nv` columns) into `out` (targets,
    /// sorted), `xs` and `ys` the sorted points.
    pub(super) fn apply(
        &self,
        tree: &Tree,
        xs: &[T],
        ys: &[T],
        v: &[f64],
        nv: usize,
        out: &mut [f64],
    ) {
        let depth = tree.depth;
        if depth < 2 {
            return;
        }
        let block = self.cheb.len() * nv;
        let sides = tree.sources();
        // Upward: multipoles of every source box from level `depth` to 2.
        let mut mult: Vec<Vec<f64>> = vec![Vec::new(); depth + 1];
        mult[depth] = self.leaf_multipoles(tree, ys, v, nv);
        for l in (2..depth).rev() {
            let (up, children) = (&sides.levels[l], &sides.levels[l + 1]);
            mult[l] = self.to_parents(up, children, &mult[l + 1], nv);
        }
        // Across: locals of every target box from the node products.
        let mut local: Vec<Vec<f64>> = (0..=depth)
            .map(|l| {
                if l < 2 {
                    Vec::new()
                } else {
                    vec![0.0; tree.targets.levels[l].keys.len() * block]
                }
            })
            .collect();
        for l in 2..=depth {
            if let Some(k) = &self.m2l[l] {
                let w: Vec<T> = mult[l].iter().map(|&x| T::from_f64(x)).collect();
                let mut o = vec![T::ZERO; local[l].len()];
                k.product(&w, nv, ProductOut::Real(&mut o));
                for (a, b) in local[l].iter_mut().zip(&o) {
                    *a += b.to_f64();
                }
            }
        }
        // Downward: parents' locals into their children, then onto the target points.
        for l in 2..depth {
            let (parents, below) = local.split_at_mut(l + 1);
            let parent = &parents[l];
            let level = &tree.targets.levels[l + 1];
            below[0]
                .par_chunks_mut(block)
                .enumerate()
                .for_each(|(c, child)| {
                    let halves = (level.keys[c] & ((1 << tree.d) - 1)) as usize;
                    let q = level.parent[c];
                    self.cheb
                        .downward(halves, &parent[q * block..(q + 1) * block], nv, child);
                });
        }
        self.leaf_locals(tree, xs, &local[depth], nv, out);
    }

    /// P2M: each source leaf's weights at its nodes.
    fn leaf_multipoles(&self, tree: &Tree, ys: &[T], v: &[f64], nv: usize) -> Vec<f64> {
        let (d, n) = (tree.d, self.cheb.len());
        let level = &tree.sources().levels[tree.depth];
        let mut mult = vec![0.0; level.keys.len() * n * nv];
        mult.par_chunks_mut(n * nv).enumerate().for_each(|(b, m)| {
            let (c, h) = tree.cell(tree.depth, level.keys[b]);
            let (mut t, mut w1, mut w) = (vec![0.0; d], vec![0.0; d * self.cheb.p], vec![0.0; n]);
            for j in level.points[b].clone() {
                for k in 0..d {
                    t[k] = (ys[j * d + k].to_f64() - c[k]) / h;
                }
                self.cheb.weights(&t, &mut w1, &mut w);
                let vj = &v[j * nv..(j + 1) * nv];
                if let [vj] = vj {
                    // One column (a solve's): a plain axpy the compiler vectorises.
                    m.iter_mut().zip(&w).for_each(|(m, wa)| *m += wa * vj);
                    continue;
                }
                for (a, &wa) in w.iter().enumerate() {
                    for (m, x) in m[a * nv..(a + 1) * nv].iter_mut().zip(vj) {
                        *m += wa * x;
                    }
                }
            }
        });
        mult
    }

    /// M2M: the multipoles of the level above `children`.
    fn to_parents(&self, up: &Level, children: &Level, mult: &[f64], nv: usize) -> Vec<f64> {
        let block = self.cheb.len() * nv;
        let d = self.cheb.d;
        // Children of a parent are consecutive (Morton order): their first index per parent.
        let mut first = vec![0; up.keys.len() + 1];
        for &q in &children.parent {
            first[q + 1] += 1;
        }
        for q in 0..up.keys.len() {
            first[q + 1] += first[q];
        }
        let mut out = vec![0.0; up.keys.len() * block];
        out.par_chunks_mut(block)
            .enumerate()
            .for_each(|(q, parent)| {
                for c in first[q]..first[q + 1] {
                    let halves = (children.keys[c] & ((1 << d) - 1)) as usize;
                    self.cheb
                        .upward(halves, &mult[c * block..(c + 1) * block], nv, parent);
                }
            });
        out
    }

    /// L2P: each target leaf's locals interpolated onto its points, added to `out`.
    fn leaf_locals(&self, tree: &Tree, xs: &[T], local: &[f64], nv: usize, out: &mut [f64]) {
        let (d, n) = (tree.d, self.cheb.len());
        let level = &tree.targets.levels[tree.depth];
        // The output rows of each leaf, split off in order (its points are consecutive).
        let mut rows: Vec<&mut [f64]> = Vec::with_capacity(level.keys.len());
        let mut rest = out;
        for r in &level.points {
            let (head, tail) = rest.split_at_mut(r.len() * nv);
            rows.push(head);
            rest = tail;
        }
        rows.into_par_iter().enumerate().for_each(|(b, o)| {
            let (c, h) = tree.cell(tree.depth, level.keys[b]);
            let (mut t, mut w1, mut w) = (vec![0.0; d], vec![0.0; d * self.cheb.p], vec![0.0; n]);
            let lb = &local[b * n * nv..(b + 1) * n * nv];
            for (r, i) in level.points[b].clone().enumerate() {
                for k in 0..d {
                    t[k] = (xs[i * d + k].to_f64() - c[k]) / h;
                }
                self.cheb.weights(&t, &mut w1, &mut w);
                let oi = &mut o[r * nv..(r + 1) * nv];
                if let [oi] = oi {
                    *oi += w.iter().zip(lb).map(|(wa, l)| wa * l).sum::<f64>();
                    continue;
                }
                for (a, &wa) in w.iter().enumerate() {
                    for (x, l) in oi.iter_mut().zip(&lb[a * nv..(a + 1) * nv]) {
                        *x += wa * l;
                    }
                }
            }
        });
    }
}

/// The nodes of every box of a level, in the boxes' order, rounded to `T`.
fn nodes<T: Real>(tree: &Tree, cheb: &Chebyshev, l: usize, level: &Level) -> Vec<T> {
    let mut out = Vec::with_capacity(level.keys.len() * cheb.len() * tree.d);
    for &key in &level.keys {
        let (c, h) = tree.cell(l, key);
        cheb.box_nodes(&c, h, &mut out);
    }
    out.into_iter().map(T::from_f64).collect()
}
