//! The sink against real servers (OpenSearch 2.19 and Elasticsearch 7.10, started by the test):
//! upstream's scenarios plus idempotent replay, `batch_size` chunking and per-item rejections.

use iggy_connector_elasticsearch_common::testing::{Es, Flavor, TestServer, unique_name};
use iggy_connector_elasticsearch_sink::{ElasticsearchSink, ElasticsearchSinkConfig};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, Schema, TopicMetadata};
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
    stores_json_messages_with_message_metadata,
    handles_bulk_messages_in_batch_size_chunks,
    preserves_json_structure,
    replayed_batch_overwrites_instead_of_duplicating,
    mapping_conflicts_are_rejected_with_the_reason_and_the_rest_stored,
    id_field_names_the_document,
    creates_index_with_the_configured_mapping,
);

async fn open(url: &str, index: &str, extra: Value) -> ElasticsearchSink {
    let mut config = json!({"url": url, "index": index, "retry_delay": "20ms"});
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    let config: ElasticsearchSinkConfig = serde_json::from_value(config).expect("config parses");
    let mut sink = ElasticsearchSink::new(1, config);
    sink.open().await.expect("sink opens");
    sink
}

fn topic() -> TopicMetadata {
    TopicMetadata {
        stream: "test_stream".into(),
        topic: "test_topic".into(),
    }
}

fn meta() -> MessagesMetadata {
    MessagesMetadata {
        partition_id: 1,
        current_offset: 0,
        schema: Schema::Json,
    }
}

/// Messages with ids `1000 + offset` and µs timestamps.
fn messages(first_offset: u64, payloads: Vec<Value>) -> Vec<ConsumedMessage> {
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let offset = first_offset + i as u64;
            ConsumedMessage {
                id: 1000 + offset as u128,
                offset,
                checksum: 0,
                timestamp: 1_700_000_000_000_000 + offset * 1000,
                origin_timestamp: 0,
                headers: None,
                payload: Payload::Json(payload),
            }
        })
        .collect()
}

async fn stores_json_messages_with_message_metadata(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("iggy_messages");
    let sink = open(&server.url, &index, json!({})).await;
    let batch = messages(
        0,
        (1..=3)
            .map(|i| json!({"id": i, "name": format!("doc_{i}")}))
            .collect(),
    );
    let rejected = sink.consume(&topic(), meta(), batch).await.expect("stored");
    assert!(rejected.is_empty(), "{rejected:?}");
    let docs = es.all_documents(&index).await;
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0].0, "1000");
    assert_eq!(
        docs[0].1,
        json!({"id": 1, "name": "doc_1", "_iggy_offset": 0, "_iggy_stream": "test_stream",
               "_iggy_topic": "test_topic", "_iggy_partition": 1,
               "_iggy_timestamp": 1_700_000_000_000u64})
    );
}

async fn handles_bulk_messages_in_batch_size_chunks(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("iggy_bulk");
    let sink = open(&server.url, &index, json!({"batch_size": 7})).await;
    let batch = messages(0, (0..50).map(|i| json!({"n": i})).collect());
    sink.consume(&topic(), meta(), batch).await.expect("stored");
    let docs = es.all_documents(&index).await;
    let mut ns: Vec<i64> = docs.iter().map(|(_, d)| d["n"].as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, (0..50).collect::<Vec<_>>());
}

async fn preserves_json_structure(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("iggy_shapes");
    let sink = open(&server.url, &index, json!({})).await;
    let payloads = vec![
        json!({"nested": {"deep": {"list": [1, 2, 3], "objects": [{"x": "y"}, {"x": "z"}]}}, "n": null}),
        json!({"empty_obj": {}, "empty_list": [], "float": 3.25, "neg": -42}),
        json!({"unicode": "zażółć 🚀", "bool": false}),
    ];
    let rejected = sink
        .consume(&topic(), meta(), messages(0, payloads.clone()))
        .await
        .expect("stored");
    assert!(rejected.is_empty(), "{rejected:?}");
    let docs = es.all_documents(&index).await;
    assert_eq!(docs.len(), 3);
    for (i, (_, doc)) in docs.iter().enumerate() {
        for (key, value) in payloads[i].as_object().unwrap() {
            assert_eq!(&doc[key], value, "doc {i} field {key}");
        }
    }
}

async fn replayed_batch_overwrites_instead_of_duplicating(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("iggy_replay");
    let sink = open(&server.url, &index, json!({})).await;
    let batch = messages(10, (0..20).map(|i| json!({"n": i})).collect());
    sink.consume(&topic(), meta(), batch.clone()).await.unwrap();
    sink.consume(&topic(), meta(), batch).await.unwrap();
    assert_eq!(es.count(&index).await, 20);
}

async fn mapping_conflicts_are_rejected_with_the_reason_and_the_rest_stored(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("iggy_conflict");
    es.create_index(&index, json!({"properties": {"n": {"type": "integer"}}}))
        .await;
    let sink = open(&server.url, &index, json!({"batch_size": 4})).await;
    // Offsets 3, 7 and 8 carry a string that an integer field refuses.
    let payloads = (0..10)
        .map(|i| match i {
            3 | 7 | 8 => json!({"n": format!("not-a-number-{i}")}),
            _ => json!({"n": i}),
        })
        .collect();
    let rejected = sink
        .consume(&topic(), meta(), messages(0, payloads))
        .await
        .expect("the batch is settled");
    let offsets: Vec<u64> = rejected.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![3, 7, 8]);
    for r in &rejected {
        assert!(
            r.reason.starts_with("400 mapper_parsing_exception"),
            "{}",
            r.reason
        );
        assert!(
            r.reason.contains(&format!("not-a-number-{}", r.offset)),
            "{}",
            r.reason
        );
    }
    let mut stored: Vec<i64> = es
        .all_documents(&index)
        .await
        .iter()
        .map(|(_, d)| d["n"].as_i64().unwrap())
        .collect();
    stored.sort();
    assert_eq!(stored, vec![0, 1, 2, 4, 5, 6, 9]);
}

async fn id_field_names_the_document(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("iggy_idfield");
    let sink = open(&server.url, &index, json!({"id_field": "order"})).await;
    let batch = messages(
        0,
        vec![
            json!({"order": "o-1", "v": 1}),
            json!({"v": 2}),
            json!({"order": "o-1", "v": 3}),
        ],
    );
    let rejected = sink.consume(&topic(), meta(), batch).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].offset, 1);
    assert!(
        rejected[0].reason.contains("missing"),
        "{}",
        rejected[0].reason
    );
    let docs = es.all_documents(&index).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].0, "o-1");
    assert_eq!(
        docs[0].1["v"], 3,
        "the later message overwrote the earlier one"
    );
}

async fn creates_index_with_the_configured_mapping(flavor: Flavor) {
    let server = TestServer::shared(flavor);
    let es = Es::new(&server.url);
    let index = unique_name("iggy_mapped");
    let sink = open(
        &server.url,
        &index,
        json!({"index_mapping": {
            "settings": {"number_of_replicas": 0},
            "mappings": {"properties": {"name": {"type": "keyword"}}}
        }}),
    )
    .await;
    let (status, mapping) = es
        .request(reqwest_get(), &format!("/{index}/_mapping"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        mapping[&index]["mappings"]["properties"]["name"]["type"],
        "keyword"
    );
    // Opening again (index exists) is fine.
    drop(sink);
    let _again = open(&server.url, &index, json!({})).await;
}

fn reqwest_get() -> iggy_connector_elasticsearch_common::client::Method {
    iggy_connector_elasticsearch_common::client::Method::GET
}
