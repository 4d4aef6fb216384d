//! The accumulation of a sum (`sum_i`, `sum_j`) or of a kernel matrix's product with `v`: per
//! output entry an f64 accumulator, fed by groups of [`GROUP`] terms summed in `T`; then the
//! row's values (one block along the reduction index) or the block's f64 partial sums, added by
//! `keops_combine_<T>`.

use std::fmt::Write;

use keops_abi::gpu::{KernelKind, GROUP};

use super::{node, Routine};
use crate::emit::Schedule;
use crate::ir::Shape;

impl Routine<'_> {
    /// The rest of the routine of a sum or a matvec, after the nodes computed once per row.
    pub(super) fn sum(&self, schedule: &Schedule, s: &mut String) {
        let f = self.f;
        // Output columns and accumulators.
        let (out_cap, out_len) = match (self.kind, f.nodes[f.root].shape) {
            (KernelKind::Matvec(c), _) => (c.to_string(), "a.nvc".to_string()),
            (KernelKind::Reduce, Shape::Scalar) => ("1".into(), "1".into()),
            (KernelKind::Reduce, Shape::Vector(k)) => (self.cap(k), self.len(k)),
        };
        let _ = writeln!(s, "    const int ncol = {out_len};");
        let _ = writeln!(
            s,
            "    double acc[{out_cap}]; for (int c = 0; c < {out_cap}; ++c) acc[c] = 0.0;"
        );
        self.open_tiles(s);
        match self.kind {
            KernelKind::Matvec(_) => *s += "        for (int e = threadIdx.x; e < tn * a.nvc; e += blockDim.x) shv[e] = gv[(t0 + e / a.nvc) * a.nv + a.col0 + e % a.nvc];\n",
            KernelKind::Reduce => {}
        }
        *s += "        __syncthreads();\n";
        *s += "        if (active) {\n";
        // Groups of GROUP terms are summed in T, the groups in f64.
        let _ = writeln!(
            s,
            "            for (int jb = 0; jb < tn; jb += {GROUP}) {{\n            const int je = jb + {GROUP} < tn ? jb + {GROUP} : tn;"
        );
        let _ = writeln!(
            s,
            "            T tacc[{out_cap}]; for (int c = 0; c < {out_cap}; ++c) tacc[c] = T(0);"
        );
        *s += "            for (int jj = jb; jj < je; ++jj) {\n";
        for i in schedule.pair_nodes() {
            let _ = writeln!(s, "                {}", self.stmt(i, f.reduction.outer()));
        }
        match self.kind {
            KernelKind::Matvec(cap) => {
                let _ = writeln!(
                    s,
                    "                for (int c = 0; c < {cap}; ++c) if (c < ncol) tacc[c] += {} * shv[jj * ncol + c];",
                    node(f.root)
                );
            }
            KernelKind::Reduce => {
                let _ = writeln!(
                    s,
                    "                for (int c = 0; c < ncol; ++c) tacc[c] += {};",
                    self.at(f.root, "c")
                );
            }
        }
        *s += "            }\n";
        *s += "            for (int c = 0; c < ncol; ++c) acc[c] += (double)tacc[c];\n";
        *s += "            }\n";
        *s += "        }\n";
        self.close_tiles(s);
        // A matvec writes its columns of the output, whose row stride is v's.
        let (stride, col0) = match self.kind {
            KernelKind::Matvec(_) => ("a.nv", "a.col0"),
            KernelKind::Reduce => ("ncol", "0"),
        };
        *s += "    if (!active) return;\n";
        *s += "    if (gridDim.y == 1) {\n";
        let _ = writeln!(
            s,
            "        for (int c = 0; c < ncol; ++c) ((T*)a.out)[o * {stride} + {col0} + c] = (T)acc[c];"
        );
        *s += "    } else {\n";
        *s += "        for (int c = 0; c < ncol; ++c) a.partial[((long long)blockIdx.y * a.n_out + o) * ncol + c] = acc[c];\n";
        *s += "    }\n}\n";
    }
}
