//! The GPU contract: the argument block every generated kernel receives ([`KernelArgs`], declared
//! for CUDA by [`cuda_header`]) and the blocks of a block-sparse launch ([`SparseBlock`]), their
//! limits, threads and tiles, the dimension arms a formula is compiled for and the kernel names
//! they give, the prelude's formula-independent kernels, and the reductions' combining codes.

use std::fmt::Write;

/// Threads per block of every reduction kernel (`__launch_bounds__`) and of the combining passes.
pub const THREADS: u32 = 256;

/// Threads per block of the device conjugate gradient's vector kernels (the size of their
/// shared-memory reduction tree).
pub const CG_THREADS: u32 = 256;

/// Reduction rows per shared-memory tile, at most.
pub const MAX_TILE: usize = 256;

/// Dynamic shared memory a launch may use (the default limit without opting in).
pub const SHARED_BYTES: usize = 48 * 1024;

/// Terms a thread sums in the data's precision before adding them to its f64 accumulator: the
/// rounding error of an f32 sum grows with the number of terms, so short groups keep products
/// accurate to a few 1e-7.
pub const GROUP: usize = 32;

/// Matvec kernels are compiled for 1 and for up to 8 columns of `v` per launch.
pub const MATVEC_COLUMNS: [usize; 2] = [1, 8];

/// Largest dimension a GPU kernel is compiled for (the largest bucket); larger dimensions run on
/// the CPU engine.
pub const MAX_DIM: usize = 256;

/// Variables a kernel can read ([`KernelArgs::vars`]).
pub const MAX_VARS: usize = 16;
/// Parameters a kernel can read ([`KernelArgs::params`]).
pub const MAX_PARAMS: usize = 16;
/// Run-time dimensions a kernel receives ([`KernelArgs::dims`]): one per run-time dimension class
/// that selects an arm (a slot).
pub const MAX_SLOTS: usize = 16;

/// Directory below a crate's `OUT_DIR` where ptx-build writes `<formula id>.cu` and `.ptx`, and
/// where the macro looks for the PTX to embed.
pub const PTX_DIR: &str = "keops-cuda";

/// Whether [`KernelArgs`] can carry this many variables, parameters and run-time dimensions; a
/// formula with more gets no GPU kernel (it runs on the CPU).
pub fn fits_kernel_args(vars: usize, params: usize, slots: usize) -> bool {
    vars <= MAX_VARS && params <= MAX_PARAMS && slots <= MAX_SLOTS
}

