//! Iggy (the embedded test broker) → engine → influxdb_sink (cdylib) → InfluxDB 1.8.3, with
//! InfluxDB stopped mid-stream and started again: all 10 000 messages must be stored, each
//! exactly once with its own payload. Its own InfluxDB, because the test stops it.

use std::time::{Duration, Instant};

use iggy::prelude::*;
use iggy_connector_influxdb_common::testing::{TOKEN, TestServer, unique_name};
use iggy_connectors_engine::{ConnectorKind, Engine, Status};
use iggy_connectors_test_support::{artifacts::plugin, pipeline};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::json;

mod common;

fn id(name: &str) -> Identifier {
    Identifier::named(name).expect("valid identifier")
}

async fn count(server: &TestServer, bucket: &str) -> u64 {
    let query = format!(
        "from(bucket: {bucket:?}) |> range(start: 0) |> filter(fn: (r) => r._field == \"offset\") \
         |> group() |> count()"
    );
    server
        .flux(&query)
        .await
        .iter()
        .flat_map(|b| {
            let i = b.index_of("_value").unwrap();
            b.rows.iter().map(move |r| r[i].parse::<u64>().unwrap())
        })
        .sum()
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(client: &IggyClient, range: std::ops::Range<u64>) {
    let all: Vec<u64> = range.collect();
    for chunk in all.chunks(500) {
        let mut messages: Vec<IggyMessage> = chunk
            .iter()
            .map(|i| {
                IggyMessage::builder()
                    .payload(bytes::Bytes::from(json!({"i": i}).to_string()))
                    .build()
                    .unwrap()
            })
            .collect();
        client
            .send_messages(
                &id("influx"),
                &id("events"),
                &Partitioning::partition_id(0),
                &mut messages,
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_influxdb_restarted_mid_stream_when_10000_messages_flow_should_store_each_once() {
    const TOTAL: u64 = 10_000;
    let server = TestServer::start("sink-e2e");
    let bucket = unique_name("e2e");
    server.create_database(&bucket).await;

    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let client = IggyClient::builder()
        .with_tcp()
        .with_server_address(broker.address().to_string())
        .build()
        .unwrap();
    client.connect().await.unwrap();
    client.login_user("iggy", "iggy").await.unwrap();
    client.create_stream("influx").await.unwrap();
    client
        .create_topic(
            &id("influx"),
            "events",
            1,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .unwrap();

    let sink = pipeline::sink(
        "influx",
        &plugin("iggy_connector_influxdb_sink"),
        &json!({
            "url": server.url, "org": "test", "bucket": bucket, "token": TOKEN,
            "batch_size": 400, "max_retries": 2, "retry_delay": "20ms", "retry_max_delay": "50ms",
            "timeout": "2s", "circuit_breaker_threshold": 3, "circuit_breaker_cool_down": "200ms",
        }),
        "influx",
        "events",
    );
    let engine = Engine::new(pipeline::engine_config(
        &broker.address().to_string(),
        &std::env::temp_dir().join(unique_name("sink_e2e_state")),
        vec![],
        vec![sink],
    ));
    let started = Instant::now();
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );

    send(&client, 0..TOTAL / 2).await;
    wait_until("the first points", Duration::from_secs(60), || async {
        count(&server, &bucket).await >= 1_000
    })
    .await;
    server.stop();
    send(&client, TOTAL / 2..TOTAL).await;
    let sink_errors = || {
        engine
            .stats()
            .into_iter()
            .find(|s| s.kind == ConnectorKind::Sink)
            .map_or(0, |s| s.consume_errors)
    };
    wait_until(
        "a failed consume while InfluxDB is down",
        Duration::from_secs(60),
        || async { sink_errors() > 0 },
    )
    .await;
    server.restart();
    wait_until("all points", Duration::from_secs(120), || async {
        count(&server, &bucket).await >= TOTAL
    })
    .await;
    let elapsed = started.elapsed();
    let errors = sink_errors();
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    eprintln!("sink e2e: {TOTAL} messages with an outage in {elapsed:?}, {errors} failed consumes");

    let points = common::points(&server, &bucket, "iggy_messages").await;
    assert_eq!(points.len() as u64, TOTAL);
    let mut seen = vec![false; TOTAL as usize];
    let mut ids = std::collections::HashSet::new();
    for point in &points {
        let offset: u64 = point["offset"].parse().unwrap();
        assert!(!seen[offset as usize], "offset {offset} twice");
        seen[offset as usize] = true;
        let payload: serde_json::Value = serde_json::from_str(&point["payload_json"]).unwrap();
        assert_eq!(payload, json!({"i": offset}), "payload of offset {offset}");
        assert_eq!(point["stream"], "influx");
        assert_eq!(point["topic"], "events");
        assert!(
            ids.insert(point["message_id"].clone()),
            "message id repeated"
        );
    }
    assert!(seen.iter().all(|s| *s));
    server.stop();
}
