//! A ceiling for benchmarks: the 1D Gaussian's arithmetic alone, hand-vectorised.
//!
//! `acc += exp(-(x - y_j)^2 c) v_j` over 1024 `(y_j, v_j)` held in L1, for 64 values of `x` in
//! turn: a subtraction, a square, a scaling, the same `exp` as the engine's lanes (clamps, range
//! reduction, polynomial, scaling by two powers of two, flush to +0 below the normal range, with
//! the constants of `keops::simd::math`) and a fused multiply-add, written with pulp's explicit
//! SIMD operations (lanes along `j`, `x` broadcast, two independent accumulators), at the
//! `SimdLevel` in use. No loads beyond L1, no bookkeeping: what the engine's throughput on the
//! same kernel is compared with.
//!
//! Not part of the library: examples/bench.rs and benches/engine.rs include this file (`#[path]`),
//! tests/simd.rs checks its sum.

#![allow(dead_code)] // each includer uses part of it

use std::hint::black_box;
use std::time::Instant;

use keops::simd::math as m;
use keops::{simd_level, Real, SimdLevel};
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

const YS: usize = 1024;
const XS: usize = 64;

/// The ceiling loop's data: 64 values of `x`, 1024 pairs `(y_j, v_j)`, `c = 1 / (2 * 0.1^2)`.
pub struct Ceiling<T> {
    /// The 64 values of `x`.
    pub x: Vec<T>,
    /// The 1024 values of `y_j`.
    pub y: Vec<T>,
    /// The 1024 weights `v_j`.
    pub v: Vec<T>,
    /// `1 / (2 s^2)`, `s = 0.1`.
    pub c: T,
}

impl<T: CeilingReal> Default for Ceiling<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: CeilingReal> Ceiling<T> {
    /// Kernel evaluations per [`pass`](Self::pass).
    pub const EVALS: usize = XS * YS;

    /// The data (deterministic).
    pub fn new() -> Self {
        Ceiling {
            x: (0..XS).map(|i| T::from_f64(i as f64 / XS as f64)).collect(),
            y: (0..YS)
                .map(|j| T::from_f64((j as f64 * 0.618_034).fract()))
                .collect(),
            v: (0..YS)
                .map(|j| T::from_f64((j as f64 * 0.414_214).fract() - 0.5))
                .collect(),
            c: T::from_f64(1.0 / (2.0 * 0.1 * 0.1)),
        }
    }

    /// One pass, on this thread: `sum_x sum_j exp(-(x - y_j)^2 c) v_j`.
    pub fn pass(&self) -> f64 {
        T::pass(
            black_box(&self.x),
            black_box(&self.y),
            black_box(&self.v),
            self.c,
        )
    }
}

/// Kernel evaluations per second of the ceiling loop on every thread of the current rayon pool
/// (each runs it independently), timed for about `seconds`; the loop's sum is returned too, so
/// that it is not optimised away.
pub fn gaussian_1d_ceiling<T: CeilingReal>(seconds: f64) -> (f64, f64) {
    let threads = rayon::current_num_threads().max(1);
    let data = Ceiling::<T>::new();
    // Calibrate on one pass, then time enough passes on every thread.
    let t0 = Instant::now();
    let mut sum = data.pass();
    let once = t0.elapsed().as_secs_f64().max(1e-7);
    let passes = ((seconds / once) as usize).max(3);
    let t0 = Instant::now();
    sum += (0..threads)
        .into_par_iter()
        .map(|_| (0..passes).map(|_| data.pass()).sum::<f64>())
        .sum::<f64>();
    let secs = t0.elapsed().as_secs_f64();
    ((threads * passes * Ceiling::<T>::EVALS) as f64 / secs, sum)
}

/// The reals the ceiling runs in.
pub trait CeilingReal: Real {
    /// One pass: `sum_x sum_j exp(-(x - y_j)^2 c) v_j`.
    fn pass(x: &[Self], y: &[Self], v: &[Self], c: Self) -> f64;
}

struct Pass<'a, T> {
    x: &'a [T],
    y: &'a [T],
    v: &'a [T],
    c: T,
}

fn dispatch<Op: WithSimd>(op: Op) -> Op::Output {
    match simd_level() {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => match pulp::x86::V4::try_new() {
            Some(s) => Simd::vectorize(s, op),
            None => Simd::vectorize(pulp::Scalar::new(), op),
        },
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => match pulp::x86::V3::try_new() {
            Some(s) => Simd::vectorize(s, op),
            None => Simd::vectorize(pulp::Scalar::new(), op),
        },
        #[cfg(target_arch = "aarch64")]
        SimdLevel::Neon => match pulp::aarch64::Neon::try_new() {
            Some(s) => Simd::vectorize(s, op),
            None => Simd::vectorize(pulp::Scalar::new(), op),
        },
        _ => Simd::vectorize(pulp::Scalar::new(), op),
    }
}

