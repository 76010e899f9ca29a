//! Test sink for the engine's scale-out tests (several runtime processes in one consumer
//! group), written against the raw C ABI so it does not follow SDK trait changes.
//!
//! Config: `output` (file) and optional `hold_file`. Each accepted batch appends one line per
//! message, `<partition>\t<offset>\t<payload>`, in a single write. While `hold_file` exists,
//! every consume fails (returns 1) after appending `<partition>\t<first>\t<last>` to
//! `<output>.held`: a sink stuck on a batch for as long as the test wants.
#![deny(clippy::all)]

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{LazyLock, Mutex};

use iggy_connectors_sdk::{MessagesMetadata, RawMessages};
use serde::Deserialize;

type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);

#[derive(Deserialize)]
struct Config {
    output: String,
    #[serde(default)]
    hold_file: Option<String>,
}

static INSTANCES: LazyLock<Mutex<HashMap<u32, Config>>> = LazyLock::new(Default::default);

fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the host guarantees the buffer for the duration of the call.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

fn append(path: &str, text: &str) -> bool {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .is_ok()
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_connector_abi_version() -> u32 {
    1 << 16
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_version() -> *const std::ffi::c_char {
    c"0.1.0-scaleout-test".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_open(
    id: u32,
    config_ptr: *const u8,
    config_len: usize,
    _log: LogCallback,
) -> i32 {
    std::panic::catch_unwind(|| {
        match serde_json::from_slice::<Config>(bytes(config_ptr, config_len)) {
            Ok(config) => {
                INSTANCES.lock().unwrap().insert(id, config);
                0
            }
            Err(_) => -1,
        }
    })
    .unwrap_or(1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_consume(
    id: u32,
    _topic_ptr: *const u8,
    _topic_len: usize,
    meta_ptr: *const u8,
    meta_len: usize,
    messages_ptr: *const u8,
    messages_len: usize,
) -> i32 {
    std::panic::catch_unwind(|| {
        let instances = INSTANCES.lock().unwrap();
        let Some(config) = instances.get(&id) else {
            return -1;
        };
        let (Ok(meta), Ok(messages)) = (
            postcard::from_bytes::<MessagesMetadata>(bytes(meta_ptr, meta_len)),
            postcard::from_bytes::<RawMessages>(bytes(messages_ptr, messages_len)),
        ) else {
            return -1;
        };
        let partition = meta.partition_id;
        if config
            .hold_file
            .as_deref()
            .is_some_and(|f| Path::new(f).exists())
        {
            let first = messages.messages.first().map_or(0, |m| m.offset);
            let last = messages.messages.last().map_or(0, |m| m.offset);
            let held = format!("{}.held", config.output);
            append(&held, &format!("{partition}\t{first}\t{last}\n"));
            return 1;
        }
        let mut out = String::new();
        for m in &messages.messages {
            let payload = String::from_utf8_lossy(&m.payload);
            out.push_str(&format!("{partition}\t{}\t{payload}\n", m.offset));
        }
        if append(&config.output, &out) { 0 } else { 1 }
    })
    .unwrap_or(1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_close(id: u32) -> i32 {
    std::panic::catch_unwind(|| match INSTANCES.lock().unwrap().remove(&id) {
        Some(_) => 0,
        None => -1,
    })
    .unwrap_or(-1)
}
