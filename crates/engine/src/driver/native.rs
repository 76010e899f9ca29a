//! The drivers of shared-library plugins: every call goes over the C ABI on a blocking thread
//! (plugin code may block), and the library's log slot is attached for the plugin's lifetime.

use std::sync::Arc;
use std::time::Duration;

use super::{ConsumeFailure, SinkBatch, SinkDriver, SinkInput, SourceDriver};
use crate::error::EngineError;
use crate::ffi::sink::{ConsumeArgs, Rejection};
use crate::ffi::source::RawBatch;
use crate::ffi::{self};
use crate::logs::LogBus;
use crate::plugin::{PluginLibrary, SinkSymbols, SourceSymbols};

pub struct NativeSource {
    key: String,
    id: u32,
    log_slot: usize,
    log_callback: ffi::LogCallback,
    logs: LogBus,
    symbols: SourceSymbols,
}

impl NativeSource {
    pub fn new(
        key: &str,
        library: &Arc<PluginLibrary>,
        symbols: SourceSymbols,
        logs: LogBus,
    ) -> Self {
        Self {
            key: key.to_owned(),
            id: ffi::next_plugin_id(),
            log_slot: library.log_slot,
            log_callback: ffi::log::callback(library.log_slot),
            logs,
            symbols,
        }
    }
}

#[async_trait::async_trait]
impl SourceDriver for NativeSource {
    fn describe(&self) -> String {
        format!(
            "plugin id {}, {} ABI",
            self.id,
            if self.symbols.batch_result_abi() {
                "batch-result"
            } else {
                "0.4.0"
            }
        )
    }

    async fn open(
        &self,
        config_json: &str,
        state: Option<Vec<u8>>,
        batches: flume::Sender<RawBatch>,
    ) -> Result<(), EngineError> {
        let id = self.id;
        ffi::source::register(id, batches);
        ffi::log::attach(self.log_slot, &self.key, &self.logs);
        let config_json = config_json.to_owned();
        let open = self.symbols.open;
        let log_cb = self.log_callback;
        let code = tokio::task::spawn_blocking(move || {
            let (state_ptr, state_len) = match &state {
                Some(bytes) => (bytes.as_ptr(), bytes.len()),
                None => (std::ptr::null(), 0),
            };
            // SAFETY: buffers outlive the call; the plugin copies them (ABI §2.5).
            unsafe {
                open(
                    id,
                    config_json.as_ptr(),
                    config_json.len(),
                    state_ptr,
                    state_len,
                    log_cb,
                )
            }
        })
        .await
        .unwrap_or(-2);
        if code != 0 {
            ffi::source::unregister(id);
            ffi::log::detach(self.log_slot, &self.key);
            return Err(EngineError::PluginCall {
                key: self.key.clone(),
                call: "iggy_source_open",
                code,
            });
        }
        Ok(())
    }

    async fn start(&self) -> Result<(), EngineError> {
        let id = self.id;
        let code = if let (Some(handle_v2), true) =
            (self.symbols.handle_v2, self.symbols.batch_result_abi())
        {
            tokio::task::spawn_blocking(move || {
                // SAFETY: the callback is a plain `extern "C"` fn living for the whole process.
                unsafe { handle_v2(id, ffi::source::send_callback_v2) }
            })
            .await
            .unwrap_or(-2)
        } else if let Some(handle) = self.symbols.handle {
            tokio::task::spawn_blocking(move || {
                // SAFETY: as above.
                unsafe { handle(id, ffi::source::send_callback) }
            })
            .await
            .unwrap_or(-2)
        } else {
            -1
        };
        if code != 0 {
            return Err(EngineError::PluginCall {
                key: self.key.clone(),
                call: "iggy_source_handle",
                code,
            });
        }
        Ok(())
    }

    fn batch_result(&self, batch_id: Option<u64>, ok: bool) {
        if let (Some(batch_id), Some(batch_result)) = (batch_id, self.symbols.batch_result) {
            // Called inline, not via spawn_blocking: the SDK's `batch_result` only takes a
            // short registry lock and queues the verdict on an unbounded channel (it is safe
            // even from inside the send callback), so a thread hop per batch buys nothing.
            // SAFETY: `id` is open in this library; the call only records the result.
            let _ = unsafe { batch_result(self.id, batch_id, if ok { 0 } else { 1 }) };
        }
    }

