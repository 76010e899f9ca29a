//! Polling with a tracking column that is not unique (issue 15 item 9), against a real
//! PostgreSQL: rows sharing the boundary value of a batch are all read, once.

mod common;

use std::collections::BTreeMap;

use common::*;
use iggy_connector_postgres_source::{PostgresSource, SourceState};
use iggy_connectors_sdk::ConnectorState;
use serde_json::json;

/// `events(id SERIAL PRIMARY KEY, updated_at INT, v TEXT)` with `groups[i]` rows of value
/// `i + 1`, inserted in an order that does not follow the ids within a value.
async fn grouped_table(db: &tokio_postgres::Client, groups: &[i32], primary_key: bool) -> String {
    let table = name("paged");
    let key = if primary_key { "PRIMARY KEY" } else { "" };
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id SERIAL {key}, updated_at INT, v TEXT)"
    ))
    .await
    .unwrap();
    for (i, n) in groups.iter().enumerate() {
        db.batch_execute(&format!(
            "INSERT INTO {table} (updated_at, v) SELECT {}, 'v' || g FROM generate_series(1, {n}) g",
            i + 1
        ))
        .await
        .unwrap();
    }
    table
}

/// Polls and Acks until a poll is empty; the ids of every delivered row, in order, plus the
/// state the runtime would have persisted last.
async fn drain(source: &PostgresSource) -> (Vec<i64>, Option<ConnectorState>) {
    let mut ids = Vec::new();
    let mut state = None;
    for _ in 0..1000 {
        let batch = source.poll_now().await.expect("poll");
        if batch.messages.is_empty() {
            return (ids, state);
        }
        ids.extend(data_field(&batch, "id").iter().map(|v| v.as_i64().unwrap()));
        state = batch.state.clone();
        source.ack().await.expect("ack");
    }
    panic!("the table never drained");
}

fn counts(ids: &[i64]) -> BTreeMap<i64, usize> {
    let mut out = BTreeMap::new();
    for id in ids {
        *out.entry(*id).or_default() += 1;
    }
    out
}

