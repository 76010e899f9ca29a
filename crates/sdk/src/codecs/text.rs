//! `text`: UTF-8 strings.

use crate::codecs::CodecError;
use crate::{Payload, Schema};

/// Validates UTF-8 in place: the allocation becomes the `String` without a copy.
pub(super) fn decode(bytes: Vec<u8>) -> Result<Payload, CodecError> {
    String::from_utf8(bytes)
        .map(Payload::Text)
        .map_err(|error| CodecError::decode(Schema::Text, error.utf8_error()))
}

/// Text → bytes; Json → compact JSON (as upstream); Proto's textual form → bytes.
pub(super) fn encode(payload: Payload) -> Result<Vec<u8>, CodecError> {
    match payload {
        Payload::Text(text) | Payload::Proto(text) => Ok(text.into_bytes()),
        Payload::Json(value) => {
            serde_json::to_vec(&value).map_err(|error| CodecError::encode(Schema::Text, error))
        }
        other => Err(CodecError::payload_type(Schema::Text, &other)),
    }
}
