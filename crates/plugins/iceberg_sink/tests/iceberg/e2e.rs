//! End to end through the runtime: messages sent to Iggy (the embedded test broker) → engine →
//! this sink loaded as a cdylib → Iceberg (REST catalog + S3 on moto, or a local directory),
//! read back with pyiceberg. Upstream's scenarios (§9 "Tests") come first.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use iggy::prelude::*;
use iggy_connectors_engine::{
    ConnectorStats, DeadLetterConfig, Engine, RetryConfig, SinkConfig, Status,
};
use iggy_connectors_test_support::iggy_topics::{self, dead_letter_of, dead_letter_reason};
use iggy_connectors_test_support::pipeline::{self, sink_stats};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::{Value, json};

use crate::common::*;

const STREAM: &str = "iceberg";
const TOPIC: &str = "messages";

/// The sink cdylib from the workspace build (`iggy_connectors_test_support::artifacts`).
fn plugin() -> PathBuf {
    iggy_connectors_test_support::artifacts::plugin("iggy_connector_iceberg_sink")
}

async fn iggy_client(broker: &BrokerHandle) -> IggyClient {
    iggy_topics::connect(&broker.address().to_string()).await
}

async fn create_topic(client: &IggyClient) {
    iggy_topics::create_topics(client, STREAM, &[TOPIC]).await;
}

/// Sends `payloads` to the topic's partition in batches of 1 000.
async fn produce(client: &IggyClient, payloads: impl IntoIterator<Item = Vec<u8>>) {
    iggy_topics::produce(client, STREAM, TOPIC, 1000, payloads).await;
}

fn payloads(ids: std::ops::Range<u64>) -> impl Iterator<Item = Vec<u8>> {
    ids.map(|i| message(i).to_string().into_bytes())
}

/// The sink reading `iceberg/messages` (JSON, 5 000 to a batch) as `consumer_group`, or the
/// default group.
fn sink(
    plugin_config: &Value,
    consumer_group: Option<&str>,
    dead_letter: Option<DeadLetterConfig>,
) -> SinkConfig {
    let mut sink = pipeline::sink("iceberg", &plugin(), plugin_config, STREAM, TOPIC);
    sink.streams[0].batch_length = 5000;
    sink.streams[0].consumer_group = consumer_group.map(str::to_string);
    sink.retry = RetryConfig {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        multiplier: 2.0,
        max_attempts: 0,
    };
    sink.dead_letter = dead_letter;
    sink
}

fn engine(broker: &BrokerHandle, sink: SinkConfig) -> Engine {
    Engine::new(pipeline::engine_config(
        &broker.address().to_string(),
        &std::env::temp_dir().join(unique_name("iceberg_e2e_state")),
        vec![],
        vec![sink],
    ))
}

/// Waits until the sink has settled `count` messages (stored or dead-lettered).
async fn wait_settled(engine: &Engine, count: u64, timeout: Duration) -> ConnectorStats {
    let deadline = Instant::now() + timeout;
    loop {
        let stats = sink_stats(engine);
        if stats.messages_out + stats.dead_lettered >= count {
            return stats;
        }
        assert!(Instant::now() < deadline, "sink stuck: {stats:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Upstream's `iceberg_sink_initializes_and_runs`, `…_consumes_json_messages` and
/// `…_handles_bulk_messages`: the sink runs, 5 then 100 messages land, no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upstream_scenarios_sink_runs_and_consumes_json_and_bulk_messages() {
    let _catalog = shared_catalog().await;
    let table = create_table(&unique_name("up"), "messages", false, None).await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let iggy = iggy_client(&broker).await;
    create_topic(&iggy).await;
    let engine = engine(&broker, sink(&plugin_config(&[&table], "s3"), None, None));
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );
    produce(&iggy, payloads(0..5)).await;
    wait_settled(&engine, 5, Duration::from_secs(60)).await;
    produce(&iggy, payloads(5..105)).await;
    let stats = wait_settled(&engine, 105, Duration::from_secs(60)).await;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    assert!(stats.last_error.is_none(), "{stats:?}");
    let read = read_table(&table);
    assert_rows_are(&read["rows"], 0..105);
    assert!(!read["snapshots"].as_array().unwrap().is_empty());
}

/// Upstream's `iceberg_sink_uses_default_credential_chain`: no keys in the plugin config, the
/// store credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (set by `servers()`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upstream_scenario_default_credential_chain() {
    let _catalog = shared_catalog().await;
    let table = create_table(&unique_name("chain"), "messages", false, None).await;
    let mut config = plugin_config(&[&table], "s3");
    let keys = config.as_object_mut().unwrap();
    keys.remove("store_access_key_id");
    keys.remove("store_secret_access_key");
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let iggy = iggy_client(&broker).await;
    create_topic(&iggy).await;
    produce(&iggy, payloads(0..100)).await;
    let engine = engine(&broker, sink(&config, None, None));
    engine.start().await.expect("engine starts");
    let stats = wait_settled(&engine, 100, Duration::from_secs(60)).await;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    assert!(stats.last_error.is_none(), "{stats:?}");
    assert_rows_are(&read_table(&table)["rows"], 0..100);
}

