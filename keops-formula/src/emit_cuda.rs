//! Emits the CUDA C++ of a formula: one templated device routine that runs the whole reduction
//! (KeOps' 1D scheme: a thread per output row, the reduction index loaded tile by tile into shared
//! memory, the sum finalised in registers) and, per precision and per arm of run-time dimensions,
//! an `extern "C"` kernel. Several blocks along `y` split the reduction range (split-j scheme);
//! they write f64 partial sums that `keops_combine_*` (prelude.cuh) adds.
//!
//! The other reductions (min / max and their args, the k smallest, log-sum-exp, soft-max) keep
//! their per-thread state instead (see `Body::emit_other`): with one block along the reduction
//! index the kernel writes the values (`T`) and indices (int64, `KeopsArgs::out_idx`) itself; split,
//! each block leaves its f64 state in the partial buffer and `keops_combine_red_*` merges the parts
//! in index order and writes the outputs. The k smallest always work in the partial buffer (their K
//! sorted pairs per entry) and always end with that pass.
//!
//! Accumulation is the CPU engine's block summation with shorter blocks: each thread sums groups
//! of [`GROUP`] terms in the data's precision and adds the group sums in f64. The same text compiles as host C++20 under `keops_host.h`, where blocks
//! run in turn and a block's threads are real threads meeting at a barrier.

use std::fmt::Write;

use keops_abi::gpu::{self, all_arms, arm_name, kernel_name, KernelKind, GROUP, THREADS};

use crate::ir::*;
use crate::op::Op;

/// The hand-written support code of every module (after [`keops_abi::gpu::cuda_header`]).
const PRELUDE_CUH: &str = include_str!("cuda/prelude.cuh");

/// Support code every generated `.cu` starts with (after `keops_host.h` on the host): the
/// contract's declarations generated from keops-abi, then the prelude's device functions and
/// formula-independent kernels ([`keops_abi::gpu::prelude`]).
pub fn prelude() -> String {
    format!("{}{PRELUDE_CUH}", gpu::cuda_header())
}

/// The host emulation of the CUDA execution model (see the file's header comment).
pub const HOST_HEADER: &str = include_str!("cuda/keops_host.h");

/// The PTX ptx-build compiled for `f` in the crate being compiled: `OUT_DIR/keops-cuda/<id>.ptx`
/// when it exists and is not empty (read by the macro at expansion time).
pub fn ptx_path(f: &Formula) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("OUT_DIR")?;
    let p = std::path::Path::new(&dir)
        .join(gpu::PTX_DIR)
        .join(format!("{}.ptx", formula_id(f)));
    std::fs::metadata(&p).ok().filter(|m| m.len() > 0)?;
    Some(p)
}

/// The run-time classes that select a GPU arm (its slots): a `concat` class is not one of them,
/// its dimension and capacity are the sums of its parts'.
pub fn gpu_slots(f: &Formula) -> Vec<usize> {
    f.slots
        .iter()
        .copied()
        .filter(|&k| f.classes[k].concat.is_none())
        .collect()
}

/// The formula's id ([`keops_abi::formula_id`] of its canonical text).
pub fn formula_id(f: &Formula) -> String {
    keops_abi::formula_id(&f.canonical())
}

/// Whether `KeopsArgs` can carry the formula's variables, parameters and run-time dimensions;
/// a formula with more gets no GPU kernel (it runs on the CPU).
pub fn fits_kernel_args(f: &Formula) -> bool {
    gpu::fits_kernel_args(f.vars.len(), f.params.len(), gpu_slots(f).len())
}

