//! Plugins that panic in every entry point: the host gets an error code and a log line,
//! and keeps running.

use std::time::Duration;

use crate::harness::*;

const SOURCE: &str = "iggy_connector_panicking_source";
const SINK: &str = "iggy_connector_panicking_sink";
const WAIT: Duration = Duration::from_secs(10);

fn config(entry: &str) -> String {
    format!(r#"{{"panic_in":"{entry}"}}"#)
}

#[test]
fn given_source_panicking_in_new_or_open_should_fail_open_and_free_the_id() {
    let api = SourceApi::load(SOURCE);
    assert_eq!(api.open(301, &config("new"), None), 1);
    wait_for_log(
        "(id 301): iggy_source_open: new() panicked: panicking source 301: panic in new",
        WAIT,
    );
    assert_eq!(api.open(301, "null", None), 0, "the id is free again");
    assert_eq!((api.close)(301), 0);

    assert_eq!(api.open(302, &config("open"), None), 1);
    wait_for_log(
        "(id 302): iggy_source_open: open() panicked: panicking source: panic in open",
        WAIT,
    );
    let hook = wait_for_log(
        "panic at crates/test_plugins/panicking_source/src/lib.rs",
        WAIT,
    );
    assert_eq!(hook.level, 4);
    assert_eq!(hook.target, SOURCE);
    assert_eq!((api.close)(302), -1, "no instance after a failed open");
}

#[test]
fn given_source_panicking_in_poll_should_log_and_keep_the_loop_closable() {
    let api = SourceApi::load(SOURCE);
    assert_eq!(api.open(303, &config("poll"), None), 0);
    assert_eq!((api.handle_v2)(303, Some(send_v2)), 0);
    wait_for_log(
        "(id 303): poll() panicked (#1): panicking source: panic in poll",
        WAIT,
    );
    wait_for_log("(id 303): poll() panicked (#2)", WAIT);
    assert_eq!(batch_count(303), 0);
    assert_eq!((api.close)(303), 0);
}

#[test]
fn given_source_panicking_in_on_batch_result_or_close_should_report_it() {
    let api = SourceApi::load(SOURCE);
    assert_eq!(api.open(304, &config("on_batch_result"), None), 0);
    assert_eq!((api.handle_v2)(304, Some(send_v2)), 0);
    wait_for_batches(304, 1, WAIT);
    assert_eq!((api.batch_result)(304, 1, 0), 0);
    wait_for_log("(id 304): on_batch_result(Ack) panicked", WAIT);
    wait_for_batches(304, 2, WAIT); // the loop goes on
    assert_eq!((api.close)(304), 0);

    assert_eq!(api.open(305, &config("close"), None), 0);
    assert_eq!((api.handle)(305, Some(send_legacy)), 0);
    wait_for_batches(305, 1, WAIT);
    assert_eq!((api.close)(305), 1);
    wait_for_log(
        "(id 305): iggy_source_close: close() panicked: panicking source: panic in close",
        WAIT,
    );
    assert_eq!((api.close)(305), -1, "removed despite the panic");
}

#[test]
fn given_sink_panicking_in_each_entry_point_should_return_error_codes() {
    let api = SinkApi::load(SINK);
    assert_eq!(api.open(311, &config("new")), 1);
    wait_for_log("(id 311): iggy_sink_open: new() panicked", WAIT);
    assert_eq!(api.open(312, &config("open")), 1);
    wait_for_log("(id 312): iggy_sink_open: open() panicked", WAIT);

    assert_eq!(api.open(313, &config("consume")), 0);
    let topic = postcard::to_allocvec(&iggy_connectors_sdk::TopicMetadata {
        stream: "s".into(),
        topic: "t".into(),
    })
    .unwrap();
    let meta = [0x01, 0x00, 0x01]; // partition 1, offset 0, raw
    let messages = [0x01, 0x00]; // raw, no messages
    assert_eq!(api.consume(313, &topic, &meta, &messages), 1);
    wait_for_log(
        "(id 313): iggy_sink_consume: consume() panicked: panicking sink: panic in consume",
        WAIT,
    );
    assert_eq!(
        api.consume(313, &topic, &meta, &messages),
        1,
        "still callable"
    );
    assert_eq!((api.close)(313), 0);

    assert_eq!(api.open(314, &config("close")), 0);
    assert_eq!((api.close)(314), 1);
    wait_for_log("(id 314): iggy_sink_close: close() panicked", WAIT);
    assert_eq!((api.close)(314), -1);
}
