//! The operations of the formula language: names, arities, how they type, how they fold.
//!
//! # Adding an operation
//!
//! Every pass matches [`Op`] exhaustively, so a new variant does not compile until each one says
//! what it does with it; the compiler lists the places. In order:
//!
//! 1. **The variant** in [`Op`], documented with what it computes (and KeOps' name). Integer
//!    arguments fixed in the formula are the variant's fields (`Pow(i32)`, `Round(i32)`).
//! 2. **Its row in [`FUNCTIONS`]** (name, number of arguments, integer ones included), if the
//!    formula language calls it by name; an operator is read in `lower/expr.rs` (`binary`).
//! 3. **[`Op::typing`]**: how its shape follows from its arguments'. [`Typing::Internal`]
//!    operations are built with their shape (their lowering gives it).
//! 4. **[`Op::eval_f64`]**: its value on scalar constants in f64, with the definitions of the
//!    runtime and of the CUDA prelude (constant folding), or `None`.
//! 5. **[`Op::canonical_name`]** (part of the kernels' names, so never reuse one), and
//!    [`Op::form`] if its name has several forms (`min(f)`, `min(f, g)`).
//! 6. **Lowering of its calls**: `lower/call.rs`'s `function_call` (a plain function is lowered
//!    generically; integer-literal arguments are read with `lower/args.rs`, a dimension given by
//!    the call with `Dims::given_shape`, a check that needs final dimensions is deferred to
//!    `lower/dims.rs`). A leaf that reads an index: [`crate::ir::deps`].
//! 7. **Its gradient**: the vector-Jacobian rule in `grad/symbolic.rs`'s `local_vjp` (a `d_*`
//!    helper when it takes more than a line; `None` where the derivative is zero, e.g. piecewise
//!    constant operations); `grad/reduction.rs` if a new reduction needs forward values.
//! 8. **The simplifier** (`simplify.rs`): its identities (`identity`, exact in IEEE arithmetic;
//!    listed in the module's documentation), argument order if commutative (`canonical_order`),
//!    and whether it keeps values finite (`finiteness`).
//! 9. **The symmetry analysis** (`symmetry.rs`): `is_commutative`, `is_even`, `product_kind`,
//!    `adds_arguments`, `is_gradient_internal`. Each claim must hold bitwise (see the module's
//!    documentation); when in doubt, the conservative answer: not commutative, not even,
//!    `Product::Always`, adds its arguments.
//! 10. **The Rust emitter's expression code** (`keops-formula/src/emit/rust/expr.rs`): the scalar
//!     form and the SIMD-lane form (the generated code is generic over keops-runtime's `Num`, so
//!     one method call serves both), and a vector form if it is not entrywise.
//! 11. **The CUDA emitter's statement code** (`keops-formula/src/emit/cuda/expr.rs`), and a device
//!     helper in the prelude (`keops-formula/src/emit/cuda/prelude.cuh`, e.g. `keops_xlogx`) if it
//!     needs one.
//! 12. **The runtime**, if the Rust code calls a new method: `Num` and `Real` in
//!     `keops-runtime/src/data/real.rs` (f32, f64), the SIMD lane packs in
//!     `keops-runtime/src/simd/pack.rs` and, for a new elementary function, its branch-free form in
//!     `keops-runtime/src/simd/math.rs`.
//! 13. **Tests**: a dense f64 reference in the facade's tests (`tests/operations/`,
//!     `tests/ops_extra.rs`, `tests/ops_vector.rs`: f32 and f64, special points), its gradient
//!     against finite differences (`tests/gradients/`), a ui test of its misuse
//!     (`keops-ui-tests/tests/ui/*.rs` with its `.stderr`), a diagnostics test
//!     (`keops-formula/tests/diagnostics/`), the simplifier's (`keops-formula/tests/simplify.rs`)
//!     for its identities and folding, and `tests/cuda/` on a machine with a GPU.
//! 14. **The documentation**: the README's table of operations, `docs/keops-parity.md`.

/// A constant, compared and hashed by its bits so that equal constants share one node.
#[derive(Clone, Copy, Debug)]
pub struct Const(pub f64);
impl PartialEq for Const {
    fn eq(&self, o: &Self) -> bool {
        self.0.to_bits() == o.0.to_bits()
    }
}
impl Eq for Const {}
impl std::hash::Hash for Const {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.to_bits().hash(h)
    }
}

