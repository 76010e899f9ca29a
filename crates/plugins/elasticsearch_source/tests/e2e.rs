//! End to end through the runtime: an index → elasticsearch_source (cdylib) → engine → Iggy
//! (the embedded test broker) → engine → elasticsearch_sink (cdylib) → another index, on real
//! OpenSearch / Elasticsearch servers started by the test.
//!
//! The sink writes `_iggy_offset` into every document and uses the Iggy message id as `_id`,
//! and the source derives that id from (index, `_id`): so the sink index holding N documents
//! whose highest `_iggy_offset` is N - 1 proves the topic holds exactly N messages, one per
//! source document: nothing skipped, nothing duplicated.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iggy_connector_elasticsearch_common::testing::{Es, Flavor, TestServer, unique_name};
use iggy_connector_elasticsearch_source::message_id;
use iggy_connectors_engine::{ConnectorKind, ConnectorStats, DeadLetterConfig, Engine, Status};
use iggy_connectors_test_support::iggy_topics::{connect, header, read_all};
use iggy_connectors_test_support::{artifacts::plugin, pipeline};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::{Value, json};

/// An engine with one Elasticsearch source and one Elasticsearch sink joined by `es/docs`.
fn pipeline(broker_address: &str, state_dir: &Path, source: Value, sink: Value) -> Engine {
    pipeline_with_dead_letter(broker_address, state_dir, source, sink, None)
}

fn pipeline_with_dead_letter(
    broker_address: &str,
    state_dir: &Path,
    source: Value,
    sink: Value,
    dead_letter: Option<DeadLetterConfig>,
) -> Engine {
    let source = pipeline::source(
        "es",
        &plugin("iggy_connector_elasticsearch_source"),
        &source,
        "es",
        "docs",
    );
    let mut sink = pipeline::sink(
        "es",
        &plugin("iggy_connector_elasticsearch_sink"),
        &sink,
        "es",
        "docs",
    );
    sink.dead_letter = dead_letter;
    Engine::new(pipeline::engine_config(
        broker_address,
        state_dir,
        vec![source],
        vec![sink],
    ))
}

fn source_config(url: &str, index: &str, batch_size: usize) -> Value {
    json!({"url": url, "index": index, "timestamp_field": "timestamp",
           "batch_size": batch_size, "polling_interval": "10ms"})
}

fn sink_config(url: &str, index: &str) -> Value {
    json!({"url": url, "index": index, "batch_size": 1000, "retry_delay": "50ms",
           "index_mapping": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}})
}

fn mappings() -> Value {
    json!({"properties": {"n": {"type": "long"}, "name": {"type": "keyword"},
                          "amount": {"type": "double"}, "tags": {"type": "keyword"},
                          "timestamp": {"type": "date"}}})
}

/// Documents `first..first+count`; 20 share each millisecond, so pages split equal timestamps.
fn documents(first: u64, count: u64) -> Vec<(String, Value)> {
    (first..first + count)
        .map(|n| {
            let millis = 1_705_312_800_000u64 + n / 20;
            let ts = chrono_like(millis);
            (
                format!("d{n}"),
                json!({"n": n, "name": format!("doc {n}"), "amount": n as f64 / 8.0,
                       "tags": [format!("t{}", n % 7), "all"], "nested": {"even": n % 2 == 0},
                       "timestamp": ts}),
            )
        })
        .collect()
}

/// RFC 3339 with milliseconds, without pulling chrono into the test.
fn chrono_like(millis: u64) -> String {
    let secs = millis / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let days = secs / 86_400 - 19_737; // 2024-01-15 is day 19 737 of the epoch
    format!(
        "2024-01-{:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        15 + days,
        millis % 1000
    )
}

fn stats(engine: &Engine, kind: ConnectorKind) -> ConnectorStats {
    engine
        .stats()
        .into_iter()
        .find(|s| s.kind == kind)
        .expect("connector stats")
}

