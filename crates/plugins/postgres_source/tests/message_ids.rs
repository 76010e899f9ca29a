//! Deterministic message ids in polling mode (issue 20), against a real PostgreSQL server: a row
//! read again (after a Nack, or by a new instance after a crash) keeps its id; different rows, and
//! new versions of a row, get different ids; `message_ids = "random"` keeps upstream's UUIDv4.

mod common;

use std::collections::HashSet;

use common::*;
use iggy_connectors_message_id::IdBuilder;
use iggy_connectors_sdk::ProducedMessages;
use serde_json::json;

fn ids(batch: &ProducedMessages) -> Vec<u128> {
    batch
        .messages
        .iter()
        .map(|m| m.id.expect("every message has an id"))
        .collect()
}

async fn events_table(db: &tokio_postgres::Client, rows: i32) -> String {
    let table = name("ids_events");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, body TEXT);
         INSERT INTO {table} SELECT g, 'row ' || g FROM generate_series(1, {rows}) g"
    ))
    .await
    .unwrap();
    table
}

#[tokio::test]
async fn given_rows_reread_after_nack_or_crash_should_keep_their_ids() {
    let db = db().await;
    let table = events_table(&db, 5).await;
    let source = open(config(json!({"tables": [table]})), None).await;
    let first = ids(&source.poll().await.unwrap());
    assert_eq!(first.len(), 5);
    assert_eq!(
        first.iter().collect::<HashSet<_>>().len(),
        5,
        "distinct rows, distinct ids"
    );

    source.nack();
    assert_eq!(
        ids(&source.poll().await.unwrap()),
        first,
        "re-read after Nack"
    );
    // A crash before the state was saved: a new instance reads the rows again, same ids; so does
    // a config naming the table with its schema.
    let restarted = open(config(json!({"tables": [table]})), None).await;
    assert_eq!(ids(&restarted.poll().await.unwrap()), first);
    let qualified = open(config(json!({"tables": [format!("public.{table}")]})), None).await;
    assert_eq!(
        ids(&qualified.poll().await.unwrap()),
        first,
        "schema resolved from the catalog"
    );

    // The documented derivation: (domain, schema, table, tracking value, no separate key).
    let expected = IdBuilder::new("postgres_source/polling/v1")
        .part(Some(b"public"))
        .part(Some(table.as_bytes()))
        .part(Some(b"1"))
        .part(None)
        .finish();
    assert_eq!(first[0], expected);

    source.ack().await.unwrap();
    db.batch_execute(&format!(
        "INSERT INTO {table} VALUES (6, 'row 6'), (7, 'row 7')"
    ))
    .await
    .unwrap();
    let next = ids(&source.poll().await.unwrap());
    assert_eq!(next.len(), 2);
    assert!(
        next.iter().all(|id| !first.contains(id)),
        "new rows, new ids"
    );
}

#[tokio::test]
async fn given_keyed_paging_should_identify_rows_by_tracking_value_and_key() {
    let db = db().await;
    let table = name("ids_keyed");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, updated_at INT NOT NULL);
         INSERT INTO {table} SELECT g, 1 FROM generate_series(1, 4) g"
    ))
    .await
    .unwrap();
    let settings = json!({"tables": [table], "tracking_column": "updated_at", "batch_size": 3});
    let source = open(config(settings.clone()), None).await;
    let first = ids(&source.poll().await.unwrap());
    assert_eq!(first.len(), 3);
    source.nack();
    assert_eq!(ids(&source.poll().await.unwrap()), first);
    source.ack().await.unwrap();
    let rest = ids(&source.poll().await.unwrap());
    assert_eq!(rest.len(), 1);
    let all: HashSet<u128> = first.iter().chain(&rest).copied().collect();
    assert_eq!(
        all.len(),
        4,
        "rows sharing a tracking value still get their own ids"
    );
    source.ack().await.unwrap();

    // An updated row (new tracking value) is a new version: a new id, so the sink stores it.
    db.batch_execute(&format!("UPDATE {table} SET updated_at = 2 WHERE id = 1"))
        .await
        .unwrap();
    let update = ids(&source.poll().await.unwrap());
    assert_eq!(update.len(), 1);
    assert!(!all.contains(&update[0]));
}

#[tokio::test]
async fn given_custom_query_per_table_should_give_stable_ids_distinct_across_tables() {
    let db = db().await;
    let a = events_table(&db, 3).await;
    let b = events_table(&db, 3).await;
    let settings = json!({
        "tables": [a, b],
        "custom_query": "SELECT id, body FROM $table WHERE id > $offset ORDER BY id LIMIT $limit",
        "initial_offset": "0",
    });
    let source = open(config(settings.clone()), None).await;
    let first = ids(&source.poll().await.unwrap());
    assert_eq!(first.len(), 6);
    assert_eq!(
        first.iter().collect::<HashSet<_>>().len(),
        6,
        "same keys in two tables"
    );
    let restarted = open(config(settings), None).await;
    assert_eq!(ids(&restarted.poll().await.unwrap()), first);
}

#[tokio::test]
async fn given_message_ids_random_should_give_fresh_ids_on_every_read_as_upstream() {
    let db = db().await;
    let table = events_table(&db, 3).await;
    let source = open(
        config(json!({"tables": [table], "message_ids": "random"})),
        None,
    )
    .await;
    let first = ids(&source.poll().await.unwrap());
    source.nack();
    let again = ids(&source.poll().await.unwrap());
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|id| !first.contains(id)));
    assert!(
        first.iter().all(|id| (id >> 76) & 0xF == 4),
        "UUIDv4 version nibble"
    );
}
