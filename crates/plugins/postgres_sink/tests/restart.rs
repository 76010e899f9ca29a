//! PostgreSQL stopped mid-stream, once in the middle of a consume (some of its INSERTs
//! committed, the rest not) and once between consumes: consume fails (after bounded retries),
//! the engine re-delivers, and the table ends with every message exactly once with its own
//! payload. Its own server, because stopping it would break the other tests' connections.

mod common;

use std::time::{Duration, Instant};

use common::*;
use iggy_connector_postgres_common::testing::TestServer;
use iggy_connectors_sdk::{ConsumedMessage, Payload, Schema};
use serde_json::json;

/// `n` JSON messages `{"i": offset}` from offset `from`.
fn batch(from: u64, n: u64) -> Vec<ConsumedMessage> {
    messages(
        from,
        (from..from + n)
            .map(|i| Payload::Json(json!({"i": i})))
            .collect(),
    )
}

/// Polls the row count until it exceeds `above`.
async fn wait_rows_above(db: &tokio_postgres::Client, table: &str, above: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = count(db, table).await;
        if n > above {
            return n;
        }
        assert!(Instant::now() < deadline, "no row beyond {above} arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn given_server_stopped_mid_consume_and_between_consumes_when_redelivered_should_store_each_message_once()
 {
    const BIG: u64 = 2_000;
    let server = TestServer::start("sink-restart");
    let table = name("restart");
    let settings = json!({"batch_size": 50, "max_retries": 3, "payload_format": "json"});
    let sink = std::sync::Arc::new(open(config(&server, &table, settings.clone())).await);
    sink.consume(&topic(), meta(Schema::Json), batch(0, 100))
        .await
        .unwrap();

    // Every INSERT statement of the next consume takes 20 ms, so the stop lands between two of
    // its 40 statements: some are committed, the rest never run.
    let admin = db(&server).await;
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION {table}_slow() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(0.02); RETURN NULL; END $$;
             CREATE TRIGGER slow AFTER INSERT ON {table} FOR EACH STATEMENT \
             EXECUTE FUNCTION {table}_slow();"
        ))
        .await
        .unwrap();
    let running = {
        let sink = sink.clone();
        tokio::spawn(async move {
            sink.consume(&topic(), meta(Schema::Json), batch(100, BIG))
                .await
        })
    };
    wait_rows_above(&admin, &table, 100).await;
    server.stop();
    let error = running
        .await
        .unwrap()
        .expect_err("consume fails once PostgreSQL is gone");
    eprintln!("consume interrupted by the stop: {error}");
    server.restart();
    let admin = db(&server).await;
    let committed = count(&admin, &table).await - 100;
    assert!(
        committed > 0 && committed < BIG as i64,
        "the stop landed mid-consume ({committed} of {BIG} committed)"
    );
    admin
        .batch_execute(&format!("DROP TRIGGER slow ON {table}"))
        .await
        .unwrap();

    // The engine re-delivers the whole batch: the committed part is recognised, the rest stored.
    let (stored_before, duplicates_before, _) = sink.counters();
    sink.consume(&topic(), meta(Schema::Json), batch(100, BIG))
        .await
        .unwrap();
    let (stored_after, duplicates_after, rejected) = sink.counters();
    assert_eq!(duplicates_after - duplicates_before, committed as u64);
    assert_eq!(stored_after - stored_before, BIG - committed as u64);
    assert_eq!(rejected, 0);

    // Stopped between consumes: the consume fails, the re-delivery stores it.
    server.stop();
    sink.consume(&topic(), meta(Schema::Json), batch(2_100, 100))
        .await
        .expect_err("PostgreSQL is down");
    server.restart();
    sink.consume(&topic(), meta(Schema::Json), batch(2_100, 100))
        .await
        .unwrap();

    // Down only briefly: the retries inside one consume ride it out.
    let patient = std::sync::Arc::new(
        open(config(
            &server,
            &table,
            json!({"batch_size": 50, "max_retries": 8, "retry_delay": "150ms", "payload_format": "json"}),
        ))
        .await,
    );
    server.stop();
    let task = {
        let sink = patient.clone();
        tokio::spawn(async move {
            sink.consume(&topic(), meta(Schema::Json), batch(2_200, 100))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.restart();
    task.await
        .unwrap()
        .expect("consume retried until PostgreSQL was back");

    // Offsets 0..2300, each once, each row carrying its own message's payload.
    let db = db(&server).await;
    let row = db
        .query_one(
            &format!(
                "SELECT count(*), count(DISTINCT iggy_offset), min(iggy_offset), max(iggy_offset), \
                 count(*) FILTER (WHERE (payload->>'i')::bigint = iggy_offset \
                 AND id = 1000 + iggy_offset) FROM {table}"
            ),
            &[],
        )
        .await
        .unwrap();
    let got: (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(got, (2_300, 2_300, 0, 2_299, 2_300));
}
