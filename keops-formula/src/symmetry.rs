//! Symmetric kernels: a proof that a kernel formula `K(x_i, y_j)` gives bitwise the same value
//! when its i and j variables are exchanged, so that a kernel matrix of one point set with itself
//! may compute each pair (i, j) once and use it for (j, i) too. The runtime checks that both
//! variables hold the same data; this is the compile-time half.
//!
//! Method: every live node gets a canonical key (hash-consed terms shared by both passes), once
//! with the variables as they are and once with the two exchanged; the formula is symmetric when
//! the root's two keys are equal. Equal keys mean bitwise equal values (NaN payloads aside: a NaN
//! on one side is a NaN on the other), because the keys only forget what IEEE arithmetic cannot
//! tell apart:
//! - the operand order of `+`, `*`, `dot`, `sqdist`, `==` and `!=`, which are exactly commutative
//!   (the emitters evaluate them entry by entry, summing the entries in the same order either
//!   way);
//! - the operand order of a difference `a - b` under an even function (`square`, `abs`, `sqnorm`,
//!   `norm`, `pow(., n)` with n even, `d * d`, `dot(d, d)`): `b - a` is `a - b` or its exact
//!   negation (rounding to nearest is symmetric; both are +0 when `a == b`), and these functions
//!   give bitwise equal results at `v` and `-v` (see `is_even`).
//!
//! Deliberately left ordered: `min`/`max` (`fmin(+0, -0)` may return either zero), a difference
//! anywhere else (`sum(x - y)`, `-(x - y)` are odd), `cos` (`cos(-x)` need not be bitwise
//! `cos(x)` in a libm).
//!
//! Fused multiply-add: nvcc contracts `a * b + c` into one `fma` (its default), which rounds once.
//! `p + q` with two products is then `fma(p.a, p.b, q)`: not symmetric in `p` and `q`, and two
//! equal sub-expressions need not be contracted alike. So an exchange of two different operands
//! (which the keys above allow) is only made between operands whose computation contains no
//! product feeding an addition, and for the additive operations (`+`, `sqdist`, the difference
//! under an even function) not between two products; see `Fusion`.

use std::collections::HashMap;

use crate::ir::{reachable, Formula, NodeId, Reduction, Role, Shape};
use crate::op::Op;

/// The variables `(i, j)` (indices into `f.vars`) whose exchange leaves the kernel formula
/// unchanged bitwise, so that `K(x, y)` and `K(y, x)` may share one evaluation; `None` when that
/// is not proven (soundness first: a symmetric formula may be missed, never the other way).
///
/// Requires a kernel matrix (`Reduction::Kernel`, no weight, no forward stages) with exactly one
/// i variable and one j variable of the same shape (else exchanging them is meaningless), any
/// number of parameters (the exchange leaves them alone).
pub fn symmetric_pair(f: &Formula) -> Option<(usize, usize)> {
    if f.reduction != Reduction::Kernel || !f.stages.is_empty() || f.weight.is_some() || f.total {
        return None;
    }
    let mut is = f.vars_of(Role::I);
    let mut js = f.vars_of(Role::J);
    let ((i, vi), (j, vj)) = (is.next()?, js.next()?);
    if is.next().is_some() || js.next().is_some() || vi.shape != vj.shape {
        return None;
    }
    let live = reachable(&f.nodes, [f.root]);
    if (f.nodes.iter().zip(&live)).any(|(n, &l)| l && is_gradient_internal(n.op)) {
        return None;
    }
    let fusion = Fusion::new(f);
    let mut keys = Keys::default();
    let direct = keys.root_key(f, &live, &fusion, |v| v);
    let swap = |v| {
        if v == i {
            j
        } else if v == j {
            i
        } else {
            v
        }
    };
    let exchanged = keys.root_key(f, &live, &fusion, swap);
    (direct == exchanged).then_some((i, j))
}

/// A canonical term: what a key stands for.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Tag {
    /// The operation on the argument keys (sorted for the commutative ones).
    Op(Op),
    /// The even operation (see `is_even`) of a difference, on the difference's two operand
    /// keys sorted.
    EvenOfDiff(Op),
}

type Key = usize;

/// Hash-consing of canonical terms, shared by both passes so that their keys compare.
#[derive(Default)]
struct Keys {
    terms: HashMap<(Tag, Vec<Key>, Shape), Key>,
}

impl Keys {
    fn intern(&mut self, tag: Tag, args: Vec<Key>, shape: Shape) -> Key {
        let next = self.terms.len();
        *self.terms.entry((tag, args, shape)).or_insert(next)
    }

