//! CDC mode (logical decoding, test_decoding) against a real PostgreSQL server.

mod common;

use common::*;
use serde_json::{Value, json};

async fn cdc_source(
    table: &str,
    slot: &str,
    extra: Value,
) -> iggy_connector_postgres_source::PostgresSource {
    // Changes of concurrently running tests count toward upto_nchanges too: a large batch
    // keeps each test's committed changes in one poll.
    let mut cfg = config(
        json!({"mode": "cdc", "tables": [table], "replication_slot": slot, "batch_size": 10_000}),
    );
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    open(cfg, None).await
}

async fn drop_slot(db: &tokio_postgres::Client, slot: &str) {
    db.execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .unwrap();
}

/// (operation, data, old_data) of each record.
fn changes(batch: &iggy_connectors_sdk::ProducedMessages) -> Vec<(String, Value, Value)> {
    payloads(batch)
        .into_iter()
        .map(|p| {
            (
                p["operation_type"].as_str().unwrap().to_string(),
                p["data"].clone(),
                p["old_data"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn given_inserts_updates_deletes_when_polled_should_emit_each_change_once_acked() {
    let db = db().await;
    let table = name("cdc_items");
    let other = name("cdc_other");
    let slot = name("slot");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, name TEXT, price NUMERIC(10,2), tags TEXT[], \
         doc JSONB, raw BYTEA, at TIMESTAMPTZ, ok BOOLEAN, score DOUBLE PRECISION);
         CREATE TABLE {other} (id INT PRIMARY KEY);"
    ))
    .await
    .unwrap();
    let source = cdc_source(&table, &slot, json!({})).await;

    // One statement per call: a multi-statement simple query is one implicit transaction.
    for sql in [
        format!(
            "INSERT INTO {table} VALUES (1, 'it''s', 9.90, '{{a,b}}', '{{\"k\": [1]}}', '\\x00ff', \
             '2024-01-15 10:30:00.5+00', true, 1.25)"
        ),
        "BEGIN".into(),
        format!("INSERT INTO {table} (id, name) VALUES (99, 'rolled back')"),
        "ROLLBACK".into(),
        format!("INSERT INTO {other} VALUES (1)"),
        format!("UPDATE {table} SET name = 'renamed' WHERE id = 1"),
        format!("UPDATE {table} SET id = 2 WHERE id = 1"),
        format!("DELETE FROM {table} WHERE id = 2"),
    ] {
        db.batch_execute(&sql).await.unwrap();
    }

    let batch = source.poll().await.unwrap();
    let got = changes(&batch);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].0, "INSERT");
    assert_eq!(
        got[0].1,
        json!({"id": 1, "name": "it's", "price": "9.90", "tags": "{a,b}", "doc": {"k": [1]},
               "raw": "AP8=", "at": "2024-01-15T10:30:00.5+00:00", "ok": true, "score": 1.25})
    );
    assert_eq!(got[0].2, Value::Null);
    assert_eq!(
        (got[1].0.as_str(), &got[1].1["name"], &got[1].2),
        ("UPDATE", &json!("renamed"), &Value::Null)
    );
    assert_eq!((got[2].0.as_str(), &got[2].1["id"]), ("UPDATE", &json!(2)));
    assert_eq!(
        got[2].2,
        json!({"id": 1}),
        "primary-key update reports the old key"
    );
    assert_eq!(
        (got[3].0.as_str(), &got[3].1, &got[3].2),
        ("DELETE", &json!({"id": 2}), &Value::Null)
    );
    assert!(
        payloads(&batch)
            .iter()
            .all(|p| p["table_name"] == json!(table))
    );

    // Nack: the same changes, with the same ids, come again.
    let ids: Vec<_> = batch.messages.iter().map(|m| m.id).collect();
    source.nack();
    let again = source.poll().await.unwrap();
    assert_eq!(again.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    source.ack().await.unwrap();
    assert!(
        source.poll().await.unwrap().messages.is_empty(),
        "acked changes are consumed"
    );

    // A 25-row transaction arrives complete and in order.
    db.batch_execute(&format!(
        "INSERT INTO {table} (id) SELECT g FROM generate_series(100, 124) g"
    ))
    .await
    .unwrap();
    let batch = source.poll().await.unwrap();
    let ids: Vec<Value> = changes(&batch)
        .into_iter()
        .map(|c| c.1["id"].clone())
        .collect();
    assert_eq!(ids, (100..125).map(|i| json!(i)).collect::<Vec<_>>());
    source.ack().await.unwrap();
    drop_slot(&db, &slot).await;
}

#[tokio::test]
async fn given_restart_before_ack_when_reopened_should_redeliver_unacked_changes() {
    let db = db().await;
    let table = name("cdc_restart");
    let slot = name("slot");
    db.batch_execute(&format!("CREATE TABLE {table} (id INT PRIMARY KEY)"))
        .await
        .unwrap();
    let mut source = cdc_source(&table, &slot, json!({})).await;
    db.batch_execute(&format!(
        "INSERT INTO {table} VALUES (1); INSERT INTO {table} VALUES (2)"
    ))
    .await
    .unwrap();
    let first = source.poll().await.unwrap();
    assert_eq!(first.messages.len(), 2);
    source.close().await.unwrap(); // crash/stop before the Ack

    let reopened = cdc_source(&table, &slot, json!({})).await;
    let batch = reopened.poll().await.unwrap();
    assert_eq!(
        batch.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        first.messages.iter().map(|m| m.id).collect::<Vec<_>>()
    );
    reopened.ack().await.unwrap();
    db.batch_execute(&format!("INSERT INTO {table} VALUES (3)"))
        .await
        .unwrap();
    let batch = reopened.poll().await.unwrap();
    assert_eq!(
        changes(&batch).into_iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![json!({"id": 3})]
    );
    reopened.ack().await.unwrap();
    drop_slot(&db, &slot).await;
}

#[tokio::test]
async fn given_capture_operations_filter_when_polled_should_emit_only_those() {
    let db = db().await;
    let table = name("cdc_ops");
    let slot = name("slot");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v TEXT)"
    ))
    .await
    .unwrap();
    let source = cdc_source(&table, &slot, json!({"capture_operations": ["DELETE"]})).await;
    db.batch_execute(&format!(
        "INSERT INTO {table} VALUES (1, 'a'), (2, 'b'); UPDATE {table} SET v = 'c'; DELETE FROM {table} WHERE id = 1;"
    ))
    .await
    .unwrap();
    let batch = source.poll().await.unwrap();
    assert_eq!(
        changes(&batch),
        vec![("DELETE".to_string(), json!({"id": 1}), Value::Null)]
    );
    source.ack().await.unwrap();
    drop_slot(&db, &slot).await;
}

