//! The SIMD level the CPU engine runs at: detected once, overridable by `KEOPS_SIMD` or
//! [`set_simd_level`].

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{KeopsError, Real};

/// An instruction set the CPU engine can run its SIMD code with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimdLevel {
    /// One pair at a time, std's functions.
    Scalar,
    /// x86-64 AVX2 and FMA (256-bit vectors; pulp's `V3`).
    Avx2,
    /// x86-64 AVX-512 F/BW/CD/DQ/VL (512-bit vectors; pulp's `V4`).
    Avx512,
    /// AArch64 NEON (128-bit vectors).
    Neon,
}

impl SimdLevel {
    /// All levels, the widest last.
    pub const ALL: [SimdLevel; 4] = [
        SimdLevel::Scalar,
        SimdLevel::Neon,
        SimdLevel::Avx2,
        SimdLevel::Avx512,
    ];

    /// Whether this CPU can run the level.
    pub fn is_available(self) -> bool {
        match self {
            SimdLevel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => pulp::x86::V3::is_available(),
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => pulp::x86::V4::is_available(),
            #[cfg(target_arch = "aarch64")]
            SimdLevel::Neon => pulp::aarch64::Neon::is_available(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The widest level this CPU runs.
    pub fn detected() -> SimdLevel {
        Self::ALL
            .into_iter()
            .rev()
            .find(|l| l.is_available())
            .unwrap_or(SimdLevel::Scalar)
    }

    /// Its lowercase name, as `KEOPS_SIMD` takes it.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
            SimdLevel::Neon => "neon",
        }
    }

    /// Lanes of a pack of `T` at this level.
    pub fn lanes<T: Real>(self) -> usize {
        let bytes = match self {
            SimdLevel::Scalar => return 1,
            SimdLevel::Neon => 16,
            SimdLevel::Avx2 => 32,
            SimdLevel::Avx512 => 64,
        };
        bytes / std::mem::size_of::<T>()
    }

    fn from_name(s: &str) -> Option<SimdLevel> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }

    fn code(self) -> u8 {
        match self {
            SimdLevel::Scalar => 1,
            SimdLevel::Avx2 => 2,
            SimdLevel::Avx512 => 3,
            SimdLevel::Neon => 4,
        }
    }

    fn from_code(c: u8) -> SimdLevel {
        match c {
            2 => SimdLevel::Avx2,
            3 => SimdLevel::Avx512,
            4 => SimdLevel::Neon,
            _ => SimdLevel::Scalar,
        }
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The level in use (0: not chosen yet).
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level the CPU engine uses: the one set by [`set_simd_level`], else `KEOPS_SIMD`
/// (`scalar`, `avx2`, `avx512`, `neon`) when this CPU runs it, else the widest available.
pub fn simd_level() -> SimdLevel {
    match LEVEL.load(Ordering::Relaxed) {
        0 => {
            let level = initial_level();
            LEVEL.store(level.code(), Ordering::Relaxed);
            level
        }
        c => SimdLevel::from_code(c),
    }
}

fn initial_level() -> SimdLevel {
    let detected = SimdLevel::detected();
    let Ok(wanted) = std::env::var("KEOPS_SIMD") else {
        return detected;
    };
    match SimdLevel::from_name(wanted.trim()) {
        Some(l) if l.is_available() => l,
        _ => {
            log::warn!(
                "keops: KEOPS_SIMD={wanted:?} is not a level this CPU runs \
                 (scalar, avx2, avx512, neon); using {detected}"
            );
            detected
        }
    }
}

/// Makes the CPU engine use `level` from now on, in every thread (`None`: back to the default
/// of [`simd_level`]). Results agree across levels to rounding; this is for tests and benchmarks.
pub fn set_simd_level(level: Option<SimdLevel>) -> Result<(), KeopsError> {
    let level = match level {
        Some(l) if !l.is_available() => {
            return Err(KeopsError::SimdUnavailable { level: l.name() })
        }
        Some(l) => l,
        None => initial_level(),
    };
    LEVEL.store(level.code(), Ordering::Relaxed);
    Ok(())
}
