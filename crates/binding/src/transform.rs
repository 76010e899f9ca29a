//! The TypeScript transform hooks: the batch form (columns, see `js_batch.rs`) that the TS
//! runtime uses, and the original per-message object form kept for code that registered a
//! handler with `Engine.onTransform` (it costs one object, one Buffer and one id string per
//! message each way).

use std::collections::HashMap;

use iggy_connectors_engine::{
    ExternalBatch, ExternalOutput, ExternalTransform, OutputMessage, OutputPayload,
};
use napi::bindgen_prelude::{Buffer, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::js_batch::{self, BatchColumns, BatchResultColumns};

/// A message handed to a per-message TS transform (`Engine.onTransform`).
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

/// A batch handed to a per-message TS transform (`Engine.onTransform`).
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

/// `(batch: BatchColumns) => Promise<BatchResultColumns>` as a weak threadsafe function: it
/// never keeps Node alive, and a throwing handler becomes an `Err` instead of a fatal exception.
pub type BatchTransformFn = ThreadsafeFunction<
    BatchColumns,
    Promise<BatchResultColumns>,
    BatchColumns,
    napi::Status,
    false,
    true,
>;

/// `(batch: JsBatch) => Promise<Array<JsMessage>>`, weak like [`BatchTransformFn`].
pub type TransformFn =
    ThreadsafeFunction<JsBatch, Promise<Vec<JsMessage>>, JsBatch, napi::Status, false, true>;

/// The hook of `Engine.onTransformBatch`.
pub struct JsBatchTransform {
    pub handler: BatchTransformFn,
}

#[async_trait::async_trait]
impl ExternalTransform for JsBatchTransform {
    async fn transform(&self, batch: &ExternalBatch) -> Result<ExternalOutput, String> {
        let promise = self
            .handler
            .call_async_catch(js_batch::to_js(batch))
            .await
            .map_err(|e| e.reason.clone())?;
        let result = promise.await.map_err(|e| e.reason.clone())?;
        js_batch::from_js(result)
    }
}

/// The hook of `Engine.onTransform` (per-message objects).
pub struct JsTransform {
    pub handler: TransformFn,
}

fn to_objects(batch: &ExternalBatch) -> Vec<JsMessage> {
    let m = &batch.messages;
    (0..m.len())
        .map(|i| JsMessage {
            id: m.ids[i].to_string(),
            offset: m.offsets.as_ref().map(|o| o[i] as f64),
            timestamp: m.timestamps[i].map(|t| t as f64),
            headers: m.headers[i].as_ref().map(|h| h.iter().cloned().collect()),
            payload: Buffer::from(m.payload(i).to_vec()),
        })
        .collect()
}

/// Sinks match returned objects to the batch by offset (a sink cannot add messages; unknown
/// offsets are ignored, as before); a source's returned objects are new messages.
fn from_objects(batch: &ExternalBatch, kept: Vec<JsMessage>) -> Result<ExternalOutput, String> {
    let by_offset: Option<HashMap<u64, u32>> = batch.messages.offsets.as_ref().map(|offsets| {
        offsets
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, i as u32))
            .collect()
    });
    let mut out = ExternalOutput::default();
    for m in kept {
        let from = match &by_offset {
            Some(by_offset) => match m.offset.and_then(|o| by_offset.get(&(o as u64))) {
                Some(from) => Some(*from),
                None => continue,
            },
            None => None,
        };
        let id = if m.id.is_empty() {
            0
        } else {
            m.id.parse()
                .map_err(|_| format!("message id '{}' is not a decimal u128", m.id))?
        };
        let unchanged = from.is_some_and(|f| batch.messages.payload(f as usize) == &m.payload[..]);
        let payload = if unchanged {
            OutputPayload::Unchanged
        } else {
            let start = out.payloads.len() as u32;
            out.payloads.extend_from_slice(&m.payload);
            OutputPayload::Range {
                start,
                length: m.payload.len() as u32,
            }
        };
        out.messages.push(OutputMessage {
            from,
            payload,
            id: Some(id),
            timestamp: m.timestamp.map(|t| t as u64),
            headers: Some(m.headers.map(|h| h.into_iter().collect())),
        });
    }
    Ok(out)
}

#[async_trait::async_trait]
impl ExternalTransform for JsTransform {
    async fn transform(&self, batch: &ExternalBatch) -> Result<ExternalOutput, String> {
        let objects = JsBatch {
            connector_key: batch.connector_key.clone(),
            kind: batch.kind.to_owned(),
            transform: batch.transform.clone(),
            stream: batch.stream.clone(),
            topic: batch.topic.clone(),
            messages: to_objects(batch),
        };
        let promise = self
            .handler
            .call_async_catch(objects)
            .await
            .map_err(|e| e.reason.clone())?;
        let kept = promise.await.map_err(|e| e.reason.clone())?;
        from_objects(batch, kept)
    }
}