/// The CUDA C++ of one formula (without the [`prelude`]), and the names of its kernels.
pub fn emit(f: &Formula) -> (String, Vec<String>) {
    let id = formula_id(f);
    let mut s = String::new();
    if !fits_kernel_args(f) {
        let _ = writeln!(
            s,
            "// {id}: more than {} variables, {} parameters or {} run-time dimensions: no GPU kernel",
            gpu::MAX_VARS,
            gpu::MAX_PARAMS,
            gpu::MAX_SLOTS
        );
        return (s, Vec::new());
    }
    let canonical = f.canonical().replace("*/", "* /");
    let _ = writeln!(s, "// {id}: {canonical}");
    let _ = writeln!(s, "namespace {id} {{");
    for kind in KernelKind::all(f.reduction == Reduction::Kernel) {
        s += &Body { f, kind }.emit();
    }
    let _ = writeln!(s, "}} // namespace {id}");
    let mut names = Vec::new();
    for kind in KernelKind::all(f.reduction == Reduction::Kernel) {
        for arm in all_arms(gpu_slots(f).len()) {
            let an = arm_name(&arm);
            let targs: Vec<String> = arm
                .iter()
                .map(|&(c, e)| format!("{c}, {}", if e { "true" } else { "false" }))
                .collect();
            for (real, ty) in keops_abi::PRECISIONS {
                let name = kernel_name(&id, kind, real, &an);
                let mut targs = targs.clone();
                targs.insert(0, ty.to_string());
                let _ = writeln!(
                    s,
                    "extern \"C\" __global__ void __launch_bounds__({THREADS}) {name}(const KeopsArgs a) {{ {id}::run_{}<{}>(a); }}",
                    kind.tag(),
                    targs.join(", ")
                );
                names.push(name);
            }
        }
    }
    (s, names)
}

/// A whole `.cu` for several formulas: the prelude once, then each formula's code.
pub fn emit_module<'a>(formulas: impl IntoIterator<Item = &'a Formula>) -> (String, Vec<String>) {
    let mut s = prelude();
    s.push('\n');
    let prelude_kernels = gpu::prelude::names();
    let mut names = prelude_kernels.clone();
    let mut seen = std::collections::HashSet::new();
    for f in formulas {
        if seen.insert(formula_id(f)) {
            let (code, n) = emit(f);
            s += &code;
            names.extend(n);
        }
    }
    // Under host emulation, a table to find a reduction kernel by name.
    s += "#ifdef KEOPS_HOST\nstruct KeopsKernelEntry { const char* name; void (*fn)(const KeopsArgs); };\n";
    s += "static const KeopsKernelEntry keops_kernels[] = {\n";
    for n in names.iter().filter(|n| !prelude_kernels.contains(n)) {
        let _ = writeln!(s, "    {{\"{n}\", &{n}}},");
    }
    s += "    {nullptr, nullptr}};\n#endif\n";
    (s, names)
}

struct Body<'f> {
    f: &'f Formula,
    kind: KernelKind,
}

fn node(i: NodeId) -> String {
    format!("n{i}")
}

/// A literal of type `T` with the f64's exact value.
fn literal(x: f64) -> String {
    if x.is_nan() {
        "T(NAN)".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "T(INFINITY)".into()
        } else {
            "T(-INFINITY)".into()
        }
    } else {
        format!("T({x:?})")
    }
}

