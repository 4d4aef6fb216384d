//! Tensor contractions (KeOps' TensorDot and its special cases MatVecMult, VecMatMult,
//! TensorProd, Kron), row-major (KeOps' `C_CONTIGUOUS`).
//!
//! A [`TensorSpec`] describes `out = tensordot(A, B)`: `A` and `B` are row-major tensors with axis
//! sizes `a` and `b` (flattened into the formula's vectors), the axis pairs `cont` are contracted
//! (summed over, equal sizes), and the remaining ("kept") axes, A's in order then B's in order,
//! are transposed by `perm` (numpy's convention: output axis `t` is kept axis `perm[t]`) and
//! flattened row-major. `numpy.tensordot(A, B, (ca, cb)).transpose(perm).ravel()`.

/// One contraction `tensordot(A, B)` (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    /// Axis sizes of `A`.
    pub a: Vec<usize>,
    /// Axis sizes of `B`.
    pub b: Vec<usize>,
    /// Contracted pairs (axis of `A`, axis of `B`), of equal sizes; summed in this order (the
    /// first pair is the outermost loop).
    pub cont: Vec<(usize, usize)>,
    /// Output axis `t` is kept axis `perm[t]` (kept axes: A's then B's, each in order).
    pub perm: Vec<usize>,
}

/// One loop of the emitted contraction: its trip count and the strides of its index in `A`, `B`
/// and the output (0 where the index does not appear).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loop {
    /// The trip count.
    pub size: usize,
    /// The index's stride in `A`.
    pub a: usize,
    /// The index's stride in `B`.
    pub b: usize,
    /// The index's stride in the output.
    pub out: usize,
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

fn prod(x: &[usize]) -> usize {
    x.iter().product()
}

impl TensorSpec {
    /// A contraction with the kept axes in their natural order (no transposition).
    pub fn new(a: Vec<usize>, b: Vec<usize>, cont: Vec<(usize, usize)>) -> Self {
        let kept = (a.len() + b.len()).saturating_sub(2 * cont.len());
        TensorSpec {
            a,
            b,
            cont,
            perm: (0..kept).collect(),
        }
    }

    /// `A` (m x n, row-major) times the vector `x` (n): dimension m.
    pub fn matvec(m: usize, n: usize) -> Self {
        TensorSpec::new(vec![m, n], vec![n], vec![(1, 0)])
    }

    /// The vector `x` (m) times `A` (m x n, row-major): dimension n.
    pub fn vecmat(m: usize, n: usize) -> Self {
        TensorSpec::new(vec![m], vec![m, n], vec![(0, 0)])
    }

    /// `out[k * n + l] = f[k] g[l]`: dimension m n.
    pub fn tensorprod(m: usize, n: usize) -> Self {
        TensorSpec::new(vec![m], vec![n], vec![])
    }

    /// `numpy.kron` of two tensors with the same number of axes.
    pub fn kron(a: Vec<usize>, b: Vec<usize>) -> Self {
        let n = a.len();
        let perm = (0..n).flat_map(|k| [k, n + k]).collect();
        TensorSpec {
            a,
            b,
            cont: vec![],
            perm,
        }
    }

    /// The dimension of `A` flattened (the product of its axis sizes).
    pub fn a_dim(&self) -> usize {
        prod(&self.a)
    }

    /// The dimension of `B` flattened.
    pub fn b_dim(&self) -> usize {
        prod(&self.b)
    }

    /// A's axes that are not contracted, in order.
    pub fn kept_a(&self) -> Vec<usize> {
        (0..self.a.len())
            .filter(|&ax| !self.cont.iter().any(|&(ca, _)| ca == ax))
            .collect()
    }

    /// B's axes that are not contracted, in order.
    pub fn kept_b(&self) -> Vec<usize> {
        (0..self.b.len())
            .filter(|&ax| !self.cont.iter().any(|&(_, cb)| cb == ax))
            .collect()
    }

    /// Sizes of the kept axes, A's then B's.
    fn kept_sizes(&self) -> Vec<usize> {
        let a = self.kept_a().into_iter().map(|ax| self.a[ax]);
        a.chain(self.kept_b().into_iter().map(|ax| self.b[ax]))
            .collect()
    }

    /// The output's axis sizes.
    pub fn out_shape(&self) -> Vec<usize> {
        let kept = self.kept_sizes();
        self.perm.iter().map(|&q| kept[q]).collect()
    }