impl CeilingReal for f32 {
    fn pass(x: &[f32], y: &[f32], v: &[f32], c: f32) -> f64 {
        dispatch(Pass { x, y, v, c })
    }
}

impl CeilingReal for f64 {
    fn pass(x: &[f64], y: &[f64], v: &[f64], c: f64) -> f64 {
        dispatch(Pass { x, y, v, c })
    }
}

impl WithSimd for Pass<'_, f32> {
    type Output = f64;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f64 {
        let (ys, _) = S::as_simd_f32s(self.y);
        let (vs, _) = S::as_simd_f32s(self.v);
        let nc = s.splat_f32s(-self.c);
        let e = Exp32::new(s);
        let mut total = 0.0f64;
        for &x in self.x {
            let xv = s.splat_f32s(x);
            let (mut a0, mut a1) = (s.splat_f32s(0.0), s.splat_f32s(0.0));
            for (y2, v2) in ys.chunks_exact(2).zip(vs.chunks_exact(2)) {
                let d0 = s.sub_f32s(xv, y2[0]);
                let d1 = s.sub_f32s(xv, y2[1]);
                let e0 = e.exp(s, s.mul_f32s(s.mul_f32s(d0, d0), nc));
                let e1 = e.exp(s, s.mul_f32s(s.mul_f32s(d1, d1), nc));
                a0 = s.mul_add_f32s(e0, v2[0], a0);
                a1 = s.mul_add_f32s(e1, v2[1], a1);
            }
            total += s.reduce_sum_f32s(s.add_f32s(a0, a1)) as f64;
        }
        total
    }
}

/// `exp` on f32 vectors, as `keops::simd::math::exp_f32` (its constants, splat once).
struct Exp32<S: Simd> {
    lo: S::f32s,
    hi: S::f32s,
    log2e: S::f32s,
    magic: S::f32s,
    magic_bits: S::u32s,
    ln2_hi: S::f32s,
    ln2_lo: S::f32s,
    q: [S::f32s; 5],
    one: S::f32s,
}

impl<S: Simd> Exp32<S> {
    #[inline(always)]
    fn new(s: S) -> Self {
        Exp32 {
            lo: s.splat_f32s(m::EXP_F32_LO),
            hi: s.splat_f32s(m::EXP_F32_HI),
            log2e: s.splat_f32s(std::f32::consts::LOG2_E),
            magic: s.splat_f32s(m::MAGIC_F32),
            magic_bits: s.splat_u32s(m::MAGIC_F32.to_bits()),
            ln2_hi: s.splat_f32s(-m::LN2_HI_F32),
            ln2_lo: s.splat_f32s(-m::LN2_LO_F32),
            q: std::array::from_fn(|k| s.splat_f32s(m::EXP_Q_F32[k])),
            one: s.splat_f32s(1.0),
        }
    }

    #[inline(always)]
    fn exp(&self, s: S, a: S::f32s) -> S::f32s {
        // Below the normal range: computed at the threshold, +0 selected at the end.
        let tiny = s.less_than_f32s(a, self.lo);
        let a = s.max_f32s(a, self.lo);
        let a = s.min_f32s(a, self.hi);
        let t = s.mul_add_f32s(a, self.log2e, self.magic);
        let n = s.sub_f32s(t, self.magic);
        let k = s.sub_u32s(s.transmute_u32s_f32s(t), self.magic_bits);
        let r = s.mul_add_f32s(n, self.ln2_hi, a);
        let r = s.mul_add_f32s(n, self.ln2_lo, r);
        let q = &self.q;
        let p = s.mul_add_f32s(q[4], r, q[3]);
        let p = s.mul_add_f32s(p, r, q[2]);
        let p = s.mul_add_f32s(p, r, q[1]);
        let p = s.mul_add_f32s(p, r, q[0]);
        let p = s.add_f32s(s.mul_add_f32s(s.mul_f32s(r, r), p, r), self.one);
        // 2^k as 2^k1 2^k2, k1 = floor(k / 2) (a logical shift of k + 256, minus 128).
        let k1 = s.sub_u32s(
            s.wrapping_dyn_shr_u32s(s.add_u32s(k, s.splat_u32s(256)), s.splat_u32s(1)),
            s.splat_u32s(128),
        );
        let k2 = s.sub_u32s(k, k1);
        let bias = s.splat_u32s(127);
        let e1 = s.wrapping_dyn_shl_u32s(s.add_u32s(k1, bias), s.splat_u32s(23));
        let e2 = s.wrapping_dyn_shl_u32s(s.add_u32s(k2, bias), s.splat_u32s(23));
        let y = s.mul_f32s(
            s.mul_f32s(p, s.transmute_f32s_u32s(e1)),
            s.transmute_f32s_u32s(e2),
        );
        s.select_f32s(tiny, s.splat_f32s(0.0), y)
    }
}

