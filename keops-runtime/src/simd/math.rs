//! Branch-free scalar elementary functions written for auto-vectorisation.
//!
//! The SIMD engine applies these lane by lane over `[f32; W]` / `[f64; W]` inside functions
//! compiled with AVX2+FMA or AVX-512 (or NEON); each function is straight-line code (no
//! float-to-int casts, no branches, no tables, no libm calls; compare-selects and integer bit
//! operations only), so LLVM's SLP vectoriser turns the per-lane loop into packed instructions.
//! They use `mul_add` for their FMAs: outside an FMA-enabled context that becomes a libm call,
//! correct but several times slower than std's functions, so use std there.
//!
//! # Method
//!
//! * `exp`: clamp (by compare-select, so NaN passes through), n = round(x / ln 2) with the
//!   1.5·2^23 (1.5·2^52) magic-number addition, r = x - n ln 2 by Cody-Waite with two FMAs
//!   (|r| <= ln 2 / 2), exp r = 1 + r + r² Q(r) (Q of degree 4 / 9), times 2^n built as two
//!   factors 2^⌊n/2⌋ · 2^(n-⌊n/2⌋) in the exponent field, so n = 128 (1024) overflows to +inf.
//!   Results below the normal range are flushed to +0 (see "Subnormals" below).
//! * `ln`: subnormals are pre-scaled by 2^23 (2^54) through a select; x = m·2^e with m in
//!   [√½, √2) from the bits; with f = m - 1 (exact) and s = f / (2 + f),
//!   ln m = 2 atanh s = f - s (f - T(s²)) (T of degree 3 / 7 in s²), plus e·ln 2 in two FMAs.
//!   Zero, negative, infinite and NaN inputs are patched by selects at the end.
//! * `sin` / `cos`: |x| = q π/2 + r with q from the magic-number rounding and r by Cody-Waite
//!   with a three-part π/2 (three FMAs, the first exact); sin r = r + r³ S(r²) and
//!   cos r = 1 - r²/2 + r⁴ C(r²) on |r| <= π/4 (+0.011 f32, +0.004 f64, the slack for the
//!   rounding of 2/π); both are computed, the quadrant q mod 4 selects one and flips the sign
//!   with integer xor (and sin gets the sign of x back, so sin is exactly odd, cos exactly even).
//!
//! All polynomial coefficients were fitted for this file by a weighted Remez exchange (60-digit
//! arithmetic) minimising the relative error of the function on the reduced interval, then
//! rounded to the working precision.
//!
//! # Accuracy
//!
//! f32: measured exhaustively against the f64 functions of std (exact for this purpose), on every
//! f32 of the range. f64: against an exact (40-digit) reference on 10^5 random arguments per
//! function, and against std (itself < 1 ulp) on 10^8. Errors are in ulps of the exact result.
//!
//! | function | range | max error | special values |
//! |---|---|---|---|
//! | `exp_f32` | normal results (x in [-87.33654, 88.72]) | 1.02 ulp | NaN → NaN, +inf → +inf, -inf → +0; x > 88.7228 → +inf; results below the normal range (x < [`EXP_F32_LO`] = -87.33654, e^x < 2^-126) → +0 |
//! | `exp_f64` | normal results (x in [-708.39, 709.78]) | 1.00 ulp (≤ 1 ulp from std) | NaN → NaN, +inf → +inf, -inf → +0; x > 709.7827 → +inf; results below the normal range (x < [`EXP_F64_LO`] = -708.3964185322641, e^x < 2^-1022) → +0 |
//! | `ln_f32` | all positive f32, subnormals included | 0.97 ulp (also near 1) | NaN → NaN, ±0 → -inf, x < 0 (incl. -inf) → NaN, +inf → +inf, ln 1 = 0 |
//! | `ln_f64` | all positive f64, subnormals included | 1.07 ulp (≤ 1 ulp from std; also near 1) | as `ln_f32` |
//! | `sin_f32`, `cos_f32` | \|x\| ≤ [`SIN_COS_F32_MAX`] = 2^18 | 1.54 ulp (incl. results near 0) | NaN, ±inf → NaN; sin ±0 = ±0, cos ±0 = 1; tiny/subnormal x: sin x = x, cos x = 1 |
//! | `sin_f64`, `cos_f64` | \|x\| ≤ [`SIN_COS_F64_MAX`] = 2^40 | 1.48 ulp (≤ 2 ulp from std) | as f32 |
//!
//! The relative accuracy of `sin` / `cos` holds near their zeros too: the worst-case arguments
//! (closest to multiples of π/2, from continued fractions, per binade up to the bounds) are in the
//! tests. Beyond the bounds the results of `sin` / `cos` are unspecified (inaccurate, possibly NaN
//! or outside [-1, 1]): the caller must use std for those lanes. The f32 bound comes from the
//! rounding of 2/π (measured: ≤ 2.08 ulp up to 2^21, 2.32 up to 2^22, garbage past 2^22); the f64 bound from the
//! third part of π/2 (q·2^-163.6 against the smallest |r| of any double, ~2^-61).
//!
//! # Subnormals
//!
//! `exp` never returns a subnormal: below the normal range it returns +0 (an absolute error below
//! 2^-126 / 2^-1022). Arithmetic that reads or writes
//! a subnormal takes a microcode assist on many x86 CPUs (about 100 cycles instead of 1 to 4): a
//! narrow Gaussian, whose values are mostly in or below the subnormal range, ran 10-13x slower
//! than a wide one on the same number of evaluations (BENCHMARKS.md, issue 16). Setting the
//! flush-to-zero / denormals-are-zero modes instead would change the floating-point environment
//! of threads the library does not own (rayon's global pool is the user's too), and LLVM assumes
//! the default environment. So the input is clamped at the threshold, where the computation
//! stays normal, and the lanes below it are replaced by +0 with a select.
//!
//! That suffices for the kernel sums `a + k v` the engine accumulates: `k` is +0 or normal, and
//! the product of a normal `k` with an ordinary `v` is normal unless `k |v| < 2^-126`, i.e. for
//! `k` in the thin band [2^-126, 2^-126 / |v|) (for a Gaussian, the distances with d²/2σ² in
//! [87.3 - ln(1/|v|), 87.3]): a few evaluations per output row, where every value below the normal
//! range, even one rounding to 0, used to take an assist. Even in the band, an FMA into a sum that
//! is already normal runs at full speed (the product is not rounded on its own); only sums still
//! below the normal range pay, such as the few-term column sums of the symmetric product
//! (measured: 1.25-1.3x the time of a wide kernel at sigma 1e-2, N = 10^4, against 13x before;
//! BENCHMARKS.md). Subnormal data (points, weights) stay subnormal: they cost what they cost.

