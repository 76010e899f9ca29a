//! The error type plugins return from their trait methods.

use thiserror::Error;

use crate::codecs::CodecError;

/// What a [`Source`](crate::Source) or [`Sink`](crate::Sink) method can fail with.
///
/// The SDK only logs the error (with the plugin name and instance id) and maps it to the
/// FFI return code `1`; the variants exist so that plugins can say *what* failed.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("init failed: {0}")]
    InitError(String),
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("serialization failed: {0}")]
    Serialization(String),
    #[error("invalid state: {0}")]
    InvalidState(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("{0}")]
    Other(String),
}
