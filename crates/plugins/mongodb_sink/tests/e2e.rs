//! End to end through the runtime: messages sent to Iggy (the embedded test broker) → engine →
//! this sink loaded as a cdylib → FerretDB, read back with the official `mongodb` driver.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{MongoServer, unique_name};
use iggy::prelude::*;
use iggy_connectors_engine::{DeadLetterConfig, Engine, SinkConfig, Status};
use iggy_connectors_sdk::Schema;
use iggy_connectors_test_support::artifacts::plugin;
use iggy_connectors_test_support::iggy_topics::{self, dead_letter_of, dead_letter_reason};
use iggy_connectors_test_support::pipeline::{self, sink_stats};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use mongodb::bson::{Document, doc};
use serde_json::json;

const STREAM: &str = "mongo";
const TOPIC: &str = "events";

async fn iggy_client(broker: &BrokerHandle) -> IggyClient {
    iggy_topics::connect(&broker.address().to_string()).await
}

/// Creates `mongo/events` (one partition) and sends `payloads` in batches of 1 000.
async fn produce(client: &IggyClient, payloads: impl IntoIterator<Item = Vec<u8>>) {
    iggy_topics::create_topics(client, STREAM, &[TOPIC]).await;
    iggy_topics::produce(client, STREAM, TOPIC, 1000, payloads).await;
}

/// The sink reading `mongo/events` (schema raw) as consumer group `consumer_group`, or the
/// default one.
fn sink(
    plugin_config: serde_json::Value,
    consumer_group: Option<&str>,
    dead_letter: Option<DeadLetterConfig>,
) -> SinkConfig {
    let mut sink = pipeline::sink(
        "mongo",
        &plugin("iggy_connector_mongodb_sink"),
        &plugin_config,
        STREAM,
        TOPIC,
    );
    sink.streams[0].schema = Schema::Raw;
    sink.streams[0].consumer_group = consumer_group.map(str::to_string);
    sink.dead_letter = dead_letter;
    sink
}

fn engine(broker: &BrokerHandle, sink: SinkConfig) -> Engine {
    Engine::new(pipeline::engine_config(
        &broker.address().to_string(),
        &std::env::temp_dir().join(unique_name("mongo_e2e_state")),
        vec![],
        vec![sink],
    ))
}

fn collection(client: &mongodb::Client, database: &str) -> mongodb::Collection<Document> {
    client.database(database).collection("iggy_messages")
}