use core::f32::consts as c32;
use core::f64::consts as c64;

// ---------------------------------------------------------------------------------------------
// Shared constants
// ---------------------------------------------------------------------------------------------

// The constants of `exp` are public so that a hand-vectorised copy of it (the benchmark ceiling
// of examples/common/ceiling.rs) computes exactly what the engine's lanes do.

/// 1.5 * 2^23: adding it to an f32 of magnitude < 2^22 rounds to an integer (current rounding
/// mode, i.e. to nearest even); the integer also sits in the low mantissa bits of the sum.
pub const MAGIC_F32: f32 = 12_582_912.0;
/// 1.5 * 2^52, the f64 counterpart of `MAGIC_F32`.
pub const MAGIC_F64: f64 = 6_755_399_441_055_744.0;

/// ln 2 split for Cody-Waite reduction: `LN2_HI_*` is ln 2 rounded, `LN2_LO_*` the rounded rest.
/// With FMAs the product `n * LN2_HI` is exact inside the FMA, so no trailing zeros are needed.
pub const LN2_HI_F32: f32 = c32::LN_2;
/// The rest of ln 2 after [`LN2_HI_F32`], rounded to f32.
pub const LN2_LO_F32: f32 = -1.9046542e-9;
/// ln 2 rounded to f64 (see [`LN2_HI_F32`]).
pub const LN2_HI_F64: f64 = c64::LN_2;
/// The rest of ln 2 after [`LN2_HI_F64`], rounded to f64.
pub const LN2_LO_F64: f64 = 2.3190468138462996e-17;