/// A `#[repr(C)]` struct of the contract and its C++ declaration: the Rust struct and, in
/// `$table`, its C++ name, size and each field's name, C++ declaration and byte offset (from one
/// list, so that [`cuda_header`] declares exactly the Rust layout).
macro_rules! abi_struct {
    ($(#[$sdoc:meta])* $name:ident as $cname:literal in $table:ident {
        $($(#[$doc:meta])* $field:ident: $ty:ty => $c:literal,)*
    }) => {
        $(#[$sdoc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$doc])* pub $field: $ty,)*
        }

        const $table: CStruct = CStruct {
            name: $cname,
            rust: stringify!($name),
            size: std::mem::size_of::<$name>(),
            fields: &[$((stringify!($field), $c, std::mem::offset_of!($name, $field)),)*],
        };
    };
}

/// A struct of the contract as [`cuda_header`] declares it.
struct CStruct {
    /// Its C++ name.
    name: &'static str,
    /// Its Rust name.
    rust: &'static str,
    /// Its size in bytes.
    size: usize,
    /// Each field: its name, its C++ declaration and its byte offset.
    fields: &'static [(&'static str, &'static str, usize)],
}

abi_struct! {
    /// The argument block of every generated kernel (CUDA `KeopsArgs`), passed by value.
    /// Pointers are device addresses (host addresses under host emulation); arrays are
    /// indexed in the formula's order of variables, parameters and run-time dimension slots.
    KernelArgs as "KeopsArgs" in ARGS {
        /// `(rows, dim)` row-major data, one per formula variable.
        vars: [u64; MAX_VARS] => "const void* vars[KEOPS_MAX_VARS]",
        /// `dim` entries each, one per parameter.
        params: [u64; MAX_PARAMS] => "const void* params[KEOPS_MAX_PARAMS]",
        /// Matvec operand, `(n_red, nv)` row-major.
        v: u64 => "const void* v",
        /// `(n_out, out_stride)` row-major, written when `gridDim.y == 1`.
        out: u64 => "void* out",
        /// f64 states `(gridDim.y, n_out, width)` of a split reduction.
        partial: u64 => "double* partial",
        /// Output rows (threads along x).
        n_out: i64 => "long long n_out",
        /// Rows of the reduction index.
        n_red: i64 => "long long n_red",
        /// Reduction rows per `blockIdx.y`.
        red_chunk: i64 => "long long red_chunk",
        /// Dimension of each run-time slot.
        dims: [i32; MAX_SLOTS] => "int dims[KEOPS_MAX_SLOTS]",
        /// Reduction rows per shared-memory tile.
        tile: i32 => "int tile",
        /// Matvec: columns of `v` (the output's row stride).
        nv: i32 => "int nv",
        /// Matvec: first column of `v` this launch computes.
        col0: i32 => "int col0",
        /// Matvec: columns this launch computes (at most its kernel's column capacity).
        nvc: i32 => "int nvc",
        /// Indices of an arg reduction, `(n_out, out_dim)` int64, written when the kernel
        /// finishes its rows itself (a single block along the reduction index).
        out_idx: u64 => "long long* out_idx",
        /// A block-sparse launch (KeOps' ranges; the same kernels as a dense one): one
        /// [`SparseBlock`] per `blockIdx.x`, together covering the output rows exactly once
        /// (`gridDim.y == 1`); 0 (null, not read) for a dense launch.
        blocks: u64 => "const KeopsBlock* blocks",
        /// A block-sparse launch: the ranges of the reduction index that the blocks' spans
        /// index, `(start, end)` pairs of int64 (KeOps' `redranges`).
        ranges: u64 => "const long long* ranges",
    }
}

abi_struct! {
    /// One block of a block-sparse launch (CUDA `KeopsBlock`, [`KernelArgs::blocks`]): at most
    /// [`THREADS`] consecutive output rows that visit the same ranges of the reduction index
    /// (a slice of one cluster of rows, or of consecutive clusters with equal ranges; rows in no
    /// cluster have none, and get the reduction's neutral element).
    SparseBlock as "KeopsBlock" in BLOCK {
        /// Its first output row.
        row0: i64 => "long long row0",
        /// The end of its rows (exclusive): `row1 - row0 <= THREADS`.
        row1: i64 => "long long row1",
        /// Its first range in [`KernelArgs::ranges`] (counted in pairs).
        range0: i64 => "long long range0",
        /// The end of its ranges (exclusive; equal to `range0` for none).
        range1: i64 => "long long range1",
    }
}

/// What a formula's kernel reduces, as the runtime tells it: it decides the outputs (values in
/// `T`, indices in int64 on the device), the f64 state a block leaves in the split-j partial
/// buffer, and the pass that combines those states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReduceKind {
    /// `sum_j` (and a kernel matrix's products).
    #[default]
    Sum,
    /// `min_j`.
    Min,
    /// `max_j`.
    Max,
    /// `argmin_j`.
    ArgMin,
    /// `argmax_j`.
    ArgMax,
    /// `min_argmin_j`.
    MinArgMin,
    /// `max_argmax_j`.
    MaxArgMax,
    /// `kmin_j(F, K)`.
    KMin(usize),
    /// `argkmin_j(F, K)`.
    ArgKMin(usize),
    /// `kmin_argkmin_j(F, K)`.
    KMinArgKMin(usize),
    /// `logsumexp_j(F)`.
    LogSumExp,
    /// `logsumexp_j(F, W)`.
    LogSumExpWeight,
    /// `sumsoftmaxweight_j(F, V)`.
    SumSoftMaxWeight,
}

/// How the split-j states of a reduction are combined: the `kind` argument of the prelude's
/// `keops_combine_red_<T>` (`KEOPS_COMBINE_*` in [`cuda_header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Combine {
    /// Partial sums added (`keops_combine_<T>`, not `keops_combine_red_<T>`).
    Sum = 0,
    /// `(value, index)` pairs, the smaller value wins (the earlier part on ties).
    Min = 1,
    /// `(value, index)` pairs, the larger value wins.
    Max = 2,
    /// K sorted `(value, index)` pairs per entry, merged.
    KMin = 3,
    /// `[m][s d]`: running maximum and rescaled sums.
    LogSumExp = 4,
    /// `[m][s0][s d]`: as log-sum-exp, with the sum of the weights.
    SoftMax = 5,
}

