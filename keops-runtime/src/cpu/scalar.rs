//! The scalar engine: one output row and one reduction index at a time, for every reduction
//! (sums, products `K v`, min / max and their args, the k smallest, the log-sum-exp family), and
//! for formulas or dimensions without a lane version.
//!
//! Each reduction is an accumulator ([`super::accumulate`]): sums keep f64 slots; min / max and
//! their args `(value, index)` pairs; the k smallest a sorted buffer of `K` pairs per entry; the
//! log-sum-exp family the running maximum `m` and f64 sums `s = sum exp(F - m) W`.

use std::ops::Range;

use super::accumulate::{run, Acc, Out};
use super::plan::Span;
use crate::Real;

/// Independent partial sums per tile, so consecutive evaluations do not wait on one accumulator.
const LANES: usize = 4;

/// A formula's value, scalar or vector.
pub trait Value<T: Real>: Copy + Send + Sync {
    /// Zero in every entry.
    fn zero() -> Self;
    /// Entrywise sum.
    fn add(self, other: Self) -> Self;
    /// Adds the first `acc.len()` entries to `acc`, in f64.
    fn add_to(self, acc: &mut [f64]);
    /// The entries (one for a scalar; a vector's first `dim` are meaningful).
    fn entries(&self) -> &[T];
}

impl<T: Real> Value<T> for T {
    #[inline(always)]
    fn zero() -> Self {
        T::ZERO
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64]) {
        acc[0] += self.to_f64();
    }
    #[inline(always)]
    fn entries(&self) -> &[T] {
        std::slice::from_ref(self)
    }
}

impl<T: Real, const C: usize> Value<T> for [T; C] {
    #[inline(always)]
    fn zero() -> Self {
        [T::ZERO; C]
    }
    #[inline(always)]
    fn add(mut self, other: Self) -> Self {
        for (a, b) in self.iter_mut().zip(other.iter()) {
            *a += *b;
        }
        self
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64]) {
        for (a, v) in acc.iter_mut().zip(self.iter()) {
            *a += v.to_f64();
        }
    }
    #[inline(always)]
    fn entries(&self) -> &[T] {
        self
    }
}

/// A formula with its data bound, seen from one output row: the generated code implements it.
///
/// `prepare(o)` computes everything that depends only on the output row `o` (its variables and
/// the parameters), once per row; `eval(p, r)` computes the formula for the pair `(o, r)`: a
/// [`Value`], or for the log-sum-exp family a pair `(F, W)` of a scalar and a value.
pub trait RowKernel<T: Real>: Sync {
    /// What depends only on the output row.
    type Prepared: Send + Sync;
    /// The formula's value for a pair (a [`Value`], or `(F, W)` for the log-sum-exp family).
    type Value: Copy + Send + Sync;
    /// The row-only part of the formula for output row `o`.
    fn prepare(&self, o: usize) -> Self::Prepared;
    /// The formula for the prepared row and reduction index `r`.
    fn eval(&self, p: &Self::Prepared, r: usize) -> Self::Value;
}

