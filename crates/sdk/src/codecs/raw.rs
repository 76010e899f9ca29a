//! `raw`: bytes as they are.

use crate::codecs::CodecError;
use crate::{Payload, Schema};

/// Upstream accepts only `Raw` here. We also accept every other payload through its own
/// bytes (compact JSON, UTF-8 text, flatbuffer bytes), so that a JSON source can feed a
/// `raw` stream instead of failing every message.
pub(super) fn encode(payload: Payload) -> Result<Vec<u8>, CodecError> {
    payload.into_bytes().map_err(|error| match error {
        CodecError::CannotEncode { reason, .. } => CodecError::encode(Schema::Raw, reason),
        other => other,
    })
}