    /// The dimension of the output flattened.
    pub fn out_dim(&self) -> usize {
        prod(&self.out_shape())
    }

    /// Checks that the spec is well formed: positive sizes, contracted axes in range, each axis
    /// contracted at most once, equal sizes in a pair, `perm` a permutation of the kept axes.
    pub fn validate(&self) -> Result<(), String> {
        for (name, shape) in [("A", &self.a), ("B", &self.b)] {
            if let Some(k) = shape.iter().position(|&s| s == 0) {
                return Err(format!("axis {k} of {name} has size 0"));
            }
        }
        for (i, &(ca, cb)) in self.cont.iter().enumerate() {
            if ca >= self.a.len() {
                return Err(format!(
                    "contracted axis {ca} of A is out of range (A has {} axes)",
                    self.a.len()
                ));
            }
            if cb >= self.b.len() {
                return Err(format!(
                    "contracted axis {cb} of B is out of range (B has {} axes)",
                    self.b.len()
                ));
            }
            if self.cont[..i].iter().any(|&(pa, _)| pa == ca) {
                return Err(format!("axis {ca} of A is contracted twice"));
            }
            if self.cont[..i].iter().any(|&(_, pb)| pb == cb) {
                return Err(format!("axis {cb} of B is contracted twice"));
            }
            if self.a[ca] != self.b[cb] {
                return Err(format!(
                    "contracted axes of different sizes: axis {ca} of A has size {}, axis {cb} of B has size {}",
                    self.a[ca], self.b[cb]
                ));
            }
        }
        let kept = self.a.len() + self.b.len() - 2 * self.cont.len();
        let mut seen = vec![false; kept];
        if self.perm.len() != kept {
            return Err(format!(
                "the permutation has {} entries but there are {kept} kept axes",
                self.perm.len()
            ));
        }
        for &q in &self.perm {
            if q >= kept || seen[q] {
                return Err(format!("{:?} is not a permutation of 0..{kept}", self.perm));
            }
            seen[q] = true;
        }
        Ok(())
    }

    /// The loops of the contraction: first one per output axis (outermost first, so that the
    /// output is written in row-major order), then one per contracted pair (in `cont`'s order).
    /// `out[o] = sum a[ia] * b[ib]` with `o`, `ia`, `ib` the sums of index times stride.
    pub fn loops(&self) -> (Vec<Loop>, Vec<Loop>) {
        let (sa, sb) = (strides(&self.a), strides(&self.b));
        let (ka, kb) = (self.kept_a(), self.kept_b());
        let so = strides(&self.out_shape());
        let outs = self
            .perm
            .iter()
            .enumerate()
            .map(|(t, &q)| {
                if q < ka.len() {
                    let ax = ka[q];
                    Loop {
                        size: self.a[ax],
                        a: sa[ax],
                        b: 0,
                        out: so[t],
                    }
                } else {
                    let ax = kb[q - ka.len()];
                    Loop {
                        size: self.b[ax],
                        a: 0,
                        b: sb[ax],
                        out: so[t],
                    }
                }
            })
            .collect();
        let conts = self
            .cont
            .iter()
            .map(|&(ca, cb)| Loop {
                size: self.a[ca],
                a: sa[ca],
                b: sb[cb],
                out: 0,
            })
            .collect();
        (outs, conts)
    }

