//! Plugin SDK for iggy-connectors.
//!
//! Plugins (cdylib crates) link this crate; it has no napi dependency. The types in
//! [`types`] are the postcard wire contract with every plugin built against the Apache Iggy
//! connectors 0.4.0 SDK, so their field and variant order must never change.
#![deny(clippy::all)]

pub mod codecs;
mod connector;
mod error;
mod payload;
mod state;
pub mod types;

pub use codecs::CodecError;
pub use connector::{Sink, Source};
pub use error::Error;
pub use iggy_common::{HeaderKey, HeaderKind, HeaderValue};
pub use payload::{ConsumedMessage, Payload};
pub use types::*;