/// An operation of the IR: what a [`crate::ir::Node`] computes from its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Data variable (index into `Formula::vars`).
    Var(usize),
    /// Parameter (index into `Formula::params`).
    Param(usize),
    /// A constant (a scalar).
    Const(Const),
    /// `-f`.
    Neg,
    /// `f + g`.
    Add,
    /// `f - g`.
    Sub,
    /// `f * g`.
    Mul,
    /// `f / g`.
    Div,
    /// `exp(f)`.
    Exp,
    /// `log(f)`, the natural logarithm.
    Log,
    /// `sqrt(f)`.
    Sqrt,
    /// `rsqrt(f) = 1 / sqrt(f)`, 0 at 0 (KeOps' Rsqrt).
    Rsqrt,
    /// `inv(f) = 1 / f`.
    Inv,
    /// `square(f) = f * f`.
    Square,
    /// `abs(f)`.
    Abs,
    /// `sign(f)`: -1, 0 or 1.
    Sign,
    /// `step(f)`: 1 where `f >= 0` (or NaN), else 0.
    Step,
    /// `relu(f) = max(f, 0)`.
    Relu,
    /// `sin(f)`.
    Sin,
    /// `cos(f)`.
    Cos,
    /// Integer power, exponent fixed in the formula.
    Pow(i32),
    /// `powf(f, g) = f^g`, a real exponent.
    Powf,
    /// `min(f, g)`, entrywise.
    Min,
    /// `max(f, g)`, entrywise.
    Max,
    /// `clamp(f, a, b)`: `a` if `f < a`, `b` if `f > b`, else `f`.
    Clamp,
    /// `ifelse(c, a, b)`: `a` where `c >= 0`, else `b`.
    IfElse,
    /// `sqnorm(f)`: the sum of the squared entries.
    SqNorm,
    /// `norm(f)`: the Euclidean norm.
    Norm,
    /// `dot(f, g)`: the sum of the products of the entries.
    Dot,
    /// `sum(f)`: the sum of the entries.
    Sum,
    /// `sqdist(f, g) = sqnorm(f - g)`.
    SqDist,
    /// `normalize(f) = f * rsqrt(sqnorm(f))`.
    Normalize,
    /// Entry `k` of a vector.
    Elem(usize),
    /// `concat(f, g)`: the entries of f, then those of g.
    Concat,
    /// `x log x`, 0 at 0 (KeOps' XLogX).
    XLogX,
    /// `asin(f)`.
    Asin,
    /// `acos(f)`.
    Acos,
    /// `atan(f)`.
    Atan,
    /// `atan2(f, g)`: the angle of the point (g, f).
    Atan2,
    /// `sin x / x`, 1 at 0 (KeOps' SinXDivX).
    SinXDivX,
    /// `clamp(f, a, b)` with integer bounds fixed in the formula (KeOps' ClampInt).
    ClampInt(i32, i32),
    /// Rounding to `d` decimals: `round(f * 10^d) / 10^d`, halves away from zero (KeOps' Round).
    Round(i32),
    /// `floor(f)`.
    Floor,
    /// `modulo(f, m, offset) = f - m * floor((f - offset) / m)` (KeOps' Mod; `mod` is a Rust
    /// keyword), `offset` 0 when omitted.
    Mod,
    /// 1 if `f == g`, else 0 (KeOps' Equal); the comparisons below likewise.
    Equal,
    /// `f != g`.
    NotEqual,
    /// `f < g`.
    LessThan,
    /// `f <= g`.
    LessOrEqual,
    /// `f > g` (the simplifier writes it `g < f`).
    GreaterThan,
    /// `f >= g` (the simplifier writes it `g <= f`).
    GreaterOrEqual,
    /// `min(f)`: the smallest entry of a vector (KeOps' Min: from entry 0 on, an entry replaces
    /// the minimum when strictly smaller; a scalar is its own minimum).
    VecMin,
    /// `max(f)`: the largest entry (KeOps' Max).
    VecMax,
    /// `argmin(f)`: the index of the smallest entry as a real, the first among ties (KeOps'
    /// ArgMin); 0 for a scalar.
    VecArgMin,
    /// `argmax(f)`: the index of the largest entry (KeOps' ArgMax).
    VecArgMax,
    /// `onehot(f, D)` (KeOps' OneHot): the vector of the node's dimension D with a 1 at index
    /// `trunc(f + 0.5)` (in the data's precision) and zeros elsewhere; all zeros when that index is
    /// not in `0..D` (or f is NaN).
    OneHot,
    /// `extract(f, M, D)` (KeOps' Extract): the node's dimension D of entries of f, from `Start`.
    Extract(Start),
    /// `extract_t(f, M, D)` (KeOps' ExtractT; `elem_t` too): a vector of the node's dimension, zero
    /// except f (scalar or vector) placed at `Start`.
    ExtractT(Start),
    /// A scalar repeated over the node's shape (`zero(N)` is the constant 0 broadcast).
    Broadcast,
    /// The row index of a variable's role, as a real (internal: gradients through arg indices
    /// compare it with the indices a forward `argmin_j`/`argkmin_j` found).
    Index(crate::ir::Role),
    /// Internal, for gradients of `kmin_j(F, K)`: `[e, a, j]` -> the vector of F's shape whose
    /// entry `d` is `sum_q e[q*D + d] * (a[q*D + d] == j)` (D = the node's dimension).
    KMask(usize),
    /// A tensor contraction (matvec, vecmat, tensorprod, kron, tensordot): `Formula::tensors[k]`
    /// says which, its arguments are the tensors A and B flattened row-major.
    TensorDot(usize),
}

