//! `proto`: protobuf payloads.
//!
//! Without a schema (the default, `use_any_wrapper = true`) payloads are
//! `google.protobuf.Any` messages, as upstream: the decoder renders them as JSON
//! `{"type_url", "value": base64}` and the encoder wraps every payload in an Any whose value
//! is a properly encoded `StringValue` or `BytesValue`.
//!
//! With a message schema (`descriptor_set` bytes, or `schema_path` to a compiled descriptor
//! set, plus `message_type`) the payload is the message itself: the decoder walks the wire
//! format into a JSON object keyed by field name (nested messages decoded recursively,
//! fixed-width fields read correctly), and the encoder does the reverse for JSON objects.

mod schema;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost::Message as _;
use prost_types::Any;

use crate::codecs::CodecError;
use crate::{Payload, Schema};

pub use schema::MessageSchema;

/// Options of the protobuf codec (upstream `ProtoConfig`, minus the schema registry).
/// Deserializes from the upstream key names; missing keys take the defaults.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct ProtoOptions {
    /// Treat schema-less payloads as `google.protobuf.Any` (default `true`). When `false` the
    /// decoder returns the bytes as `Payload::Raw` and the encoder passes bytes through.
    pub use_any_wrapper: bool,
    /// Prefix of the Any type URLs written by the encoder (default `type.googleapis.com`).
    pub type_url_prefix: String,
    /// Fully qualified message name (e.g. `shop.Order`) of the schema to use.
    pub message_type: Option<String>,
    /// A serialized `FileDescriptorSet` (`protoc --descriptor_set_out`). Not read from
    /// config (use `schema_path`).
    #[serde(skip)]
    pub descriptor_set: Option<Vec<u8>>,
    /// Path of a compiled descriptor set file. `.proto` sources cannot be compiled here.
    pub schema_path: Option<PathBuf>,
    /// Keep fields the schema does not know as `unknown_field_<n>` (default `false`).
    pub preserve_unknown_fields: bool,
    /// The schema loaded on first use; leave it `Default`. Set the fields above before the
    /// first decode/encode. A clone starts with an empty cache, so
    /// `ProtoOptions { message_type: …, ..options.clone() }` never sees a stale schema.
    #[serde(skip)]
    pub schema_cache: SchemaCache,
}

/// Lazily loaded schema of a [`ProtoOptions`] value (so a descriptor set is parsed once, not
/// per message).
#[derive(Debug, Default)]
pub struct SchemaCache(OnceLock<Result<Option<Arc<MessageSchema>>, CodecError>>);

impl Clone for SchemaCache {
    fn clone(&self) -> Self {
        SchemaCache::default()
    }
}

impl Default for ProtoOptions {
    fn default() -> Self {
        ProtoOptions {
            use_any_wrapper: true,
            type_url_prefix: "type.googleapis.com".to_owned(),
            message_type: None,
            descriptor_set: None,
            schema_path: None,
            preserve_unknown_fields: false,
            schema_cache: SchemaCache::default(),
        }
    }
}

impl ProtoOptions {
    /// The message schema named by `message_type`, if a descriptor source is given. Loaded
    /// (and the descriptor file read) once per options value, not per message.
    pub fn schema(&self) -> Result<Option<Arc<MessageSchema>>, CodecError> {
        self.schema_cache
            .0
            .get_or_init(|| self.load_schema())
            .clone()
    }

    fn load_schema(&self) -> Result<Option<Arc<MessageSchema>>, CodecError> {
        let bytes = match (&self.descriptor_set, &self.schema_path) {
            (Some(bytes), _) => bytes.clone(),
            (None, Some(path)) => {
                if path.extension().is_some_and(|ext| ext == "proto") {
                    return Err(options_error(format!(
                        "schema_path '{}' is a .proto source; compile it with \
                         `protoc --include_imports --descriptor_set_out=<file>.pb` and point \
                         schema_path (or descriptor_set) at the result",
                        path.display()
                    )));
                }
                std::fs::read(path).map_err(|error| {
                    options_error(format!(
                        "cannot read schema_path '{}': {error}",
                        path.display()
                    ))
                })?
            }
            (None, None) => return Ok(None),
        };
        let Some(message_type) = &self.message_type else {
            return Err(options_error("a descriptor set needs message_type"));
        };
        MessageSchema::from_descriptor_set(&bytes, message_type)
            .map(|schema| Some(Arc::new(schema)))
            .map_err(options_error)
    }
}

fn options_error(reason: impl ToString) -> CodecError {
    CodecError::InvalidOptions {
        schema: Schema::Proto,
        reason: reason.to_string(),
    }
}

pub(super) fn decode(bytes: &[u8], options: &ProtoOptions) -> Result<Payload, CodecError> {
    if let Some(schema) = options.schema()? {
        return schema
            .decode(bytes, options.preserve_unknown_fields)
            .map(Payload::Json)
            .map_err(|reason| CodecError::decode(Schema::Proto, reason));
    }
    if !options.use_any_wrapper {
        return Ok(Payload::Raw(bytes.to_vec()));
    }
    if bytes.is_empty() {
        return Err(CodecError::decode(Schema::Proto, "empty payload"));
    }
    let any = Any::decode(bytes).map_err(|error| {
        CodecError::decode(Schema::Proto, format!("not a google.protobuf.Any: {error}"))
    })?;
    Ok(Payload::Json(serde_json::json!({
        "type_url": any.type_url,
        "value": BASE64.encode(&any.value),
    })))
}

pub(super) fn encode(payload: Payload, options: &ProtoOptions) -> Result<Vec<u8>, CodecError> {
    if let Some(schema) = options.schema()? {
        return match payload {
            Payload::Json(value) => schema
                .encode(&value)
                .map_err(|reason| CodecError::encode(Schema::Proto, reason)),
            Payload::Raw(bytes) | Payload::FlatBuffer(bytes) => Ok(bytes),
            other => Err(CodecError::payload_type(Schema::Proto, &other)),
        };
    }
    if !options.use_any_wrapper {
        return match payload {
            Payload::Raw(bytes) | Payload::FlatBuffer(bytes) => Ok(bytes),
            other => Err(CodecError::encode(
                Schema::Proto,
                format!(
                    "a {} payload needs use_any_wrapper = true or a message schema",
                    other.kind()
                ),
            )),
        };
    }
    let prefix = options.type_url_prefix.trim_end_matches('/');
    let (type_name, value) = match payload {
        Payload::Json(value) => {
            let json = serde_json::to_string(&value)
                .map_err(|error| CodecError::encode(Schema::Proto, error))?;
            ("google.protobuf.StringValue", json.encode_to_vec())
        }
        Payload::Text(text) => {
            let millis = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis() as u64)
                .unwrap_or_default();
            let wrapped = serde_json::json!({
                "text": text,
                "timestamp": millis,
                "encoding": "utf-8",
            });
            (
                "google.protobuf.StringValue",
                wrapped.to_string().encode_to_vec(),
            )
        }
        Payload::Proto(text) => ("google.protobuf.StringValue", text.encode_to_vec()),
        Payload::Raw(bytes) | Payload::FlatBuffer(bytes) => {
            ("google.protobuf.BytesValue", bytes.encode_to_vec())
        }
    };
    let any = Any {
        type_url: format!("{prefix}/{type_name}"),
        value,
    };
    Ok(any.encode_to_vec())
}
