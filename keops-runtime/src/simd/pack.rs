//! Packs of reals, one per output row of a block ([`Pack`]), and the dispatch that runs engine
//! work ([`LaneOp`]) at a SIMD level with the pack width of its instruction set.

use std::fmt;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use super::{math, SimdLevel};
use crate::{Num, Real};

/// Work the engine runs at a SIMD level: `run::<N, P>` with values `N` (a [`Pack`] of
/// `N::LANES` reals, or the real itself at the scalar level) and `P = BLOCK / N::LANES` of them
/// per block of output rows, inside a function compiled for the level's instruction set.
pub trait LaneOp<T: Real> {
    /// What the work returns.
    type Output;
    /// Must be `#[inline(always)]`, as everything it calls, for the instruction set to apply.
    fn run<N: Num<Elem = T>, const P: usize>(self) -> Self::Output;
}

/// What the SIMD path needs of a real beyond [`Num`]: the vectorisable versions of the
/// transcendental functions, and the dispatch to a pack width.
#[doc(hidden)]
pub trait LaneMath: Copy + Sized {
    fn lane_exp(self) -> Self;
    fn lane_ln(self) -> Self;
    /// Whether the polynomial `sin` / `cos` are accurate at this argument.
    fn lane_sin_cos_ok(self) -> bool;
    fn lane_sin(self) -> Self;
    fn lane_cos(self) -> Self;
    /// `self * b + c` with one rounding.
    fn lane_fma(self, b: Self, c: Self) -> Self;
    /// Runs `op` at `level` (with reals at the scalar level); `None`, without running it, at a
    /// level this CPU does not run.
    fn dispatch<Op: LaneOp<Self>>(level: SimdLevel, op: Op) -> Option<Op::Output>
    where
        Self: Real;
}

macro_rules! lane_math {
    ($t:ty, $exp:ident, $ln:ident, $sin:ident, $cos:ident, $max:ident, $w512:literal, $w256:literal, $w128:literal) => {
        impl LaneMath for $t {
            #[inline(always)]
            fn lane_exp(self) -> Self {
                math::$exp(self)
            }
            #[inline(always)]
            fn lane_ln(self) -> Self {
                math::$ln(self)
            }
            #[inline(always)]
            fn lane_sin_cos_ok(self) -> bool {
                // False for NaN and infinities, which std's functions then handle.
                self.abs() <= math::$max
            }
            #[inline(always)]
            fn lane_sin(self) -> Self {
                math::$sin(self)
            }
            #[inline(always)]
            fn lane_cos(self) -> Self {
                math::$cos(self)
            }
            #[inline(always)]
            fn lane_fma(self, b: Self, c: Self) -> Self {
                self.mul_add(b, c)
            }
            #[inline(always)]
            fn dispatch<Op: LaneOp<Self>>(level: SimdLevel, op: Op) -> Option<Op::Output> {
                type P<const W: usize> = Pack<$t, W>;
                const B: usize = crate::cpu::BLOCK;
                match level {
                    #[cfg(target_arch = "x86_64")]
                    SimdLevel::Avx512 => pulp::x86::V4::try_new().map(|simd| {
                        simd.vectorize(
                            #[inline(always)]
                            move || op.run::<P<$w512>, { B / $w512 }>(),
                        )
                    }),
                    #[cfg(target_arch = "x86_64")]
                    SimdLevel::Avx2 => pulp::x86::V3::try_new().map(|simd| {
                        simd.vectorize(
                            #[inline(always)]
                            move || op.run::<P<$w256>, { B / $w256 }>(),
                        )
                    }),
                    #[cfg(target_arch = "aarch64")]
                    SimdLevel::Neon => pulp::aarch64::Neon::try_new().map(|simd| {
                        simd.vectorize(
                            #[inline(always)]
                            move || op.run::<P<$w128>, { B / $w128 }>(),
                        )
                    }),
                    SimdLevel::Scalar => Some(op.run::<$t, B>()),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}
lane_math!(
    f32,
    exp_f32,
    ln_f32,
    sin_f32,
    cos_f32,
    SIN_COS_F32_MAX,
    16,
    8,
    4
);
lane_math!(
    f64,
    exp_f64,
    ln_f64,
    sin_f64,
    cos_f64,
    SIN_COS_F64_MAX,
    8,
    4,
    2
);

/// `W` reals, one per lane: the value of a formula node for `W` output rows.
#[derive(Clone, Copy, PartialEq)]
#[repr(transparent)]
pub struct Pack<T, const W: usize>(pub [T; W]);

impl<T: fmt::Debug, const W: usize> fmt::Debug for Pack<T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Real, const W: usize> Pack<T, W> {
    #[inline(always)]
    fn map(self, f: impl Fn(T) -> T) -> Self {
        let mut out = self.0;
        for o in out.iter_mut() {
            *o = f(*o);
        }
        Pack(out)
    }
    #[inline(always)]
    fn zip(self, b: Self, f: impl Fn(T, T) -> T) -> Self {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(b.0) {
            *o = f(*o, b);
        }
        Pack(out)
    }
    #[inline(always)]
    fn zip3(self, b: Self, c: Self, f: impl Fn(T, T, T) -> T) -> Self {
        let mut out = self.0;
        for (o, (b, c)) in out.iter_mut().zip(b.0.into_iter().zip(c.0)) {
            *o = f(*o, b, c);
        }
        Pack(out)
    }
}

macro_rules! pack_binop {
    ($tr:ident, $f:ident, $op:tt) => {
        impl<T: Real, const W: usize> $tr for Pack<T, W> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, b: Self) -> Self {
                self.zip(b, |x, y| x $op y)
            }
        }
    };
}
pack_binop!(Add, add, +);
pack_binop!(Sub, sub, -);
pack_binop!(Mul, mul, *);
pack_binop!(Div, div, /);

impl<T: Real, const W: usize> Neg for Pack<T, W> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.map(|x| -x)
    }
}

