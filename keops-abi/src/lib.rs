//! The contract between keops' three parts: the `kernel!` macro (keops-formula), the build step
//! that compiles the generated CUDA (ptx-build) and the runtime that launches it (keops-runtime).
//! Every number and name that two of them must agree on is defined here, once:
//!
//! - [`MAX_DIM`]: the largest vector dimension of an operand;
//! - [`cpu`]: the CPU engine's row blocks and tiles, and the dimension arms the macro compiles;
//! - [`gpu`]: the kernel argument block ([`gpu::KernelArgs`], whose CUDA declaration
//!   [`gpu::cuda_header`] generates), its limits, thread and tile sizes, the GPU dimension arms
//!   and kernel names, the reductions' combining codes;
//! - [`formula_id`]: the name every kernel of a formula starts with, from its canonical text.
//!
//! ```
//! let id = keops_abi::formula_id("Kernel;x_i:i:Scalar;root=0");
//! assert!(id.starts_with("keops_") && id.len() == 6 + 16);
//! ```

pub mod cpu;
pub mod gpu;

/// Largest dimension a vector operand may have: vectors live on the stack (CPU) or in registers
/// and local arrays (GPU), in arrays of up to this size.
pub const MAX_DIM: usize = 1024;

/// The 64-bit FNV-1a hash, fed piece by piece: the formula ids, ptx-build's cache keys and the
/// tests' seeds all use it (one definition, so that ids computed by the macro and by the build
/// step agree).
///
/// ```
/// let mut h = keops_abi::Fnv1a::new();
/// h.write(b"a");
/// assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;

    /// The hash of nothing (FNV-1a's offset basis).
    pub const fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }

    /// Hashes `bytes` after what was written before.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    /// Hashes `bytes` and then a separator byte (0xff, which UTF-8 text never contains), so that
    /// a sequence of pieces hashes unambiguously ("ab", "c" differs from "a", "bc").
    pub fn write_piece(&mut self, bytes: &[u8]) {
        self.write(bytes);
        self.write(&[0xff]);
    }

    /// The hash so far.
    pub const fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// The 64-bit FNV-1a hash of `bytes`.
///
/// ```
/// assert_eq!(keops_abi::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::new();
    h.write(bytes);
    h.finish()
}

/// `keops_<16 hex digits>`: the FNV-1a hash of a formula's canonical text, the prefix of the names
/// of all its GPU kernels, of its C++ namespace and of its `.cu` / `.ptx` files. The macro and the
/// build step compute it from the same IR, so they agree.
pub fn formula_id(canonical: &str) -> String {
    format!("keops_{:016x}", fnv1a(canonical.as_bytes()))
}

/// Precisions a formula is compiled for, by their names in kernel names (`f32`, `f64`) and their
/// C++ types.
pub const PRECISIONS: [(&str, &str); 2] = [("f32", "float"), ("f64", "double")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn pieces_are_separated() {
        let hash = |pieces: &[&str]| {
            let mut h = Fnv1a::new();
            for p in pieces {
                h.write_piece(p.as_bytes());
            }
            h.finish()
        };
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_eq!(hash(&["ab", "c"]), hash(&["ab", "c"]));
    }

    #[test]
    fn formula_ids_are_fixed_width() {
        assert_eq!(formula_id(""), "keops_cbf29ce484222325");
        assert_eq!(formula_id("a").len(), 22);
    }
}
