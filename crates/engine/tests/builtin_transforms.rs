//! The built-in transforms' JSON path end to end (issue 17): payloads are edited on a shallowly
//! parsed object, so untouched values keep their bytes, non-objects take the full decode, and
//! an undecodable payload is still caught, counted and dead-lettered (the one parse is also
//! the decode check). Embedded broker, or `IGGY_TEST_SERVER=host:port`.

mod common;

use std::str::FromStr;
use std::time::Duration;

use common::*;
use iggy::prelude::*;
use iggy_connectors_engine::ConnectorKind;

const WAIT: Duration = Duration::from_secs(30);

/// Creates `stream`/`topic` (one partition) and sends `payloads` to it in one batch.
async fn fill(client: &IggyClient, stream: &str, topic: &str, payloads: &[&str]) {
    create_topics(client, stream, &[topic]).await;
    produce(client, stream, topic, payloads).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_builtin_transforms_on_a_sink_should_splice_objects_pass_others_and_dead_letter_bad_json()
 {
    let broker = Broker::start().await;
    let dir = temp_dir("builtin-json");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    let payloads = [
        r#"{"seq":0,"drop":1,"keep":"a"}"#,
        r#"{ "seq" : 1 , "nested" : {"a": [1, 2]}, "n": 1.50 }"#,
        r#"{"seq":2,"#,
        r#"{"seq":3,"s":"caf\u00e9","seq":3}"#,
        r#"[1, 2]"#,
    ];
    fill(&iggy, "bjson", "events", &payloads).await;
    let mut snk = sink("bjson", &output, 0, "bjson", "events");
    snk.transforms = vec![
        transform(
            "add_fields",
            serde_json::json!({"enabled": true, "fields": [{"key": "via", "value": {"static": "engine"}}]}),
        ),
        transform(
            "delete_fields",
            serde_json::json!({"enabled": true, "fields": ["drop"]}),
        ),
    ];
    snk.dead_letter = dead_letter("bjson-dlq", "failed");
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    engine.start().await.expect("starts");
    assert!(
        wait_for(WAIT, || {
            let stats = stats_of(&engine, ConnectorKind::Sink, "bjson");
            stats.messages_out + stats.dead_lettered >= 5
        })
        .await
    );
    let lines: Vec<(u64, String)> = read_lines(&output)
        .into_iter()
        .map(|l| (l.offset, l.payload))
        .collect();
    let expected = [
        (0, r#"{"seq":0,"keep":"a","via":"engine"}"#),
        // Untouched values keep their bytes; the top level is compact.
        (
            1,
            r#"{"seq":1,"nested":{"a": [1, 2]},"n":1.50,"via":"engine"}"#,
        ),
        // A repeated key keeps its first position and its last value, as serde_json does.
        (3, r#"{"seq":3,"s":"caf\u00e9","via":"engine"}"#),
        // Not an object: decoded and re-encoded in full, transforms leave it as it is.
        (4, "[1,2]"),
    ];
    let expected: Vec<(u64, String)> = expected
        .iter()
        .map(|(o, p)| (*o, (*p).to_owned()))
        .collect();
    assert_eq!(lines, expected);
    let stats = stats_of(&engine, ConnectorKind::Sink, "bjson");
    assert_eq!(
        (stats.messages_out, stats.dead_lettered, stats.decode_errors),
        (4, 1, 1)
    );
    engine.stop(Duration::from_secs(5)).await;

    let dlq = iggy
        .poll_messages(
            &id(&run_stream("bjson-dlq")),
            &id("failed"),
            Some(0),
            &Consumer::new(id("builtin-json-reader")),
            &PollingStrategy::offset(0),
            100,
            false,
        )
        .await
        .expect("poll")
        .messages;
    assert_eq!(dlq.len(), 1);
    assert_eq!(&dlq[0].payload[..], payloads[2].as_bytes());
    let headers = dlq[0].user_headers_map().unwrap().unwrap();
    let kind = headers
        .get(&HeaderKey::from_str("iggy-connectors-error-kind").unwrap())
        .and_then(|v| v.as_str().ok().map(str::to_owned));
    assert_eq!(kind.as_deref(), Some("decode"));
    broker.stop().await;
}