#[tokio::test]
async fn given_only_unrelated_changes_when_polled_should_consume_them_without_messages() {
    let db = db().await;
    let table = name("cdc_quiet");
    let noisy = name("cdc_noisy");
    let slot = name("slot");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT); CREATE TABLE {noisy} (id INT)"
    ))
    .await
    .unwrap();
    let source = cdc_source(&table, &slot, json!({})).await;
    db.batch_execute(&format!(
        "INSERT INTO {noisy} SELECT generate_series(1, 10)"
    ))
    .await
    .unwrap();
    assert!(source.poll().await.unwrap().messages.is_empty());
    let pending: i64 = count(
        &db,
        // Only this test's table: tests in this binary run concurrently on one database.
        &format!(
            "SELECT count(*) FROM pg_logical_slot_peek_changes('{slot}', NULL, NULL) \
             WHERE data LIKE 'table public.{noisy}:%'"
        ),
    )
    .await;
    assert_eq!(pending, 0, "the slot moved past changes nobody needs");
    drop_slot(&db, &slot).await;
}

#[tokio::test]
async fn given_slot_with_other_plugin_when_opened_should_fail_and_recover_after_drop() {
    let db = db().await;
    let table = name("cdc_mismatch");
    let slot = name("slot");
    db.batch_execute(&format!("CREATE TABLE {table} (id INT)"))
        .await
        .unwrap();
    db.execute(
        "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
        &[&slot],
    )
    .await
    .unwrap();
    let cfg: iggy_connector_postgres_source::PostgresSourceConfig = serde_json::from_value(config(
        json!({"mode": "cdc", "tables": [table], "replication_slot": slot}),
    ))
    .unwrap();
    let mut source = iggy_connector_postgres_source::PostgresSource::new(1, cfg, None);
    let error = source.open().await.unwrap_err().to_string();
    assert!(error.contains("pg_drop_replication_slot"), "{error}");
    drop_slot(&db, &slot).await;
    let source = cdc_source(&table, &slot, json!({})).await;
    db.batch_execute(&format!("INSERT INTO {table} VALUES (7)"))
        .await
        .unwrap();
    assert_eq!(changes(&source.poll().await.unwrap()).len(), 1);
    source.ack().await.unwrap();
    drop_slot(&db, &slot).await;
}

