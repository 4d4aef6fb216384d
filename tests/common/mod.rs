//! Small helpers shared by the integration tests: a deterministic random number generator and
//! tolerance-aware comparisons against dense f64 references.
#![allow(dead_code)]

/// The generated CUDA kernels run as host C++ (see the module).
pub mod gpu_host;

/// Random inputs, dense references and comparisons for the operation tests.
pub mod cases;

/// SplitMix64: a tiny, deterministic generator (same sequence on every platform and run).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator seeded by a name (FNV-1a hash) and a number, e.g. a test name and a size.
    pub fn named(name: &str, salt: u64) -> Self {
        Rng(keops_abi::fnv1a(name.as_bytes()) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `n` values uniform in `[lo, hi)`.
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }

    /// `n` values uniform in `[lo, hi)`, in precision `T`.
    pub fn reals<T: keops::Real>(&mut self, n: usize, lo: f64, hi: f64) -> Vec<T> {
        (0..n).map(|_| T::from_f64(self.range(lo, hi))).collect()
    }

    /// Log-uniform in `[10^lo, 10^hi)`.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        10f64.powf(self.range(lo, hi))
    }

    /// An integer uniform in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// `0..n` in consecutive clusters of random sizes up to `max` rows (some empty, some of one
    /// point), for block-sparse layouts.
    pub fn clusters(&mut self, n: usize, max: i64) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < n {
            let len = match self.int(0, 9) {
                0 => 0,
                1 => 1,
                _ => self.int(2, max) as usize,
            }
            .min(n - at);
            out.push(at..at + len);
            at += len;
        }
        out
    }
}

/// Checks `|got[k] - want[k]| <= tol * scale[k]` for every entry (NaN fails). `scale` is typically
/// the sum of the absolute values of the terms summed into `want[k]`, which makes the comparison
/// norm-wise: cancellation in a sum does not cause false failures. Returns a description of the
/// worst entries on failure.
pub fn check_close(got: &[f64], want: &[f64], scale: &[f64], tol: f64) -> Result<(), String> {
    if got.len() != want.len() || want.len() != scale.len() {
        return Err(format!(
            "length mismatch: got {} entries, want {} (scale {})",
            got.len(),
            want.len(),
            scale.len()
        ));
    }
    let mut bad = Vec::new();
    let mut worst = 0f64;
    for (k, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (g - w).abs();
        let allowed = tol * s;
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(err <= allowed) {
            if bad.len() < 5 {
                bad.push(format!(
                    "[{k}] got {g:e}, want {w:e} (|err| {err:e} > {allowed:e})"
                ));
            }
            worst = worst.max(if s > 0.0 { err / s } else { f64::INFINITY });
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "entries differ (worst |err|/scale {worst:e}, tol {tol:e}): {}",
            bad.join("; ")
        ))
    }
}

/// [`check_close`] that panics with `what` on failure.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], scale: &[f64], tol: f64) {
    if let Err(e) = check_close(got, want, scale, tol) {
        panic!("{what}: {e}");
    }
}
