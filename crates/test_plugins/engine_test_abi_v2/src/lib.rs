//! Test plugin: every source symbol, but `iggy_connector_abi_version` declares major 2 (a
//! future, incompatible plugin ABI). The engine must refuse it before calling anything else:
//! were `iggy_source_open` called, it would fail (-1) and the error would name that call.
#![deny(clippy::all)]

type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);
type SendCallback = extern "C" fn(u32, *const u8, usize);

#[unsafe(no_mangle)]
pub extern "C" fn iggy_connector_abi_version() -> u32 {
    (2 << 16) | 3
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_version() -> *const std::ffi::c_char {
    c"2.3.0-engine-test".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_open(
    _id: u32,
    _config_ptr: *const u8,
    _config_len: usize,
    _state_ptr: *const u8,
    _state_len: usize,
    _log: LogCallback,
) -> i32 {
    -1
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_handle(_id: u32, _send: SendCallback) -> i32 {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn iggy_source_close(_id: u32) -> i32 {
    0
}