impl<T: Real, const W: usize> AddAssign for Pack<T, W> {
    #[inline(always)]
    fn add_assign(&mut self, b: Self) {
        *self = *self + b;
    }
}

/// Lane by lane with the scalar function of [`Num`].
macro_rules! per_lane {
    ($($f:ident),*) => {$(
        #[inline(always)]
        fn $f(self) -> Self {
            self.map(|x| Num::$f(x))
        }
    )*};
}
macro_rules! per_lane2 {
    ($($f:ident),*) => {$(
        #[inline(always)]
        fn $f(self, o: Self) -> Self {
            self.zip(o, |x, y| Num::$f(x, y))
        }
    )*};
}

impl<T: Real, const W: usize> Num for Pack<T, W> {
    type Elem = T;
    const LANES: usize = W;
    const ZERO: Self = Pack([T::ZERO; W]);
    const ONE: Self = Pack([T::ONE; W]);
    #[inline(always)]
    fn splat(x: T) -> Self {
        Pack([x; W])
    }
    #[inline(always)]
    fn from_lanes(mut f: impl FnMut(usize) -> T) -> Self {
        let mut out = [T::ZERO; W];
        for (l, o) in out.iter_mut().enumerate() {
            *o = f(l);
        }
        Pack(out)
    }
    #[inline(always)]
    fn lane(self, l: usize) -> T {
        self.0[l]
    }
    #[inline(always)]
    fn sum_lanes(self) -> T {
        let mut s = T::ZERO;
        for v in self.0 {
            s += v;
        }
        s
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        self.zip3(b, c, |x, y, z| x.lane_fma(y, z))
    }
    #[inline(always)]
    fn exp(self) -> Self {
        self.map(LaneMath::lane_exp)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        self.map(LaneMath::lane_ln)
    }
    #[inline(always)]
    fn sin(self) -> Self {
        if self.0.iter().all(|x| x.lane_sin_cos_ok()) {
            self.map(LaneMath::lane_sin)
        } else {
            self.map(|x| Num::sin(x))
        }
    }
    #[inline(always)]
    fn cos(self) -> Self {
        if self.0.iter().all(|x| x.lane_sin_cos_ok()) {
            self.map(LaneMath::lane_cos)
        } else {
            self.map(|x| Num::cos(x))
        }
    }
    #[inline(always)]
    fn powi(self, n: i32) -> Self {
        // Repeated squaring, as std's powi: vectorises where powi's call would not.
        let mut base = if n < 0 { Num::inv(self) } else { self };
        let mut e = n.unsigned_abs();
        let mut acc = Self::ONE;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * base;
            }
            base = base * base;
            e >>= 1;
        }
        acc
    }
    #[inline(always)]
    fn xlogx(self) -> Self {
        let l = Num::ln(self);
        self.zip(l, |x, l| if x == T::ZERO { T::ZERO } else { x * l })
    }
    #[inline(always)]
    fn sinxdivx(self) -> Self {
        let s = Num::sin(self);
        self.zip(s, |x, s| if x == T::ZERO { T::ONE } else { s / x })
    }
    per_lane!(sqrt, abs, asin, acos, atan, floor, round, rsqrt, inv, square, sign, step, relu);
    per_lane2!(
        powf,
        fmin,
        fmax,
        atan2,
        round_scaled,
        cmp_eq,
        cmp_ne,
        cmp_lt,
        cmp_le,
        cmp_gt,
        cmp_ge
    );
    #[inline(always)]
    fn modulo(self, m: Self, offset: Self) -> Self {
        self.zip3(m, offset, |x, m, o| Num::modulo(x, m, o))
    }
    #[inline(always)]
    fn clamp_to(self, a: Self, b: Self) -> Self {
        self.zip3(a, b, |x, a, b| Num::clamp_to(x, a, b))
    }
    #[inline(always)]
    fn if_else(self, a: Self, b: Self) -> Self {
        self.zip3(a, b, |x, a, b| Num::if_else(x, a, b))
    }
}