    /// The root's key with variable `v` read as `var(v)` (the exchange, or the identity).
    fn root_key(
        &mut self,
        f: &Formula,
        live: &[bool],
        fusion: &Fusion,
        var: impl Fn(usize) -> usize,
    ) -> Key {
        let mut key: Vec<Key> = vec![usize::MAX; f.nodes.len()];
        // Nodes are topologically ordered: arguments first.
        for (k, n) in f.nodes.iter().enumerate().filter(|&(k, _)| live[k]) {
            let args: Vec<Key> = n.args.iter().map(|&a| key[a]).collect();
            let (tag, args) = match (n.op, even_of_diff(f, fusion, k, &key)) {
                (Op::Var(v), _) => (Tag::Op(Op::Var(var(v))), args),
                (op, Some(pair)) => (Tag::EvenOfDiff(op), pair),
                (op, None) if is_commutative(op) && n.args.len() == 2 => {
                    let mut args = args;
                    if fusion.may_exchange(op, n.args[0], n.args[1]) {
                        args.sort_unstable();
                    }
                    (Tag::Op(op), args)
                }
                (op, None) => (Tag::Op(op), args),
            };
            key[k] = self.intern(tag, args, n.shape);
        }
        key[f.root]
    }
}

/// For node `k`, an even function of a difference `a - b` (see `is_even`): the sorted keys
/// of `a` and `b`, when exchanging them is allowed.
fn even_of_diff(f: &Formula, fusion: &Fusion, k: NodeId, key: &[Key]) -> Option<Vec<Key>> {
    let n = &f.nodes[k];
    if !is_even(n.op) || n.args.iter().any(|&a| a != n.args[0]) {
        return None;
    }
    let d = &f.nodes[n.args[0]];
    if d.op != Op::Sub || !fusion.may_exchange(Op::Sub, d.args[0], d.args[1]) {
        return None;
    }
    let mut pair = vec![key[d.args[0]], key[d.args[1]]];
    pair.sort_unstable();
    Some(pair)
}

/// The internal operations of gradients: not expected in a kernel matrix, and `Index` reads the
/// role itself (an exchange would have to exchange it too). Every operation is listed, as in the
/// other tables of this analysis: a new one must say how it behaves.
fn is_gradient_internal(op: Op) -> bool {
    use Op::*;
    match op {
        Index(_) | KMask(_) => true,
        Var(_) | Param(_) | Const(_) | Neg | Add | Sub | Mul | Div | Exp | Log | Sqrt | Rsqrt
        | Inv | Square | Abs | Sign | Step | Relu | Sin | Cos | Pow(_) | Powf | Min | Max
        | Clamp | IfElse | SqNorm | Norm | Dot | Sum | SqDist | Normalize | Elem(_) | Concat
        | XLogX | Asin | Acos | Atan | Atan2 | SinXDivX | ClampInt(..) | Round(_) | Floor | Mod
        | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual | VecMin
        | VecMax | VecArgMin | VecArgMax | OneHot | Extract(_) | ExtractT(_) | Broadcast
        | TensorDot(_) => false,
    }
}

/// Operations whose two operands may be exchanged: exactly commutative in IEEE arithmetic, entry
/// by entry, with the same summation order either way (`dot`, `sqdist`); `==` and `!=` are
/// symmetric relations. Not `min`/`max`: which zero `fmin(+0, -0)` returns is unspecified.
fn is_commutative(op: Op) -> bool {
    use Op::*;
    match op {
        Add | Mul | Dot | SqDist | Equal | NotEqual => true,
        Min | Max => false,
        // Not symmetric in their operands, or of one operand.
        Var(_) | Param(_) | Const(_) | Neg | Sub | Div | Exp | Log | Sqrt | Rsqrt | Inv
        | Square | Abs | Sign | Step | Relu | Sin | Cos | Pow(_) | Powf | Clamp | IfElse
        | SqNorm | Norm | Sum | Normalize | Elem(_) | Concat | XLogX | Asin | Acos | Atan
        | Atan2 | SinXDivX | ClampInt(..) | Round(_) | Floor | Mod | LessThan | LessOrEqual
        | GreaterThan | GreaterOrEqual | VecMin | VecMax | VecArgMin | VecArgMax | OneHot
        | Extract(_) | ExtractT(_) | Broadcast | Index(_) | KMask(_) | TensorDot(_) => false,
    }
}

