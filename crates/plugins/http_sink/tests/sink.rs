//! The HTTP sink against WireMock (a real HTTP server): the exact bytes of every batch mode,
//! headers, retries counted on the server, content refusals, size splitting, and outages.

mod common;

use common::wiremock::WireMock;
use common::{batch_meta, json_messages, message, open_sink, topic};
use iggy_connector_http_sink::{Rejection, SinkError};
use iggy_connectors_sdk::{Payload, Schema};
use serde_json::{Value, json};

/// The envelope upstream sends for `common::message(offset, {"n":…,"name":…})`, as exact text.
fn envelope(offset: u64) -> String {
    format!(
        r#"{{"metadata":{{"iggy_id":"{:032x}","iggy_offset":{offset},"iggy_timestamp":{},"iggy_stream":"orders","iggy_topic":"created","iggy_partition_id":1}},"payload":{{"n":{offset},"name":"item {offset}"}}}}"#,
        0x1000 + offset as u128,
        1_700_000_000_000_000 + offset
    )
}

fn fast_retries(max_retries: u32) -> Value {
    json!({"max_retries": max_retries, "retry_delay": "10ms", "max_retry_delay": "50ms", "timeout": "5s"})
}

fn merge(mut a: Value, b: Value) -> Value {
    a.as_object_mut()
        .unwrap()
        .extend(b.as_object().unwrap().clone());
    a
}

#[tokio::test]
async fn given_individual_mode_when_consuming_should_send_one_exact_envelope_per_message_with_headers()
 {
    let server = WireMock::start().await;
    server.stub_ingest(200).await;
    let sink = open_sink(
        &server.url("/ingest"),
        merge(
            fast_retries(0),
            json!({"headers": {"Authorization": "Bearer t0k", "X-Custom-Header": "v"}, "headers_x_tenant": 7}),
        ),
    )
    .await;
    let rejected = sink
        .consume(&topic(), batch_meta(Schema::Json), json_messages(3))
        .await
        .unwrap();
    assert!(rejected.is_empty());
    let requests = server.ingest_requests().await;
    assert_eq!(requests.len(), 3);
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.method, "POST");
        assert_eq!(
            String::from_utf8(r.body.clone()).unwrap(),
            envelope(i as u64)
        );
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["authorization"], "Bearer t0k");
        assert_eq!(r.headers["x-custom-header"], "v");
        assert_eq!(r.headers["x-tenant"], "7");
    }
}

#[tokio::test]
async fn given_ndjson_and_json_array_modes_when_consuming_should_send_one_exact_body() {
    let server = WireMock::start().await;
    server.stub_ingest(200).await;
    for mode in ["ndjson", "json_array"] {
        let sink = open_sink(
            &server.url("/ingest"),
            merge(fast_retries(0), json!({"batch_mode": mode})),
        )
        .await;
        sink.consume(&topic(), batch_meta(Schema::Json), json_messages(3))
            .await
            .unwrap();
    }
    let requests = server.ingest_requests().await;
    assert_eq!(requests.len(), 2);
    let lines: Vec<String> = (0..3).map(envelope).collect();
    assert_eq!(
        String::from_utf8(requests[0].body.clone()).unwrap(),
        format!("{}\n", lines.join("\n"))
    );
    assert_eq!(requests[0].headers["content-type"], "application/x-ndjson");
    assert_eq!(
        String::from_utf8(requests[1].body.clone()).unwrap(),
        format!("[{}]", lines.join(","))
    );
    assert_eq!(requests[1].headers["content-type"], "application/json");
}

#[tokio::test]
async fn given_raw_mode_and_bare_payloads_when_consuming_should_send_payload_bytes_exactly() {
    let server = WireMock::start().await;
    server.stub_ingest(200).await;
    let bytes: Vec<Vec<u8>> = vec![vec![0, 255, 10, 13], b"plain".to_vec(), vec![]];
    let raw = bytes
        .iter()
        .enumerate()
        .map(|(i, b)| message(i as u64, Payload::Raw(b.clone())))
        .collect();
    let sink = open_sink(
        &server.url("/ingest/raw"),
        merge(fast_retries(0), json!({"batch_mode": "raw"})),
    )
    .await;
    sink.consume(&topic(), batch_meta(Schema::Raw), raw)
        .await
        .unwrap();
    // Metadata off: the bare converted payload (text as a JSON string literal, bytes as base64).
    let sink = open_sink(
        &server.url("/ingest/bare"),
        merge(fast_retries(0), json!({"include_metadata": false})),
    )
    .await;
    let bare = vec![
        message(0, Payload::Json(json!({"k": [1, 2]}))),
        message(1, Payload::Text("hi".into())),
        message(2, Payload::Raw(vec![1, 2, 3])),
    ];
    sink.consume(&topic(), batch_meta(Schema::Json), bare)
        .await
        .unwrap();

    let requests = server.ingest_requests().await;
    let raw_bodies: Vec<&[u8]> = requests
        .iter()
        .filter(|r| r.url == "/ingest/raw")
        .map(|r| &r.body[..])
        .collect();
    assert_eq!(raw_bodies, bytes.iter().map(|b| &b[..]).collect::<Vec<_>>());
    assert!(
        requests
            .iter()
            .filter(|r| r.url == "/ingest/raw")
            .all(|r| r.headers["content-type"] == "application/octet-stream")
    );
    let bare: Vec<String> = requests
        .iter()
        .filter(|r| r.url == "/ingest/bare")
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    assert_eq!(
        bare,
        vec![
            r#"{"k":[1,2]}"#,
            r#""hi""#,
            r#"{"data":"AQID","iggy_payload_encoding":"base64"}"#
        ]
    );
}

