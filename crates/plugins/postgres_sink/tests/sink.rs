//! The sink against a real PostgreSQL server, calling the Sink methods in-process.

mod common;

use common::*;
use iggy_connector_postgres_common::testing::TestServer;
use iggy_connectors_sdk::{Payload, Schema};
use serde_json::{Value, json};

fn server() -> &'static TestServer {
    TestServer::shared("sink")
}

#[tokio::test]
async fn given_json_messages_when_stored_as_bytea_should_keep_metadata_and_payload() {
    let db = db(server()).await;
    let table = name("iggy_messages");
    let sink = open(config(server(), &table, json!({}))).await;
    let sent = [json!({"n": 1, "s": "a"}), json!({"n": 2}), json!([1, 2, 3])];
    let batch = messages(0, sent.iter().cloned().map(Payload::Json).collect());
    sink.consume(&topic(), meta(Schema::Json), batch)
        .await
        .unwrap();

    let rows = db
        .query(
            &format!(
                "SELECT id::text, iggy_offset, iggy_stream, iggy_topic, iggy_partition_id, iggy_checksum, \
                 (extract(epoch from iggy_timestamp) * 1000000)::bigint, \
                 (extract(epoch from iggy_origin_timestamp) * 1000000)::bigint, payload \
                 FROM {table} ORDER BY iggy_offset"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        let offset = i as i64;
        assert_eq!(row.get::<_, String>(0), (1000 + offset).to_string());
        assert_eq!(row.get::<_, i64>(1), offset);
        assert_eq!(row.get::<_, String>(2), "test_stream");
        assert_eq!(row.get::<_, String>(3), "test_topic");
        assert_eq!(row.get::<_, i32>(4), 1);
        assert_eq!(row.get::<_, i64>(5), (u64::MAX - offset as u64) as i64);
        assert_eq!(row.get::<_, i64>(6), 1_700_000_000_000_000 + offset);
        assert_eq!(row.get::<_, i64>(7), 1_600_000_000_000_000 + offset);
        let payload: Vec<u8> = row.get(8);
        assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), sent[i]);
    }
}