#[tokio::test]
async fn given_server_without_logical_wal_when_opened_should_explain_the_fix() {
    let replica = iggy_connector_postgres_common::testing::TestServer::start_with_env(
        "source-wal-replica",
        &[("PG_TEST_WAL_LEVEL", "replica")],
    );
    let mut cfg = config(json!({"mode": "cdc", "tables": ["t"]}));
    cfg["connection_string"] = json!(replica.url);
    let cfg: iggy_connector_postgres_source::PostgresSourceConfig =
        serde_json::from_value(cfg).unwrap();
    let mut source = iggy_connector_postgres_source::PostgresSource::new(1, cfg, None);
    let error = source.open().await.unwrap_err().to_string();
    replica.stop();
    assert!(
        error.contains("wal_level = logical") && error.contains("wal_level = replica"),
        "{error}"
    );
}

/// `pg_recvlogical` (PostgreSQL's client tools, installed with the server) streaming from
/// `slot`: a real second consumer that holds the slot until killed.
fn hold_slot(slot: &str) -> std::process::Child {
    let binary = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("pg_recvlogical"))
        .chain(
            std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|version| version.path().join("bin/pg_recvlogical")),
        )
        .find(|path| path.exists())
        .expect("pg_recvlogical (PostgreSQL client tools) is installed");
    std::process::Command::new(binary)
        .args([
            "-d",
            &server().url,
            "--slot",
            slot,
            "--start",
            "-f",
            "/dev/null",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pg_recvlogical starts")
}

/// The PID holding `slot`, once some backend holds it.
async fn holder(db: &tokio_postgres::Client, slot: &str) -> i32 {
    loop {
        let pid: Option<i32> = db
            .query_one(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap()
            .get(0);
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn given_slot_held_by_another_consumer_when_opened_should_wait_then_name_its_pid() {
    let db = db().await;
    let table = name("cdc_held");
    let slot = name("slot");
    db.batch_execute(&format!("CREATE TABLE {table} (id INT)"))
        .await
        .unwrap();
    db.execute(
        "SELECT pg_create_logical_replication_slot($1, 'test_decoding')",
        &[&slot],
    )
    .await
    .unwrap();
    let mut other = hold_slot(&slot);
    let pid = holder(&db, &slot).await;

    let cfg = || -> iggy_connector_postgres_source::PostgresSourceConfig {
        serde_json::from_value(config(
            json!({"mode": "cdc", "tables": [table], "replication_slot": slot}),
        ))
        .unwrap()
    };
    let mut source = iggy_connector_postgres_source::PostgresSource::new(1, cfg(), None);
    let error = source.open().await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("held by PostgreSQL backend PID {pid}")),
        "{error}"
    );
    assert!(
        error.contains(&format!("pg_terminate_backend({pid})")),
        "{error}"
    );

    // The holder lets go while a second open is waiting: that open succeeds and reads changes.
    let mut source = iggy_connector_postgres_source::PostgresSource::new(1, cfg(), None);
    {
        let opening = source.open();
        tokio::pin!(opening);
        // Let the open reach its wait (it polls the slot), then stop the other consumer.
        tokio::select! {
            result = &mut opening => panic!("open returned while the slot was held: {result:?}"),
            _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {}
        }
        other.kill().unwrap();
        other.wait().unwrap();
        opening.await.expect("open succeeds once the slot is free");
    }
    db.batch_execute(&format!("INSERT INTO {table} VALUES (1)"))
        .await
        .unwrap();
    assert_eq!(changes(&source.poll().await.unwrap()).len(), 1);
    source.ack().await.unwrap();
    source.close().await.unwrap();
    drop_slot(&db, &slot).await;
}
