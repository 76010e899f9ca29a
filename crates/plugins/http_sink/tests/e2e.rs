//! End to end through the runtime: engine_test_source (cdylib) → engine → Iggy (the embedded
//! test broker) → engine → this sink (cdylib) → WireMock. Every message is checked one by one.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::wiremock::{WireMock, free_port};
use iggy_connectors_engine::{ConnectorKind, DeadLetterConfig, Engine, Status};
use iggy_connectors_test_support::{artifacts::plugin, pipeline};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::{Value, json};

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("http-sink-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// engine_test_source (`total` messages `{"seq": n}`) → `http/events` → the HTTP sink at `url`,
/// with refused messages dead-lettered to `http/dead_letters` when `dead_letter` is set.
fn pipeline(broker: &BrokerHandle, total: u64, url: &str, dead_letter: bool) -> Engine {
    let mut source = pipeline::source(
        "seq",
        &plugin("engine_test_source"),
        &json!({"total": total, "batch_size": 500}),
        "http",
        "events",
    );
    source.streams[0].batch_length = 500;
    let mut sink = pipeline::sink(
        "http",
        &plugin("iggy_connector_http_sink"),
        &json!({
            "url": url, "batch_mode": "ndjson", "max_retries": 1,
            "retry_delay": "20ms", "max_retry_delay": "100ms", "timeout": "10s",
            "include_checksum": true
        }),
        "http",
        "events",
    );
    sink.dead_letter = dead_letter.then(|| DeadLetterConfig {
        stream: "http".into(),
        topic: "dead_letters".into(),
    });
    Engine::new(pipeline::engine_config(
        &broker.address().to_string(),
        &temp_dir("state"),
        vec![source],
        vec![sink],
    ))
}

/// Every NDJSON line WireMock accepted (answered 200), in arrival order.
async fn received_lines(server: &WireMock) -> Vec<Value> {
    server
        .ingest_requests()
        .await
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| {
            String::from_utf8(r.body.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Polls until `want` lines arrived or `timeout` passed; returns what arrived.
async fn wait_lines(server: &WireMock, want: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let lines = received_lines(server).await;
        if lines.len() >= want || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that `lines` hold `seq` 0..total once each except `refused`, with their Iggy
/// metadata; panics naming the first wrong message.
fn check_each_message(lines: &[Value], total: u64, refused: &[u64]) {
    let mut by_seq: BTreeMap<u64, &Value> = BTreeMap::new();
    for line in lines {
        let seq = line["payload"]["seq"].as_u64().expect("payload.seq");
        assert!(
            by_seq.insert(seq, line).is_none(),
            "seq {seq} delivered twice"
        );
    }
    let expected: Vec<u64> = (0..total).filter(|s| !refused.contains(s)).collect();
    assert_eq!(by_seq.len(), expected.len(), "distinct messages delivered");
    for ((seq, line), want) in by_seq.iter().zip(&expected) {
        assert_eq!(seq, want, "seq {want} missing");
        let m = &line["metadata"];
        assert_eq!(m["iggy_offset"], json!(seq), "offset of seq {seq}");
        assert_eq!(
            m["iggy_id"],
            json!(format!("{:032x}", seq + 1)),
            "id of seq {seq}"
        );
        assert_eq!(
            (m["iggy_stream"].as_str(), m["iggy_topic"].as_str()),
            (Some("http"), Some("events"))
        );
        assert!(m["iggy_checksum"].is_u64() && m["iggy_timestamp"].as_u64().unwrap() > 0);
        assert_eq!(line["payload"]["source"], "engine_test");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_10000_messages_when_piped_through_iggy_should_reach_the_endpoint_once_each() {
    const TOTAL: u64 = 10_000;
    let server = WireMock::start().await;
    server.stub_ingest(200).await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let engine = pipeline(&broker, TOTAL, &server.url("/ingest"), false);
    let started = Instant::now();
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );
    let lines = wait_lines(&server, TOTAL as usize, Duration::from_secs(180)).await;
    let elapsed = started.elapsed();
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    eprintln!(
        "e2e: {} messages in {} requests, {elapsed:?}",
        lines.len(),
        server.ingest_requests().await.len()
    );
    check_each_message(&lines, TOTAL, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_the_endpoint_down_while_messages_flow_when_it_comes_back_should_lose_nothing() {
    const TOTAL: u64 = 3_000;
    let port = free_port();
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let engine = pipeline(
        &broker,
        TOTAL,
        &format!("http://127.0.0.1:{port}/ingest"),
        false,
    );
    engine.start().await.expect("engine starts");
    // Down: wait until the source produced everything and the sink has failed repeatedly.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stats = engine.stats();
        let source = stats
            .iter()
            .find(|s| s.kind == ConnectorKind::Source)
            .unwrap();
        let sink = stats
            .iter()
            .find(|s| s.kind == ConnectorKind::Sink)
            .unwrap();
        if source.messages_out >= TOTAL && sink.consume_errors >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "source {source:?}\nsink {sink:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let server = WireMock::start_on(port).await;
    server.stub_ingest(200).await;
    let lines = wait_lines(&server, TOTAL as usize, Duration::from_secs(120)).await;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    check_each_message(&lines, TOTAL, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_the_endpoint_refusing_two_messages_when_piped_should_dead_letter_them_and_deliver_the_rest()
 {
    const TOTAL: u64 = 2_000;
    let server = WireMock::start().await;
    server.stub_ingest(200).await;
    // Any body holding seq 13 or 1717 is refused as unprocessable content.
    server
        .stub(json!({
            "priority": 1,
            "request": {"method": "POST", "urlPattern": "/ingest.*",
                        "bodyPatterns": [{"matches": "(?s).*\"seq\":(13|1717),.*"}]},
            "response": {"status": 422, "body": "seq not accepted"}
        }))
        .await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let engine = pipeline(&broker, TOTAL, &server.url("/ingest"), true);
    engine.start().await.expect("engine starts");
    let lines = wait_lines(&server, TOTAL as usize - 2, Duration::from_secs(120)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let sink = loop {
        let stats = engine.stats();
        let sink = stats
            .into_iter()
            .find(|s| s.kind == ConnectorKind::Sink)
            .unwrap();
        if sink.dead_lettered >= 2 || Instant::now() > deadline {
            break sink;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    assert_eq!((sink.rejected, sink.dead_lettered), (2, 2), "{sink:?}");
    check_each_message(&lines, TOTAL, &[13, 1717]);
}
