//! The floating-point types a formula can be evaluated in, and the arithmetic the generated code
//! uses on them and on SIMD packs of them.

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The numbers generated code computes with: a real `T` (`f32`, `f64`), or a SIMD pack of `LANES`
/// of them ([`crate::simd::Pack`]) holding the values of one formula node for `LANES` output rows.
///
/// Every operation is entrywise (lane by lane). The scalar functions follow KeOps' definitions
/// (doc/api/math-operations.rst and keopscore's `math_functions.py`): `sign(0) = 0`, `step(x) = 1`
/// for `x >= 0`, `ifelse(c, a, b) = a` for `c >= 0`, `rsqrt(0) = 0`, `xlogx(0) = 0`,
/// `sinxdivx(0) = 1`, comparisons are 0 or 1.
pub trait Num:
    Copy
    + Send
    + Sync
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + 'static
{
    /// The real each lane holds.
    type Elem: Real;
    /// Lanes: 1 for a real.
    const LANES: usize;
    /// 0 in every lane.
    const ZERO: Self;
    /// 1 in every lane.
    const ONE: Self;
    /// Every lane `x`.
    fn splat(x: Self::Elem) -> Self;
    /// Lane `l` is `f(l)`.
    fn from_lanes(f: impl FnMut(usize) -> Self::Elem) -> Self;
    /// Lane `l < LANES`.
    fn lane(self, l: usize) -> Self::Elem;
    /// The sum of the lanes.
    fn sum_lanes(self) -> Self::Elem;
    /// `self * b + c`: fused (one rounding) in SIMD packs, whose code runs where FMA exists; two
    /// operations for a real, as the scalar path may run where it does not.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `e^x`, and +0 where that is below the normal range: a subnormal would slow down every
    /// operation it enters on x86 (see `simd::math`, "Subnormals").
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// `x^n`.
    fn powi(self, n: i32) -> Self;
    /// `x^e`.
    fn powf(self, e: Self) -> Self;
    /// The smaller of the two (the other when one is NaN).
    fn fmin(self, o: Self) -> Self;
    /// The larger of the two (the other when one is NaN).
    fn fmax(self, o: Self) -> Self;
    /// Arcsine.
    fn asin(self) -> Self;
    /// Arccosine.
    fn acos(self) -> Self;
    /// Arctangent.
    fn atan(self) -> Self;
    /// The angle of the point `(o, self)`, as C's `atan2(self, o)`.
    fn atan2(self, o: Self) -> Self;
    /// The largest integer not above.
    fn floor(self) -> Self;
    /// Rounds half-way cases away from zero (C's `round`).
    fn round(self) -> Self;
    /// `1 / sqrt(x)`, and 0 at 0 (KeOps' Rsqrt, so that `normalize(0) = 0`).
    fn rsqrt(self) -> Self;
    /// `x log x`, 0 at 0 (KeOps' XLogX).
    fn xlogx(self) -> Self;
    /// `sin x / x`, 1 at 0 (KeOps' SinXDivX).
    fn sinxdivx(self) -> Self;
    /// `round(x * scale) / scale`: with `scale = 10^d`, rounding to `d` decimals (KeOps' Round).
    fn round_scaled(self, scale: Self) -> Self;
    /// `x - m * floor((x - offset) / m)` (KeOps' Mod).
    fn modulo(self, m: Self, offset: Self) -> Self;
    /// 1 if `self == o`, else 0 (KeOps' Equal).
    fn cmp_eq(self, o: Self) -> Self;
    /// 1 if `self != o`, else 0 (KeOps' NotEqual).
    fn cmp_ne(self, o: Self) -> Self;
    /// 1 if `self < o`, else 0 (KeOps' LessThan).
    fn cmp_lt(self, o: Self) -> Self;
    /// 1 if `self <= o`, else 0 (KeOps' LessOrEqual).
    fn cmp_le(self, o: Self) -> Self;
    /// 1 if `self > o`, else 0.
    fn cmp_gt(self, o: Self) -> Self;
    /// 1 if `self >= o`, else 0.
    fn cmp_ge(self, o: Self) -> Self;
    /// `1 / x`.
    fn inv(self) -> Self;
    /// `x * x`.
    fn square(self) -> Self;
    /// -1, 0 or 1 (KeOps' Sign: 0 at 0).
    fn sign(self) -> Self;
    /// 1 for `x >= 0`, else 0 (KeOps' Step).
    fn step(self) -> Self;
    /// `max(x, 0)`.
    fn relu(self) -> Self;
    /// `a` if `f < a`, `b` if `f > b`, else `f` (KeOps' Clamp).
    fn clamp_to(self, a: Self, b: Self) -> Self;
    /// `a` where `self >= 0`, else `b` (KeOps' IfElse).
    fn if_else(self, a: Self, b: Self) -> Self;
}

