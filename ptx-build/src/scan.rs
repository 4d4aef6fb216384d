//! Finding the formulas: every `kernel!(..)` invocation in a package's Rust files, parsed with syn
//! and checked by the macro's own compiler (keops-formula), so that the build step and the macro
//! see the same formulas and compute the same ids.

use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// One `kernel!` invocation found in the sources.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The file it was found in.
    pub file: PathBuf,
    /// The formula's canonical text (`None` when it does not compile; the macro reports why).
    pub canonical: Option<String>,
    /// The checked formula (`None` when it does not compile).
    pub formula: Option<keops_formula::Formula>,
}

/// Finds `kernel!` invocations in the Rust files below `dirs`.
pub fn scan(dirs: &[PathBuf]) -> Vec<Invocation> {
    let mut files = Vec::new();
    for d in dirs {
        collect_rs(d, &mut files);
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let Ok(ast) = syn::parse_file(&text) else {
            continue;
        };
        let mut v = Finder(Vec::new());
        v.visit_file(&ast);
        for tokens in v.0 {
            let formula = keops_formula::analyze(tokens).ok();
            out.push(Invocation {
                file: file.clone(),
                canonical: formula.as_ref().map(|f| f.canonical()),
                formula,
            });
        }
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

struct Finder(Vec<proc_macro2::TokenStream>);

impl<'ast> Visit<'ast> for Finder {
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if m.path.segments.last().is_some_and(|s| s.ident == "kernel") {
            self.0.push(m.tokens.clone());
        }
        syn::visit::visit_macro(self, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_kernel_invocations_and_checks_them() {
        let dir = std::env::temp_dir().join(format!("ptx-build-scan-{}", std::process::id()));
        let nested = dir.join("nested");
        fs::create_dir_all(&nested).unwrap();
        fs::write(
            dir.join("a.rs"),
            "fn f() { let s = 1.0; let k = keops::kernel!(exp(-sqnorm(x_i - y_j) / s)); }",
        )
        .unwrap();
        fs::write(
            nested.join("b.rs"),
            "fn g() { let k = kernel!(sum_j(expp(x_i) * b_j)); let v = vec![1]; }",
        )
        .unwrap();
        fs::write(dir.join("c.txt"), "kernel!(exp(x_i))").unwrap();
        let found = scan(std::slice::from_ref(&dir));
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        let ok = found[0].canonical.as_deref().expect("a.rs compiles");
        assert!(ok.starts_with("Kernel;x_i:i:"), "{ok}");
        assert!(ok.contains("exp("), "{ok}");
        assert!(found[1].canonical.is_none(), "unknown function `expp`");
    }
}