/// Polls the document count until it reaches `want` or `timeout` passes; returns the last count.
async fn wait_count(client: &mongodb::Client, database: &str, want: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    let mut seen = 0;
    while Instant::now() < deadline {
        // Errors while the server restarts count as "not there yet".
        seen = collection(client, database)
            .count_documents(doc! {})
            .await
            .unwrap_or(seen);
        if seen >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

/// Every stored `iggy_offset`, as a set, and the number of documents it came from.
async fn stored_offsets(client: &mongodb::Client, database: &str) -> (BTreeSet<i64>, usize) {
    use futures_util::TryStreamExt;
    let docs: Vec<Document> = collection(client, database)
        .find(doc! {})
        .projection(doc! { "iggy_offset": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let offsets = docs
        .iter()
        .map(|d| d.get_i64("iggy_offset").expect("iggy_offset"))
        .collect();
    (offsets, docs.len())
}

fn json_payloads(range: std::ops::Range<u64>) -> impl Iterator<Item = Vec<u8>> {
    range.map(|i| format!(r#"{{"seq":{i},"name":"user {i}"}}"#).into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_100000_messages_in_iggy_when_sunk_should_land_once_each() {
    const TOTAL: u64 = 100_000;
    let server = MongoServer::start();
    let database = unique_name("e2e");
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let iggy = iggy_client(&broker).await;
    produce(&iggy, json_payloads(0..TOTAL)).await;

    let engine = engine(
        &broker,
        sink(
            json!({"connection_uri": server.uri, "database": database,
                   "collection": "iggy_messages", "payload_format": "json",
                   "batch_size": 1000, "auto_create_collection": true}),
            None,
            None,
        ),
    );
    let started = Instant::now();
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );
    let client = server.client().await;
    let stored = wait_count(&client, &database, TOTAL, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let stats = sink_stats(&engine);
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    eprintln!(
        "e2e: {stored} of {TOTAL} documents in {elapsed:?} ({:.0} docs/s); sink stats: {stats:?}",
        stored as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(stored, TOTAL);
    let (offsets, documents) = stored_offsets(&client, &database).await;
    assert_eq!(documents as u64, TOTAL);
    assert_eq!(offsets, (0..TOTAL as i64).collect::<BTreeSet<_>>());
    // Contents: the JSON payload became a sub-document matching its offset.
    let sample = collection(&client, &database)
        .find_one(doc! { "iggy_offset": 54_321_i64 })
        .await
        .unwrap()
        .unwrap();
    let payload = sample.get_document("payload").unwrap();
    assert_eq!(payload.get_i64("seq").unwrap(), 54_321);
    assert_eq!(payload.get_str("name").unwrap(), "user 54321");
    assert_eq!(stats.messages_out, TOTAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_server_killed_and_restarted_mid_stream_should_lose_and_duplicate_nothing() {
    const TOTAL: u64 = 20_000;
    let mut server = MongoServer::start();
    let database = unique_name("outage");
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    produce(&iggy_client(&broker).await, json_payloads(0..TOTAL)).await;
    let engine = engine(
        &broker,
        sink(
            json!({"connection_uri": format!("{}?serverSelectionTimeoutMS=500", server.uri),
                   "database": database, "collection": "iggy_messages",
                   "batch_size": 100, "max_retries": 2, "retry_delay": "20ms"}),
            None,
            None,
        ),
    );
    engine.start().await.expect("engine starts");
    let client = server.client().await;
    let before = wait_count(&client, &database, 3_000, Duration::from_secs(120)).await;
    assert!(before >= 3_000);
    server.kill();
    // Wait until the engine saw a failed batch: the outage hit the pipeline mid-stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink_stats(&engine).consume_errors == 0 {
        assert!(
            Instant::now() < deadline,
            "the sink never noticed the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.restart();
    let client = server.client().await;
    let stored = wait_count(&client, &database, TOTAL, Duration::from_secs(300)).await;
    let stats = sink_stats(&engine);
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    eprintln!("outage: {before} stored before the kill; sink stats after: {stats:?}");
    assert_eq!(stored, TOTAL);
    let (offsets, documents) = stored_offsets(&client, &database).await;
    assert_eq!(documents as u64, TOTAL, "no duplicates");
    assert_eq!(
        offsets,
        (0..TOTAL as i64).collect::<BTreeSet<_>>(),
        "nothing lost"
    );
    assert!(stats.consume_errors >= 1);
    assert_eq!(stats.status, Status::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_stored_messages_when_the_engine_replays_them_should_leave_one_document_each() {
    const TOTAL: u64 = 3_000;
    let server = MongoServer::start();
    let database = unique_name("replay");
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    produce(&iggy_client(&broker).await, json_payloads(0..TOTAL)).await;
    let config = json!({"connection_uri": server.uri, "database": database,
                        "collection": "iggy_messages", "batch_size": 500});
    let client = server.client().await;

    let first = engine(&broker, sink(config.clone(), Some("first"), None));
    first.start().await.expect("first engine starts");
    assert_eq!(
        wait_count(&client, &database, TOTAL, Duration::from_secs(120)).await,
        TOTAL
    );
    first.stop(Duration::from_secs(10)).await;

    // A consumer group with no stored offset re-delivers every message, as an engine that
    // stopped before storing its offset would.
    let second = engine(&broker, sink(config, Some("second"), None));
    second.start().await.expect("second engine starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink_stats(&second).messages_out < TOTAL {
        assert!(Instant::now() < deadline, "{:?}", sink_stats(&second));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = sink_stats(&second);
    second.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    let (offsets, documents) = stored_offsets(&client, &database).await;
    assert_eq!(documents as u64, TOTAL);
    assert_eq!(offsets.len() as u64, TOTAL);
    assert_eq!(
        stats.consume_errors, 0,
        "duplicates are not errors: {stats:?}"
    );
    assert_eq!(stats.messages_out, TOTAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_documents_the_server_refuses_should_dead_letter_them_with_reason_and_store_neighbours()
 {
    let server = MongoServer::start();
    let database = unique_name("dlq");
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let iggy = iggy_client(&broker).await;
    const OVERSIZED: u64 = 3;
    const BAD_KEY: u64 = 7;
    let payloads = (0..10u64).map(|i| match i {
        OVERSIZED => format!(r#"{{"blob":"{}"}}"#, "x".repeat(16 * 1024 * 1024)).into_bytes(),
        BAD_KEY => br#"{"$where":"1"}"#.to_vec(),
        _ => format!(r#"{{"seq":{i}}}"#).into_bytes(),
    });
    produce(&iggy, payloads).await;
    let engine = engine(
        &broker,
        sink(
            json!({"connection_uri": server.uri, "database": database,
                   "collection": "iggy_messages", "payload_format": "json"}),
            None,
            Some(DeadLetterConfig {
                stream: "dlq".into(),
                topic: "mongo".into(),
            }),
        ),
    );
    engine.start().await.expect("engine starts");
    let client = server.client().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink_stats(&engine).dead_lettered < 2 {
        assert!(Instant::now() < deadline, "{:?}", sink_stats(&engine));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = sink_stats(&engine);
    engine.stop(Duration::from_secs(10)).await;

    let (offsets, documents) = stored_offsets(&client, &database).await;
    assert_eq!(documents, 8);
    let expected: BTreeSet<i64> = (0..10)
        .filter(|i| *i != OVERSIZED as i64 && *i != BAD_KEY as i64)
        .collect();
    assert_eq!(offsets, expected);
    assert_eq!((stats.rejected, stats.dead_lettered), (2, 2), "{stats:?}");
    assert_eq!(stats.consume_errors, 0, "{stats:?}");

    let letters = iggy_topics::read_all(&iggy, "dlq", "mongo", 10).await;
    broker.shutdown().await;
    assert_eq!(letters.len(), 2);
    let by_offset = |offset: u64| dead_letter_of(&letters, offset);
    let big = by_offset(OVERSIZED);
    assert_eq!(
        iggy_topics::header(big, "iggy-connectors-error-kind").as_deref(),
        Some("rejected")
    );
    assert!(
        dead_letter_reason(big).contains("maxBsonObjectSize"),
        "{}",
        dead_letter_reason(big)
    );
    assert!(big.payload.len() > 16 * 1024 * 1024, "the original payload");
    let bad = by_offset(BAD_KEY);
    assert!(
        dead_letter_reason(bad).contains("$where"),
        "{}",
        dead_letter_reason(bad)
    );
    assert_eq!(&bad.payload[..], br#"{"$where":"1"}"#);
}
