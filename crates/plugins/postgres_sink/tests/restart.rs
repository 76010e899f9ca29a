//! PostgreSQL restarted mid-stream: consume fails while it is down (after bounded retries), the
//! engine re-delivers, and the table ends with every row exactly once. Its own server, because
//! stopping it would break the other tests' connections.

mod common;

use common::*;
use iggy_connector_postgres_common::testing::TestServer;
use iggy_connectors_sdk::{Payload, Schema};
use serde_json::json;

#[tokio::test]
async fn given_server_restart_between_consumes_when_batch_redelivered_should_lose_and_duplicate_nothing()
 {
    let server = TestServer::start("sink-restart");
    let table = name("restart");
    let sink = open(config(
        &server,
        &table,
        json!({"batch_size": 50, "max_retries": 3}),
    ))
    .await;
    let batch = |from: u64| {
        messages(
            from,
            (from..from + 100)
                .map(|i| Payload::Json(json!({"i": i})))
                .collect(),
        )
    };

    sink.consume(&topic(), meta(Schema::Json), batch(0))
        .await
        .unwrap();

    server.stop();
    let started = std::time::Instant::now();
    let error = sink
        .consume(&topic(), meta(Schema::Json), batch(100))
        .await
        .unwrap_err();
    eprintln!(
        "consume while down failed after {:?}: {error}",
        started.elapsed()
    );

    server.restart();
    // The engine re-delivers the failed batch, then continues.
    sink.consume(&topic(), meta(Schema::Json), batch(100))
        .await
        .unwrap();
    sink.consume(&topic(), meta(Schema::Json), batch(200))
        .await
        .unwrap();

    // Down only briefly: the retries inside one consume ride it out.
    let patient = std::sync::Arc::new(
        open(config(
            &server,
            &table,
            json!({"batch_size": 50, "max_retries": 8, "retry_delay": "150ms"}),
        ))
        .await,
    );
    server.stop();
    let task = {
        let sink = patient.clone();
        tokio::spawn(async move { sink.consume(&topic(), meta(Schema::Json), batch(300)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    server.restart();
    task.await
        .unwrap()
        .expect("consume retried until PostgreSQL was back");

    let db = db(&server).await;
    assert_eq!(count(&db, &table).await, 400);
    let distinct: i64 = db
        .query_one(
            &format!("SELECT count(DISTINCT iggy_offset) FROM {table}"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(distinct, 400);
}
