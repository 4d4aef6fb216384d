//! Property tests of the formula front end (issue 15): `analyze` on generated input returns a
//! formula or errors, never panics and never hangs.
//!
//! Three sources of input, each joined into source text and tokenized with proc-macro2 (text that
//! does not tokenize, e.g. an unbalanced bracket, is skipped: `kernel!` never sees it):
//! - arbitrary token sequences from the formula language's vocabulary (names, every function and
//!   reduction, literals, operators, brackets, `,` `;` `:` `=>` `let`);
//! - well-formed expressions of random shape: calls of every function with random argument counts
//!   and integer arguments, reductions, annotations, `let`s, `grad`;
//! - valid formulas mutated a few times (tokens deleted, duplicated, replaced, swapped, inserted).
//!
//! Each case runs on its own thread, which a watchdog waits for ([`TIME_LIMIT`]): a panic fails the
//! property with the input and the panic's message, a case still running at the limit fails it as
//! a hang. Case counts: [`config`]; `PROPTEST_CASES=N` runs N cases of each (README: Contributing).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use keops_formula::op::{FUNCTIONS, REDUCTIONS};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// How long one case may run. `analyze` takes microseconds to milliseconds; a debug build on a
/// loaded machine is far slower, so the limit only catches real hangs.
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// A fixed seed, no failure files in the repository, and `cases` cases unless `PROPTEST_CASES` is
/// set (the `proptest!` macro applies the `PROPTEST_*` variables over this: `PROPTEST_RNG_SEED`
/// changes the seed).
fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6b65_6f70_7315),
        failure_persistence: None,
        ..Config::default()
    }
}

/// What `analyze` did with `src`: `None` if `src` does not tokenize.
#[derive(Debug)]
enum Outcome {
    Accepted,
    Rejected,
    Panicked(String),
}

/// Runs `analyze` on `src` on a thread of its own (tokens are not `Send`: they are made there).
fn run(src: &str) -> Option<Outcome> {
    let (tx, rx) = mpsc::channel();
    let owned = src.to_string();
    std::thread::Builder::new()
        .name("analyze".into())
        .spawn(move || {
            let outcome = match owned.parse::<proc_macro2::TokenStream>() {
                Err(_) => None,
                Ok(tokens) => Some(
                    match catch_unwind(AssertUnwindSafe(|| keops_formula::analyze(tokens))) {
                        Ok(Ok(f)) => {
                            // What `kernel!` and the CUDA build step do with an accepted formula.
                            let emitted = catch_unwind(AssertUnwindSafe(|| {
                                let _ = keops_formula::emit::rust::emit(&f);
                                let _ = keops_formula::emit::cuda::emit(&f);
                            }));
                            match emitted {
                                Ok(()) => Outcome::Accepted,
                                Err(p) => Outcome::Panicked(format!(
                                    "in the emitters: {}",
                                    panic_message(&*p)
                                )),
                            }
                        }
                        Ok(Err(errors)) => {
                            // The errors must be usable: messages and compile errors.
                            assert!(!errors.0.is_empty(), "an empty error list");
                            let _ = errors.to_compile_errors();
                            Outcome::Rejected
                        }
                        Err(payload) => Outcome::Panicked(panic_message(&*payload)),
                    },
                ),
            };
            let _ = tx.send(outcome);
        })
        .expect("spawn a thread");
    match rx.recv_timeout(TIME_LIMIT) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("analyze did not return within {TIME_LIMIT:?} on `{src}`")
        }
        // The thread died outside catch_unwind: the error checks above.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Some(Outcome::Panicked("panicked outside analyze".into()))
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".into()
    }
}

/// Fails the property if `analyze` panicked on `src`; `true` if it tokenized.
fn check(src: &str) -> Result<bool, TestCaseError> {
    match run(src) {
        None => Ok(false),
        Some(Outcome::Panicked(m)) => Err(TestCaseError::fail(format!(
            "analyze panicked on `{src}`: {m}"
        ))),
        Some(_) => Ok(true),
    }
}

