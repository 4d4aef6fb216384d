//! The accumulation of the reductions other than the sum (after the nodes computed once per row):
//! a per-thread state, updated by the terms of a thread in index order, then the outputs (a single
//! block along the reduction index) or the block's state in the f64 partial buffer for
//! `keops_combine_red_<T>` (prelude.cuh, whose layouts these are):
//! - min / max and their args: `best[c]` and its index `bi[c]`, strict comparison (the first
//!   index among ties);
//! - the k smallest: per entry a sorted buffer of K (value, index) pairs, kept in the partial
//!   buffer (this thread's row of this block's part), the K-th value in a register;
//! - the log-sum-exp family: the running maximum `m` (T) and `s = sum exp(F - m) W` in f64
//!   (`exp` in T), rescaled when `m` grows, with `s0 = sum exp(F - m)` for the soft-max.

use std::fmt::Write;

use super::{node, Routine};
use crate::emit::{Outputs, Schedule};
use crate::ir::{NodeId, Shape};

/// One reduction's code in the frame [`Routine::per_thread`] gives it.
struct State {
    /// The node reduced entrywise (`None`: the constant 1).
    value: Option<NodeId>,
    /// Declares and initialises the state (`cap` entries, the value's capacity).
    init: String,
    /// Adds term `jj` of the tile to the state, entry by entry (`c < ncol`).
    update: String,
    /// Writes the outputs, or the block's state when the reduction range is split.
    finish: String,
}

