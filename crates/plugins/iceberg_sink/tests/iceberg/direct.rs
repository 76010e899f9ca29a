//! The sink used as a library (its `open`/`consume` as the runtime calls them), for the
//! scenarios that need exact control of what is delivered when: re-delivery after a commit
//! whose offset was never stored, rejections, routing, concurrent writers.

use iggy_connector_iceberg_sink::{IcebergSink, IcebergSinkConfig, Rejection};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, Schema, TopicMetadata};
use serde_json::{Value, json};

use crate::common::*;

async fn open_sink(config: Value) -> IcebergSink {
    let config: IcebergSinkConfig = serde_json::from_value(config).unwrap();
    let mut sink = IcebergSink::new(1, config);
    sink.open().await.expect("sink opens");
    sink
}

fn consumed(offset: u64, payload: Payload) -> ConsumedMessage {
    ConsumedMessage {
        id: offset as u128 + 1,
        offset,
        checksum: 0,
        timestamp: 1_700_000_000_000_000 + offset,
        origin_timestamp: 1_700_000_000_000_000 + offset,
        headers: None,
        payload,
    }
}

fn batch(offsets: std::ops::Range<u64>) -> Vec<ConsumedMessage> {
    offsets
        .map(|i| consumed(i, Payload::Json(message(i))))
        .collect()
}