impl Combine {
    /// Every code, with its C++ name.
    pub const ALL: [(Combine, &'static str); 6] = [
        (Combine::Sum, "KEOPS_COMBINE_SUM"),
        (Combine::Min, "KEOPS_COMBINE_MIN"),
        (Combine::Max, "KEOPS_COMBINE_MAX"),
        (Combine::KMin, "KEOPS_COMBINE_KMIN"),
        (Combine::LogSumExp, "KEOPS_COMBINE_LOGSUMEXP"),
        (Combine::SoftMax, "KEOPS_COMBINE_SOFTMAX"),
    ];
}

impl ReduceKind {
    /// Whether the result holds values.
    pub fn values(self) -> bool {
        !matches!(
            self,
            ReduceKind::ArgMin | ReduceKind::ArgMax | ReduceKind::ArgKMin(_)
        )
    }

    /// Whether the result holds indices.
    pub fn indices(self) -> bool {
        matches!(
            self,
            ReduceKind::ArgMin
                | ReduceKind::ArgMax
                | ReduceKind::MinArgMin
                | ReduceKind::MaxArgMax
                | ReduceKind::ArgKMin(_)
                | ReduceKind::KMinArgKMin(_)
        )
    }

    /// K of the k-min family, else 1.
    pub fn k(self) -> usize {
        match self {
            ReduceKind::KMin(k) | ReduceKind::ArgKMin(k) | ReduceKind::KMinArgKMin(k) => k,
            _ => 1,
        }
    }

    /// How its split-j states are combined.
    pub fn combine(self) -> Combine {
        match self {
            ReduceKind::Sum => Combine::Sum,
            ReduceKind::Min | ReduceKind::ArgMin | ReduceKind::MinArgMin => Combine::Min,
            ReduceKind::Max | ReduceKind::ArgMax | ReduceKind::MaxArgMax => Combine::Max,
            ReduceKind::KMin(_) | ReduceKind::ArgKMin(_) | ReduceKind::KMinArgKMin(_) => {
                Combine::KMin
            }
            ReduceKind::LogSumExp | ReduceKind::LogSumExpWeight => Combine::LogSumExp,
            ReduceKind::SumSoftMaxWeight => Combine::SoftMax,
        }
    }

    /// f64 entries of one output row's state in the partial buffer, for entries of dimension
    /// `d` (the formula's, or the weight's for the log-sum-exp family): `d` sums; `(value,
    /// index)` as `[values d][indices d]`; K of those for the k-min family; `[m][s d]`, and
    /// `[m][s0][s d]` for the soft-max.
    pub fn partial_width(self, d: usize) -> usize {
        match self.combine() {
            Combine::Sum => d,
            Combine::Min | Combine::Max => 2 * d,
            Combine::KMin => 2 * self.k() * d,
            Combine::LogSumExp => 1 + d,
            Combine::SoftMax => 2 + d,
        }
    }

    /// The k-min family keeps its sorted buffers in the partial buffer, whatever the split: it
    /// always has one and always runs the combining pass (which writes the outputs).
    pub fn always_partial(self) -> bool {
        self.combine() == Combine::KMin
    }
}

/// One GPU arm: per run-time slot, `(capacity, exact)`: exactly `capacity`, or up to it.
pub type Arm = Vec<(usize, bool)>;

/// The arms compiled for the `s`-th run-time slot: exact dimensions (loops fully unrolled, vectors
/// in registers), then the capacities of buckets, the last one [`MAX_DIM`].
pub fn arms(s: usize) -> (&'static [usize], &'static [usize]) {
    match s {
        0 => (&[1, 2, 3, 4], &[16, MAX_DIM]),
        1 => (&[1, 2, 3], &[MAX_DIM]),
        _ => (&[], &[MAX_DIM]),
    }
}

/// Every arm of a formula with `slots` run-time slots.
pub fn all_arms(slots: usize) -> Vec<Arm> {
    let mut all: Vec<Arm> = vec![Vec::new()];
    for s in 0..slots {
        let (exact, buckets) = arms(s);
        let choices: Vec<(usize, bool)> = (exact.iter().map(|&n| (n, true)))
            .chain(buckets.iter().map(|&c| (c, false)))
            .collect();
        all = all
            .into_iter()
            .flat_map(|a| {
                choices.iter().map(move |&c| {
                    let mut a = a.clone();
                    a.push(c);
                    a
                })
            })
            .collect();
    }
    all
}

/// The arm for run-time dimensions `dims` (one per slot), or `None` when one exceeds [`MAX_DIM`].
pub fn arm_for(dims: &[usize]) -> Option<Arm> {
    dims.iter()
        .enumerate()
        .map(|(s, &d)| {
            let (exact, buckets) = arms(s);
            if exact.contains(&d) {
                Some((d, true))
            } else {
                buckets.iter().find(|&&c| d <= c).map(|&c| (c, false))
            }
        })
        .collect()
}

/// The name part of an arm: `e3` for exactly 3, `u16` for up to 16, joined by `_`; `fixed` when
/// the formula has no run-time dimension.
pub fn arm_name(arm: &[(usize, bool)]) -> String {
    if arm.is_empty() {
        return "fixed".into();
    }
    let parts: Vec<String> = (arm.iter())
        .map(|&(n, exact)| format!("{}{n}", if exact { 'e' } else { 'u' }))
        .collect();
    parts.join("_")
}

/// What a kernel computes per output row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    /// A reduction (`sum_j`, `min_j`...).
    Reduce,
    /// Kernel matrix times `v`, with at most this many columns of `v` per launch (one of
    /// [`MATVEC_COLUMNS`]).
    Matvec(usize),
}

