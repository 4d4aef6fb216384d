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
//!   factors 2^⌊n/2⌋ · 2^(n-⌊n/2⌋) in the exponent field, so n = 128 (1024) overflows to +inf and
//!   a subnormal result is rounded once.
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
//! | `exp_f32` | normal results (x in [-87.33, 88.72]) | 1.02 ulp | NaN → NaN, +inf → +inf, -inf → 0; x > 88.7228 → +inf; subnormal results (x in [-103.97, -87.34]): abs. error ≤ 0.75·2^-149; x < -103.97 → 0 |
//! | `exp_f64` | normal results (x in [-708.39, 709.78]) | 1.00 ulp (≤ 1 ulp from std) | NaN → NaN, +inf → +inf, -inf → 0; x > 709.7827 → +inf; subnormal results: within 2^-1074 of std; x < -745.13 → 0 |
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

use core::f32::consts as c32;
use core::f64::consts as c64;

// ---------------------------------------------------------------------------------------------
// Shared constants
// ---------------------------------------------------------------------------------------------

/// 1.5 * 2^23: adding it to an f32 of magnitude < 2^22 rounds to an integer (current rounding
/// mode, i.e. to nearest even); the integer also sits in the low mantissa bits of the sum.
pub(crate) const MAGIC_F32: f32 = 12_582_912.0;
/// 1.5 * 2^52, the f64 counterpart of `MAGIC_F32`.
pub(crate) const MAGIC_F64: f64 = 6_755_399_441_055_744.0;

/// ln 2 split for Cody-Waite reduction: `LN2_HI_*` is ln 2 rounded, `LN2_LO_*` the rounded rest.
/// With FMAs the product `n * LN2_HI` is exact inside the FMA, so no trailing zeros are needed.
pub(crate) const LN2_HI_F32: f32 = c32::LN_2;
pub(crate) const LN2_LO_F32: f32 = -1.9046542e-9;
pub(crate) const LN2_HI_F64: f64 = c64::LN_2;
pub(crate) const LN2_LO_F64: f64 = 2.3190468138462996e-17;

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

/// Inputs are clamped to `[EXP_F32_LO, EXP_F32_HI]`: above, 2^128 * e^r overflows to +inf; below,
/// the result (< 2^-150) rounds to 0.
pub(crate) const EXP_F32_HI: f32 = 88.8;
pub(crate) const EXP_F32_LO: f32 = -104.0;
pub(crate) const EXP_F64_HI: f64 = 709.9;
pub(crate) const EXP_F64_LO: f64 = -746.0;

/// exp(r) = 1 + r + r^2 Q(r) on |r| <= ln2/2 (+5e-4): weighted minimax fit of Q (Remez exchange,
/// relative error of exp 2^-28.3 before rounding the coefficients).
pub(crate) const EXP_Q_F32: [f32; 5] = [
    4.9999994e-1,
    1.666652e-1,
    4.1668396e-2,
    8.368812e-3,
    1.3814402e-3,
];
/// Same for f64, degree 9 in Q (relative error 2^-57.9).
pub(crate) const EXP_Q_F64: [f64; 10] = [
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
    // Compare-select clamps: a NaN compares false and stays NaN.
    let x = if x < EXP_F32_LO { EXP_F32_LO } else { x };
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
    // 2^k as two normal factors: k in [-150, 128]; the first product stays normal, so a
    // subnormal result is rounded once.
    let k1 = k >> 1;
    let k2 = k.wrapping_sub(k1);
    p * pow2i_f32(k1) * pow2i_f32(k2)
}

/// e^x for f64. See the module docs for accuracy and special values.
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    let x = if x < EXP_F64_LO { EXP_F64_LO } else { x };
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
    // k in [-1076, 1025]; floor(k / 2) with a logical shift of a biased value (AVX2 has no
    // 64-bit arithmetic shift).
    let k1 = ((k.wrapping_add(2048) as u64) >> 1) as i64 - 1024;
    let k2 = k.wrapping_sub(k1);
    p * pow2i_f64(k1) * pow2i_f64(k2)
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
mod tests {
    use super::*;

