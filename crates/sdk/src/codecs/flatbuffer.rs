//! `flat_buffer`: FlatBuffers payloads, without a compiled schema.
//!
//! As upstream, decoding does not interpret tables (there is no reflection schema); it checks
//! the buffer's structure and renders a JSON summary. Encoding builds a buffer whose root is a
//! vector or string, so any payload can be carried.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flatbuffers::{FlatBufferBuilder, Verifier, VerifierOptions, WIPOffset};
use serde_json::Value;

use crate::codecs::CodecError;
use crate::{Payload, Schema};

/// Options of the FlatBuffers codec (upstream `FlatBufferConfig` defaults). Deserializes
/// from the upstream key names; missing keys take the defaults.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct FlatBufferOptions {
    /// Decode into a JSON summary (default `true`); `false` keeps `Payload::FlatBuffer` bytes.
    pub extract_as_json: bool,
    /// Check that the root offset and the root table's vtable (or root vector) lie inside the
    /// buffer before accepting it (default `true`).
    pub verify_buffers: bool,
    /// Reported as `root_table_type` in the JSON summary.
    pub root_table_name: Option<String>,
}

impl Default for FlatBufferOptions {
    fn default() -> Self {
        FlatBufferOptions {
            extract_as_json: true,
            verify_buffers: true,
            root_table_name: None,
        }
    }
}

pub(super) fn decode(bytes: Vec<u8>, options: &FlatBufferOptions) -> Result<Payload, CodecError> {
    validate(&bytes, options)?;
    if !options.extract_as_json {
        return Ok(Payload::FlatBuffer(bytes));
    }
    let mut summary = serde_json::Map::new();
    summary.insert("buffer_size".into(), Value::from(bytes.len()));
    // Always true, as upstream: without a schema a root table and a root vector cannot be
    // told apart reliably (a vector's length can read as a valid vtable offset).
    summary.insert("has_root_table".into(), Value::Bool(true));
    summary.insert(
        "raw_data_base64".into(),
        Value::String(BASE64.encode(&bytes)),
    );
    if let Some(name) = &options.root_table_name {
        summary.insert("root_table_type".into(), Value::String(name.clone()));
    }
    Ok(Payload::Json(Value::Object(summary)))
}

/// The checks of [`decode`] without its output: length, then (when enabled) the structure.
pub(super) fn validate(bytes: &[u8], options: &FlatBufferOptions) -> Result<(), CodecError> {
    if bytes.is_empty() {
        return Err(CodecError::decode(Schema::FlatBuffer, "empty payload"));
    }
    if bytes.len() < 4 {
        return Err(CodecError::decode(
            Schema::FlatBuffer,
            format!(
                "{} bytes is shorter than the 4-byte root offset",
                bytes.len()
            ),
        ));
    }
    if options.verify_buffers {
        verify(bytes).map_err(|reason| CodecError::decode(Schema::FlatBuffer, reason))?;
    }
    Ok(())
}

/// Accepts a root table whose vtable lies in the buffer, or a root vector (or string) whose
/// length fits in the buffer.
fn verify(bytes: &[u8]) -> Result<(), String> {
    let options = VerifierOptions::default();
    let mut verifier = Verifier::new(&options, bytes);
    let root = verifier
        .get_uoffset(0)
        .map_err(|error| format!("bad root offset: {error}"))? as usize;
    if root < 4 || root >= bytes.len() {
        return Err(format!(
            "root offset {root} is outside the {}-byte buffer",
            bytes.len()
        ));
    }
    if verifier
        .visit_table(root)
        .map(|table| {
            table.finish();
        })
        .is_ok()
    {
        return Ok(());
    }
    verifier.reset();
    let len = verifier
        .get_uoffset(root)
        .map_err(|error| format!("root is neither a table nor a vector: {error}"))?
        as usize;
    verifier
        .range_in_buffer(root + 4, len)
        .map_err(|error| format!("root is neither a table nor a vector: {error}"))?;
    Ok(())
}

/// FlatBuffer → as is; Raw → a `[ubyte]` root vector; a JSON object → a `[string]` root
/// vector alternating keys and values (non-string values as JSON text); any other JSON,
/// Text and Proto → a root string (Text that parses as JSON is treated as that JSON).
pub(super) fn encode(
    payload: Payload,
    _options: &FlatBufferOptions,
) -> Result<Vec<u8>, CodecError> {
    let mut builder = FlatBufferBuilder::new();
    match payload {
        Payload::FlatBuffer(bytes) => return Ok(bytes),
        Payload::Raw(bytes) => {
            let vector = builder.create_vector(&bytes);
            builder.finish_minimal(vector);
        }
        Payload::Json(value) => encode_json(&mut builder, &value)?,
        Payload::Text(text) => match serde_json::from_str::<Value>(&text) {
            Ok(value) => encode_json(&mut builder, &value)?,
            Err(_) => {
                let string = builder.create_string(&text);
                builder.finish_minimal(string);
            }
        },
        Payload::Proto(text) => {
            let string = builder.create_string(&text);
            builder.finish_minimal(string);
        }
    }
    Ok(builder.finished_data().to_vec())
}

fn encode_json(builder: &mut FlatBufferBuilder<'_>, value: &Value) -> Result<(), CodecError> {
    let Value::Object(object) = value else {
        let text = serde_json::to_string(value)
            .map_err(|error| CodecError::encode(Schema::FlatBuffer, error))?;
        let string = builder.create_string(&text);
        builder.finish_minimal(string);
        return Ok(());
    };
    let mut offsets: Vec<WIPOffset<&str>> = Vec::with_capacity(object.len() * 2);
    for (key, value) in object {
        offsets.push(builder.create_string(key));
        let offset = match value {
            Value::String(text) => builder.create_string(text),
            other => builder.create_string(&other.to_string()),
        };
        offsets.push(offset);
    }
    let vector = builder.create_vector(&offsets);
    builder.finish_minimal(vector);
    Ok(())
}
