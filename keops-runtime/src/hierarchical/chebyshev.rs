//! Tensor-product Chebyshev interpolation on `p^d` nodes of a box: the nodes, a point's
//! interpolation weights, and the transfers between a box's nodes and its children's.
//!
//! On `[-1, 1]` the nodes are `xi_m = cos((2m + 1) pi / (2p))` and the weight of node `m` at `t`
//! is the Lagrange polynomial `l_m(t)` (bbFMM writes it `S(xi_m, t) = 1/p + 2/p sum_{n=1}^{p-1}
//! T_n(xi_m) T_n(t)`, the same polynomial), so `f(t) ~ sum_m f(xi_m) l_m(t)`; evaluated by the
//! barycentric formula, `l_m(t) = (b_m / (t - xi_m)) / sum_k b_k / (t - xi_k)` with `b_m =
//! (-1)^m sin((2m + 1) pi / (2p))`: `O(p)` per point and stable (Higham 2004). A box maps to
//! `[-1, 1]^d` by its centre and half side; node `a` of a box is `(m_0, .., m_{d-1})` with `a =
//! sum_k m_k p^k`.

use std::f64::consts::PI;

/// The interpolation of one order `p` in dimension `d`.
#[derive(Clone, Debug)]
pub(super) struct Chebyshev {
    pub(super) p: usize,
    pub(super) d: usize,
    /// `xi_m`.
    pub(super) nodes: Vec<f64>,
    /// The barycentric weights `b_m`.
    barycentric: Vec<f64>,
    /// Per half (0: lower, 1: upper) of a parent interval, `S(xi_m, +-1/2 + xi_b / 2)` at
    /// `[m * p + b]`: the weight of parent node `m` at child node `b`.
    transfer: [Vec<f64>; 2],
}

impl Chebyshev {
    pub(super) fn new(p: usize, d: usize) -> Self {
        let nodes: Vec<f64> = (0..p)
            .map(|m| (PI * (2 * m + 1) as f64 / (2 * p) as f64).cos())
            .collect();
        let barycentric = (0..p)
            .map(|m| {
                let sign = if m % 2 == 0 { 1.0 } else { -1.0 };
                sign * (PI * (2 * m + 1) as f64 / (2 * p) as f64).sin()
            })
            .collect();
        let mut cheb = Chebyshev {
            p,
            d,
            nodes,
            barycentric,
            transfer: [Vec::new(), Vec::new()],
        };
        for (half, shift) in [-0.5, 0.5].into_iter().enumerate() {
            let mut t = vec![0.0; p * p];
            let mut w = vec![0.0; p];
            for b in 0..p {
                cheb.weights_1d(shift + 0.5 * cheb.nodes[b], &mut w);
                for m in 0..p {
                    t[m * p + b] = w[m];
                }
            }
            cheb.transfer[half] = t;
        }
        cheb
    }

    /// Nodes per box, `p^d`.
    pub(super) fn len(&self) -> usize {
        self.p.pow(self.d as u32)
    }

    /// `out[m] = l_m(t)` for `t` in `[-1, 1]` (clamped: rounding may put a point on the
    /// outside of its box by an ulp).
    pub(super) fn weights_1d(&self, t: f64, out: &mut [f64]) {
        let t = t.clamp(-1.0, 1.0);
        let mut sum = 0.0;
        for (m, (o, (&xi, &b))) in out
            .iter_mut()
            .zip(self.nodes.iter().zip(&self.barycentric))
            .enumerate()
        {
            let diff = t - xi;
            if diff == 0.0 {
                // On a node: its own value.
                out.iter_mut().for_each(|o| *o = 0.0);
                out[m] = 1.0;
                return;
            }
            *o = b / diff;
            sum += *o;
        }
        let inv = 1.0 / sum;
        out.iter_mut().for_each(|o| *o *= inv);
    }

    /// The `p^d` tensor weights of a point at `t` (box coordinates) into `out`, using `w1`
    /// (`d * p`) as scratch for the 1D weights.
    pub(super) fn weights(&self, t: &[f64], w1: &mut [f64], out: &mut [f64]) {
        self.axis_weights(t, w1);
        tensor(w1, self.p, self.d, out);
    }

    /// The 1D weights of a point at `t` along each axis: `w1[k p + m] = l_m(t_k)` (the tensor
    /// weights are their products).
    pub(super) fn axis_weights(&self, t: &[f64], w1: &mut [f64]) {
        let p = self.p;
        for (k, &tk) in t.iter().enumerate() {
            self.weights_1d(tk, &mut w1[k * p..(k + 1) * p]);
        }
    }

    /// The nodes of the box with centre `c` and half side `h`: `p^d` points of dimension `d`,
    /// row-major, appended to `out`.
    pub(super) fn box_nodes(&self, c: &[f64], h: f64, out: &mut Vec<f64>) {
        let (p, d) = (self.p, self.d);
        for a in 0..self.len() {
            let mut r = a;
            for &ck in c.iter().take(d) {
                out.push(ck + h * self.nodes[r % p]);
                r /= p;
            }
        }
    }