    async fn close(&self, timeout: Duration) -> Result<(), String> {
        let close = self.symbols.close;
        let id = self.id;
        let closed = tokio::time::timeout(
            timeout,
            tokio::task::spawn_blocking(move || {
                // SAFETY: `id` was opened by this library.
                unsafe { close(id) }
            }),
        )
        .await;
        // The channel closes with the registry entry: the pipeline drains what is queued.
        ffi::source::unregister(id);
        ffi::log::detach(self.log_slot, &self.key);
        match closed {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(code)) => Err(format!("iggy_source_close returned {code}")),
            _ => Err(format!(
                "iggy_source_close did not return within {timeout:?}"
            )),
        }
    }
}

pub struct NativeSink {
    key: String,
    id: u32,
    log_slot: usize,
    log_callback: ffi::LogCallback,
    logs: LogBus,
    symbols: SinkSymbols,
}

impl NativeSink {
    pub fn new(
        key: &str,
        library: &Arc<PluginLibrary>,
        symbols: SinkSymbols,
        logs: LogBus,
    ) -> Self {
        Self {
            key: key.to_owned(),
            id: ffi::next_plugin_id(),
            log_slot: library.log_slot,
            log_callback: ffi::log::callback(library.log_slot),
            logs,
            symbols,
        }
    }
}

#[async_trait::async_trait]
impl SinkDriver for NativeSink {
    fn describe(&self) -> String {
        format!("plugin id {}", self.id)
    }

    fn input(&self) -> SinkInput {
        SinkInput::Postcard
    }

    async fn open(&self, config_json: &str) -> Result<(), EngineError> {
        ffi::log::attach(self.log_slot, &self.key, &self.logs);
        let config_json = config_json.to_owned();
        let open = self.symbols.open;
        let log_cb = self.log_callback;
        let id = self.id;
        let code = tokio::task::spawn_blocking(move || {
            // SAFETY: the config buffer outlives the call; the plugin copies it.
            unsafe { open(id, config_json.as_ptr(), config_json.len(), log_cb) }
        })
        .await
        .unwrap_or(-2);
        if code != 0 {
            ffi::log::detach(self.log_slot, &self.key);
            return Err(EngineError::PluginCall {
                key: self.key.clone(),
                call: "iggy_sink_open",
                code,
            });
        }
        Ok(())
    }

    async fn consume(&self, batch: &mut SinkBatch) -> Result<Vec<Rejection>, ConsumeFailure> {
        let SinkBatch::Postcard(buffers) = batch else {
            return Err(ConsumeFailure::Fatal(
                "a native sink was handed a batch of message values".to_owned(),
            ));
        };
        let owned = std::mem::take(buffers);
        let consume = self.symbols.consume;
        let id = self.id;
        let joined = tokio::task::spawn_blocking(move || {
            let args = ConsumeArgs {
                topic: &owned.topic,
                meta: &owned.meta,
                messages: &owned.messages,
            };
            // SAFETY: `id` is open in the library `consume` comes from.
            let result = unsafe { consume.call(id, &args) };
            (result, owned)
        })
        .await;
        let Ok(((code, rejections), owned)) = joined else {
            return Err(ConsumeFailure::Fatal(
                "iggy_sink_consume panicked in the engine task".to_owned(),
            ));
        };
        *buffers = owned;
        if code != 0 {
            return Err(ConsumeFailure::Retry(format!(
                "iggy_sink_consume returned {code}"
            )));
        }
        Ok(rejections)
    }

    async fn close(&self, timeout: Duration) -> Result<(), String> {
        let close = self.symbols.close;
        let id = self.id;
        let closed = tokio::time::timeout(
            timeout,
            tokio::task::spawn_blocking(move || {
                // SAFETY: `id` was opened by this library.
                unsafe { close(id) }
            }),
        )
        .await;
        ffi::log::detach(self.log_slot, &self.key);
        match closed {
            Ok(Ok(0)) => Ok(()),
            other => Err(format!("iggy_sink_close did not succeed: {other:?}")),
        }
    }
}
