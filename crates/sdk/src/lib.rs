//! Plugin SDK for iggy-connectors.
//!
//! Plugins (cdylib crates) link this crate; it has no napi dependency. The types in
//! [`types`] are the postcard wire contract with every plugin built against the Apache Iggy
//! connectors 0.4.0 SDK, so their field and variant order must never change.
#![deny(clippy::all)]

pub mod types;

pub use iggy_common::{HeaderKey, HeaderKind, HeaderValue};
pub use types::*;
