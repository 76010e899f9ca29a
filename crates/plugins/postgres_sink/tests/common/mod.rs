//! Shared helpers of the sink integration tests.
#![allow(dead_code)]

use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};
use iggy_connector_postgres_sink::{PostgresSink, PostgresSinkConfig};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, Schema, TopicMetadata};
use serde_json::{Value, json};

pub fn name(prefix: &str) -> String {
    unique_name(prefix)
}

pub fn config(server: &TestServer, table: &str, extra: Value) -> Value {
    let mut base = json!({
        "connection_string": server.url,
        "target_table": table,
        "auto_create_table": true,
        "retry_delay": "10ms",
    });
    for (k, v) in extra.as_object().expect("object") {
        base[k] = v.clone();
    }
    base
}

pub async fn open(config: Value) -> PostgresSink {
    let config: PostgresSinkConfig = serde_json::from_value(config).expect("config parses");
    let mut sink = PostgresSink::new(1, config);
    sink.open().await.expect("sink opens");
    sink
}

pub fn topic() -> TopicMetadata {
    TopicMetadata {
        stream: "test_stream".into(),
        topic: "test_topic".into(),
    }
}

pub fn meta(schema: Schema) -> MessagesMetadata {
    MessagesMetadata {
        partition_id: 1,
        current_offset: 0,
        schema,
    }
}

/// Messages with ids `1000 + offset`, µs timestamps, and the given payloads.
pub fn messages(first_offset: u64, payloads: Vec<Payload>) -> Vec<ConsumedMessage> {
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let offset = first_offset + i as u64;
            ConsumedMessage {
                id: 1000 + offset as u128,
                offset,
                checksum: u64::MAX - offset,
                timestamp: 1_700_000_000_000_000 + offset,
                origin_timestamp: 1_600_000_000_000_000 + offset,
                headers: None,
                payload,
            }
        })
        .collect()
}

pub async fn db(server: &TestServer) -> tokio_postgres::Client {
    connect(&server.url).await
}

pub async fn count(db: &tokio_postgres::Client, table: &str) -> i64 {
    db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}
