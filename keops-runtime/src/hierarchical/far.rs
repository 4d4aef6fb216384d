//! The far field of a product: the sources' weights interpolated onto their leaves' nodes
//! (P2M) and up the tree (M2M), the kernel between the nodes of well-separated boxes at every
//! level (M2L: a block-sparse product of the formula rebound to the nodes), and the result
//! interpolated down the tree (L2L) onto the target points (L2P). Sums in f64; the node
//! products in the data's precision, as every product of the formula.

use rayon::prelude::*;

use super::chebyshev::Chebyshev;
use super::m2l::{Offsets, StoredM2l};
use super::tree::{Level, Tree};
use super::{random_signed, HierarchicalError};
use crate::{BoundKernel, KeopsError, KernelMatrix, ProductOut, Ranges, Real, View};

/// A kernel rebound to other points (sorted points, or interpolation nodes).
pub(super) type Rebound<T> = KernelMatrix<T, Box<dyn BoundKernel<T>>>;

/// The interpolation of one order and the node interactions of every level.
pub(super) struct Far<T: Real> {
    pub(super) cheb: Chebyshev,
    /// Per level, the interactions between the target boxes' nodes and the source boxes' nodes
    /// over the level's far pairs.
    m2l: Vec<M2l<T>>,
    /// Kernel entries applied by the node interactions, per product.
    pub(super) evaluations: u64,
}

/// One level's node interactions.
enum M2l<T: Real> {
    /// No far pairs (levels 0 and 1, or none well separated).
    None,
    /// The kernel rebound to the nodes, restricted to the far pairs: evaluated at each product.
    Evaluated(Rebound<T>),
    /// One stored operator per offset (a translation-invariant kernel).
    Stored(StoredM2l),
}

/// How the node interactions are built.
pub(super) struct FarOptions {
    /// Bytes the stored operators may take, all levels together.
    pub(super) store_bytes: usize,
    /// The relative difference allowed between stored and evaluated interactions.
    pub(super) invariance: f64,
    /// Seed of the comparison's random vector.
    pub(super) seed: u64,
}

impl<T: Real> Far<T> {
    /// The node interactions of order `p` over `tree`: stored per offset where they fit
    /// `opts.store_bytes` (finest levels first: they have the most pairs) and match the
    /// evaluated ones on a random vector, evaluated at each product elsewhere.
    pub(super) fn new<B: BoundKernel<T>>(
        bound: &B,
        tree: &Tree,
        p: usize,
        opts: &FarOptions,
    ) -> Result<Self, KeopsError> {
        let cheb = Chebyshev::new(p, tree.d);
        let mut m2l: Vec<M2l<T>> = (0..=tree.depth).map(|_| M2l::None).collect();
        let mut evaluations = 0;
        let mut store_left = opts.store_bytes;
        for l in (2..=tree.depth).rev() {
            let pairs = tree.far_pairs(l);
            if pairs.is_empty() {
                continue;
            }
            let evaluated = evaluated(bound, tree, &cheb, l, &pairs)?;
            evaluations += (pairs.len() * cheb.len() * cheb.len()) as u64;
            let offsets = Offsets::new(tree, l, &pairs);
            let bytes = StoredM2l::bytes(offsets.present.len(), cheb.len());
            let stored = if bytes <= store_left {
                Some(StoredM2l::new(bound, tree, &cheb, l, &pairs, &offsets)?)
            } else {
                None
            };
            m2l[l] = match stored {
                Some(stored) if agree(&evaluated, &stored, opts) => {
                    store_left -= bytes;
                    M2l::Stored(stored)
                }
                _ => M2l::Evaluated(evaluated),
            };
        }
        Ok(Far {
            cheb,
            m2l,
            evaluations,
        })
    }

    /// Levels whose node interactions are stored operators.
    pub(super) fn stored_levels(&self) -> usize {
        self.m2l
            .iter()
            .filter(|m| matches!(m, M2l::Stored(_)))
            .count()
    }

