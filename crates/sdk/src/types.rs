//! Postcard types that cross the plugin boundary.
//!
//! Field order and enum variant order are normative (postcard writes neither names nor tags):
//! they match `iggy_connector_sdk` 0.3.0 / connectors 0.4.0 exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{HeaderKey, HeaderValue};

/// The payload encoding of a stream, as spelled in config files (`"json"`, `"raw"`, `"text"`,
/// `"proto"`, `"flat_buffer"`). Variant indices are part of the ABI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schema {
    #[default]
    Json,
    Raw,
    Text,
    Proto,
    FlatBuffer,
}

impl Schema {
    /// The name used in config files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Schema::Json => "json",
            Schema::Raw => "raw",
            Schema::Text => "text",
            Schema::Proto => "proto",
            Schema::FlatBuffer => "flat_buffer",
        }
    }
}

impl std::fmt::Display for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Schema {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Schema::Json),
            "raw" => Ok(Schema::Raw),
            "text" => Ok(Schema::Text),
            "proto" => Ok(Schema::Proto),
            "flat_buffer" => Ok(Schema::FlatBuffer),
            other => Err(format!(
                "unknown schema '{other}', expected one of json, raw, text, proto, flat_buffer"
            )),
        }
    }
}

/// The stream and topic a sink batch came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub stream: String,
    pub topic: String,
}

/// Where a sink batch sits in its partition, and how its payloads are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesMetadata {
    pub partition_id: u32,
    pub current_offset: u64,
    pub schema: Schema,
}

/// A batch handed to a sink's `iggy_sink_consume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawMessages {
    pub schema: Schema,
    pub messages: Vec<RawMessage>,
}

/// One message as a sink receives it. `headers` holds a separately postcard-encoded
/// `BTreeMap<HeaderKey, HeaderValue>`; an empty vector means "no headers".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawMessage {
    pub id: u128,
    pub offset: u64,
    pub checksum: u64,
    pub timestamp: u64,
    pub origin_timestamp: u64,
    pub headers: Vec<u8>,
    pub payload: Vec<u8>,
}

impl RawMessage {
    /// Encodes headers the way [`RawMessage::headers`] carries them: a separate postcard
    /// buffer, empty for no (or zero) headers.
    pub fn encode_headers(
        headers: Option<&BTreeMap<HeaderKey, HeaderValue>>,
    ) -> Result<Vec<u8>, postcard::Error> {
        match headers {
            Some(headers) if !headers.is_empty() => postcard::to_allocvec(headers),
            _ => Ok(Vec::new()),
        }
    }

    /// Decodes [`RawMessage::headers`]; `None` when empty.
    pub fn decode_headers(
        &self,
    ) -> Result<Option<BTreeMap<HeaderKey, HeaderValue>>, postcard::Error> {
        if self.headers.is_empty() {
            return Ok(None);
        }
        postcard::from_bytes(&self.headers).map(Some)
    }
}

/// A batch a source hands to the runtime through its send callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedMessages {
    pub schema: Schema,
    pub messages: Vec<ProducedMessage>,
    pub state: Option<ConnectorState>,
}

/// One message produced by a source. Unlike [`RawMessage`], headers are inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedMessage {
    pub id: Option<u128>,
    pub checksum: Option<u64>,
    pub timestamp: Option<u64>,
    pub origin_timestamp: Option<u64>,
    pub headers: Option<BTreeMap<HeaderKey, HeaderValue>>,
    pub payload: Vec<u8>,
}

/// Opaque source state, by convention MessagePack written with `rmp_serde::to_vec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorState(pub Vec<u8>);

/// The result the runtime reports for one source batch (`iggy_source_batch_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum SourceBatchResult {
    Ack = 0,
    Nack = 1,
}

impl SourceBatchResult {
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::Ack),
            1 => Some(Self::Nack),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "types_tests.rs"]
mod tests;
