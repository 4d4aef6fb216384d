//! `let name = expression;`: a named sub-expression, lowered once, in order (a `let` may use the
//! earlier ones). Its name must not look like a variable's, be annotated, bound twice or unused.

use std::collections::HashSet;

use super::{roles, Builder};
use crate::parse::{mentioned_names, role_of, Input, Let};

impl Builder<'_> {
    /// Checks the names of the `let`s: not a variable's, not annotated, not bound twice, used.
    /// `mentioned`: the names the formula's body mentions.
    pub(super) fn check_lets(&mut self, input: &Input, mentioned: &HashSet<String>) {
        let mut seen = HashSet::new();
        for (k, l) in input.lets.iter().enumerate() {
            let name = l.name.to_string();
            if let Some(role) = role_of(&name) {
                let c = role.letter();
                self.cx.error_at(
                    &l.name,
                    format!(
                        "`{name}` ends in `_{c}`, which names a variable indexed by {c}: \
                         choose another name for this `let`"
                    ),
                );
            } else if !seen.insert(name.clone()) {
                self.cx.error_at(
                    &l.name,
                    format!("`{name}` is already defined by an earlier `let`: choose another name"),
                );
            } else if !mentioned.contains(&name)
                && !(input.lets.iter().enumerate())
                    .any(|(o, other)| o != k && mentioned_names(&other.expr).contains(&name))
            {
                // (A use by an earlier `let` is reported as a use before the definition.)
                self.cx
                    .error_at(&l.name, format!("`{name}` is defined but never used"));
            }
            if let Some(d) = input.decls.iter().find(|d| d.name == l.name) {
                self.cx.error_at(
                    &d.name,
                    format!(
                        "`{name}` is a `let` name, not a variable or parameter: \
                         annotate what it is computed from"
                    ),
                );
            }
        }
    }

    /// Lowers the `let`s in order, binding each name to its node.
    pub(super) fn lower_lets(&mut self, lets: &[Let]) {
        for l in lets {
            roles::find_nested(&l.expr, &mut self.nested);
            self.pending_lets.insert(l.name.to_string());
        }
        for l in lets {
            let name = l.name.to_string();
            let node = self.lower(&l.expr);
            self.pending_lets.remove(&name);
            // A name bound twice (reported) keeps its first binding.
            self.lets.entry(name).or_insert(node);
        }
    }

    /// Whether `name` is a `let` name (bound or not yet).
    pub(super) fn is_let(&self, name: &str) -> bool {
        self.lets.contains_key(name) || self.pending_lets.contains(name)
    }
}
