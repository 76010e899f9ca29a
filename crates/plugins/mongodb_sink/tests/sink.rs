//! The sink against a real MongoDB wire-protocol server (FerretDB), read back with the official
//! driver. Upstream's §6 scenarios that the server supports, plus replays, rejections and
//! server outages.

mod common;

use common::*;
use iggy_connector_mongodb_sink::{MongoDbSinkConfig, SinkCounters};
use iggy_connectors_sdk::{Payload, Schema};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Bson, doc};
use serde_json::json;

#[tokio::test]
async fn given_json_messages_when_consumed_should_store_upstream_document_shape() {
    let server = MongoServer::start();
    let db = unique_name("json");
    let sink = open(config(&server, &db, json!({"payload_format": "json"}))).await;
    let payloads = (0..3)
        .map(|i| Payload::Json(json!({"n": i, "name": format!("user {i}"), "tags": ["a", i]})))
        .collect();
    let rejected = sink
        .consume(&topic(), meta(Schema::Json), messages(0, payloads))
        .await
        .expect("stored");
    assert!(rejected.is_empty());

    let client = server.client().await;
    let docs = documents(&client, &db).await;
    assert_eq!(docs.len(), 3);
    for (i, doc) in docs.iter().enumerate() {
        let offset = i as u64;
        assert_eq!(doc.get_str("_id").unwrap(), id_of(1000 + offset as u128));
        assert_eq!(doc.get("iggy_offset"), Some(&Bson::Int64(i as i64)));
        assert_eq!(doc.get_str("iggy_stream").unwrap(), "test_stream");
        assert_eq!(doc.get_str("iggy_topic").unwrap(), "test_topic");
        assert_eq!(doc.get("iggy_partition_id"), Some(&Bson::Int32(1)));
        assert_eq!(doc.get("iggy_checksum"), Some(&Bson::Int64(77 + i as i64)));
        assert_eq!(
            doc.get_datetime("iggy_timestamp")
                .unwrap()
                .timestamp_millis(),
            1_700_000_000_000 + i as i64
        );
        assert_eq!(
            doc.get_datetime("iggy_origin_timestamp")
                .unwrap()
                .timestamp_millis(),
            1_600_000_000_000 + i as i64
        );
        let payload = doc.get_document("payload").expect("payload is a document");
        assert_eq!(payload.get("n"), Some(&Bson::Int64(i as i64)));
        assert_eq!(payload.get_str("name").unwrap(), format!("user {i}"));
        assert_eq!(
            payload.get_array("tags").unwrap(),
            &vec![Bson::String("a".into()), Bson::Int64(i as i64)]
        );
    }
}

#[tokio::test]
async fn given_binary_messages_when_consumed_should_store_exact_bytes_as_generic_binary() {
    let server = MongoServer::start();
    let db = unique_name("binary");
    let sink = open(config(&server, &db, json!({}))).await;
    let bytes: Vec<Vec<u8>> = vec![vec![0, 1, 2, 255], vec![0xff; 300], b"{not json".to_vec()];
    sink.consume(
        &topic(),
        meta(Schema::Raw),
        messages(0, bytes.iter().cloned().map(Payload::Raw).collect()),
    )
    .await
    .expect("stored");
    let docs = documents(&server.client().await, &db).await;
    assert_eq!(docs.len(), 3);
    for (doc, sent) in docs.iter().zip(&bytes) {
        match doc.get("payload") {
            Some(Bson::Binary(binary)) => {
                assert_eq!(binary.subtype, BinarySubtype::Generic);
                assert_eq!(&binary.bytes, sent);
            }
            other => panic!("payload is not binary: {other:?}"),
        }
    }
}

#[tokio::test]
async fn given_string_format_without_metadata_when_consumed_should_store_id_and_text_only() {
    let server = MongoServer::start();
    let db = unique_name("string");
    let sink = open(config(
        &server,
        &db,
        json!({"payload_format": "string", "include_metadata": false,
               "include_checksum": false, "include_origin_timestamp": false}),
    ))
    .await;
    sink.consume(
        &topic(),
        meta(Schema::Text),
        messages(0, vec![Payload::Text("héllo".into())]),
    )
    .await
    .expect("stored");
    let client = server.client().await;
    let stored = client
        .database(&db)
        .collection::<mongodb::bson::Document>("iggy_messages")
        .find_one(doc! {})
        .await
        .unwrap()
        .expect("one document");
    assert_eq!(stored, doc! { "_id": id_of(1000), "payload": "héllo" });
}

