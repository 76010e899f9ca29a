//! Effectively-once end to end (issue 20): PostgreSQL → Iggy → MongoDB (FerretDB) with the
//! runtime in its own process killed with SIGKILL at random points six times, then a clean run
//! from no source state that reads and sends every row again (test_support's
//! `kill9::postgres`). The PostgreSQL source derives each message id from the row and this
//! sink's `_id` comes from the message id, so every replay lands on a document that is already
//! there: the collection ends with each source row exactly once, read back with the driver.
//!
//! `KILL9_SEED=<n>` replays a run's kill points. `KILL9_MESSAGE_IDS=random` runs the source with
//! random ids: the test must then fail on duplicates.

mod common;

use common::{MongoServer, unique_name};
use iggy_connectors_test_support::artifacts::plugin;
use iggy_connectors_test_support::kill9::postgres::{
    SourceTable, Target, assert_each_row_once, killed_then_replayed,
};
use mongodb::bson::{Bson, Document, doc};
use serde_json::json;

const ROWS: u64 = 10_000;

struct Collection(mongodb::Collection<Document>);

impl Target for Collection {
    async fn stored(&self) -> u64 {
        // Errors (the collection not created yet) count as nothing stored.
        self.0.count_documents(doc! {}).await.unwrap_or(0)
    }

    async fn holds_row(&self, id: u64) -> bool {
        let filter = doc! { "payload.data.id": id as i64 };
        self.0.count_documents(filter).await.unwrap_or(0) > 0
    }
}

/// The source row id a document holds (`payload.data.id`), whatever numeric type BSON chose.
fn row_id(document: &Document) -> u64 {
    let id = document
        .get_document("payload")
        .and_then(|p| p.get_document("data"))
        .ok()
        .and_then(|data| data.get("id"));
    match id {
        Some(Bson::Int32(n)) => *n as u64,
        Some(Bson::Int64(n)) => *n as u64,
        _ => panic!("no integer payload.data.id in {document}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_runtime_killed_six_times_then_full_replay_should_store_every_row_exactly_once() {
    let source = SourceTable::create("kill9_mongo", ROWS).await;
    let mongo = MongoServer::start();
    let database = unique_name("kill9");
    let client = mongo.client().await;
    let target = Collection(client.database(&database).collection("iggy_messages"));
    let elapsed = killed_then_replayed(
        &source,
        &plugin("iggy_connector_mongodb_sink"),
        &json!({
            "connection_uri": mongo.uri, "database": database, "collection": "iggy_messages",
            "auto_create_collection": true, "payload_format": "json", "batch_size": 500,
            "retry_delay": "20ms",
        }),
        &target,
    )
    .await;

    let documents: Vec<Document> = {
        use futures_util::TryStreamExt;
        let cursor = target.0.find(doc! {}).await.expect("find");
        cursor.try_collect().await.expect("cursor")
    };
    let row_ids: Vec<u64> = documents.iter().map(row_id).collect();
    let sentinel_offset = documents
        .iter()
        .filter(|d| row_id(d) == source.sentinel())
        .map(|d| d.get_i64("iggy_offset").expect("iggy_offset") as u64)
        .max()
        .expect("the sentinel's document");
    assert_each_row_once(&source, elapsed, &row_ids, sentinel_offset);
}
