//! The `Engine` class: a handle on the native runtime engine.

use napi::bindgen_prelude::{Function, Promise};
use napi_derive::napi;

use crate::error::{Result, not_implemented};
use crate::options::{EngineOptions, SinkConnectorOptions, SourceConnectorOptions};
use crate::stats::{ConnectorStats, LogEntry};
use crate::transform::{JsBatch, JsMessage};

#[napi]
pub struct Engine {
    options: EngineOptions,
}

#[napi]
impl Engine {
    #[napi(constructor)]
    pub fn new(options: EngineOptions) -> Result<Self> {
        Ok(Self { options })
    }

    /// Receives every log line (engine + plugin logs, tagged with the connector key).
    #[napi(ts_args_type = "listener: (entry: LogEntry) => void")]
    pub fn on_log(&self, listener: Function<LogEntry, ()>) -> Result<()> {
        let _ = listener;
        Err(not_implemented("Engine.onLog"))
    }

    /// Called for TS transforms: return the batch to keep (drop = omit a message).
    #[napi(ts_args_type = "handler: (batch: JsBatch) => Promise<Array<JsMessage>>")]
    pub fn on_transform(&self, handler: Function<JsBatch, Promise<Vec<JsMessage>>>) -> Result<()> {
        let _ = handler;
        Err(not_implemented("Engine.onTransform"))
    }

    /// Starts every connector; a failing one is isolated (status error), the rest run.
    #[napi(catch_unwind)]
    pub async fn start(&self) -> Result<Vec<ConnectorStats>> {
        let _ = &self.options;
        Err(not_implemented("Engine.start"))
    }

    /// Graceful stop of all: finish or Nack the in-flight batch, close plugins, flush state.
    #[napi(catch_unwind)]
    pub async fn stop(&self, timeout_ms: Option<f64>) -> Result<()> {
        let _ = timeout_ms;
        Err(not_implemented("Engine.stop"))
    }

    #[napi(catch_unwind)]
    pub async fn start_connector(&self, kind: String, key: String) -> Result<()> {
        let _ = (kind, key);
        Err(not_implemented("Engine.startConnector"))
    }

    #[napi(catch_unwind)]
    pub async fn stop_connector(&self, kind: String, key: String) -> Result<()> {
        let _ = (kind, key);
        Err(not_implemented("Engine.stopConnector"))
    }

    /// Stop, then start with the given options (or the current ones).
    #[napi(catch_unwind)]
    pub async fn restart_source(
        &self,
        key: String,
        options: Option<SourceConnectorOptions>,
    ) -> Result<()> {
        let _ = (key, options);
        Err(not_implemented("Engine.restartSource"))
    }

    /// Stop, then start with the given options (or the current ones).
    #[napi(catch_unwind)]
    pub async fn restart_sink(
        &self,
        key: String,
        options: Option<SinkConnectorOptions>,
    ) -> Result<()> {
        let _ = (key, options);
        Err(not_implemented("Engine.restartSink"))
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> Result<Vec<ConnectorStats>> {
        Err(not_implemented("Engine.stats"))
    }
}