#[tokio::test]
async fn given_a_server_failing_n_times_when_consuming_should_retry_exactly_until_success() {
    let server = WireMock::start().await;
    server.stub_failing_then_ok(2, 503).await;
    let sink = open_sink(
        &server.url("/ingest"),
        merge(fast_retries(3), json!({"batch_mode": "ndjson"})),
    )
    .await;
    let rejected = sink
        .consume(&topic(), batch_meta(Schema::Json), json_messages(4))
        .await
        .unwrap();
    assert!(rejected.is_empty());
    let requests = server.ingest_requests().await;
    assert_eq!(requests.len(), 3, "2 failures + 1 success");
    assert!(
        requests.windows(2).all(|w| w[0].body == w[1].body),
        "every retry sends the same bytes"
    );
}

#[tokio::test]
async fn given_more_failures_than_retries_when_consuming_should_fail_the_batch_then_deliver_on_redelivery()
 {
    let server = WireMock::start().await;
    // 429 and 5xx are retried; max_retries = 2 gives 3 attempts, all failing.
    server.stub_failing_then_ok(3, 429).await;
    let sink = open_sink(
        &server.url("/ingest"),
        merge(fast_retries(2), json!({"batch_mode": "json_array"})),
    )
    .await;
    let error = sink
        .consume(&topic(), batch_meta(Schema::Json), json_messages(5))
        .await
        .unwrap_err();
    assert!(matches!(error, SinkError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("3 attempt(s)"), "{error}");
    assert_eq!(server.ingest_requests().await.len(), 3);
    // The engine re-delivers the same batch: it goes through on the 4th request.
    sink.consume(&topic(), batch_meta(Schema::Json), json_messages(5))
        .await
        .unwrap();
    let requests = server.ingest_requests().await;
    assert_eq!(requests.len(), 4);
    let stored: Vec<Value> = serde_json::from_slice(&requests[3].body).unwrap();
    assert_eq!(stored.len(), 5);
}

#[tokio::test]
async fn given_messages_the_server_refuses_when_consuming_batched_should_isolate_them_and_deliver_the_rest_once()
 {
    let server = WireMock::start().await;
    server.stub_ingest(200).await;
    // Any body containing a "bad" document is refused with 422 (higher priority stub).
    server
        .stub(json!({
            "priority": 1,
            "request": {"method": "POST", "urlPattern": "/ingest.*", "bodyPatterns": [{"contains": "\"bad\":true"}]},
            "response": {"status": 422, "body": "field bad is not allowed"}
        }))
        .await;
    let messages = (0..16u64)
        .map(|i| {
            let bad = i == 3 || i == 11 || i == 12;
            message(i, Payload::Json(json!({"n": i, "bad": bad})))
        })
        .collect();
    let sink = open_sink(
        &server.url("/ingest"),
        merge(fast_retries(0), json!({"batch_mode": "ndjson"})),
    )
    .await;
    let rejected = sink
        .consume(&topic(), batch_meta(Schema::Json), messages)
        .await
        .unwrap();
    let offsets: Vec<u64> = rejected.iter().map(|r: &Rejection| r.offset).collect();
    assert_eq!(offsets, vec![3, 11, 12]);
    assert!(
        rejected
            .iter()
            .all(|r| r.reason.contains("422") && r.reason.contains("field bad is not allowed"))
    );
    // Each good message is in exactly one accepted body.
    let mut delivered = Vec::new();
    for r in server.ingest_requests().await {
        let body = String::from_utf8(r.body).unwrap();
        if body.contains("\"bad\":true") {
            continue;
        }
        for line in body.lines() {
            let doc: Value = serde_json::from_str(line).unwrap();
            delivered.push(doc["metadata"]["iggy_offset"].as_u64().unwrap());
        }
    }
    delivered.sort();
    let expected: Vec<u64> = (0..16).filter(|i| ![3, 11, 12].contains(i)).collect();
    assert_eq!(delivered, expected);
}

#[tokio::test]
async fn given_a_non_content_final_status_when_consuming_should_fail_without_rejecting() {
    let server = WireMock::start().await;
    server.stub_ingest(401).await;
    let sink = open_sink(&server.url("/ingest"), fast_retries(3)).await;
    let error = sink
        .consume(&topic(), batch_meta(Schema::Json), json_messages(2))
        .await
        .unwrap_err();
    assert!(matches!(error, SinkError::Refused(_)), "{error}");
    assert!(error.to_string().contains("401"), "{error}");
    assert_eq!(
        server.ingest_requests().await.len(),
        1,
        "a final status is not retried, and stops the batch"
    );
}

#[tokio::test]
async fn given_a_302_to_a_post_when_consuming_should_not_follow_it_as_a_get() {
    let server = WireMock::start().await;
    server
        .stub(json!({
            "request": {"method": "POST", "url": "/ingest"},
            "response": {"status": 302, "headers": {"Location": "/elsewhere"}}
        }))
        .await;
    server
        .stub(
            json!({"request": {"method": "ANY", "url": "/elsewhere"}, "response": {"status": 200}}),
        )
        .await;
    let sink = open_sink(&server.url("/ingest"), fast_retries(0)).await;
    let error = sink
        .consume(&topic(), batch_meta(Schema::Json), json_messages(1))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("302"), "{error}");
    assert!(
        server
            .requests()
            .await
            .iter()
            .all(|r| r.url != "/elsewhere")
    );
}

