//! Engine test sink, written against the raw C ABI (no SDK macros).
//!
//! Appends one line per received message to the file named by `output` in its config:
//! `<stream>\t<topic>\t<partition>\t<offset>\t<id>\t<payload as UTF-8>` (without `output` it
//! accepts every batch and records nothing). Its first `fail_first` consume calls return 1
//! (without recording anything), so tests can check the engine retries the same batch and never
//! advances the offset on failure. `iggy_sink_close` blocks for `close_ms`: a graceful stop then
//! lasts long enough for a test to send the second signal that must force the exit.
#![deny(clippy::all)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use iggy_connectors_sdk::{MessagesMetadata, RawMessages, TopicMetadata};
use serde::Deserialize;

type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);

#[derive(Deserialize, Default)]
#[serde(default)]
struct Config {
    output: Option<String>,
    fail_first: u64,
    close_ms: u64,
}

struct Instance {
    config: Config,
    calls: u64,
    log: LogCallback,
}

static INSTANCES: LazyLock<Mutex<HashMap<u32, Instance>>> = LazyLock::new(Default::default);

fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the host guarantees the buffer for the duration of the call.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

fn log(cb: LogCallback, level: u8, message: &str) {
    let target = "engine_test_sink";
    cb(
        level,
        target.as_ptr(),
        target.len(),
        message.as_ptr(),
        message.len(),
    );
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_connector_abi_version() -> u32 {
    1 << 16
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_version() -> *const std::ffi::c_char {
    c"0.1.0-engine-test".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_open(
    id: u32,
    config_ptr: *const u8,
    config_len: usize,
    log_cb: LogCallback,
) -> i32 {
    std::panic::catch_unwind(|| {
        let text = bytes(config_ptr, config_len);
        // No [plugin_config] arrives as "null" or nothing: all defaults.
        let text = if text.is_empty() { &b"null"[..] } else { text };
        let config = match serde_json::from_slice::<Option<Config>>(text) {
            Ok(config) => config.unwrap_or_default(),
            Err(error) => {
                log(log_cb, 4, &format!("bad config: {error}"));
                return -1;
            }
        };
        log(
            log_cb,
            2,
            &format!(
                "opened instance {id}, output {:?}, close takes {} ms",
                config.output, config.close_ms
            ),
        );
        INSTANCES.lock().unwrap().insert(
            id,
            Instance {
                config,
                calls: 0,
                log: log_cb,
            },
        );
        0
    })
    .unwrap_or(1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_consume(
    id: u32,
    topic_ptr: *const u8,
    topic_len: usize,
    meta_ptr: *const u8,
    meta_len: usize,
    messages_ptr: *const u8,
    messages_len: usize,
) -> i32 {
    std::panic::catch_unwind(|| {
        let mut instances = INSTANCES.lock().unwrap();
        let Some(instance) = instances.get_mut(&id) else {
            return -1;
        };
        let (Ok(topic), Ok(meta), Ok(messages)) = (
            postcard::from_bytes::<TopicMetadata>(bytes(topic_ptr, topic_len)),
            postcard::from_bytes::<MessagesMetadata>(bytes(meta_ptr, meta_len)),
            postcard::from_bytes::<RawMessages>(bytes(messages_ptr, messages_len)),
        ) else {
            return -1;
        };
        instance.calls += 1;
        if instance.calls <= instance.config.fail_first {
            log(
                instance.log,
                3,
                &format!("failing consume call {} on purpose", instance.calls),
            );
            return 1;
        }
        let Some(output) = &instance.config.output else {
            return 0;
        };
        let mut out = String::new();
        for m in &messages.messages {
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                topic.stream,
                topic.topic,
                meta.partition_id,
                m.offset,
                m.id,
                String::from_utf8_lossy(&m.payload)
            ));
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(output)
            .and_then(|mut f| f.write_all(out.as_bytes()));
        if written.is_err() {
            return 1;
        }
        0
    })
    .unwrap_or(1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_close(id: u32) -> i32 {
    std::panic::catch_unwind(|| {
        // Taken out before sleeping: the lock is not held while close blocks.
        let Some(instance) = INSTANCES.lock().unwrap().remove(&id) else {
            return -1;
        };
        std::thread::sleep(Duration::from_millis(instance.config.close_ms));
        0
    })
    .unwrap_or(-1)
}
