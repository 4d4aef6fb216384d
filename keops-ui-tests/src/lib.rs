//! keops' compile-fail tests live in `tests/ui` (see `tests/ui.rs`); this library is empty.
