//! Entrywise vector helpers the generated code calls. A vector of a dimension class is a stack array
//! `[T; C]` whose first `len.get()` entries are meaningful (the rest stay zero); with [`Fixed`] the
//! length is a constant and the loops unroll.

use crate::{Num, Real};

/// The run-time length of a vector class.
pub trait Len: Copy + Send + Sync + 'static {
    /// The number of meaningful entries.
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

/// A vector of zeros.
#[inline(always)]
pub fn zeros<T: Num, const C: usize>() -> [T; C] {
    [T::ZERO; C]
}

/// Rows `o0..o0 + N::LANES` of a row-major buffer of dimension 1, one per lane; rows past
/// `last` repeat row `last` (their lanes are computed and dropped).
#[inline(always)]
pub fn gather<N: Num>(data: &[N::Elem], o0: usize, last: usize) -> N {
    N::from_lanes(|l| data[(o0 + l).min(last)])
}

/// [`gather`] for a vector of dimension `len`: entry `k` of lane `l` is row `o0 + l`'s.
#[inline(always)]
pub fn gather_rows<N: Num, L: Len, const C: usize>(
    len: L,
    data: &[N::Elem],
    o0: usize,
    last: usize,
) -> [N; C] {
    let n = len.get();
    let mut out = [N::ZERO; C];
    for (k, o) in out.iter_mut().enumerate().take(n) {
        *o = N::from_lanes(|l| data[(o0 + l).min(last) * n + k]);
    }
    out
}

/// Row `r` of a row-major buffer of dimension `len`, each entry in every lane.
#[inline(always)]
pub fn load_splat<N: Num, L: Len, const C: usize>(len: L, data: &[N::Elem], r: usize) -> [N; C] {
    let n = len.get();
    let mut out = [N::ZERO; C];
    for (o, &x) in out.iter_mut().zip(&data[r * n..r * n + n]) {
        *o = N::splat(x);
    }
    out
}

/// [`load_param`] in every lane.
#[inline(always)]
pub fn load_param_splat<N: Num, L: Len, const C: usize>(len: L, values: &[N::Elem]) -> [N; C] {
    if values.len() == 1 {
        splat(len, N::splat(values[0]))
    } else {
        load_splat(len, values, 0)
    }
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

/// `s` in the first `len` entries.
#[inline(always)]
pub fn splat<T: Num, L: Len, const C: usize>(len: L, s: T) -> [T; C] {
    let mut out = [T::ZERO; C];
    for o in out.iter_mut().take(len.get()) {
        *o = s;
    }
    out
}

/// `f` of each meaningful entry.
#[inline(always)]
pub fn map1<T: Num, L: Len, const C: usize>(len: L, a: [T; C], f: impl Fn(T) -> T) -> [T; C] {
    let mut out = [T::ZERO; C];
    for (o, a) in out.iter_mut().zip(a.iter()).take(len.get()) {
        *o = f(*a);
    }
    out
}

/// `f` of each pair of meaningful entries.
#[inline(always)]
pub fn map2<T: Num, L: Len, const C: usize>(
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

/// `f` of each triple of meaningful entries.
#[inline(always)]
pub fn map3<T: Num, L: Len, const C: usize>(
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
pub fn sum<T: Num, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    let mut s = T::ZERO;
    for a in a.iter().take(len.get()) {
        s += *a;
    }
    s
}

/// Scalar product `(a | b)`.
#[inline(always)]
pub fn dot<T: Num, L: Len, const C: usize>(len: L, a: [T; C], b: [T; C]) -> T {
    let mut s = T::ZERO;
    for (a, b) in a.iter().zip(b.iter()).take(len.get()) {
        s += *a * *b;
    }
    s
}

/// Squared norm `(a | a)`.
#[inline(always)]
pub fn sqnorm<T: Num, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    dot(len, a, a)
}

/// Squared distance `|a - b|^2`.
#[inline(always)]
pub fn sqdist<T: Num, L: Len, const C: usize>(len: L, a: [T; C], b: [T; C]) -> T {
    let mut s = T::ZERO;
    for (a, b) in a.iter().zip(b.iter()).take(len.get()) {
        let d = *a - *b;
        s += d * d;
    }
    s
}

/// `a` scaled by `rsqrt(|a|^2)` (KeOps' Normalize; 0 at 0, as `rsqrt(0) = 0` in KeOps).
#[inline(always)]
pub fn normalize<T: Num, L: Len, const C: usize>(len: L, a: [T; C]) -> [T; C] {
    let r = sqnorm(len, a).rsqrt();
    map1(len, a, |x| x * r)
}

/// The entries of `a` (length `la`) followed by those of `b`.
#[inline(always)]
pub fn concat<T: Num, const C: usize>(a: &[T], b: &[T]) -> [T; C] {
    let mut out = [T::ZERO; C];
    out[..a.len()].copy_from_slice(a);
    out[a.len()..a.len() + b.len()].copy_from_slice(b);
    out
}

/// The meaningful entries of a vector.
#[inline(always)]
pub fn head<T: Num, L: Len, const C: usize>(len: L, a: &[T; C]) -> &[T] {
    &a[..len.get()]
}

/// For gradients of `kmin_j(F, K)`: entry `d` of the result is `sum_q e[q*D + d] * (a[q*D + d] == j)`
/// (`D = len`): the cotangent of the `q`-th smallest value goes to the pair whose index `a` holds.
#[inline(always)]
pub fn kmask<T: Real, L: Len, const C: usize, const K: usize>(
    len: L,
    e: &[T],
    a: &[T],
    j: T,
) -> [T; C] {
    let d = len.get();
    let mut out = [T::ZERO; C];
    for (k, o) in out.iter_mut().enumerate().take(d) {
        for q in 0..K {
            if a[q * d + k] == j {
                *o += e[q * d + k];
            }
        }
    }
    out
}

/// [`kmask`] for a scalar `F`.
#[inline(always)]
pub fn kmask_scalar<T: Real, const K: usize>(e: &[T], a: &[T], j: T) -> T {
    let mut s = T::ZERO;
    for q in 0..K {
        if a[q] == j {
            s += e[q];
        }
    }
    s
}

/// KeOps' Min(f): from entry 0 on, an entry replaces the minimum when strictly smaller (a NaN at
/// entry 0 stays, later NaNs are skipped, as in KeOps' loop).
#[inline(always)]
pub fn vmin<T: Real, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    let mut m = a[0];
    for &v in a.iter().take(len.get()).skip(1) {
        if v < m {
            m = v;
        }
    }
    m
}

