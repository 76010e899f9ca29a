//! Shared helpers of the sink tests (a real InfluxDB 1.8.3 from scripts/influxdb-test-server.sh).
#![allow(dead_code)]

use std::collections::BTreeMap;

use iggy_connector_influxdb_common::testing::{TOKEN, TestServer, merged};
use iggy_connector_influxdb_sink::{InfluxDbSink, InfluxDbSinkConfig};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, Schema, TopicMetadata};
use serde_json::{Value, json};

pub fn config(server: &TestServer, bucket: &str, extra: Value) -> Value {
    merged(
        json!({
            "url": server.url,
            "org": "test",
            "bucket": bucket,
            "token": TOKEN,
            "retry_delay": "10ms",
            "retry_max_delay": "50ms",
            "max_open_retries": 3,
        }),
        extra,
    )
}

pub async fn open(config: Value) -> InfluxDbSink {
    let config: InfluxDbSinkConfig = serde_json::from_value(config).expect("config parses");
    let mut sink = InfluxDbSink::new(1, config);
    sink.open().await.expect("sink opens");
    sink
}

pub fn topic(stream: &str, topic: &str) -> TopicMetadata {
    TopicMetadata {
        stream: stream.into(),
        topic: topic.into(),
    }
}

pub fn meta(partition_id: u32, schema: Schema) -> MessagesMetadata {
    MessagesMetadata {
        partition_id,
        current_offset: 0,
        schema,
    }
}

/// Messages with ids `1000 + offset` and the same Iggy timestamp, as one appended batch has.
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
                timestamp: 1_700_000_000_000_000,
                origin_timestamp: 1_600_000_000_000_000 + offset,
                headers: None,
                payload,
            }
        })
        .collect()
}

/// Every point of `measurement`, one map of column → value per point (fields pivoted).
pub async fn points(
    server: &TestServer,
    bucket: &str,
    measurement: &str,
) -> Vec<BTreeMap<String, String>> {
    let query = format!(
        "from(bucket: {bucket:?}) |> range(start: 0) |> filter(fn: (r) => r._measurement == {measurement:?}) \
         |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\") |> group()"
    );
    let mut out = Vec::new();
    for block in server.flux(&query).await {
        for row in &block.rows {
            out.push(
                block
                    .columns
                    .iter()
                    .zip(row)
                    .filter(|(c, _)| !c.name.is_empty())
                    .map(|(c, v)| (c.name.clone(), v.clone()))
                    .collect(),
            );
        }
    }
    out
}

/// How many series (measurement + tag set) hold the `offset` field.
pub async fn series_count(server: &TestServer, bucket: &str, measurement: &str) -> usize {
    let query = format!(
        "from(bucket: {bucket:?}) |> range(start: 0) \
         |> filter(fn: (r) => r._measurement == {measurement:?} and r._field == \"offset\") |> count()"
    );
    server.flux(&query).await.iter().map(|b| b.rows.len()).sum()
}

pub fn json_payloads(range: std::ops::Range<u64>) -> Vec<Payload> {
    range.map(|i| Payload::Json(json!({"i": i}))).collect()
}
