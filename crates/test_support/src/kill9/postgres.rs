//! The kill-then-replay flow from a PostgreSQL table, shared by the effectively-once tests of
//! every sink: a table of numbered rows read by the PostgreSQL source in polling mode, the
//! runtime SIGKILLed at random points, then a clean run from no source state that re-reads and
//! re-sends every row, and a sentinel row after it. The test then counts, in its sink's target,
//! what it lost and what it holds twice.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::{Value, json};

use super::{Rng, Runtime};
use crate::artifacts::plugin;

/// Runs with the runtime killed.
pub const KILLS: u64 = 6;

/// The source table: rows `1..=rows` (`id BIGINT PRIMARY KEY, body TEXT`), on the PostgreSQL
/// test server of this test binary.
pub struct SourceTable {
    pub server: &'static TestServer,
    pub db: tokio_postgres::Client,
    pub name: String,
    pub rows: u64,
}

impl SourceTable {
    pub async fn create(server_name: &str, rows: u64) -> SourceTable {
        let server = TestServer::shared(server_name);
        let db = connect(&server.url).await;
        let name = unique_name("kill9_source");
        db.batch_execute(&format!(
            "CREATE TABLE {name} (id BIGINT PRIMARY KEY, body TEXT);
             INSERT INTO {name} SELECT g, 'row ' || g FROM generate_series(1, {rows}) g;"
        ))
        .await
        .expect("the source table");
        SourceTable {
            server,
            db,
            name,
            rows,
        }
    }

    /// The id of the sentinel row inserted after the replay.
    pub fn sentinel(&self) -> u64 {
        self.rows + 1
    }

    /// The source's plugin_config: polling, small batches, and `message_ids` from
    /// `KILL9_MESSAGE_IDS` (`random` shows that the tests fail without derived ids).
    fn source_config(&self) -> Value {
        let message_ids =
            std::env::var("KILL9_MESSAGE_IDS").unwrap_or_else(|_| "deterministic".into());
        json!({
            "connection_string": self.server.url, "mode": "polling", "tables": [self.name],
            "batch_size": 500, "poll_interval": "10ms", "message_ids": message_ids,
        })
    }
}

/// How a test reads its sink's target while the flow runs.
pub trait Target {
    /// How many records the target holds (0 while it does not exist yet).
    fn stored(&self) -> impl Future<Output = u64>;
    /// Whether the target holds the record of source row `id`.
    fn holds_row(&self, id: u64) -> impl Future<Output = bool>;
}

/// [`KILLS`] runs of PostgreSQL → Iggy → `sink_plugin` killed at random points, then the clean
/// run from no source state until the sentinel row is in `target`, then a graceful stop.
/// The Iggy server is the embedded test broker in this process with a data_dir, so it outlives
/// the runtimes it serves. Returns how long it all took.
pub async fn killed_then_replayed(
    source: &SourceTable,
    sink_plugin: &Path,
    sink_config: &Value,
    target: &impl Target,
) -> Duration {
    let work = std::env::temp_dir().join(unique_name("kill9"));
    let broker = BrokerHandle::start(BrokerConfig {
        data_dir: Some(work.join("broker")),
        ..BrokerConfig::default()
    })
    .await
    .expect("broker starts");
    let runtime = Runtime::new(
        &broker.address().to_string(),
        &work,
        &plugin("iggy_connector_postgres_source"),
        &source.source_config(),
        sink_plugin,
        sink_config,
    );
    eprintln!("kill9: work dir {}", work.display());
    let mut rng = Rng::from_env();
    let started = Instant::now();

    runtime
        .kill_at_random_points(&mut rng, KILLS, source.rows, || target.stored())
        .await;

    // The clean run, from no source state: every row is read and sent to Iggy once more.
    let state_file = runtime.source_state_file();
    std::fs::remove_file(&state_file).expect("the source saved its state before");
    let mut child = runtime.spawn();
    let last = source.rows.to_string();
    runtime
        .wait_until(&mut child, "the full re-read acknowledged", || {
            let done =
                committed_cursor(&state_file, &source.name).as_deref() == Some(last.as_str());
            async move { done }
        })
        .await;
    // A sentinel row after the replay: the topic has one partition, so once the sink stored it,
    // it has processed every replayed message before it.
    let sentinel = source.sentinel();
    source
        .db
        .batch_execute(&format!(
            "INSERT INTO {} VALUES ({sentinel}, 'sentinel')",
            source.name
        ))
        .await
        .expect("the sentinel row");
    runtime
        .wait_until(&mut child, "the sentinel in the target", || {
            target.holds_row(sentinel)
        })
        .await;
    runtime.stop_gracefully(child);
    let elapsed = started.elapsed();
    broker.shutdown().await;
    elapsed
}

/// The verdict, from the source row id of every record in the target and the Iggy offset of the
/// sentinel's record: lost 0 (every row `1..=sentinel` is there), duplicated 0 (no row twice),
/// and at least 2 × rows messages before the sentinel in Iggy (the replays really went through
/// Iggy, and the sink dropped them).
pub fn assert_each_row_once(
    source: &SourceTable,
    elapsed: Duration,
    row_ids: &[u64],
    sentinel_offset: u64,
) {
    let mut per_row: HashMap<u64, u64> = HashMap::new();
    for id in row_ids {
        *per_row.entry(*id).or_default() += 1;
    }
    let lost = (1..=source.sentinel())
        .filter(|id| !per_row.contains_key(id))
        .count();
    let duplicated: u64 = per_row.values().map(|n| n - 1).sum();
    eprintln!(
        "kill9: {KILLS} kills + full replay in {elapsed:?}: lost {lost}, duplicated {duplicated}, \
         stored {}, messages in Iggy {}",
        row_ids.len(),
        sentinel_offset + 1
    );
    assert_eq!(lost, 0, "every source row is in the target");
    assert_eq!(duplicated, 0, "no source row is in the target twice");
    assert_eq!(
        row_ids.len() as u64,
        source.sentinel(),
        "records in the target"
    );
    assert!(
        sentinel_offset >= 2 * source.rows,
        "sentinel at offset {sentinel_offset}: the full re-read did not reach Iggy"
    );
}

/// The committed cursor of `table` in a PostgreSQL source's state file (upstream's MessagePack
/// shape: last poll time, cursor per table, processed rows), `None` before the first save.
fn committed_cursor(state_file: &Path, table: &str) -> Option<String> {
    let bytes = std::fs::read(state_file).ok()?;
    let (_, cursors, _): (String, HashMap<String, String>, u64) =
        iggy_connectors_sdk::ConnectorState(bytes).decode().ok()?;
    cursors.get(table).cloned()
}