/// KeOps' Max(f), as [`vmin`].
#[inline(always)]
pub fn vmax<T: Real, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    let mut m = a[0];
    for &v in a.iter().take(len.get()).skip(1) {
        if v > m {
            m = v;
        }
    }
    m
}

/// KeOps' ArgMin(f): the index of [`vmin`]'s entry (the first among ties), as a real.
#[inline(always)]
pub fn vargmin<T: Real, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    let (mut m, mut k) = (a[0], 0);
    for (i, &v) in a.iter().enumerate().take(len.get()).skip(1) {
        if v < m {
            (m, k) = (v, i);
        }
    }
    T::from_f64(k as f64)
}

/// KeOps' ArgMax(f), as [`vargmin`].
#[inline(always)]
pub fn vargmax<T: Real, L: Len, const C: usize>(len: L, a: [T; C]) -> T {
    let (mut m, mut k) = (a[0], 0);
    for (i, &v) in a.iter().enumerate().take(len.get()).skip(1) {
        if v > m {
            (m, k) = (v, i);
        }
    }
    T::from_f64(k as f64)
}

/// KeOps' OneHot(x, D), `D = len`: 1 at index `trunc(x + 0.5)` (the sum in `T`), zeros elsewhere;
/// all zeros when that index is not in `0..D` or `x` is NaN (KeOps writes out of bounds there).
#[inline(always)]
pub fn onehot<T: Real, L: Len, const C: usize>(len: L, x: T) -> [T; C] {
    let d = len.get();
    let mut out = [T::ZERO; C];
    let v = x + T::from_f64(0.5);
    if v > T::from_f64(-1.0) && v < T::from_f64(d as f64) {
        // In (-1, d): truncation toward zero gives 0..d.
        out[v.to_f64() as usize] = T::ONE;
    }
    out
}

/// KeOps' Extract: `len` entries of `a` from `start`, or its last `len` entries when `start` is
/// `None`.
#[inline(always)]
pub fn extract<T: Num, L: Len, const C: usize>(len: L, a: &[T], start: Option<usize>) -> [T; C] {
    let d = len.get();
    let s = start.unwrap_or(a.len() - d);
    let mut out = [T::ZERO; C];
    out[..d].copy_from_slice(&a[s..s + d]);
    out
}

/// KeOps' ExtractT: a vector of dimension `len`, zero except `a` placed at `start`, or at its end
/// when `start` is `None`.
#[inline(always)]
pub fn extract_t<T: Num, L: Len, const C: usize>(len: L, a: &[T], start: Option<usize>) -> [T; C] {
    let s = start.unwrap_or(len.get() - a.len());
    let mut out = [T::ZERO; C];
    out[s..s + a.len()].copy_from_slice(a);
    out
}
