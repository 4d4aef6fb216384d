//! The operations of the formula language: names, arities, how they type, how they fold.
//!
//! Adding an operation: a variant here, its row in [`FUNCTIONS`], its arm in [`Op::typing`] and
//! [`Op::eval_f64`], and one arm in each emitter.

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Data variable (index into `Formula::vars`).
    Var(usize),
    /// Parameter (index into `Formula::params`).
    Param(usize),
    Const(Const),
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Inv,
    Square,
    Abs,
    Sign,
    Step,
    Relu,
    Sin,
    Cos,
    /// Integer power, exponent fixed in the formula.
    Pow(i32),
    Powf,
    Min,
    Max,
    Clamp,
    IfElse,
    SqNorm,
    Norm,
    Dot,
    Sum,
    SqDist,
    Normalize,
    /// Entry `k` of a vector.
    Elem(usize),
    Concat,
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
}

/// What the formula language calls a function: its name, argument count (the integer argument of
/// `pow` and `elem` included) and operation.
pub struct FnDef {
    pub name: &'static str,
    pub arity: usize,
    pub op: Op,
}

macro_rules! fns {
    ($($name:literal $arity:literal $op:expr;)*) => {
        pub const FUNCTIONS: &[FnDef] = &[$(FnDef { name: $name, arity: $arity, op: $op }),*];
    };
}
fns! {
    "exp" 1 Op::Exp; "log" 1 Op::Log; "sqrt" 1 Op::Sqrt; "rsqrt" 1 Op::Rsqrt; "inv" 1 Op::Inv;
    "square" 1 Op::Square; "abs" 1 Op::Abs; "sign" 1 Op::Sign; "step" 1 Op::Step; "relu" 1 Op::Relu;
    "sin" 1 Op::Sin; "cos" 1 Op::Cos; "pow" 2 Op::Pow(0); "powf" 2 Op::Powf; "min" 2 Op::Min;
    "max" 2 Op::Max; "clamp" 3 Op::Clamp; "ifelse" 3 Op::IfElse; "sqnorm" 1 Op::SqNorm;
    "sqnorm2" 1 Op::SqNorm; "norm" 1 Op::Norm; "norm2" 1 Op::Norm; "dot" 2 Op::Dot; "sum" 1 Op::Sum;
    "sqdist" 2 Op::SqDist; "normalize" 1 Op::Normalize; "elem" 2 Op::Elem(0); "concat" 2 Op::Concat;
}

/// Reductions, recognised only as the whole formula.
pub const REDUCTIONS: &[&str] = &["sum_j", "sum_i"];

pub fn lookup(name: &str) -> Option<&'static FnDef> {
    FUNCTIONS.iter().find(|f| f.name == name)
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
    pub fn typing(self) -> Typing {
        use Op::*;
        match self {
            Var(_) | Param(_) | Const(_) => Typing::Leaf,
            Neg | Add | Sub | Mul | Div | Exp | Log | Sqrt | Rsqrt | Inv | Square | Abs | Sign
            | Step | Relu | Sin | Cos | Pow(_) | Powf | Min | Max | Clamp | IfElse => {
                Typing::Entrywise
            }
            SqNorm | Norm | Sum => Typing::ToScalar,
            Dot | SqDist => Typing::PairToScalar,
            Normalize => Typing::SameShape,
            Elem(_) => Typing::Elem,
            Concat => Typing::Concat,
        }
    }

    /// The operation on scalars, in f64: for constant folding. `None` for non-entrywise operations.
    pub fn eval_f64(self, a: &[f64]) -> Option<f64> {
        use Op::*;
        let x = *a.first()?;
        Some(match self {
            Neg => -x,
            Add => x + a[1],
            Sub => x - a[1],
            Mul => x * a[1],
            Div => x / a[1],
            Exp => x.exp(),
            Log => x.ln(),
            Sqrt => x.sqrt(),
            Rsqrt => 1.0 / x.sqrt(),
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
            Step => {
                if x < 0.0 {
                    0.0
                } else {
                    1.0
                }
            }
            Relu => x.max(0.0),
            Sin => x.sin(),
            Cos => x.cos(),
            Pow(n) => x.powi(n),
            Powf => x.powf(a[1]),
            Min => x.min(a[1]),
            Max => x.max(a[1]),
            Clamp => {
                if x < a[1] {
                    a[1]
                } else if x > a[2] {
                    a[2]
                } else {
                    x
                }
            }
            IfElse => {
                if x >= 0.0 {
                    a[1]
                } else {
                    a[2]
                }
            }
            _ => return None,
        })
    }

    /// Name in the canonical text of a formula.
    pub fn canonical_name(self) -> String {
        use Op::*;
        match self {
            Var(i) => format!("var{i}"),
            Param(i) => format!("param{i}"),
            Const(c) => format!("{:?}", c.0),
            Neg => "neg".into(),
            Add => "add".into(),
            Sub => "sub".into(),
            Mul => "mul".into(),
            Div => "div".into(),
            Pow(n) => format!("pow{n}"),
            Elem(k) => format!("elem{k}"),
            other => FUNCTIONS
                .iter()
                .find(|f| f.op == other)
                .map(|f| f.name.to_string())
                .unwrap_or_else(|| format!("{other:?}").to_lowercase()),
        }
    }
}
