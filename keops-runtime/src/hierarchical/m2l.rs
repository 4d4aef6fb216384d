//! Stored node-to-node operators (M2L) for translation-invariant kernels.
//!
//! When `K(x + s, y + s) = K(x, y)` (every stationary kernel: Gaussian, Laplacian, Matérn, ...),
//! the interaction between the interpolation nodes of two boxes of a level depends only on their
//! offset, of which there are at most `7^d - 3^d` (40 in 2D). Those `p^d x p^d` operators are
//! evaluated once and applied by matrix products, grouped by offset, instead of evaluating
//! `p^2d` kernel entries per pair of boxes at every product. Invariance is not assumed: the
//! build ([`super::far::Far::new`]) compares the stored operators' product with the evaluated
//! one on a random vector and keeps evaluating at any level where they differ.

use nalgebra::{DMatrixView, DMatrixViewMut};
use rayon::prelude::*;

use super::chebyshev::Chebyshev;
use super::tree::Tree;
use super::HierarchicalError;
use crate::{BoundKernel, KeopsError, KernelMatrix, Real, View};

/// Target boxes per parallel task (each task owns its boxes' locals).
const CHUNK: usize = 128;

/// Offsets in box sides per dimension: interaction lists reach 3 boxes away.
const REACH: i64 = 3;

/// The offsets of a level's far pairs.
pub(super) struct Offsets {
    /// The distinct offsets, as indices into a `(2 REACH + 1)^d` grid, in order of appearance.
    pub(super) present: Vec<usize>,
    /// Each pair's offset, as an index into `present`.
    of_pair: Vec<u32>,
}

impl Offsets {
    /// The offsets of level `l`'s far `pairs`.
    pub(super) fn new(tree: &Tree, l: usize, pairs: &[(usize, usize)]) -> Offsets {
        let (tl, sl) = (&tree.targets.levels[l], &tree.sources().levels[l]);
        let mut compact = vec![u32::MAX; (2 * REACH as usize + 1).pow(tree.d as u32)];
        let mut present = Vec::new();
        let of_pair = pairs
            .iter()
            .map(|&(t, s)| {
                let (a, b) = (tree.coords(l, tl.keys[t]), tree.coords(l, sl.keys[s]));
                let g = a
                    .iter()
                    .zip(&b)
                    .rev()
                    .fold(0, |idx, (a, b)| idx * (2 * REACH + 1) + (b - a + REACH))
                    as usize;
                if compact[g] == u32::MAX {
                    compact[g] = present.len() as u32;
                    present.push(g);
                }
                compact[g]
            })
            .collect();
        Offsets { present, of_pair }
    }
}

/// One level's far field as stored operators.
pub(super) struct StoredM2l {
    /// Nodes per box.
    n: usize,
    /// Per offset, `K(target nodes, source nodes)` (`n x n`, column-major), evaluated in the
    /// data's precision and kept in f64.
    blocks: Vec<f64>,
    /// The level's far pairs `(offset, target, source)`, by chunk of target boxes, then offset.
    pairs: Vec<(u32, u32, u32)>,
    /// Where each chunk's pairs start in `pairs` (one more entry than chunks).
    starts: Vec<usize>,
}

impl StoredM2l {
    /// Bytes of the operators of a level with `offsets` distinct offsets and `n` nodes per box.
    pub(super) fn bytes(offsets: usize, n: usize) -> usize {
        offsets * n * n * 8
    }

