//! Decoders and encoders between payload bytes and [`Payload`], one per [`Schema`].
//!
//! The engine uses these directly: a source batch is decoded with the plugin's schema and
//! re-encoded with the stream's schema; a sink batch is decoded with the stream's schema (the
//! SDK does that inside the plugin). Default options reproduce upstream's default behaviour;
//! the `*_with` variants take [`CodecOptions`].

mod flatbuffer;
mod json;
mod proto;
mod raw;
mod shallow;
mod text;

use thiserror::Error;

pub use flatbuffer::FlatBufferOptions;
pub use proto::{MessageSchema, ProtoOptions, SchemaCache};
pub use shallow::{Field, JsonText, MAX_KEYS, ShallowObject};

use crate::{Payload, Schema};

/// A payload that could not be decoded or encoded. The message names the schema.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    #[error("cannot decode {schema} payload: {reason}")]
    CannotDecode { schema: Schema, reason: String },
    #[error("cannot encode payload as {schema}: {reason}")]
    CannotEncode { schema: Schema, reason: String },
    #[error("the {schema} encoder does not accept a {payload} payload")]
    InvalidPayloadType {
        schema: Schema,
        payload: &'static str,
    },
    #[error("invalid {schema} codec options: {reason}")]
    InvalidOptions { schema: Schema, reason: String },
}

impl CodecError {
    pub(crate) fn decode(schema: Schema, reason: impl ToString) -> Self {
        CodecError::CannotDecode {
            schema,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn encode(schema: Schema, reason: impl ToString) -> Self {
        CodecError::CannotEncode {
            schema,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn payload_type(schema: Schema, payload: &Payload) -> Self {
        CodecError::InvalidPayloadType {
            schema,
            payload: payload.kind(),
        }
    }
}

/// Options for the schema-specific codecs. `Default` matches upstream's defaults, which is
/// also all that upstream's runtime ever uses.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct CodecOptions {
    pub proto: ProtoOptions,
    pub flatbuffer: FlatBufferOptions,
}

/// Decodes `bytes` with the default options of `schema`'s decoder (copies the bytes when the
/// result owns them; prefer [`decode_owned`] when you already own a `Vec`).
pub fn decode(schema: Schema, bytes: &[u8]) -> Result<Payload, CodecError> {
    decode_with(schema, bytes, &CodecOptions::default())
}

/// Like [`decode`], with explicit options.
pub fn decode_with(
    schema: Schema,
    bytes: &[u8],
    options: &CodecOptions,
) -> Result<Payload, CodecError> {
    match schema {
        Schema::Json => json::decode(bytes),
        Schema::Raw => Ok(Payload::Raw(bytes.to_vec())),
        Schema::Text => text::decode(bytes.to_vec()),
        Schema::Proto => proto::decode(bytes, &options.proto),
        Schema::FlatBuffer => flatbuffer::decode(bytes.to_vec(), &options.flatbuffer),
    }
}

/// Decodes an owned buffer with default options; raw, text and flatbuffer payloads reuse the
/// allocation instead of copying it (the hot path for sink batches).
pub fn decode_owned(schema: Schema, bytes: Vec<u8>) -> Result<Payload, CodecError> {
    decode_owned_with(schema, bytes, &CodecOptions::default())
}

/// Like [`decode_owned`], with explicit options.
pub fn decode_owned_with(
    schema: Schema,
    bytes: Vec<u8>,
    options: &CodecOptions,
) -> Result<Payload, CodecError> {
    match schema {
        Schema::Json => json::decode(&bytes),
        Schema::Raw => Ok(Payload::Raw(bytes)),
        Schema::Text => text::decode(bytes),
        Schema::Proto => proto::decode(&bytes, &options.proto),
        Schema::FlatBuffer => flatbuffer::decode(bytes, &options.flatbuffer),
    }
}

/// Checks that `bytes` decode under `schema`'s default options without building the decoded
/// value: JSON is scanned the way `Value` parses it but into nothing (no tree), text is a UTF-8
/// check, raw always passes, FlatBuffers get the structural check but no JSON summary. Fails
/// exactly when [`decode`] fails, with the same error; used by hosts that must count and
/// dead-letter undecodable payloads that a plugin will decode itself.
pub fn validate(schema: Schema, bytes: &[u8]) -> Result<(), CodecError> {
    match schema {
        Schema::Json => json::validate(bytes),
        Schema::Raw => Ok(()),
        Schema::Text => std::str::from_utf8(bytes)
            .map(|_| ())
            .map_err(|error| CodecError::decode(Schema::Text, error)),
        Schema::Proto => proto::decode(bytes, &ProtoOptions::default()).map(|_| ()),
        Schema::FlatBuffer => flatbuffer::validate(bytes, &FlatBufferOptions::default()),
    }
}

/// Encodes `payload` with the default options of `schema`'s encoder.
pub fn encode(schema: Schema, payload: Payload) -> Result<Vec<u8>, CodecError> {
    encode_with(schema, payload, &CodecOptions::default())
}

/// Like [`encode`], with explicit options.
pub fn encode_with(
    schema: Schema,
    payload: Payload,
    options: &CodecOptions,
) -> Result<Vec<u8>, CodecError> {
    match schema {
        Schema::Json => json::encode(payload),
        Schema::Raw => raw::encode(payload),
        Schema::Text => text::encode(payload),
        Schema::Proto => proto::encode(payload, &options.proto),
        Schema::FlatBuffer => flatbuffer::encode(payload, &options.flatbuffer),
    }
}

#[cfg(test)]
mod tests;