const NAMES: &[&str] = &[
    "x_i", "y_j", "b_j", "a_i", "e_i", "e_j", "v_j", "s", "c", "g", "d", "w", "let", "grad", "k",
    "x", "_i", "_j", "mod", "self", "fn", "r#x",
];
const LITERALS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "16",
    "255",
    "65536",
    "99999999999999999999999",
    "1.5",
    "0.0",
    "1e300",
    "1e-320",
    "1e400",
    "2.5f32",
    "3u8",
    "'c'",
    "\"str\"",
    "true",
];
const PUNCT: &[&str] = &[
    "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "!", "&", "|", "^", "=", ";", ",",
    ":", "::", "=>", ".", "..", "?", "#", "@",
];

fn vocabulary() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = NAMES.to_vec();
    v.extend(FUNCTIONS.iter().map(|f| f.name));
    v.extend(REDUCTIONS.iter().copied());
    v.extend(LITERALS);
    v.extend(PUNCT);
    v
}

/// One token of the vocabulary.
fn word() -> impl Strategy<Value = String> {
    prop::sample::select(vocabulary()).prop_map(str::to_string)
}

/// Arbitrary token trees: words and bracketed groups of them, nested a few levels.
fn token_soup() -> impl Strategy<Value = String> {
    let leaf = word();
    leaf.prop_recursive(4, 48, 8, |inner| {
        (
            prop::sample::select(vec![("(", ")"), ("[", "]"), ("{", "}"), ("", "")]),
            prop::collection::vec(inner, 0..8),
        )
            .prop_map(|((open, close), items)| format!("{open}{}{close}", items.join(" ")))
    })
}

/// The kinds of a generated call's arguments: `e` a formula, `i` an integer literal, `l` a list
/// of integers; `n` arguments for a plain function of `n` formula arguments.
fn arg_kinds(name: &str, n: usize) -> String {
    match name {
        "pow" | "round" | "elem" | "onehot" => "ei".into(),
        "clampint" | "extract" | "extract_t" | "elem_t" => "eii".into(),
        "kron" => "eell".into(),
        "tensordot" => "eellll".into(),
        _ => "e".repeat(n),
    }
}

fn small_int() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0i64..4).prop_map(|n| n.to_string()),
        1 => prop::sample::select(&["-1", "-31", "31", "64", "2147483648", "18446744073709551616"][..])
            .prop_map(str::to_string),
    ]
}

fn int_list() -> impl Strategy<Value = String> {
    prop::collection::vec(0i64..4, 0..4).prop_map(|v| {
        let v: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        format!("[{}]", v.join(", "))
    })
}

/// Formulas whose calls have the arities and integer arguments their functions expect (so that
/// many pass the checks and reach the simplifier, the gradients and the emitters): the variables
/// `x_i`, `y_j`, `b_j`, `e_i`, the parameter `s`, the name `d` (a `let`, or a parameter), numbers.
fn typed_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => prop::sample::select(&["x_i", "y_j", "b_j", "s", "d"][..]).prop_map(str::to_string),
        1 => prop::sample::select(&["0", "1", "2", "0.5", "1e300", "1e-320", "1e400"][..]).prop_map(str::to_string),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        let args_of = inner.clone();
        let call = (0..FUNCTIONS.len()).prop_flat_map(move |k| {
            let def = &FUNCTIONS[k];
            let inner = args_of.clone();
            (def.arity..=def.max_arity).prop_flat_map(move |n| {
                let args: Vec<BoxedStrategy<String>> = arg_kinds(def.name, n)
                    .chars()
                    .map(|c| match c {
                        'i' => small_int().boxed(),
                        'l' => int_list().boxed(),
                        _ => inner.clone().boxed(),
                    })
                    .collect();
                args.prop_map(move |a| format!("{}({})", def.name, a.join(", ")))
            })
        });
        prop_oneof![
            3 => call,
            2 => (inner.clone(), prop::sample::select(&OPERATORS[..]), inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            1 => inner.clone().prop_map(|a| format!("-{a}")),
            1 => (inner.clone(), prop::sample::select(&["x_i", "y_j", "s"][..]), inner)
                .prop_map(|(f, v, e)| format!("grad({f}, {v}, {e})")),
        ]
    })
}

