//! The simplifier (keops-formula/src/simplify.rs): the IR of formulas before and after (a
//! snapshot), each rule on its own, the shapes it must keep, and, for scalar formulas, that the
//! simplified IR computes exactly what the formula as written computes (evaluated node by node in
//! f64 with the operations' own definitions, on inputs that include 0, ties and negatives).

use keops_formula::ir::{reachable, Formula, Shape};
use keops_formula::op::{Const, Op, Typing};
use keops_formula::{analyze, analyze_unsimplified, simplify};
use proc_macro2::TokenStream;
use quote::quote;

fn before(t: TokenStream) -> Formula {
    let src = t.to_string();
    analyze_unsimplified(t).unwrap_or_else(|e| panic!("`{src}` was rejected: {:?}", e.messages()))
}

/// Simplified only (no division hoisting, which is not exact).
fn after(t: TokenStream) -> Formula {
    let mut f = before(t);
    simplify::simplify(&mut f);
    f
}

/// One line per node the roots use: `n3 = mul(n1, n2)  : vector c0, deps ij`, then the roots.
fn render(f: &Formula) -> String {
    let mut live = vec![false; f.nodes.len()];
    for r in f.roots() {
        live[r] = true;
    }
    for i in (0..f.nodes.len()).rev() {
        if live[i] {
            for &a in &f.nodes[i].args {
                live[a] = true;
            }
        }
    }
    let mut s = String::new();
    for (i, n) in f.nodes.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let what = match n.op {
            Op::Var(v) => f.vars[v].name.clone(),
            Op::Param(p) => f.params[p].ident.to_string(),
            op => {
                let args: Vec<String> = n.args.iter().map(|a| format!("n{a}")).collect();
                format!("{}({})", op.canonical_name(), args.join(", "))
            }
        };
        let shape = match n.shape {
            Shape::Scalar => "scalar".to_string(),
            Shape::Vector(c) => format!("vector c{c}"),
        };
        let deps = match n.deps {
            0 => "-",
            1 => "i",
            2 => "j",
            _ => "ij",
        };
        s += &format!(
            "{:<4} = {what:<28} : {shape}, deps {deps}\n",
            format!("n{i}")
        );
    }
    s += &format!("root = n{}\n", f.root);
    s
}

/// Every node's shape is what its operation gives its arguments' shapes.
#[track_caller]
fn assert_shapes(f: &Formula) {
    for (i, n) in f.nodes.iter().enumerate() {
        let shapes: Vec<Shape> = n.args.iter().map(|&a| f.nodes[a].shape).collect();
        match n.op.typing() {
            Typing::Entrywise => {
                let v = shapes.iter().find(|s| **s != Shape::Scalar);
                assert_eq!(n.shape, *v.unwrap_or(&Shape::Scalar), "node {i} {:?}", n.op);
            }
            Typing::ToScalar | Typing::PairToScalar | Typing::Elem => {
                assert_eq!(n.shape, Shape::Scalar, "node {i} {:?}", n.op)
            }
            Typing::SameShape => assert_eq!(n.shape, shapes[0], "node {i}"),
            Typing::Leaf if matches!(n.op, Op::Const(_)) => assert_eq!(n.shape, Shape::Scalar),
            _ => {}
        }
        for &a in &n.args {
            assert!(a < i, "node {i} uses {a}: not topological");
        }
    }
}

#[test]
fn before_and_after_snapshot() {
    let t = quote!(b_j: 2 => sum_j(exp(-(1 * sqdist(x_i, y_j) + 0)) * pow(b_j, 1) * (2 + 3)));
    let (b, a) = (before(t.clone()), after(t));
    assert_shapes(&b);
    assert_shapes(&a);
    let text = format!(
        "before:\n{}canonical: {}\n\nafter:\n{}canonical: {}\n",
        render(&b),
        b.canonical(),
        render(&a),
        a.canonical()
    );
    insta::assert_snapshot!(text);
}

#[test]
fn let_and_rules_snapshot() {
    // A let, x * 0 of a provably finite scalar (sin of data) and of a difference (kept: it may
    // overflow), --x, pow(.., 2), a > b, x / -1, commutativity.
    let t = quote!(
        x_i: 1, y_j: 1 =>
        let d = x_i - y_j;
        let k = exp(-square(d) / s) * (y_j > x_i);
        k * pow(d, 2) + k * (sin(x_i) * 0) - -(d * k) / -1 + (y_j - x_i) * 0 + k * (x_i < y_j)
    );
    let (b, a) = (before(t.clone()), after(t));
    assert_shapes(&a);
    insta::assert_snapshot!(format!("before:\n{}\nafter:\n{}", render(&b), render(&a)));
}

/// The operations of the nodes reachable from the root.
fn live_ops(f: &Formula) -> Vec<Op> {
    let live = reachable(&f.nodes, [f.root]);
    (0..f.nodes.len())
        .filter(|&i| live[i])
        .map(|i| f.nodes[i].op)
        .collect()
}

