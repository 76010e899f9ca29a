//! Polling mode against a real PostgreSQL server, calling the Source methods in-process.

mod common;

use common::*;
use iggy_connectors_sdk::Schema;
use serde_json::{Value, json};

async fn test_messages_table(db: &tokio_postgres::Client) -> String {
    let table = name("test_messages");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id SERIAL PRIMARY KEY, name VARCHAR(255), count INTEGER, \
         amount DOUBLE PRECISION, active BOOLEAN, timestamp BIGINT, tag CHAR(10))"
    ))
    .await
    .unwrap();
    table
}

async fn insert_rows(db: &tokio_postgres::Client, table: &str, from: i32, to: i32) {
    db.batch_execute(&format!(
        "INSERT INTO {table} (name, count, amount, active, timestamp, tag) \
         SELECT 'user_' || g, g * 10, g * 1.5, g % 2 = 0, 1700000000000 + g, 't' || g \
         FROM generate_series({from}, {to}) g"
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn given_rows_when_polled_should_produce_json_records_in_order() {
    let db = db().await;
    let table = test_messages_table(&db).await;
    insert_rows(&db, &table, 1, 3).await;
    let source = open(config(json!({"tables": [table]})), None).await;

    let batch = source.poll().await.unwrap();
    assert_eq!(batch.schema, Schema::Json);
    let records = payloads(&batch);
    assert_eq!(records.len(), 3);
    for (i, record) in records.iter().enumerate() {
        let n = i as i64 + 1;
        assert_eq!(record["table_name"], json!(table));
        assert_eq!(record["operation_type"], "SELECT");
        assert!(record["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(record["old_data"], Value::Null);
        assert_eq!(
            record["data"],
            json!({"id": n, "name": format!("user_{n}"), "count": n * 10, "amount": n as f64 * 1.5,
                   "active": n % 2 == 0, "timestamp": 1700000000000i64 + n,
                   "tag": format!("{:<10}", format!("t{n}"))})
        );
    }
    assert!(batch.messages.iter().all(|m| m.id.is_some()));
    let ids: std::collections::HashSet<_> = batch.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 3, "message ids are unique");
    source.ack().await.unwrap();
    assert!(
        source.poll().await.unwrap().messages.is_empty(),
        "nothing new after Ack"
    );
}

#[tokio::test]
async fn given_every_common_type_when_polled_should_map_each_to_json() {
    let db = db().await;
    let table = name("all_types");
    db.batch_execute(&format!(
        "CREATE TYPE {table}_mood AS ENUM ('happy', 'sad');
         CREATE TABLE {table} (
            id BIGSERIAL PRIMARY KEY, i2 SMALLINT, i4 INTEGER, i8 BIGINT, n NUMERIC(30,10),
            n_big NUMERIC, f4 REAL, f8 DOUBLE PRECISION, f_nan DOUBLE PRECISION, b BOOLEAN,
            t TEXT, vc VARCHAR(20), c CHAR(3), by BYTEA, u UUID, j JSON, jb JSONB, d DATE,
            tm TIME, tmz TIMETZ, ts TIMESTAMP, tstz TIMESTAMPTZ, iv INTERVAL,
            ai INTEGER[], at TEXT[], an NUMERIC[], a2 INTEGER[][], ip INET, pt POINT, m MONEY,
            mood {table}_mood, ts_inf TIMESTAMP);
         INSERT INTO {table} VALUES (DEFAULT, -32768, 2147483647, 9223372036854775807,
            '12345678901234567890.0123456789', '-0.000000000000000000001', 1.5, 0.1, 'NaN', true,
            'he said \"hi\"\n', 'varchar', 'ab', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
            '{{\"a\": [1, 2]}}', '{{\"b\": {{\"c\": null}}}}', '2024-02-29', '13:45:07.25', '13:45:07+02:30',
            '2024-01-15 10:30:00.123456', '2024-01-15 10:30:00+02', '1 year 2 mons 3 days 04:05:06.5',
            '{{1,NULL,3}}', '{{\"a b\",NULL}}', '{{1.50,NULL}}', '{{{{1,2}},{{3,4}}}}', '192.168.0.1/24', '(1.5,2)',
            12.34, 'sad', 'infinity');
         INSERT INTO {table} (id) VALUES (DEFAULT);"
    ))
    .await
    .unwrap();
    let source = open(config(json!({"tables": [table]})), None).await;
    let batch = source.poll().await.unwrap();
    let records = payloads(&batch);
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0]["data"],
        json!({"id": 1, "i2": -32768, "i4": 2147483647, "i8": 9223372036854775807i64,
               "n": "12345678901234567890.0123456789", "n_big": "-0.000000000000000000001",
               "f4": 1.5, "f8": 0.1, "f_nan": null, "b": true, "t": "he said \"hi\"\n",
               "vc": "varchar", "c": "ab ", "by": "AP8Q",
               "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": {"a": [1, 2]},
               "jb": {"b": {"c": null}}, "d": "2024-02-29", "tm": "13:45:07.25",
               "tmz": "13:45:07+02:30", "ts": "2024-01-15 10:30:00.123456",
               "tstz": "2024-01-15T08:30:00+00:00", "iv": "1 year 2 mons 3 days 04:05:06.5",
               "ai": [1, null, 3], "at": ["a b", null], "an": ["1.50", null],
               "a2": [[1, 2], [3, 4]], "ip": "192.168.0.1/24", "pt": "(1.5,2)", "m": "$12.34",
               "mood": "sad", "ts_inf": "infinity"})
    );
    let nulls = records[1]["data"].as_object().unwrap();
    assert_eq!(nulls.len(), 32);
    assert!(
        nulls
            .iter()
            .filter(|(k, _)| *k != "id")
            .all(|(_, v)| v.is_null())
    );
}

#[tokio::test]
async fn given_acked_batches_when_restarted_with_state_should_resume_after_cursor() {
    let db = db().await;
    let table = test_messages_table(&db).await;
    insert_rows(&db, &table, 1, 3).await;
    let cfg = config(json!({"tables": [table]}));
    let source = open(cfg.clone(), None).await;
    let batch = source.poll().await.unwrap();
    assert_eq!(batch.messages.len(), 3);
    // The runtime persists the state that came with the batch, then acks.
    let persisted = batch.state.clone().expect("state with the batch");
    source.ack().await.unwrap();
    assert_eq!(source.state().tracking_offsets[&table], "3");
    assert_eq!(source.state().processed_rows, 3);

    insert_rows(&db, &table, 4, 6).await;
    let restarted = open(cfg, Some(persisted)).await;
    let batch = restarted.poll().await.unwrap();
    assert_eq!(data_field(&batch, "id"), vec![json!(4), json!(5), json!(6)]);
}

#[tokio::test]
async fn given_nack_when_polled_again_should_reread_same_rows_and_keep_cursor() {
    let db = db().await;
    let table = test_messages_table(&db).await;
    insert_rows(&db, &table, 1, 5).await;
    let source = open(
        config(json!({"tables": [table], "batch_size": 2, "initial_offset": 1})),
        None,
    )
    .await;
    let first = source.poll().await.unwrap();
    assert_eq!(data_field(&first, "id"), vec![json!(2), json!(3)]);
    source.nack();
    assert!(!source.state().tracking_offsets.contains_key(&table));
    let again = source.poll().await.unwrap();
    assert_eq!(data_field(&again, "id"), vec![json!(2), json!(3)]);
    source.ack().await.unwrap();
    let next = source.poll().await.unwrap();
    assert_eq!(data_field(&next, "id"), vec![json!(4), json!(5)]);
    // A poll while a batch is unsettled treats it as Nack: nothing is skipped.
    let unsettled = source.poll().await.unwrap();
    assert_eq!(data_field(&unsettled, "id"), vec![json!(4), json!(5)]);
}

#[tokio::test]
async fn given_delete_after_read_when_acked_should_delete_only_then() {
    let db = db().await;
    let table = test_messages_table(&db).await;
    insert_rows(&db, &table, 1, 3).await;
    let source = open(
        config(json!({"tables": [table], "delete_after_read": true})),
        None,
    )
    .await;
    let batch = source.poll().await.unwrap();
    assert_eq!(batch.messages.len(), 3);
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM {table}")).await,
        3,
        "not before Ack"
    );
    source.nack();
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM {table}")).await,
        3,
        "not after Nack"
    );
    let batch = source.poll().await.unwrap();
    assert_eq!(batch.messages.len(), 3);
    source.ack().await.unwrap();
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM {table}")).await,
        0
    );
}

