//! The frame of the device routine: its template (the precision, per run-time slot a capacity and
//! whether the dimension is exactly that), the class lengths, the data pointers, the thread's
//! output row and the nodes computed once per row; then the shared-memory tiles of the reduction
//! index that `sum.rs` and `other.rs` loop over.

use std::fmt::Write;

use super::{gpu_slots, Routine};
use crate::emit::{Family, Schedule};
use crate::ir::{Shape, Var};
use keops_abi::gpu::KernelKind;

impl Routine<'_> {
    /// The templated device routine `run_<kind><T, caps...>(const KeopsArgs&)`.
    pub(super) fn emit(&self) -> String {
        let f = self.f;
        let schedule = Schedule::new(f);
        let mut s = String::new();
        self.signature(&mut s);
        self.lengths(&mut s);
        for (v, var) in f.vars.iter().enumerate() {
            let _ = writeln!(
                s,
                "    const T* var{v} = (const T*)a.vars[{v}]; // {}",
                var.name
            );
        }
        for (p, par) in f.params.iter().enumerate() {
            let _ = writeln!(
                s,
                "    const T* par{p} = (const T*)a.params[{p}]; // {}",
                par.ident
            );
        }
        // A block-sparse launch (a table of blocks) gives each block its rows (and below, its
        // reduction ranges). `R` is the same for the whole grid: the branches do not diverge.
        s += "    const bool R = a.blocks != nullptr; // block-sparse\n";
        s += "    const KeopsBlock* blk = R ? a.blocks + blockIdx.x : nullptr;\n";
        s += "    const long long o = R ? blk->row0 + threadIdx.x : (long long)blockIdx.x * blockDim.x + threadIdx.x;\n";
        s += "    const bool active = o < (R ? blk->row1 : a.n_out);\n";
        s += "    const long long oc = active ? o : 0; // idle threads compute row 0 and store nothing\n";
        for i in schedule.row_nodes() {
            let _ = writeln!(s, "    {}", self.stmt(i, f.reduction.outer()));
        }
        match Family::of(f.reduction) {
            Family::Kernel | Family::Sum => self.sum(&schedule, &mut s),
            Family::Extremum { max } => self.extremum(max, &schedule, &mut s),
            Family::KMin(k) => self.kmin(k, &schedule, &mut s),
            Family::ShiftedExp { softmax } => self.shifted_exp(softmax, &schedule, &mut s),
        }
        s
    }

    /// The template line (the precision, the arm) and the
    /// routine's opening, with its dynamic shared memory.
    fn signature(&self, s: &mut String) {
        let mut tparams = vec!["typename T".to_string()];
        for k in gpu_slots(self.f) {
            tparams.push(format!("int C{k}"));
            tparams.push(format!("bool E{k}"));
        }
        let _ = writeln!(s, "template <{}>", tparams.join(", "));
        let _ = writeln!(
            s,
            "__device__ void run_{}(const KeopsArgs& a) {{",
            self.kind.tag()
        );
        let _ = writeln!(s, "    KEOPS_DYN_SHARED(keops_smem);");
    }

    /// The length `l<k>` of each class: fixed, then per arm (its exact capacity or the run-time
    /// dimension), then the concatenations (from their parts').
    fn lengths(&self, s: &mut String) {
        let f = self.f;
        let slots = gpu_slots(f);
        for (k, c) in f.classes.iter().enumerate() {
            match (c.fixed, c.concat) {
                (Some(n), _) => {
                    let _ = writeln!(s, "    constexpr int l{k} = {n}; (void)l{k};");
                }
                (None, None) => {
                    // Run-time dimensions come per GPU slot (at most one per variable).
                    let slot = slots
                        .iter()
                        .position(|&c| c == k)
                        .expect("a run-time class that is not a concatenation is a slot");
                    let _ = writeln!(
                        s,
                        "    const int l{k} = E{k} ? C{k} : a.dims[{slot}]; (void)l{k};"
                    );
                }
                (None, Some(_)) => {}
            }
        }
        let part = |sh: Shape| match sh {
            Shape::Scalar => ("1".to_string(), "1".to_string()),
            Shape::Vector(k) => (self.cap(k), self.len(k)),
        };
        // A concatenation of concatenations needs its parts' lengths first.
        let mut done: Vec<bool> = f
            .classes
            .iter()
            .map(|c| c.fixed.is_some() || c.concat.is_none())
            .collect();
        let ready = |sh: Shape, done: &[bool]| match sh {
            Shape::Scalar => true,
            Shape::Vector(k) => done[k],
        };
        while done.iter().any(|d| !d) {
            for (k, c) in f.classes.iter().enumerate() {
                let Some((x, y)) = c.concat else { continue };
                if done[k] || !ready(x, &done) || !ready(y, &done) {
                    continue;
                }
                let ((cx, lx), (cy, ly)) = (part(x), part(y));
                let _ = writeln!(s, "    constexpr int C{k} = {cx} + {cy};");
                let _ = writeln!(s, "    const int l{k} = {lx} + {ly}; (void)l{k};");
                done[k] = true;
            }
        }
    }

    /// Shared memory (per variable of the reduction index, `tile` rows of its dimension, then
    /// v's columns for a matvec), and the loops over this block's ranges of the reduction index
    /// (its part of `0..n_red`, or its table entry's ranges when block-sparse) and over their
    /// tiles, opened up to the loads of the variables into shared memory; [`close_tiles`]
    /// closes them.
    ///
    /// [`close_tiles`]: Self::close_tiles
    pub(super) fn open_tiles(&self, s: &mut String) {
        let inner_vars: Vec<(usize, &Var)> = self.f.vars_of(self.f.reduction.inner()).collect();
        *s += "    T* sh_next = (T*)keops_smem;\n";
        for &(v, var) in &inner_vars {
            let d = match var.shape {
                Shape::Scalar => "1".to_string(),
                Shape::Vector(k) => self.len(k),
            };
            let _ = writeln!(s, "    const int dim{v} = {d};");
            let _ = writeln!(
                s,
                "    T* sh{v} = sh_next; sh_next += (long long)a.tile * dim{v};"
            );
        }
        match self.kind {
            KernelKind::Matvec(_) => {
                *s += "    T* shv = sh_next;\n    const T* gv = (const T*)a.v;\n"
            }
            KernelKind::Reduce => {}
        }
        // The ranges of the reduction index: one when dense (this block's part of 0..n_red; the
        // loop folds away), else the block's own (none for rows in no cluster: the state stays
        // neutral). The tile loop inside is not indented.
        *s += "    const long long q0 = R ? blk->range0 : 0, q1 = R ? blk->range1 : 1;\n";
        *s += "    for (long long q = q0; q < q1; ++q) {\n";
        *s +=
            "    const long long j0 = R ? a.ranges[2 * q] : (long long)blockIdx.y * a.red_chunk;\n";
        *s += "    const long long j1 = R ? a.ranges[2 * q + 1] : keops_min_ll(a.n_red, j0 + a.red_chunk);\n";
        *s += "    for (long long t0 = j0; t0 < j1; t0 += a.tile) {\n";
        *s += "        const int tn = (int)keops_min_ll((long long)a.tile, j1 - t0);\n";
        *s += "        __syncthreads(); // the previous tile is no longer read\n";
        for &(v, _) in &inner_vars {
            let _ = writeln!(
                s,
                "        for (int e = threadIdx.x; e < tn * dim{v}; e += blockDim.x) sh{v}[e] = var{v}[t0 * dim{v} + e];"
            );
        }
    }

    /// Closes the loops [`open_tiles`](Self::open_tiles) opened: tiles, then ranges.
    pub(super) fn close_tiles(&self, s: &mut String) {
        *s += "    }\n    } // ranges\n";
    }
}