fn count(f: &Formula, op: Op) -> usize {
    live_ops(f).into_iter().filter(|&o| o == op).count()
}

#[test]
fn rules() {
    // pow.
    let f =
        after(quote!(x_i: 1, y_j: 1 => pow(x_i - y_j, 2) + pow(x_i - y_j, -1) + pow(x_i - y_j, 1)));
    assert_eq!(count(&f, Op::Square), 1);
    assert_eq!(count(&f, Op::Inv), 1);
    assert!(!live_ops(&f).iter().any(|o| matches!(o, Op::Pow(_))));
    let f = after(quote!(x_i: 1, y_j: 1 => pow(x_i - y_j, 0) * y_j));
    assert_eq!(f.nodes[f.root].op, Op::Var(1), "1 * y_j");
    // pow(x, 0) of a vector is a vector of ones: kept.
    let f = after(quote!(x_i: 3 => sum_j(pow(x_i - y_j, 0))));
    assert_eq!(count(&f, Op::Pow(0)), 1);
    assert_shapes(&f);
    // x * 0: folded for a provably finite scalar only.
    let f = after(quote!(x_i: 1, y_j: 1 => exp(x_i) + sin(x_i) * 0 * cos(y_j)));
    assert_eq!(f.nodes[f.root].op, Op::Exp);
    let f = after(quote!(x_i: 1, y_j: 1 => y_j + exp(x_i) * 0));
    assert_eq!(
        count(&f, Op::Mul),
        1,
        "exp may overflow to inf: inf * 0 is NaN"
    );
    let f = after(quote!(x_i: 1, y_j: 1 => y_j + (x_i * y_j) * 0));
    assert_eq!(count(&f, Op::Mul), 2, "a product may overflow");
    let f = after(quote!(x_i: 3 => sum_j(x_i * 0 + y_j)));
    assert_eq!(count(&f, Op::Mul), 1, "a vector of zeros keeps its node");
    assert_shapes(&f);
    // Constant folding, with the new operations' definitions at their special points.
    let f = after(
        quote!(x_i: 1, y_j: 1 => x_i * (xlogx(0) + sinxdivx(0) + rsqrt(0) + atan2(0, 1)) + y_j),
    );
    assert_eq!(f.nodes[f.root].op, Op::Add);
    assert_eq!(count(&f, Op::Const(Const(1.0))), 0, "x_i * 1 vanished");
    let f = after(
        quote!(x_i: 1, y_j: 1 => x_i * (round(2.5, 0) + modulo(-1, 3) + clampint(7, 0, 5)) + y_j),
    );
    assert!(
        live_ops(&f).contains(&Op::Const(Const(10.0))),
        "{}",
        render(&f)
    );
    let f =
        after(quote!(x_i: 1, y_j: 1 => x_i * ((2 < 3) + (2 == 2) + (3 <= 2) + floor(-0.5)) + y_j));
    assert_eq!(count(&f, Op::Mul), 0, "x_i * 1 is x_i:\n{}", render(&f));
    // A non-finite constant is left to run time.
    let f = after(quote!(x_i: 1, y_j: 1 => x_i * log(0) + y_j));
    assert_eq!(count(&f, Op::Log), 1);
    // Negations.
    let f = after(quote!(x_i: 1, y_j: 1 => x_i + -y_j));
    assert_eq!(f.nodes[f.root].op, Op::Sub);
    let f = after(quote!(x_i: 1, y_j: 1 => x_i - -y_j));
    assert_eq!(f.nodes[f.root].op, Op::Add);
    let f = after(quote!(x_i: 1, y_j: 1 => 0 - y_j * x_i));
    assert_eq!(f.nodes[f.root].op, Op::Neg);
    let f = after(quote!(x_i: 1, y_j: 1 => square(-(x_i - y_j)) + abs(-(x_i - y_j))));
    assert_eq!(count(&f, Op::Neg), 0);
    // ifelse, min, max.
    let f = after(quote!(x_i: 1, y_j: 1 => ifelse(x_i, y_j, y_j) + min(x_i, x_i) * max(y_j, y_j)));
    assert_eq!(
        count(&f, Op::IfElse) + count(&f, Op::Min) + count(&f, Op::Max),
        0
    );
    let f = after(quote!(x_i: 1, y_j: 1 => ifelse(-1, x_i, y_j) * ifelse(0, x_i, y_j)));
    let ops: Vec<Op> = f.nodes[f.root]
        .args
        .iter()
        .map(|&a| f.nodes[a].op)
        .collect();
    assert_eq!(ops, [Op::Var(0), Op::Var(1)]);
    // An ifelse whose condition is a vector keeps its shape even with equal scalar branches.
    let f = after(quote!(x_i: 3 => sum_j(ifelse(x_i, y_j * 0 + 1, 1) * 2)));
    assert_shapes(&f);
    // Commutative operations share one node.
    let f = after(quote!(x_i: 1, y_j: 1 => x_i * y_j + y_j * x_i + min(x_i, y_j) * min(y_j, x_i)));
    assert_eq!(count(&f, Op::Mul), 2);
    assert_eq!(count(&f, Op::Min), 1);
}

