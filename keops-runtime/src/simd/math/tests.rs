//! Accuracy of the vectorised functions against std and exact references.

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
    // Results below the normal range: flushed to +0 (issue 16), and exactly there.
    for x in linspace(-110.0, -87.33, N / 4) {
        let x = x as f32;
        let (y, v) = (exp_f32(x), (x as f64).exp());
        if v < f32::MIN_POSITIVE as f64 {
            assert_eq!(y.to_bits(), 0, "exp_f32({x:e}) = {y:e}, want +0");
        } else {
            assert!(
                ulp_err_f32(y, v) <= 1.1,
                "exp_f32({x:e}) = {y:e}, want {v:e}"
            );
        }
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
    for x in [-87.34f32, -103.28, -104.0, -105.0, -200.0, -1e10, f32::MIN] {
        assert_eq!(exp_f32(x).to_bits(), 0, "exp_f32({x})");
    }
    assert_eq!(exp_f32(f32::NEG_INFINITY).to_bits(), 0);
    // The threshold: the smallest argument with a normal result, and the float below it.
    let lo = EXP_F32_LO;
    assert!((lo as f64).exp() >= f32::MIN_POSITIVE as f64);
    assert!(exp_f32(lo) >= f32::MIN_POSITIVE);
    let below = f32::from_bits(lo.to_bits() + 1); // more negative
    assert!((below as f64).exp() < f32::MIN_POSITIVE as f64);
    assert_eq!(exp_f32(below).to_bits(), 0);
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
    // Results below the normal range: flushed to +0 (std's are subnormal there).
    for x in linspace(-760.0, -708.3, N / 4) {
        let (y, v) = (exp_f64(x), x.exp());
        if v < f64::MIN_POSITIVE {
            assert_eq!(y.to_bits(), 0, "exp_f64({x:e}) = {y:e}, want +0");
        } else {
            assert!(
                ulp_err_f64(y, v) <= 1.0,
                "exp_f64({x:e}) = {y:e}, want {v:e}"
            );
        }
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
    for x in [-708.4, -744.5, -746.0, -750.0, -1e300, f64::MIN] {
        assert_eq!(exp_f64(x).to_bits(), 0, "exp_f64({x})");
    }
    assert_eq!(exp_f64(f64::NEG_INFINITY).to_bits(), 0);
    // The threshold (std's exp, < 1 ulp, decides on which side of 2^-1022 e^x lies: the margin
    // is 124 ulps).
    let lo = EXP_F64_LO;
    assert!(lo.exp() >= f64::MIN_POSITIVE && exp_f64(lo) >= f64::MIN_POSITIVE);
    let below = f64::from_bits(lo.to_bits() + 1); // more negative
    assert!(below.exp() < f64::MIN_POSITIVE);
    assert_eq!(exp_f64(below).to_bits(), 0);
}

/// +0, normal, +inf or NaN: never a subnormal (nor -0), whose arithmetic is slow on x86 (issue 16).
fn not_subnormal_f32(x: f32) {
    let y = exp_f32(x);
    assert!(
        y.is_nan() || y.to_bits() == 0 || y >= f32::MIN_POSITIVE,
        "exp_f32({x:e}) = {y:e}"
    );
}

fn not_subnormal_f64(x: f64) {
    let y = exp_f64(x);
    assert!(
        y.is_nan() || y.to_bits() == 0 || y >= f64::MIN_POSITIVE,
        "exp_f64({x:e}) = {y:e}"
    );
}

#[test]
fn exp_never_subnormal() {
    // Every f32 in [-88, -87] (the threshold's neighbourhood; 131,072 of them), then every sign
    // and binade (the non-negative half of the bit patterns, and the negative half).
    let (a, b) = ((-87.0f32).to_bits(), (-88.0f32).to_bits());
    (a..=b).map(f32::from_bits).for_each(not_subnormal_f32);
    bit_steps_f32(0, 0x7f80_0001, N as u32).for_each(not_subnormal_f32);
    bit_steps_f32(0x8000_0000, 0xff80_0001, N as u32).for_each(not_subnormal_f32);
    [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
        .into_iter()
        .for_each(not_subnormal_f32);
    // f64: 2^20 consecutive doubles either side of the threshold, then every binade.
    let t = EXP_F64_LO.to_bits();
    (t - (1 << 20)..t + (1 << 20))
        .map(f64::from_bits)
        .for_each(not_subnormal_f64);
    linspace(-760.0, -700.0, N).for_each(not_subnormal_f64);
    bit_steps_f64(0, 0x7ff0_0000_0000_0001, N as u64).for_each(not_subnormal_f64);
    bit_steps_f64(0x8000_0000_0000_0000, 0xfff0_0000_0000_0001, N as u64)
        .for_each(not_subnormal_f64);
    [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]
        .into_iter()
        .for_each(not_subnormal_f64);
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
