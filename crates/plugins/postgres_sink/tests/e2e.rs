//! End to end through the runtime: a PostgreSQL table → postgres_source (cdylib) → engine →
//! Iggy (the embedded test broker) → engine → postgres_sink (cdylib) → another table.
//! 100 000 rows must arrive exactly once.

use std::time::{Duration, Instant};

use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};
use iggy_connectors_engine::{ConnectorKind, Engine, Status};
use iggy_connectors_test_support::{artifacts::plugin, pipeline};
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::json;

/// An engine with one PostgreSQL source and one PostgreSQL sink joined by topic `pg/rows`.
fn pipeline(
    broker: &BrokerHandle,
    state_dir: &std::path::Path,
    source_config: serde_json::Value,
    sink_config: serde_json::Value,
) -> Engine {
    let source = pipeline::source(
        "pg",
        &plugin("iggy_connector_postgres_source"),
        &source_config,
        "pg",
        "rows",
    );
    let sink = pipeline::sink(
        "pg",
        &plugin("iggy_connector_postgres_sink"),
        &sink_config,
        "pg",
        "rows",
    );
    Engine::new(pipeline::engine_config(
        &broker.address().to_string(),
        state_dir,
        vec![source],
        vec![sink],
    ))
}

/// Polls `sql` (a count) until it reaches `want` or `timeout` passes; returns the last count.
async fn wait_count(db: &tokio_postgres::Client, sql: &str, want: i64, timeout: Duration) -> i64 {
    let deadline = Instant::now() + timeout;
    let mut seen = 0;
    while Instant::now() < deadline {
        // The sink's table appears when the sink opens.
        seen = db.query_one(sql, &[]).await.map(|r| r.get(0)).unwrap_or(0);
        if seen >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_100000_rows_when_piped_through_iggy_should_land_once_in_sink_table() {
    const TOTAL: i64 = 100_000;
    let server = TestServer::shared("e2e");
    let db = connect(&server.url).await;
    let source_table = unique_name("e2e_source");
    let sink_table = unique_name("e2e_sink");
    db.batch_execute(&format!(
        "CREATE TABLE {source_table} (id BIGSERIAL PRIMARY KEY, name TEXT, amount NUMERIC(12,2), \
         created_at TIMESTAMPTZ DEFAULT now());
         INSERT INTO {source_table} (name, amount) SELECT 'row ' || g, g / 100.0 FROM generate_series(1, {TOTAL}) g;"
    ))
    .await
    .unwrap();

    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let state_dir = std::env::temp_dir().join(unique_name("e2e_state"));
    let engine = pipeline(
        &broker,
        &state_dir,
        json!({
            "connection_string": server.url,
            "mode": "polling",
            "tables": [source_table],
            "batch_size": 5000,
            "poll_interval": "10ms",
            "delete_after_read": true,
        }),
        json!({
            "connection_string": server.url,
            "target_table": sink_table,
            "auto_create_table": true,
            "payload_format": "json",
            "batch_size": 1000,
        }),
    );
    let started = Instant::now();
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );

    let stored = wait_count(
        &db,
        &format!("SELECT count(*) FROM {sink_table}"),
        TOTAL,
        Duration::from_secs(300),
    )
    .await;
    let elapsed = started.elapsed();
    let source_stats = engine
        .stats()
        .into_iter()
        .find(|s| s.kind == ConnectorKind::Source)
        .unwrap();
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    eprintln!(
        "e2e: {stored} of {TOTAL} rows in {elapsed:?} ({:.0} rows/s); source stats: {source_stats:?}",
        stored as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(stored, TOTAL);

    let row = db
        .query_one(
            &format!(
                "SELECT count(DISTINCT id), count(DISTINCT (payload->'data'->>'id')::bigint), \
                 min((payload->'data'->>'id')::bigint), max((payload->'data'->>'id')::bigint), \
                 count(*) FILTER (WHERE payload->'data'->>'amount' = ((payload->'data'->>'id')::bigint / 100.0)::numeric(12,2)::text) \
                 FROM {sink_table}"
            ),
            &[],
        )
        .await
        .unwrap();
    let (ids, rows, min, max, exact): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!((ids, rows, min, max), (TOTAL, TOTAL, 1, TOTAL));
    assert_eq!(exact, TOTAL, "NUMERIC values arrive exact");
    // delete_after_read ran only for acknowledged batches: everything was delivered, so all gone.
    let left: i64 = db
        .query_one(&format!("SELECT count(*) FROM {source_table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let state = std::fs::read(state_dir.join("source_pg.state")).expect("source state file");
    let state = iggy_connectors_sdk::ConnectorState(state);
    let (_, offsets, processed): (String, std::collections::HashMap<String, String>, u64) =
        state.decode().expect("upstream-shaped state");
    assert_eq!(offsets[&source_table], TOTAL.to_string());
    assert_eq!(processed, TOTAL as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_cdc_changes_when_piped_through_iggy_should_land_once_in_sink_table() {
    let server = TestServer::shared("e2e");
    let db = connect(&server.url).await;
    let table = unique_name("e2e_cdc");
    let sink_table = unique_name("e2e_cdc_sink");
    let slot = unique_name("e2e_slot");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v TEXT)"
    ))
    .await
    .unwrap();
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let state_dir = std::env::temp_dir().join(unique_name("e2e_state"));
    let engine = pipeline(
        &broker,
        &state_dir,
        json!({"connection_string": server.url, "mode": "cdc", "tables": [table],
               "replication_slot": slot, "batch_size": 500, "poll_interval": "10ms"}),
        json!({"connection_string": server.url, "target_table": sink_table,
               "auto_create_table": true, "payload_format": "json"}),
    );
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );
    // 2 000 inserts in 20 transactions, 1 000 updates, 500 deletes, and a rolled-back insert.
    for chunk in 0..20 {
        db.batch_execute(&format!(
            "INSERT INTO {table} SELECT g, 'v' || g FROM generate_series({}, {}) g",
            chunk * 100 + 1,
            chunk * 100 + 100
        ))
        .await
        .unwrap();
    }
    db.batch_execute(&format!(
        "UPDATE {table} SET v = 'updated' WHERE id <= 1000"
    ))
    .await
    .unwrap();
    db.batch_execute(&format!("DELETE FROM {table} WHERE id > 1500"))
        .await
        .unwrap();
    db.batch_execute("BEGIN").await.unwrap();
    db.batch_execute(&format!("INSERT INTO {table} VALUES (99999, 'never')"))
        .await
        .unwrap();
    db.batch_execute("ROLLBACK").await.unwrap();

    let count_sql = format!("SELECT count(*) FROM {sink_table}");
    let stored = wait_count(&db, &count_sql, 3_500, Duration::from_secs(120)).await;
    engine.stop(Duration::from_secs(10)).await;
    // The sink table cannot show a duplicate (a replayed change has the same id and
    // `ON CONFLICT DO NOTHING` drops it): the topic can. After the stop nothing more is sent,
    // so the source's count is final: each change went to Iggy exactly once.
    let stats = engine.stats();
    let sent = stats
        .iter()
        .find(|s| s.kind == ConnectorKind::Source)
        .unwrap()
        .messages_out;
    broker.shutdown().await;
    // The slot is free the moment stop returns (the issue-22 failure: "active for PID").
    db.execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .unwrap();
    assert_eq!(stored, 3_500);
    assert_eq!(sent, 3_500, "changes sent to Iggy");
    let ops: Vec<(String, i64)> = db
        .query(
            &format!(
                "SELECT payload->>'operation_type', count(*) FROM {sink_table} GROUP BY 1 ORDER BY 1"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("DELETE".into(), 500),
            ("INSERT".into(), 2_000),
            ("UPDATE".into(), 1_000)
        ]
    );
    let never: i64 = db
        .query_one(
            &format!("SELECT count(*) FROM {sink_table} WHERE payload->'data'->>'id' = '99999'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(never, 0, "rolled-back insert never delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_cdc_source_restarted_ten_times_while_changes_flow_should_lose_nothing() {
    let server = TestServer::shared("e2e");
    let db = connect(&server.url).await;
    let table = unique_name("e2e_cdc_restart");
    let sink_table = unique_name("e2e_cdc_restart_sink");
    let slot = unique_name("e2e_restart_slot");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v TEXT)"
    ))
    .await
    .unwrap();
    let broker = BrokerHandle::start(BrokerConfig::default())
        .await
        .expect("broker starts");
    let state_dir = std::env::temp_dir().join(unique_name("e2e_state"));
    let engine = pipeline(
        &broker,
        &state_dir,
        json!({"connection_string": server.url, "mode": "cdc", "tables": [table],
               "replication_slot": slot, "batch_size": 200, "poll_interval": "10ms"}),
        json!({"connection_string": server.url, "target_table": sink_table,
               "auto_create_table": true, "payload_format": "json"}),
    );
    let logs = engine.logs().receiver();
    engine.start().await.expect("engine starts");

    // A writer commits 10-row transactions until told to stop, and reports how many rows.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let url = server.url.clone();
        let table = table.clone();
        tokio::spawn(async move {
            let db = connect(&url).await;
            let mut written = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                db.batch_execute(&format!(
                    "INSERT INTO {table} SELECT g, 'v' || g FROM generate_series({}, {}) g",
                    written + 1,
                    written + 10
                ))
                .await
                .unwrap();
                written += 10;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            written
        })
    };
    let delivered_sql = format!("SELECT count(*) FROM {sink_table}");
    for restart in 1..=10 {
        // Each cycle: changes reach the sink table, then the source restarts mid-flow.
        let before = wait_count(&db, &delivered_sql, 0, Duration::from_secs(1)).await;
        let now = wait_count(&db, &delivered_sql, before + 20, Duration::from_secs(60)).await;
        assert!(
            now >= before + 20,
            "restart {restart}: nothing delivered ({now})"
        );
        engine
            .restart_source("pg", None)
            .await
            .unwrap_or_else(|e| panic!("restart {restart}: {e}"));
        let status = engine
            .stats()
            .into_iter()
            .find(|s| s.kind == ConnectorKind::Source)
            .unwrap()
            .status;
        assert_eq!(status, Status::Running, "restart {restart}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    let stored = wait_count(&db, &delivered_sql, written, Duration::from_secs(120)).await;
    let source_out = engine
        .stats()
        .into_iter()
        .find(|s| s.kind == ConnectorKind::Source)
        .unwrap()
        .messages_out;
    engine.stop(Duration::from_secs(10)).await;
    broker.shutdown().await;
    // The slot is free the moment stop returns (this failed with "active for PID" before).
    db.execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .unwrap();
    eprintln!(
        "cdc restarts: {written} rows written, {stored} stored, source sent {source_out} \
         since its last restart"
    );
    assert_eq!(stored, written, "every change arrived");
    let ids: i64 = db
        .query_one(
            &format!(
                "SELECT count(DISTINCT (payload->'data'->>'id')::int) FROM {sink_table} \
                 WHERE (payload->'data'->>'id')::int BETWEEN 1 AND {written}"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ids, written, "each written row once");
    // No poll of this connector failed on a slot still held by its previous run.
    assert_eq!(engine.logs().dropped(), 0, "every log line was kept");
    let slot_errors: Vec<String> = logs
        .drain()
        .filter(|l| l.level == iggy_connectors_engine::LogLevel::Error && l.message.contains(&slot))
        .map(|l| l.message)
        .collect();
    assert!(slot_errors.is_empty(), "{slot_errors:#?}");
}
