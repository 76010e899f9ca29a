//! `json`: bytes ⇄ `serde_json::Value` (insertion order preserved).

use crate::codecs::CodecError;
use crate::{Payload, Schema};

pub(super) fn decode(bytes: &[u8]) -> Result<Payload, CodecError> {
    serde_json::from_slice(bytes)
        .map(Payload::Json)
        .map_err(|error| CodecError::decode(Schema::Json, error))
}

/// Json → compact JSON; Text → a JSON string literal (as upstream); anything else is refused
/// because there is no faithful JSON rendering of arbitrary bytes.
pub(super) fn encode(payload: Payload) -> Result<Vec<u8>, CodecError> {
    let encoded = match &payload {
        Payload::Json(value) => serde_json::to_vec(value),
        Payload::Text(text) => serde_json::to_vec(text),
        _ => return Err(CodecError::payload_type(Schema::Json, &payload)),
    };
    encoded.map_err(|error| CodecError::encode(Schema::Json, error))
}