#[tokio::test]
async fn given_a_size_limit_when_consuming_batched_should_split_bodies_and_refuse_only_the_oversized()
 {
    let server = WireMock::start().await;
    server.stub_ingest(200).await;
    let max = 600usize;
    let mut messages = json_messages(20);
    messages[7] = message(7, Payload::Json(json!({"n": 7, "blob": "x".repeat(700)})));
    let sink = open_sink(
        &server.url("/ingest"),
        merge(
            fast_retries(0),
            json!({"batch_mode": "json_array", "max_payload_size_bytes": max}),
        ),
    )
    .await;
    let rejected = sink
        .consume(&topic(), batch_meta(Schema::Json), messages)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].offset, 7);
    assert!(
        rejected[0].reason.contains("max_payload_size_bytes"),
        "{}",
        rejected[0].reason
    );
    let requests = server.ingest_requests().await;
    assert!(requests.len() > 1);
    let mut offsets = Vec::new();
    for r in &requests {
        assert!(r.body.len() <= max, "body of {} bytes", r.body.len());
        let docs: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
        offsets.extend(
            docs.iter()
                .map(|d| d["metadata"]["iggy_offset"].as_u64().unwrap()),
        );
    }
    assert_eq!(
        offsets,
        (0..20).filter(|&i| i != 7).collect::<Vec<u64>>(),
        "in order, once each"
    );
}

#[tokio::test]
async fn given_the_server_down_for_a_while_when_consuming_should_fail_then_lose_nothing_once_back()
{
    let mut server = WireMock::start().await;
    let port = server.port;
    server.stop();
    let sink = open_sink(
        &format!("http://127.0.0.1:{port}/ingest"),
        merge(fast_retries(1), json!({"batch_mode": "ndjson"})),
    )
    .await;
    let batch = || json_messages(50);
    for _ in 0..3 {
        let error = sink
            .consume(&topic(), batch_meta(Schema::Json), batch())
            .await
            .unwrap_err();
        assert!(matches!(error, SinkError::Unavailable(_)), "{error}");
    }
    let server = WireMock::start_on(port).await;
    server.stub_ingest(200).await;
    sink.consume(&topic(), batch_meta(Schema::Json), batch())
        .await
        .unwrap();
    let requests = server.ingest_requests().await;
    assert_eq!(requests.len(), 1);
    let offsets: Vec<u64> = String::from_utf8(requests[0].body.clone())
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["metadata"]["iggy_offset"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(offsets, (0..50).collect::<Vec<u64>>());
}

#[tokio::test]
async fn given_health_check_when_opening_should_require_a_success_answer() {
    let server = WireMock::start().await;
    server
        .stub(json!({"request": {"method": "HEAD", "url": "/ingest"}, "response": {"status": 204}}))
        .await;
    open_sink(
        &server.url("/ingest"),
        merge(fast_retries(0), json!({"health_check_enabled": true})),
    )
    .await;
    let config = serde_json::from_value(json!({
        "url": server.url("/missing"), "health_check_enabled": true, "health_check_method": "GET", "max_retries": 0
    }))
    .unwrap();
    let mut sink = iggy_connector_http_sink::HttpSink::new(2, config);
    let error = sink.open().await.unwrap_err();
    assert!(
        matches!(error, SinkError::HealthCheck(_)) && error.to_string().contains("404"),
        "{error}"
    );
    let checks: Vec<String> = server
        .requests()
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url))
        .collect();
    assert_eq!(checks, vec!["HEAD /ingest", "GET /missing"]);
}