/// A whole input of typed formulas: dimension annotations, maybe a `let`, and a reduction (or
/// none: a kernel matrix, or a gradient of a reduction). Only what is used is declared (an unused
/// annotation or `let` is an error), and half of the formulas are multiplied by a scalar that
/// reads both `x_i` and `y_j` (a formula needs both).
fn typed_input() -> impl Strategy<Value = String> {
    let dims = (1usize..4, 1usize..4, prop::bool::ANY, prop::bool::ANY);
    let body = (
        typed_expr(),
        typed_expr(),
        prop::sample::select(&REDUCTION_FORMS[..]),
        small_int(),
    );
    let lett = prop::option::of(typed_expr());
    (dims, lett, body).prop_map(|((dx, db, same, both), lett, (f, g, form, k))| {
        let dy = if same { dx } else { db };
        let f = if both {
            format!("({f}) * sum(x_i) * sum(y_j)")
        } else {
            f
        };
        let body = form.replace('F', &f).replace('G', &g).replace('K', &k);
        let uses = |name: &str| {
            body.split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == name)
        };
        let lett = match lett {
            Some(e) if uses("d") => format!("let d = {e}; "),
            _ => String::new(),
        };
        let decls: Vec<String> = [("x_i", dx), ("y_j", dy), ("b_j", db), ("e_i", db)]
            .iter()
            .filter(|(n, _)| uses(n) || lett.contains(n))
            .map(|(n, d)| format!("{n}: {d}"))
            .collect();
        let head = if decls.is_empty() {
            String::new()
        } else {
            format!("{} => ", decls.join(", "))
        };
        format!("{head}{lett}{body}")
    })
}

const OPERATORS: [&str; 10] = ["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">="];

/// Where a typed formula `F` goes (`G` a second formula, `K` an integer).
const REDUCTION_FORMS: [&str; 14] = [
    "F",
    "sum(F)",
    "sum_j(F)",
    "sum_i(F)",
    "min_argmin_j(F)",
    "argmax_i(F)",
    "kmin_j(F, K)",
    "argkmin_i(F, K)",
    "logsumexp_j(F)",
    "logsumexp_i(F, G)",
    "sumsoftmaxweight_j(F, G)",
    "grad(sum_j(F), x_i, e_i)",
    "grad(logsumexp_j(F), y_j, e_i)",
    "grad(min_j(F), s, e_i)",
];

/// Valid formulas of every kind (each checked by [`seeds_are_valid`]).
const SEEDS: &[&str] = &[
    "exp(-sqnorm(x_i - y_j) / (2 * s * s))",
    "x_i: 3 => sum_j(exp(-sqdist(x_i, y_j)) * b_j)",
    "x_i: 3, y_j: 3 => sum_j(exp(-sqdist(x_i, y_j)) * b_j)",
    "let d = sqdist(x_i, y_j); exp(-d) * (1 + d)",
    "b_j: 1 => kmin_argkmin_j(sqdist(x_i, y_j) + b_j, 4)",
    "a_i: 1, b_j: 1 => logsumexp_j(-4 * sqdist(x_i, y_j) + a_i * b_j, 1 + y_j * y_j)",
    "b_j: 1 => sumsoftmaxweight_j(-8 * sqdist(x_i, y_j) * (1 + b_j * b_j), x_i)",
    "a_i: 1, x_i: 3, y_j: 3 => grad(sum_i(exp(-sqdist(x_i, y_j) / s) * a_i), x_i, e_j)",
    "grad(logsumexp_j(-sqdist(x_i, y_j) / s), x_i, e_i)",
    "b_j: 1 => sum_j(extract(x_i, 1, 3) * elem(y_j, 0) * b_j)",
    "b_j: 6, a_i: 2 => sum_j(exp(-sqdist(x_i, y_j)) * concat(matvec(b_j, a_i), y_j))",
    "x_i: 4, y_j: 6 => sum_j(kron(x_i, y_j, [2, 2], [2, 3]))",
    "x_i: 6, y_j: 6 => sum_j(tensordot(x_i, y_j, [2, 3], [3, 2], [1], [0]))",
    "c: 3 => sum_i(concat(normalize(x_i - c), sqrt(abs(elem(y_j, 0)))) * powf(step(sum(y_j)) + 1, 2))",
    "x_i: 1, y_j: 1 => clampint(sqdist(x_i, y_j), 0, 3) + round(x_i * y_j, 2) + modulo(x_i, 2, 1)",
    "x_i: 1, y_j: 1 => ifelse(x_i - y_j, pow(x_i, -3), inv(y_j)) * (x_i <= y_j)",
    "x_i: 3, y_j: 3, b_j: 1 => sum_j(weightedsqdist(s, x_i, y_j) * onehot(b_j, 4))",
    "argmin_j(sqdist(x_i, y_j))",
    "max_argmax_i(sin(x_i) * cos(y_j) + atan2(x_i, y_j))",
    "sum_j(xlogx(sqrt(sqdist(x_i, y_j))) + sinxdivx(x_i - y_j) + floor(relu(y_j)))",
];

/// The seed formulas split into tokens: identifiers, numbers, punctuation (two-character operators
/// kept whole), so that mutations act on tokens.
fn lex(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_alphanumeric()
            || c == '_'
            || c == '.' && b.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            i += 1;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                i += 1;
            }
        } else {
            let two: String = b[i..(i + 2).min(b.len())].iter().collect();
            i += if ["=>", "==", "!=", "<=", ">="].contains(&two.as_str()) {
                2
            } else {
                1
            };
        }
        out.push(b[start..i].iter().collect());
    }
    out
}

