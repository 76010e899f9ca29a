//! The source against real servers (OpenSearch 2.19 and Elasticsearch 7.10, started by the test):
//! upstream's scenarios plus paging across shared timestamps, Ack/Nack and restart from state.

use iggy_connector_elasticsearch_common::testing::{Es, Flavor, TestServer, unique_name};
use iggy_connector_elasticsearch_source::{
    ElasticsearchSource, ElasticsearchSourceConfig, SourceState, message_id,
};
use iggy_connectors_sdk::{ConnectorState, ProducedMessages};
use serde_json::{Value, json};

/// Runs each scenario against both servers.
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod opensearch {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name(super::Flavor::OpenSearch).await } )*
        }
        mod elasticsearch {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name(super::Flavor::Elasticsearch).await } )*
        }
    };
}

on_both_servers!(
    produces_documents_in_order_with_stable_ids,
    handles_empty_index,
    documents_sharing_one_timestamp_across_page_boundaries_are_read_once,
    nack_rereads_and_ack_moves_on,
    state_persists_across_connector_restart,
    without_timestamp_field_reads_every_document_once,
    missing_index_fails_open_naming_it,
);

fn mappings() -> Value {
    json!({"properties": {"id": {"type": "integer"}, "name": {"type": "keyword"},
                          "value": {"type": "integer"}, "timestamp": {"type": "date"}}})
}

/// Documents `first..first+count` with ids `doc-<i>` and the given timestamp per document.
fn documents(first: u64, count: u64, timestamp: impl Fn(u64) -> String) -> Vec<(String, Value)> {
    (first..first + count)
        .map(|i| {
            (
                format!("doc-{i:06}"),
                json!({"id": i, "name": format!("doc_{i}"), "value": i * 10, "timestamp": timestamp(i)}),
            )
        })
        .collect()
}

fn second(i: u64) -> String {
    format!("2024-01-15T10:{:02}:{:02}Z", (i / 60) % 60, i % 60)
}

async fn open(
    url: &str,
    index: &str,
    extra: Value,
    state: Option<ConnectorState>,
) -> ElasticsearchSource {
    let mut config = json!({"url": url, "index": index, "polling_interval": "1ms",
                            "batch_size": 100, "timestamp_field": "timestamp"});
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    let config: ElasticsearchSourceConfig = serde_json::from_value(config).expect("config");
    let mut source = ElasticsearchSource::new(1, config, state);
    source.open().await.expect("source opens");
    source
}

fn payloads(batch: &ProducedMessages) -> Vec<Value> {
    batch
        .messages
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).expect("JSON payload"))
        .collect()
}

/// Polls and acknowledges until a poll is empty; returns every payload.
async fn drain(source: &ElasticsearchSource) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let batch = source.poll_now().await.expect("poll");
        if batch.messages.is_empty() {
            return all;
        }
        all.extend(payloads(&batch));
        source.ack();
    }
}

fn ids(payloads: &[Value]) -> Vec<u64> {
    payloads.iter().map(|p| p["id"].as_u64().unwrap()).collect()
}

async fn produces_documents_in_order_with_stable_ids(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("test_documents");
    es.create_index(&index, mappings()).await;
    es.index_documents(&index, &documents(1, 3, second)).await;
    let source = open(&server.url, &index, json!({}), None).await;
    let batch = source.poll().await.unwrap();
    let got = payloads(&batch);
    assert_eq!(ids(&got), vec![1, 2, 3]);
    assert_eq!(got[0]["name"], "doc_1");
    assert_eq!(
        got[2],
        json!({"id": 3, "name": "doc_3", "value": 30, "timestamp": second(3)})
    );
    assert_eq!(batch.messages[0].id, Some(message_id(&index, "doc-000001")));
    assert_eq!(
        batch.messages[1].origin_timestamp,
        Some(1_705_312_802_000_000),
        "origin timestamp is the document's, in µs"
    );
}

async fn handles_empty_index(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("empty");
    es.create_index(&index, mappings()).await;
    let source = open(&server.url, &index, json!({}), None).await;
    let batch = source.poll().await.unwrap();
    assert!(batch.messages.is_empty());
    assert_eq!(batch.state, None);
    assert_eq!(source.state().processing_stats.empty_polls_count, 1);
}

