//! The decoded form of a message payload, and the message view a sink receives.

use std::collections::BTreeMap;

use crate::codecs::CodecError;
use crate::{HeaderKey, HeaderValue, Schema};

/// A payload decoded according to a stream's [`Schema`]. Never crosses the FFI boundary:
/// only bytes do, and each side rebuilds the `Payload` from the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(serde_json::Value),
    Raw(Vec<u8>),
    Text(String),
    /// Protobuf payload in its textual (JSON) rendering, as upstream's `Payload::Proto`.
    Proto(String),
    FlatBuffer(Vec<u8>),
}

impl Payload {
    /// The schema whose decoder produces this variant.
    pub fn schema(&self) -> Schema {
        match self {
            Payload::Json(_) => Schema::Json,
            Payload::Raw(_) => Schema::Raw,
            Payload::Text(_) => Schema::Text,
            Payload::Proto(_) => Schema::Proto,
            Payload::FlatBuffer(_) => Schema::FlatBuffer,
        }
    }

    /// The variant name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Json(_) => "Json",
            Payload::Raw(_) => "Raw",
            Payload::Text(_) => "Text",
            Payload::Proto(_) => "Proto",
            Payload::FlatBuffer(_) => "FlatBuffer",
        }
    }

    /// The payload's own bytes (upstream `try_into_vec`): compact JSON for `Json`, UTF-8 for
    /// `Text`/`Proto`, the bytes themselves otherwise. Moves, never copies, owned buffers.
    pub fn into_bytes(self) -> Result<Vec<u8>, CodecError> {
        match self {
            Payload::Json(value) => {
                serde_json::to_vec(&value).map_err(|error| CodecError::CannotEncode {
                    schema: Schema::Json,
                    reason: error.to_string(),
                })
            }
            Payload::Raw(bytes) | Payload::FlatBuffer(bytes) => Ok(bytes),
            Payload::Text(text) | Payload::Proto(text) => Ok(text.into_bytes()),
        }
    }
}

/// One message as a sink's `consume` receives it. `timestamp` and `origin_timestamp` are
/// microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumedMessage {
    pub id: u128,
    pub offset: u64,
    pub checksum: u64,
    pub timestamp: u64,
    pub origin_timestamp: u64,
    pub headers: Option<BTreeMap<HeaderKey, HeaderValue>>,
    pub payload: Payload,
}