/// pi/2 split in three parts (each the rounded remainder of the previous ones).
const PIO2_1_F32: f32 = c32::FRAC_PI_2;
const PIO2_2_F32: f32 = -4.371139e-8;
const PIO2_3_F32: f32 = -1.7151245e-15;
const PIO2_1_F64: f64 = c64::FRAC_PI_2;
const PIO2_2_F64: f64 = 6.123233995736766e-17;
const PIO2_3_F64: f64 = -1.4973849048591698e-33;

// ---------------------------------------------------------------------------------------------
// exp
// ---------------------------------------------------------------------------------------------

/// Inputs are clamped to `[EXP_F32_LO, EXP_F32_HI]`: above, 2^128 * e^r overflows to +inf.
pub const EXP_F32_HI: f32 = 88.8;
/// The smallest f32 whose e^x is normal (e^x = 2^-126 (1 + 4.5e-6), so the computed result is
/// normal too): `exp_f32` flushes the results of smaller arguments to +0, without computing a
/// subnormal (module docs, "Subnormals").
pub const EXP_F32_LO: f32 = -87.33654;
/// The upper clamp of `exp_f64`'s input: above, the result overflows to +inf.
pub const EXP_F64_HI: f64 = 709.9;
/// The smallest f64 whose e^x is normal (e^x = 2^-1022 (1 + 2.7e-14), 124 ulps of margin):
/// `exp_f64` flushes the results of smaller arguments to +0.
pub const EXP_F64_LO: f64 = -708.3964185322641;

/// exp(r) = 1 + r + r^2 Q(r) on |r| <= ln2/2 (+5e-4): weighted minimax fit of Q (Remez exchange,
/// relative error of exp 2^-28.3 before rounding the coefficients).
pub const EXP_Q_F32: [f32; 5] = [
    4.9999994e-1,
    1.666652e-1,
    4.1668396e-2,
    8.368812e-3,
    1.3814402e-3,
];
/// Same for f64, degree 9 in Q (relative error 2^-57.9).
pub const EXP_Q_F64: [f64; 10] = [
    0.5000000000000011,
    0.1666666666666641,
    0.041666666666528705,
    0.008333333333496201,
    0.0013888888944067165,
    0.00019841269503864493,
    2.480149259696915e-5,
    2.7557587825044718e-6,
    2.763044278797689e-7,
    2.4999916136058716e-8,
];

/// 2^k for k in [-126, 127], built in the exponent field.
#[inline(always)]
fn pow2i_f32(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32) << 23)
}

/// 2^k for k in [-1022, 1023], built in the exponent field.
#[inline(always)]
fn pow2i_f64(k: i64) -> f64 {
    f64::from_bits((k.wrapping_add(1023) as u64) << 52)
}

/// e^x for f32. See the module docs for accuracy and special values.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // Compare-select clamps: a NaN compares false and stays NaN. Below the normal range the
    // computation runs on the threshold (normal all along) and the select at the end gives +0.
    let tiny = x < EXP_F32_LO;
    let x = if tiny { EXP_F32_LO } else { x };
    let x = if x > EXP_F32_HI { EXP_F32_HI } else { x };
    // n = round(x / ln 2) by the magic-number trick; the integer is read back from the bits.
    let t = x.mul_add(c32::LOG2_E, MAGIC_F32);
    let n = t - MAGIC_F32;
    let k = t.to_bits().wrapping_sub(MAGIC_F32.to_bits()) as i32;
    // r = x - n ln 2 (the first FMA is exact).
    let r = n.mul_add(-LN2_HI_F32, x);
    let r = n.mul_add(-LN2_LO_F32, r);
    let q = EXP_Q_F32[4]
        .mul_add(r, EXP_Q_F32[3])
        .mul_add(r, EXP_Q_F32[2])
        .mul_add(r, EXP_Q_F32[1])
        .mul_add(r, EXP_Q_F32[0]);
    let p = (r * r).mul_add(q, r) + 1.0;
    // 2^k as two normal factors: k in [-126, 128], and 2^128 (for the overflow to +inf) has no
    // exponent field of its own.
    let k1 = k >> 1;
    let k2 = k.wrapping_sub(k1);
    let y = p * pow2i_f32(k1) * pow2i_f32(k2);
    if tiny {
        0.0
    } else {
        y
    }
}