impl KernelKind {
    /// The kind's part of a kernel name: `red`, `mv1`, `mv8`.
    pub fn tag(self) -> String {
        match self {
            KernelKind::Reduce => "red".into(),
            KernelKind::Matvec(c) => format!("mv{c}"),
        }
    }

    /// The kinds of kernel a kernel matrix (`matvec`) or a reduction gets.
    pub fn all(matvec: bool) -> Vec<KernelKind> {
        if matvec {
            MATVEC_COLUMNS.map(KernelKind::Matvec).to_vec()
        } else {
            vec![KernelKind::Reduce]
        }
    }
}

/// Full name of one kernel: `<formula id>_<kind>_<f32|f64>_<arm>`. Dense and block-sparse
/// launches ([`KernelArgs::blocks`]) run the same kernel.
///
/// ```
/// use keops_abi::gpu::{arm_name, kernel_name, KernelKind};
/// let arm = arm_name(&[(3, true), (256, false)]);
/// assert_eq!(kernel_name("keops_0", KernelKind::Matvec(8), "f32", &arm), "keops_0_mv8_f32_e3_u256");
/// assert_eq!(kernel_name("keops_0", KernelKind::Reduce, "f64", "e1"), "keops_0_red_f64_e1");
/// ```
pub fn kernel_name(id: &str, kind: KernelKind, real: &str, arm: &str) -> String {
    format!("{id}_{}_{real}_{arm}", kind.tag())
}

/// The prelude's formula-independent kernels: the split-j combining passes and the device
/// conjugate gradient's vector operations, by name without precision suffix, and whether they
/// have one per precision (`<name>_f32`, `<name>_f64`).
pub mod prelude {
    /// Adds split-j partial sums.
    pub const COMBINE: &str = "keops_combine";
    /// Combines split-j states of the other reductions and writes their outputs.
    pub const COMBINE_RED: &str = "keops_combine_red";
    /// Device CG: rounds the direction to the data's precision.
    pub const CG_ROUND: &str = "keops_cg_round";
    /// Device CG: `ap = alpha p + K p` and the curvature.
    pub const CG_CURV: &str = "keops_cg_curv";
    /// Device CG: the true residual.
    pub const CG_RESID: &str = "keops_cg_resid";
    /// Device CG: the step along the direction (f64 only).
    pub const CG_STEP: &str = "keops_cg_step";
    /// Device CG: the next direction (f64 only).
    pub const CG_DIRECTION: &str = "keops_cg_direction";

    /// Every prelude kernel and whether it has a version per precision.
    pub const KERNELS: [(&str, bool); 7] = [
        (COMBINE, true),
        (COMBINE_RED, true),
        (CG_ROUND, true),
        (CG_CURV, true),
        (CG_RESID, true),
        (CG_STEP, false),
        (CG_DIRECTION, false),
    ];

    /// The name of `kernel`'s version for precision `real` (`f32`, `f64`).
    pub fn typed(kernel: &str, real: &str) -> String {
        format!("{kernel}_{real}")
    }

    /// Every prelude kernel's full name (both precisions where there are two).
    pub fn names() -> Vec<String> {
        let mut names = Vec::new();
        for (k, typed_) in KERNELS {
            if typed_ {
                names.extend(crate::PRECISIONS.iter().map(|(r, _)| typed(k, r)));
            } else {
                names.push(k.to_string());
            }
        }
        names
    }
}

