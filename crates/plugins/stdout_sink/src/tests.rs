use std::collections::BTreeMap;

use iggy_connectors_sdk::ffi::parse_config;
use iggy_connectors_sdk::{HeaderKey, HeaderValue, Payload, Schema};
use serde_json::json;

use super::*;

fn topic() -> TopicMetadata {
    TopicMetadata {
        stream: "s".into(),
        topic: "t".into(),
    }
}

fn meta() -> MessagesMetadata {
    MessagesMetadata {
        partition_id: 1,
        current_offset: 9,
        schema: Schema::Json,
    }
}

fn message(offset: u64, payload: Payload) -> ConsumedMessage {
    ConsumedMessage {
        id: 255,
        offset,
        checksum: 7,
        timestamp: 1_000,
        origin_timestamp: 999,
        headers: None,
        payload,
    }
}

#[test]
fn given_null_or_upstream_config_should_parse() {
    let config: StdoutSinkConfig = parse_config(b"null").unwrap();
    assert!(!config.print_payload && !config.print_metadata);
    let config: StdoutSinkConfig = parse_config(br#"{"print_payload":true}"#).unwrap();
    assert!(config.print_payload && !config.print_metadata);
}

#[test]
fn given_print_payload_should_render_one_line_per_message_and_a_summary() {
    let config = StdoutSinkConfig {
        print_payload: true,
        print_metadata: false,
    };
    let messages = [
        message(8, Payload::Json(json!({"b": 1, "a": "x"}))),
        message(9, Payload::Text("two\nlines".into())),
        message(10, Payload::Raw(vec![0xFF, 0x00])),
    ];
    let text = render_batch(2, config, &topic(), &meta(), &messages, 3);
    assert_eq!(
        text,
        "[s/t p1 #8] {\"b\":1,\"a\":\"x\"}\n\
         [s/t p1 #9] two\\nlines\n\
         [s/t p1 #10] 0xff00\n\
         stdout_sink (id 2): 3 messages from s/t p1 (schema json, offset 9, batch #3)\n"
    );
}

#[test]
fn given_defaults_should_print_only_the_summary() {
    let messages = [message(8, Payload::Json(json!(1)))];
    let text = render_batch(
        2,
        StdoutSinkConfig::default(),
        &topic(),
        &meta(),
        &messages,
        1,
    );
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("stdout_sink (id 2): 1 messages from s/t p1"));
}

#[test]
fn given_print_metadata_should_render_ids_timestamps_and_headers() {
    let mut headers = BTreeMap::new();
    headers.insert(
        HeaderKey::try_from("k").unwrap(),
        HeaderValue::try_from("v").unwrap(),
    );
    let mut with_headers = message(8, Payload::Json(json!(1)));
    with_headers.headers = Some(headers);
    let config = StdoutSinkConfig {
        print_payload: false,
        print_metadata: true,
    };
    let text = render_batch(2, config, &topic(), &meta(), &[with_headers], 1);
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        "[s/t p1 #8] id=000000000000000000000000000000ff timestamp=1000 origin_timestamp=999 checksum=7 headers={k=v}"
    );
}

#[test]
fn given_consume_should_count_batches_and_messages() {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let mut sink = StdoutSink::new(1, StdoutSinkConfig::default());
            sink.open().await.unwrap();
            let messages = vec![message(1, Payload::Json(json!(1))); 4];
            sink.consume(&topic(), meta(), messages).await.unwrap();
            sink.consume(&topic(), meta(), Vec::new()).await.unwrap();
            assert_eq!(sink.batches.load(Ordering::Relaxed), 2);
            assert_eq!(sink.messages.load(Ordering::Relaxed), 4);
            sink.close().await.unwrap();
        });
}
