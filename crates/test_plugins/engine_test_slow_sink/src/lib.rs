//! Test plugin, raw C ABI: a sink that accepts every batch and whose `iggy_sink_close` blocks
//! for `close_ms` (plugin_config). It makes a graceful stop last long enough for a test to send
//! the second signal that must force the exit.
#![deny(clippy::all)]

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use serde::Deserialize;

type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);

#[derive(Deserialize, Default)]
#[serde(default)]
struct Config {
    close_ms: u64,
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

fn log(cb: LogCallback, level: u8, message: &str) {
    let target = "engine_test_slow_sink";
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
        let text = if text.is_empty() { &b"null"[..] } else { text };
        let Ok(config) = serde_json::from_slice::<Option<Config>>(text) else {
            return -1;
        };
        let config = config.unwrap_or_default();
        log(
            log_cb,
            2,
            &format!("slow sink {id} opened, close takes {} ms", config.close_ms),
        );
        INSTANCES.lock().unwrap().insert(id, config);
        0
    })
    .unwrap_or(1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_consume(
    id: u32,
    _topic_ptr: *const u8,
    _topic_len: usize,
    _meta_ptr: *const u8,
    _meta_len: usize,
    _messages_ptr: *const u8,
    _messages_len: usize,
) -> i32 {
    if INSTANCES
        .lock()
        .map(|i| i.contains_key(&id))
        .unwrap_or(false)
    {
        0
    } else {
        -1
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_sink_close(id: u32) -> i32 {
    let close_ms = match INSTANCES.lock() {
        Ok(mut instances) => match instances.remove(&id) {
            Some(config) => config.close_ms,
            None => return -1,
        },
        Err(_) => return -1,
    };
    std::thread::sleep(Duration::from_millis(close_ms));
    0
}