/// `f32` or `f64`: the precision data, parameters and results share.
pub trait Real:
    sealed::Sealed + Num<Elem = Self> + Display + Default + PartialOrd + crate::simd::LaneMath + 'static
{
    /// Name used in messages.
    const NAME: &'static str;
    /// `x` rounded to this precision.
    fn from_f64(x: f64) -> Self;
    /// The value in f64 (exact).
    fn to_f64(self) -> f64;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// 1 or 0.
    #[inline(always)]
    fn from_bool(c: bool) -> Self {
        if c {
            Self::ONE
        } else {
            Self::ZERO
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $name:literal, $exp_lo:path) => {
        impl Real for $t {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }

        impl Num for $t {
            type Elem = $t;
            const LANES: usize = 1;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn splat(x: Self) -> Self {
                x
            }
            #[inline(always)]
            fn from_lanes(mut f: impl FnMut(usize) -> Self) -> Self {
                f(0)
            }
            #[inline(always)]
            fn lane(self, _l: usize) -> Self {
                self
            }
            #[inline(always)]
            fn sum_lanes(self) -> Self {
                self
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                self * b + c
            }
            /// std's `exp`, flushed to +0 below the normal range like the SIMD lanes' (at the
            /// same threshold; see `simd::math`, "Subnormals"): the engines agree on which
            /// values vanish, and the scalar one skips libm's slow subnormal path.
            #[inline(always)]
            fn exp(self) -> Self {
                if self < $exp_lo {
                    0.0
                } else {
                    <$t>::exp(self)
                }
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn fmin(self, o: Self) -> Self {
                <$t>::min(self, o)
            }
            #[inline(always)]
            fn fmax(self, o: Self) -> Self {
                <$t>::max(self, o)
            }
            #[inline(always)]
            fn asin(self) -> Self {
                <$t>::asin(self)
            }
            #[inline(always)]
            fn acos(self) -> Self {
                <$t>::acos(self)
            }
            #[inline(always)]
            fn atan(self) -> Self {
                <$t>::atan(self)
            }
            #[inline(always)]
            fn atan2(self, o: Self) -> Self {
                <$t>::atan2(self, o)
            }
            #[inline(always)]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline(always)]
            fn round(self) -> Self {
                <$t>::round(self)
            }
            #[inline(always)]
            fn rsqrt(self) -> Self {
                if self == 0.0 {
                    0.0
                } else {
                    1.0 / <$t>::sqrt(self)
                }
            }
            #[inline(always)]
            fn xlogx(self) -> Self {
                if self == 0.0 {
                    0.0
                } else {
                    self * <$t>::ln(self)
                }
            }
            #[inline(always)]
            fn sinxdivx(self) -> Self {
                if self == 0.0 {
                    1.0
                } else {
                    <$t>::sin(self) / self
                }
            }
            #[inline(always)]
            fn round_scaled(self, scale: Self) -> Self {
                <$t>::round(self * scale) / scale
            }
            #[inline(always)]
            fn modulo(self, m: Self, offset: Self) -> Self {
                self - m * <$t>::floor((self - offset) / m)
            }
            #[inline(always)]
            fn cmp_eq(self, o: Self) -> Self {
                Self::from_bool(self == o)
            }
            #[inline(always)]
            fn cmp_ne(self, o: Self) -> Self {
                Self::from_bool(self != o)
            }
            #[inline(always)]
            fn cmp_lt(self, o: Self) -> Self {
                Self::from_bool(self < o)
            }
            #[inline(always)]
            fn cmp_le(self, o: Self) -> Self {
                Self::from_bool(self <= o)
            }
            #[inline(always)]
            fn cmp_gt(self, o: Self) -> Self {
                Self::from_bool(self > o)
            }
            #[inline(always)]
            fn cmp_ge(self, o: Self) -> Self {
                Self::from_bool(self >= o)
            }
            #[inline(always)]
            fn inv(self) -> Self {
                1.0 / self
            }
            #[inline(always)]
            fn square(self) -> Self {
                self * self
            }
            #[inline(always)]
            fn sign(self) -> Self {
                if self > 0.0 {
                    1.0
                } else if self < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            #[inline(always)]
            fn step(self) -> Self {
                if self < 0.0 {
                    0.0
                } else {
                    1.0
                }
            }
            #[inline(always)]
            fn relu(self) -> Self {
                if self < 0.0 {
                    0.0
                } else {
                    self
                }
            }
            #[inline(always)]
            fn clamp_to(self, a: Self, b: Self) -> Self {
                if self < a {
                    a
                } else if self > b {
                    b
                } else {
                    self
                }
            }
            #[inline(always)]
            fn if_else(self, a: Self, b: Self) -> Self {
                if self >= 0.0 {
                    a
                } else {
                    b
                }
            }
        }
    };
}
impl_real!(f32, "f32", crate::simd::math::EXP_F32_LO);
impl_real!(f64, "f64", crate::simd::math::EXP_F64_LO);
