//! The random source driven through `iggy_source_*`.

use std::ffi::CStr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

const RANDOM: &str = "iggy_connector_random_source";
const WAIT: Duration = Duration::from_secs(10);

fn state_of(received: &Received) -> Vec<u8> {
    received.batch.state.as_ref().expect("state").0.clone()
}

#[test]
fn given_v2_handle_when_batches_are_acked_should_commit_state_and_stop_at_max_count() {
    let api = SourceApi::load(RANDOM);
    let id = 101;
    let config = r#"{"interval":"0","messages_range":[2,3],"max_count":4}"#;
    assert_eq!(api.open(id, config, None), 0);
    assert_eq!((api.handle_v2)(id, Some(send_v2)), 0);

    let first = wait_for_batches(id, 1, WAIT);
    assert_eq!(first[0].batch_id, 1);
    assert_eq!(first[0].batch.messages.len(), 2);
    assert_eq!(state_of(&first[0]), [0x91, 0x02]);
    let payload: Value = serde_json::from_slice(&first[0].batch.messages[0].payload).unwrap();
    assert_eq!(payload["title"], "Hello");
    // Nothing more is sent while batch 1 is in flight.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(batch_count(id), 1, "one batch in flight at a time");

    assert_eq!((api.batch_result)(id, 1, 0), 0);
    let second = wait_for_batches(id, 2, WAIT);
    assert_eq!(second[1].batch_id, 2);
    assert_eq!(state_of(&second[1]), [0x91, 0x04]);
    assert_eq!((api.batch_result)(id, 2, 0), 0);

    // max_count reached: nothing else is produced.
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(batch_count(id), 2);
    assert_eq!((api.close)(id), 0);
    assert_eq!((api.close)(id), -1, "closing twice is an invalid call");

    let opened = wait_for_log("random source (id 101) opened", WAIT);
    assert_eq!(opened.level, 2);
    assert_eq!(opened.target, RANDOM, "tracing target is the module path");
    wait_for_log("random source (id 101) closed after 4 messages", WAIT);
}