    /// The contraction in f64 with plain loops over multi-indices (a reference).
    pub fn eval(&self, a: &[f64], b: &[f64]) -> Vec<f64> {
        assert_eq!(a.len(), self.a_dim(), "A's length");
        assert_eq!(b.len(), self.b_dim(), "B's length");
        let out_shape = self.out_shape();
        let (ka, kb) = (self.kept_a(), self.kept_b());
        let cdims: Vec<usize> = self.cont.iter().map(|&(ca, _)| self.a[ca]).collect();
        let unravel = |mut i: usize, shape: &[usize]| {
            let mut idx = vec![0; shape.len()];
            for k in (0..shape.len()).rev() {
                idx[k] = i % shape[k];
                i /= shape[k];
            }
            idx
        };
        let ravel = |idx: &[usize], shape: &[usize]| {
            let mut i = 0;
            for k in 0..shape.len() {
                i = i * shape[k] + idx[k];
            }
            i
        };
        let mut out = vec![0.0; prod(&out_shape)];
        for (o, out_o) in out.iter_mut().enumerate() {
            let oi = unravel(o, &out_shape);
            // The index of each kept axis.
            let mut kidx = vec![0; self.perm.len()];
            for (t, &q) in self.perm.iter().enumerate() {
                kidx[q] = oi[t];
            }
            let mut s = 0.0;
            for c in 0..prod(&cdims) {
                let ci = unravel(c, &cdims);
                let (mut ai, mut bi) = (vec![0; self.a.len()], vec![0; self.b.len()]);
                for (q, &ax) in ka.iter().enumerate() {
                    ai[ax] = kidx[q];
                }
                for (r, &ax) in kb.iter().enumerate() {
                    bi[ax] = kidx[ka.len() + r];
                }
                for (p, &(ca, cb)) in self.cont.iter().enumerate() {
                    ai[ca] = ci[p];
                    bi[cb] = ci[p];
                }
                s += a[ravel(&ai, &self.a)] * b[ravel(&bi, &self.b)];
            }
            *out_o = s;
        }
        out
    }

    /// The output axis that carries kept axis `q`.
    fn out_axis_of(&self, q: usize) -> usize {
        self.perm
            .iter()
            .position(|&p| p == q)
            .expect("perm is a permutation")
    }

    /// The contraction whose value is the vector-Jacobian product with respect to `A`:
    /// `dA = tensordot(G, B; self.grad_a())` for `G` of the output's shape.
    pub fn grad_a(&self) -> TensorSpec {
        let (ka, kb) = (self.kept_a(), self.kept_b());
        let na = ka.len();
        // G's axes that carry B's kept axes contract with them.
        let cont = kb
            .iter()
            .enumerate()
            .map(|(r, &bx)| (self.out_axis_of(na + r), bx))
            .collect();
        // Kept axes of the new contraction, as axes of A: G's remaining axes (A's kept ones) in
        // G's order, then B's contracted axes in B's order (each paired with an axis of A).
        let mut kept: Vec<usize> = (0..self.perm.len())
            .filter(|&t| self.perm[t] < na)
            .map(|t| ka[self.perm[t]])
            .collect();
        let mut pairs: Vec<(usize, usize)> = self.cont.iter().map(|&(ca, cb)| (cb, ca)).collect();
        pairs.sort_unstable();
        kept.extend(pairs.iter().map(|&(_, ca)| ca));
        let perm = (0..self.a.len())
            .map(|ax| kept.iter().position(|&k| k == ax).expect("every axis of A"))
            .collect();
        TensorSpec {
            a: self.out_shape(),
            b: self.b.clone(),
            cont,
            perm,
        }
    }