    /// The operators of level `l` for its far `pairs` (sorted by target) with their `offsets`,
    /// evaluated at the first target box and the boxes at each offset from it.
    pub(super) fn new<T: Real, B: BoundKernel<T>>(
        bound: &B,
        tree: &Tree,
        cheb: &Chebyshev,
        l: usize,
        pairs: &[(usize, usize)],
        offsets: &Offsets,
    ) -> Result<Self, KeopsError> {
        let (d, n) = (tree.d, cheb.len());
        let present = &offsets.present;
        let (c0, h) = tree.cell(l, tree.targets.levels[l].keys[0]);
        let mut xn = Vec::with_capacity(n * d);
        cheb.box_nodes(&c0, h, &mut xn);
        let mut yn = Vec::with_capacity(present.len() * n * d);
        for &g in present {
            let mut r = g as i64;
            let c: Vec<f64> = c0
                .iter()
                .map(|&ck| {
                    let o = r % (2 * REACH + 1) - REACH;
                    r /= 2 * REACH + 1;
                    ck + 2.0 * h * o as f64
                })
                .collect();
            cheb.box_nodes(&c, h, &mut yn);
        }
        let to_t = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
        let k = bound
            .with_points(View::from_vec(to_t(xn), d)?, View::from_vec(to_t(yn), d)?)
            .ok_or(HierarchicalError::NoPoints)?;
        let cols: Vec<usize> = (0..present.len() * n).collect();
        let mut blocks = vec![0.0; n * cols.len()];
        KernelMatrix::new(k).columns_into(&cols, &mut blocks)?;
        let mut pairs: Vec<(u32, u32, u32)> = pairs
            .iter()
            .zip(&offsets.of_pair)
            .map(|(&(t, s), &o)| (o, t as u32, s as u32))
            .collect();
        pairs.sort_unstable_by_key(|&(o, t, s)| (t as usize / CHUNK, o, t, s));
        let chunks = tree.targets.levels[l].keys.len().div_ceil(CHUNK);
        let starts = (0..=chunks)
            .map(|c| pairs.partition_point(|&(_, t, _)| (t as usize) < c * CHUNK))
            .collect();
        Ok(StoredM2l {
            n,
            blocks,
            pairs,
            starts,
        })
    }

    /// Bytes held: the operators and the pairs.
    pub(super) fn memory(&self) -> usize {
        8 * self.blocks.len() + 12 * self.pairs.len() + 8 * self.starts.len()
    }

    /// `local += M2L mult`, both `(boxes, n, nv)` row-major (a box's nodes, each with `nv`
    /// columns).
    pub(super) fn apply(&self, mult: &[f64], nv: usize, local: &mut [f64]) {
        let n = self.n;
        let block = n * nv;
        local
            .par_chunks_mut(CHUNK * block)
            .enumerate()
            .for_each(|(c, loc)| {
                let (mut w, mut r) = (Vec::new(), Vec::new());
                let pairs = &self.pairs[self.starts[c]..self.starts[c + 1]];
                for group in pairs.chunk_by(|a, b| a.0 == b.0) {
                    let cols = group.len() * nv;
                    // W: the sources' multipoles as columns (n x cols, column-major).
                    w.clear();
                    w.resize(n * cols, 0.0);
                    for (g, &(_, _, s)) in group.iter().enumerate() {
                        let ms = &mult[s as usize * block..(s as usize + 1) * block];
                        for col in 0..nv {
                            let wc = &mut w[(g * nv + col) * n..(g * nv + col + 1) * n];
                            for (a, x) in wc.iter_mut().enumerate() {
                                *x = ms[a * nv + col];
                            }
                        }
                    }
                    r.clear();
                    r.resize(n * cols, 0.0);
                    let o = group[0].0 as usize;
                    let m = DMatrixView::from_slice(&self.blocks[o * n * n..(o + 1) * n * n], n, n);
                    let wv = DMatrixView::from_slice(&w, n, cols);
                    DMatrixViewMut::from_slice(&mut r, n, cols).gemm(1.0, &m, &wv, 0.0);
                    for (g, &(_, t, _)) in group.iter().enumerate() {
                        let t0 = (t as usize - c * CHUNK) * block;
                        let lt = &mut loc[t0..t0 + block];
                        for col in 0..nv {
                            let rc = &r[(g * nv + col) * n..(g * nv + col + 1) * n];
                            for (a, x) in rc.iter().enumerate() {
                                lt[a * nv + col] += x;
                            }
                        }
                    }
                }
            });
    }
}
