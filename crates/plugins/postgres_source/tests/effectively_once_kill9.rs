//! Effectively-once end to end (issue 20): PostgreSQL → Iggy → PostgreSQL with the runtime in its
//! own process (`examples/pg_to_pg_runtime.rs`) killed with SIGKILL at random points six times,
//! then a clean run that starts with the source's state file removed, so every row is read and
//! sent to Iggy again. Deterministic message ids make the PostgreSQL sink (idempotent on the id)
//! drop every replay: the target table ends with each source row exactly once, counted in SQL.
//!
//! The Iggy server is the embedded test broker, in this test's process with a data_dir, so it
//! outlives the runtime it serves. `KILL9_SEED=<n>` replays a run's kill points.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::json;

const ROWS: i64 = 20_000;
const KILLS: i64 = 6;
/// A run that makes no progress for this long has hung: the test fails with the runtime's log.
const STALL: Duration = Duration::from_secs(60);

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../target"))
        .join("debug")
}

/// Builds both plugins and the runtime example (the harness builds neither); returns
/// (runtime, source plugin, sink plugin).
fn build() -> (PathBuf, PathBuf, PathBuf) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "-p",
            "iggy_connector_postgres_source",
            "-p",
            "iggy_connector_postgres_sink",
            "--lib",
            "--example",
            "pg_to_pg_runtime",
        ])
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building the runtime example and plugins failed"
    );
    let dir = target_dir();
    let lib = |name: &str| {
        dir.join(format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    };
    (
        dir.join("examples").join("pg_to_pg_runtime"),
        lib("iggy_connector_postgres_source"),
        lib("iggy_connector_postgres_sink"),
    )
}

/// xorshift64*: the kill points; the seed is printed so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

struct Runtime {
    exe: PathBuf,
    args: Vec<String>,
    log: PathBuf,
}

impl Runtime {
    fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        Command::new(&self.exe)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("runtime process starts")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text[text.floor_char_boundary(start)..].to_string()
    }
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    // The target table appears when the sink opens.
    db.query_one(sql, &[]).await.map(|r| r.get(0)).unwrap_or(0)
}