    /// Bytes of the stored operators and of the nodes held for evaluated interactions.
    pub(super) fn bytes(&self) -> usize {
        self.m2l
            .iter()
            .map(|m| match m {
                M2l::None => 0,
                M2l::Evaluated(k) => {
                    let [x, y] = k.bound().points().expect("rebound to nodes");
                    (x.as_slice().len() + y.as_slice().len()) * size_of::<T>()
                }
                M2l::Stored(s) => s.memory(),
            })
            .sum()
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
            match &self.m2l[l] {
                M2l::None => {}
                M2l::Evaluated(k) => evaluate(k, &mult[l], nv, &mut local[l]),
                M2l::Stored(s) => s.apply(&mult[l], nv, &mut local[l]),
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
                let vj = &v[j * nv..(j + 1) * nv];
                if let ([vj], 2) = (vj, d) {
                    // One column in 2D (a solve's): row by row of the p x p nodes, without
                    // forming the tensor weights.
                    self.cheb.axis_weights(&t, &mut w1);
                    let (wx, wy) = w1.split_at(self.cheb.p);
                    for (row, &wb) in m.chunks_exact_mut(self.cheb.p).zip(wy) {
                        let s = wb * vj;
                        row.iter_mut().zip(wx).for_each(|(m, wa)| *m += wa * s);
                    }
                    continue;
                }
                self.cheb.weights(&t, &mut w1, &mut w);
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
                let oi = &mut o[r * nv..(r + 1) * nv];
                if let ([oi], 2) = (&mut *oi, d) {
                    // One column in 2D: row by row of the p x p nodes (see `leaf_multipoles`).
                    self.cheb.axis_weights(&t, &mut w1);
                    let (wx, wy) = w1.split_at(self.cheb.p);
                    let rows = lb.chunks_exact(self.cheb.p).zip(wy);
                    *oi += rows
                        .map(|(row, &wb)| {
                            wb * row.iter().zip(wx).map(|(l, wa)| l * wa).sum::<f64>()
                        })
                        .sum::<f64>();
                    continue;
                }
                self.cheb.weights(&t, &mut w1, &mut w);
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

/// Level `l`'s node interactions as the kernel rebound to the nodes of every box, restricted
/// to the far `pairs`.
fn evaluated<T: Real, B: BoundKernel<T>>(
    bound: &B,
    tree: &Tree,
    cheb: &Chebyshev,
    l: usize,
    pairs: &[(usize, usize)],
) -> Result<Rebound<T>, KeopsError> {
    let n = cheb.len();
    let (tl, sl) = (&tree.targets.levels[l], &tree.sources().levels[l]);
    let clusters = |boxes: usize| (0..boxes).map(|b| b * n..(b + 1) * n).collect::<Vec<_>>();
    let ranges = Ranges::from_pairs(
        &clusters(tl.keys.len()),
        &clusters(sl.keys.len()),
        pairs.to_vec(),
    )?;
    let xn = nodes::<T>(tree, cheb, l, tl);
    // The same nodes on both sides (bitwise): the product evaluates each pair once.
    let yn = if tree.same() {
        xn.clone()
    } else {
        nodes::<T>(tree, cheb, l, sl)
    };
    let rebound = bound
        .with_points(View::from_vec(xn, tree.d)?, View::from_vec(yn, tree.d)?)
        .ok_or(HierarchicalError::NoPoints)?;
    KernelMatrix::new(rebound).ranges(&ranges)
}

/// `local += K mult` by evaluating the kernel between the nodes (in `T`, summed in f64).
fn evaluate<T: Real>(k: &Rebound<T>, mult: &[f64], nv: usize, local: &mut [f64]) {
    let w: Vec<T> = mult.iter().map(|&x| T::from_f64(x)).collect();
    let mut o = vec![T::ZERO; local.len()];
    k.product(&w, nv, ProductOut::Real(&mut o));
    for (a, b) in local.iter_mut().zip(&o) {
        *a += b.to_f64();
    }
}

/// Whether the stored operators give the evaluated interactions on a random vector of source
/// node weights, within `opts.invariance` relative (in norm): the kernel is translation
/// invariant over this level's pairs, up to the data's rounding.
fn agree<T: Real>(k: &Rebound<T>, stored: &StoredM2l, opts: &FarOptions) -> bool {
    let mut state = opts.seed;
    // Rounded to `T` first: both sides see the same weights.
    let w: Vec<f64> = (0..k.ncols())
        .map(|_| T::from_f64(random_signed(&mut state)).to_f64())
        .collect();
    let mut a = vec![0.0; k.nrows()];
    let mut b = vec![0.0; k.nrows()];
    evaluate(k, &w, 1, &mut a);
    stored.apply(&w, 1, &mut b);
    let (mut diff, mut norm) = (0.0, 0.0);
    for (a, b) in a.iter().zip(&b) {
        diff += (a - b) * (a - b);
        norm += a * a;
    }
    diff.sqrt() <= opts.invariance * norm.sqrt()
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