/// Where [`Op::Extract`] reads its entries, and where [`Op::ExtractT`] places its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Start {
    /// At this offset (the `M` of `extract(f, M, D)`).
    At(usize),
    /// At the end: `Extract` takes the last `dim(out)` entries of its argument, `ExtractT`
    /// places its argument at offset `dim(out) - dim(arg)` (internal: gradients of `concat`).
    Tail,
}

/// How an operation's result shape follows from its arguments'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typing {
    /// Entrywise, KeOps broadcasting: scalars combine with vectors, vectors must share a dimension.
    Entrywise,
    /// A vector's entries reduce to a scalar.
    ToScalar,
    /// Two operands of equal dimension give a scalar.
    PairToScalar,
    /// Same shape as the only argument, not entrywise.
    SameShape,
    /// A scalar from one entry.
    Elem,
    /// Dimension is the sum of the arguments'.
    Concat,
    /// A leaf.
    Leaf,
    /// Built with its shape set at construction, not a function of the arguments' (the
    /// compiler's internal operations; `onehot`, `extract`, `extract_t`, `elem_t`, `zero`, whose
    /// lowering gives the shape).
    Internal,
    /// A contraction: the shape is its [`crate::tensor::TensorSpec`]'s output dimension.
    Tensor,
}

/// What the formula language calls a function: its name, argument count (the integer arguments
/// of `pow`, `elem`, `round` and `clampint` included) and operation. `arity..=max_arity` arguments
/// are accepted (`modulo`'s offset is optional).
pub struct FnDef {
    /// The name in the formula language.
    pub name: &'static str,
    /// The least number of arguments.
    pub arity: usize,
    /// The most arguments (`arity` but for optional ones).
    pub max_arity: usize,
    /// The operation (its integer fields are placeholders, read from the call's arguments).
    pub op: Op,
}