/// One edit of a token list; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Replace(usize, String),
    Insert(usize, String),
    Swap(usize, usize),
    /// Keeps the first `n` tokens.
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        at.prop_map(Mutation::Delete),
        at.prop_map(Mutation::Duplicate),
        (at, word()).prop_map(|(i, w)| Mutation::Replace(i, w)),
        (at, word()).prop_map(|(i, w)| Mutation::Insert(i, w)),
        (at, at).prop_map(|(i, j)| Mutation::Swap(i, j)),
        at.prop_map(Mutation::Truncate),
    ]
}

fn mutate(tokens: &mut Vec<String>, m: &Mutation) {
    let n = tokens.len();
    if n == 0 {
        if let Mutation::Insert(_, w) | Mutation::Replace(_, w) = m {
            tokens.push(w.clone());
        }
        return;
    }
    match m {
        Mutation::Delete(i) => {
            tokens.remove(i % n);
        }
        Mutation::Duplicate(i) => tokens.insert(i % n, tokens[i % n].clone()),
        Mutation::Replace(i, w) => tokens[i % n] = w.clone(),
        Mutation::Insert(i, w) => tokens.insert(i % (n + 1), w.clone()),
        Mutation::Swap(i, j) => tokens.swap(i % n, j % n),
        Mutation::Truncate(k) => tokens.truncate(k % n),
    }
}

#[test]
fn seeds_are_valid() {
    for src in SEEDS {
        let tokens: proc_macro2::TokenStream = src.parse().unwrap();
        if let Err(e) = keops_formula::analyze(tokens) {
            let msgs: Vec<String> = e.0.iter().map(|e| e.to_string()).collect();
            panic!("`{src}` is rejected: {msgs:?}");
        }
        assert_eq!(
            lex(src)
                .join(" ")
                .parse::<proc_macro2::TokenStream>()
                .map(|t| t.to_string())
                .ok(),
            Some(src.parse::<proc_macro2::TokenStream>().unwrap().to_string()),
            "{src}"
        );
    }
}

/// The checks themselves: a panicking front end is reported (not an `Outcome::Accepted`).
#[test]
fn the_watchdog_reports_panics_and_skips_what_does_not_tokenize() {
    let r = run("x_i: 1, y_j: 1 => exp(x_i * y_j)");
    assert!(matches!(r, Some(Outcome::Accepted)), "{r:?}");
    assert!(matches!(run("exp(x_i, y_j)"), Some(Outcome::Rejected)));
    assert!(run("exp((x_i)").is_none());
    assert!(check("exp(x_i,)").is_ok());
}

