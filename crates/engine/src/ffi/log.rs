//! The plugin log callback.
//!
//! `LogCallback` carries no plugin id, and the plugin SDK installs its subscriber once per
//! library (the first open wins), so the finest attribution possible is per library. Each
//! loaded library gets a slot; each slot has its own monomorphised callback, which looks up
//! the connector key(s) currently using that library and the engine's log bus.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, RwLock};

use super::{LogCallback, plugin_bytes};
use crate::logs::{LogBus, LogLevel};

const SLOTS: usize = 64;

#[derive(Default, Clone)]
struct Slot {
    keys: Vec<String>,
    bus: Option<LogBus>,
}

static SLOT_TABLE: LazyLock<RwLock<Vec<Slot>>> =
    LazyLock::new(|| RwLock::new(vec![Slot::default(); SLOTS]));
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// A slot for a newly loaded library. Past 64 libraries, slots are shared (logs then carry
/// every key of the shared slot).
pub fn allocate_slot() -> usize {
    NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS
}

/// Registers `key` as a user of `slot`, logging to `bus`. The most recent registration's bus
/// wins: when a later engine in the same process starts a connector on this library, the
/// library's log lines follow it.
pub fn attach(slot: usize, key: &str, bus: &LogBus) {
    let mut table = SLOT_TABLE.write().unwrap_or_else(|p| p.into_inner());
    let entry = &mut table[slot % SLOTS];
    if !entry.keys.iter().any(|k| k == key) {
        entry.keys.push(key.to_owned());
    }
    entry.bus = Some(bus.clone());
}

/// `key` stopped using `slot`: its name leaves the tag of the library's log lines.
pub fn detach(slot: usize, key: &str) {
    let mut table = SLOT_TABLE.write().unwrap_or_else(|p| p.into_inner());
    table[slot % SLOTS].keys.retain(|k| k != key);
}

extern "C" fn log_callback<const SLOT: usize>(
    level: u8,
    target_ptr: *const u8,
    target_len: usize,
    message_ptr: *const u8,
    message_len: usize,
) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the ABI guarantees both buffers are valid during the callback.
        let (target, message) = unsafe {
            (
                plugin_bytes(target_ptr, target_len),
                plugin_bytes(message_ptr, message_len),
            )
        };
        let target = std::str::from_utf8(target).unwrap_or("connector");
        let message = std::str::from_utf8(message).unwrap_or("<invalid utf8>");
        let table = SLOT_TABLE.read().unwrap_or_else(|p| p.into_inner());
        let slot = &table[SLOT];
        if let Some(bus) = &slot.bus {
            let key = slot.keys.join(",");
            let key = (!key.is_empty()).then_some(key.as_str());
            bus.emit(LogLevel::from_u8(level), key, target, message.to_owned());
        }
    });
}

macro_rules! callbacks {
    ($($n:literal)*) => { [$(log_callback::<$n> as LogCallback),*] };
}

static CALLBACKS: [LogCallback; SLOTS] = callbacks!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

/// The callback to pass to `*_open` for a library in `slot`.
pub fn callback(slot: usize) -> LogCallback {
    CALLBACKS[slot % SLOTS]
}
