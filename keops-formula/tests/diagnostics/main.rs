//! `keops_formula::analyze`: every error of a formula at once, each on the offending
//! sub-expression, no follow-on errors; and, for valid formulas, the checked [`Formula`] (roles,
//! dimension classes, run-time slots) and the simplifier (constant folding, identities, shared
//! sub-expressions).
//!
//! Formulas are parsed from strings: with proc-macro2's `span-locations` (a dev-dependency
//! feature) tokens then carry real positions, so each error's span can be checked by the source
//! text it covers.

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashSet;

use common::{assert_errors, errors, ok};
use keops_formula::analyze;
use keops_formula::ir::{reachable, Formula, Reduction, Role, Shape, DEP_I, DEP_J};
use keops_formula::op::{Const, Op};
use proc_macro2::TokenStream;
use quote::quote;

mod all_at_once;
mod checked;
mod one_kind;
mod operations;
mod reductions;
mod vector_ops;

/// The nodes reachable from the root (what the emitters generate code for).
fn live(f: &Formula) -> Vec<usize> {
    let live = reachable(&f.nodes, [f.root]);
    (0..f.nodes.len()).filter(|&i| live[i]).collect()
}

fn count_live(f: &Formula, pred: impl Fn(Op) -> bool) -> usize {
    live(f).into_iter().filter(|&i| pred(f.nodes[i].op)).count()
}
