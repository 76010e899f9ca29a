//! Engine test source, written against the raw C ABI (no SDK macros) so the engine's side of
//! the ABI is tested on its own.
//!
//! Emits messages `{"seq": n, ...}` in batches, numbered from the saved state (`u64` LE, the
//! next sequence number). Speaks the batch-result ABI: it waits for each batch's Ack before
//! moving on, and re-sends the same batch after a Nack. Config (JSON, all optional):
//! `total` (stop after this many, default unlimited), `batch_size` (default 10),
//! `interval_ms` (pause between batches, default 0), `malformed_every` (every k-th message is
//! not valid JSON, default never), `empty_every` (every k-th message has an empty payload,
//! which Iggy refuses; default never), `reject_every` (every k-th message is marked with
//! `ProducedMessage::rejected`, reason `cannot parse record <seq>`; default never), `schema`
//! (default "json").
#![deny(clippy::all)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use iggy_connectors_sdk::{ConnectorState, ProducedMessage, ProducedMessages, Schema};
use serde::Deserialize;

type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);
type SendCallbackV2 = extern "C" fn(u32, u64, *const u8, usize) -> i32;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Config {
    total: Option<u64>,
    batch_size: Option<u64>,
    interval_ms: Option<u64>,
    malformed_every: Option<u64>,
    empty_every: Option<u64>,
    reject_every: Option<u64>,
    schema: Option<Schema>,
}

#[derive(Default)]
struct Results {
    /// (batch id, 0 = Ack / 1 = Nack)
    last: Option<(u64, u8)>,
}

struct Instance {
    config: Config,
    next_seq: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    results: Arc<(Mutex<Results>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

static INSTANCES: LazyLock<Mutex<HashMap<u32, Instance>>> = LazyLock::new(Default::default);

fn log(cb: LogCallback, message: &str) {
    let target = "engine_test_source";
    cb(
        2,
        target.as_ptr(),
        target.len(),
        message.as_ptr(),
        message.len(),
    );
}

fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the host guarantees the buffer for the duration of the call.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_connector_abi_version() -> u32 {
    1 << 16
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_version() -> *const std::ffi::c_char {
    c"0.1.0-engine-test".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_open(
    id: u32,
    config_ptr: *const u8,
    config_len: usize,
    state_ptr: *const u8,
    state_len: usize,
    log_cb: LogCallback,
) -> i32 {
    std::panic::catch_unwind(|| {
        let text = bytes(config_ptr, config_len);
        let config: Config = match serde_json::from_slice::<Option<Config>>(text) {
            Ok(config) => config.unwrap_or_default(),
            Err(_) => return -1,
        };
        let state = bytes(state_ptr, state_len);
        let next = if state.len() == 8 {
            u64::from_le_bytes(state.try_into().unwrap_or([0; 8]))
        } else {
            0
        };
        log(log_cb, &format!("opened instance {id}, next seq {next}"));
        INSTANCES.lock().unwrap().insert(
            id,
            Instance {
                config,
                next_seq: Arc::new(Mutex::new(next)),
                stop: Arc::new(AtomicBool::new(false)),
                results: Arc::new((Mutex::new(Results::default()), Condvar::new())),
                thread: None,
            },
        );
        0
    })
    .unwrap_or(1)
}

fn batch(config: &Config, from: u64, count: u64) -> Vec<u8> {
    let schema = config.schema.unwrap_or(Schema::Json);
    let messages = (from..from + count)
        .map(|seq| {
            let malformed = config
                .malformed_every
                .is_some_and(|k| k > 0 && (seq + 1) % k == 0);
            let empty = config
                .empty_every
                .is_some_and(|k| k > 0 && (seq + 1) % k == 0);
            let payload = if empty {
                Vec::new()
            } else if malformed {
                format!("{{not json {seq}").into_bytes()
            } else {
                format!("{{\"seq\":{seq},\"source\":\"engine_test\"}}").into_bytes()
            };
            let rejected = config
                .reject_every
                .is_some_and(|k| k > 0 && (seq + 1) % k == 0);
            if rejected {
                let reason = format!("cannot parse record {seq}");
                return ProducedMessage::rejected(Some(seq as u128 + 1), payload, &reason);
            }
            ProducedMessage {
                id: Some(seq as u128 + 1),
                checksum: None,
                timestamp: None,
                origin_timestamp: None,
                headers: None,
                payload,
            }
        })
        .collect();
    let produced = ProducedMessages {
        schema,
        messages,
        state: Some(ConnectorState((from + count).to_le_bytes().to_vec())),
    };
    postcard::to_allocvec(&produced).expect("batch encodes")
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_handle_v2(id: u32, send: SendCallbackV2) -> i32 {
    std::panic::catch_unwind(|| {
        let mut instances = INSTANCES.lock().unwrap();
        let Some(instance) = instances.get_mut(&id) else {
            return -1;
        };
        let config = instance.config.clone();
        let next_seq = instance.next_seq.clone();
        let stop = instance.stop.clone();
        let results = instance.results.clone();
        instance.thread = Some(std::thread::spawn(move || {
            let batch_size = config.batch_size.unwrap_or(10).max(1);
            let mut batch_id = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let from = *next_seq.lock().unwrap();
                let count = match config.total {
                    Some(total) if from >= total => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    Some(total) => batch_size.min(total - from),
                    None => batch_size,
                };
                let buffer = batch(&config, from, count);
                batch_id += 1;
                let (lock, cvar) = &*results;
                lock.lock().unwrap().last = None;
                if send(id, batch_id, buffer.as_ptr(), buffer.len()) != 0 {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                drop(buffer);
                let guard = lock.lock().unwrap();
                let (guard, _) = cvar
                    .wait_timeout_while(guard, Duration::from_secs(30), |r| {
                        r.last.is_none_or(|(b, _)| b != batch_id)
                    })
                    .unwrap();
                match guard.last {
                    Some((_, 0)) => *next_seq.lock().unwrap() = from + count,
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
                drop(guard);
                if let Some(ms) = config.interval_ms.filter(|ms| *ms > 0) {
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
        }));
        0
    })
    .unwrap_or(-1)
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_batch_result(id: u32, batch_id: u64, result: u8) -> i32 {
    std::panic::catch_unwind(|| {
        let results = match INSTANCES.lock().unwrap().get(&id) {
            Some(instance) => instance.results.clone(),
            None => return -1,
        };
        let (lock, cvar) = &*results;
        lock.lock().unwrap().last = Some((batch_id, result));
        cvar.notify_all();
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
        instance.results.1.notify_all();
        if let Some(thread) = instance.thread.take() {
            let _ = thread.join();
        }
        0
    })
    .unwrap_or(-1)
}