#[tokio::test]
async fn given_batch_size_10_and_50_messages_when_consumed_should_store_all_with_contiguous_offsets()
 {
    let server = MongoServer::start();
    let db = unique_name("chunks");
    let sink = open(config(&server, &db, json!({"batch_size": 10}))).await;
    sink.consume(&topic(), meta(Schema::Raw), messages(0, raw(50)))
        .await
        .expect("stored");
    let docs = documents(&server.client().await, &db).await;
    let offsets: Vec<i64> = docs
        .iter()
        .map(|d| d.get_i64("iggy_offset").unwrap())
        .collect();
    assert_eq!(offsets, (0..50).collect::<Vec<i64>>());
    assert_eq!(sink.counters().inserted, 50);
}

#[tokio::test]
async fn given_preseeded_document_when_replayed_should_count_duplicate_as_stored_and_keep_it() {
    let server = MongoServer::start();
    let db = unique_name("dup");
    let client = server.client().await;
    let collection = client
        .database(&db)
        .collection::<mongodb::bson::Document>("iggy_messages");
    // The document message 2 (offset 1, id 1001) would produce, stored before, with a marker.
    collection
        .insert_one(doc! { "_id": id_of(1001), "preseeded": true })
        .await
        .unwrap();
    let sink = open(config(&server, &db, json!({}))).await;
    let rejected = sink
        .consume(&topic(), meta(Schema::Raw), messages(0, raw(3)))
        .await
        .expect("a duplicate key is not a failure");
    assert!(rejected.is_empty());
    assert_eq!(
        sink.counters(),
        SinkCounters {
            inserted: 2,
            duplicates: 1,
            rejected: 0,
            retries: 0
        }
    );
    assert_eq!(count(&client, &db).await, 3);
    let kept = collection
        .find_one(doc! { "_id": id_of(1001) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, doc! { "_id": id_of(1001), "preseeded": true });
}

#[tokio::test]
async fn given_the_same_batch_consumed_twice_should_leave_one_document_per_message() {
    let server = MongoServer::start();
    let db = unique_name("replay");
    let sink = open(config(&server, &db, json!({"batch_size": 7}))).await;
    let batch = messages(0, raw(40));
    sink.consume(&topic(), meta(Schema::Raw), batch.clone())
        .await
        .unwrap();
    // Overlapping re-delivery: the engine restarted before it stored the offset.
    let mut overlapping = batch[20..].to_vec();
    overlapping.extend(messages(40, raw(10)));
    let rejected = sink
        .consume(&topic(), meta(Schema::Raw), overlapping)
        .await
        .unwrap();
    assert!(rejected.is_empty());
    let client = server.client().await;
    assert_eq!(count(&client, &db).await, 50);
    let docs = documents(&client, &db).await;
    let offsets: Vec<i64> = docs
        .iter()
        .map(|d| d.get_i64("iggy_offset").unwrap())
        .collect();
    assert_eq!(offsets, (0..50).collect::<Vec<i64>>());
    let c = sink.counters();
    assert_eq!((c.inserted, c.duplicates), (50, 20));
}

#[tokio::test]
async fn given_auto_create_collection_when_opened_should_create_an_empty_collection() {
    let server = MongoServer::start();
    let db = unique_name("create");
    let _sink = open(config(
        &server,
        &db,
        json!({"auto_create_collection": true}),
    ))
    .await;
    let client = server.client().await;
    let names = client.database(&db).list_collection_names().await.unwrap();
    assert_eq!(names, vec!["iggy_messages".to_string()]);
    assert_eq!(count(&client, &db).await, 0);
    // A second instance finds it and does not fail.
    let _again = open(config(
        &server,
        &db,
        json!({"auto_create_collection": true}),
    ))
    .await;
}

#[tokio::test]
async fn given_a_document_over_the_size_limit_should_reject_it_with_reason_and_store_neighbours() {
    let server = MongoServer::start();
    let db = unique_name("large");
    let sink = open(config(&server, &db, json!({}))).await;
    let limit = sink.max_document_bytes();
    assert_eq!(limit, 16 * 1024 * 1024, "the server's maxBsonObjectSize");
    let mut payloads = raw(5);
    // The payload alone fits; with `_id` and the metadata fields the document does not.
    payloads[2] = Payload::Raw(vec![b'x'; limit - 16]);
    let rejected = sink
        .consume(&topic(), meta(Schema::Raw), messages(0, payloads))
        .await
        .expect("the rest is stored");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].offset, 2);
    assert!(
        rejected[0]
            .reason
            .contains("over the server's maxBsonObjectSize of 16777216 bytes"),
        "{}",
        rejected[0].reason
    );
    let docs = documents(&server.client().await, &db).await;
    let offsets: Vec<i64> = docs
        .iter()
        .map(|d| d.get_i64("iggy_offset").unwrap())
        .collect();
    assert_eq!(offsets, vec![0, 1, 3, 4]);
}

