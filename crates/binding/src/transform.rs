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

// ---- the TypeScript transform hook ---------------------------------------------------------

use iggy_connectors_engine::{ExternalBatch, ExternalMessage, ExternalTransform};
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;

/// `(batch: JsBatch) => Promise<Array<JsMessage>>` as a weak threadsafe function: it never keeps
/// Node alive, and a throwing handler becomes an `Err` instead of a fatal exception.
pub type TransformFn =
    ThreadsafeFunction<JsBatch, Promise<Vec<JsMessage>>, JsBatch, napi::Status, false, true>;

pub struct JsTransform {
    pub handler: TransformFn,
}

fn to_js(m: ExternalMessage) -> JsMessage {
    JsMessage {
        id: m.id.to_string(),
        offset: m.offset.map(|o| o as f64),
        timestamp: m.timestamp.map(|t| t as f64),
        headers: m.headers.map(|h| h.into_iter().collect()),
        payload: Buffer::from(m.payload),
    }
}

fn from_js(m: JsMessage) -> Result<ExternalMessage, String> {
    Ok(ExternalMessage {
        id: if m.id.is_empty() {
            0
        } else {
            m.id.parse()
                .map_err(|_| format!("message id '{}' is not a decimal u128", m.id))?
        },
        offset: m.offset.map(|o| o as u64),
        timestamp: m.timestamp.map(|t| t as u64),
        headers: m.headers.map(|h| h.into_iter().collect()),
        payload: m.payload.to_vec(),
    })
}

#[async_trait::async_trait]
impl ExternalTransform for JsTransform {
    async fn transform(&self, batch: ExternalBatch) -> Result<Vec<ExternalMessage>, String> {
        let batch = JsBatch {
            connector_key: batch.connector_key,
            kind: batch.kind.to_owned(),
            transform: batch.transform,
            stream: batch.stream,
            topic: batch.topic,
            messages: batch.messages.into_iter().map(to_js).collect(),
        };
        let promise = self
            .handler
            .call_async_catch(batch)
            .await
            .map_err(|e| e.reason.clone())?;
        let kept = promise.await.map_err(|e| e.reason.clone())?;
        kept.into_iter().map(from_js).collect()
    }
}
