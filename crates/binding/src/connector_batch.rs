//! The one place where messages cross between the engine and TypeScript connectors. It uses
//! the transform crossing's `JsMessage` objects for now; when the columnar batch view lands,
//! only these two functions change.

use iggy_connectors_engine::ExternalMessage;
use napi::bindgen_prelude::Buffer;

use crate::transform::JsMessage;

pub fn messages_to_js(messages: Vec<ExternalMessage>) -> Vec<JsMessage> {
    messages
        .into_iter()
        .map(|m| JsMessage {
            id: m.id.to_string(),
            offset: m.offset.map(|o| o as f64),
            timestamp: m.timestamp.map(|t| t as f64),
            headers: m.headers.map(|h| h.into_iter().collect()),
            payload: Buffer::from(m.payload),
        })
        .collect()
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