#[tokio::test]
async fn given_json_the_server_refuses_should_reject_only_those_with_the_server_reason() {
    let server = MongoServer::start();
    let db = unique_name("keys");
    let sink = open(config(
        &server,
        &db,
        json!({"payload_format": "json", "batch_size": 50}),
    ))
    .await;
    let payloads = (0..10)
        .map(|i| match i {
            // A `$`-prefixed key: FerretDB refuses it (write error, BadValue).
            3 => Payload::Json(json!({"$set": {"x": 1}})),
            // Not JSON at all: refused before the insert.
            6 => Payload::Raw(b"{truncated".to_vec()),
            _ => Payload::Json(json!({"n": i})),
        })
        .collect();
    let rejected = sink
        .consume(&topic(), meta(Schema::Json), messages(0, payloads))
        .await
        .expect("the rest is stored");
    let offsets: Vec<u64> = rejected.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![6, 3], "{rejected:#?}");
    assert!(
        rejected[0].reason.contains("not valid JSON"),
        "{rejected:#?}"
    );
    assert!(
        rejected[1]
            .reason
            .starts_with("MongoDB refused the document")
            && rejected[1].reason.contains("$set"),
        "{rejected:#?}"
    );
    let client = server.client().await;
    assert_eq!(count(&client, &db).await, 8);
    assert_eq!(sink.counters().rejected, 2);
}

#[tokio::test]
async fn given_server_down_for_good_when_consumed_should_fail_after_bounded_retries() {
    let mut server = MongoServer::start();
    let db = unique_name("down");
    let sink = open(config(
        &server,
        &db,
        json!({"max_retries": 2, "retry_delay": "10ms",
               "connection_uri": format!("{}?serverSelectionTimeoutMS=300&connectTimeoutMS=300", server.uri)}),
    ))
    .await;
    sink.consume(&topic(), meta(Schema::Raw), messages(0, raw(3)))
        .await
        .unwrap();
    server.kill();
    let error = sink
        .consume(&topic(), meta(Schema::Raw), messages(3, raw(3)))
        .await
        .expect_err("nothing could be stored");
    assert!(
        matches!(error, iggy_connector_mongodb_sink::SinkError::Transient(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("after 2 attempt(s)"), "{error}");
    assert_eq!(sink.counters().retries, 1);
}

#[tokio::test]
async fn given_server_killed_and_restarted_between_and_during_consumes_should_lose_and_duplicate_nothing()
 {
    let mut server = MongoServer::start();
    let db = unique_name("restart");
    let sink = open(config(
        &server,
        &db,
        json!({"max_retries": 50, "retry_delay": "20ms", "batch_size": 100,
               "connection_uri": format!("{}?serverSelectionTimeoutMS=500", server.uri)}),
    ))
    .await;
    sink.consume(&topic(), meta(Schema::Raw), messages(0, raw(500)))
        .await
        .unwrap();
    // Between two consumes: the pool's connections are dead when the next one starts.
    server.restart();
    sink.consume(&topic(), meta(Schema::Raw), messages(500, raw(500)))
        .await
        .expect("retried until the server was back");
    // During a consume: kill while the inserts run, restart while the sink is retrying.
    let big_topic = topic();
    let consume = sink.consume(&big_topic, meta(Schema::Raw), messages(1000, raw(5000)));
    let outage = async {
        // Pull the plug once the first chunks are in (the sink's own count, so no polling of
        // the server races with the inserts) ...
        while sink.counters().inserted < 1200 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let retries_before = sink.counters().retries;
        server.kill();
        // ... and bring it back once the sink is retrying.
        while sink.counters().retries == retries_before {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        server.restart();
    };
    let (result, ()) = tokio::join!(consume, outage);
    assert!(result.expect("stored after the restart").is_empty());
    let client = server.client().await;
    let docs = documents(&client, &db).await;
    let offsets: Vec<i64> = docs
        .iter()
        .map(|d| d.get_i64("iggy_offset").unwrap())
        .collect();
    assert_eq!(offsets, (0..6000).collect::<Vec<i64>>());
    // Every message is counted once: acknowledged as inserted, or found stored by a retry
    // (its insert went in but the acknowledgement was lost with the connection).
    let c = sink.counters();
    assert!(c.retries >= 2, "{c:?}");
    assert_eq!(c.inserted + c.duplicates, 6000, "{c:?}");
}

#[tokio::test]
async fn given_bad_config_when_opened_should_fail_naming_the_key() {
    let config: MongoDbSinkConfig = serde_json::from_value(json!({
        "connection_uri": "not-a-uri", "database": "d", "collection": "c"
    }))
    .unwrap();
    let mut sink = iggy_connector_mongodb_sink::MongoDbSink::new(1, config);
    let error = sink.open().await.unwrap_err().to_string();
    assert!(error.contains("plugin_config.connection_uri"), "{error}");
    assert!(!error.contains("not-a-uri"), "the URI is redacted: {error}");
}