/// `out[o] = sum_r F(o, r)` for `o < n_out`, `r < n_red`; `out` is `(n_out, dim)` row-major.
pub fn sum_reduce<T: Real, K: RowKernel<T>>(k: &K, span: Span<'_>, dim: usize, out: &mut [T])
where
    K::Value: Value<T>,
{
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [f64]| {
        // LANES independent partial sums: no loop-carried dependency on a single accumulator.
        let mut a = [K::Value::zero(); LANES];
        let mut r = rs.start;
        while r + LANES <= rs.end {
            for (l, a) in a.iter_mut().enumerate() {
                *a = a.add(k.eval(p, r + l));
            }
            r += LANES;
        }
        for (a, r) in a.iter_mut().zip(r..rs.end) {
            *a = a.add(k.eval(p, r));
        }
        a[0].add(a[1]).add(a[2].add(a[3])).add_to(acc);
    };
    let acc = Acc::sums(dim);
    run(k, span, &acc, 0, tile, Out::values(out, dim));
}

/// `out = K v`: `out[o] = sum_r K(o, r) v[r]` for a scalar formula `K`; `v` is `(n_red, nv)` and
/// `out` is `(n_out, nv)`, row-major. Each kernel value is computed once for all `nv` columns.
pub fn matvec<T: Real, K: RowKernel<T, Value = T>>(
    k: &K,
    span: Span<'_>,
    v: &[T],
    nv: usize,
    out: &mut [T],
) {
    let acc = Acc::sums(nv);
    if nv == 1 {
        let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [f64]| {
            let mut a = [T::ZERO; LANES];
            let v = &v[rs.clone()];
            let mut r = rs.start;
            for vs in v.chunks_exact(LANES) {
                for ((a, vr), l) in a.iter_mut().zip(vs).zip(0..) {
                    *a += k.eval(p, r + l) * *vr;
                }
                r += LANES;
            }
            for ((a, vr), r) in a.iter_mut().zip(v.chunks_exact(LANES).remainder()).zip(r..) {
                *a += k.eval(p, r) * *vr;
            }
            acc[0] += ((a[0] + a[1]) + (a[2] + a[3])).to_f64();
        };
        run(k, span, &acc, 0, tile, Out::values(out, 1));
    } else {
        let tile = |p: &K::Prepared, rs: Range<usize>, scratch: &mut [T], acc: &mut [f64]| {
            scratch.fill(T::ZERO);
            for r in rs {
                let kr = k.eval(p, r);
                for (s, vr) in scratch.iter_mut().zip(&v[r * nv..(r + 1) * nv]) {
                    *s += kr * *vr;
                }
            }
            for (a, s) in acc.iter_mut().zip(scratch.iter()) {
                *a += s.to_f64();
            }
        };
        run(k, span, &acc, nv, tile, Out::values(out, nv));
    }
}

/// Entrywise minimum (`MAX = false`) or maximum of `F` over the reduction index, and the index
/// where it is reached: the first one among ties (KeOps' strict comparison, in index order). `vals`
/// is `(n_out, dim)` or empty (arg only), `idx` likewise (values only). NaN values never win; an
/// entry that is NaN for every index keeps the initial `(+inf, 0)` (`(-inf, 0)` for a maximum), as
/// in KeOps.
pub fn extremum_reduce<const MAX: bool, T: Real, K: RowKernel<T>>(
    k: &K,
    span: Span<'_>,
    dim: usize,
    vals: &mut [T],
    idx: &mut [usize],
) where
    K::Value: Value<T>,
{
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [(T, usize)]| {
        for r in rs {
            let v = k.eval(p, r);
            for (a, &x) in acc.iter_mut().zip(v.entries()) {
                if better::<MAX, T>(x, a.0) {
                    *a = (x, r);
                }
            }
        }
    };
    let acc = extremum_acc::<MAX, T>(dim);
    let out = Out {
        vdim: if vals.is_empty() { 0 } else { dim },
        idim: if idx.is_empty() { 0 } else { dim },
        vals,
        idx,
    };
    run(k, span, &acc, 0, tile, out);
}

#[inline(always)]
fn better<const MAX: bool, T: Real>(x: T, than: T) -> bool {
    if MAX {
        x > than
    } else {
        x < than
    }
}

/// The extremum's accumulator: `(value, index)` per entry, starting at `(+inf, 0)` (`(-inf, 0)`
/// for a maximum); a later part of the reduction range wins only when strictly better. Built
/// outside [`extremum_reduce`] so that it is compiled per precision, not per formula.
fn extremum_acc<const MAX: bool, T: Real>(dim: usize) -> Acc<'static, T, (T, usize)> {
    let start = T::from_f64(if MAX {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    });
    let init = vec![(start, 0usize); dim];
    Acc {
        init,
        merge: Box::new(|into: &mut [(T, usize)], from: &[(T, usize)]| {
            for (a, b) in into.iter_mut().zip(from) {
                if better::<MAX, T>(b.0, a.0) {
                    *a = *b;
                }
            }
        }),
        finish: Box::new(|st: &[(T, usize)], v: &mut [T], i: &mut [usize]| {
            for (v, s) in v.iter_mut().zip(st) {
                *v = s.0;
            }
            for (i, s) in i.iter_mut().zip(st) {
                *i = s.1;
            }
        }),
    }
}