#[tokio::test]
async fn given_processed_column_when_acked_should_mark_rows_and_not_reemit() {
    let db = db().await;
    let table = name("marked");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id SERIAL PRIMARY KEY, v TEXT, is_processed BOOLEAN NOT NULL DEFAULT FALSE);
         INSERT INTO {table} (v) VALUES ('a'), ('b'), ('c');"
    ))
    .await
    .unwrap();
    let cfg = config(json!({"tables": [table], "processed_column": "is_processed"}));
    let source = open(cfg.clone(), None).await;
    let batch = source.poll().await.unwrap();
    assert_eq!(batch.messages.len(), 3);
    let processed = format!("SELECT count(*) FROM {table} WHERE is_processed");
    assert_eq!(count(&db, &processed).await, 0, "not before Ack");
    source.nack();
    assert_eq!(count(&db, &processed).await, 0, "not after Nack");
    source.poll().await.unwrap();
    source.ack().await.unwrap();
    assert_eq!(count(&db, &processed).await, 3);
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM {table}")).await,
        3,
        "none deleted"
    );
    // Even without state (cursor lost), marked rows are not emitted again.
    let fresh = open(cfg, None).await;
    assert!(fresh.poll().await.unwrap().messages.is_empty());
}

#[tokio::test]
async fn given_payload_column_when_polled_should_emit_column_value_per_format() {
    let db = db().await;
    let table = name("payloads");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id SERIAL PRIMARY KEY, payload BYTEA, doc JSONB, note TEXT);
         INSERT INTO {table} (payload, doc, note) VALUES
           ('hello', '{{\"k\": 1}}', 'first'),
           ('\\x00ff00fe', '[1, \"two\", null]', 'zweite ✓'),
           ('{{\"json\": true}}', 'null', NULL);"
    ))
    .await
    .unwrap();
    let bytea = open(
        config(json!({"tables": [table], "payload_column": "payload", "payload_format": "bytea"})),
        None,
    )
    .await;
    let batch = bytea.poll().await.unwrap();
    assert_eq!(batch.schema, Schema::Raw);
    let bytes: Vec<&[u8]> = batch
        .messages
        .iter()
        .map(|m| m.payload.as_slice())
        .collect();
    assert_eq!(
        bytes,
        vec![
            &b"hello"[..],
            &[0x00, 0xff, 0x00, 0xfe][..],
            &b"{\"json\": true}"[..]
        ]
    );

    let jsonb = open(
        config(
            json!({"tables": [table], "payload_column": "doc", "payload_format": "json_direct"}),
        ),
        None,
    )
    .await;
    let batch = jsonb.poll().await.unwrap();
    assert_eq!(batch.schema, Schema::Json);
    assert_eq!(
        payloads(&batch),
        vec![json!({"k": 1}), json!([1, "two", null]), Value::Null]
    );

    let text = open(
        config(json!({"tables": [table], "payload_column": "note", "payload_format": "text"})),
        None,
    )
    .await;
    let batch = text.poll().await.unwrap();
    assert_eq!(batch.schema, Schema::Text);
    let texts: Vec<&[u8]> = batch
        .messages
        .iter()
        .map(|m| m.payload.as_slice())
        .collect();
    assert_eq!(texts, vec!["first".as_bytes(), "zweite ✓".as_bytes(), b""]);
}