    /// The contraction whose value is the vector-Jacobian product with respect to `B`:
    /// `dB = tensordot(G, A; self.grad_b())` for `G` of the output's shape.
    pub fn grad_b(&self) -> TensorSpec {
        let (ka, kb) = (self.kept_a(), self.kept_b());
        let na = ka.len();
        let cont = ka
            .iter()
            .enumerate()
            .map(|(q, &ax)| (self.out_axis_of(q), ax))
            .collect();
        let mut kept: Vec<usize> = (0..self.perm.len())
            .filter(|&t| self.perm[t] >= na)
            .map(|t| kb[self.perm[t] - na])
            .collect();
        let mut pairs: Vec<(usize, usize)> = self.cont.clone();
        pairs.sort_unstable();
        kept.extend(pairs.iter().map(|&(_, cb)| cb));
        let perm = (0..self.b.len())
            .map(|bx| kept.iter().position(|&k| k == bx).expect("every axis of B"))
            .collect();
        TensorSpec {
            a: self.out_shape(),
            b: self.a.clone(),
            cont,
            perm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64 in [-1, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
        fn vec(&mut self, n: usize) -> Vec<f64> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    fn close(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
                "{what}[{k}]: {g} vs {w}"
            );
        }
    }

    /// Cases: the special cases, a permuted one, multi-contractions, a full contraction.
    fn cases() -> Vec<TensorSpec> {
        vec![
            TensorSpec::matvec(3, 4),
            TensorSpec::vecmat(3, 5),
            TensorSpec::tensorprod(2, 3),
            TensorSpec::kron(vec![2, 3], vec![4, 2]),
            TensorSpec::kron(vec![2, 1, 3], vec![1, 2, 2]),
            // A (2,3,4) . B (4,3,5) over (1,1), (2,0): out (2,5).
            TensorSpec::new(vec![2, 3, 4], vec![4, 3, 5], vec![(1, 1), (2, 0)]),
            // The same, contracted in the other order and transposed: out (5,2).
            TensorSpec {
                a: vec![2, 3, 4],
                b: vec![4, 3, 5],
                cont: vec![(2, 0), (1, 1)],
                perm: vec![1, 0],
            },
            // A (3,2,4) . B (2,5,3): contract (0,2); kept a1 a2 b0 b1 -> perm [3, 0, 2, 1].
            TensorSpec {
                a: vec![3, 2, 4],
                b: vec![2, 5, 3],
                cont: vec![(0, 2)],
                perm: vec![3, 0, 2, 1],
            },
            // Full contraction: a scalar.
            TensorSpec::new(vec![2, 3], vec![3, 2], vec![(0, 1), (1, 0)]),
        ]
    }

    #[test]
    fn special_cases_match_explicit_sums() {
        let mut rng = Rng(1);
        let (m, n) = (3, 4);
        let (a, x) = (rng.vec(m * n), rng.vec(n));
        let got = TensorSpec::matvec(m, n).eval(&a, &x);
        let want: Vec<f64> = (0..m)
            .map(|i| (0..n).map(|k| a[i * n + k] * x[k]).sum())
            .collect();
        close(&got, &want, "matvec");
        let y = rng.vec(m);
        let got = TensorSpec::vecmat(m, n).eval(&y, &a);
        let want: Vec<f64> = (0..n)
            .map(|l| (0..m).map(|k| y[k] * a[k * n + l]).sum())
            .collect();
        close(&got, &want, "vecmat");
        let got = TensorSpec::tensorprod(m, n).eval(&y, &x);
        let want: Vec<f64> = (0..m * n).map(|q| y[q / n] * x[q % n]).collect();
        close(&got, &want, "tensorprod");
        // numpy.kron of (2,3) and (4,2): out (8,6), out[i*4+k, j*2+l] = a[i,j] b[k,l].
        let (a, b) = (rng.vec(6), rng.vec(8));
        let got = TensorSpec::kron(vec![2, 3], vec![4, 2]).eval(&a, &b);
        let mut want = vec![0.0; 48];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    for l in 0..2 {
                        want[(i * 4 + k) * 6 + j * 2 + l] = a[i * 3 + j] * b[k * 2 + l];
                    }
                }
            }
        }
        close(&got, &want, "kron");
        // The permuted case: kept axes (a1, a2, b0, b1), output (b1, a1, b0, a2):
        // out[l, i, j, k] = sum_c a[c, i, k] b[j, l, c].
        let spec = &cases()[7];
        let (a, b) = (rng.vec(24), rng.vec(30));
        assert_eq!(spec.out_shape(), vec![5, 2, 2, 4]);
        let got = spec.eval(&a, &b);
        let mut want = vec![0.0; 80];
        for l in 0..5 {
            for i in 0..2 {
                for j in 0..2 {
                    for k in 0..4 {
                        let o = ((l * 2 + i) * 2 + j) * 4 + k;
                        for c in 0..3 {
                            want[o] += a[(c * 2 + i) * 4 + k] * b[(j * 5 + l) * 3 + c];
                        }
                    }
                }
            }
        }
        close(&got, &want, "permuted tensordot");
        // Two contractions: out[i, l] = sum_{j,k} a[i, j, k] b[k, j, l]; transposed: out[l, i].
        let (a, b) = (rng.vec(24), rng.vec(60));
        let mut want = vec![0.0; 10];
        for i in 0..2 {
            for l in 0..5 {
                for j in 0..3 {
                    for k in 0..4 {
                        want[i * 5 + l] += a[(i * 3 + j) * 4 + k] * b[(k * 3 + j) * 5 + l];
                    }
                }
            }
        }
        close(&cases()[5].eval(&a, &b), &want, "two contractions");
        let want_t: Vec<f64> = (0..10).map(|q| want[(q % 2) * 5 + q / 2]).collect();
        close(
            &cases()[6].eval(&a, &b),
            &want_t,
            "two contractions, transposed",
        );
    }

    #[test]
    fn loops_compute_the_same_as_eval() {
        let mut rng = Rng(2);
        for spec in cases() {
            spec.validate().unwrap();
            let (a, b) = (rng.vec(spec.a_dim()), rng.vec(spec.b_dim()));
            let (outs, conts) = spec.loops();
            let all: Vec<Loop> = outs.iter().chain(&conts).copied().collect();
            let mut got = vec![0.0; spec.out_dim()];
            let total: usize = all.iter().map(|l| l.size).product();
            for mut i in 0..total {
                let (mut ia, mut ib, mut io) = (0, 0, 0);
                for l in all.iter().rev() {
                    let k = i % l.size;
                    i /= l.size;
                    ia += k * l.a;
                    ib += k * l.b;
                    io += k * l.out;
                }
                got[io] += a[ia] * b[ib];
            }
            close(&got, &spec.eval(&a, &b), &format!("{spec:?}"));
        }
    }

    #[test]
    fn gradients_are_vector_jacobian_products() {
        let mut rng = Rng(3);
        for spec in cases() {
            let (a, b) = (rng.vec(spec.a_dim()), rng.vec(spec.b_dim()));
            let g = rng.vec(spec.out_dim());
            let (ga, gb) = (spec.grad_a(), spec.grad_b());
            ga.validate().unwrap();
            gb.validate().unwrap();
            assert_eq!(ga.out_dim(), spec.a_dim());
            assert_eq!(gb.out_dim(), spec.b_dim());
            let da = ga.eval(&g, &b);
            let db = gb.eval(&g, &a);
            let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
            // The product is linear in A: d/dA_k <G, out> = <G, out(e_k, B)>, and a central
            // finite difference along a random direction agrees (exactly, up to rounding).
            let want_a: Vec<f64> = (0..a.len())
                .map(|k| {
                    let mut e = vec![0.0; a.len()];
                    e[k] = 1.0;
                    dot(&g, &spec.eval(&e, &b))
                })
                .collect();
            close(&da, &want_a, &format!("dA of {spec:?}"));
            let want_b: Vec<f64> = (0..b.len())
                .map(|k| {
                    let mut e = vec![0.0; b.len()];
                    e[k] = 1.0;
                    dot(&g, &spec.eval(&a, &e))
                })
                .collect();
            close(&db, &want_b, &format!("dB of {spec:?}"));
            let (h, va, vb) = (1e-3, rng.vec(a.len()), rng.vec(b.len()));
            let shift = |x: &[f64], v: &[f64], s: f64| -> Vec<f64> {
                x.iter().zip(v).map(|(p, q)| p + s * q).collect()
            };
            let fd_a = (dot(&g, &spec.eval(&shift(&a, &va, h), &b))
                - dot(&g, &spec.eval(&shift(&a, &va, -h), &b)))
                / (2.0 * h);
            assert!((fd_a - dot(&da, &va)).abs() < 1e-9, "fd dA of {spec:?}");
            let fd_b = (dot(&g, &spec.eval(&a, &shift(&b, &vb, h)))
                - dot(&g, &spec.eval(&a, &shift(&b, &vb, -h))))
                / (2.0 * h);
            assert!((fd_b - dot(&db, &vb)).abs() < 1e-9, "fd dB of {spec:?}");
        }
    }

    #[test]
    fn validate_rejects_malformed_specs() {
        let bad = [
            TensorSpec::new(vec![2, 0], vec![2], vec![]),
            TensorSpec::new(vec![2, 3], vec![3], vec![(2, 0)]),
            TensorSpec::new(vec![2, 3], vec![3], vec![(1, 1)]),
            TensorSpec::new(vec![2, 3], vec![2], vec![(1, 0)]),
            TensorSpec::new(vec![3, 3], vec![3, 3], vec![(0, 0), (0, 1)]),
            TensorSpec {
                a: vec![2],
                b: vec![3],
                cont: vec![],
                perm: vec![0, 0],
            },
            TensorSpec {
                a: vec![2],
                b: vec![3],
                cont: vec![],
                perm: vec![0],
            },
        ];
        for spec in bad {
            assert!(spec.validate().is_err(), "{spec:?} should be rejected");
        }
        assert_eq!(
            TensorSpec::kron(vec![2, 3], vec![4, 5]).perm,
            vec![0, 2, 1, 3]
        );
        assert_eq!(
            TensorSpec::kron(vec![2, 3], vec![4, 5]).out_shape(),
            vec![2, 4, 3, 5]
        );
    }
}
