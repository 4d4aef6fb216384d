//! The memory a run needs, estimated before anything large is allocated, and what the machine
//! has: a run that cannot fit is refused with both numbers (exit code 4) instead of aborting on a
//! failed allocation, possibly after a long solve.
//!
//! Estimates are in f64 bytes, so that no size overflows: `--n 18446744073709551615` needs about
//! a zettabyte, which is refused like any other size too large.

use crate::cli::Precond;
use crate::Failure;

/// The bytes each part of a run needs (the parts are alive at once, near enough).
#[derive(Debug, Default, Clone, Copy)]
pub struct Need {
    /// Points, values and prediction points, as read and in the solve's precision.
    pub inputs: f64,
    /// The coefficients and the conjugate gradient's vectors.
    pub solver: f64,
    /// The preconditioner's stored columns and factors.
    pub preconditioner: f64,
    /// The prediction `K_tx a` and its `.npy` bytes.
    pub prediction: f64,
}

/// The parts of two runs alive at once.
impl std::ops::AddAssign for Need {
    fn add_assign(&mut self, other: Need) {
        self.inputs += other.inputs;
        self.solver += other.solver;
        self.preconditioner += other.preconditioner;
        self.prediction += other.prediction;
    }
}

impl Need {
    fn total(&self) -> f64 {
        self.inputs + self.solver + self.preconditioner + self.prediction
    }

    /// Refuses a run larger than the address space, or than the memory available (Linux:
    /// `MemAvailable` in `/proc/meminfo`; not checked elsewhere).
    pub fn check(&self) -> Result<(), Failure> {
        let total = self.total();
        let parts = format!(
            "inputs {}, solver {}, preconditioner {}, prediction {}",
            bytes(self.inputs),
            bytes(self.solver),
            bytes(self.preconditioner),
            bytes(self.prediction)
        );
        if total >= isize::MAX as f64 {
            return Err(Failure::Memory(format!(
                "this run would need about {} of memory ({parts}), more than a program can \
                 address: use fewer points, columns or prediction points",
                bytes(total)
            )));
        }
        match available() {
            Some(have) if total > have => Err(Failure::Memory(format!(
                "this run would need about {} of memory ({parts}) but {} is available: use \
                 fewer points, columns or prediction points",
                bytes(total),
                bytes(have)
            ))),
            _ => Ok(()),
        }
    }
}

/// The bytes available beyond what `need` counts (a hierarchical operator's budget); `None`
/// where the machine cannot say.
pub fn left(need: &Need) -> Option<usize> {
    available().map(|have| (have - need.total()).max(0.0) as usize)
}

/// The conjugate gradient's vectors for `n` points and `k` columns in a precision of `size`
/// bytes: six f64 blocks (b, x, r, z, p, Ap), three more for several columns, two operator
/// buffers in the data's precision, and the coefficients.
pub fn solver(n: usize, k: usize, size: usize) -> f64 {
    let blocks = if k > 1 { 9.0 } else { 6.0 };
    let nk = n as f64 * k as f64;
    nk * (blocks * 8.0 + 3.0 * size as f64)
}

/// The preconditioner for `n` points: Nyström keeps `m` f64 columns and two `m x m` factors
/// (`8 m (n + 2 m)`, at most its 256 MiB budget for an automatic rank) and two f64 vectors while
/// it chooses; Jacobi a diagonal.
pub fn preconditioner(how: Option<Precond>, rank: Option<usize>, n: usize) -> f64 {
    let n = n as f64;
    let nystrom = |m: f64| 8.0 * m * (n + 2.0 * m) + 16.0 * n;
    match (how, rank) {
        (Some(Precond::Off), _) => 0.0,
        (Some(Precond::Jacobi), _) => 8.0 * n,
        (_, Some(m)) => nystrom(m as f64),
        _ => {
            let m = n.min(2.0 * n.sqrt() + 100.0).min(1000.0);
            nystrom(m).min((256u64 << 20) as f64 + 16.0 * n)
        }
    }
}

/// `m x k` values of `size` bytes, and the bytes that write them (8 per value, as the writer
/// reserves them).
pub fn prediction(m: usize, k: usize, size: usize) -> f64 {
    m as f64 * k as f64 * (size as f64 + 8.0)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes; `None` where there is none.
fn available() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// `1.5 GiB`: bytes in binary units.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 9] = [
        "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB",
    ];
    let mut v = b;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b:.0} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