#[tokio::test]
async fn given_custom_query_with_all_placeholders_when_polled_should_substitute_each() {
    let db = db().await;
    let table = test_messages_table(&db).await;
    insert_rows(&db, &table, 1, 5).await;
    db.batch_execute(&format!("UPDATE {table} SET timestamp = 1000 WHERE id = 5"))
        .await
        .unwrap();
    let query = "SELECT id, name FROM $table WHERE id > $offset AND timestamp < $now_unix::bigint * 1000 \
                 AND now() >= '$now'::timestamptz - interval '1 minute' ORDER BY id LIMIT $limit";
    let source = open(
        config(json!({"tables": [table], "custom_query": query, "initial_offset": "1", "batch_size": 2})),
        None,
    )
    .await;
    let batch = source.poll().await.unwrap();
    assert_eq!(data_field(&batch, "id"), vec![json!(2), json!(3)]);
    assert_eq!(
        payloads(&batch)[0]["data"],
        json!({"id": 2, "name": "user_2"})
    );
    source.ack().await.unwrap();
    // Row 5 has timestamp 1000 < now_unix*1000 as well; row 4 and 5 follow.
    let batch = source.poll().await.unwrap();
    assert_eq!(data_field(&batch, "id"), vec![json!(4), json!(5)]);
    source.ack().await.unwrap();
    assert_eq!(source.state().tracking_offsets[&table], "5");
}

#[tokio::test]
async fn given_custom_query_with_unmapped_types_when_polled_should_read_them_as_text() {
    let db = db().await;
    let table = name("custom_cast");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, addr INET, pts POINT[]);
         INSERT INTO {table} VALUES (1, '10.0.0.1', ARRAY[point(1,2)]), (2, '10.0.0.2', NULL);"
    ))
    .await
    .unwrap();
    let query = format!("SELECT * FROM {table} WHERE id > $offset ORDER BY id DESC LIMIT $limit");
    let source = open(
        config(json!({"tables": [table], "custom_query": query, "initial_offset": 0})),
        None,
    )
    .await;
    let batch = source.poll().await.unwrap();
    assert_eq!(
        payloads(&batch)
            .iter()
            .map(|p| p["data"].clone())
            .collect::<Vec<_>>(),
        vec![
            json!({"id": 2, "addr": "10.0.0.2/32", "pts": null}),
            json!({"id": 1, "addr": "10.0.0.1/32", "pts": ["(1,2)"]})
        ]
    );
}

