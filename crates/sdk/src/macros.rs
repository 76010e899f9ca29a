//! `source_connector!` and `sink_connector!`: export a plugin type through the C ABI.

/// Exports `$type` (a [`Source`](crate::Source) with an inherent
/// `fn new(id: u32, config: C, state: Option<ConnectorState>) -> Self`, `C: DeserializeOwned`)
/// as a source plugin: `iggy_source_open`, `iggy_source_handle`, `iggy_source_handle_v2`,
/// `iggy_source_batch_result`, `iggy_source_close`, `iggy_source_version`,
/// `iggy_connector_abi_version` and `iggy_connector_config_schema` (the JSON Schema of `C` when
/// it derives [`JsonSchema`](crate::JsonSchema), else null; see [`schema`](crate::schema)).
///
/// The exports are compiled out under `cfg(test)`, so the plugin crate stays unit-testable as
/// a library. Use it once per library (one connector type per cdylib).
#[macro_export]
macro_rules! source_connector {
    ($type:ty) => {
        const _: () = {
            use $crate::__private as __sdk;

            fn __assert_source<T: $crate::Source>() {}
            let _ = __assert_source::<$type>;

            static PLUGIN: __sdk::PluginInfo = __sdk::PluginInfo {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            };
            static REGISTRY: __sdk::SourceRegistry<$type> = __sdk::SourceRegistry::new();
            static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

            /// # Safety
            /// Pointers must be null or valid for their lengths for the duration of the call.
            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn iggy_source_open(
                id: u32,
                config_ptr: *const u8,
                config_len: usize,
                state_ptr: *const u8,
                state_len: usize,
                log_callback: Option<__sdk::LogCallback>,
            ) -> i32 {
                __sdk::enter(&PLUGIN, log_callback);
                __sdk::guard(&PLUGIN, "iggy_source_open", id, __sdk::FAILED, || {
                    // SAFETY: the host keeps both buffers alive for this call.
                    let config = unsafe { __sdk::host_bytes(config_ptr, config_len) };
                    let state = unsafe { __sdk::host_bytes(state_ptr, state_len) };
                    __sdk::source::open(
                        &REGISTRY,
                        &PLUGIN,
                        id,
                        config,
                        state,
                        |id, config, state| {
                            let config = __sdk::parse_config(config)?;
                            Ok(<$type>::new(id, config, state))
                        },
                    )
                })
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_source_handle(
                id: u32,
                callback: Option<__sdk::SendCallback>,
            ) -> i32 {
                __sdk::guard(
                    &PLUGIN,
                    "iggy_source_handle",
                    id,
                    __sdk::FAILED,
                    || match callback {
                        Some(callback) => __sdk::source::handle(
                            &REGISTRY,
                            &PLUGIN,
                            id,
                            __sdk::source::Delivery::Legacy(callback),
                        ),
                        None => __sdk::null_callback(&PLUGIN, id, "iggy_source_handle"),
                    },
                )
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_source_handle_v2(
                id: u32,
                callback: Option<__sdk::SendCallbackV2>,
            ) -> i32 {
                __sdk::guard(
                    &PLUGIN,
                    "iggy_source_handle_v2",
                    id,
                    __sdk::FAILED,
                    || match callback {
                        Some(callback) => __sdk::source::handle(
                            &REGISTRY,
                            &PLUGIN,
                            id,
                            __sdk::source::Delivery::Acknowledged(callback),
                        ),
                        None => __sdk::null_callback(&PLUGIN, id, "iggy_source_handle_v2"),
                    },
                )
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_source_batch_result(id: u32, batch_id: u64, result: u8) -> i32 {
                __sdk::guard(
                    &PLUGIN,
                    "iggy_source_batch_result",
                    id,
                    __sdk::FAILED,
                    || __sdk::source::batch_result(&REGISTRY, &PLUGIN, id, batch_id, result),
                )
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_source_close(id: u32) -> i32 {
                __sdk::guard(&PLUGIN, "iggy_source_close", id, __sdk::FAILED, || {
                    __sdk::source::close(&REGISTRY, &PLUGIN, id)
                })
            }

            /// The config's JSON Schema (NUL-terminated, static), or null when the config type
            /// does not derive `JsonSchema`.
            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_connector_config_schema() -> *const ::std::ffi::c_char {
                static SCHEMA: ::std::sync::OnceLock<Option<::std::ffi::CString>> =
                    ::std::sync::OnceLock::new();
                __sdk::guard(
                    &PLUGIN,
                    "iggy_connector_config_schema",
                    0,
                    ::std::ptr::null(),
                    || {
                        __sdk::schema::export(&SCHEMA, || {
                            #[allow(unused_imports)]
                            use __sdk::{WithSchema as _, WithoutSchema as _};
                            let config = __sdk::ConfigType::of_source(<$type>::new);
                            (&config).config_schema()
                        })
                    },
                )
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_source_version() -> *const ::std::ffi::c_char {
                VERSION.as_ptr().cast()
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_connector_abi_version() -> u32 {
                __sdk::ABI_VERSION
            }
        };
    };
}

/// Exports `$type` (a [`Sink`](crate::Sink) with an inherent `fn new(id: u32, config: C) ->
/// Self`, `C: DeserializeOwned`) as a sink plugin: `iggy_sink_open`, `iggy_sink_consume`,
/// `iggy_sink_consume_v2` (the same with rejected messages reported back),
/// `iggy_sink_close`, `iggy_sink_version`, `iggy_connector_abi_version` and
/// `iggy_connector_config_schema` (as for sources).
///
/// The exports are compiled out under `cfg(test)`. Use it once per library.
#[macro_export]
macro_rules! sink_connector {
    ($type:ty) => {
        const _: () = {
            use $crate::__private as __sdk;

            fn __assert_sink<T: $crate::Sink>() {}
            let _ = __assert_sink::<$type>;

            static PLUGIN: __sdk::PluginInfo = __sdk::PluginInfo {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            };
            static REGISTRY: __sdk::SinkRegistry<$type> = __sdk::SinkRegistry::new();
            static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

            /// # Safety
            /// `config_ptr` must be null or valid for `config_len` bytes during the call.
            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn iggy_sink_open(
                id: u32,
                config_ptr: *const u8,
                config_len: usize,
                log_callback: Option<__sdk::LogCallback>,
            ) -> i32 {
                __sdk::enter(&PLUGIN, log_callback);
                __sdk::guard(&PLUGIN, "iggy_sink_open", id, __sdk::FAILED, || {
                    // SAFETY: the host keeps the buffer alive for this call.
                    let config = unsafe { __sdk::host_bytes(config_ptr, config_len) };
                    __sdk::sink::open(&REGISTRY, &PLUGIN, id, config, |id, config| {
                        let config = __sdk::parse_config(config)?;
                        Ok(<$type>::new(id, config))
                    })
                })
            }

            /// # Safety
            /// Pointers must be null or valid for their lengths for the duration of the call.
            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn iggy_sink_consume(
                id: u32,
                topic_meta_ptr: *const u8,
                topic_meta_len: usize,
                messages_meta_ptr: *const u8,
                messages_meta_len: usize,
                messages_ptr: *const u8,
                messages_len: usize,
            ) -> i32 {
                __sdk::guard(&PLUGIN, "iggy_sink_consume", id, __sdk::FAILED, || {
                    // SAFETY: the host keeps the three buffers alive for this call.
                    let buffers = unsafe {
                        [
                            __sdk::host_bytes(topic_meta_ptr, topic_meta_len),
                            __sdk::host_bytes(messages_meta_ptr, messages_meta_len),
                            __sdk::host_bytes(messages_ptr, messages_len),
                        ]
                    };
                    __sdk::sink::consume(
                        &REGISTRY,
                        &PLUGIN,
                        id,
                        buffers,
                        __sdk::sink::Rejections::Unsupported,
                    )
                })
            }

            /// As `iggy_sink_consume`, plus `reject(context, offset, reason, len)` called for
            /// each message the sink refused for its content before this returns 0.
            ///
            /// # Safety
            /// Pointers must be null or valid for their lengths for the duration of the call;
            /// `reject` must be callable with `reject_context` during the call.
            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn iggy_sink_consume_v2(
                id: u32,
                topic_meta_ptr: *const u8,
                topic_meta_len: usize,
                messages_meta_ptr: *const u8,
                messages_meta_len: usize,
                messages_ptr: *const u8,
                messages_len: usize,
                reject: Option<__sdk::RejectCallback>,
                reject_context: *mut ::std::ffi::c_void,
            ) -> i32 {
                __sdk::guard(&PLUGIN, "iggy_sink_consume_v2", id, __sdk::FAILED, || {
                    let Some(reject) = reject else {
                        return __sdk::null_callback(&PLUGIN, id, "iggy_sink_consume_v2");
                    };
                    // SAFETY: the host keeps the three buffers alive for this call.
                    let buffers = unsafe {
                        [
                            __sdk::host_bytes(topic_meta_ptr, topic_meta_len),
                            __sdk::host_bytes(messages_meta_ptr, messages_meta_len),
                            __sdk::host_bytes(messages_ptr, messages_len),
                        ]
                    };
                    __sdk::sink::consume(
                        &REGISTRY,
                        &PLUGIN,
                        id,
                        buffers,
                        __sdk::sink::Rejections::Callback(reject, reject_context),
                    )
                })
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_sink_close(id: u32) -> i32 {
                __sdk::guard(&PLUGIN, "iggy_sink_close", id, __sdk::FAILED, || {
                    __sdk::sink::close(&REGISTRY, &PLUGIN, id)
                })
            }

            /// The config's JSON Schema (NUL-terminated, static), or null when the config type
            /// does not derive `JsonSchema`.
            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_connector_config_schema() -> *const ::std::ffi::c_char {
                static SCHEMA: ::std::sync::OnceLock<Option<::std::ffi::CString>> =
                    ::std::sync::OnceLock::new();
                __sdk::guard(
                    &PLUGIN,
                    "iggy_connector_config_schema",
                    0,
                    ::std::ptr::null(),
                    || {
                        __sdk::schema::export(&SCHEMA, || {
                            #[allow(unused_imports)]
                            use __sdk::{WithSchema as _, WithoutSchema as _};
                            let config = __sdk::ConfigType::of_sink(<$type>::new);
                            (&config).config_schema()
                        })
                    },
                )
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_sink_version() -> *const ::std::ffi::c_char {
                VERSION.as_ptr().cast()
            }

            #[cfg(not(test))]
            #[unsafe(no_mangle)]
            pub extern "C" fn iggy_connector_abi_version() -> u32 {
                __sdk::ABI_VERSION
            }
        };
    };
}
