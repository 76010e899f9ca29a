//! The one place where messages cross between the engine and TypeScript connectors: a sink's
//! batch goes over in columns (`js_batch`, the same crossing as TS transforms: one payload
//! buffer and typed arrays, read through `Batch` in `ts/batch.ts`); a source's messages come
//! back as `JsMessage` objects.

use iggy_connectors_engine::{ExternalBatch, ExternalMessage, ExternalMessages};

use crate::js_batch::{self, BatchColumns};
use crate::transform::JsMessage;

/// A sink's batch for JavaScript.
pub fn sink_batch_to_js(
    key: String,
    stream: String,
    topic: String,
    messages: ExternalMessages,
) -> BatchColumns {
    js_batch::to_js(&ExternalBatch {
        connector_key: key,
        kind: "sink",
        transform: String::new(),
        stream,
        topic,
        messages,
    })
}

/// Messages a TypeScript source produced; Err names the first message with a bad id.
pub fn messages_from_js(messages: Vec<JsMessage>) -> Result<Vec<ExternalMessage>, String> {
    messages
        .into_iter()
        .enumerate()
        .map(|(index, m)| {
            let id = if m.id.is_empty() {
                0
            } else {
                m.id.parse::<u128>()
                    .map_err(|_| format!("message #{index}: id '{}' is not a decimal u128", m.id))?
            };
            Ok(ExternalMessage {
                id,
                offset: m.offset.map(|o| o as u64),
                timestamp: m.timestamp.filter(|t| *t > 0.0).map(|t| t as u64),
                headers: m.headers.map(|h| h.into_iter().collect()),
                payload: m.payload.to_vec(),
            })
        })
        .collect()
}