/// The C++ that declares this contract for the CUDA prelude (and its host emulation): the
/// limits, thread counts and combining codes as macros, the `KeopsBlock` and `KeopsArgs` structs
/// field for field, and `static_assert`s of their sizes and offsets against [`SparseBlock`]'s and
/// [`KernelArgs`]'s (so that nvcc, NVRTC and the host compiler reject a module whose layout
/// differs from the runtime's).
pub fn cuda_header() -> String {
    let mut s = String::from(
        "// Generated from keops-abi (keops_abi::gpu::cuda_header): the contract between the\n\
         // generated kernels and the runtime. Do not edit.\n",
    );
    let defines = [
        ("KEOPS_MAX_VARS", MAX_VARS.to_string()),
        ("KEOPS_MAX_PARAMS", MAX_PARAMS.to_string()),
        ("KEOPS_MAX_SLOTS", MAX_SLOTS.to_string()),
        ("KEOPS_THREADS", THREADS.to_string()),
        ("KEOPS_CG_THREADS", CG_THREADS.to_string()),
        ("KEOPS_GROUP", GROUP.to_string()),
    ];
    for (name, value) in defines {
        let _ = writeln!(s, "#define {name} {value}");
    }
    for (code, name) in Combine::ALL {
        let _ = writeln!(s, "#define {name} {}", code as i32);
    }
    // The block of a sparse launch first: KeopsArgs points to it.
    for st in [BLOCK, ARGS] {
        let _ = writeln!(s, "struct {} {{", st.name);
        for (name, c, _) in st.fields {
            let _ = writeln!(s, "    {c}; // {name}");
        }
        s += "};\n";
        let (c, rust) = (st.name, st.rust);
        let _ = writeln!(
            s,
            "static_assert(sizeof({c}) == {}, \"{c}: size differs from keops-abi's {rust}\");",
            st.size
        );
        for (name, _, offset) in st.fields {
            let _ = writeln!(
                s,
                "static_assert(__builtin_offsetof({c}, {name}) == {offset}, \"{c}::{name}: offset differs from keops-abi's {rust}\");"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_declared_once_in_order() {
        let names: Vec<&str> = ARGS.fields.iter().map(|f| f.0).collect();
        assert_eq!(names.first(), Some(&"vars"));
        assert_eq!(names.last(), Some(&"ranges"));
        let header = cuda_header();
        for st in [ARGS, BLOCK] {
            assert!(st.fields.windows(2).all(|w| w[0].2 < w[1].2));
            for (name, c, _) in st.fields {
                assert!(c.ends_with(name) || c.contains(&format!("{name}[")), "{c}");
                assert_eq!(header.matches(&format!("{c};")).count(), 1);
            }
            assert!(header.contains(&format!("struct {} {{", st.name)));
        }
        // KeopsArgs points to KeopsBlock: declared first.
        assert!(
            header.find("struct KeopsBlock").unwrap() < header.find("struct KeopsArgs").unwrap()
        );
        // No padding: the runtime passes the bytes as they are.
        assert_eq!(std::mem::size_of::<KernelArgs>(), 408);
        assert_eq!(std::mem::size_of::<SparseBlock>(), 32);
    }

    #[test]
    fn arms_cover_every_dimension_up_to_the_largest_bucket() {
        for slots in 0..3 {
            let arms = all_arms(slots);
            for dims in [vec![1; slots], vec![5; slots], vec![MAX_DIM; slots]] {
                let arm = arm_for(&dims).expect("fits");
                assert!(arms.contains(&arm), "{dims:?} -> {arm:?}");
            }
            if slots > 0 {
                assert_eq!(arm_for(&vec![MAX_DIM + 1; slots]), None);
            }
        }
        assert_eq!(arm_name(&arm_for(&[3, 17]).unwrap()), "e3_u256");
        assert_eq!(arm_name(&arm_for(&[]).unwrap()), "fixed");
    }

    #[test]
    fn partial_widths_follow_the_combine_codes() {
        assert_eq!(ReduceKind::Sum.partial_width(3), 3);
        assert_eq!(ReduceKind::MinArgMin.partial_width(3), 6);
        assert_eq!(ReduceKind::KMin(4).partial_width(3), 24);
        assert_eq!(ReduceKind::LogSumExpWeight.partial_width(3), 4);
        assert_eq!(ReduceKind::SumSoftMaxWeight.partial_width(3), 5);
        assert!(ReduceKind::ArgKMin(2).always_partial() && !ReduceKind::Max.always_partial());
    }

    #[test]
    fn prelude_kernel_names() {
        let names = prelude::names();
        assert_eq!(names.len(), 12);
        assert!(names.contains(&"keops_combine_red_f64".to_string()));
        assert!(names.contains(&"keops_cg_step".to_string()));
    }
}
