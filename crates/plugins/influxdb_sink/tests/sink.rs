//! The sink against a real InfluxDB 1.8.3: exact round trips of awkward names and payloads,
//! bad messages rejected one by one, bounded series, config errors at open.

mod common;

use common::*;
use iggy_connector_influxdb_common::testing::{TestServer, unique_name};
use iggy_connector_influxdb_sink::{InfluxDbSink, InfluxDbSinkConfig};
use iggy_connectors_sdk::{Payload, Schema};
use serde_json::json;

/// Flux's RFC 3339 text of 2023-11-14T22:13:20Z (Iggy timestamp 1_700_000_000 s) plus `ns`.
fn time_text(ns: u64) -> String {
    let fraction = format!("{ns:09}");
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        "2023-11-14T22:13:20Z".into()
    } else {
        format!("2023-11-14T22:13:20.{fraction}Z")
    }
}

async fn database(server: &TestServer) -> String {
    let name = unique_name("sink");
    server.create_database(&name).await;
    name
}

#[tokio::test]
async fn given_awkward_names_and_text_when_written_should_read_back_exactly() {
    let server = TestServer::shared("sink");
    let bucket = database(server).await;
    let measurement = "cpu load,x=1\\y";
    let sink = open(config(
        server,
        &bucket,
        json!({"measurement": measurement, "payload_format": "text", "batch_size": 3}),
    ))
    .await;
    let texts = [
        "plain",
        "say \"hi\"",
        "back\\slash and trailing \\",
        "two\nlines\nand \"quotes\\\"",
        "tab\there, comma, equals=, spaces  ",
        "zürich ☃ 🚀",
        "",
        "{\"looks\": \"like json\"}",
    ];
    let stream = "my stream,a=b";
    let topic_name = "t=1 \\\\x";
    let payloads = texts.iter().map(|t| Payload::Text(t.to_string())).collect();
    let rejected = sink
        .consume(
            &topic(stream, topic_name),
            meta(2, Schema::Text),
            messages(10, payloads),
        )
        .await
        .unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");

    let mut points = points(server, &bucket, measurement).await;
    points.sort_by_key(|p| p["offset"].parse::<u64>().unwrap());
    assert_eq!(points.len(), texts.len());
    for (i, (point, text)) in points.iter().zip(texts).enumerate() {
        let offset = 10 + i as u64;
        assert_eq!(point["offset"], offset.to_string());
        assert_eq!(point["payload_text"], text, "offset {offset}");
        assert_eq!(point["stream"], stream);
        assert_eq!(point["topic"], topic_name);
        assert_eq!(point["partition"], "2");
        assert_eq!(point["message_id"], (1000 + offset).to_string());
        // 1.x has no unsigned fields: the u64 checksum is stored bit-cast to i64.
        assert_eq!(
            point["iggy_checksum"],
            ((u64::MAX - offset) as i64).to_string()
        );
        assert_eq!(
            point["iggy_origin_timestamp"],
            (1_600_000_000_000_000 + offset).to_string()
        );
        // The Iggy timestamp at µs precision, the offset in the sub-µs digits.
        assert_eq!(point["_time"], time_text(offset));
    }
}