/// Even functions, `g(-v) == g(v)` bitwise for every `v` (±0, ±inf included), when every
/// argument is one node `v` (`mul(v, v)`, `dot(v, v)`; one argument otherwise): a product of two
/// negated factors rounds as that of the factors, `abs` clears the sign, `sqnorm` and `norm` sum
/// the same squares in the same order. `pow(v, n)` multiplies `|n|` copies of `v` or of `1 / v`
/// (Rust's `powi`, the CUDA prelude's `keops_powi`, the SIMD packs' `powi`), inverting the
/// product or the base for `n < 0`: however the products associate, each partial product of `m`
/// copies of `-v` is that of `v` times `(-1)^m`, exactly, and `1 / -w` is `-(1 / w)`.
fn is_even(op: Op) -> bool {
    use Op::*;
    match op {
        Square | Abs | SqNorm | Norm | Mul | Dot => true,
        Pow(n) => n % 2 == 0,
        // Not proven even (`cos` need not be bitwise even in a libm), or odd.
        Var(_) | Param(_) | Const(_) | Neg | Add | Sub | Div | Exp | Log | Sqrt | Rsqrt | Inv
        | Sign | Step | Relu | Sin | Cos | Powf | Min | Max | Clamp | IfElse | Sum | SqDist
        | Normalize | Elem(_) | Concat | XLogX | Asin | Acos | Atan | Atan2 | SinXDivX
        | ClampInt(..) | Round(_) | Floor | Mod | Equal | NotEqual | LessThan | LessOrEqual
        | GreaterThan | GreaterOrEqual | VecMin | VecMax | VecArgMin | VecArgMax | OneHot
        | Extract(_) | ExtractT(_) | Broadcast | Index(_) | KMask(_) | TensorDot(_) => false,
    }
}

/// What a fused multiply-add (nvcc contracts `a * b + c` by default) may change, per node, so that
/// two different operands are exchanged only where both compute exactly what their keys say.
struct Fusion {
    /// The value may be a product left unrounded into a consumer that adds it (through
    /// operations that pass values on: negation, selections, entries).
    product: Vec<bool>,
    /// No product in the node's computation (itself excluded) may have been fused into an
    /// addition: the value is that of its operations rounded one by one.
    exact: Vec<bool>,
}

impl Fusion {
    fn new(f: &Formula) -> Fusion {
        let mut product: Vec<bool> = Vec::with_capacity(f.nodes.len());
        let mut exact: Vec<bool> = Vec::with_capacity(f.nodes.len());
        for n in &f.nodes {
            let any_product = n.args.iter().any(|&a| product[a]);
            let scalar_arg = n.args.first().map(|&a| f.nodes[a].shape) == Some(Shape::Scalar);
            let is_const = |a: &NodeId| matches!(f.nodes[*a].op, Op::Const(_));
            let p = match product_kind(n.op) {
                Product::Never => false,
                Product::Always => true,
                Product::IfFoldable => any_product && n.args.iter().any(is_const),
                Product::IfScalar => scalar_arg,
                Product::PassesOn => any_product,
            };
            let e = n.args.iter().all(|&a| exact[a]) && !(adds_arguments(n.op) && any_product);
            product.push(p);
            exact.push(e);
        }
        Fusion { product, exact }
    }

    /// Whether the operands `a` and `b` of `op` may be exchanged in a key: unless they are one
    /// node, both must be computed exactly, and for an operation that adds them, not both be
    /// products (the fused one would be `a` or `b`, depending on the code, not on the values).
    fn may_exchange(&self, op: Op, a: NodeId, b: NodeId) -> bool {
        a == b
            || (self.exact[a]
                && self.exact[b]
                && !(adds_arguments(op) && self.product[a] && self.product[b]))
    }
}

/// Whether a node's value may be a product left unrounded (see [`Fusion`]).
enum Product {
    /// Never: leaves, and the results of a division, square root, comparison, rounding or sum.
    Never,
    /// Always: products, and library functions whose last operation may be one.
    Always,
    /// `x + c`, `x - c` with a constant `c` (`x + -0.0` and `x - 0.0` may be folded to `x`): when
    /// the other argument may be a product.
    IfFoldable,
    /// Accumulated sums over a vector, products of scalars: when the arguments are scalars.
    IfScalar,
    /// A (selection of the) value of its arguments: when one of them may be a product.
    PassesOn,
}