macro_rules! fns {
    ($($name:literal $arity:tt $op:expr;)*) => {
        /// The functions of the formula language; a name may have several rows (one per number
        /// of arguments).
        pub const FUNCTIONS: &[FnDef] = &[$(FnDef {
            name: $name,
            arity: fns!(@min $arity),
            max_arity: fns!(@max $arity),
            op: $op,
        }),*];
    };
    // `n` arguments, or `(min, max)`.
    (@min ($min:literal, $max:literal)) => { $min };
    (@max ($min:literal, $max:literal)) => { $max };
    (@min $n:literal) => { $n };
    (@max $n:literal) => { $n };
}
fns! {
    "exp" 1 Op::Exp; "log" 1 Op::Log; "sqrt" 1 Op::Sqrt; "rsqrt" 1 Op::Rsqrt; "inv" 1 Op::Inv;
    "square" 1 Op::Square; "abs" 1 Op::Abs; "sign" 1 Op::Sign; "step" 1 Op::Step; "relu" 1 Op::Relu;
    "sin" 1 Op::Sin; "cos" 1 Op::Cos; "pow" 2 Op::Pow(0); "powf" 2 Op::Powf; "min" 2 Op::Min;
    "max" 2 Op::Max; "clamp" 3 Op::Clamp; "ifelse" 3 Op::IfElse; "sqnorm" 1 Op::SqNorm;
    "sqnorm2" 1 Op::SqNorm; "norm" 1 Op::Norm; "norm2" 1 Op::Norm; "dot" 2 Op::Dot; "sum" 1 Op::Sum;
    "sqdist" 2 Op::SqDist; "normalize" 1 Op::Normalize; "elem" 2 Op::Elem(0); "concat" 2 Op::Concat;
    "xlogx" 1 Op::XLogX; "asin" 1 Op::Asin; "acos" 1 Op::Acos; "atan" 1 Op::Atan;
    "atan2" 2 Op::Atan2; "sinxdivx" 1 Op::SinXDivX; "clampint" 3 Op::ClampInt(0, 0);
    "round" 2 Op::Round(0); "floor" 1 Op::Floor; "modulo" (2, 3) Op::Mod; "equal" 2 Op::Equal;
    "notequal" 2 Op::NotEqual; "lessthan" 2 Op::LessThan; "lessorequal" 2 Op::LessOrEqual;
    "min" 1 Op::VecMin; "max" 1 Op::VecMax; "argmin" 1 Op::VecArgMin; "argmax" 1 Op::VecArgMax;
    "onehot" 2 Op::OneHot; "extract" 3 Op::Extract(Start::At(0));
    "extract_t" 3 Op::ExtractT(Start::At(0)); "elem_t" 3 Op::ExtractT(Start::At(0));
    "zero" 1 Op::Broadcast;
    "matvec" 2 Op::TensorDot(0); "vecmat" 2 Op::TensorDot(0); "tensorprod" 2 Op::TensorDot(0);
    "kron" 4 Op::TensorDot(0); "tensordot" 6 Op::TensorDot(0);
    "weightedsqnorm" 2 Op::SqNorm; "weightedsqdist" 3 Op::SqDist;
}

/// Reductions, recognised only as the whole formula.
pub const REDUCTIONS: &[&str] = &[
    "sum_j",
    "sum_i",
    "min_j",
    "min_i",
    "max_j",
    "max_i",
    "argmin_j",
    "argmin_i",
    "argmax_j",
    "argmax_i",
    "min_argmin_j",
    "min_argmin_i",
    "max_argmax_j",
    "max_argmax_i",
    "kmin_j",
    "kmin_i",
    "argkmin_j",
    "argkmin_i",
    "kmin_argkmin_j",
    "kmin_argkmin_i",
    "logsumexp_j",
    "logsumexp_i",
    "sumsoftmaxweight_j",
    "sumsoftmaxweight_i",
];

/// The first function called `name` (a name may have several rows, one per argument count:
/// `min(f)` and `min(f, g)`); see [`lookup_arity`].
pub fn lookup(name: &str) -> Option<&'static FnDef> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The function called `name` that takes `n` arguments.
pub fn lookup_arity(name: &str, n: usize) -> Option<&'static FnDef> {
    FUNCTIONS
        .iter()
        .find(|f| f.name == name && (f.arity..=f.max_arity).contains(&n))
}

/// Every row of the functions called `name`.
pub fn overloads(name: &str) -> impl Iterator<Item = &'static FnDef> + '_ {
    FUNCTIONS.iter().filter(move |f| f.name == name)
}

