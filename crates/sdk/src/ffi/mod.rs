//! The C ABI shared with hosts (Apache Iggy connectors 0.4.0 + the acknowledged source
//! extension), and the generic glue the export macros call.
//!
//! Everything here is `#[doc(hidden)]` plumbing reached through `crate::__private`; plugin
//! authors only use [`source_connector!`](crate::source_connector) and
//! [`sink_connector!`](crate::sink_connector).

pub mod guard;
pub mod log;
pub mod sink;
pub mod source;

/// This SDK's plugin ABI, `(major << 16) | minor`, returned by `iggy_connector_abi_version`.
/// Major changes break hosts; minor ones only add symbols (1.1: `iggy_sink_consume_v2`).
pub const ABI_VERSION: u32 = (ABI_MAJOR << 16) | ABI_MINOR;
pub const ABI_MAJOR: u32 = 1;
pub const ABI_MINOR: u32 = 1;

/// `LogCallback`: `(level 0=TRACE..4=ERROR, target ptr, target len, message ptr, message len)`.
/// Strings are UTF-8, not NUL-terminated, valid only during the call.
pub type LogCallback = extern "C" fn(u8, *const u8, usize, *const u8, usize);

/// 0.4.0 `SendCallback` of `iggy_source_handle`: `(plugin id, batch ptr, batch len)`.
pub type SendCallback = extern "C" fn(u32, *const u8, usize);

/// `SendCallback` of `iggy_source_handle_v2`: `(plugin id, batch id, batch ptr, batch len)`;
/// a non-zero return means the host refused the batch (counted as a Nack).
pub type SendCallbackV2 = extern "C" fn(u32, u64, *const u8, usize) -> i32;

/// `RejectCallback` of `iggy_sink_consume_v2`: `(host context, message offset, reason ptr,
/// reason len)`, called once per rejected message before `iggy_sink_consume_v2` returns, never
/// concurrently for one call. The reason is UTF-8, valid only during the callback.
pub type RejectCallback = extern "C" fn(*mut std::ffi::c_void, u64, *const u8, usize);

/// Success.
pub const OK: i32 = 0;
/// The connector's own method failed (or panicked).
pub const FAILED: i32 = 1;
/// Invalid call: unknown or duplicate id, undecodable input, bad config.
pub const INVALID: i32 = -1;

/// Identifies the plugin library in log lines (the crate name) and in `*_version`.
#[derive(Debug, Clone, Copy)]
pub struct PluginInfo {
    pub name: &'static str,
    pub version: &'static str,
}

/// Borrows a host buffer for the duration of a call; null or empty → `&[]`.
///
/// # Safety
/// `ptr` must be null or valid for reads of `len` bytes for the returned lifetime.
pub unsafe fn host_bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `ptr` is readable for `len` bytes.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Deserializes the JSON plugin config. A missing `[plugin_config]` arrives as `null`; when the
/// config type does not accept `null` itself we try `{}`, so a struct whose fields all have
/// serde defaults works without any `[plugin_config]` table.
pub fn parse_config<C: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<C, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|error| format!("plugin_config is not UTF-8: {error}"))?;
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return serde_json::from_str::<C>("null")
            .or_else(|_| serde_json::from_str::<C>("{}"))
            .map_err(|error| {
                format!("no plugin_config given and the defaults do not parse: {error}")
            });
    }
    serde_json::from_str(text).map_err(|error| format!("invalid plugin_config: {error}"))
}

/// First thing every `*_open` does: take the host's log callback, install the subscriber
/// and the panic hook.
pub fn enter(plugin: &'static PluginInfo, callback: Option<LogCallback>) {
    log::install(callback);
    guard::install_panic_hook(plugin);
}

/// A host passed a null callback (send, or reject for `iggy_sink_consume_v2`).
pub fn null_callback(plugin: &PluginInfo, id: u32, call: &str) -> i32 {
    guard::report_error(
        plugin,
        format!("{} (id {id}): {call}: the callback is null", plugin.name),
    );
    INVALID
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Defaults {
        flag: bool,
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Required {
        url: String,
    }

    #[test]
    fn given_null_config_should_fall_back_to_empty_object_for_default_structs() {
        assert_eq!(
            parse_config::<Defaults>(b"null").unwrap(),
            Defaults::default()
        );
        assert_eq!(
            parse_config::<Defaults>(b"  ").unwrap(),
            Defaults::default()
        );
        assert_eq!(parse_config::<Option<Required>>(b"null").unwrap(), None);
        let error = parse_config::<Required>(b"null").unwrap_err();
        assert!(error.contains("missing field `url`"), "{error}");
    }

    #[test]
    fn given_bad_config_should_name_the_problem() {
        let error = parse_config::<Defaults>(br#"{"flag": "yes"}"#).unwrap_err();
        assert!(
            error.starts_with("invalid plugin_config: invalid type: string"),
            "{error}"
        );
        let error = parse_config::<Defaults>(&[0xFF]).unwrap_err();
        assert!(error.starts_with("plugin_config is not UTF-8"), "{error}");
    }

    #[test]
    fn given_consecutive_failures_should_double_backoff_up_to_five_seconds() {
        let delays: Vec<_> = [1, 2, 3, 6, 7, 100].map(source::backoff).to_vec();
        assert_eq!(
            delays,
            [100, 200, 400, 3200, 5000, 5000].map(Duration::from_millis)
        );
    }

    #[test]
    fn given_abi_version_should_pack_major_and_minor() {
        assert_eq!(ABI_VERSION, 0x0001_0001);
        assert_eq!(ABI_VERSION >> 16, ABI_MAJOR);
    }
}
