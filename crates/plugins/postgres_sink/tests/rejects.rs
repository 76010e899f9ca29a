//! Issue 15 item 8 for the PostgreSQL sink, against a real server: rows PostgreSQL refuses are
//! reported as rejected by default (counted, never silently dropped), and the idempotent
//! insert only ignores conflicts on the id, not on any other unique constraint.

mod common;

use common::*;
use iggy_connector_postgres_common::testing::TestServer;
use iggy_connectors_sdk::{Payload, RejectedMessage, Schema};
use serde_json::json;

fn server() -> &'static TestServer {
    TestServer::shared("sink")
}

fn offsets(db_rows: Vec<tokio_postgres::Row>) -> Vec<i64> {
    db_rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn given_rows_postgres_refuses_by_default_should_report_them_rejected_and_store_the_rest() {
    let db = db(server()).await;
    let table = name("rejects_default");
    let sink = open(config(
        server(),
        &table,
        json!({"payload_format": "jsonb", "batch_size": 10}),
    ))
    .await;
    let payloads = vec![
        Payload::Raw(b"{\"ok\": 1}".to_vec()),
        Payload::Raw(b"{not json".to_vec()),
        Payload::Raw(b"{\"ok\": 3}".to_vec()),
        Payload::Raw(b"\"\\ud800 broken".to_vec()),
        Payload::Raw(b"[4]".to_vec()),
    ];
    let outcome = sink
        .consume(&topic(), meta(Schema::Raw), messages(0, payloads))
        .await
        .expect("the good rows are stored");
    let rejected: Vec<u64> = outcome.rejected().iter().map(|r| r.offset).collect();
    assert_eq!(rejected, [1, 3]);
    for RejectedMessage { reason, .. } in outcome.rejected() {
        assert!(
            reason.starts_with("PostgreSQL rejected the row: "),
            "{reason}"
        );
        assert!(reason.contains("(22P02)"), "SQLSTATE named: {reason}");
        assert!(
            !reason.contains("not json"),
            "no row data in the reason: {reason}"
        );
    }
    let stored = db
        .query(
            &format!("SELECT iggy_offset FROM {table} ORDER BY iggy_offset"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(offsets(stored), [0, 2, 4]);
    assert_eq!(sink.counters(), (3, 0, 2), "(stored, duplicates, rejected)");
}

#[tokio::test]
async fn given_skip_policy_should_drop_refused_rows_but_still_count_them() {
    let table = name("rejects_skip");
    let sink = open(config(
        server(),
        &table,
        json!({"payload_format": "jsonb", "on_bad_row": "skip"}),
    ))
    .await;
    let payloads = vec![
        Payload::Raw(b"{not json".to_vec()),
        Payload::Raw(b"{}".to_vec()),
    ];
    let outcome = sink
        .consume(&topic(), meta(Schema::Raw), messages(0, payloads))
        .await
        .unwrap();
    assert!(outcome.is_all_stored());
    assert_eq!(sink.counters(), (1, 0, 1));
}

/// `ON CONFLICT DO NOTHING` without a target swallowed violations of any unique constraint:
/// a different message whose row collides on another unique column vanished as a "duplicate".
/// With `ON CONFLICT (id)` only a replay of the same id is skipped.
#[tokio::test]
async fn given_unique_violation_on_another_column_should_reject_not_skip_as_duplicate() {
    let db = db(server()).await;
    let table = name("rejects_unique");
    let sink = open(config(server(), &table, json!({"payload_format": "jsonb"}))).await;
    db.batch_execute(&format!(
        "CREATE UNIQUE INDEX {table}_payload_key ON {table} ((payload->>'key'))"
    ))
    .await
    .unwrap();
    let first = messages(
        0,
        vec![
            Payload::Json(json!({"key": "a"})),
            Payload::Json(json!({"key": "b"})),
        ],
    );
    let outcome = sink
        .consume(&topic(), meta(Schema::Json), first.clone())
        .await
        .unwrap();
    assert!(outcome.is_all_stored());

    // A replay of the same messages (same ids): idempotent, counted as duplicates.
    let outcome = sink
        .consume(&topic(), meta(Schema::Json), first)
        .await
        .unwrap();
    assert!(outcome.is_all_stored());
    assert_eq!(sink.counters(), (2, 2, 0));

    // A new message (new id) that collides on the other unique index: rejected, not skipped.
    let collide = messages(2, vec![Payload::Json(json!({"key": "a"}))]);
    let outcome = sink
        .consume(&topic(), meta(Schema::Json), collide)
        .await
        .unwrap();
    let rejected = outcome.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].offset, 2);
    assert!(
        rejected[0].reason.contains("(23505)"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(sink.counters(), (2, 2, 1));
    assert_eq!(count(&db, &table).await, 2);
}