impl WithSimd for Pass<'_, f64> {
    type Output = f64;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f64 {
        let (ys, _) = S::as_simd_f64s(self.y);
        let (vs, _) = S::as_simd_f64s(self.v);
        let nc = s.splat_f64s(-self.c);
        let e = Exp64::new(s);
        let mut total = 0.0f64;
        for &x in self.x {
            let xv = s.splat_f64s(x);
            let (mut a0, mut a1) = (s.splat_f64s(0.0), s.splat_f64s(0.0));
            for (y2, v2) in ys.chunks_exact(2).zip(vs.chunks_exact(2)) {
                let d0 = s.sub_f64s(xv, y2[0]);
                let d1 = s.sub_f64s(xv, y2[1]);
                let e0 = e.exp(s, s.mul_f64s(s.mul_f64s(d0, d0), nc));
                let e1 = e.exp(s, s.mul_f64s(s.mul_f64s(d1, d1), nc));
                a0 = s.mul_add_f64s(e0, v2[0], a0);
                a1 = s.mul_add_f64s(e1, v2[1], a1);
            }
            total += s.reduce_sum_f64s(s.add_f64s(a0, a1));
        }
        total
    }
}

/// `exp` on f64 vectors, as `keops::simd::math::exp_f64`.
struct Exp64<S: Simd> {
    lo: S::f64s,
    hi: S::f64s,
    log2e: S::f64s,
    magic: S::f64s,
    magic_bits: S::u64s,
    ln2_hi: S::f64s,
    ln2_lo: S::f64s,
    q: [S::f64s; 10],
    one: S::f64s,
}

impl<S: Simd> Exp64<S> {
    #[inline(always)]
    fn new(s: S) -> Self {
        Exp64 {
            lo: s.splat_f64s(m::EXP_F64_LO),
            hi: s.splat_f64s(m::EXP_F64_HI),
            log2e: s.splat_f64s(std::f64::consts::LOG2_E),
            magic: s.splat_f64s(m::MAGIC_F64),
            magic_bits: s.splat_u64s(m::MAGIC_F64.to_bits()),
            ln2_hi: s.splat_f64s(-m::LN2_HI_F64),
            ln2_lo: s.splat_f64s(-m::LN2_LO_F64),
            q: std::array::from_fn(|k| s.splat_f64s(m::EXP_Q_F64[k])),
            one: s.splat_f64s(1.0),
        }
    }

    #[inline(always)]
    fn exp(&self, s: S, a: S::f64s) -> S::f64s {
        let tiny = s.less_than_f64s(a, self.lo);
        let a = s.max_f64s(a, self.lo);
        let a = s.min_f64s(a, self.hi);
        let t = s.mul_add_f64s(a, self.log2e, self.magic);
        let n = s.sub_f64s(t, self.magic);
        let k = s.sub_u64s(s.transmute_u64s_f64s(t), self.magic_bits);
        let r = s.mul_add_f64s(n, self.ln2_hi, a);
        let r = s.mul_add_f64s(n, self.ln2_lo, r);
        let q = &self.q;
        let mut p = q[9];
        for c in q[..9].iter().rev() {
            p = s.mul_add_f64s(p, r, *c);
        }
        let p = s.add_f64s(s.mul_add_f64s(s.mul_f64s(r, r), p, r), self.one);
        // 2^k as 2^k1 2^k2 (no 64-bit shifts in every instruction set): k1 = floor(n / 2) by
        // the magic rounding of n / 2 - 1/4, the exponent fields by multiplying by 2^52.
        let h = s.mul_add_f64s(n, s.splat_f64s(0.5), s.splat_f64s(-0.25));
        let k1 = s.sub_u64s(
            s.transmute_u64s_f64s(s.add_f64s(h, self.magic)),
            self.magic_bits,
        );
        let k2 = s.sub_u64s(k, k1);
        let (bias, shift) = (s.splat_u64s(1023), s.splat_u64s(1 << 52));
        let e1 = s.mul_u64s(s.add_u64s(k1, bias), shift);
        let e2 = s.mul_u64s(s.add_u64s(k2, bias), shift);
        let y = s.mul_f64s(
            s.mul_f64s(p, s.transmute_f64s_u64s(e1)),
            s.transmute_f64s_u64s(e2),
        );
        s.select_f64s(tiny, s.splat_f64s(0.0), y)
    }
}
