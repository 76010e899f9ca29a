//! The C ABI shared with plugins (Apache Iggy connectors 0.4.0 + batch results), and the
//! callbacks the engine hands to them. Every callback catches panics: unwinding out of an
//! `extern "C"` function aborts the process, and here that process is Node.

pub mod log;
pub mod sink;
pub mod source;

use std::ffi::c_char;
use std::sync::atomic::{AtomicU32, Ordering};

pub type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);
pub type SendCallback = extern "C" fn(u32, *const u8, usize);
pub type SendCallbackV2 = extern "C" fn(u32, u64, *const u8, usize) -> i32;

pub type SourceOpenFn =
    unsafe extern "C" fn(u32, *const u8, usize, *const u8, usize, LogCallback) -> i32;
pub type SourceHandleFn = unsafe extern "C" fn(u32, SendCallback) -> i32;
pub type SourceHandleV2Fn = unsafe extern "C" fn(u32, SendCallbackV2) -> i32;
pub type SourceBatchResultFn = unsafe extern "C" fn(u32, u64, u8) -> i32;
pub type SinkOpenFn = unsafe extern "C" fn(u32, *const u8, usize, LogCallback) -> i32;
pub type SinkConsumeFn =
    unsafe extern "C" fn(u32, *const u8, usize, *const u8, usize, *const u8, usize) -> i32;
/// `(context, offset, reason ptr, reason len)`, see [`sink::reject_callback`].
pub type RejectCallback = extern "C" fn(*mut std::ffi::c_void, u64, *const u8, usize);
/// `iggy_sink_consume_v2` (ABI 1.1, optional): `iggy_sink_consume` + a reject callback and
/// its context.
pub type SinkConsumeV2Fn = unsafe extern "C" fn(
    u32,
    *const u8,
    usize,
    *const u8,
    usize,
    *const u8,
    usize,
    RejectCallback,
    *mut std::ffi::c_void,
) -> i32;
pub type CloseFn = unsafe extern "C" fn(u32) -> i32;
pub type VersionFn = unsafe extern "C" fn() -> *const c_char;
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
/// `iggy_connector_config_schema` (optional, ours): the plugin config's JSON Schema as a static
/// NUL-terminated string, or null when the plugin has none.
pub type ConfigSchemaFn = unsafe extern "C" fn() -> *const c_char;

/// Every symbol of the ABI, reported by `inspectPlugin`.
pub const ALL_SYMBOLS: [&str; 13] = [
    "iggy_connector_abi_version",
    "iggy_connector_config_schema",
    "iggy_source_open",
    "iggy_source_handle",
    "iggy_source_handle_v2",
    "iggy_source_batch_result",
    "iggy_source_close",
    "iggy_source_version",
    "iggy_sink_open",
    "iggy_sink_consume",
    "iggy_sink_consume_v2",
    "iggy_sink_close",
    "iggy_sink_version",
];

static NEXT_PLUGIN_ID: AtomicU32 = AtomicU32::new(1);

/// A fresh plugin id: one global counter for sources and sinks, a new id on every (re)start,
/// never reused (as upstream).
pub fn next_plugin_id() -> u32 {
    NEXT_PLUGIN_ID.fetch_add(1, Ordering::Relaxed)
}

/// Borrows a plugin buffer for the duration of a callback; null → empty.
///
/// # Safety
/// `ptr` must be null or readable for `len` bytes while the slice is used.
pub(crate) unsafe fn plugin_bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller (the ABI: valid during the callback).
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}