async fn deliver(
    sink: &IcebergSink,
    partition: u32,
    messages: Vec<ConsumedMessage>,
) -> Vec<Rejection> {
    let topic = TopicMetadata {
        stream: "orders".into(),
        topic: "created".into(),
    };
    let metadata = MessagesMetadata {
        partition_id: partition,
        current_offset: messages.last().map(|m| m.offset).unwrap_or_default(),
        schema: Schema::Json,
    };
    sink.consume(&topic, metadata, messages)
        .await
        .expect("consume succeeds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_commit_whose_offset_was_never_stored_when_redelivered_should_hold_each_row_once() {
    let _catalog = shared_catalog().await;
    let ns = unique_name("eo");
    let table = create_table(&ns, "messages", false, None).await;
    let config = plugin_config(&[&table], "s3");

    let first = open_sink(config.clone()).await;
    assert!(deliver(&first, 1, batch(0..500)).await.is_empty());
    // The fault: the runtime dies after the commit, before it stores the consumer offset. A new
    // runtime opens a new sink and Iggy delivers the same messages again, then the next ones.
    drop(first);
    let second = open_sink(config).await;
    assert!(deliver(&second, 1, batch(0..500)).await.is_empty());
    assert!(deliver(&second, 1, batch(250..1000)).await.is_empty());

    let read = read_table(&table);
    assert_rows_are(&read["rows"], 0..1000);
    let snapshots = read["snapshots"].as_array().unwrap();
    assert_eq!(
        snapshots.len(),
        2,
        "re-deliveries commit nothing: {snapshots:?}"
    );
    let last = &snapshots[1]["summary"];
    assert_eq!(
        last["iggy-connectors.committed-offset.iggy-connectors:orders:created:1"], "999",
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_payloads_that_do_not_fit_the_table_should_refuse_each_with_its_reason_and_commit_the_rest()
 {
    let _catalog = shared_catalog().await;
    let ns = unique_name("bad");
    let table = create_table(&ns, "messages", true, None).await;
    let sink = open_sink(plugin_config(&[&table], "s3")).await;
    let mut missing_name = message(1);
    missing_name.as_object_mut().unwrap().remove("name");
    let mut wrong_type = message(2);
    wrong_type["id"] = json!("two");
    let messages = vec![
        consumed(0, Payload::Json(message(0))),
        consumed(1, Payload::Json(missing_name)),
        consumed(2, Payload::Json(wrong_type)),
        consumed(3, Payload::Json(json!([1, 2, 3]))),
        consumed(4, Payload::Text("plain text".into())),
        consumed(5, Payload::Json(message(5))),
    ];
    let rejected = deliver(&sink, 1, messages).await;
    let offsets: Vec<u64> = rejected.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![1, 2, 3, 4], "{rejected:?}");
    assert!(
        rejected[0].reason.contains("name"),
        "{}",
        rejected[0].reason
    );
    assert!(
        rejected[1].reason.contains("two") || rejected[1].reason.contains("Int64"),
        "{}",
        rejected[1].reason
    );
    assert!(
        rejected[2].reason.contains("not an object"),
        "{}",
        rejected[2].reason
    );
    assert!(
        rejected[3].reason.contains("not JSON"),
        "{}",
        rejected[3].reason
    );
    assert!(rejected.iter().all(|r| r.reason.contains(&table)));

    let read = read_table(&table);
    assert_rows_are(&read["rows"], [0, 5]);
    // A re-delivery refuses the same messages again (their dead letters may not have been
    // written) and commits nothing new.
    let mut again = vec![consumed(0, Payload::Json(message(0)))];
    again.push(consumed(3, Payload::Json(json!([1, 2, 3]))));
    let rejected = deliver(&sink, 1, again).await;
    assert_eq!(
        rejected.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(read_table(&table)["snapshots"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_dynamic_routing_should_write_each_message_to_the_table_it_names() {
    let _catalog = shared_catalog().await;
    let ns = unique_name("route");
    let a = create_table(&ns, "a", false, None).await;
    let b = create_table(&ns, "b", true, None).await;
    let mut config = plugin_config(&[], "s3");
    config["dynamic_routing"] = json!(true);
    config["dynamic_route_field"] = json!("target");
    let sink = open_sink(config).await;
    let routed = |i: u64, target: Value| {
        let mut m = message(i);
        m["target"] = target;
        consumed(i, Payload::Json(m))
    };
    let mut messages: Vec<ConsumedMessage> = (0..100)
        .map(|i| routed(i, json!(if i % 4 == 0 { &b } else { &a })))
        .collect();
    messages.push(routed(100, json!(format!("{ns}.missing"))));
    messages.push(consumed(101, Payload::Json(message(101))));
    messages.push(routed(102, json!("no_namespace")));
    let rejected = deliver(&sink, 1, messages).await;
    assert_eq!(
        rejected.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![100, 101, 102],
        "{rejected:?}"
    );
    assert!(
        rejected[0].reason.contains("does not exist"),
        "{}",
        rejected[0].reason
    );
    assert!(
        rejected[1].reason.contains("target"),
        "{}",
        rejected[1].reason
    );
    assert!(
        rejected[2].reason.contains("namespace"),
        "{}",
        rejected[2].reason
    );
    // The route field is not a column of the tables: pyiceberg's rows are the messages.
    assert_rows_are(&read_table(&a)["rows"], (0..100).filter(|i| i % 4 != 0));
    let read_b = read_table(&b);
    assert_rows_are(&read_b["rows"], (0..100).filter(|i| i % 4 == 0));
    // Partitioned by category (i % 3) and bucket[4](id): several files, each one partition.
    let files = read_b["files"].as_array().unwrap();
    assert!(files.len() >= 3, "{files:?}");
    let per_file: u64 = files
        .iter()
        .map(|f| f["record_count"].as_u64().unwrap())
        .sum();
    assert_eq!(per_file, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_two_writers_committing_to_one_table_at_once_should_retry_conflicts_and_keep_every_row()
 {
    let _catalog = shared_catalog().await;
    let ns = unique_name("conflict");
    let table = create_table(&ns, "messages", false, None).await;
    let mut config = plugin_config(&[&table], "s3");
    // Two writer ids: each records its own offsets; each writer commits 10 snapshots while
    // the other does, so their commits race on the table's current snapshot.
    config["writer_id"] = json!("writer-a");
    let a = open_sink(config.clone()).await;
    config["writer_id"] = json!("writer-b");
    let b = open_sink(config).await;
    let write = |sink: IcebergSink, partition: u32, base: u64| async move {
        for round in 0..10u64 {
            let start = base + round * 20;
            // A conflict that outlives iceberg's own retries surfaces as an error; the runtime
            // retries the batch, which the committed-offset summary makes safe. Do the same.
            let topic = TopicMetadata {
                stream: "orders".into(),
                topic: "created".into(),
            };
            let metadata = MessagesMetadata {
                partition_id: partition,
                current_offset: start,
                schema: Schema::Json,
            };
            let mut attempts = 0;
            loop {
                attempts += 1;
                let messages: Vec<ConsumedMessage> = (start..start + 20)
                    .map(|i| {
                        let mut m = consumed(i, Payload::Json(message(i)));
                        m.offset = i - base;
                        m
                    })
                    .collect();
                match sink.consume(&topic, metadata, messages).await {
                    Ok(rejected) => {
                        assert!(rejected.is_empty());
                        break;
                    }
                    Err(error) => assert!(attempts < 20, "{error}"),
                }
            }
        }
    };
    tokio::join!(write(a, 1, 0), write(b, 2, 10_000));
    let read = read_table(&table);
    assert_rows_are(
        &read["rows"],
        (0..200).chain(10_000..10_200).collect::<Vec<_>>(),
    );
    assert_eq!(read["snapshots"].as_array().unwrap().len(), 20);
}