impl Body<'_> {
    /// Length (run-time or constant) of class `k`.
    fn len(&self, k: usize) -> String {
        format!("l{k}")
    }
    /// Capacity (compile-time) of class `k`.
    fn cap(&self, k: usize) -> String {
        match self.f.classes[k].fixed {
            Some(n) => n.to_string(),
            None => format!("C{k}"),
        }
    }

    fn scalar_op(op: Op, a: &[String]) -> String {
        let x = || a[0].clone();
        match op {
            Op::Neg => format!("(-{})", x()),
            Op::Add => format!("({} + {})", a[0], a[1]),
            Op::Sub => format!("({} - {})", a[0], a[1]),
            Op::Mul => format!("({} * {})", a[0], a[1]),
            Op::Div => format!("({} / {})", a[0], a[1]),
            Op::Exp => format!("exp({})", x()),
            Op::Log => format!("log({})", x()),
            Op::Sqrt => format!("sqrt({})", x()),
            Op::Rsqrt => format!("keops_rsqrt({})", x()),
            Op::Inv => format!("(T(1) / {})", x()),
            Op::Square => format!("({0} * {0})", x()),
            Op::Abs => format!("fabs({})", x()),
            Op::Sign => format!("keops_sign({})", x()),
            Op::Step => format!("keops_step({})", x()),
            Op::Relu => format!("keops_relu({})", x()),
            Op::Sin => format!("sin({})", x()),
            Op::Cos => format!("cos({})", x()),
            Op::Pow(n) => format!("keops_powi({}, {n})", x()),
            Op::Powf => format!("pow({}, {})", a[0], a[1]),
            Op::Min => format!("fmin({}, {})", a[0], a[1]),
            Op::Max => format!("fmax({}, {})", a[0], a[1]),
            Op::Clamp => format!("keops_clamp({}, {}, {})", a[0], a[1], a[2]),
            Op::IfElse => format!("keops_ifelse({}, {}, {})", a[0], a[1], a[2]),
            Op::XLogX => format!("keops_xlogx({})", x()),
            Op::Asin => format!("asin({})", x()),
            Op::Acos => format!("acos({})", x()),
            Op::Atan => format!("atan({})", x()),
            Op::Atan2 => format!("atan2({}, {})", a[0], a[1]),
            Op::SinXDivX => format!("keops_sinxdivx({})", x()),
            Op::ClampInt(lo, hi) => format!("keops_clamp({}, T({lo}), T({hi}))", x()),
            Op::Round(d) => format!(
                "keops_round({}, {})",
                x(),
                literal(crate::op::round_scale(d))
            ),
            Op::Floor => format!("floor({})", x()),
            Op::Mod => format!("keops_mod({}, {}, {})", a[0], a[1], a[2]),
            Op::Equal => format!("({} == {} ? T(1) : T(0))", a[0], a[1]),
            Op::NotEqual => format!("({} != {} ? T(1) : T(0))", a[0], a[1]),
            Op::LessThan => format!("({} < {} ? T(1) : T(0))", a[0], a[1]),
            Op::LessOrEqual => format!("({} <= {} ? T(1) : T(0))", a[0], a[1]),
            Op::GreaterThan => format!("({} > {} ? T(1) : T(0))", a[0], a[1]),
            Op::GreaterOrEqual => format!("({} >= {} ? T(1) : T(0))", a[0], a[1]),
            other => unreachable!("{other:?} is not entrywise"),
        }
    }

    /// Reference to node `a` at entry `k` (a scalar broadcasts).
    fn at(&self, a: NodeId, k: &str) -> String {
        match self.f.nodes[a].shape {
            Shape::Scalar => node(a),
            Shape::Vector(_) => format!("{}[{k}]", node(a)),
        }
    }

    /// C++ statements computing node `i`. `outer_row` / `inner_row` index the variables.
    fn stmt(&self, i: NodeId, outer: Role) -> String {
        let f = self.f;
        let n = &f.nodes[i];
        let id = node(i);
        let arg = |k: usize| n.args[k];
        match n.op {
            Op::Var(v) => {
                let var = &f.vars[v];
                if var.role == outer {
                    match var.shape {
                        Shape::Scalar => format!("const T {id} = var{v}[oc];"),
                        Shape::Vector(k) => {
                            format!("const T* {id} = var{v} + oc * {};", self.len(k))
                        }
                    }
                } else {
                    match var.shape {
                        Shape::Scalar => format!("const T {id} = sh{v}[jj];"),
                        Shape::Vector(k) => {
                            format!("const T* {id} = sh{v} + jj * {};", self.len(k))
                        }
                    }
                }
            }
            Op::Param(p) => match f.params[p].shape {
                Shape::Scalar => format!("const T {id} = par{p}[0];"),
                Shape::Vector(_) => format!("const T* {id} = par{p};"),
            },
            Op::Const(c) => format!("const T {id} = {};", literal(c.0)),
            Op::Index(role) => {
                let idx = if role == outer { "oc" } else { "(t0 + jj)" };
                format!("const T {id} = (T){idx};")
            }
            Op::KMask(kk) => {
                let (e, a, j) = (node(arg(0)), node(arg(1)), node(arg(2)));
                match n.shape {
                    Shape::Scalar => format!(
                        "T {id} = T(0); for (int q = 0; q < {kk}; ++q) if ({a}[q] == {j}) {id} += {e}[q];"
                    ),
                    Shape::Vector(k) => {
                        let d = self.len(k);
                        format!(
                            "T {id}[{}]; for (int k = 0; k < {d}; ++k) {{ {id}[k] = T(0); for (int q = 0; q < {kk}; ++q) if ({a}[q * {d} + k] == {j}) {id}[k] += {e}[q * {d} + k]; }}",
                            self.cap(k)
                        )
                    }
                }
            }
            op if op.typing() == crate::op::Typing::Entrywise => match n.shape {
                Shape::Scalar => {
                    let a: Vec<String> = n.args.iter().map(|&a| node(a)).collect();
                    format!("const T {id} = {};", Self::scalar_op(op, &a))
                }
                Shape::Vector(k) => {
                    let a: Vec<String> = n.args.iter().map(|&a| self.at(a, "k")).collect();
                    format!(
                        "T {id}[{}]; for (int k = 0; k < {}; ++k) {id}[k] = {};",
                        self.cap(k),
                        self.len(k),
                        Self::scalar_op(op, &a)
                    )
                }
            },
            Op::SqNorm | Op::Norm | Op::Sum | Op::Normalize => {
                let a = arg(0);
                let an = node(a);
                match (n.op, f.nodes[a].shape) {
                    (Op::SqNorm, Shape::Scalar) => format!("const T {id} = {an} * {an};"),
                    (Op::Norm, Shape::Scalar) => format!("const T {id} = fabs({an});"),
                    (Op::Sum, Shape::Scalar) => format!("const T {id} = {an};"),
                    (_, Shape::Scalar) => {
                        format!("const T {id} = {an} * keops_rsqrt({an} * {an});")
                    }
                    (op, Shape::Vector(k)) => {
                        let l = self.len(k);
                        let acc = |term: &str| {
                            format!(
                                "T {id}_s = T(0); for (int k = 0; k < {l}; ++k) {id}_s += {term};"
                            )
                        };
                        match op {
                            Op::SqNorm => {
                                format!("{} const T {id} = {id}_s;", acc(&format!("{an}[k] * {an}[k]")))
                            }
                            Op::Norm => format!(
                                "{} const T {id} = sqrt({id}_s);",
                                acc(&format!("{an}[k] * {an}[k]"))
                            ),
                            Op::Sum => format!("{} const T {id} = {id}_s;", acc(&format!("{an}[k]"))),
                            _ => format!(
                                "{} const T {id}_r = keops_rsqrt({id}_s); T {id}[{}]; for (int k = 0; k < {l}; ++k) {id}[k] = {an}[k] * {id}_r;",
                                acc(&format!("{an}[k] * {an}[k]")),
                                self.cap(k)
                            ),
                        }
                    }
                }
            }
            Op::Dot | Op::SqDist => {
                let (a, b) = (node(arg(0)), node(arg(1)));
                match (n.op, f.nodes[arg(0)].shape) {
                    (Op::Dot, Shape::Scalar) => format!("const T {id} = {a} * {b};"),
                    (_, Shape::Scalar) => {
                        format!("const T {id} = ({a} - {b}) * ({a} - {b});")
                    }
                    (op, Shape::Vector(k)) => {
                        let term = if op == Op::Dot {
                            format!("{a}[k] * {b}[k]")
                        } else {
                            format!("({a}[k] - {b}[k]) * ({a}[k] - {b}[k])")
                        };
                        format!(
                            "T {id}_s = T(0); for (int k = 0; k < {}; ++k) {id}_s += {term}; const T {id} = {id}_s;",
                            self.len(k)
                        )
                    }
                }
            }
            Op::Elem(idx) => {
                let a = arg(0);
                match f.nodes[a].shape {
                    Shape::Scalar => format!("const T {id} = {};", node(a)),
                    Shape::Vector(_) => format!("const T {id} = {}[{idx}];", node(a)),
                }
            }
            Op::Concat => {
                let Shape::Vector(k) = n.shape else {
                    unreachable!("concat is a vector")
                };
                let mut s = format!("T {id}[{}]; int {id}_o = 0;", self.cap(k));
                for &a in &n.args {
                    match f.nodes[a].shape {
                        Shape::Scalar => {
                            let _ = write!(s, " {id}[{id}_o++] = {};", node(a));
                        }
                        Shape::Vector(ak) => {
                            let _ = write!(
                                s,
                                " for (int k = 0; k < {}; ++k) {id}[{id}_o++] = {}[k];",
                                self.len(ak),
                                node(a)
                            );
                        }
                    }
                }
                s
            }
            Op::VecMin | Op::VecMax | Op::VecArgMin | Op::VecArgMax => {
                let a = node(arg(0));
                let Shape::Vector(k) = f.nodes[arg(0)].shape else {
                    return match n.op {
                        Op::VecMin | Op::VecMax => format!("const T {id} = {a};"),
                        _ => format!("const T {id} = T(0);"),
                    };
                };
                // KeOps' loop: from entry 0, replaced by a strictly smaller (larger) entry.
                let l = self.len(k);
                let cmp = if matches!(n.op, Op::VecMin | Op::VecArgMin) {
                    "<"
                } else {
                    ">"
                };
                if matches!(n.op, Op::VecMin | Op::VecMax) {
                    format!(
                        "T {id}_m = {a}[0]; for (int k = 1; k < {l}; ++k) if ({a}[k] {cmp} {id}_m) {id}_m = {a}[k]; const T {id} = {id}_m;"
                    )
                } else {
                    format!(
                        "T {id}_m = {a}[0]; int {id}_k = 0; for (int k = 1; k < {l}; ++k) if ({a}[k] {cmp} {id}_m) {{ {id}_m = {a}[k]; {id}_k = k; }} const T {id} = T({id}_k);"
                    )
                }
            }
            Op::OneHot | Op::Extract(_) | Op::ExtractT(_) | Op::Broadcast => {
                let a = node(arg(0));
                // Lengths of the result (the node's shape) and of the argument.
                let la = match f.nodes[arg(0)].shape {
                    Shape::Scalar => None,
                    Shape::Vector(k) => Some(self.len(k)),
                };
                let Shape::Vector(k) = n.shape else {
                    return match (n.op, &la) {
                        (Op::OneHot, _) => {
                            format!("const T {id} = keops_onehot_index({a}, 1) == 0 ? T(1) : T(0);")
                        }
                        (Op::Extract(s), Some(la)) => {
                            let st = match s {
                                crate::op::Start::At(m) => m.to_string(),
                                crate::op::Start::Tail => format!("({la} - 1)"),
                            };
                            format!("const T {id} = {a}[{st}];")
                        }
                        _ => format!("const T {id} = {a};"),
                    };
                };
                let (lo, cap) = (self.len(k), self.cap(k));
                let decl = format!("T {id}[{cap}];");
                match n.op {
                    Op::OneHot => format!(
                        "const int {id}_i = keops_onehot_index({a}, {lo}); {decl} for (int k = 0; k < {lo}; ++k) {id}[k] = k == {id}_i ? T(1) : T(0);"
                    ),
                    Op::Extract(s) => {
                        let la = la.as_deref().unwrap_or("1");
                        let st = match s {
                            crate::op::Start::At(m) => m.to_string(),
                            crate::op::Start::Tail => format!("({la} - {lo})"),
                        };
                        format!("{decl} for (int k = 0; k < {lo}; ++k) {id}[k] = {a}[{st} + k];")
                    }
                    Op::ExtractT(s) => {
                        let st = match s {
                            crate::op::Start::At(m) => m.to_string(),
                            crate::op::Start::Tail => {
                                format!("({lo} - {})", la.as_deref().unwrap_or("1"))
                            }
                        };
                        let place = match &la {
                            None => format!("{id}[{st}] = {a};"),
                            Some(la) => format!(
                                "for (int k = 0; k < {la}; ++k) {id}[{st} + k] = {a}[k];"
                            ),
                        };
                        format!("{decl} for (int k = 0; k < {lo}; ++k) {id}[k] = T(0); {place}")
                    }
                    _ => format!("{decl} for (int k = 0; k < {lo}; ++k) {id}[k] = {a};"),
                }
            }
            Op::TensorDot(t) => self.tensordot_stmt(i, t),
            op => unreachable!("no CUDA emitter for {op:?}"),
        }
    }

    /// The templated device routine `run_<kind><T, caps...>(const KeopsArgs&)`.
    fn emit(&self) -> String {
        let f = self.f;
        let outer = f.reduction.outer();
        let inner = f.reduction.inner();
        let live = self.f.live();
        let hoisted = |i: usize| f.nodes[i].deps & inner.dep() == 0;
        let mut s = String::new();

        // Template: the precision, then per run-time slot its capacity and exactness.
        let slots = gpu_slots(f);
        let mut tparams = vec!["typename T".to_string()];
        for &k in &slots {
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
        // Lengths: fixed, then per arm, then concatenations (from their parts').
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
        s += "    const long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n";
        s += "    const bool active = o < a.n_out;\n";
        s += "    const long long oc = active ? o : 0; // idle threads compute row 0 and store nothing\n";
        // Hoisted nodes: those not depending on the reduction index.
        for i in (0..f.nodes.len()).filter(|&i| live[i] && hoisted(i)) {
            let _ = writeln!(s, "    {}", self.stmt(i, outer));
        }
        if let (KernelKind::Reduce, Some(op)) = (self.kind, f.reduction.op()) {
            self.emit_other(op, &live, &hoisted, &mut s);
            return s;
        }
        // Output columns and accumulators.
        let (out_cap, out_len) = match (self.kind, f.nodes[f.root].shape) {
            (KernelKind::Matvec(c), _) => (c.to_string(), "a.nvc".to_string()),
            (_, Shape::Scalar) => ("1".into(), "1".into()),
            (_, Shape::Vector(k)) => (self.cap(k), self.len(k)),
        };
        let _ = writeln!(s, "    const int ncol = {out_len};");
        let _ = writeln!(
            s,
            "    double acc[{out_cap}]; for (int c = 0; c < {out_cap}; ++c) acc[c] = 0.0;"
        );
        self.open_tiles(&mut s);
        if let KernelKind::Matvec(_) = self.kind {
            s += "        for (int e = threadIdx.x; e < tn * a.nvc; e += blockDim.x) shv[e] = gv[(t0 + e / a.nvc) * a.nv + a.col0 + e % a.nvc];\n";
        }
        s += "        __syncthreads();\n";
        s += "        if (active) {\n";
        // Groups of GROUP terms are summed in T, the groups in f64.
        let _ = writeln!(
            s,
            "            for (int jb = 0; jb < tn; jb += {GROUP}) {{\n            const int je = jb + {GROUP} < tn ? jb + {GROUP} : tn;"
        );
        let _ = writeln!(
            s,
            "            T tacc[{out_cap}]; for (int c = 0; c < {out_cap}; ++c) tacc[c] = T(0);"
        );
        s += "            for (int jj = jb; jj < je; ++jj) {\n";
        for i in (0..f.nodes.len()).filter(|&i| live[i] && !hoisted(i)) {
            let _ = writeln!(s, "                {}", self.stmt(i, outer));
        }
        let root = f.root;
        match self.kind {
            KernelKind::Matvec(cap) => {
                let _ = writeln!(
                    s,
                    "                for (int c = 0; c < {cap}; ++c) if (c < ncol) tacc[c] += {} * shv[jj * ncol + c];",
                    node(root)
                );
            }
            KernelKind::Reduce => {
                let _ = writeln!(
                    s,
                    "                for (int c = 0; c < ncol; ++c) tacc[c] += {};",
                    self.at(root, "c")
                );
            }
        }
        s += "            }\n";
        s += "            for (int c = 0; c < ncol; ++c) acc[c] += (double)tacc[c];\n";
        s += "            }\n";
        s += "        }\n    }\n";
        let stride = match self.kind {
            KernelKind::Matvec(_) => "a.nv",
            KernelKind::Reduce => "ncol",
        };
        let col0 = match self.kind {
            KernelKind::Matvec(_) => "a.col0",
            KernelKind::Reduce => "0",
        };
        s += "    if (!active) return;\n";
        s += "    if (gridDim.y == 1) {\n";
        let _ = writeln!(
            s,
            "        for (int c = 0; c < ncol; ++c) ((T*)a.out)[o * {stride} + {col0} + c] = (T)acc[c];"
        );
        s += "    } else {\n";
        s += "        for (int c = 0; c < ncol; ++c) a.partial[((long long)blockIdx.y * a.n_out + o) * ncol + c] = acc[c];\n";
        s += "    }\n}\n";
        s
    }

    /// Shared memory (per variable of the reduction index, `tile` rows of its dimension, then
    /// v's columns for a matvec), and the loop over the tiles of this block's part of the
    /// reduction range, opened up to the loads of the variables into shared memory.
    fn open_tiles(&self, s: &mut String) {
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
        if let KernelKind::Matvec(_) = self.kind {
            *s += "    T* shv = sh_next;\n    const T* gv = (const T*)a.v;\n";
        }
        *s += "    const long long j0 = (long long)blockIdx.y * a.red_chunk;\n";
        *s += "    const long long j1 = keops_min_ll(a.n_red, j0 + a.red_chunk);\n";
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

    /// The rest of the routine of a reduction other than the sum (after the hoisted nodes): its
    /// per-thread accumulator, the update per term (the terms of a thread in index order), and the
    /// outputs (a single block along the reduction index) or the block's state in the f64 partial
    /// buffer for `keops_combine_red_<T>` (prelude.cuh, whose layouts these are).
    /// - min / max and their args: `best[c]` and its index `bi[c]`, strict comparison (the first
    ///   index among ties);
    /// - the k smallest: per entry a sorted buffer of K (value, index) pairs, kept in the partial
    ///   buffer (this thread's row of this block's part), the K-th value in a register;
    /// - the log-sum-exp family: the running maximum `m` (T) and `s = sum exp(F - m) W` in f64
    ///   (`exp` in T), rescaled when `m` grows, with `s0 = sum exp(F - m)` for the soft-max.
    fn emit_other(
        &self,
        op: RedOp,
        live: &[bool],
        hoisted: &dyn Fn(usize) -> bool,
        s: &mut String,
    ) {
        let f = self.f;
        let outer = f.reduction.outer();
        // The value reduced entrywise: F, or the weight of the log-sum-exp family (1 if none).
        let vnode = if op.is_shifted_exp() {
            f.weight
        } else {
            Some(f.root)
        };
        let (cap, len) = match vnode.map(|n| f.nodes[n].shape) {
            None | Some(Shape::Scalar) => ("1".to_string(), "1".to_string()),
            Some(Shape::Vector(k)) => (self.cap(k), self.len(k)),
        };
        let at = |c: &str| match vnode {
            Some(n) => self.at(n, c),
            None => "T(1)".to_string(),
        };
        let _ = writeln!(s, "    const int ncol = {len};");
        let softmax = op == RedOp::SumSoftMaxWeight;
        if op.is_extremum() {
            let init = if op.is_max() {
                "T(-INFINITY)"
            } else {
                "T(INFINITY)"
            };
            let _ = writeln!(
                s,
                "    T best[{cap}]; long long bi[{cap}]; for (int c = 0; c < {cap}; ++c) {{ best[c] = {init}; bi[c] = 0; }}"
            );
        } else if let Some(k) = op.k() {
            let _ = writeln!(
                s,
                "    const long long kw = 2LL * {k} * ncol; // K times [values ncol][indices ncol], sorted"
            );
            s.push_str(
                "    double* kb = a.partial + ((long long)blockIdx.y * a.n_out + oc) * kw;\n",
            );
            let _ = writeln!(
                s,
                "    T thr[{cap}]; for (int c = 0; c < {cap}; ++c) thr[c] = T(INFINITY); // the K-th smallest so far"
            );
            s.push_str(
                "    if (active) for (long long e = 0; e < kw; ++e) kb[e] = (e / ncol) % 2 == 0 ? (double)INFINITY : 0.0;\n",
            );
        } else {
            let _ = writeln!(
                s,
                "    T m = T(-INFINITY); double s0 = 0.0; (void)s0; double s[{cap}]; for (int c = 0; c < {cap}; ++c) s[c] = 0.0;"
            );
        }
        self.open_tiles(s);
        *s += "        __syncthreads();\n";
        *s += "        if (active) {\n";
        *s += "            for (int jj = 0; jj < tn; ++jj) {\n";
        for i in (0..f.nodes.len()).filter(|&i| live[i] && !hoisted(i)) {
            let _ = writeln!(s, "                {}", self.stmt(i, outer));
        }
        if op.is_extremum() {
            let cmp = if op.is_max() { ">" } else { "<" };
            let _ = writeln!(
                s,
                "                for (int c = 0; c < ncol; ++c) {{ const T v = {}; if (v {cmp} best[c]) {{ best[c] = v; bi[c] = t0 + jj; }} }}",
                at("c")
            );
        } else if let Some(k) = op.k() {
            let _ = writeln!(
                s,
                "                for (int c = 0; c < ncol; ++c) {{\n                    const T v = {};\n                    if (v < thr[c]) {{\n                        int q = {k} - 1;\n                        while (q > 0 && (double)v < kb[(q - 1) * 2 * ncol + c]) {{ kb[q * 2 * ncol + c] = kb[(q - 1) * 2 * ncol + c]; kb[q * 2 * ncol + ncol + c] = kb[(q - 1) * 2 * ncol + ncol + c]; --q; }}\n                        kb[q * 2 * ncol + c] = (double)v; kb[q * 2 * ncol + ncol + c] = (double)(t0 + jj);\n                        thr[c] = (T)kb[({k} - 1) * 2 * ncol + c];\n                    }}\n                }}",
                at("c")
            );
        } else {
            let _ = writeln!(s, "                const T fv = {};", node(f.root));
            s.push_str("                double e;\n");
            s.push_str("                if (fv > m) { const double cf = (double)exp(m - fv); s0 *= cf; for (int c = 0; c < ncol; ++c) s[c] *= cf; m = fv; e = 1.0; }\n");
            s.push_str("                else if (fv == m) { if (m == T(-INFINITY)) continue; e = 1.0; } // exp(-inf) terms vanish\n");
            s.push_str("                else e = (double)exp(fv - m); // also a NaN, which makes the result NaN\n");
            let _ = writeln!(
                s,
                "                s0 += e; for (int c = 0; c < ncol; ++c) s[c] += e * (double){};",
                at("c")
            );
        }
        *s += "            }\n        }\n    }\n";
        *s += "    if (!active) return;\n";
        if op.is_extremum() {
            *s += "    if (gridDim.y == 1) {\n";
            if op.has_values() {
                *s +=
                    "        for (int c = 0; c < ncol; ++c) ((T*)a.out)[o * ncol + c] = best[c];\n";
            }
            if op.has_indices() {
                *s += "        for (int c = 0; c < ncol; ++c) a.out_idx[o * ncol + c] = bi[c];\n";
            }
            *s += "    } else {\n";
            *s += "        double* p = a.partial + ((long long)blockIdx.y * a.n_out + o) * 2 * ncol;\n";
            *s += "        for (int c = 0; c < ncol; ++c) { p[c] = (double)best[c]; p[ncol + c] = (double)bi[c]; }\n";
            *s += "    }\n";
        } else if op.is_shifted_exp() {
            let fin = if softmax {
                "s[c] / s0"
            } else {
                "(double)m + log(s[c])"
            };
            let off = if softmax { 2 } else { 1 };
            *s += "    if (gridDim.y == 1) {\n";
            let _ = writeln!(
                s,
                "        for (int c = 0; c < ncol; ++c) ((T*)a.out)[o * ncol + c] = (T)({fin});"
            );
            *s += "    } else {\n";
            let _ = writeln!(
                s,
                "        double* p = a.partial + ((long long)blockIdx.y * a.n_out + o) * ({off} + ncol);"
            );
            *s += "        p[0] = (double)m;\n";
            if softmax {
                *s += "        p[1] = s0;\n";
            }
            let _ = writeln!(
                s,
                "        for (int c = 0; c < ncol; ++c) p[{off} + c] = s[c];"
            );
            *s += "    }\n";
        }
        *s += "}\n";
    }
}

impl Body<'_> {
    /// Node `i`, the contraction `f.tensors[t]` of its two arguments: the loops of
    /// [`crate::tensor::TensorSpec::loops`] (one per output axis, then one per contracted pair),
    /// summed in `T`, as loops (a few statements whatever the dimensions).
    fn tensordot_stmt(&self, i: NodeId, t: usize) -> String {
        let f = self.f;
        let n = &f.nodes[i];
        let id = node(i);
        let (outs, conts) = f.tensors[t].loops();
        let q: Vec<String> = (0..outs.len()).map(|k| format!("{id}_q{k}")).collect();
        let c: Vec<String> = (0..conts.len()).map(|k| format!("{id}_c{k}")).collect();
        let all: Vec<(&String, &crate::tensor::Loop)> =
            q.iter().zip(&outs).chain(c.iter().zip(&conts)).collect();
        let index = |stride: fn(&crate::tensor::Loop) -> usize| {
            let terms: Vec<String> = all
                .iter()
                .filter(|(_, l)| stride(l) != 0)
                .map(|(v, l)| match stride(l) {
                    1 => v.to_string(),
                    s => format!("{v} * {s}"),
                })
                .collect();
            if terms.is_empty() {
                "0".to_string()
            } else {
                terms.join(" + ")
            }
        };
        let entry = |k: usize, idx: String| {
            let a = n.args[k];
            match f.nodes[a].shape {
                Shape::Scalar => node(a),
                Shape::Vector(_) => format!("{}[{idx}]", node(a)),
            }
        };
        let (ea, eb) = (entry(0, index(|l| l.a)), entry(1, index(|l| l.b)));
        let mut s = match n.shape {
            Shape::Scalar => format!("T {id}_o = T(0);"),
            Shape::Vector(k) => format!("T {id}[{}];", self.cap(k)),
        };
        for (v, l) in q.iter().zip(&outs) {
            let _ = write!(s, " for (int {v} = 0; {v} < {}; ++{v})", l.size);
        }
        let _ = write!(s, " {{ T {id}_s = T(0);");
        for (v, l) in c.iter().zip(&conts) {
            let _ = write!(s, " for (int {v} = 0; {v} < {}; ++{v})", l.size);
        }
        let _ = write!(s, " {id}_s += {ea} * {eb};");
        match n.shape {
            Shape::Scalar => {
                let _ = write!(s, " {id}_o = {id}_s; }} const T {id} = {id}_o;");
            }
            Shape::Vector(_) => {
                let _ = write!(s, " {id}[{}] = {id}_s; }}", index(|l| l.out));
            }
        }
        s
    }
}