#[test]
fn simplifying_twice_changes_nothing() {
    for t in [
        quote!(b_j: 2 => sum_j(exp(-(1 * sqdist(x_i, y_j) + 0)) * pow(b_j, 1) * (2 + 3))),
        quote!(x_i: 1, y_j: 1 => --(x_i * 1) + 0 * sin(y_j) - (0 - y_j) / -1 + pow(x_i - y_j, 2)),
        quote!(let d = sqdist(x_i, y_j); exp(-d / s) * (1 + d) * (d > 1)),
    ] {
        let once = after(t);
        let mut twice = once.clone();
        simplify::simplify(&mut twice);
        assert_eq!(once.canonical(), twice.canonical());
        assert_shapes(&once);
    }
}

#[test]
fn analyze_simplifies_and_shares() {
    // The whole pipeline (with division hoisting): a let and the written-out formula are one IR,
    // and the hoisted reciprocal of a constant is folded.
    let a = analyze(quote!(let d = sqdist(x_i, y_j); sum_j(exp(-d / 2) * (1 + d) * b_j))).unwrap();
    let b = analyze(quote!(sum_j(
        exp(-sqdist(x_i, y_j) / 2) * (sqdist(x_i, y_j) + 1) * b_j
    )))
    .unwrap();
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(count(&a, Op::Div) + count(&a, Op::Inv), 0, "{}", render(&a));
    assert!(live_ops(&a).contains(&Op::Const(Const(0.5))));
}

// ---------------------------------------------------------------------------------------------
// Exactness on scalar formulas: the IR as written and simplified, evaluated node by node.

/// The value of a kernel formula whose variables are scalars, at `x_i = x`, `y_j = y`, every
/// parameter `p`.
fn eval(f: &Formula, x: f64, y: f64, p: f64) -> f64 {
    let mut v: Vec<f64> = Vec::with_capacity(f.nodes.len());
    for n in &f.nodes {
        let val = match n.op {
            Op::Var(k) => {
                if f.vars[k].name.ends_with("_i") {
                    x
                } else {
                    y
                }
            }
            Op::Param(_) => p,
            Op::Const(c) => c.0,
            op => {
                let args: Vec<f64> = n.args.iter().map(|&a| v[a]).collect();
                op.eval_f64(&args).expect("a scalar operation")
            }
        };
        v.push(val);
    }
    v[f.root]
}

#[test]
fn simplified_scalar_formulas_compute_the_same_values() {
    let formulas = [
        quote!(x_i: 1, y_j: 1 => exp(-(1 * square(x_i - y_j) + 0)) * pow(y_j, 1) * (2 + 3)),
        quote!(x_i: 1, y_j: 1 => --(x_i * 1) + 0 * sin(y_j) - (0 - y_j) / -1 + pow(x_i - y_j, 2)),
        quote!(x_i: 1, y_j: 1 => pow(x_i, 0) + pow(y_j, -1) * -1 + x_i / 1 - 0 + x_i * -1),
        quote!(x_i: 1, y_j: 1 => x_i + -y_j - (y_j - -x_i) + (-x_i + y_j) + square(-x_i) + abs(-y_j)),
        quote!(x_i: 1, y_j: 1 => ifelse(x_i - y_j, x_i, x_i) + ifelse(2, y_j, x_i) + min(x_i, x_i) * max(y_j, y_j)),
        quote!(x_i: 1, y_j: 1 => (x_i > y_j) + (x_i >= y_j) * 2 + (y_j < x_i) * 4 + (x_i == y_j) * 8 + (y_j != x_i) * 16),
        quote!(x_i: 1, y_j: 1 => sign(x_i) * 0 + step(y_j - x_i) * 0 + clampint(x_i * s, -1, 1) * 0 + atan2(x_i, y_j) * 0 + y_j),
        quote!(x_i: 1, y_j: 1 => xlogx(x_i * 0 + 0) + sinxdivx(y_j * 0) + rsqrt(0 * x_i) + modulo(x_i, 2, 0.5) + round(y_j, 1)),
        quote!(x_i: 1, y_j: 1 => let d = x_i - y_j; let e = d * d; e * 1 + d * 0 + e * (d < 0) + floor(d) * (2 - 1)),
    ];
    let mut values = vec![0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-3, -7.25, 3.0];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..40 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        values.push((state >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0);
    }
    for t in formulas {
        let src = t.to_string();
        let (b, a) = (before(t.clone()), after(t));
        assert_shapes(&a);
        for &x in &values {
            for &y in &values[..12] {
                let (vb, va) = (eval(&b, x, y, 0.75), eval(&a, x, y, 0.75));
                // Equal, a zero of either sign for a zero (the sign of a zero is not kept).
                assert!(
                    vb == va || (vb.is_nan() && va.is_nan()),
                    "`{src}` at x = {x}, y = {y}: {vb} as written, {va} simplified\n{}",
                    render(&a)
                );
            }
        }
    }
}