async fn hundred_thousand(store_class: &str, location: Option<String>) {
    const TOTAL: u64 = 100_000;
    let _catalog = shared_catalog().await;
    let table = create_table(&unique_name(store_class), "messages", true, location).await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let iggy = iggy_client(&broker).await;
    create_topic(&iggy).await;
    produce(&iggy, payloads(0..TOTAL)).await;
    let engine = engine(
        &broker,
        sink(&plugin_config(&[&table], store_class), None, None),
    );
    let started = Instant::now();
    engine.start().await.expect("engine starts");
    let stats = wait_settled(&engine, TOTAL, Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    let read_started = Instant::now();
    let read = read_table(&table);
    eprintln!(
        "{store_class}: {TOTAL} messages committed in {elapsed:?} ({:.0} msg/s), read back by pyiceberg in {:?}; {stats:?}",
        TOTAL as f64 / elapsed.as_secs_f64(),
        read_started.elapsed()
    );
    assert_eq!(stats.dead_lettered, 0, "{stats:?}");
    assert_rows_are(&read["rows"], 0..TOTAL);
    // Real partitions: every file holds one category and one id bucket, all 3 × 4 appear.
    let files = read["files"].as_array().unwrap();
    let mut partitions = std::collections::BTreeSet::new();
    for file in files {
        let category = file["partition"]["category"].as_str().unwrap().to_string();
        let bucket = file["partition"]["id_bucket"].as_i64().unwrap();
        partitions.insert((category, bucket));
    }
    assert_eq!(partitions.len(), 12, "{partitions:?}");
    let per_category = |c: &str| {
        read["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["category"] == c)
            .count() as u64
    };
    let in_files = |c: &str| -> u64 {
        files
            .iter()
            .filter(|f| f["partition"]["category"] == c)
            .map(|f| f["record_count"].as_u64().unwrap())
            .sum()
    };
    for c in ["c0", "c1", "c2"] {
        assert_eq!(in_files(c), per_category(c), "files of partition {c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_100000_messages_should_land_once_each_in_a_partitioned_table_on_s3() {
    hundred_thousand("s3", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_100000_messages_should_land_once_each_in_a_partitioned_table_on_the_local_filesystem()
 {
    let dir = std::env::temp_dir().join(unique_name("iceberg_fs_warehouse"));
    std::fs::create_dir_all(&dir).unwrap();
    hundred_thousand("fs", Some(format!("file://{}", dir.display()))).await;
}

/// The exactly-once fault through the runtime: a consumer group with no stored offset gets
/// every message again, as a runtime that died between the commit and the offset store would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_committed_messages_when_the_runtime_replays_them_should_hold_each_row_once() {
    const TOTAL: u64 = 3_000;
    let _catalog = shared_catalog().await;
    let table = create_table(&unique_name("replay"), "messages", false, None).await;
    let config = plugin_config(&[&table], "s3");
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let iggy = iggy_client(&broker).await;
    create_topic(&iggy).await;
    produce(&iggy, payloads(0..TOTAL)).await;
    let first = engine(&broker, sink(&config, Some("first"), None));
    first.start().await.expect("first engine starts");
    wait_settled(&first, TOTAL, Duration::from_secs(120)).await;
    first.stop(Duration::from_secs(10)).await;
    let snapshots_before = read_table(&table)["snapshots"].as_array().unwrap().len();

    let second = engine(&broker, sink(&config, Some("second"), None));
    second.start().await.expect("second engine starts");
    produce(&iggy, payloads(TOTAL..TOTAL + 10)).await;
    let stats = wait_settled(&second, TOTAL + 10, Duration::from_secs(120)).await;
    second.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    let read = read_table(&table);
    assert_rows_are(&read["rows"], 0..TOTAL + 10);
    assert_eq!(
        stats.consume_errors, 0,
        "skipping is not an error: {stats:?}"
    );
    // The replay committed only the 10 new messages (one or two snapshots, by batch timing).
    let snapshots_after = read["snapshots"].as_array().unwrap().len();
    assert!(
        (snapshots_before + 1..=snapshots_before + 2).contains(&snapshots_after),
        "{snapshots_before} → {snapshots_after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_the_catalog_down_for_a_while_should_lose_and_duplicate_nothing() {
    const FIRST: u64 = 2_000;
    const TOTAL: u64 = 6_000;
    let _catalog = exclusive_catalog().await;
    let table = create_table(&unique_name("outage"), "messages", false, None).await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let iggy = iggy_client(&broker).await;
    create_topic(&iggy).await;
    produce(&iggy, payloads(0..FIRST)).await;
    let engine = engine(&broker, sink(&plugin_config(&[&table], "s3"), None, None));
    engine.start().await.expect("engine starts");
    wait_settled(&engine, FIRST, Duration::from_secs(120)).await;

    stop_catalog();
    produce(&iggy, payloads(FIRST..TOTAL)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink_stats(&engine).consume_errors == 0 {
        assert!(
            Instant::now() < deadline,
            "the sink never noticed the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = sink_stats(&engine);
    start_catalog();
    let stats = wait_settled(&engine, TOTAL, Duration::from_secs(120)).await;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    eprintln!("outage: during {during:?}; after {stats:?}");
    assert!(during.messages_out < TOTAL, "{during:?}");
    assert_eq!(stats.status, Status::Running);
    assert_rows_are(&read_table(&table)["rows"], 0..TOTAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_payloads_that_do_not_fit_should_dead_letter_them_with_the_reason() {
    let _catalog = shared_catalog().await;
    let table = create_table(&unique_name("dlq"), "messages", false, None).await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let iggy = iggy_client(&broker).await;
    create_topic(&iggy).await;
    const MISSING: u64 = 3;
    const WRONG: u64 = 7;
    let all = (0..10u64).map(|i| match i {
        MISSING => json!({"id": i, "count": 1}).to_string().into_bytes(),
        WRONG => json!({"id": "seven", "name": "x"}).to_string().into_bytes(),
        _ => message(i).to_string().into_bytes(),
    });
    produce(&iggy, all).await;
    let engine = engine(
        &broker,
        sink(
            &plugin_config(&[&table], "s3"),
            None,
            Some(DeadLetterConfig {
                stream: "dlq".into(),
                topic: "iceberg".into(),
            }),
        ),
    );
    engine.start().await.expect("engine starts");
    let stats = wait_settled(&engine, 10, Duration::from_secs(60)).await;
    engine.stop(Duration::from_secs(10)).await;
    assert_eq!((stats.rejected, stats.dead_lettered), (2, 2), "{stats:?}");
    assert_rows_are(
        &read_table(&table)["rows"],
        (0..10).filter(|i| *i != MISSING && *i != WRONG),
    );
    let letters = iggy_topics::read_all(&iggy, "dlq", "iceberg", 10).await;
    broker.shutdown().await;
    assert_eq!(letters.len(), 2);
    for (offset, needle) in [(MISSING, "name"), (WRONG, "seven")] {
        let letter = dead_letter_of(&letters, offset);
        let reason = dead_letter_reason(letter);
        assert!(
            reason.contains(needle) || reason.contains("Int64"),
            "{reason}"
        );
    }
}

/// `min_commit_rows` + `commit_interval`: a slow trickle piles up in Iggy while a small batch
/// waits out the interval, so it lands in a few snapshots instead of one per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_trickle_and_a_commit_minimum_should_commit_once_per_interval() {
    let _catalog = shared_catalog().await;
    let table = create_table(&unique_name("trickle"), "messages", false, None).await;
    let mut config = plugin_config(&[&table], "s3");
    config["min_commit_rows"] = json!(1000);
    config["commit_interval"] = json!("5s");
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let iggy = iggy_client(&broker).await;
    create_topic(&iggy).await;
    let engine = engine(&broker, sink(&config, None, None));
    engine.start().await.expect("engine starts");
    produce(&iggy, payloads(0..1)).await;
    wait_settled(&engine, 1, Duration::from_secs(60)).await;
    // One message per send, as a trickle: the first waits out the interval since the first
    // commit, the other 98 arrive meanwhile (sends take milliseconds) and form the next batch.
    for i in 1..100 {
        produce(&iggy, payloads(i..i + 1)).await;
    }
    let stats = wait_settled(&engine, 100, Duration::from_secs(60)).await;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    assert!(stats.last_error.is_none(), "{stats:?}");
    let read = read_table(&table);
    assert_rows_are(&read["rows"], 0..100);
    let snapshots = read["snapshots"].as_array().unwrap().len();
    assert!(
        snapshots <= 3,
        "{snapshots} snapshots for 100 trickled messages"
    );
}