impl Routine<'_> {
    /// The capacity and length of the reduced value (1 for a scalar or the constant 1).
    fn value_dims(&self, value: Option<NodeId>) -> (String, String) {
        match value.map(|n| self.f.nodes[n].shape) {
            None | Some(Shape::Scalar) => ("1".to_string(), "1".to_string()),
            Some(Shape::Vector(k)) => (self.cap(k), self.len(k)),
        }
    }

    /// The reduced value's entry `c`.
    fn value_at(&self, value: Option<NodeId>, c: &str) -> String {
        match value {
            Some(n) => self.at(n, c),
            None => "T(1)".to_string(),
        }
    }

    /// Min or max (`max`) and their args: the running extremum and its first index.
    pub(super) fn extremum(&self, max: bool, schedule: &Schedule, s: &mut String) {
        let value = Some(self.f.root);
        let (cap, _) = self.value_dims(value);
        let (init, cmp) = if max {
            ("T(-INFINITY)", ">")
        } else {
            ("T(INFINITY)", "<")
        };
        let outputs = Outputs::of(self.f.reduction);
        let mut finish = String::from("    if (gridDim.y == 1) {\n");
        if outputs.values {
            finish +=
                "        for (int c = 0; c < ncol; ++c) ((T*)a.out)[o * ncol + c] = best[c];\n";
        }
        if outputs.indices {
            finish += "        for (int c = 0; c < ncol; ++c) a.out_idx[o * ncol + c] = bi[c];\n";
        }
        finish += "    } else {\n";
        finish +=
            "        double* p = a.partial + ((long long)blockIdx.y * a.n_out + o) * 2 * ncol;\n";
        finish += "        for (int c = 0; c < ncol; ++c) { p[c] = (double)best[c]; p[ncol + c] = (double)bi[c]; }\n";
        finish += "    }\n";
        let state = State {
            value,
            init: format!(
                "    T best[{cap}]; long long bi[{cap}]; for (int c = 0; c < {cap}; ++c) {{ best[c] = {init}; bi[c] = 0; }}\n"
            ),
            update: format!(
                "                for (int c = 0; c < ncol; ++c) {{ const T v = {}; if (v {cmp} best[c]) {{ best[c] = v; bi[c] = t0 + jj; }} }}\n",
                self.value_at(value, "c")
            ),
            finish,
        };
        self.per_thread(state, schedule, s);
    }

    /// The `k` smallest: an insertion into the sorted buffer when a value beats the K-th; the
    /// buffer is the output of the block (`keops_combine_red_<T>` always runs).
    pub(super) fn kmin(&self, k: usize, schedule: &Schedule, s: &mut String) {
        let value = Some(self.f.root);
        let (cap, _) = self.value_dims(value);
        let mut init = format!(
            "    const long long kw = 2LL * {k} * ncol; // K times [values ncol][indices ncol], sorted\n"
        );
        init += "    double* kb = a.partial + ((long long)blockIdx.y * a.n_out + oc) * kw;\n";
        let _ = writeln!(
            init,
            "    T thr[{cap}]; for (int c = 0; c < {cap}; ++c) thr[c] = T(INFINITY); // the K-th smallest so far"
        );
        init += "    if (active) for (long long e = 0; e < kw; ++e) kb[e] = (e / ncol) % 2 == 0 ? (double)INFINITY : 0.0;\n";
        let update = format!(
            "                for (int c = 0; c < ncol; ++c) {{\n                    const T v = {};\n                    if (v < thr[c]) {{\n                        int q = {k} - 1;\n                        while (q > 0 && (double)v < kb[(q - 1) * 2 * ncol + c]) {{ kb[q * 2 * ncol + c] = kb[(q - 1) * 2 * ncol + c]; kb[q * 2 * ncol + ncol + c] = kb[(q - 1) * 2 * ncol + ncol + c]; --q; }}\n                        kb[q * 2 * ncol + c] = (double)v; kb[q * 2 * ncol + ncol + c] = (double)(t0 + jj);\n                        thr[c] = (T)kb[({k} - 1) * 2 * ncol + c];\n                    }}\n                }}\n",
            self.value_at(value, "c")
        );
        let state = State {
            value,
            init,
            update,
            finish: String::new(),
        };
        self.per_thread(state, schedule, s);
    }

    /// The log-sum-exp family (`softmax`: `sumsoftmaxweight`): the weight's entries summed with
    /// `exp(F - m)`, the running maximum `m` of `F`.
    pub(super) fn shifted_exp(&self, softmax: bool, schedule: &Schedule, s: &mut String) {
        let value = self.f.weight;
        let (cap, _) = self.value_dims(value);
        let mut update = format!("                const T fv = {};\n", node(self.f.root));
        update += "                double e;\n";
        update += "                if (fv > m) { const double cf = (double)exp(m - fv); s0 *= cf; for (int c = 0; c < ncol; ++c) s[c] *= cf; m = fv; e = 1.0; }\n";
        update += "                else if (fv == m) { if (m == T(-INFINITY)) continue; e = 1.0; } // exp(-inf) terms vanish\n";
        update += "                else e = (double)exp(fv - m); // also a NaN, which makes the result NaN\n";
        let _ = writeln!(
            update,
            "                s0 += e; for (int c = 0; c < ncol; ++c) s[c] += e * (double){};",
            self.value_at(value, "c")
        );
        // The soft-max's state also holds s0 (offset 2 in the partial buffer, else 1).
        let (fin, off) = if softmax {
            ("s[c] / s0", 2)
        } else {
            ("(double)m + log(s[c])", 1)
        };
        let mut finish = String::from("    if (gridDim.y == 1) {\n");
        let _ = writeln!(
            finish,
            "        for (int c = 0; c < ncol; ++c) ((T*)a.out)[o * ncol + c] = (T)({fin});"
        );
        finish += "    } else {\n";
        let _ = writeln!(
            finish,
            "        double* p = a.partial + ((long long)blockIdx.y * a.n_out + o) * ({off} + ncol);"
        );
        finish += "        p[0] = (double)m;\n";
        if softmax {
            finish += "        p[1] = s0;\n";
        }
        let _ = writeln!(
            finish,
            "        for (int c = 0; c < ncol; ++c) p[{off} + c] = s[c];"
        );
        finish += "    }\n";
        let state = State {
            value,
            init: format!(
                "    T m = T(-INFINITY); double s0 = 0.0; (void)s0; double s[{cap}]; for (int c = 0; c < {cap}; ++c) s[c] = 0.0;\n"
            ),
            update,
            finish,
        };
        self.per_thread(state, schedule, s);
    }

    /// The frame of a per-thread state: `ncol`, the state, the tile loop over the terms (the
    /// nodes computed per pair, then the update), the outputs.
    fn per_thread(&self, state: State, schedule: &Schedule, s: &mut String) {
        let (_, len) = self.value_dims(state.value);
        let _ = writeln!(s, "    const int ncol = {len};");
        *s += &state.init;
        self.open_tiles(s);
        *s += "        __syncthreads();\n";
        *s += "        if (active) {\n";
        *s += "            for (int jj = 0; jj < tn; ++jj) {\n";
        for i in schedule.pair_nodes() {
            let _ = writeln!(
                s,
                "                {}",
                self.stmt(i, self.f.reduction.outer())
            );
        }
        *s += &state.update;
        *s += "            }\n        }\n";
        self.close_tiles(s);
        *s += "    if (!active) return;\n";
        *s += &state.finish;
        *s += "}\n";
    }
}