/// The known name closest to `name` (for "did you mean"): at most one edit per three letters, so
/// that short unrelated names (`foo`, `bar`) get no far-fetched suggestion.
pub fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    let max = (lower.chars().count() / 3).max(1);
    let all = FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(REDUCTIONS.iter().copied());
    all.map(|n| (edit_distance(&lower, n), n))
        .filter(|(d, _)| *d <= max)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Op {
    /// How the operation's shape follows from its arguments' (see [`Typing`]).
    pub fn typing(self) -> Typing {
        use Op::*;
        match self {
            Var(_) | Param(_) | Const(_) | Index(_) => Typing::Leaf,
            KMask(_) => Typing::Internal,
            Neg | Add | Sub | Mul | Div | Exp | Log | Sqrt | Rsqrt | Inv | Square | Abs | Sign
            | Step | Relu | Sin | Cos | Pow(_) | Powf | Min | Max | Clamp | IfElse | XLogX
            | Asin | Acos | Atan | Atan2 | SinXDivX | ClampInt(..) | Round(_) | Floor | Mod
            | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual => {
                Typing::Entrywise
            }
            SqNorm | Norm | Sum | VecMin | VecMax | VecArgMin | VecArgMax => Typing::ToScalar,
            OneHot | Extract(_) | ExtractT(_) | Broadcast => Typing::Internal,
            Dot | SqDist => Typing::PairToScalar,
            Normalize => Typing::SameShape,
            Elem(_) => Typing::Elem,
            Concat => Typing::Concat,
            TensorDot(_) => Typing::Tensor,
        }
    }

    /// The operation on scalar arguments, in f64: for constant folding (constants are scalars, so
    /// the vector operations reduce to their scalar forms). The definitions are those of
    /// keops-runtime's `Real` and of the CUDA prelude. `None` for leaves.
    pub fn eval_f64(self, a: &[f64]) -> Option<f64> {
        use Op::*;
        let x = *a.first()?;
        let b01 = |c: bool| if c { 1.0 } else { 0.0 };
        let rsqrt = |v: f64| if v == 0.0 { 0.0 } else { 1.0 / v.sqrt() };
        Some(match self {
            Var(_) | Param(_) | Const(_) | Index(_) | KMask(_) => return None,
            Neg => -x,
            Add => x + a[1],
            Sub => x - a[1],
            Mul => x * a[1],
            Div => x / a[1],
            Exp => x.exp(),
            Log => x.ln(),
            Sqrt => x.sqrt(),
            Rsqrt => rsqrt(x),
            Inv => 1.0 / x,
            Square => x * x,
            Abs => x.abs(),
            Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Step => b01(x >= 0.0 || x.is_nan()),
            Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Sin => x.sin(),
            Cos => x.cos(),
            Pow(n) => x.powi(n),
            Powf => x.powf(a[1]),
            Min => x.min(a[1]),
            Max => x.max(a[1]),
            Clamp => clamp(x, a[1], a[2]),
            IfElse => {
                if x >= 0.0 {
                    a[1]
                } else {
                    a[2]
                }
            }
            SqNorm | Dot => x * a.get(1).copied().unwrap_or(x),
            Norm => x.abs(),
            Sum | Elem(_) => x,
            SqDist => (x - a[1]) * (x - a[1]),
            Normalize => x * rsqrt(x * x),
            Concat | TensorDot(_) => return None,
            XLogX => {
                if x == 0.0 {
                    0.0
                } else {
                    x * x.ln()
                }
            }
            Asin => x.asin(),
            Acos => x.acos(),
            Atan => x.atan(),
            Atan2 => x.atan2(a[1]),
            SinXDivX => {
                if x == 0.0 {
                    1.0
                } else {
                    x.sin() / x
                }
            }
            ClampInt(lo, hi) => clamp(x, lo.into(), hi.into()),
            Round(d) => {
                let s = round_scale(d);
                (x * s).round() / s
            }
            Floor => x.floor(),
            Mod => x - a[1] * ((x - a[2]) / a[1]).floor(),
            Equal => b01(x == a[1]),
            NotEqual => b01(x != a[1]),
            LessThan => b01(x < a[1]),
            LessOrEqual => b01(x <= a[1]),
            GreaterThan => b01(x > a[1]),
            GreaterOrEqual => b01(x >= a[1]),
            VecMin | VecMax => x,
            VecArgMin | VecArgMax => 0.0,
            // Their shape is the node's, not their argument's: never folded to a scalar.
            OneHot | Extract(_) | ExtractT(_) | Broadcast => return None,
        })
    }

    /// The call and what it computes, for the messages about a name with several forms (`min`,
    /// `max`); `None` for the operations whose name has one form.
    pub fn form(self) -> Option<&'static str> {
        use Op::*;
        Some(match self {
            Min => "`min(f, g)`: the entrywise minimum",
            Max => "`max(f, g)`: the entrywise maximum",
            VecMin => "`min(f)`: the smallest entry of f",
            VecMax => "`max(f)`: the largest entry of f",
            Var(_) | Param(_) | Const(_) | Neg | Add | Sub | Mul | Div | Exp | Log | Sqrt
            | Rsqrt | Inv | Square | Abs | Sign | Step | Relu | Sin | Cos | Pow(_) | Powf
            | Clamp | IfElse | SqNorm | Norm | Dot | Sum | SqDist | Normalize | Elem(_)
            | Concat | XLogX | Asin | Acos | Atan | Atan2 | SinXDivX | ClampInt(..) | Round(_)
            | Floor | Mod | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan
            | GreaterOrEqual | VecArgMin | VecArgMax | OneHot | Extract(_) | ExtractT(_)
            | Broadcast | Index(_) | KMask(_) | TensorDot(_) => return None,
        })
    }

    /// Name in the canonical text of a formula (part of the kernels' names: changing one changes
    /// the formula ids). A function's is its first name in [`FUNCTIONS`] (tested), its
    /// parameters appended.
    pub fn canonical_name(self) -> String {
        use Op::*;
        let name = match self {
            Var(i) => return format!("var{i}"),
            Param(i) => return format!("param{i}"),
            Const(c) => return format!("{:?}", c.0),
            Pow(n) => return format!("pow{n}"),
            Elem(k) => return format!("elem{k}"),
            ClampInt(a, b) => return format!("clampint{a}_{b}"),
            Round(d) => return format!("round{d}"),
            Extract(Start::At(m)) => return format!("extract{m}"),
            ExtractT(Start::At(m)) => return format!("extractt{m}"),
            Index(r) => return format!("index_{}", r.letter()),
            KMask(k) => return format!("kmask{k}"),
            TensorDot(k) => return format!("tensordot{k}"),
            Extract(Start::Tail) => "extract_tail",
            ExtractT(Start::Tail) => "extractt_tail",
            Neg => "neg",
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Exp => "exp",
            Log => "log",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Inv => "inv",
            Square => "square",
            Abs => "abs",
            Sign => "sign",
            Step => "step",
            Relu => "relu",
            Sin => "sin",
            Cos => "cos",
            Powf => "powf",
            Min => "min",
            Max => "max",
            Clamp => "clamp",
            IfElse => "ifelse",
            SqNorm => "sqnorm",
            Norm => "norm",
            Dot => "dot",
            Sum => "sum",
            SqDist => "sqdist",
            Normalize => "normalize",
            Concat => "concat",
            XLogX => "xlogx",
            Asin => "asin",
            Acos => "acos",
            Atan => "atan",
            Atan2 => "atan2",
            SinXDivX => "sinxdivx",
            Floor => "floor",
            Mod => "modulo",
            Equal => "equal",
            NotEqual => "notequal",
            LessThan => "lessthan",
            LessOrEqual => "lessorequal",
            GreaterThan => "greaterthan",
            GreaterOrEqual => "greaterorequal",
            VecMin => "vecmin",
            VecMax => "vecmax",
            VecArgMin => "vecargmin",
            VecArgMax => "vecargmax",
            OneHot => "onehot",
            Broadcast => "broadcast",
        };
        name.to_string()
    }
}

