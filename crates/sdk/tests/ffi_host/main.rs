//! A test host that loads the BUILT plugin libraries with `libloading` and drives them
//! through the C ABI, as the engine does.
//!
//! The first test to need a library runs `cargo build -p <the four plugin crates>` (debug
//! profile, same target directory as this test binary), so `cargo test -p
//! iggy_connectors_sdk` is self-contained.

mod harness;
mod panics;
mod sink;
mod source;
mod symbols;
