//! Shared helpers of the Quickwit sink tests.
#![allow(dead_code)]

pub mod quickwit_double;

use iggy_connector_quickwit_sink::{QuickwitSink, QuickwitSinkConfig};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, Schema, TopicMetadata};
use serde_json::{Value, json};

/// The index config of upstream's tests: strict, `id`, `name`, `count`, `amount`, `active`,
/// `timestamp` (µs unix timestamps), 7-day retention.
pub fn strict_index_yaml(index_id: &str) -> String {
    format!(
        "version: 0.8
index_id: {index_id}
doc_mapping:
  mode: strict
  field_mappings:
    - {{ name: id, type: u64 }}
    - {{ name: name, type: text, tokenizer: raw }}
    - {{ name: count, type: u64 }}
    - {{ name: amount, type: f64 }}
    - {{ name: active, type: bool }}
    - {{ name: timestamp, type: datetime, input_formats: [unix_timestamp], output_format: unix_timestamp_micros, fast: true }}
  timestamp_field: timestamp
retention:
  period: 7 days
  schedule: daily
"
    )
}

pub fn topic() -> TopicMetadata {
    TopicMetadata {
        stream: "qw".into(),
        topic: "events".into(),
    }
}

pub fn meta() -> MessagesMetadata {
    MessagesMetadata {
        partition_id: 1,
        current_offset: 0,
        schema: Schema::Json,
    }
}

/// The document upstream's tests send, for number `i`.
pub fn doc(i: u64) -> Value {
    json!({
        "id": i,
        "name": format!("test message {i}"),
        "count": i * 10,
        "amount": i as f64 * 1.5,
        "active": i.is_multiple_of(2),
        "timestamp": 1_700_000_000_000_000u64 + i,
    })
}

pub fn message(offset: u64, payload: Payload) -> ConsumedMessage {
    ConsumedMessage {
        id: offset as u128 + 1,
        offset,
        checksum: 0,
        timestamp: 1_700_000_000_000_000 + offset,
        origin_timestamp: 1_700_000_000_000_000 + offset,
        headers: None,
        payload,
    }
}

/// Messages carrying `doc(from..to)` at offsets `from..to`.
pub fn docs(from: u64, to: u64) -> Vec<ConsumedMessage> {
    (from..to)
        .map(|i| message(i, Payload::Json(doc(i))))
        .collect()
}

pub fn sink(url: &str, extra: Value) -> QuickwitSink {
    let mut config = extra;
    config
        .as_object_mut()
        .unwrap()
        .insert("url".into(), json!(url));
    let config: QuickwitSinkConfig = serde_json::from_value(config).unwrap();
    QuickwitSink::new(1, config)
}