/// See [`Product`]. Every operation is listed: a new one must say whether it may pass on a
/// product to be fused.
fn product_kind(op: Op) -> Product {
    use Op::*;
    match op {
        Var(_) | Param(_) | Const(_) | Index(_) => Product::Never,
        Div | Inv | Sqrt | Rsqrt | Abs | Sign | Step => Product::Never,
        Floor | Round(_) | Mod | VecArgMin | VecArgMax | OneHot => Product::Never,
        Equal | NotEqual | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual => Product::Never,
        Norm => Product::Never,
        Add | Sub => Product::IfFoldable,
        SqNorm | Dot | SqDist => Product::IfScalar,
        Neg | Elem(_) | Extract(_) | ExtractT(_) | Concat => Product::PassesOn,
        Broadcast | Clamp | ClampInt(..) | IfElse | Relu => Product::PassesOn,
        Min | Max | VecMin | VecMax | Sum => Product::PassesOn,
        Mul | Exp | Log | Square | Sin | Cos | Pow(_) | Powf | Normalize | XLogX | Asin | Acos
        | Atan | Atan2 | SinXDivX | KMask(_) | TensorDot(_) => Product::Always,
    }
}

/// Operations that may add an argument value to something, where a product argument could be
/// fused: the sums and differences, and the library functions (whose code is not ours).
/// Products, divisions, square roots, selections and comparisons do not.
fn adds_arguments(op: Op) -> bool {
    use Op::*;
    match op {
        Add | Sub | Sum | SqDist | Mod => true,
        Exp | Log | Sin | Cos | Powf | XLogX | Asin | Acos | Atan | Atan2 | SinXDivX | Round(_) => {
            true
        }
        Index(_) | KMask(_) => true,
        Var(_) | Param(_) | Const(_) | Neg | Mul | Div | Inv | Sqrt | Rsqrt | Square | Abs
        | Sign | Step | Relu | Pow(_) | Min | Max | Clamp | ClampInt(..) | IfElse | SqNorm
        | Norm | Dot | Normalize | Elem(_) | Concat | Extract(_) | ExtractT(_) | Broadcast
        | Floor | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual
        | VecMin | VecMax | VecArgMin | VecArgMax | OneHot | TensorDot(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formula(src: &str) -> Formula {
        let tokens: proc_macro2::TokenStream = src.parse().expect("tokenizes");
        crate::analyze(tokens).unwrap_or_else(|e| panic!("`{src}`: {:?}", e.messages()))
    }

    #[track_caller]
    fn symmetric(src: &str) {
        let f = formula(src);
        let pair = symmetric_pair(&f);
        assert!(
            pair.is_some(),
            "`{src}` not proven symmetric: {}",
            f.canonical()
        );
        let (i, j) = pair.unwrap();
        assert_eq!(
            (f.vars[i].role, f.vars[j].role),
            (Role::I, Role::J),
            "`{src}`"
        );
    }

    #[track_caller]
    fn asymmetric(src: &str) {
        let f = formula(src);
        assert_eq!(symmetric_pair(&f), None, "`{src}`: {}", f.canonical());
    }

    /// A scalar formula evaluated node by node in f64 with the operations' own definitions
    /// ([`Op::eval_f64`], those of the runtime), `x` for the i variable, `y` for the j one.
    fn eval(f: &Formula, x: f64, y: f64) -> f64 {
        let mut v: Vec<f64> = Vec::with_capacity(f.nodes.len());
        for n in &f.nodes {
            let a: Vec<f64> = n.args.iter().map(|&a| v[a]).collect();
            v.push(match n.op {
                Op::Var(k) if f.vars[k].role == Role::I => x,
                Op::Var(_) => y,
                Op::Param(_) => 0.7,
                Op::Const(c) => c.0,
                op => op.eval_f64(&a).expect("a scalar operation"),
            });
        }
        v[f.root]
    }

    /// What the proof claims, checked on inputs with signed zeros, ties, extremes and
    /// subnormals: bitwise equal values (any NaN for a NaN).
    #[test]
    fn scalar_claims_hold_bitwise() {
        let inputs = [
            0.0, -0.0, 1.0, -1.0, 0.1, 0.3, -2.5, 1e308, -1e308, 5e-324, -5e-324, 7.0,
        ];
        for src in [
            "x_i: 1, y_j: 1 => exp(-abs(x_i - y_j))",
            "x_i: 1, y_j: 1 => (x_i - y_j) * (x_i - y_j)",
            "x_i: 1, y_j: 1 => (x_i - y_j) * (y_j - x_i)",
            "x_i: 1, y_j: 1 => 1 / (1 + sqdist(x_i, y_j))",
            "x_i: 1, y_j: 1 => x_i + y_j + x_i * y_j",
            "x_i: 1, y_j: 1, s: 1 => exp(-sqnorm(x_i - y_j) / (2 * s * s))",
            "x_i: 1, y_j: 1 => pow(x_i - y_j, 4) + pow(y_j - x_i, -2) + dot(x_i, y_j)",
            "x_i: 1, y_j: 1, s: 1 => (1 + sqrt(3) * norm(x_i - y_j) / s) * exp(-norm(x_i - y_j))",
            "x_i: 1, y_j: 1 => inv(square(x_i - y_j)) + (x_i == y_j) + (x_i != y_j)",
        ] {
            let f = formula(src);
            assert!(symmetric_pair(&f).is_some(), "`{src}`");
            for &x in &inputs {
                for &y in &inputs {
                    let (a, b) = (eval(&f, x, y), eval(&f, y, x));
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "`{src}` at ({x:e}, {y:e}): {a:e} vs {b:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn radial_kernels() {
        symmetric("exp(-sqnorm(x_i - y_j) / (2 * s * s))");
        symmetric("exp(-sqrt(sqnorm(x_i - y_j)) / s)");
        symmetric("exp(-sqnorm(y_j - x_i))");
        symmetric("1 / (1 + sqdist(x_i, y_j))");
        symmetric("1 / (1 + sqdist(y_j, x_i))");
        symmetric("(1 + sqrt(3) * norm(x_i - y_j) / s) * exp(-sqrt(3) * norm(x_i - y_j) / s)");
        symmetric("x_i: 3, y_j: 3 => rsqrt(1 + sum(square(x_i - y_j)))");
        symmetric("x_i: 2, y_j: 2, c: 2 => exp(-sqnorm(c * pow(x_i - y_j, 4)))");
    }

    #[test]
    fn scalar_kernels() {
        symmetric("x_i: 1, y_j: 1 => exp(-abs(x_i - y_j))");
        symmetric("x_i: 1, y_j: 1 => (x_i - y_j) * (x_i - y_j)");
        symmetric("x_i: 1, y_j: 1 => (x_i - y_j) * (y_j - x_i)");
        symmetric("x_i: 1, y_j: 1 => x_i + y_j + x_i * y_j");
        symmetric("x_i: 1, y_j: 1 => x_i == y_j");
    }

    #[test]
    fn dot_products() {
        symmetric("dot(x_i, y_j)");
        symmetric("exp(-sqdist(x_i, y_j)) * pow(1 + dot(y_j, x_i), 3)");
        // Vector dot products are sums, not products: no fused multiply-add to fear.
        symmetric("x_i: 3, y_j: 3, p: 3 => dot(x_i, p) + dot(y_j, p)");
    }

    #[test]
    fn odd_uses_of_a_difference() {
        asymmetric("exp(-sum(x_i - y_j))");
        asymmetric("x_i: 1, y_j: 1 => x_i - y_j");
        asymmetric("x_i: 1, y_j: 1 => exp(-(x_i - y_j))");
        asymmetric("x_i: 1, y_j: 1 => pow(x_i - y_j, 3)");
        asymmetric("x_i: 1, y_j: 1 => (x_i - y_j) * (x_i + y_j)");
        asymmetric("x_i: 1, y_j: 1 => abs(x_i - 2 * y_j)");
    }

    #[test]
    fn one_sided_parameters_and_data() {
        asymmetric("x_i: 3, y_j: 3, p: 3 => exp(-sqnorm(x_i - y_j)) * dot(x_i, p)");
        asymmetric("exp(-sqnorm(x_i - y_j - p))");
        asymmetric("x_i: 1, y_j: 1 => x_i / y_j");
        asymmetric("x_i: 1, y_j: 1 => x_i < y_j");
    }

    #[test]
    fn not_proven() {
        // fmin(+0, -0) may return either zero.
        asymmetric("x_i: 1, y_j: 1 => min(x_i, y_j)");
        // Two products under a sum: a fused multiply-add rounds one of them, code decides which.
        asymmetric("x_i: 1, y_j: 1, p: 1 => x_i * p + y_j * p");
        asymmetric("x_i: 1, y_j: 1, p: 1 => square(x_i * p - y_j * p)");
    }

    #[test]
    fn shapes_roles_and_reductions() {
        asymmetric("exp(-sqdist(x_i, y_j)) * sqnorm(z_i)");
        asymmetric("exp(-sqdist(x_i, y_j)) * sqnorm(z_j)");
        asymmetric("x_i: 3, y_j: 4 => sqnorm(x_i) + sqnorm(y_j)");
        asymmetric("x_i: 1, y_j: 3 => exp(-sqnorm(x_i - y_j))");
        asymmetric("sum_j(exp(-sqnorm(x_i - y_j)))");
        asymmetric("x_i: 3 => sum_i(exp(-sqnorm(x_i - y_j)))");
    }
}
