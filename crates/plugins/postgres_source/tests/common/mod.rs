//! Shared helpers of the source integration tests: one real PostgreSQL server per test binary.
#![allow(dead_code)]

use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};
use iggy_connector_postgres_source::{PostgresSource, PostgresSourceConfig};
use iggy_connectors_sdk::{ConnectorState, ProducedMessages};
use serde_json::{Value, json};

pub fn server() -> &'static TestServer {
    TestServer::shared("source")
}

pub async fn db() -> tokio_postgres::Client {
    connect(&server().url).await
}

pub fn name(prefix: &str) -> String {
    unique_name(prefix)
}

/// A config with the test server's URL, a 1 ms interval, and `extra` merged in.
pub fn config(extra: Value) -> Value {
    let mut base = json!({
        "connection_string": server().url,
        "mode": "polling",
        "poll_interval": "1ms",
        "retry_delay": "10ms",
    });
    for (k, v) in extra.as_object().expect("object") {
        base[k] = v.clone();
    }
    base
}

pub async fn open(config: Value, state: Option<ConnectorState>) -> PostgresSource {
    let config: PostgresSourceConfig = serde_json::from_value(config).expect("config parses");
    let mut source = PostgresSource::new(1, config, state);
    source.open().await.expect("source opens");
    source
}

/// Payloads of a batch as JSON values.
pub fn payloads(batch: &ProducedMessages) -> Vec<Value> {
    batch
        .messages
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).expect("payload is JSON"))
        .collect()
}

/// `data.<field>` of each JSON record.
pub fn data_field(batch: &ProducedMessages, field: &str) -> Vec<Value> {
    payloads(batch)
        .into_iter()
        .map(|p| p["data"][field].clone())
        .collect()
}

pub async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}