/// The `kk` smallest values of each entry of `F` over the reduction index, ascending, and their
/// indices (KeOps' KMin / ArgKMin / KMin_ArgKMin): `vals` and `idx` are `(n_out, kk * dim)` (or
/// empty when not wanted) with KeOps' layout, rank-major: entry `d` of the `q`-th smallest is at
/// `q * dim + d` of its row. Ties keep index order (strict comparison, as KeOps' insertion). Each
/// row keeps, per entry, a sorted buffer of `kk` (value, index) pairs that a value enters by
/// insertion when it is below the largest kept. `kk <= n_red` (checked when binding).
pub fn kmin_reduce<T: Real, K: RowKernel<T>>(
    k: &K,
    span: Span<'_>,
    dim: usize,
    kk: usize,
    vals: &mut [T],
    idx: &mut [usize],
) where
    K::Value: Value<T>,
{
    assert!(kk >= 1, "K >= 1");
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [(T, usize)]| {
        for r in rs {
            let v = k.eval(p, r);
            for (buf, &x) in acc.chunks_exact_mut(kk).zip(v.entries()) {
                if x < buf[kk - 1].0 {
                    insert_sorted(buf, (x, r));
                }
            }
        }
    };
    let acc = kmin_acc::<T>(dim, kk);
    let out = Out {
        vdim: if vals.is_empty() { 0 } else { dim * kk },
        idim: if idx.is_empty() { 0 } else { dim * kk },
        vals,
        idx,
    };
    run(k, span, &acc, 0, tile, out);
}

/// The k smallest's accumulator: per entry `kk` sorted `(value, index)` pairs starting at
/// `(+inf, 0)`; a later part's pairs enter in order (ties keep index order); the result is written
/// rank-major. Built outside [`kmin_reduce`] so that it is compiled per precision, not per formula.
fn kmin_acc<T: Real>(dim: usize, kk: usize) -> Acc<'static, T, (T, usize)> {
    let init = vec![(T::from_f64(f64::INFINITY), 0usize); dim * kk];
    Acc {
        init,
        merge: Box::new(move |into: &mut [(T, usize)], from: &[(T, usize)]| {
            for (a, b) in into.chunks_exact_mut(kk).zip(from.chunks_exact(kk)) {
                // `b` is sorted: once one of its values does not enter, none after it does.
                for &e in b {
                    if e.0 < a[kk - 1].0 {
                        insert_sorted(a, e);
                    } else {
                        break;
                    }
                }
            }
        }),
        finish: Box::new(move |st: &[(T, usize)], v: &mut [T], i: &mut [usize]| {
            for (d, buf) in st.chunks_exact(kk).enumerate() {
                for (q, e) in buf.iter().enumerate() {
                    if let Some(v) = v.get_mut(q * dim + d) {
                        *v = e.0;
                    }
                    if let Some(i) = i.get_mut(q * dim + d) {
                        *i = e.1;
                    }
                }
            }
        }),
    }
}

/// Inserts `e` into the ascending `buf`, dropping its last pair; `e.0 < buf[last].0`. Equal values
/// stay in index order: `e` goes after those already kept.
#[inline(always)]
fn insert_sorted<T: Real>(buf: &mut [(T, usize)], e: (T, usize)) {
    let mut q = buf.len() - 1;
    while q > 0 && e.0 < buf[q - 1].0 {
        buf[q] = buf[q - 1];
        q -= 1;
    }
    buf[q] = e;
}

