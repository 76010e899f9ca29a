//! Shared helpers of the HTTP sink tests.
#![allow(dead_code)]

pub mod wiremock;

use std::collections::BTreeMap;

use iggy_connector_http_sink::{HttpSink, HttpSinkConfig};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, Schema, TopicMetadata};
use serde_json::Value;

pub fn topic() -> TopicMetadata {
    TopicMetadata {
        stream: "orders".into(),
        topic: "created".into(),
    }
}

pub fn batch_meta(schema: Schema) -> MessagesMetadata {
    MessagesMetadata {
        partition_id: 1,
        current_offset: 0,
        schema,
    }
}

/// A message at `offset` with fixed, recognizable metadata.
pub fn message(offset: u64, payload: Payload) -> ConsumedMessage {
    ConsumedMessage {
        id: 0x1000 + offset as u128,
        offset,
        checksum: 0xC0FFEE + offset,
        timestamp: 1_700_000_000_000_000 + offset,
        origin_timestamp: 1_690_000_000_000_000 + offset,
        headers: None,
        payload,
    }
}

/// `n` JSON messages `{"n": i, "name": "item i"}` at offsets `0..n`.
pub fn json_messages(n: u64) -> Vec<ConsumedMessage> {
    (0..n)
        .map(|i| {
            message(
                i,
                Payload::Json(serde_json::json!({"n": i, "name": format!("item {i}")})),
            )
        })
        .collect()
}

/// An opened sink for `url` with `extra` config keys (a JSON object).
pub async fn open_sink(url: &str, extra: Value) -> HttpSink {
    let mut config: BTreeMap<String, Value> = serde_json::from_value(extra).unwrap();
    config.insert("url".into(), Value::String(url.into()));
    let config: HttpSinkConfig =
        serde_json::from_value(serde_json::to_value(config).unwrap()).unwrap();
    let mut sink = HttpSink::new(1, config);
    sink.open().await.expect("sink opens");
    sink
}
