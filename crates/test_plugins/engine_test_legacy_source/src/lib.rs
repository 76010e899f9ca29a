//! Engine test source speaking the 0.4.0 ABI only: `iggy_source_handle` with a send callback
//! that returns nothing, no batch results. Emits `{"seq": n}` from the saved state (`u64` LE,
//! the next sequence number) in `batch_size` batches until `total`.
#![deny(clippy::all)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use iggy_connectors_sdk::{ConnectorState, ProducedMessage, ProducedMessages, Schema};
use serde::Deserialize;

type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);
type SendCallback = extern "C" fn(u32, *const u8, usize);

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(default)]
struct Config {
    total: u64,
    batch_size: u64,
}

struct Instance {
    config: Config,
    next: u64,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_version() -> *const std::ffi::c_char {
    c"0.1.0-engine-test-legacy".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_open(
    id: u32,
    config_ptr: *const u8,
    config_len: usize,
    state_ptr: *const u8,
    state_len: usize,
    _log: LogCallback,
) -> i32 {
    std::panic::catch_unwind(|| {
        let Ok(config) = serde_json::from_slice::<Config>(bytes(config_ptr, config_len)) else {
            return -1;
        };
        let state = bytes(state_ptr, state_len);
        let next = state.try_into().map(u64::from_le_bytes).unwrap_or(0);
        INSTANCES.lock().unwrap().insert(
            id,
            Instance {
                config,
                next,
                stop: Arc::new(AtomicBool::new(false)),
                thread: None,
            },
        );
        0
    })
    .unwrap_or(1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_handle(id: u32, send: SendCallback) -> i32 {
    std::panic::catch_unwind(|| {
        let mut instances = INSTANCES.lock().unwrap();
        let Some(instance) = instances.get_mut(&id) else {
            return -1;
        };
        let (config, mut next, stop) = (instance.config, instance.next, instance.stop.clone());
        instance.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if next >= config.total {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let count = config.batch_size.max(1).min(config.total - next);
                let messages = (next..next + count)
                    .map(|seq| ProducedMessage {
                        id: None,
                        checksum: None,
                        timestamp: None,
                        origin_timestamp: None,
                        headers: None,
                        payload: format!("{{\"seq\":{seq}}}").into_bytes(),
                    })
                    .collect();
                next += count;
                let batch = ProducedMessages {
                    schema: Schema::Json,
                    messages,
                    state: Some(ConnectorState(next.to_le_bytes().to_vec())),
                };
                let buffer = postcard::to_allocvec(&batch).expect("batch encodes");
                send(id, buffer.as_ptr(), buffer.len());
            }
        }));
        0
    })
    .unwrap_or(-1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_close(id: u32) -> i32 {
    std::panic::catch_unwind(|| {
        let Some(mut instance) = INSTANCES.lock().unwrap().remove(&id) else {
            return -1;
        };
        instance.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = instance.thread.take() {
            let _ = thread.join();
        }
        0
    })
    .unwrap_or(-1)
}
