//! Plugin SDK for iggy-connectors.
//!
//! Plugins (cdylib crates) link this crate; it has no napi dependency. The types in
//! [`types`] are the postcard wire contract with every plugin built against the Apache Iggy
//! connectors 0.4.0 SDK, so their field and variant order must never change.
#![deny(clippy::all)]

pub mod codecs;
mod connector;
mod error;
pub mod ffi;
mod macros;
mod outcome;
mod payload;
pub mod schema;
mod state;
pub mod types;

pub use codecs::CodecError;
pub use connector::{Sink, Source};
pub use error::Error;
pub use iggy_common::{HeaderKey, HeaderKind, HeaderValue};
pub use outcome::{ConsumeOutcome, REJECTED_HEADER, RejectedMessage};
pub use payload::{ConsumedMessage, Payload};
pub use schema::JsonSchema;
pub use types::*;

/// Re-exported so plugins log and sleep with the same copies the SDK runs them on.
pub use tokio;
pub use tracing;

/// What the export macros expand to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::guard::{guard, last_error};
    pub use crate::ffi::sink::{self, SinkRegistry};
    pub use crate::ffi::source::{self, SourceRegistry};
    pub use crate::ffi::{
        ABI_VERSION, FAILED, INVALID, LogCallback, OK, PluginInfo, RejectCallback, SendCallback,
        SendCallbackV2, enter, host_bytes, null_callback, parse_config,
    };
    pub use crate::schema::{self, ConfigType, WithSchema, WithoutSchema};
}