/// Waits until `done()` holds; a stall (the runtime exited or hung) fails with its log.
async fn wait_until<F, Fut>(runtime: &Runtime, child: &mut Child, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + STALL;
    while !done().await {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "runtime exited ({status}) before {what}:\n{}",
                runtime.log_tail()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no {what} within {STALL:?}:\n{}", runtime.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The committed cursor of `table` in the source's state file (upstream's MessagePack shape).
fn committed_cursor(state_file: &Path, table: &str) -> Option<String> {
    let bytes = std::fs::read(state_file).ok()?;
    let (_, offsets, _): (String, std::collections::HashMap<String, String>, u64) =
        iggy_connectors_sdk::ConnectorState(bytes).decode().ok()?;
    offsets.get(table).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_runtime_killed_six_times_then_full_replay_should_store_every_row_exactly_once() {
    let (exe, source_lib, sink_lib) = build();
    let server = TestServer::shared("kill9");
    let db = connect(&server.url).await;
    let source_table = unique_name("kill9_source");
    let target_table = unique_name("kill9_target");
    db.batch_execute(&format!(
        "CREATE TABLE {source_table} (id BIGINT PRIMARY KEY, body TEXT);
         INSERT INTO {source_table} SELECT g, 'row ' || g FROM generate_series(1, {ROWS}) g;"
    ))
    .await
    .unwrap();

    let work = std::env::temp_dir().join(unique_name("kill9"));
    let broker = BrokerHandle::start(BrokerConfig {
        data_dir: Some(work.join("broker")),
        ..BrokerConfig::default()
    })
    .await
    .expect("broker starts");
    let state_dir = work.join("state");
    let runtime = Runtime {
        exe,
        args: vec![
            broker.address().to_string(),
            state_dir.display().to_string(),
            source_lib.display().to_string(),
            sink_lib.display().to_string(),
            json!({
                "connection_string": server.url, "mode": "polling", "tables": [source_table],
                "batch_size": 500, "poll_interval": "10ms",
            })
            .to_string(),
            json!({
                "connection_string": server.url, "target_table": target_table,
                "auto_create_table": true, "payload_format": "json", "batch_size": 500,
            })
            .to_string(),
        ],
        log: work.join("runtime.log"),
    };
    std::fs::create_dir_all(&work).unwrap();
    let seed = std::env::var("KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill9: KILL9_SEED={seed}, work dir {}", work.display());
    let mut rng = Rng(seed);
    let stored_sql = format!("SELECT count(*) FROM {target_table}");
    let started = Instant::now();

    // Six kills, each once the target holds a random number of rows within its slice of the
    // flow, plus 0-30 ms, so the kills land in every phase (mid-poll, mid-send, between Iggy's
    // ack and the state write, mid-insert, before the offset commit).
    for round in 0..KILLS {
        let slice = ROWS / (KILLS + 1);
        let threshold = slice * round + rng.below(slice as u64) as i64 + 1;
        let mut child = runtime.spawn();
        wait_until(&runtime, &mut child, "progress", || async {
            count(&db, &stored_sql).await >= threshold
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        child.wait().unwrap();
        eprintln!(
            "kill9: round {round}: killed at >= {threshold} stored rows ({} now)",
            count(&db, &stored_sql).await
        );
    }

    // The clean run, from no source state: every row is read and sent to Iggy once more.
    let state_file = state_dir.join("source_pg.state");
    std::fs::remove_file(&state_file).expect("the source saved its state before");
    let mut child = runtime.spawn();
    let last = ROWS.to_string();
    wait_until(
        &runtime,
        &mut child,
        "the full re-read acknowledged",
        || {
            let done =
                committed_cursor(&state_file, &source_table).as_deref() == Some(last.as_str());
            async move { done }
        },
    )
    .await;
    // A sentinel row after the replay: the topic has one partition, so once the sink stored it,
    // it has processed every replayed message before it.
    let sentinel = ROWS + 1;
    db.batch_execute(&format!(
        "INSERT INTO {source_table} VALUES ({sentinel}, 'sentinel')"
    ))
    .await
    .unwrap();
    let sentinel_sql = format!(
        "SELECT count(*) FROM {target_table} WHERE (payload->'data'->>'id')::bigint = {sentinel}"
    );
    wait_until(
        &runtime,
        &mut child,
        "the sentinel in the target",
        || async { count(&db, &sentinel_sql).await == 1 },
    )
    .await;
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "graceful stop: {status}\n{}",
        runtime.log_tail()
    );
    let elapsed = started.elapsed();
    broker.shutdown().await;

    let row = db
        .query_one(
            &format!(
                "SELECT
                   (SELECT count(*) FROM {source_table} s WHERE NOT EXISTS (SELECT 1 FROM \
                    {target_table} t WHERE (t.payload->'data'->>'id')::bigint = s.id)),
                   (SELECT count(*) - count(DISTINCT (payload->'data'->>'id')::bigint) \
                    FROM {target_table}),
                   (SELECT count(*) FROM {target_table}),
                   (SELECT iggy_offset FROM {target_table} \
                    WHERE (payload->'data'->>'id')::bigint = {sentinel})"
            ),
            &[],
        )
        .await
        .unwrap();
    let (lost, duplicated, stored, sentinel_offset): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    eprintln!(
        "kill9: {KILLS} kills + full replay in {elapsed:?}: lost {lost}, duplicated {duplicated}, \
         stored {stored}, messages in Iggy {}",
        sentinel_offset + 1
    );
    assert_eq!(lost, 0, "every source row is in the target");
    assert_eq!(duplicated, 0, "no source row is in the target twice");
    assert_eq!(stored, ROWS + 1);
    // The replays really went through Iggy (and the sink dropped them): the first pass and the
    // full re-read put at least 2 × ROWS messages before the sentinel.
    assert!(
        sentinel_offset >= 2 * ROWS,
        "sentinel at offset {sentinel_offset}: the full re-read did not reach Iggy"
    );
}