#[tokio::test]
async fn given_unstorable_stream_name_when_consumed_should_reject_every_message_with_reason() {
    let server = TestServer::shared("sink");
    let bucket = database(server).await;
    let sink = open(config(server, &bucket, json!({}))).await;
    let rejected = sink
        .consume(
            &topic("ends with \\", "t"),
            meta(0, Schema::Json),
            messages(0, json_payloads(0..3)),
        )
        .await
        .unwrap();
    assert_eq!(
        rejected.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(
        rejected[0].reason.contains("stream tag value"),
        "{}",
        rejected[0].reason
    );
    // With the stream kept as a field, the same name is stored exactly.
    let sink = open(config(
        server,
        &bucket,
        json!({"include_stream_tag": false}),
    ))
    .await;
    let rejected = sink
        .consume(
            &topic("ends with \\", "t"),
            meta(0, Schema::Json),
            messages(0, json_payloads(0..3)),
        )
        .await
        .unwrap();
    assert!(rejected.is_empty());
    let points = points(server, &bucket, "iggy_messages").await;
    assert_eq!(points.len(), 3);
    assert!(points.iter().all(|p| p["iggy_stream"] == "ends with \\"));
}

#[tokio::test]
async fn given_bad_messages_in_a_chunk_when_consumed_should_reject_only_them() {
    let server = TestServer::shared("sink");
    let bucket = database(server).await;
    let sink = open(config(server, &bucket, json!({"batch_size": 10}))).await;
    let payloads: Vec<Payload> = (0..30u64)
        .map(|i| match i {
            3 | 17 => Payload::Raw(b"{not json".to_vec()),
            25 => Payload::Raw(vec![0xff, 0xfe]),
            _ => Payload::Json(json!({"i": i, "s": format!("v{i}")})),
        })
        .collect();
    let rejected = sink
        .consume(
            &topic("s", "t"),
            meta(0, Schema::Json),
            messages(0, payloads),
        )
        .await
        .unwrap();
    assert_eq!(
        rejected.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [3, 17, 25]
    );
    assert!(
        rejected[0].reason.contains("not JSON"),
        "{}",
        rejected[0].reason
    );

    let points = points(server, &bucket, "iggy_messages").await;
    assert_eq!(points.len(), 27);
    for point in &points {
        let offset: u64 = point["offset"].parse().unwrap();
        let payload: serde_json::Value = serde_json::from_str(&point["payload_json"]).unwrap();
        assert_eq!(payload, json!({"i": offset, "s": format!("v{offset}")}));
    }
    assert_eq!(sink.counters(), (27, 3, 0));
}

#[tokio::test]
async fn given_point_the_server_refuses_when_consumed_should_isolate_it_and_store_the_rest() {
    let server = TestServer::shared("sink");
    let bucket = database(server).await;
    // A 2001 shard where `offset` is a string: a point landing there is refused (type conflict).
    server
        .write(
            &bucket,
            "iggy_messages,partition=0,stream=s,topic=t offset=\"text\" 978307200000000000",
        )
        .await;
    let sink = open(config(server, &bucket, json!({"batch_size": 8}))).await;
    let mut batch = messages(0, json_payloads(0..20));
    batch[13].timestamp = 978_307_200_000_000;
    let rejected = sink
        .consume(&topic("s", "t"), meta(0, Schema::Json), batch)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].offset, 13);
    assert!(
        rejected[0].reason.contains("conflict"),
        "{}",
        rejected[0].reason
    );
    // Counted on the string field only: Flux cannot pivot `offset`, string in one shard and
    // integer in the other.
    let query = format!(
        "from(bucket: {bucket:?}) |> range(start: 0) |> filter(fn: (r) => r._field == \"payload_json\") \
         |> group() |> count()"
    );
    let blocks = server.flux(&query).await;
    let stored: u64 = blocks[0].rows[0][blocks[0].index_of("_value").unwrap()]
        .parse()
        .unwrap();
    assert_eq!(stored, 19);
}

#[tokio::test]
async fn given_many_messages_in_one_partition_when_written_should_make_one_series() {
    let server = TestServer::shared("sink");
    let bucket = database(server).await;
    let sink = open(config(server, &bucket, json!({"batch_size": 250}))).await;
    // 1000 messages sharing one Iggy timestamp (one appended batch), then a replay of them.
    for _ in 0..2 {
        let rejected = sink
            .consume(
                &topic("s", "t"),
                meta(0, Schema::Json),
                messages(0, json_payloads(0..1000)),
            )
            .await
            .unwrap();
        assert!(rejected.is_empty());
    }
    assert_eq!(series_count(server, &bucket, "iggy_messages").await, 1);
    let points = points(server, &bucket, "iggy_messages").await;
    assert_eq!(points.len(), 1000, "a replay overwrites the same points");
}

#[tokio::test]
async fn given_precisions_when_written_should_keep_time_at_precision_and_points_apart() {
    let server = TestServer::shared("sink");
    let bucket = database(server).await;
    let sink = open(config(
        server,
        &bucket,
        json!({"precision": "s", "measurement": "secs"}),
    ))
    .await;
    let mut batch = messages(0, json_payloads(0..5));
    for (i, m) in batch.iter_mut().enumerate() {
        m.timestamp = 1_700_000_000_000_000 + i as u64 * 1_000; // 1 ms apart, same second
    }
    sink.consume(&topic("s", "t"), meta(0, Schema::Json), batch)
        .await
        .unwrap();
    let points = points(server, &bucket, "secs").await;
    assert_eq!(points.len(), 5);
    for p in &points {
        assert_eq!(p["_time"], time_text(p["offset"].parse().unwrap()));
    }
}

#[tokio::test]
async fn given_bad_token_or_missing_bucket_when_opened_should_fail_naming_the_keys() {
    let server = TestServer::shared("sink");
    let bucket = database(server).await;
    for (extra, expected) in [
        (json!({"token": "iggy:wrong"}), "401"),
        (json!({"bucket": "no_such_db"}), "404"),
    ] {
        let config: InfluxDbSinkConfig =
            serde_json::from_value(config(server, &bucket, extra)).unwrap();
        let mut sink = InfluxDbSink::new(1, config);
        let error = sink.open().await.unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
        assert!(error.contains("plugin_config.token"), "{error}");
    }
    let config: InfluxDbSinkConfig =
        serde_json::from_value(config(server, &bucket, json!({"precision": "minutes"}))).unwrap();
    let error = InfluxDbSink::new(1, config)
        .open()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("plugin_config.precision"), "{error}");
}
