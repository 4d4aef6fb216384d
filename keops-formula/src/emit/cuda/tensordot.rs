//! A tensor contraction as C++ loops (as the Rust side's `tensordot.rs`): a few statements
//! whatever the dimensions, not unrolled.

use std::fmt::Write;

use super::{node, Routine};
use crate::ir::{Node, Shape};
use crate::tensor::Loop;

impl Routine<'_> {
    /// Node `n` (local `id`), the contraction `f.tensors[t]` of its two arguments: the loops of
    /// [`crate::tensor::TensorSpec::loops`] (one per output axis, then one per contracted pair),
    /// summed in `T`.
    pub(super) fn tensordot_stmt(&self, n: &Node, id: &str, t: usize) -> String {
        let f = self.f;
        let (outs, conts) = f.tensors[t].loops();
        let q: Vec<String> = (0..outs.len()).map(|k| format!("{id}_q{k}")).collect();
        let c: Vec<String> = (0..conts.len()).map(|k| format!("{id}_c{k}")).collect();
        let all: Vec<(&String, &Loop)> = q.iter().zip(&outs).chain(c.iter().zip(&conts)).collect();
        // The flat index into A, B or the output: the sum of loop variable times stride.
        let index = |stride: fn(&Loop) -> usize| {
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