    /// Deterministic 64-bit LCG (Knuth's MMIX constants).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0
        }

        /// Uniform in [a, b).
        fn uniform(&mut self, a: f64, b: f64) -> f64 {
            let u = (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            a + (b - a) * u
        }
    }

    /// Binade exponent of |v| (floor(log2 |v|)), clamped to `emin`.
    fn binade(v: f64, emin: i32) -> i32 {
        let e = ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        e.max(emin)
    }

    /// 2^e for e in [-1074, 1023] (exact; `powi` underflows in its intermediate steps).
    fn pow2(e: i32) -> f64 {
        if e >= -1022 {
            f64::from_bits(((e + 1023) as u64) << 52)
        } else {
            f64::from_bits(1 << (e + 1074))
        }
    }

    /// Error of `y` in f32 ulps of the exact value `v` (subnormal ulp below the normal range).
    fn ulp_err_f32(y: f32, v: f64) -> f64 {
        let ulp = pow2(binade(v, -126) - 23);
        (y as f64 - v).abs() / ulp
    }

    /// Error of `y` in f64 ulps of the reference `v`.
    fn ulp_err_f64(y: f64, v: f64) -> f64 {
        let ulp = pow2(binade(v, -1022) - 52);
        (y - v).abs() / ulp
    }

    /// Max ulp error of `f` against the f64 `reference` over the points; panics with the worst point
    /// if it exceeds `bound`.
    fn check_f32(
        name: &str,
        pts: impl Iterator<Item = f32>,
        f: fn(f32) -> f32,
        reference: fn(f64) -> f64,
        bound: f64,
    ) -> f64 {
        let (mut worst, mut at) = (0.0f64, 0.0f32);
        for x in pts {
            let e = ulp_err_f32(f(x), reference(x as f64));
            // A NaN error (NaN result) counts as the worst.
            let e = if e.is_nan() { f64::INFINITY } else { e };
            if e > worst {
                (worst, at) = (e, x);
            }
        }
        assert!(
            worst <= bound,
            "{name}: {worst} ulp at x = {at:e} (got {:e}, want {:e})",
            f(at),
            reference(at as f64)
        );
        worst
    }

    fn check_f64(
        name: &str,
        pts: impl Iterator<Item = f64>,
        f: fn(f64) -> f64,
        reference: fn(f64) -> f64,
        bound: f64,
    ) -> f64 {
        let (mut worst, mut at) = (0.0f64, 0.0f64);
        for x in pts {
            let e = ulp_err_f64(f(x), reference(x));
            // A NaN error (NaN result) counts as the worst.
            let e = if e.is_nan() { f64::INFINITY } else { e };
            if e > worst {
                (worst, at) = (e, x);
            }
        }
        assert!(
            worst <= bound,
            "{name}: {worst} ulp at x = {at:e} (got {:e}, want {:e})",
            f(at),
            reference(at)
        );
        worst
    }

    /// `n` evenly spaced points covering [a, b].
    fn linspace(a: f64, b: f64, n: usize) -> impl Iterator<Item = f64> {
        (0..n).map(move |i| a + (b - a) * i as f64 / (n - 1) as f64)
    }

    /// `n` pseudo-random points with log-uniform magnitude in [lo, hi] and random sign.
    fn log_uniform(seed: u64, lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        let mut g = Lcg(seed);
        (0..n).map(move |_| {
            let m = g.uniform(lo.ln(), hi.ln()).exp();
            if g.next() >> 63 == 0 {
                m
            } else {
                -m
            }
        })
    }

    /// About `n` positive bit patterns spread over [lo_bits, hi_bits) (odd stride).
    fn bit_steps_f32(lo: u32, hi: u32, n: u32) -> impl Iterator<Item = f32> {
        let stride = ((hi - lo) / n) | 1;
        (lo..hi).step_by(stride as usize).map(f32::from_bits)
    }

    fn bit_steps_f64(lo: u64, hi: u64, n: u64) -> impl Iterator<Item = f64> {
        let stride = ((hi - lo) / n) | 1;
        (lo..hi).step_by(stride as usize).map(f64::from_bits)
    }

    fn f32_exp(x: f64) -> f64 {
        x.exp()
    }
    fn f32_ln(x: f64) -> f64 {
        x.ln()
    }
    fn f32_sin(x: f64) -> f64 {
        x.sin()
    }
    fn f32_cos(x: f64) -> f64 {
        x.cos()
    }

    const N: usize = 500_000;

    // ---------------------------------------------------------------------------------- exp

    #[test]
    fn exp_f32_accuracy() {
        // Normal results: exp(-87.33) is just above f32::MIN_POSITIVE.
        let pts = linspace(-87.33, 88.72, N).map(|x| x as f32);
        check_f32("exp_f32", pts, exp_f32, f32_exp, 1.1);
        let pts = linspace(-1.0, 1.0, N / 4).map(|x| x as f32);
        check_f32("exp_f32 near 0", pts, exp_f32, f32_exp, 1.1);
        // Subnormal results: absolute error below one subnormal ulp (2^-149).
        for x in linspace(-110.0, -87.33, N / 4) {
            let x = x as f32;
            let (y, v) = (exp_f32(x) as f64, (x as f64).exp());
            assert!(
                (y - v).abs() <= pow2(-149),
                "exp_f32({x:e}) = {y:e}, want {v:e}"
            );
        }
    }

    #[test]
    fn exp_f32_special() {
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(-f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-0.0), 1.0);
        // ln(f32::MAX) = 88.7228391...
        let x = 88.72283f32;
        assert!(exp_f32(x).is_finite() && ulp_err_f32(exp_f32(x), (x as f64).exp()) <= 1.1);
        for x in [88.72284f32, 88.8, 89.0, 100.0, 1e10, f32::MAX] {
            assert_eq!(exp_f32(x), f32::INFINITY, "exp_f32({x})");
        }
        for x in [-104.0f32, -105.0, -200.0, -1e10, f32::MIN] {
            assert_eq!(exp_f32(x), 0.0, "exp_f32({x})");
        }
        assert_eq!(exp_f32(-103.28), f32::from_bits(1)); // 2^-149
    }

    #[test]
    fn exp_f64_accuracy() {
        // Against std (itself < 1 ulp).
        check_f64(
            "exp_f64",
            linspace(-708.39, 709.78, N),
            exp_f64,
            f64::exp,
            1.0,
        );
        check_f64(
            "exp_f64 near 0",
            linspace(-1.0, 1.0, N / 4),
            exp_f64,
            f64::exp,
            1.0,
        );
        check_f64(
            "exp_f64 random",
            log_uniform(1, 1e-20, 709.78, N / 4),
            exp_f64,
            f64::exp,
            1.0,
        );
        for x in linspace(-760.0, -708.4, N / 4) {
            let (y, v) = (exp_f64(x), x.exp());
            assert!(
                (y - v).abs() <= pow2(-1074),
                "exp_f64({x:e}) = {y:e}, want {v:e}"
            );
        }
    }

    #[test]
    fn exp_f64_special() {
        assert!(exp_f64(f64::NAN).is_nan());
        assert!(exp_f64(-f64::NAN).is_nan());
        assert_eq!(exp_f64(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp_f64(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_f64(0.0), 1.0);
        assert_eq!(exp_f64(-0.0), 1.0);
        // ln(f64::MAX) = 709.782712893384
        let x = 709.782712893384;
        assert!(exp_f64(x).is_finite() && ulp_err_f64(exp_f64(x), x.exp()) <= 1.0);
        for x in [709.7827128933841, 709.8, 710.0, 1e300, f64::MAX] {
            assert_eq!(exp_f64(x), f64::INFINITY, "exp_f64({x})");
        }
        for x in [-746.0, -750.0, -1e300, f64::MIN] {
            assert_eq!(exp_f64(x), 0.0, "exp_f64({x})");
        }
        assert_eq!(exp_f64(-744.5), f64::from_bits(1)); // 2^-1074
    }

    // ----------------------------------------------------------------------------------- ln

    #[test]
    fn ln_f32_accuracy() {
        // All binades, subnormals included.
        let pts = bit_steps_f32(1, 0x7f80_0000, N as u32);
        check_f32("ln_f32", pts, ln_f32, f32_ln, 1.0);
        // Densely around 1 (the result's binade gets small there).
        let pts = bit_steps_f32(0.5f32.to_bits(), 2f32.to_bits(), N as u32);
        check_f32("ln_f32 near 1", pts, ln_f32, f32_ln, 1.0);
        let pts = linspace(0.999, 1.001, N / 4).map(|x| x as f32);
        check_f32("ln_f32 near 1", pts, ln_f32, f32_ln, 1.0);
    }

    #[test]
    fn ln_f32_special() {
        assert!(ln_f32(f32::NAN).is_nan());
        assert!(ln_f32(-1.0).is_nan());
        assert!(ln_f32(-f32::from_bits(1)).is_nan());
        assert!(ln_f32(f32::NEG_INFINITY).is_nan());
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(-0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(ln_f32(1.0), 0.0);
        assert!(ulp_err_f32(ln_f32(f32::from_bits(1)), -149.0 * core::f64::consts::LN_2) <= 1.0);
        assert!(ulp_err_f32(ln_f32(f32::MAX), (f32::MAX as f64).ln()) <= 1.0);
    }

    #[test]
    fn ln_f64_accuracy() {
        let pts = bit_steps_f64(1, 0x7ff0_0000_0000_0000, N as u64);
        check_f64("ln_f64", pts, ln_f64, f64::ln, 1.0);
        let pts = bit_steps_f64(0.5f64.to_bits(), 2f64.to_bits(), N as u64);
        check_f64("ln_f64 near 1", pts, ln_f64, f64::ln, 1.0);
        check_f64(
            "ln_f64 near 1",
            linspace(0.999, 1.001, N / 4),
            ln_f64,
            f64::ln,
            1.0,
        );
    }

    #[test]
    fn ln_f64_special() {
        assert!(ln_f64(f64::NAN).is_nan());
        assert!(ln_f64(-1.0).is_nan());
        assert!(ln_f64(-f64::from_bits(1)).is_nan());
        assert!(ln_f64(f64::NEG_INFINITY).is_nan());
        assert_eq!(ln_f64(0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f64(-0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f64(f64::INFINITY), f64::INFINITY);
        assert_eq!(ln_f64(1.0), 0.0);
        let tiny = f64::from_bits(1);
        assert!(ulp_err_f64(ln_f64(tiny), tiny.ln()) <= 1.0);
        assert!(ulp_err_f64(ln_f64(f64::MAX), f64::MAX.ln()) <= 1.0);
    }

    // ------------------------------------------------------------------------------ sin/cos

    /// (x, sin x, cos x) as f32 bits: the f32 closest to a multiple of pi/2 found by continued
    /// fractions in each binade [2^e, 2^(e+1)), e = 0..17 (|r| = distance to the multiple);
    /// sin and cos rounded from 120-digit evaluations.
    const HARD_F32: [(u32, u32, u32); 18] = [
        (0x3fc90fdb, 0x3f800000, 0xb33bbd2e), // |r| = 2^-24.4
        (0x40490fda, 0x34222169, 0xbf800000), // |r| = 2^-22.7
        (0x4096cbe4, 0xbf800000, 0x324cde2e), // |r| = 2^-26.3
        (0x416231d6, 0x3f800000, 0xb319a6a2), // |r| = 2^-24.7
        (0x41e231d6, 0xb399a6a2, 0xbf800000), // |r| = 2^-23.7
        (0x426231d6, 0x3419a6a2, 0x3f800000), // |r| = 2^-22.7
        (0x42e231d6, 0x3499a6a2, 0x3f800000), // |r| = 2^-21.7
        (0x437ce5f1, 0x3f800000, 0xb18fd1de), // |r| = 2^-27.8
        (0x43fce5f1, 0xb20fd1de, 0xbf800000), // |r| = 2^-26.8
        (0x447ce5f1, 0x328fd1de, 0x3f800000), // |r| = 2^-25.8
        (0x44fce5f1, 0x330fd1de, 0x3f800000), // |r| = 2^-24.8
        (0x450be628, 0x3f800000, 0x3377f042), // |r| = 2^-24.0
        (0x45d1d93c, 0xbf800000, 0xb439f432), // |r| = 2^-22.5
        (0x4674d2c6, 0xbf800000, 0xb4d8f23a), // |r| = 2^-21.2
        (0x46f4d2c6, 0x3558f23a, 0xbf800000), // |r| = 2^-20.2
        (0x474d246f, 0x3f800000, 0xb28b5715), // |r| = 2^-25.9
        (0x47cd246f, 0xb30b5715, 0xbf800000), // |r| = 2^-24.9
        (0x484d246f, 0x338b5715, 0x3f800000), // |r| = 2^-23.9
    ];

    /// Same for f64, binades e = 0..39.
    const HARD_F64: [(u64, u64, u64); 40] = [
        (0x3ff921fb54442d18, 0x3ff0000000000000, 0x3c91a62633145c07), // |r| = 2^-53.9
        (0x400921fb54442d18, 0x3ca1a62633145c07, 0xbff0000000000000), // |r| = 2^-52.9
        (0x401f6a7a2955385e, 0x3ff0000000000000, 0x3cb60fafbfd97309), // |r| = 2^-51.5
        (0x402f6a7a2955385e, 0x3cc60fafbfd97309, 0xbff0000000000000), // |r| = 2^-50.5
        (0x403f6a7a2955385e, 0xbcd60fafbfd97309, 0x3ff0000000000000), // |r| = 2^-49.5
        (0x4046c6cbc45dc8de, 0x3ff0000000000000, 0xbc26d61b58c99c43), // |r| = 2^-60.5
        (0x4056c6cbc45dc8de, 0xbc36d61b58c99c43, 0xbff0000000000000), // |r| = 2^-59.5
        (0x4066c6cbc45dc8de, 0x3c46d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-58.5
        (0x4076c6cbc45dc8de, 0x3c56d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-57.5
        (0x4086c6cbc45dc8de, 0x3c66d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-56.5
        (0x4096c6cbc45dc8de, 0x3c76d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-55.5
        (0x40a6c6cbc45dc8de, 0x3c86d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-54.5
        (0x40b6c6cbc45dc8de, 0x3c96d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-53.5
        (0x40c6c6cbc45dc8de, 0x3ca6d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-52.5
        (0x40d6c6cbc45dc8de, 0x3cb6d61b58c99c43, 0x3ff0000000000000), // |r| = 2^-51.5
        (0x40e67e57cdd4dc54, 0xbff0000000000000, 0x3ca396f53352c401), // |r| = 2^-52.7
        (0x40f67e57cdd4dc54, 0xbcb396f53352c401, 0xbff0000000000000), // |r| = 2^-51.7
        (0x410c1dedc14a1369, 0xbff0000000000000, 0x3cc87cb280277501), // |r| = 2^-50.4
        (0x41139c6fd67805a7, 0xbff0000000000000, 0xbc8988efe18ff83f), // |r| = 2^-54.3
        (0x41239c6fd67805a7, 0x3c9988efe18ff83f, 0xbff0000000000000), // |r| = 2^-53.3
        (0x4139eb7148f354d6, 0x3ff0000000000000, 0xbc8d0afa32c646ca), // |r| = 2^-54.1
        (0x4149eb7148f354d6, 0xbc9d0afa32c646ca, 0xbff0000000000000), // |r| = 2^-53.1
        (0x4159eb7148f354d6, 0x3cad0afa32c646ca, 0x3ff0000000000000), // |r| = 2^-52.1
        (0x416b951f1572eba5, 0xbff0000000000000, 0xbc3f54f5227a4e84), // |r| = 2^-59.0
        (0x417b951f1572eba5, 0x3c4f54f5227a4e84, 0xbff0000000000000), // |r| = 2^-58.0
        (0x418b951f1572eba5, 0xbc5f54f5227a4e84, 0x3ff0000000000000), // |r| = 2^-57.0
        (0x419b951f1572eba5, 0xbc6f54f5227a4e84, 0x3ff0000000000000), // |r| = 2^-56.0
        (0x41ab951f1572eba5, 0xbc7f54f5227a4e84, 0x3ff0000000000000), // |r| = 2^-55.0
        (0x41bb951f1572eba5, 0xbc8f54f5227a4e84, 0x3ff0000000000000), // |r| = 2^-54.0
        (0x41cb951f1572eba5, 0xbc9f54f5227a4e84, 0x3ff0000000000000), // |r| = 2^-53.0
        (0x41dffb04067cd49e, 0x3ff0000000000000, 0xbcb992ae895d2f19), // |r| = 2^-51.3
        (0x41effb04067cd49e, 0xbcc992ae895d2f19, 0xbff0000000000000), // |r| = 2^-50.3
        (0x41f5c9508c58aafa, 0x3ff0000000000000, 0x3c97091a64747dab), // |r| = 2^-53.5
        (0x4205c9508c58aafa, 0x3ca7091a64747dab, 0xbff0000000000000), // |r| = 2^-52.5
        (0x421de5e5054e921b, 0x3ff0000000000000, 0xbc95361ee6553188), // |r| = 2^-53.6
        (0x42246546a5bd73cc, 0xbff0000000000000, 0xbc98dc15e293c9cd), // |r| = 2^-53.4
        (0x423e97e9f89c2db2, 0x3ff0000000000000, 0x3cb2a51069eed75a), // |r| = 2^-51.8
        (0x424e97e9f89c2db2, 0x3cc2a51069eed75a, 0xbff0000000000000), // |r| = 2^-50.8
        (0x425bb23eaa3db16d, 0xbff0000000000000, 0x3ca6b244e2e34da0), // |r| = 2^-52.5
        (0x426065c829d68730, 0x3ff0000000000000, 0x3c714e87fd83e16c), // |r| = 2^-55.9
    ];

    #[test]
    fn sin_cos_f32_accuracy() {
        let max = SIN_COS_F32_MAX as f64;
        for (name, f, r) in [
            (
                "sin_f32",
                sin_f32 as fn(f32) -> f32,
                f32_sin as fn(f64) -> f64,
            ),
            ("cos_f32", cos_f32, f32_cos),
        ] {
            let pts = linspace(-10.0, 10.0, N).map(|x| x as f32);
            check_f32(name, pts, f, r, 1.6);
            let pts = log_uniform(2, 1e-30, max, N / 2).map(|x| x as f32);
            check_f32(name, pts, f, r, 1.6);
            // Around multiples of pi/2, a few ulps either side.
            let pts = (1..40_000u32).flat_map(|i| {
                let k = (i as f64 * 1.718_281_828).floor();
                let c = ((k * core::f64::consts::FRAC_PI_2) as f32).to_bits();
                (c - 2..=c + 2).map(f32::from_bits)
            });
            check_f32(name, pts.filter(|x| *x <= SIN_COS_F32_MAX), f, r, 1.6);
        }
        for &(x, s, c) in &HARD_F32 {
            let x = f32::from_bits(x);
            for (y, want) in [
                (sin_f32(x), s),
                (cos_f32(x), c),
                (sin_f32(-x), s ^ 0x8000_0000),
            ] {
                let e = ulp_err_f32(y, f32::from_bits(want) as f64);
                assert!(
                    e <= 2.0,
                    "x = {x:e}: got {y:e}, want {:e}",
                    f32::from_bits(want)
                );
            }
        }
    }

    #[test]
    fn sin_cos_f64_accuracy() {
        let max = SIN_COS_F64_MAX;
        for (name, f, r) in [
            (
                "sin_f64",
                sin_f64 as fn(f64) -> f64,
                f64::sin as fn(f64) -> f64,
            ),
            ("cos_f64", cos_f64, f64::cos),
        ] {
            check_f64(name, linspace(-10.0, 10.0, N), f, r, 2.0);
            check_f64(name, log_uniform(3, 1e-300, max, N / 2), f, r, 2.0);
            let pts = (1..40_000u32).flat_map(|i| {
                let k = (i as f64 * 1.718_281_828).floor();
                let c = (k * core::f64::consts::FRAC_PI_2).to_bits();
                (c - 2..=c + 2).map(f64::from_bits)
            });
            check_f64(name, pts, f, r, 2.0);
        }
        for &(x, s, c) in &HARD_F64 {
            let x = f64::from_bits(x);
            for (y, want) in [
                (sin_f64(x), s),
                (cos_f64(x), c),
                (sin_f64(-x), s ^ (1 << 63)),
            ] {
                let e = ulp_err_f64(y, f64::from_bits(want));
                assert!(
                    e <= 2.0,
                    "x = {x:e}: got {y:e}, want {:e}",
                    f64::from_bits(want)
                );
            }
        }
    }

    #[test]
    fn sin_cos_special() {
        for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(sin_f32(x).is_nan() && cos_f32(x).is_nan(), "{x}");
            let (s, c) = sin_cos_f32(x);
            assert!(s.is_nan() && c.is_nan());
        }
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(sin_f64(x).is_nan() && cos_f64(x).is_nan(), "{x}");
            let (s, c) = sin_cos_f64(x);
            assert!(s.is_nan() && c.is_nan());
        }
        assert_eq!(sin_f32(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(sin_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sin_f64(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(sin_f64(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!((cos_f32(0.0), cos_f32(-0.0)), (1.0, 1.0));
        assert_eq!((cos_f64(0.0), cos_f64(-0.0)), (1.0, 1.0));
        // Tiny and subnormal arguments: sin x = x, cos x = 1.
        for x in [
            1e-20f32,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            -f32::from_bits(7),
        ] {
            assert_eq!((sin_f32(x), cos_f32(x)), (x, 1.0));
        }
        for x in [
            1e-200f64,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(7),
        ] {
            assert_eq!((sin_f64(x), cos_f64(x)), (x, 1.0));
        }
        // Odd / even symmetry and agreement of the fused variant.
        let mut g = Lcg(4);
        for _ in 0..1000 {
            let x = g.uniform(-1e4, 1e4);
            assert_eq!(sin_f64(-x), -sin_f64(x));
            assert_eq!(cos_f64(-x), cos_f64(x));
            assert_eq!(sin_cos_f64(x), (sin_f64(x), cos_f64(x)));
            let x = x as f32;
            assert_eq!(sin_f32(-x), -sin_f32(x));
            assert_eq!(cos_f32(-x), cos_f32(x));
            assert_eq!(sin_cos_f32(x), (sin_f32(x), cos_f32(x)));
        }
    }
}