#[test]
fn given_nack_should_back_off_and_reproduce_from_committed_count() {
    let api = SourceApi::load(RANDOM);
    let id = 102;
    assert_eq!(
        api.open(id, r#"{"interval":"0","messages_range":[2,3]}"#, None),
        0
    );
    assert_eq!((api.handle_v2)(id, Some(send_v2)), 0);
    let batches = wait_for_batches(id, 1, WAIT);
    assert_eq!(state_of(&batches[0]), [0x91, 0x02]);

    assert_eq!((api.batch_result)(id, 7, 0), -1, "batch 7 is not in flight");
    assert_eq!(
        (api.batch_result)(id, 1, 9),
        -1,
        "9 is neither Ack nor Nack"
    );
    wait_for_log(
        "(id 102): iggy_source_batch_result: batch 7 is not in flight",
        WAIT,
    );

    assert_eq!((api.batch_result)(id, 1, 1), 0); // Nack
    let batches = wait_for_batches(id, 2, WAIT);
    assert_eq!(batches[1].batch_id, 2);
    assert_eq!(
        state_of(&batches[1]),
        [0x91, 0x02],
        "re-produced, not advanced"
    );
    let gap = batches[1].at - batches[0].at;
    assert!(gap >= Duration::from_millis(100), "backed off only {gap:?}");
    let warn = wait_for_log("(id 102): batch 1 was not acknowledged (1 in a row)", WAIT);
    assert_eq!(warn.level, 3);

    assert_eq!((api.batch_result)(id, 2, 0), 0); // Ack
    let batches = wait_for_batches(id, 3, WAIT);
    assert_eq!(state_of(&batches[2]), [0x91, 0x04]);
    assert_eq!((api.close)(id), 0, "closing with batch 3 in flight");
}

#[test]
fn given_send_callback_refusal_should_count_as_nack_and_keep_retrying() {
    let api = SourceApi::load(RANDOM);
    let id = 103;
    refuse_batches(id, 5);
    assert_eq!(
        api.open(id, r#"{"interval":"0","messages_range":[1,2]}"#, None),
        0
    );
    assert_eq!((api.handle_v2)(id, Some(send_v2)), 0);
    // 100 ms then 200 ms of back-off: 3 attempts arrive within ~0.3 s, all at the same count.
    let batches = wait_for_batches(id, 3, WAIT);
    for received in &batches {
        assert_eq!(state_of(received), [0x91, 0x01]);
    }
    assert!(batches[2].at - batches[1].at >= Duration::from_millis(200));
    wait_for_log(
        "(id 103): the host refused batch 1 (send callback returned 5)",
        WAIT,
    );
    let started = Instant::now();
    assert_eq!((api.close)(id), 0);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "close interrupts the back-off"
    );
}

#[test]
fn given_legacy_handle_should_ack_each_batch_when_callback_returns() {
    let api = SourceApi::load(RANDOM);
    let id = 104;
    assert_eq!(
        api.open(id, r#"{"interval":"0","messages_range":[1,2]}"#, None),
        0
    );
    assert_eq!((api.handle)(id, Some(send_legacy)), 0);
    let batches = wait_for_batches(id, 3, WAIT);
    let states: Vec<_> = batches.iter().take(3).map(state_of).collect();
    assert_eq!(states, [[0x91, 0x01], [0x91, 0x02], [0x91, 0x03]]);
    assert_eq!((api.handle)(id, Some(send_legacy)), -1, "already running");
    assert_eq!((api.close)(id), 0);
}

#[test]
fn given_acked_state_when_source_restarts_should_resume_from_it() {
    let api = SourceApi::load(RANDOM);
    // One message per batch, five in all.
    let config = r#"{"interval":"0","messages_range":[1,2],"max_count":5}"#;
    let first = 105;
    assert_eq!(api.open(first, config, None), 0);
    assert_eq!((api.handle_v2)(first, Some(send_v2)), 0);
    assert_eq!(state_of(&wait_for_batches(first, 1, WAIT)[0]), [0x91, 0x01]);
    assert_eq!((api.batch_result)(first, 1, 0), 0);
    assert_eq!(state_of(&wait_for_batches(first, 2, WAIT)[1]), [0x91, 0x02]);
    assert_eq!((api.batch_result)(first, 2, 0), 0);
    // Batch 3 is in flight when the runtime stops: never acknowledged, so never saved.
    let batches = wait_for_batches(first, 3, WAIT);
    assert_eq!(state_of(&batches[2]), [0x91, 0x03]);
    assert_eq!((api.close)(first), 0);
    wait_for_log("random source (id 105) closed after 2 messages", WAIT);

    // The host saved the state of the last acknowledged batch and opens a new instance with it.
    let saved = state_of(&batches[1]);
    let second = 106;
    assert_eq!(api.open(second, config, Some(&saved)), 0);
    wait_for_log("2 messages so far", WAIT);
    assert_eq!((api.handle_v2)(second, Some(send_v2)), 0);
    let mut states = Vec::new();
    for n in 1..=3u64 {
        let batches = wait_for_batches(second, n as usize, WAIT);
        let received = &batches[n as usize - 1];
        assert_eq!(received.batch.messages.len(), 1);
        states.push(state_of(received));
        assert_eq!((api.batch_result)(second, n, 0), 0);
    }
    // The unacknowledged third message is produced again, then the count goes on to max_count.
    assert_eq!(states, [[0x91, 0x03], [0x91, 0x04], [0x91, 0x05]]);
    assert_eq!((api.close)(second), 0);
}

#[test]
fn given_invalid_calls_should_return_error_codes_and_log_the_cause() {
    let api = SourceApi::load(RANDOM);
    assert_eq!(api.open(110, r#"{"interval":"0"}"#, None), 0);
    assert_eq!(api.open(110, r#"{"interval":"0"}"#, None), -1);
    let line = wait_for_log("(id 110): iggy_source_open: id is already open", WAIT);
    assert!(line.message.starts_with(RANDOM), "{}", line.message);
    assert_eq!(line.level, 4);
    assert_eq!((api.close)(110), 0);

    assert_eq!(api.open(111, r#"{"interval": 5"#, None), -1);
    wait_for_log("(id 111): iggy_source_open: invalid plugin_config", WAIT);
    assert_eq!(api.open(112, r#"{"messages_range":[5,5]}"#, None), 1);
    wait_for_log(
        "(id 112): iggy_source_open: open() failed: invalid config: messages_range [5, 5] is empty",
        WAIT,
    );
    assert_eq!(
        (api.handle_v2)(112, Some(send_v2)),
        -1,
        "failed open leaves no instance"
    );
    assert_eq!((api.handle_v2)(113, None), -1);
    assert_eq!((api.handle)(114, Some(send_legacy)), -1);
    wait_for_log("(id 114): iggy_source_handle: unknown id", WAIT);
    assert_eq!((api.close)(115), -1);
    assert_eq!((api.batch_result)(116, 1, 0), -1);

    // A file without [plugin_config] passes JSON null: defaults apply.
    assert_eq!(api.open(117, "null", None), 0);
    assert_eq!((api.close)(117), 0);

    let version: extern "C" fn() -> *const std::ffi::c_char = symbol(RANDOM, "iggy_source_version");
    // SAFETY: a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    let abi: extern "C" fn() -> u32 = symbol(RANDOM, "iggy_connector_abi_version");
    assert_eq!(abi(), 0x0001_0001);
}
