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
use crate::connector_host::ExternalTarget;
use crate::connector_host::source::{ExternalSource, ExternalSourceSpec};
use crate::dead_letter::DeadLetter;
use crate::driver::SourceDriver;
use crate::driver::native::NativeSource;
use crate::error::EngineError;
use crate::ffi::source::RawBatch;
use crate::logs::ConnectorLog;
use crate::plugin;
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
    /// Set for a connector written in TypeScript: driven through this host instead of a
    /// shared library.
    pub external: Option<ExternalTarget>,
}

pub struct RunningSource {
    driver: Arc<dyn SourceDriver>,
    stopping: watch::Sender<bool>,
    forwarder: JoinHandle<()>,
    stats: Arc<ConnectorState>,
    log: ConnectorLog,
}

/// The plugin of `ctx`: a shared library, or the TypeScript module the host runs.
fn driver(ctx: &SourceContext) -> Result<Arc<dyn SourceDriver>, EngineError> {
    let key = &ctx.config.key;
    if let Some(target) = &ctx.external {
        ctx.stats.set_plugin(None, Some(target.module.clone()));
        let schema = ctx.config.streams[0].schema;
        return Ok(Arc::new(ExternalSource::new(ExternalSourceSpec {
            host: target.host.clone(),
            key: key.clone(),
            module: target.module.clone(),
            schema,
            retry: ctx.config.retry,
            log: ctx.log.clone(),
            stats: ctx.stats.clone(),
        })));
    }
    let path = plugin::resolve_path(key, &ctx.config.path, ctx.config.config_dir.as_deref())?;
    let library = plugin::load(key, &path)?;
    let symbols = library.source_symbols(key)?;
    ctx.stats.set_plugin(
        Some(symbols.version.clone()),
        Some(library.path.display().to_string()),
    );
    Ok(Arc::new(NativeSource::new(
        key,
        &library,
        symbols,
        ctx.log.bus().clone(),
    )))
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
    let driver = driver(&ctx)?;
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
    let (tx, rx) = flume::bounded::<RawBatch>(CHANNEL_CAPACITY);
    driver
        .open(&ctx.config.plugin_config_json, state, tx)
        .await?;

    let (stopping, stop_rx) = watch::channel(false);
    let stats = ctx.stats.clone();
    let log = ctx.log.clone();
    let pipeline = batch::Pipeline::new(ctx, dead_letter, stages, store, partitions, stop_rx);
    let forwarder = tokio::spawn(pipeline.run(rx, driver.clone()));
    let running = RunningSource {
        driver: driver.clone(),
        stopping,
        forwarder,
        stats: stats.clone(),
        log: log.clone(),
    };
    if let Err(error) = driver.start().await {
        running.stop(Duration::from_secs(5)).await;
        return Err(error);
    }
    stats.set_status(Status::Running);
    log.info(
        TARGET,
        format!("source started ({})", running.driver.describe()),
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
        if let Err(problem) = self.driver.close(timeout).await {
            self.log.warn(TARGET, problem);
        }
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
        self.log.info(
            TARGET,
            format!("source stopped ({})", self.driver.describe()),
        );
    }
}