/// KeOps' Clamp: `a` if `x < a`, `b` if `x > b`, else `x`.
fn clamp(x: f64, a: f64, b: f64) -> f64 {
    if x < a {
        a
    } else if x > b {
        b
    } else {
        x
    }
}

/// The decimal places `round(f, d)` accepts: `10^d` and `10^-d` are finite and normal in f32.
pub const ROUND_DECIMALS: std::ops::RangeInclusive<i32> = -30..=30;

/// `10^d`, the scale of `round(f, d)` (rounded to f64; the emitters round it to the precision).
pub fn round_scale(d: i32) -> f64 {
    format!("1e{d}").parse().expect("a valid float literal")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function's canonical name is the first name it has in `FUNCTIONS` (as the canonical
    /// text had it before names were listed), the names of the `min(f)` / `max(f)` forms, of
    /// the operations with parameters and of the weighted norms aside.
    #[test]
    fn canonical_names_are_the_functions_first_names() {
        for (k, def) in FUNCTIONS.iter().enumerate() {
            let first = FUNCTIONS[..k].iter().all(|d| d.op != def.op);
            let plain = !matches!(
                def.op,
                Op::Pow(_)
                    | Op::Elem(_)
                    | Op::ClampInt(..)
                    | Op::Round(_)
                    | Op::Extract(_)
                    | Op::ExtractT(_)
                    | Op::TensorDot(_)
                    | Op::VecMin
                    | Op::VecMax
                    | Op::VecArgMin
                    | Op::VecArgMax
                    | Op::Broadcast
            );
            if first && plain {
                assert_eq!(def.op.canonical_name(), def.name, "{:?}", def.op);
            }
        }
    }
}
