//! The `Engine` class: a handle on the native runtime engine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iggy_connectors_engine as core;
use napi::bindgen_prelude::{Function, Promise};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::connector::{JsConnectorCall, JsConnectorHost, JsConnectorReply};
use crate::error::{NapiResultExt, Result};
use crate::js_batch::{BatchColumns, BatchResultColumns};
use crate::options::{
    EngineOptions, SinkConnectorOptions, SourceConnectorOptions, engine_config, sink_config,
    source_config,
};
use crate::stats::{ConnectorStats, LogEntry};
use crate::transform::{JsBatch, JsBatchTransform, JsMessage, JsTransform};

/// `(entry: LogEntry) => void`, weak so a log listener never keeps Node alive.
type LogFn = ThreadsafeFunction<LogEntry, (), LogEntry, napi::Status, false, true>;

#[napi]
pub struct Engine {
    pub(crate) inner: core::Engine,
    log_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn timeout(ms: Option<f64>) -> Duration {
    ms.filter(|ms| *ms > 0.0)
        .map(|ms| Duration::from_millis(ms as u64))
        .unwrap_or(core::DEFAULT_STOP_TIMEOUT)
}

#[napi]
impl Engine {
    #[napi(constructor)]
    pub fn new(options: EngineOptions) -> Result<Self> {
        Ok(Self {
            inner: core::Engine::new(engine_config(options)?),
            log_task: Mutex::new(None),
        })
    }

    /// Receives every log line (engine + plugin logs, tagged with the connector key).
    #[napi(ts_args_type = "listener: (entry: LogEntry) => void")]
    pub fn on_log(&self, listener: Function<LogEntry, ()>) -> Result<()> {
        let tsfn: Arc<LogFn> = Arc::new(
            listener
                .build_threadsafe_function::<LogEntry>()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?,
        );
        let rx = self.inner.logs().receiver();
        let task = napi::bindgen_prelude::spawn(async move {
            while let Ok(entry) = rx.recv_async().await {
                tsfn.call(entry.into(), ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        if let Some(previous) = self
            .log_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task)
        {
            previous.abort();
        }
        Ok(())
    }

    /// Called for TS transforms with the batch in columns (one payload Buffer, typed arrays;
    /// see `ts/batch.ts`); resolves with the messages to keep, in columns too. Replaces any
    /// handler set before (either form).
    #[napi(ts_args_type = "handler: (batch: BatchColumns) => Promise<BatchResultColumns>")]
    pub fn on_transform_batch(
        &self,
        handler: Function<BatchColumns, Promise<BatchResultColumns>>,
    ) -> Result<()> {
        let handler = handler
            .build_threadsafe_function::<BatchColumns>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        self.inner
            .set_external_transform(Arc::new(JsBatchTransform { handler }));
        Ok(())
    }

    /// Called for TS transforms with one object per message (slower than `onTransformBatch`):
    /// return the messages to keep (drop = omit a message). Replaces any handler set before.
    #[napi(ts_args_type = "handler: (batch: JsBatch) => Promise<Array<JsMessage>>")]
    pub fn on_transform(&self, handler: Function<JsBatch, Promise<Vec<JsMessage>>>) -> Result<()> {
        let handler = handler
            .build_threadsafe_function::<JsBatch>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        self.inner
            .set_external_transform(Arc::new(JsTransform { handler }));
        Ok(())
    }

    /// Called for every call on a connector written in TypeScript (open, poll, ack, nack,
    /// consume, close); resolve with the reply, reject to fail the call.
    #[napi(ts_args_type = "handler: (call: JsConnectorCall) => Promise<JsConnectorReply>")]
    pub fn on_connector_call(
        &self,
        handler: Function<JsConnectorCall, Promise<JsConnectorReply>>,
    ) -> Result<()> {
        let handler = handler
            .build_threadsafe_function::<JsConnectorCall>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        self.inner
            .set_connector_host(Arc::new(JsConnectorHost { handler }));
        Ok(())
    }

    /// Marks a connector as written in TypeScript (`module` = what the connector file names,
    /// or the name it was registered under); `null` makes it native again. Takes effect at
    /// its next start.
    #[napi]
    pub fn set_external_connector(
        &self,
        kind: String,
        key: String,
        module: Option<String>,
    ) -> Result<()> {
        let kind = core::parse_kind(&kind).default_error()?;
        self.inner.set_external_connector(kind, &key, module);
        Ok(())
    }

    /// Starts every connector; a failing one is isolated (status error), the rest run.
    #[napi(catch_unwind)]
    pub async fn start(&self) -> Result<Vec<ConnectorStats>> {
        let stats = self.inner.start().await.default_error()?;
        Ok(stats.into_iter().map(Into::into).collect())
    }

    /// Graceful stop of all: finish or Nack the in-flight batch, close plugins, flush state.
    #[napi(catch_unwind)]
    pub async fn stop(&self, timeout_ms: Option<f64>) -> Result<()> {
        self.inner.stop(timeout(timeout_ms)).await;
        Ok(())
    }

    #[napi(catch_unwind)]
    pub async fn start_connector(&self, kind: String, key: String) -> Result<()> {
        let kind = core::parse_kind(&kind).default_error()?;
        self.inner.start_connector(kind, &key).await.default_error()
    }

    #[napi(catch_unwind)]
    pub async fn stop_connector(&self, kind: String, key: String) -> Result<()> {
        let kind = core::parse_kind(&kind).default_error()?;
        self.inner
            .stop_connector(kind, &key, core::DEFAULT_STOP_TIMEOUT)
            .await
            .default_error()
    }

    /// Stop, then start with the given options (or the current ones).
    #[napi(catch_unwind)]
    pub async fn restart_source(
        &self,
        key: String,
        options: Option<SourceConnectorOptions>,
    ) -> Result<()> {
        let config = options.map(source_config).transpose()?;
        self.inner
            .restart_source(&key, config)
            .await
            .default_error()
    }

    /// Stop, then start with the given options (or the current ones).
    #[napi(catch_unwind)]
    pub async fn restart_sink(
        &self,
        key: String,
        options: Option<SinkConnectorOptions>,
    ) -> Result<()> {
        let config = options.map(sink_config).transpose()?;
        self.inner.restart_sink(&key, config).await.default_error()
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> Result<Vec<ConnectorStats>> {
        Ok(self.inner.stats().into_iter().map(Into::into).collect())
    }
}
