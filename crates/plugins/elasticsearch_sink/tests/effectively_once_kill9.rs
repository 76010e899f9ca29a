//! Effectively-once end to end (issue 20): PostgreSQL → Iggy → OpenSearch with the runtime in its
//! own process killed with SIGKILL at random points six times, then a clean run from no source
//! state that reads and sends every row again (test_support's `kill9::postgres`). The
//! PostgreSQL source derives each message id from the row and this sink uses the message id as
//! `_id`, so every replay overwrites the document it already wrote: the index ends with each
//! source row exactly once, read back with a plain REST client.
//!
//! `KILL9_SEED=<n>` replays a run's kill points. `KILL9_MESSAGE_IDS=random` runs the source with
//! random ids: the test must then fail on duplicates.

use iggy_connector_elasticsearch_common::client::Method;
use iggy_connector_elasticsearch_common::testing::{Es, Flavor, TestServer};
use iggy_connectors_test_support::artifacts::plugin;
use iggy_connectors_test_support::kill9::postgres::{
    SourceTable, Target, assert_each_row_once, killed_then_replayed,
};
use serde_json::{Value, json};

const ROWS: u64 = 10_000;

struct Index {
    es: Es,
    name: String,
}

impl Target for Index {
    async fn stored(&self) -> u64 {
        self.es.count(&self.name).await
    }

    async fn holds_row(&self, id: u64) -> bool {
        let query = json!({"query": {"term": {"data.id": id}}});
        let path = format!("/{}/_count", self.name);
        let (_, body) = self.es.request(Method::POST, &path, Some(query)).await;
        body["count"].as_u64().unwrap_or(0) > 0
    }
}

fn row_id(document: &Value) -> u64 {
    document["data"]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no data.id in {document}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_runtime_killed_six_times_then_full_replay_should_store_every_row_exactly_once() {
    let source = SourceTable::create("kill9_es", ROWS).await;
    let server = TestServer::shared(Flavor::OpenSearch);
    let target = Index {
        es: Es::new(&server.url),
        // Index names are lowercase.
        name: source.name.to_lowercase(),
    };
    let elapsed = killed_then_replayed(
        &source,
        &plugin("iggy_connector_elasticsearch_sink"),
        &json!({
            "url": server.url, "index": target.name, "batch_size": 500, "retry_delay": "50ms",
            "index_mapping": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
        }),
        &target,
    )
    .await;

    let documents = target.es.all_documents(&target.name).await;
    let row_ids: Vec<u64> = documents.iter().map(|(_, d)| row_id(d)).collect();
    let sentinel_offset = documents
        .iter()
        .filter(|(_, d)| row_id(d) == source.sentinel())
        .map(|(_, d)| d["_iggy_offset"].as_u64().expect("_iggy_offset"))
        .max()
        .expect("the sentinel's document");
    assert_each_row_once(&source, elapsed, &row_ids, sentinel_offset);
}