async fn all_ids(db: &tokio_postgres::Client, table: &str) -> Vec<i64> {
    db.query(&format!("SELECT id::bigint FROM {table} ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn given_runs_of_equal_tracking_values_across_batches_when_drained_should_read_every_row_once()
 {
    let db = db().await;
    // Batches of 4 end inside every run: 10, 7 and 5 rows share a value.
    let table = grouped_table(&db, &[10, 7, 5], true).await;
    let source = open(
        config(json!({"tables": [table], "tracking_column": "updated_at", "batch_size": 4})),
        None,
    )
    .await;
    let (ids, _) = drain(&source).await;
    assert_eq!(ids.len(), 22, "every row once: {ids:?}");
    assert_eq!(
        counts(&ids).keys().copied().collect::<Vec<_>>(),
        all_ids(&db, &table).await
    );
    assert!(counts(&ids).values().all(|n| *n == 1), "{ids:?}");
    // The cursor is the last row's (tracking, key) pair.
    let state = source.state();
    assert_eq!(state.tracking_offsets[&table], "3");
    assert_eq!(
        state.cursor(&table).unwrap().key.as_deref(),
        Some("22"),
        "key of the last row"
    );

    // Rows arriving later with the boundary value (and higher ids) are read, once.
    db.batch_execute(&format!(
        "INSERT INTO {table} (updated_at, v) VALUES (3, 'late'), (3, 'late'), (4, 'new')"
    ))
    .await
    .unwrap();
    let (late, _) = drain(&source).await;
    assert_eq!(late, vec![23, 24, 25]);
}

#[tokio::test]
async fn given_restart_inside_a_run_when_resumed_from_state_should_neither_skip_nor_repeat() {
    let db = db().await;
    let table = grouped_table(&db, &[6, 6], true).await;
    let cfg = config(json!({"tables": [table], "tracking_column": "updated_at", "batch_size": 4}));
    let first = open(cfg.clone(), None).await;
    let batch = first.poll_now().await.unwrap();
    let mut ids: Vec<i64> = data_field(&batch, "id")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let persisted = batch.state.clone().expect("state with the batch");
    first.ack().await.unwrap();
    // The batch ended inside the run of value 1 (ids 1-4 of 1-6); a new process resumes.
    let restarted = open(cfg, Some(persisted)).await;
    let (rest, _) = drain(&restarted).await;
    ids.extend(rest);
    assert_eq!(ids, (1..=12).collect::<Vec<i64>>());
}

#[tokio::test]
async fn given_state_without_key_from_before_keyed_paging_when_resumed_should_reread_the_boundary_value_not_skip()
 {
    let db = db().await;
    let table = grouped_table(&db, &[5, 3], true).await;
    // Old state: the cursor value only (upstream 0.4.0 shape), written after a batch that
    // ended inside value 1 — upstream would continue with `> 1` and lose rows 4 and 5.
    let mut old = SourceState::default();
    old.tracking_offsets.insert(table.clone(), "1".into());
    old.processed_rows = 3;
    let source = open(
        config(json!({"tables": [table], "tracking_column": "updated_at", "batch_size": 100})),
        Some(ConnectorState(old.to_bytes())),
    )
    .await;
    let (ids, _) = drain(&source).await;
    // Value 1 is read again (at least once), nothing is skipped, and from then on keyed.
    assert_eq!(ids, (1..=8).collect::<Vec<i64>>());
    assert_eq!(
        source.state().cursor(&table).unwrap().key.as_deref(),
        Some("8")
    );
}

#[tokio::test]
async fn given_delete_after_read_and_a_non_unique_tracking_column_should_delete_only_delivered_rows()
 {
    let db = db().await;
    let table = grouped_table(&db, &[6], true).await;
    let source = open(
        config(
            json!({"tables": [table], "tracking_column": "updated_at", "batch_size": 4,
                      "delete_after_read": true}),
        ),
        None,
    )
    .await;
    let batch = source.poll_now().await.unwrap();
    assert_eq!(batch.messages.len(), 4);
    source.ack().await.unwrap();
    // Deleting by the tracking column would have removed all six rows of value 1.
    assert_eq!(all_ids(&db, &table).await, vec![5, 6]);
    let (rest, _) = drain(&source).await;
    assert_eq!(rest, vec![5, 6]);
    assert!(all_ids(&db, &table).await.is_empty());
}

#[tokio::test]
async fn given_no_key_known_when_polled_should_refuse_naming_primary_key_column() {
    let db = db().await;
    let table = grouped_table(&db, &[3, 3], false).await;
    let source = open(
        config(json!({"tables": [table], "tracking_column": "updated_at", "batch_size": 2})),
        None,
    )
    .await;
    let error = source.poll_now().await.unwrap_err().to_string();
    assert!(
        error.contains("plugin_config.primary_key_column")
            && error.contains("updated_at")
            && error.contains(&table),
        "{error}"
    );

    // Naming the key makes the same table safe, and works for a view (no indexes at all).
    let view = format!("{table}_view");
    db.batch_execute(&format!("CREATE VIEW {view} AS SELECT * FROM {table}"))
        .await
        .unwrap();
    for relation in [&table, &view] {
        let source = open(
            config(
                json!({"tables": [relation], "tracking_column": "updated_at", "batch_size": 2,
                          "primary_key_column": "id"}),
            ),
            None,
        )
        .await;
        let (ids, _) = drain(&source).await;
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6], "{relation}");
    }
}

#[tokio::test]
async fn given_unique_tracking_column_should_page_on_it_alone() {
    let db = db().await;
    let table = name("unique_seq");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id SERIAL PRIMARY KEY, seq INT UNIQUE, v TEXT);
         INSERT INTO {table} (seq, v) SELECT 100 - g, 'v' FROM generate_series(1, 5) g;"
    ))
    .await
    .unwrap();
    let source = open(
        config(json!({"tables": [table], "tracking_column": "seq", "batch_size": 2})),
        None,
    )
    .await;
    let (ids, _) = drain(&source).await;
    // Ordered by seq (95..99), i.e. ids 5..1, and no key kept in the state.
    assert_eq!(ids, vec![5, 4, 3, 2, 1]);
    assert_eq!(source.state().cursor(&table).unwrap().key, None);
}
