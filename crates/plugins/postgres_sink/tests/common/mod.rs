//! Shared helpers of the sink integration tests.
#![allow(dead_code)]

use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};
use iggy_connector_postgres_sink::{PostgresSink, PostgresSinkConfig};
use iggy_connectors_sdk::{ConsumedMessage, Payload};
use iggy_connectors_test_support::sink_calls::{self, Stamps, with_keys};
// Re-exported for the test binaries that call the sink directly; the others leave them unused.
#[allow(unused_imports)]
pub use iggy_connectors_test_support::sink_calls::{meta, topic};
use serde_json::{Value, json};

pub fn name(prefix: &str) -> String {
    unique_name(prefix)
}

pub fn config(server: &TestServer, table: &str, extra: Value) -> Value {
    let base = json!({
        "connection_string": server.url,
        "target_table": table,
        "auto_create_table": true,
        "retry_delay": "10ms",
    });
    with_keys(base, extra)
}

pub async fn open(config: Value) -> PostgresSink {
    let config: PostgresSinkConfig = serde_json::from_value(config).expect("config parses");
    let mut sink = PostgresSink::new(1, config);
    sink.open().await.expect("sink opens");
    sink
}

/// Messages with ids `1000 + offset`, µs timestamps, and the given payloads.
pub fn messages(first_offset: u64, payloads: Vec<Payload>) -> Vec<ConsumedMessage> {
    sink_calls::messages(first_offset, payloads, |offset| Stamps {
        checksum: u64::MAX - offset,
        timestamp: 1_700_000_000_000_000 + offset,
        origin_timestamp: 1_600_000_000_000_000 + offset,
    })
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