/// The log-sum-exp family (KeOps' Max_SumShiftExpWeight): for a scalar `F` and a weight `W`
/// (`eval` returns the pair), the running maximum `m = max_r F` and `s = sum_r exp(F - m) W` in
/// f64, rescaled when `m` grows: stable for arguments far beyond exp's range. `out` is
/// `(n_out, dim)`, `dim` the dimension of `W`:
/// - `SOFTMAX = false`: `m + log(s)` = log sum_r exp(F) W (logsumexp; `W = 1` without a weight);
/// - `SOFTMAX = true`: `s / s0` with `s0 = sum_r exp(F - m)` (sumsoftmaxweight).
///
/// `exp` is computed in `T`, the sums in f64.
pub fn shifted_exp_reduce<const SOFTMAX: bool, T: Real, W: Value<T>, K>(
    k: &K,
    span: Span<'_>,
    dim: usize,
    out: &mut [T],
) where
    K: RowKernel<T, Value = (T, W)>,
{
    // Slots: m, then (softmax) s0, then s[0..dim].
    let off = 1 + usize::from(SOFTMAX);
    let neg_inf = T::from_f64(f64::NEG_INFINITY);
    let tile = |p: &K::Prepared, rs: Range<usize>, _scratch: &mut [T], acc: &mut [f64]| {
        let (head, s) = acc.split_at_mut(off);
        let mut m = T::from_f64(head[0]);
        let mut s0 = if SOFTMAX { head[1] } else { 0.0 };
        for r in rs {
            let (f, w) = k.eval(p, r);
            let e = if f > m {
                // A new maximum: earlier terms are rescaled by exp(m_old - m_new) <= 1.
                let c = (m - f).exp().to_f64();
                for s in s.iter_mut() {
                    *s *= c;
                }
                s0 *= c;
                m = f;
                1.0
            } else if f == m {
                if m == neg_inf {
                    // exp(-inf) = 0: every term so far and this one vanish.
                    continue;
                }
                1.0
            } else {
                // Also a NaN `f`, which makes the result NaN.
                (f - m).exp().to_f64()
            };
            s0 += e;
            for (s, &w) in s.iter_mut().zip(w.entries()) {
                *s += e * w.to_f64();
            }
        }
        head[0] = m.to_f64();
        if SOFTMAX {
            head[1] = s0;
        }
    };
    let acc = shifted_exp_acc::<SOFTMAX, T>(dim);
    run(k, span, &acc, 0, tile, Out::values(out, dim));
}

/// The log-sum-exp family's accumulator: slots `m`, then (softmax) `s0`, then `s[0..dim]`; the
/// states of two parts of the reduction range merge by rescaling to the larger maximum.
fn shifted_exp_acc<const SOFTMAX: bool, T: Real>(dim: usize) -> Acc<'static, T, f64> {
    let off = 1 + usize::from(SOFTMAX);
    let mut init = vec![0.0; off + dim];
    init[0] = f64::NEG_INFINITY;
    Acc {
        init,
        merge: Box::new(|into: &mut [f64], from: &[f64]| {
            let (m1, m2) = (into[0], from[0]);
            if m2 == f64::NEG_INFINITY {
                return;
            }
            if m1 == f64::NEG_INFINITY {
                into.copy_from_slice(from);
                return;
            }
            let m = m1.max(m2);
            let (c1, c2) = ((m1 - m).exp(), (m2 - m).exp());
            into[0] = m;
            for (a, b) in into[1..].iter_mut().zip(&from[1..]) {
                *a = *a * c1 + *b * c2;
            }
        }),
        finish: Box::new(move |st: &[f64], v: &mut [T], _i: &mut [usize]| {
            for (v, s) in v.iter_mut().zip(&st[off..]) {
                *v = T::from_f64(if SOFTMAX { s / st[1] } else { st[0] + s.ln() });
            }
        }),
    }
}
