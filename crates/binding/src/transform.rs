//! Batches handed to TypeScript transforms.

use std::collections::HashMap;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

/// A message handed to a TS transform (only for connectors whose [transforms] name one).
#[napi(object)]
pub struct JsMessage {
    /// u128 as decimal.
    pub id: String,
    /// Sinks only.
    pub offset: Option<f64>,
    /// Microseconds.
    pub timestamp: Option<f64>,
    /// String-kind headers only.
    pub headers: Option<HashMap<String, String>>,
    /// The payload bytes (JSON text for schema json).
    pub payload: Buffer,
}

/// A batch handed to a TS transform.
#[napi(object)]
pub struct JsBatch {
    pub connector_key: String,
    /// source | sink
    pub kind: String,
    /// The transform name from the config.
    pub transform: String,
    pub stream: String,
    pub topic: String,
    pub messages: Vec<JsMessage>,
}
