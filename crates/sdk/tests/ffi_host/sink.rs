//! The stdout sink driven through `iggy_sink_*`.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::process::Command;
use std::time::Duration;

use iggy_connectors_sdk::{
    HeaderKey, HeaderValue, MessagesMetadata, RawMessage, RawMessages, Schema, TopicMetadata,
};

use crate::harness::*;

const STDOUT: &str = "iggy_connector_stdout_sink";
const WAIT: Duration = Duration::from_secs(10);

fn message(offset: u64, payload: &[u8], headers: Vec<u8>) -> RawMessage {
    RawMessage {
        id: u128::from(offset),
        offset,
        checksum: 0,
        timestamp: 1_700_000_000_000_000,
        origin_timestamp: 1_700_000_000_000_000,
        headers,
        payload: payload.to_vec(),
    }
}

fn batch(messages: Vec<RawMessage>) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let topic = TopicMetadata {
        stream: "qs".into(),
        topic: "orders".into(),
    };
    let meta = MessagesMetadata {
        partition_id: 3,
        current_offset: 12,
        schema: Schema::Json,
    };
    let raw = RawMessages {
        schema: Schema::Json,
        messages,
    };
    (
        postcard::to_allocvec(&topic).unwrap(),
        postcard::to_allocvec(&meta).unwrap(),
        postcard::to_allocvec(&raw).unwrap(),
    )
}

#[test]
fn given_open_consume_close_should_return_codes_and_log_the_batch() {
    let api = SinkApi::load(STDOUT);
    let id = 201;
    assert_eq!(api.open(id, r#"{"print_payload":false}"#), 0);
    let mut headers = BTreeMap::new();
    headers.insert(
        HeaderKey::try_from("k").unwrap(),
        HeaderValue::try_from("v").unwrap(),
    );
    let headers = postcard::to_allocvec(&headers).unwrap();
    let (topic, meta, messages) = batch(vec![
        message(10, br#"{"n":1}"#, headers),
        message(11, b"{not json", Vec::new()),
        message(12, br#"{"n":3}"#, Vec::new()),
    ]);
    // The 0.4.0 consume cannot report the undecodable message, so the batch fails (the two
    // others are stored); `iggy_sink_consume_v2` reports it instead (engine tests).
    assert_eq!(api.consume(id, &topic, &meta, &messages), 1);
    let line = wait_for_log(
        "stdout sink (id 201) received 2 messages, schema json, stream qs, topic orders, partition 3, offset 12, batch #1",
        WAIT,
    );
    assert_eq!(line.target, STDOUT);
    let rejected = wait_for_log(
        "(id 201): qs/orders partition 3: 1 message(s) rejected; first: offset 11: undecodable payload: cannot decode json payload",
        WAIT,
    );
    assert_eq!(rejected.level, 4);
    assert!(rejected.message.contains("cannot dead-letter them"));

    assert_eq!(api.consume(id, b"\xff", &meta, &messages), -1);
    wait_for_log("(id 201): iggy_sink_consume: bad TopicMetadata", WAIT);
    assert_eq!(api.consume(299, &topic, &meta, &messages), -1);
    wait_for_log("(id 299): iggy_sink_consume: unknown id", WAIT);
    assert_eq!(api.open(id, "{}"), -1, "duplicate id");
    assert_eq!((api.close)(id), 0);
    assert_eq!(api.consume(id, &topic, &meta, &messages), -1, "closed");
    assert_eq!((api.close)(id), -1);
    wait_for_log(
        "stdout sink (id 201) closed after 2 messages in 1 batches",
        WAIT,
    );

    assert_eq!(api.open(202, r#"{"print_payload":"yes"}"#), -1);
    wait_for_log(
        "(id 202): iggy_sink_open: invalid plugin_config: invalid type: string \"yes\", expected a boolean",
        WAIT,
    );
    assert_eq!(api.open(203, "null"), 0, "no [plugin_config] → defaults");
    assert_eq!((api.close)(203), 0);

    let version: extern "C" fn() -> *const std::ffi::c_char = symbol(STDOUT, "iggy_sink_version");
    // SAFETY: a static NUL-terminated string.
    assert_eq!(
        unsafe { CStr::from_ptr(version()) }.to_str().unwrap(),
        env!("CARGO_PKG_VERSION")
    );
}

/// The sink writes to the process's real stdout (fd 1), which the test harness cannot
/// capture, so the parent re-runs this test in a child process and reads its stdout.
#[test]
fn given_print_payload_should_write_grepable_lines_to_process_stdout() {
    if std::env::var_os("IGGY_SDK_STDOUT_CHILD").is_some() {
        let api = SinkApi::load(STDOUT);
        assert_eq!(api.open(210, r#"{"print_payload":true}"#), 0);
        let (topic, meta, messages) = batch(vec![
            message(10, br#"{"n":1,"s":"a b"}"#, Vec::new()),
            message(11, br#""text""#, Vec::new()),
        ]);
        assert_eq!(api.consume(210, &topic, &meta, &messages), 0);
        assert_eq!((api.close)(210), 0);
        return;
    }
    library(STDOUT); // build the plugins before the child needs them
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "sink::given_print_payload_should_write_grepable_lines_to_process_stdout",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IGGY_SDK_STDOUT_CHILD", "1")
        .env("IGGY_SDK_PLUGINS_BUILT", "1")
        .output()
        .expect("run child test");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // libtest prints "test <name> ... " without a newline before the test's own output.
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|line| {
            let start = line.find("[qs/").or_else(|| line.find("stdout_sink (id"))?;
            Some(&line[start..])
        })
        .collect();
    assert_eq!(
        lines,
        [
            r#"[qs/orders p3 #10] {"n":1,"s":"a b"}"#,
            r#"[qs/orders p3 #11] "text""#,
            "stdout_sink (id 210): 2 messages from qs/orders p3 (schema json, offset 12, batch #1)",
        ],
        "child stdout:\n{stdout}"
    );
}