    /// Multipole transfer (M2M): `parent += (T_{s_0} x .. x T_{s_{d-1}}) child`, for the child in
    /// half `s_k` of the parent along dimension `k` (`halves` bit `k`), `nv` columns per node.
    pub(super) fn upward(&self, halves: usize, child: &[f64], nv: usize, parent: &mut [f64]) {
        self.transfer(halves, false, child, nv, parent);
    }

    /// Local transfer (L2L): `child += (T_{s_0} x .. x T_{s_{d-1}})^T parent`.
    pub(super) fn downward(&self, halves: usize, parent: &[f64], nv: usize, child: &mut [f64]) {
        self.transfer(halves, true, parent, nv, child);
    }

    /// Applies the Kronecker product of the 1D transfers (transposed or not) axis by axis and adds
    /// the result to `out`.
    fn transfer(&self, halves: usize, transpose: bool, input: &[f64], nv: usize, out: &mut [f64]) {
        let (p, d) = (self.p, self.d);
        let mut cur = input.to_vec();
        let mut next = vec![0.0; cur.len()];
        for k in 0..d {
            let t = &self.transfer[(halves >> k) & 1];
            // Along axis k: index = lo + m * stride + hi * stride * p, stride = p^k * nv.
            let stride = p.pow(k as u32) * nv;
            next.iter_mut().for_each(|x| *x = 0.0);
            for hi in 0..cur.len() / (stride * p) {
                let base = hi * stride * p;
                for m in 0..p {
                    let dst = base + m * stride;
                    for b in 0..p {
                        let a = if transpose {
                            t[b * p + m]
                        } else {
                            t[m * p + b]
                        };
                        let src = base + b * stride;
                        for lo in 0..stride {
                            next[dst + lo] += a * cur[src + lo];
                        }
                    }
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        for (o, c) in out.iter_mut().zip(&cur) {
            *o += c;
        }
    }
}

/// Outer product of `d` weight vectors of length `p` (dimension 0 varies fastest).
fn tensor(w1: &[f64], p: usize, d: usize, out: &mut [f64]) {
    out[..p].copy_from_slice(&w1[..p]);
    let mut len = p;
    for k in 1..d {
        let wk = &w1[k * p..(k + 1) * p];
        for m in (0..p).rev() {
            for a in (0..len).rev() {
                out[m * len + a] = out[a] * wk[m];
            }
        }
        len *= p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function analytic around the box (a pole at distance 2 from it, as a kernel's
    /// singularity seen from a well-separated box).
    fn f(x: &[f64]) -> f64 {
        1.0 / (3.0 - x.iter().sum::<f64>() / x.len() as f64)
    }

    #[test]
    fn interpolation_converges_in_every_dimension() {
        for d in 1..=3 {
            let mut errs = Vec::new();
            for p in [4, 8, 12] {
                let c = Chebyshev::new(p, d);
                let mut nodes = Vec::new();
                c.box_nodes(&vec![0.0; d], 1.0, &mut nodes);
                let vals: Vec<f64> = nodes.chunks(d).map(f).collect();
                let (mut w1, mut w) = (vec![0.0; d * p], vec![0.0; c.len()]);
                let mut err: f64 = 0.0;
                for s in 0..50 {
                    let t: Vec<f64> = (0..d)
                        .map(|k| ((s * 7 + k * 3) as f64 * 0.37).sin())
                        .collect();
                    c.weights(&t, &mut w1, &mut w);
                    let approx: f64 = w.iter().zip(&vals).map(|(a, b)| a * b).sum();
                    err = err.max((approx - f(&t)).abs() / f(&t).abs());
                }
                errs.push(err);
            }
            assert!(errs[2] < 1e-7 && errs[1] < errs[0], "d = {d}: {errs:?}");
        }
    }

    #[test]
    fn transfers_are_the_interpolation_at_the_child_nodes() {
        let (p, d) = (6, 2);
        let c = Chebyshev::new(p, d);
        let (mut w1, mut w) = (vec![0.0; d * p], vec![0.0; c.len()]);
        // Child in the upper half along x, lower along y: centre (0.5, -0.5), half side 0.5.
        let halves = 0b01;
        let mut child_nodes = Vec::new();
        c.box_nodes(&[0.5, -0.5], 0.5, &mut child_nodes);
        let child: Vec<f64> = (0..c.len()).map(|b| (b as f64 * 0.7).cos()).collect();
        let mut parent = vec![0.0; c.len()];
        c.upward(halves, &child, 1, &mut parent);
        let mut direct = vec![0.0; c.len()];
        for (b, x) in child_nodes.chunks(d).enumerate() {
            c.weights(x, &mut w1, &mut w);
            for a in 0..c.len() {
                direct[a] += w[a] * child[b];
            }
        }
        for (a, b) in parent.iter().zip(&direct) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // Downward is the transpose: <down(L), W> = <L, up(W)>.
        let local: Vec<f64> = (0..c.len()).map(|a| (a as f64 * 1.3).sin()).collect();
        let mut down = vec![0.0; c.len()];
        c.downward(halves, &local, 1, &mut down);
        let lhs: f64 = down.iter().zip(&child).map(|(a, b)| a * b).sum();
        let rhs: f64 = local.iter().zip(&parent).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12);
    }
}