/// Runs `cases` cases of `strategy` (unless `PROPTEST_CASES` says otherwise), each turned into
/// source text by `src`; reports how many tokenized and how many `analyze` accepted, and fails if
/// fewer than `min_accepted` (a fraction) were accepted: a generator that only makes rejected
/// input would test nothing past the parser.
fn fuzz<S: Strategy>(
    name: &str,
    cases: u32,
    min_accepted: f64,
    strategy: S,
    src: fn(&S::Value) -> String,
) {
    let config = proptest::test_runner::contextualize_config(config(cases));
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let counts = std::cell::Cell::new([0usize; 3]);
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |value| {
        let text = src(&value);
        let mut c = counts.get();
        match run(&text) {
            None => c[0] += 1,
            Some(Outcome::Panicked(m)) => {
                return Err(TestCaseError::fail(format!(
                    "analyze panicked on `{text}`: {m}"
                )))
            }
            Some(Outcome::Rejected) => c[1] += 1,
            Some(Outcome::Accepted) => c[2] += 1,
        }
        counts.set(c);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let [skipped, rejected, accepted] = counts.get();
    eprintln!(
        "{name}: {cases} cases in {:.2?}: {skipped} do not tokenize, {rejected} rejected, {accepted} accepted",
        started.elapsed()
    );
    // From 200 cases on: fewer may miss a rare outcome by chance.
    assert!(
        cases < 200 || accepted as f64 >= min_accepted * cases as f64,
        "{name}: only {accepted} of {cases} inputs accepted"
    );
}

#[test]
fn arbitrary_token_sequences() {
    let soup = prop::collection::vec(token_soup(), 0..12);
    fuzz("arbitrary token sequences", 512, 0.0, soup, |items| {
        items.join(" ")
    });
}

#[test]
fn typed_formulas() {
    fuzz("typed formulas", 512, 0.05, typed_input(), String::clone);
}

#[test]
fn mutated_valid_formulas() {
    let edits = (
        prop::sample::select(SEEDS),
        prop::collection::vec(mutation(), 1..5),
    );
    fuzz("mutated formulas", 512, 0.005, edits, |(seed, edits)| {
        let mut tokens = lex(seed);
        for m in edits {
            mutate(&mut tokens, m);
        }
        tokens.join(" ")
    });
}

/// Inputs the properties found, each with the start of the error it now gets (it used to get
/// none, or worse).
const REGRESSIONS: &[(&str, &str)] = &[
    // A run-time concatenation tied to its own part (dim = 2 dim) was accepted, and the CUDA
    // emitter (run by `kernel!` for the GPU task) looped forever computing its length.
    (
        "max_argmax_i(sin(x_i) * cos(y_j) + concat(x_i, y_j))",
        "dimension mismatch: this concatenation must have the dimension of one of its own parts",
    ),
    (
        "sum_j(x_i + concat(y_j, x_i))",
        "dimension mismatch: this concatenation must have the dimension of one of its own parts",
    ),
    // Through another concatenation: dim x = dim y + 1 and dim y = dim x + 1.
    (
        "sum_j(sum(x_i + concat(y_j, 1)) * sum(y_j + concat(x_i, 1)))",
        "dimension mismatch: this concatenation must have the dimension of one of its own parts",
    ),
    // An infinite literal was accepted, and the Rust emitter panicked spelling it
    // (proc_macro2's `f.is_finite()` assertion): `kernel!` failed with "proc macro panicked".
    (
        "x_i: 1, y_j: 1 => ifelse(1e400 - y_j, pow(x_i, -3), inv(y_j)) * (x_i <= y_j)",
        "this number is beyond the range of f64",
    ),
];

#[test]
fn regressions() {
    // An integer literal beyond f64's range, like `1e400`.
    let huge = format!("sum_j(exp(-sqdist(x_i, y_j)) * 1{})", "0".repeat(400));
    let huge = (huge.as_str(), "this number is beyond the range of f64");
    for (src, want) in REGRESSIONS.iter().chain([&huge]) {
        assert!(matches!(run(src), Some(Outcome::Rejected)), "`{src}`");
        let tokens: proc_macro2::TokenStream = src.parse().unwrap();
        let errors = keops_formula::analyze(tokens).err().unwrap();
        let msgs: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
        assert!(
            msgs.iter().any(|m| m.starts_with(want)),
            "`{src}`: {msgs:#?}"
        );
    }
    // Still fine: a concatenation of run-time parts, and one whose dimension follows from them.
    for src in [
        "sum_j(concat(x_i, y_j) * exp(-sqdist(x_i, y_j)))",
        "sum_j(concat(concat(x_i, y_j), x_i) * sum(y_j))",
    ] {
        assert!(matches!(run(src), Some(Outcome::Accepted)), "`{src}`");
    }
}
