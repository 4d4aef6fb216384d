//! Rewrites on the checked IR that make the generated code cheaper without changing what it means.
//! (Constant folding, trivial identities and common sub-expressions are handled while lowering.)

use std::collections::HashMap;

use crate::ir::{Formula, Node, NodeId};
use crate::op::Op;

/// `a / b`, where `b` does not depend on the reduction index but `a` does, becomes `a * inv(b)`:
/// the reciprocal is computed once per output row instead of a division per pair. (Rounding
/// differs from the division by at most an ulp or so.)
pub fn hoist_divisions(f: &mut Formula) {
    let inner = f.reduction.inner().dep();
    let mut nodes: Vec<Node> = Vec::with_capacity(f.nodes.len());
    let mut map: Vec<NodeId> = Vec::with_capacity(f.nodes.len());
    let mut inverses: HashMap<NodeId, NodeId> = HashMap::new();
    for n in &f.nodes {
        let args: Vec<NodeId> = n.args.iter().map(|&a| map[a]).collect();
        let mut node = Node {
            op: n.op,
            args,
            shape: n.shape,
            deps: n.deps,
        };
        if n.op == Op::Div {
            let (a, b) = (node.args[0], node.args[1]);
            if nodes[a].deps & inner != 0 && nodes[b].deps & inner == 0 {
                let inv = *inverses.entry(b).or_insert_with(|| {
                    nodes.push(Node {
                        op: Op::Inv,
                        args: vec![b],
                        shape: nodes[b].shape,
                        deps: nodes[b].deps,
                    });
                    nodes.len() - 1
                });
                node.op = Op::Mul;
                node.args = vec![a, inv];
            }
        }
        nodes.push(node);
        map.push(nodes.len() - 1);
    }
    f.root = map[f.root];
    f.nodes = nodes;
}
