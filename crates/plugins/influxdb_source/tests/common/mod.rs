//! Shared helpers of the source tests (a real InfluxDB 1.8.3 from scripts/influxdb-test-server.sh).
#![allow(dead_code)]

use iggy_connector_influxdb_common::testing::{TOKEN, TestServer, merged};
use iggy_connector_influxdb_source::{InfluxDbSource, InfluxDbSourceConfig};
use iggy_connectors_sdk::{ConnectorState, ProducedMessage};
use serde_json::{Value, json};

/// Upstream's documented template: `>` and a per-series `limit`.
pub fn upstream_query(bucket: &str, measurement: &str) -> String {
    format!(
        "from(bucket: \"{bucket}\") |> range(start: 0) \
         |> filter(fn: (r) => r._measurement == \"{measurement}\" and r._time > time(v: \"$cursor\")) \
         |> sort(columns: [\"_time\"]) |> limit(n: $limit)"
    )
}

/// The recommended template: `range(start: $cursor)` (inclusive, i.e. `>=`, with the row
/// counter; InfluxDB reads only from the cursor on), one global sort and limit, sorted by time
/// and the tag that makes the order total (Flux's sort is not stable).
pub fn grouped_query(bucket: &str, measurement: &str) -> String {
    format!(
        "from(bucket: \"{bucket}\") |> range(start: time(v: \"$cursor\")) \
         |> filter(fn: (r) => r._measurement == \"{measurement}\") \
         |> group() |> sort(columns: [\"_time\", \"host\"]) |> limit(n: $limit)"
    )
}

pub fn config(server: &TestServer, query: &str, extra: Value) -> Value {
    merged(
        json!({
            "url": server.url,
            "org": "test",
            "token": TOKEN,
            "query": query,
            "poll_interval": "10ms",
            "batch_size": 100,
            "retry_delay": "10ms",
            "retry_max_delay": "50ms",
            "max_open_retries": 3,
        }),
        extra,
    )
}

pub async fn open(config: Value, state: Option<ConnectorState>) -> InfluxDbSource {
    let config: InfluxDbSourceConfig = serde_json::from_value(config).expect("config parses");
    let mut source = InfluxDbSource::new(1, config, state);
    source.open().await.expect("source opens");
    source
}

/// Polls and acknowledges until a poll brings nothing new; returns every message and the
/// number of polls.
pub async fn drain(source: &InfluxDbSource) -> (Vec<ProducedMessage>, usize) {
    let mut all = Vec::new();
    let mut polls = 0;
    loop {
        let batch = source.poll_now().await.expect("poll");
        polls += 1;
        assert!(polls < 10_000, "the source never stops producing");
        let done = batch.messages.is_empty() && batch.state.is_none();
        all.extend(batch.messages);
        source.ack();
        if done {
            return (all, polls);
        }
    }
}

pub fn json_payload(message: &ProducedMessage) -> Value {
    serde_json::from_slice(&message.payload).expect("JSON payload")
}