async fn documents_sharing_one_timestamp_across_page_boundaries_are_read_once(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("same_ts");
    es.create_index(&index, mappings()).await;
    // 10 earlier documents, 500 at one instant (pages of 100 split them five times), 10 later.
    let mut docs = documents(0, 10, |i| format!("2024-01-15T09:00:{i:02}Z"));
    docs.extend(documents(10, 500, |_| "2024-01-15T10:00:00Z".to_string()));
    docs.extend(documents(510, 10, |i| {
        format!("2024-01-15T11:00:{:02}Z", i - 510)
    }));
    es.index_documents(&index, &docs).await;
    let source = open(&server.url, &index, json!({"batch_size": 100}), None).await;
    let mut got = ids(&drain(&source).await);
    assert_eq!(got.len(), 520, "each document read exactly once");
    got.sort();
    got.dedup();
    assert_eq!(got, (0..520).collect::<Vec<_>>());
    assert_eq!(source.state().total_documents_fetched, 520);
}

async fn nack_rereads_and_ack_moves_on(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("acks");
    es.create_index(&index, mappings()).await;
    es.index_documents(&index, &documents(1, 5, second)).await;
    let source = open(&server.url, &index, json!({"batch_size": 2}), None).await;
    let first = source.poll_now().await.unwrap();
    assert_eq!(ids(&payloads(&first)), vec![1, 2]);
    source.nack();
    let again = source.poll_now().await.unwrap();
    assert_eq!(ids(&payloads(&again)), vec![1, 2], "Nack re-delivers");
    assert_eq!(
        source.state().last_document_id,
        None,
        "nothing committed yet"
    );
    source.ack();
    assert_eq!(
        source.state().last_document_id.as_deref(),
        Some("doc-000002")
    );
    // A batch never settled (host crashed mid-send) counts as Nack.
    let unsettled = source.poll_now().await.unwrap();
    assert_eq!(ids(&payloads(&unsettled)), vec![3, 4]);
    let next = source.poll_now().await.unwrap();
    assert_eq!(ids(&payloads(&next)), vec![3, 4]);
}

async fn state_persists_across_connector_restart(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("restart");
    es.create_index(&index, mappings()).await;
    es.index_documents(&index, &documents(1, 3, second)).await;
    let source = open(&server.url, &index, json!({}), None).await;
    let batch = source.poll_now().await.unwrap();
    assert_eq!(ids(&payloads(&batch)), vec![1, 2, 3]);
    // The runtime saves the batch's state, then acknowledges it.
    let saved = batch.state.clone().expect("state with the batch");
    source.ack();
    let decoded = SourceState::from_bytes(&saved.0).unwrap();
    assert_eq!(decoded.last_document_id.as_deref(), Some("doc-000003"));
    assert_eq!(
        decoded.last_poll_timestamp.as_deref(),
        Some("2024-01-15T10:00:03.000Z")
    );
    drop(source);

    es.index_documents(&index, &documents(4, 3, second)).await;
    let restarted = open(&server.url, &index, json!({}), Some(saved)).await;
    assert_eq!(ids(&drain(&restarted).await), vec![4, 5, 6]);
}

async fn without_timestamp_field_reads_every_document_once(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("no_ts");
    es.create_index(&index, mappings()).await;
    es.index_documents(&index, &documents(1, 25, second)).await;
    let source = open(
        &server.url,
        &index,
        json!({"timestamp_field": null, "batch_size": 10}),
        None,
    )
    .await;
    // Upstream returned the first page forever here.
    assert_eq!(ids(&drain(&source).await), (1..=25).collect::<Vec<_>>());
    es.index_documents(&index, &documents(26, 2, second)).await;
    assert_eq!(ids(&drain(&source).await), vec![26, 27]);
}

async fn missing_index_fails_open_naming_it(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let config: ElasticsearchSourceConfig =
        serde_json::from_value(json!({"url": server.url, "index": "no_such_index_here"})).unwrap();
    let mut source = ElasticsearchSource::new(1, config, None);
    let err = source.open().await.expect_err("open fails").to_string();
    assert!(err.contains("plugin_config.index"), "{err}");
    assert!(err.contains("no_such_index_here"), "{err}");
}