#[tokio::test]
async fn given_schema_qualified_table_and_options_when_polled_should_quote_segments() {
    let db = db().await;
    let schema = name("app");
    db.batch_execute(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.\"Events\" (\"eventId\" INT PRIMARY KEY, \"userName\" TEXT, \"HTTPCode\" INT);
         INSERT INTO {schema}.\"Events\" VALUES (1, 'ann', 200), (2, 'bob', 404);"
    ))
    .await
    .unwrap();
    let source = open(
        config(
            json!({"tables": [format!("{schema}.Events")], "tracking_column": "eventId",
                      "snake_case_columns": true, "include_metadata": false}),
        ),
        None,
    )
    .await;
    let batch = source.poll().await.unwrap();
    assert_eq!(
        payloads(&batch),
        vec![
            json!({"event_id": 1, "user_name": "ann", "httpcode": 200}),
            json!({"event_id": 2, "user_name": "bob", "httpcode": 404})
        ]
    );
    source.ack().await.unwrap();
    assert_eq!(
        source.state().tracking_offsets[&format!("{schema}.Events")],
        "2"
    );
}

#[tokio::test]
async fn given_timestamp_tracking_column_when_polled_in_batches_should_advance_cursor() {
    let db = db().await;
    let table = name("by_time");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT, created_at TIMESTAMPTZ);
         INSERT INTO {table} SELECT g, '2024-01-15 10:00:00+00'::timestamptz + g * interval '1.5 second'
         FROM generate_series(1, 5) g;"
    ))
    .await
    .unwrap();
    // created_at has no unique index: the key column must be named (polling_paging.rs).
    let cfg = config(
        json!({"tables": [table], "tracking_column": "created_at", "primary_key_column": "id", "batch_size": 3}),
    );
    let source = open(cfg.clone(), None).await;
    let batch = source.poll().await.unwrap();
    assert_eq!(data_field(&batch, "id"), vec![json!(1), json!(2), json!(3)]);
    let state = batch.state.clone().unwrap();
    source.ack().await.unwrap();
    assert_eq!(
        source.state().tracking_offsets[&table],
        "2024-01-15T10:00:04.5+00:00"
    );
    let restarted = open(cfg, Some(state)).await;
    let batch = restarted.poll().await.unwrap();
    assert_eq!(data_field(&batch, "id"), vec![json!(4), json!(5)]);
}

#[tokio::test]
async fn given_missing_table_or_bad_config_when_opened_or_polled_should_fail_clearly() {
    let source = open(config(json!({"tables": ["no_such_table_xyz"]})), None).await;
    let error = source.poll().await.unwrap_err().to_string();
    assert!(error.contains("no_such_table_xyz"), "{error}");

    let config: iggy_connector_postgres_source::PostgresSourceConfig =
        serde_json::from_value(config(json!({"tables": ["t"], "mode": "replication"}))).unwrap();
    let mut bad = iggy_connector_postgres_source::PostgresSource::new(1, config, None);
    let error = bad.open().await.unwrap_err().to_string();
    assert!(error.contains("plugin_config.mode"), "{error}");
}

#[tokio::test]
async fn given_50000_rows_when_polled_in_batches_should_emit_each_once_in_order() {
    let db = db().await;
    let table = test_messages_table(&db).await;
    insert_rows(&db, &table, 1, 50_000).await;
    let source = open(
        config(json!({"tables": [table], "batch_size": 10_000})),
        None,
    )
    .await;
    let started = std::time::Instant::now();
    let mut next = 1i64;
    let mut bytes = 0usize;
    for _ in 0..5 {
        let batch = source.poll().await.unwrap();
        assert_eq!(batch.messages.len(), 10_000);
        for id in data_field(&batch, "id") {
            assert_eq!(id, json!(next));
            next += 1;
        }
        bytes += batch
            .messages
            .iter()
            .map(|m| m.payload.len())
            .sum::<usize>();
        source.ack().await.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(source.poll().await.unwrap().messages.is_empty());
    eprintln!(
        "polled 50000 rows ({bytes} payload bytes) in {elapsed:?}: {:.0} rows/s (incl. JSON parsing by the test)",
        50_000.0 / elapsed.as_secs_f64()
    );
    assert_eq!(source.state().processed_rows, 50_000);
}
