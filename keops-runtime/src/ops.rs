//! Entrywise vector helpers the generated code calls. A vector of a dimension class is a stack array
//! `[T; C]` whose first `len.get()` entries are meaningful (the rest stay zero); with [`Fixed`] the
//! length is a constant and the loops unroll.

use crate::Real;

/// The run-time length of a vector class.
pub trait Len: Copy + Send + Sync + 'static {
    fn get(self) -> usize;
}

/// A length known at compile time: the generated code is monomorphised for it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fixed<const N: usize>;
impl<const N: usize> Len for Fixed<N> {
    #[inline(always)]
    fn get(self) -> usize {
        N
    }
}

/// A length known at run time, at most the array's capacity.
#[derive(Clone, Copy, Debug)]
pub struct Upto(pub usize);
impl Len for Upto {
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }
}

#[inline(always)]
pub fn zeros<T: Real, const C: usize>() -> [T; C] {
    [T::ZERO; C]
}

/// Row `r` of a row-major buffer of dimension `len`, as a vector.
#[inline(always)]
pub fn load<T: Real, L: Len, const C: usize>(len: L, data: &[T], r: usize) -> [T; C] {
    let n = len.get();
    let mut out = [T::ZERO; C];
    out[..n].copy_from_slice(&data[r * n..r * n + n]);
    out
}

/// A parameter as a vector: its values, or its one value broadcast.
#[inline(always)]
pub fn load_param<T: Real, L: Len, const C: usize>(len: L, values: &[T]) -> [T; C] {
    if values.len() == 1 {
        splat(len, values[0])
    } else {
        load(len, values, 0)
    }
}

#[inline(always)]
pub fn splat<T: Real, L: Len, const C: usize>(len: L, s: T) -> [T; C] {
    let mut out = [T::ZERO; C];
    for o in out.iter_mut().take(len.get()) {
        *o = s;
    }
    out
}

#[inline(always)]
pub fn map1<T: Real, L: Len, const C: usize>(len: L, a: [T; C], f: impl Fn(T) -> T) -> [T; C] {
    let mut out = [T::ZERO; C];
    for (o, a) in out.iter_mut().zip(a.iter()).take(len.get()) {
        *o = f(*a);
    }
    out
}

#[inline(always)]
pub fn map2<T: Real, L: Len, const C: usize>(
    len: L,
    a: [T; C],
    b: [T; C],
    f: impl Fn(T, T) -> T,
) -> [T; C] {
    let mut out = [T::ZERO; C];
    for ((o, a), b) in out.iter_mut().zip(a.iter()).zip(b.iter()).take(len.get()) {
        *o = f(*a, *b);
    }
    out
}

#[inline(always)]
pub fn map3<T: Real, L: Len, const C: usize>(
    len: L,
    a: [T; C],
    b: [T; C],
    c: [T; C],
    f: impl Fn(T, T, T) -> T,
) -> [T; C] {
    let mut out = [T::ZERO; C];
    for (((o, a), b), c) in out
        .iter_mut()
        .zip(a.iter())
        .zip(b.iter())
        .zip(c.iter())
        .take(len.get())
    {
        *o = f(*a, *b, *c);
    }
    out
}

/// Sum of the entries.
#[inline(always)]
pub fn sum<T: Real, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    let mut s = T::ZERO;
    for a in a.iter().take(len.get()) {
        s += *a;
    }
    s
}

/// Scalar product `(a | b)`.
#[inline(always)]
pub fn dot<T: Real, L: Len, const C: usize>(len: L, a: [T; C], b: [T; C]) -> T {
    let mut s = T::ZERO;
    for (a, b) in a.iter().zip(b.iter()).take(len.get()) {
        s += *a * *b;
    }
    s
}

/// Squared norm `(a | a)`.
#[inline(always)]
pub fn sqnorm<T: Real, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    dot(len, a, a)
}

/// Squared distance `|a - b|^2`.
#[inline(always)]
pub fn sqdist<T: Real, L: Len, const C: usize>(len: L, a: [T; C], b: [T; C]) -> T {
    let mut s = T::ZERO;
    for (a, b) in a.iter().zip(b.iter()).take(len.get()) {
        let d = *a - *b;
        s += d * d;
    }
    s
}

/// `a` scaled by `rsqrt(|a|^2)` (KeOps' Normalize; 0 at 0, as `rsqrt(0) = 0` in KeOps).
#[inline(always)]
pub fn normalize<T: Real, L: Len, const C: usize>(len: L, a: [T; C]) -> [T; C] {
    let r = sqnorm(len, a).rsqrt();
    map1(len, a, |x| x * r)
}

/// The entries of `a` (length `la`) followed by those of `b`.
#[inline(always)]
pub fn concat<T: Real, const C: usize>(a: &[T], b: &[T]) -> [T; C] {
    let mut out = [T::ZERO; C];
    out[..a.len()].copy_from_slice(a);
    out[a.len()..a.len() + b.len()].copy_from_slice(b);
    out
}

/// The meaningful entries of a vector.
#[inline(always)]
pub fn head<T: Real, L: Len, const C: usize>(len: L, a: &[T; C]) -> &[T] {
    &a[..len.get()]
}