/// Waits until `index` holds `want` documents or `timeout` passes; returns the last count.
async fn wait_count(es: &Es, index: &str, want: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    let mut seen = 0;
    while Instant::now() < deadline {
        seen = es.count(index).await;
        if seen >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    seen
}

/// Waits until `done` holds or `timeout` passes.
async fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// Every sink document equals its source document plus the `_iggy_*` fields, has the id the
/// source derived, and the topic held exactly `expected` messages.
async fn assert_landed_once(
    es: &Es,
    source_index: &str,
    sink_index: &str,
    expected: &[(String, Value)],
) {
    let stored = es.all_documents(sink_index).await;
    assert_eq!(
        stored.len(),
        expected.len(),
        "one sink document per source document"
    );
    let by_id: std::collections::HashMap<String, &Value> =
        stored.iter().map(|(id, doc)| (id.clone(), doc)).collect();
    let mut max_offset = 0;
    for (source_id, source_doc) in expected {
        let id = message_id(source_index, source_id).to_string();
        let Some(doc) = by_id.get(&id) else {
            panic!("source document {source_id} (message id {id}) missing from the sink index");
        };
        max_offset = max_offset.max(doc["_iggy_offset"].as_u64().expect("_iggy_offset"));
        let mut content = (*doc).clone();
        content
            .as_object_mut()
            .unwrap()
            .retain(|k, _| !k.starts_with("_iggy_"));
        assert_eq!(&content, source_doc, "content of {source_id}");
    }
    assert_eq!(
        max_offset + 1,
        expected.len() as u64,
        "the topic holds exactly one message per document (no duplicates)"
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_100000_documents_when_piped_through_iggy_should_land_once_with_identical_content() {
    const TOTAL: u64 = 100_000;
    let server = TestServer::shared(Flavor::OpenSearch);
    let es = Es::new(&server.url);
    let source_index = unique_name("e2e_source");
    let sink_index = unique_name("e2e_sink");
    es.create_index(&source_index, mappings()).await;
    let docs = documents(0, TOTAL);
    let indexing = Instant::now();
    es.index_documents(&source_index, &docs).await;
    let indexing = indexing.elapsed();

    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let state = TempDir::new("es_e2e_state");
    let engine = pipeline(
        &broker.address().to_string(),
        &state.0,
        source_config(&server.url, &source_index, 5000),
        sink_config(&server.url, &sink_index),
    );
    let started = Instant::now();
    let stats_at_start = engine.start().await.expect("engine starts");
    assert!(
        stats_at_start.iter().all(|s| s.status == Status::Running),
        "{stats_at_start:#?}"
    );
    let stored = wait_count(&es, &sink_index, TOTAL, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    eprintln!(
        "e2e: indexed {TOTAL} source documents in {indexing:?}; {stored} through Iggy in {elapsed:?} ({:.0} docs/s)",
        stored as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(stored, TOTAL);
    assert_landed_once(&es, &source_index, &sink_index, &docs).await;
}

/// Both connectors lose the server for a while; once it is back everything lands once.
async fn server_restarted_mid_stream_loses_nothing(flavor: Flavor) {
    const TOTAL: u64 = 20_000;
    let server = TestServer::dedicated(flavor, "restart");
    let es = Es::new(&server.url);
    let source_index = unique_name("restart_source");
    let sink_index = unique_name("restart_sink");
    es.create_index(&source_index, mappings()).await;
    let docs = documents(0, TOTAL);
    es.index_documents(&source_index, &docs).await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let state = TempDir::new("es_restart_state");
    let engine = pipeline(
        &broker.address().to_string(),
        &state.0,
        // Small pages so the stream is still running when the server goes away.
        source_config(&server.url, &source_index, 200),
        sink_config(&server.url, &sink_index),
    );
    engine.start().await.expect("engine starts");
    let first = wait_count(&es, &sink_index, 1000, Duration::from_secs(120)).await;
    assert!(first >= 1000, "the stream started ({first} documents)");
    server.stop();
    // Keep it down while both connectors keep trying (the source polls every 10 ms, the sink
    // retries its bulk); what is asserted below does not depend on how long this is.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart();
    let stored = wait_count(&es, &sink_index, TOTAL, Duration::from_secs(300)).await;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    assert_eq!(stored, TOTAL);
    assert_landed_once(&es, &source_index, &sink_index, &docs).await;
}

/// Iggy goes away (the broker stops) while new documents arrive, and comes back with its data:
/// the source neither skips nor duplicates.
async fn iggy_unreachable_for_a_while_neither_skips_nor_duplicates(flavor: Flavor) {
    const BEFORE: u64 = 3000;
    const DURING: u64 = 3000;
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let source_index = unique_name("outage_source");
    let sink_index = unique_name("outage_sink");
    es.create_index(&source_index, mappings()).await;
    let docs = documents(0, BEFORE + DURING);
    es.index_documents(&source_index, &docs[..BEFORE as usize])
        .await;

    let broker_data = TempDir::new("es_outage_broker");
    let broker_config = || BrokerConfig {
        data_dir: Some(broker_data.0.clone()),
        ..BrokerConfig::default()
    };
    let broker = BrokerHandle::start(broker_config()).await.expect("broker");
    let address = broker.address().to_string();
    let state = TempDir::new("es_outage_state");
    let engine = pipeline(
        &address,
        &state.0,
        source_config(&server.url, &source_index, 500),
        sink_config(&server.url, &sink_index),
    );
    engine.start().await.expect("engine starts");
    assert_eq!(
        wait_count(&es, &sink_index, BEFORE, Duration::from_secs(120)).await,
        BEFORE
    );

    // Everything so far is delivered, so no send is in flight when the broker stops.
    broker.shutdown().await;
    es.index_documents(&source_index, &docs[BEFORE as usize..])
        .await;
    // Leave Iggy away while the source polls the new documents (every 10 ms) and fails to send
    // them; what is asserted below does not depend on how long this is.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = stats(&engine, ConnectorKind::Source);
    let restarted = BrokerHandle::start(BrokerConfig {
        address: address.clone(),
        ..broker_config()
    })
    .await
    .expect("broker restarts on the same address and data");
    eprintln!(
        "outage: source errors {} / send errors {} while Iggy was down",
        during.errors, during.send_errors
    );

    let stored = wait_count(&es, &sink_index, BEFORE + DURING, Duration::from_secs(120)).await;
    engine.stop(Duration::from_secs(10)).await;
    restarted.shutdown().await;
    assert_eq!(stored, BEFORE + DURING);
    assert_landed_once(&es, &source_index, &sink_index, &docs).await;
}

/// Documents the sink index refuses for their data (a string where the sink's mapping says
/// integer) are dead-lettered with the server's reason; the others are indexed and committed.
async fn mapping_conflicts_are_dead_lettered_with_the_reason(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let source_index = unique_name("conflict_source");
    let sink_index = unique_name("conflict_sink");
    es.create_index(
        &source_index,
        json!({"properties": {"v": {"type": "keyword"},
        "n": {"type": "long"}, "timestamp": {"type": "date"}}}),
    )
    .await;
    let docs: Vec<(String, Value)> = (0..100u64)
        .map(|n| {
            let v = if n % 10 == 7 {
                json!(format!("bad-{n}"))
            } else {
                json!(n)
            };
            (
                format!("c{n}"),
                json!({"n": n, "v": v, "timestamp": chrono_like(1_705_312_800_000 + n)}),
            )
        })
        .collect();
    es.index_documents(&source_index, &docs).await;
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker");
    let address = broker.address().to_string();
    let state = TempDir::new("es_conflict_state");
    let mut sink = sink_config(&server.url, &sink_index);
    sink["index_mapping"]["mappings"] = json!({"properties": {"v": {"type": "integer"}}});
    let engine = pipeline_with_dead_letter(
        &address,
        &state.0,
        source_config(&server.url, &source_index, 30),
        sink,
        Some(DeadLetterConfig {
            stream: "es".into(),
            topic: "dead".into(),
        }),
    );
    engine.start().await.expect("engine starts");
    let stored = wait_count(&es, &sink_index, 90, Duration::from_secs(120)).await;
    let dead_lettered = wait_for(Duration::from_secs(60), || {
        stats(&engine, ConnectorKind::Sink).dead_lettered >= 10
    })
    .await;
    let sink_stats = stats(&engine, ConnectorKind::Sink);
    let dlq = read_all(&connect(&address).await, "es", "dead", 10_000).await;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    assert_eq!(stored, 90);
    assert!(dead_lettered, "{sink_stats:?}");
    assert_eq!(sink_stats.dead_lettered, 10, "{sink_stats:?}");
    let mut bad: Vec<u64> = Vec::new();
    for message in &dlq {
        let payload: Value = serde_json::from_slice(&message.payload).expect("JSON payload");
        let n = payload["n"].as_u64().unwrap();
        assert_eq!(
            payload["v"],
            json!(format!("bad-{n}")),
            "only conflicting documents"
        );
        let reason = header(message, "iggy-connectors-error").expect("reason header");
        assert!(reason.contains("mapper_parsing_exception"), "{reason}");
        assert!(reason.contains(&format!("bad-{n}")), "{reason}");
        assert_eq!(
            header(message, "iggy-connectors-error-kind").as_deref(),
            Some("rejected")
        );
        bad.push(n);
    }
    bad.sort();
    assert_eq!(bad, (0..100).filter(|n| n % 10 == 7).collect::<Vec<_>>());
    let stored_ns: std::collections::BTreeSet<u64> = es
        .all_documents(&sink_index)
        .await
        .iter()
        .map(|(_, d)| d["n"].as_u64().unwrap())
        .collect();
    assert_eq!(stored_ns, (0..100).filter(|n| n % 10 != 7).collect());
}

mod opensearch {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mapping_conflicts_are_dead_lettered_with_the_reason() {
        super::mapping_conflicts_are_dead_lettered_with_the_reason(super::Flavor::OpenSearch).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn server_restarted_mid_stream_loses_nothing() {
        super::server_restarted_mid_stream_loses_nothing(super::Flavor::OpenSearch).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn iggy_unreachable_for_a_while_neither_skips_nor_duplicates() {
        super::iggy_unreachable_for_a_while_neither_skips_nor_duplicates(super::Flavor::OpenSearch)
            .await
    }
}

mod elasticsearch {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mapping_conflicts_are_dead_lettered_with_the_reason() {
        super::mapping_conflicts_are_dead_lettered_with_the_reason(super::Flavor::Elasticsearch)
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn server_restarted_mid_stream_loses_nothing() {
        super::server_restarted_mid_stream_loses_nothing(super::Flavor::Elasticsearch).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn iggy_unreachable_for_a_while_neither_skips_nor_duplicates() {
        super::iggy_unreachable_for_a_while_neither_skips_nor_duplicates(
            super::Flavor::Elasticsearch,
        )
        .await
    }
}
