//! The source pipeline: plugin → send callback → decode → transforms → encode → Iggy → state
//! file → Ack.

pub(crate) mod batch;
mod send;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iggy::prelude::IggyClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::SourceConfig;
use crate::dead_letter::DeadLetter;
use crate::error::EngineError;
use crate::ffi::{self, source::RawBatch};
use crate::logs::ConnectorLog;
use crate::plugin::{self, SourceSymbols};
use crate::stages::{ExternalHook, Stages};
use crate::state_store::StateStore;
use crate::stats::{ConnectorState, Status};

const TARGET: &str = "iggy_connectors::source";
/// Batches queued between the plugin and the pipeline before the plugin's send blocks.
const CHANNEL_CAPACITY: usize = 4;

/// Everything one running source needs, shared with its forwarding task.
pub struct SourceContext {
    pub config: SourceConfig,
    pub client: Arc<IggyClient>,
    pub state_dir: PathBuf,
    pub stats: Arc<ConnectorState>,
    pub log: ConnectorLog,
    pub hook: Option<ExternalHook>,
}

pub struct RunningSource {
    id: u32,
    log_slot: usize,
    symbols: SourceSymbols,
    stopping: watch::Sender<bool>,
    forwarder: JoinHandle<()>,
    stats: Arc<ConnectorState>,
    log: ConnectorLog,
}

/// Loads, opens and starts one source. On error nothing is left running.
pub async fn start(ctx: SourceContext) -> Result<RunningSource, EngineError> {
    let key = ctx.config.key.clone();
    if ctx.config.streams.is_empty() {
        // Nowhere to send: every batch would be Acked and discarded (the plugin then commits
        // a cursor past data that was never stored).
        return Err(EngineError::Config {
            key,
            message: "streams is empty: a source needs at least one [[streams]] entry".to_owned(),
        });
    }
    let path = plugin::resolve_path(&key, &ctx.config.path, ctx.config.config_dir.as_deref())?;
    let library = plugin::load(&key, &path)?;
    let symbols = library.source_symbols(&key)?;
    ctx.stats.set_plugin(
        Some(symbols.version.clone()),
        Some(library.path.display().to_string()),
    );
    let stages = Stages::build(&key, &ctx.config.transforms)?;
    for warning in stages.warnings() {
        ctx.log.warn(TARGET, warning.clone());
    }
    if let Some(name) = stages.dead_lettering().next() {
        return Err(EngineError::Config {
            key,
            message: format!(
                "transforms.{name}.on_error = \"dead_letter\" is for sinks; a source retries the batch (Nack) when a transform throws"
            ),
        });
    }
    if stages
        .stages()
        .iter()
        .any(|s| matches!(s, crate::stages::Stage::External(_)))
        && ctx.hook.is_none()
    {
        ctx.log.warn(
            TARGET,
            "a TypeScript transform is configured but no transform handler is registered; \
             batches will fail until one is"
                .to_owned(),
        );
    }
    let mut partitions = Vec::with_capacity(ctx.config.streams.len());
    for stream in &ctx.config.streams {
        let count = crate::iggy::ensure_topic(
            &ctx.client,
            crate::iggy::EnsureTopic {
                stream: &stream.stream,
                topic: &stream.topic,
                create_stream: stream.create_stream,
                create_topic: stream.create_topic,
                partitions: stream.topic_partitions,
            },
        )
        .await
        .map_err(|message| EngineError::Iggy {
            key: key.clone(),
            message,
        })?;
        partitions.push(count);
    }
    let dead_letter = match &ctx.config.dead_letter {
        Some(config) => Some(
            DeadLetter::prepare(ctx.client.clone(), config.clone())
                .await
                .map_err(|message| EngineError::Iggy {
                    key: key.clone(),
                    message,
                })?,
        ),
        None => None,
    };
    let store = StateStore::new(&ctx.state_dir, &key);
    let state = store.load()?;
    let id = ffi::next_plugin_id();
    let (tx, rx) = flume::bounded::<RawBatch>(CHANNEL_CAPACITY);
    ffi::source::register(id, tx);

    let log_slot = library.log_slot;
    ffi::log::attach(log_slot, &key, ctx.log.bus());
    let config_json = ctx.config.plugin_config_json.clone();
    let open = symbols.open;
    let log_cb = ffi::log::callback(library.log_slot);
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
        ffi::log::detach(log_slot, &key);
        return Err(EngineError::PluginCall {
            key,
            call: "iggy_source_open",
            code,
        });
    }

    let (stopping, stop_rx) = watch::channel(false);
    let stats = ctx.stats.clone();
    let log = ctx.log.clone();
    let batch_result = symbols.batch_result;
    let pipeline = batch::Pipeline::new(ctx, dead_letter, stages, store, partitions, stop_rx);
    let forwarder = tokio::spawn(pipeline.run(rx, id, batch_result));

    let handle_code =
        if let (Some(handle_v2), true) = (symbols.handle_v2, symbols.batch_result_abi()) {
            tokio::task::spawn_blocking(move || {
                // SAFETY: the callback is a plain `extern "C"` fn living for the whole process.
                unsafe { handle_v2(id, ffi::source::send_callback_v2) }
            })
            .await
            .unwrap_or(-2)
        } else if let Some(handle) = symbols.handle {
            tokio::task::spawn_blocking(move || {
                // SAFETY: as above.
                unsafe { handle(id, ffi::source::send_callback) }
            })
            .await
            .unwrap_or(-2)
        } else {
            -1
        };
    let running = RunningSource {
        id,
        log_slot,
        symbols,
        stopping,
        forwarder,
        stats: stats.clone(),
        log: log.clone(),
    };
    if handle_code != 0 {
        running.stop(Duration::from_secs(5)).await;
        return Err(EngineError::PluginCall {
            key,
            call: "iggy_source_handle",
            code: handle_code,
        });
    }
    stats.set_status(Status::Running);
    log.info(
        TARGET,
        format!(
            "source started (plugin id {id}, {} ABI)",
            if running.symbols.batch_result_abi() {
                "batch-result"
            } else {
                "0.4.0"
            }
        ),
    );
    Ok(running)
}

impl RunningSource {
    /// Graceful stop: no more retries, close the plugin (its poll loop ends), let the queued
    /// batches go through once, then end the forwarder; all within `timeout`.
    pub async fn stop(self, timeout: Duration) {
        let started = tokio::time::Instant::now();
        if self.stats.status() != Status::Error {
            self.stats.set_status(Status::Stopping);
        }
        let _ = self.stopping.send(true);
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
        match closed {
            Ok(Ok(0)) => {}
            Ok(Ok(code)) => self
                .log
                .warn(TARGET, format!("iggy_source_close returned {code}")),
            _ => self.log.warn(
                TARGET,
                format!("iggy_source_close did not return within {timeout:?}"),
            ),
        }
        ffi::source::unregister(id);
        ffi::log::detach(self.log_slot, self.log.key());
        let left = timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let mut forwarder = self.forwarder;
        if tokio::time::timeout(left, &mut forwarder).await.is_err() {
            forwarder.abort();
            self.log.warn(
                TARGET,
                "stop timed out: the in-flight batch was abandoned (its state was not saved)"
                    .to_owned(),
            );
        }
        if self.stats.status() != Status::Error {
            self.stats.set_status(Status::Stopped);
        }
        self.log
            .info(TARGET, format!("source stopped (plugin id {id})"));
    }
}