/// e^x for f64. See the module docs for accuracy and special values.
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    let tiny = x < EXP_F64_LO;
    let x = if tiny { EXP_F64_LO } else { x };
    let x = if x > EXP_F64_HI { EXP_F64_HI } else { x };
    let t = x.mul_add(c64::LOG2_E, MAGIC_F64);
    let n = t - MAGIC_F64;
    let k = t.to_bits().wrapping_sub(MAGIC_F64.to_bits()) as i64;
    let r = n.mul_add(-LN2_HI_F64, x);
    let r = n.mul_add(-LN2_LO_F64, r);
    let c = &EXP_Q_F64;
    let q = c[9]
        .mul_add(r, c[8])
        .mul_add(r, c[7])
        .mul_add(r, c[6])
        .mul_add(r, c[5])
        .mul_add(r, c[4])
        .mul_add(r, c[3])
        .mul_add(r, c[2])
        .mul_add(r, c[1])
        .mul_add(r, c[0]);
    let p = (r * r).mul_add(q, r) + 1.0;
    // k in [-1022, 1025]; floor(k / 2) with a logical shift of a biased value (AVX2 has no
    // 64-bit arithmetic shift).
    let k1 = ((k.wrapping_add(2048) as u64) >> 1) as i64 - 1024;
    let k2 = k.wrapping_sub(k1);
    let y = p * pow2i_f64(k1) * pow2i_f64(k2);
    if tiny {
        0.0
    } else {
        y
    }
}

// ---------------------------------------------------------------------------------------------
// ln
// ---------------------------------------------------------------------------------------------

/// ln(1 + f) = f - s (f - T(s^2)) with s = f / (2 + f), T(z) = (2 atanh(s) - 2 s) / s:
/// minimax fit of T on z in [0, 0.1716^2] (error of ln relative 2^-28.4 f32, 2^-56.3 f64).
const LN_T_F32: [f32; 3] = [6.666674e-1, 3.9977315e-1, 2.9926518e-1];
const LN_T_F64: [f64; 7] = [
    0.666666666666667,
    0.3999999999983772,
    0.2857142867034485,
    0.22222203318378797,
    0.18183441727292055,
    0.15314564827999308,
    0.1481175408573364,
];

/// Natural logarithm for f32. See the module docs for accuracy and special values.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    // Subnormals: scale into the normal range first.
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 8_388_608.0 } else { x };
    let ebias: i32 = if tiny { -150 } else { -127 };
    let bits = xs.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 + ebias;
    // m in [1, 2), then folded into [sqrt(1/2), sqrt(2)).
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > c32::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1 } else { e };
    let f = m - 1.0; // exact
    let s = f / (2.0 + f);
    let z = s * s;
    let t = z * LN_T_F32[2].mul_add(z, LN_T_F32[1]).mul_add(z, LN_T_F32[0]);
    let lnm = (-s).mul_add(f - t, f);
    let ef = e as f32;
    let r = ef.mul_add(LN2_HI_F32, ef.mul_add(LN2_LO_F32, lnm));
    // Special values, as selects.
    let r = if x > 0.0 {
        r
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else {
        f32::NAN
    };
    if x < f32::INFINITY {
        r
    } else {
        x
    }
}

