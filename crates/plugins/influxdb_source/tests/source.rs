//! The source against a real InfluxDB 1.8.3: every row exactly once whatever the template's
//! per-series limit and timestamp groups, the cursor moving only on Ack, poison rows skipped,
//! types kept, state resumed.

mod common;

use std::collections::BTreeMap;

use common::*;
use iggy_connector_influxdb_common::testing::{TestServer, unique_name};
use iggy_connector_influxdb_source::{InfluxDbSource, InfluxDbSourceConfig, SourceState};
use iggy_connectors_sdk::{ConnectorState, Schema};
use serde_json::json;

const BASE_NS: u64 = 1_700_000_000_000_000_000;

async fn database(server: &TestServer) -> String {
    let name = unique_name("source");
    server.create_database(&name).await;
    name
}

/// (host, value) of every whole-row message, sorted.
fn host_values(messages: &[iggy_connectors_sdk::ProducedMessage]) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = messages
        .iter()
        .map(|m| {
            let json = json_payload(m);
            (
                json["row"]["host"].as_str().unwrap().to_string(),
                json["value"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn given_series_of_different_density_when_polled_with_upstream_template_should_skip_no_row() {
    let server = TestServer::shared("source");
    let bucket = database(server).await;
    // "dense": a point every ms; "sparse": every 10 ms. Flux's limit cuts each series
    // separately, so the dense one stops long before the sparse one (upstream lost the rest).
    let mut lines = Vec::new();
    for i in 0..600u64 {
        lines.push(format!("m,host=dense v={i}i {}", BASE_NS + i * 1_000_000));
    }
    for i in 0..300u64 {
        lines.push(format!("m,host=sparse v={i}i {}", BASE_NS + i * 10_000_000));
    }
    server.write(&bucket, &lines.join("\n")).await;
    let source = open(
        config(
            server,
            &upstream_query(&bucket, "m"),
            json!({"batch_size": 100}),
        ),
        None,
    )
    .await;
    let (messages, polls) = drain(&source).await;
    let mut expected: Vec<(String, i64)> = (0..600).map(|i| ("dense".to_string(), i)).collect();
    expected.extend((0..300).map(|i| ("sparse".to_string(), i)));
    expected.sort();
    assert_eq!(host_values(&messages), expected);
    eprintln!("900 rows in {polls} polls");
    let state = source.state().unwrap();
    assert_eq!(state.processed_rows, 900);
    assert_eq!(
        state.last_timestamp.as_deref(),
        Some("2023-11-14T22:13:22.99Z"),
        "the newest row: sparse #299"
    );
}

#[tokio::test]
async fn given_more_rows_at_one_time_than_batch_size_when_polled_with_ge_template_should_deliver_all_once()
 {
    let server = TestServer::shared("source");
    let bucket = database(server).await;
    // 250 series with a point at the same instant, then 50 later points.
    let mut lines: Vec<String> = (0..250)
        .map(|i| format!("g,host=h{i:03} v={i}i {BASE_NS}"))
        .collect();
    lines.extend((0..50).map(|i| format!("g,host=late v={i}i {}", BASE_NS + 1_000 + i)));
    server.write(&bucket, &lines.join("\n")).await;
    let source = open(
        config(
            server,
            &grouped_query(&bucket, "g"),
            json!({"batch_size": 40}),
        ),
        None,
    )
    .await;
    let (messages, _) = drain(&source).await;
    let mut expected: Vec<(String, i64)> = (0..250).map(|i| (format!("h{i:03}"), i)).collect();
    expected.extend((0..50).map(|i| ("late".to_string(), i)));
    expected.sort();
    assert_eq!(host_values(&messages), expected);
    let ids: std::collections::HashSet<_> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 300, "deterministic ids differ per point");
}

#[tokio::test]
async fn given_nack_when_polled_again_should_redeliver_the_same_rows_and_keep_the_cursor() {
    let server = TestServer::shared("source");
    let bucket = database(server).await;
    let lines: Vec<String> = (0..30)
        .map(|i| format!("n,host=a v={i}i {}", BASE_NS + i))
        .collect();
    server.write(&bucket, &lines.join("\n")).await;
    let source = open(
        config(
            server,
            &grouped_query(&bucket, "n"),
            json!({"batch_size": 10}),
        ),
        None,
    )
    .await;
    let first = source.poll_now().await.unwrap();
    // 10 rows came back (the limit), so the newest may have company past the limit: it waits.
    assert_eq!(first.messages.len(), 9);
    // The state handed to the runtime is the post-Ack one; the committed one has not moved.
    let offered: SourceState = first.state.as_ref().unwrap().decode().unwrap();
    assert_eq!(offered.processed_rows, 9);
    assert_eq!(source.state().unwrap().last_timestamp, None);
    source.nack();
    let again = source.poll_now().await.unwrap();
    let ids = |batch: &iggy_connectors_sdk::ProducedMessages| -> Vec<Option<u128>> {
        batch.messages.iter().map(|m| m.id).collect()
    };
    assert_eq!(ids(&again), ids(&first), "same rows, same ids");
    let again_state: SourceState = again.state.as_ref().unwrap().decode().unwrap();
    assert_eq!(
        (
            &again_state.last_timestamp,
            again_state.cursor_row_count,
            again_state.processed_rows
        ),
        (
            &offered.last_timestamp,
            offered.cursor_row_count,
            offered.processed_rows
        )
    );
    source.ack();
    assert_eq!(source.state().unwrap(), again_state);
    let next = source.poll_now().await.unwrap();
    assert_eq!(json_payload(&next.messages[0])["value"], 9);
}

#[tokio::test]
async fn given_saved_state_when_a_new_source_opens_should_resume_after_the_cursor() {
    let server = TestServer::shared("source");
    let bucket = database(server).await;
    // Pairs of points (two series) share each instant.
    let lines: Vec<String> = (0..50)
        .map(|i| format!("r,host=h{} v={i}i {}", i % 2, BASE_NS + i / 2))
        .collect();
    server.write(&bucket, &lines.join("\n")).await;
    let query = grouped_query(&bucket, "r");
    let first = open(config(server, &query, json!({"batch_size": 15})), None).await;
    let batch = first.poll_now().await.unwrap();
    first.ack();
    let saved: ConnectorState = batch.state.unwrap();
    // Upstream's positional layout: [last_poll_time, last_timestamp, processed_rows, cursor_row_count].
    let (_, cursor, rows, count): (String, Option<String>, u64, u64) =
        rmp_serde::from_slice(saved.as_bytes()).unwrap();
    // 15 rows came back (the limit): rows 0..14 share times pairwise, so the last time (row 14,
    // whose partner row 15 was cut off) waits for the next poll.
    assert_eq!((rows, count), (14, 2));
    assert_eq!(cursor.as_deref(), Some("2023-11-14T22:13:20.000000006Z"));

    let second = open(
        config(server, &query, json!({"batch_size": 15})),
        Some(saved),
    )
    .await;
    let (rest, _) = drain(&second).await;
    let mut values: Vec<i64> = rest
        .iter()
        .map(|m| json_payload(m)["value"].as_i64().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, (14..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn given_undecodable_state_when_opened_should_fail_instead_of_rereading_everything() {
    let server = TestServer::shared("source");
    let config: InfluxDbSourceConfig =
        serde_json::from_value(config(server, &grouped_query("x", "y"), json!({}))).unwrap();
    let mut source = InfluxDbSource::new(1, config, Some(ConnectorState(vec![0xc1, 0x01])));
    let error = source.open().await.unwrap_err().to_string();
    assert!(error.contains("state"), "{error}");
}

#[tokio::test]
async fn given_poison_rows_when_polled_should_skip_them_and_deliver_the_rest() {
    let server = TestServer::shared("source");
    let bucket = database(server).await;
    let lines: Vec<String> = (0..20)
        .map(|i| {
            let doc = if i % 7 == 3 {
                "not json".to_string()
            } else {
                format!("{{\\\"i\\\":{i}}}")
            };
            format!("p,host=a doc=\"{doc}\" {}", BASE_NS + i)
        })
        .collect();
    server.write(&bucket, &lines.join("\n")).await;
    let source = open(
        config(
            server,
            &grouped_query(&bucket, "p"),
            json!({"batch_size": 8, "payload_column": "_value", "payload_format": "json"}),
        ),
        None,
    )
    .await;
    let (messages, _) = drain(&source).await;
    let got: Vec<i64> = messages
        .iter()
        .map(|m| json_payload(m)["i"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (0..20).filter(|i| i % 7 != 3).collect();
    assert_eq!(got, expected);
    assert_eq!(source.skipped_rows(), 3);
    assert_eq!(
        source.state().unwrap().last_timestamp.as_deref(),
        Some("2023-11-14T22:13:20.000000019Z")
    );
}

#[tokio::test]
async fn given_typed_fields_and_payload_columns_when_polled_should_keep_types_and_bytes() {
    let server = TestServer::shared("source");
    let bucket = database(server).await;
    server
        .write(
            &bucket,
            &[
                format!("t,host=007 int=-5i {BASE_NS}"),
                format!("t,host=007 float=2.5 {}", BASE_NS + 1),
                format!("t,host=007 flag=true {}", BASE_NS + 2),
                format!("t,host=007 str=\"12\" {}", BASE_NS + 3),
            ]
            .join("\n"),
        )
        .await;
    // One table per field (no group()), so each keeps its own datatype.
    let source = open(
        config(server, &upstream_query(&bucket, "t"), json!({})),
        None,
    )
    .await;
    let (messages, _) = drain(&source).await;
    let by_field: BTreeMap<String, serde_json::Value> = messages
        .iter()
        .map(|m| {
            let json = json_payload(m);
            assert_eq!(
                json["row"]["host"], "007",
                "a numeric-looking tag stays a string"
            );
            (
                json["field"].as_str().unwrap().to_string(),
                json["value"].clone(),
            )
        })
        .collect();
    assert_eq!(by_field["int"], json!(-5));
    assert_eq!(by_field["float"], json!(2.5));
    assert_eq!(by_field["flag"], json!(true));
    assert_eq!(
        by_field["str"],
        json!("12"),
        "a numeric-looking string stays a string"
    );

    // Raw: base64 text becomes the exact bytes; text: the text as is.
    let raw_bucket = database(server).await;
    server
        .write(&raw_bucket, &format!("b,host=a data=\"AQID/w==\" {BASE_NS}\nb,host=a data=\"line1\\\\\nline2 \\\"q\\\"\" {}", BASE_NS + 1))
        .await;
    let query = grouped_query(&raw_bucket, "b");
    let source = open(
        config(
            server,
            &query,
            json!({"payload_column": "_value", "payload_format": "raw"}),
        ),
        None,
    )
    .await;
    let batch = source.poll_now().await.unwrap();
    assert_eq!(batch.schema, Schema::Raw);
    assert_eq!(batch.messages[0].payload, vec![1, 2, 3, 0xff]);
    let source = open(
        config(
            server,
            &query,
            json!({"payload_column": "_value", "payload_format": "text"}),
        ),
        None,
    )
    .await;
    let batch = source.poll_now().await.unwrap();
    assert_eq!(batch.schema, Schema::Text);
    assert_eq!(batch.messages[1].payload, b"line1\\\nline2 \"q\"");
}
