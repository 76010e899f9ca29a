//! InfluxDB 1.8.3 → influxdb_source (cdylib) → engine → Iggy (the embedded test broker):
//! 10 000 points, with InfluxDB stopped and started mid-stream and then the whole runtime
//! restarted from its state file. Every point must arrive in Iggy exactly once, checked message
//! by message. Its own InfluxDB, because the test stops it.

use std::time::{Duration, Instant};

use iggy::prelude::*;
use iggy_connector_influxdb_common::testing::{TOKEN, TestServer, unique_name};
use iggy_connectors_engine::{Engine, Status};
use iggy_connectors_test_support::{artifacts::plugin, pipeline};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::json;

fn id(name: &str) -> Identifier {
    Identifier::named(name).expect("valid identifier")
}

fn engine(
    broker: &BrokerHandle,
    state_dir: &std::path::Path,
    plugin_config: serde_json::Value,
) -> Engine {
    let source = pipeline::source(
        "influx",
        &plugin("iggy_connector_influxdb_source"),
        &plugin_config,
        "influx",
        "points",
    );
    Engine::new(pipeline::engine_config(
        &broker.address().to_string(),
        state_dir,
        vec![source],
        vec![],
    ))
}

/// Every message of the topic so far.
async fn read_all(client: &IggyClient) -> Vec<IggyMessage> {
    let mut all = Vec::new();
    loop {
        let polled = match client
            .poll_messages(
                &id("influx"),
                &id("points"),
                Some(0),
                &Consumer::new(id("check")),
                &PollingStrategy::offset(all.len() as u64),
                1000,
                false,
            )
            .await
        {
            Ok(polled) => polled,
            // The source creates the stream on start.
            Err(_) => return all,
        };
        if polled.messages.is_empty() {
            return all;
        }
        all.extend(polled.messages);
    }
}

async fn wait_for(client: &IggyClient, want: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let n = read_all(client).await.len();
        if n >= want {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "timed out with {n} of {want} messages in Iggy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_outage_and_runtime_restart_when_10000_points_flow_should_reach_iggy_once_each() {
    const TOTAL: usize = 10_000;
    const BASE_NS: u64 = 1_700_000_000_000_000_000;
    let server = TestServer::start("source-e2e");
    let bucket = unique_name("e2e");
    server.create_database(&bucket).await;
    // Four series; every 10th instant is shared by two points.
    let lines: Vec<String> = (0..TOTAL as u64)
        .map(|i| {
            format!(
                "sensor,host=h{} v={i}i {}",
                i % 4,
                BASE_NS + (i - i % 10 / 9) * 1_000
            )
        })
        .collect();
    for chunk in lines.chunks(2_500) {
        server.write(&bucket, &chunk.join("\n")).await;
    }

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

    let state_dir = std::env::temp_dir().join(unique_name("source_e2e_state"));
    let plugin_config = json!({
        "url": server.url, "org": "test", "token": TOKEN,
        "query": format!(
            "from(bucket: \"{bucket}\") |> range(start: time(v: \"$cursor\")) \
             |> filter(fn: (r) => r._measurement == \"sensor\") \
             |> group() |> sort(columns: [\"_time\", \"host\"]) |> limit(n: $limit)"),
        "batch_size": 250, "poll_interval": "20ms", "max_retries": 2,
        "retry_delay": "20ms", "retry_max_delay": "50ms", "timeout": "2s",
        "circuit_breaker_threshold": 3, "circuit_breaker_cool_down": "200ms",
    });
    let started = Instant::now();
    let first = engine(&broker, &state_dir, plugin_config.clone());
    let stats = first.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );

    // InfluxDB goes away mid-stream and comes back.
    wait_for(&client, 2_000, Duration::from_secs(120)).await;
    server.stop();
    let at_outage = read_all(&client).await.len();
    assert!(at_outage < TOTAL, "the outage must hit mid-stream");
    // Polls during this second all fail (the server is down); none may lose rows.
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();

    // The runtime stops mid-stream; a new one continues from the saved state.
    wait_for(&client, 5_000, Duration::from_secs(120)).await;
    first.stop(Duration::from_secs(10)).await;
    let after_stop = read_all(&client).await.len();
    let second = engine(&broker, &state_dir, plugin_config);
    second.start().await.expect("engine restarts");
    let total = wait_for(&client, TOTAL, Duration::from_secs(180)).await;
    // Let a duplicate or a stray extra batch show up before checking.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.stop(Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    let messages = read_all(&client).await;
    broker.shutdown().await;
    server.stop();
    eprintln!(
        "source e2e: {total} messages in {elapsed:?} ({at_outage} at the outage, {after_stop} before the runtime restart)"
    );

    assert_eq!(messages.len(), TOTAL);
    let mut seen = vec![false; TOTAL];
    for message in &messages {
        let json: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let v = json["value"].as_u64().unwrap() as usize;
        assert!(!seen[v], "point {v} delivered twice");
        seen[v] = true;
        assert_eq!(json["row"]["host"], format!("h{}", v % 4));
        assert_eq!(json["measurement"], "sensor");
    }
    assert!(seen.iter().all(|s| *s));
    let state = std::fs::read(state_dir.join("source_influx.state")).expect("state file");
    let (_, cursor, processed, _): (String, Option<String>, u64, u64) =
        rmp_serde::from_slice(&state).expect("upstream-shaped state");
    assert_eq!(cursor.as_deref(), Some("2023-11-14T22:13:20.009998Z"));
    assert_eq!(
        processed, TOTAL as u64,
        "the second runtime continued the first one's count"
    );
}