#[tokio::test]
async fn given_binary_messages_when_stored_as_bytea_should_be_byte_exact() {
    let db = db(server()).await;
    let table = name("raw_messages");
    let sink = open(config(server(), &table, json!({"payload_format": "bytea"}))).await;
    let sent: Vec<Vec<u8>> = vec![b"plain".to_vec(), vec![0x00, 0xFF, 0x00, 0x7F], vec![]];
    sink.consume(
        &topic(),
        meta(Schema::Raw),
        messages(0, sent.iter().cloned().map(Payload::Raw).collect()),
    )
    .await
    .unwrap();
    let stored: Vec<Vec<u8>> = db
        .query(
            &format!("SELECT payload FROM {table} ORDER BY iggy_offset"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, sent);
}

#[tokio::test]
async fn given_json_and_text_formats_when_stored_should_use_jsonb_and_text_columns() {
    let db = db(server()).await;
    let table = name("json_messages");
    let sink = open(config(server(), &table, json!({"payload_format": "json"}))).await;
    let sent = vec![
        json!({"nested": {"a": [1, null, "x"]}}),
        json!("just a string"),
    ];
    sink.consume(
        &topic(),
        meta(Schema::Json),
        messages(0, sent.iter().cloned().map(Payload::Json).collect()),
    )
    .await
    .unwrap();
    let stored: Vec<String> = db
        .query(
            &format!("SELECT payload::text FROM {table} ORDER BY iggy_offset"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let stored: Vec<Value> = stored
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    assert_eq!(stored, sent);
    let kind: String = db
        .query_one(
            "SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = 'payload'",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "jsonb");

    let text_table = name("text_messages");
    let sink = open(config(
        server(),
        &text_table,
        json!({"payload_format": "text"}),
    ))
    .await;
    sink.consume(
        &topic(),
        meta(Schema::Text),
        messages(0, vec![Payload::Text("héllo ✓".into())]),
    )
    .await
    .unwrap();
    let stored: String = db
        .query_one(&format!("SELECT payload FROM {text_table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "héllo ✓");
}

#[tokio::test]
async fn given_replayed_batch_when_consumed_again_should_not_duplicate() {
    let db = db(server()).await;
    let table = name("replay");
    let sink = open(config(server(), &table, json!({"batch_size": 4}))).await;
    let batch = || messages(0, (0..10).map(|i| Payload::Json(json!({"i": i}))).collect());
    sink.consume(&topic(), meta(Schema::Json), batch())
        .await
        .unwrap();
    sink.consume(&topic(), meta(Schema::Json), batch())
        .await
        .unwrap();
    // A batch overlapping the first one.
    sink.consume(
        &topic(),
        meta(Schema::Json),
        messages(5, (5..15).map(|i| Payload::Json(json!({"i": i}))).collect()),
    )
    .await
    .unwrap();
    assert_eq!(count(&db, &table).await, 15);
    assert_eq!(sink.counters(), (15, 15, 0));
}

#[tokio::test]
async fn given_20000_rows_when_consumed_should_chunk_under_bind_parameter_limit() {
    let db = db(server()).await;
    let table = name("bulk");
    let sink = open(config(server(), &table, json!({"batch_size": 20000}))).await;
    // 9 columns per row: 20 000 rows in one statement would need 180 000 parameters.
    assert_eq!(sink.rows_per_statement(), 65_535 / 9);
    let batch = messages(
        0,
        (0..20_000)
            .map(|i| Payload::Raw(format!("row {i}").into_bytes()))
            .collect(),
    );
    let started = std::time::Instant::now();
    sink.consume(&topic(), meta(Schema::Raw), batch)
        .await
        .unwrap();
    eprintln!("20000 rows stored in {:?}", started.elapsed());
    assert_eq!(count(&db, &table).await, 20_000);
    let (min, max): (i64, i64) = {
        let row = db
            .query_one(
                &format!("SELECT min(iggy_offset), max(iggy_offset) FROM {table}"),
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((min, max), (0, 19_999));
}

#[tokio::test]
async fn given_invalid_json_rows_when_consumed_should_store_the_rest_and_report_offsets() {
    let db = db(server()).await;
    let table = name("bad_rows");
    let payloads = || {
        vec![
            Payload::Raw(b"{\"ok\": 1}".to_vec()),
            Payload::Raw(b"{not json".to_vec()),
            Payload::Raw(b"{\"ok\": 3}".to_vec()),
            Payload::Raw(b"\"\\ud800 broken".to_vec()),
            Payload::Raw(b"[4]".to_vec()),
        ]
    };
    let skip = open(config(
        server(),
        &table,
        json!({"payload_format": "jsonb", "batch_size": 10}),
    ))
    .await;
    skip.consume(&topic(), meta(Schema::Raw), messages(0, payloads()))
        .await
        .unwrap();
    let offsets: Vec<i64> = db
        .query(
            &format!("SELECT iggy_offset FROM {table} ORDER BY iggy_offset"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(offsets, vec![0, 2, 4]);
    assert_eq!(skip.counters(), (3, 0, 2));

    let fail_table = name("bad_rows_fail");
    let fail = open(config(
        server(),
        &fail_table,
        json!({"payload_format": "jsonb", "on_bad_row": "fail"}),
    ))
    .await;
    let error = fail
        .consume(&topic(), meta(Schema::Raw), messages(0, payloads()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("offsets [1, 3]"), "{error}");
    assert_eq!(
        count(&db, &fail_table).await,
        3,
        "good rows are stored even when reporting"
    );
}

#[tokio::test]
async fn given_layout_options_when_auto_creating_should_follow_upstream_columns() {
    let db = db(server()).await;
    let schema = name("sink_schema");
    db.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let table = format!("{schema}.events");
    let sink = open(config(
        server(),
        &table,
        json!({"include_metadata": false, "include_checksum": false, "include_origin_timestamp": true, "payload_format": "text"}),
    ))
    .await;
    let columns: Vec<(String, String)> = db
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'events' ORDER BY ordinal_position",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected = [
        ("id", "numeric"),
        ("iggy_origin_timestamp", "timestamp with time zone"),
        ("payload", "text"),
        ("created_at", "timestamp with time zone"),
    ];
    assert_eq!(
        columns,
        expected
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .to_vec()
    );
    sink.consume(
        &topic(),
        meta(Schema::Text),
        messages(0, vec![Payload::Text("x".into())]),
    )
    .await
    .unwrap();
    assert_eq!(count(&db, &table).await, 1);
}

#[tokio::test]
async fn given_missing_table_without_auto_create_when_consumed_should_return_error() {
    let table = name("absent");
    let sink = open(config(
        server(),
        &table,
        json!({"auto_create_table": false, "max_retries": 1}),
    ))
    .await;
    let error = sink
        .consume(
            &topic(),
            meta(Schema::Json),
            messages(0, vec![Payload::Json(json!(1))]),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");
}