/// Natural logarithm for f64. See the module docs for accuracy and special values.
#[inline(always)]
pub fn ln_f64(x: f64) -> f64 {
    let tiny = x < f64::MIN_POSITIVE;
    let xs = if tiny {
        x * 18_014_398_509_481_984.0
    } else {
        x
    }; // 2^54
       // e as an f64 without an i64 -> f64 conversion (AVX2 has none): the biased exponent goes
       // into the mantissa of the magic number, e = (MAGIC + biased) - (MAGIC + bias), all exact.
    let off = if tiny {
        MAGIC_F64 + 1077.0
    } else {
        MAGIC_F64 + 1023.0
    };
    let bits = xs.to_bits();
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > c64::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let off = if big { off - 1.0 } else { off };
    let ef = f64::from_bits(MAGIC_F64.to_bits() + ((bits >> 52) & 0x7ff)) - off;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let c = &LN_T_F64;
    let t = z * c[6]
        .mul_add(z, c[5])
        .mul_add(z, c[4])
        .mul_add(z, c[3])
        .mul_add(z, c[2])
        .mul_add(z, c[1])
        .mul_add(z, c[0]);
    let lnm = (-s).mul_add(f - t, f);
    let r = ef.mul_add(LN2_HI_F64, ef.mul_add(LN2_LO_F64, lnm));
    let r = if x > 0.0 {
        r
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else {
        f64::NAN
    };
    if x < f64::INFINITY {
        r
    } else {
        x
    }
}

// ---------------------------------------------------------------------------------------------
// sin / cos
// ---------------------------------------------------------------------------------------------

/// Largest |x| for which `sin_f32` / `cos_f32` meet their documented accuracy. Beyond it the
/// result is finite but may be wrong (use std there).
pub const SIN_COS_F32_MAX: f32 = 262_144.0; // 2^18
/// Largest |x| for which `sin_f64` / `cos_f64` meet their documented accuracy.
pub const SIN_COS_F64_MAX: f64 = 1_099_511_627_776.0; // 2^40

/// sin(r) = r + r^3 S(r^2), cos(r) = 1 - r^2/2 + r^4 C(r^2) on |r| <= pi/4 + 0.011 (f32) or
/// pi/4 + 0.004 (f64); minimax fits of the relative error.
const SIN_S_F32: [f32; 4] = [-1.6666667e-1, 8.333331e-3, -1.9839485e-4, 2.7184578e-6];
const COS_C_F32: [f32; 3] = [4.1666668e-2, -1.3887977e-3, 2.4484096e-5];
const SIN_S_F64: [f64; 6] = [
    -0.16666666666666666,
    0.008333333333329066,
    -0.000198412698329764,
    2.755731419220458e-6,
    -2.505076856786278e-8,
    1.589462874088653e-10,
];
const COS_C_F64: [f64; 6] = [
    0.041666666666666664,
    -0.0013888888888886133,
    2.4801587296273518e-5,
    -2.7557316019437797e-7,
    2.0875908740727674e-9,
    -1.1367292789897552e-11,
];

/// Reduction of |x|: returns (sin r, cos r, q) with |x| = q pi/2 + r (q modulo 2^32 is enough).
#[inline(always)]
fn sin_cos_reduced_f32(x: f32) -> (f32, f32, u32) {
    let ax = x.abs();
    let t = ax.mul_add(c32::FRAC_2_PI, MAGIC_F32);
    let q = t - MAGIC_F32;
    let k = t.to_bits().wrapping_sub(MAGIC_F32.to_bits());
    let r = q.mul_add(-PIO2_1_F32, ax);
    let r = q.mul_add(-PIO2_2_F32, r);
    let r = q.mul_add(-PIO2_3_F32, r);
    let z = r * r;
    let sp = SIN_S_F32[3]
        .mul_add(z, SIN_S_F32[2])
        .mul_add(z, SIN_S_F32[1])
        .mul_add(z, SIN_S_F32[0]);
    let s = (r * z).mul_add(sp, r);
    let cp = COS_C_F32[2]
        .mul_add(z, COS_C_F32[1])
        .mul_add(z, COS_C_F32[0]);
    let c = z.mul_add(z.mul_add(cp, -0.5), 1.0);
    (s, c, k)
}

#[inline(always)]
fn sin_cos_reduced_f64(x: f64) -> (f64, f64, u64) {
    let ax = x.abs();
    let t = ax.mul_add(c64::FRAC_2_PI, MAGIC_F64);
    let q = t - MAGIC_F64;
    let k = t.to_bits().wrapping_sub(MAGIC_F64.to_bits());
    let r = q.mul_add(-PIO2_1_F64, ax);
    let r = q.mul_add(-PIO2_2_F64, r);
    let r = q.mul_add(-PIO2_3_F64, r);
    let z = r * r;
    let a = &SIN_S_F64;
    let sp = a[5]
        .mul_add(z, a[4])
        .mul_add(z, a[3])
        .mul_add(z, a[2])
        .mul_add(z, a[1])
        .mul_add(z, a[0]);
    let s = (r * z).mul_add(sp, r);
    let b = &COS_C_F64;
    let cp = b[5]
        .mul_add(z, b[4])
        .mul_add(z, b[3])
        .mul_add(z, b[2])
        .mul_add(z, b[1])
        .mul_add(z, b[0]);
    let c = z.mul_add(z.mul_add(cp, -0.5), 1.0);
    (s, c, k)
}

/// Picks ±sin r or ±cos r for quadrant `k` of sin: k odd -> cos, k & 2 -> negate; `sign` is
/// xor-ed in as well.
#[inline(always)]
fn quadrant_f32(s: f32, c: f32, k: u32, sign: u32) -> f32 {
    let v = if k & 1 == 0 { s } else { c };
    f32::from_bits(v.to_bits() ^ ((k & 2) << 30) ^ sign)
}

#[inline(always)]
fn quadrant_f64(s: f64, c: f64, k: u64, sign: u64) -> f64 {
    let v = if k & 1 == 0 { s } else { c };
    f64::from_bits(v.to_bits() ^ ((k & 2) << 62) ^ sign)
}

/// sin(x) for f32, accurate for |x| <= [`SIN_COS_F32_MAX`]. See the module docs.
#[inline(always)]
pub fn sin_f32(x: f32) -> f32 {
    let (s, c, k) = sin_cos_reduced_f32(x);
    quadrant_f32(s, c, k, x.to_bits() & 0x8000_0000)
}

/// cos(x) for f32, accurate for |x| <= [`SIN_COS_F32_MAX`]. See the module docs.
#[inline(always)]
pub fn cos_f32(x: f32) -> f32 {
    let (s, c, k) = sin_cos_reduced_f32(x);
    quadrant_f32(s, c, k.wrapping_add(1), 0)
}

/// (sin x, cos x) for f32 sharing one reduction; same accuracy as [`sin_f32`] / [`cos_f32`].
#[inline(always)]
pub fn sin_cos_f32(x: f32) -> (f32, f32) {
    let (s, c, k) = sin_cos_reduced_f32(x);
    (
        quadrant_f32(s, c, k, x.to_bits() & 0x8000_0000),
        quadrant_f32(s, c, k.wrapping_add(1), 0),
    )
}

/// sin(x) for f64, accurate for |x| <= [`SIN_COS_F64_MAX`]. See the module docs.
#[inline(always)]
pub fn sin_f64(x: f64) -> f64 {
    let (s, c, k) = sin_cos_reduced_f64(x);
    quadrant_f64(s, c, k, x.to_bits() & 0x8000_0000_0000_0000)
}

/// cos(x) for f64, accurate for |x| <= [`SIN_COS_F64_MAX`]. See the module docs.
#[inline(always)]
pub fn cos_f64(x: f64) -> f64 {
    let (s, c, k) = sin_cos_reduced_f64(x);
    quadrant_f64(s, c, k.wrapping_add(1), 0)
}

/// (sin x, cos x) for f64 sharing one reduction; same accuracy as [`sin_f64`] / [`cos_f64`].
#[inline(always)]
pub fn sin_cos_f64(x: f64) -> (f64, f64) {
    let (s, c, k) = sin_cos_reduced_f64(x);
    (
        quadrant_f64(s, c, k, x.to_bits() & 0x8000_0000_0000_0000),
        quadrant_f64(s, c, k.wrapping_add(1), 0),
    )
}

#[cfg(test)]
mod tests;
