//! The sink pipeline: Iggy consumer group → decode check → transforms → postcard →
//! `iggy_sink_consume` → offset stored only after the plugin accepted the batch.

mod consume;
mod encode;
mod ownership;
mod prepare;

pub(crate) use encode::ConsumeBuffers;

use std::sync::Arc;
use std::time::Duration;

use iggy::prelude::IggyClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::SinkConfig;
use crate::connector_host::ExternalTarget;
use crate::connector_host::sink::ExternalSink;
use crate::driver::SinkDriver;
use crate::driver::native::NativeSink;
use crate::error::EngineError;
use crate::logs::ConnectorLog;
use crate::plugin;
use crate::stages::{ExternalHook, Stages};
use crate::stats::{ConnectorState, Status};

use crate::dead_letter::DeadLetter;

const TARGET: &str = "iggy_connectors::sink";

pub struct SinkContext {
    pub config: SinkConfig,
    pub consumer: Arc<IggyClient>,
    pub producer: Arc<IggyClient>,
    pub stats: Arc<ConnectorState>,
    pub log: ConnectorLog,
    pub hook: Option<ExternalHook>,
    /// Set for a sink written in TypeScript.
    pub external: Option<ExternalTarget>,
}

/// What every consume task of one sink shares.
pub struct Shared {
    pub ctx: SinkContext,
    pub driver: Arc<dyn SinkDriver>,
    pub stages: Stages,
    pub dead_letter: Option<DeadLetter>,
}

pub struct RunningSink {
    shared: Arc<Shared>,
    stopping: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The plugin of `ctx`: a shared library, or the TypeScript module the host runs.
fn driver(ctx: &SinkContext) -> Result<Arc<dyn SinkDriver>, EngineError> {
    let key = &ctx.config.key;
    if let Some(target) = &ctx.external {
        ctx.stats.set_plugin(None, Some(target.module.clone()));
        return Ok(Arc::new(ExternalSink::new(
            target.host.clone(),
            key,
            &target.module,
        )));
    }
    let path = plugin::resolve_path(key, &ctx.config.path, ctx.config.config_dir.as_deref())?;
    let library = plugin::load(key, &path)?;
    let symbols = library.sink_symbols(key)?;
    ctx.stats.set_plugin(
        Some(symbols.version.clone()),
        Some(library.path.display().to_string()),
    );
    Ok(Arc::new(NativeSink::new(
        key,
        &library,
        symbols,
        ctx.log.bus().clone(),
    )))
}

pub async fn start(ctx: SinkContext) -> Result<RunningSink, EngineError> {
    let key = ctx.config.key.clone();
    let driver = driver(&ctx)?;
    let stages = Stages::build(&key, &ctx.config.transforms)?;
    for warning in stages.warnings() {
        ctx.log.warn(TARGET, warning.clone());
    }
    if let (Some(name), None) = (stages.dead_lettering().next(), &ctx.config.dead_letter) {
        return Err(EngineError::Config {
            key,
            message: format!(
                "transforms.{name}.on_error = \"dead_letter\" needs a [dead_letter] topic"
            ),
        });
    }
    let iggy_error = |message: String| EngineError::Iggy {
        key: key.clone(),
        message,
    };
    let dead_letter = match &ctx.config.dead_letter {
        Some(config) => Some(
            DeadLetter::prepare(ctx.producer.clone(), config.clone())
                .await
                .map_err(iggy_error)?,
        ),
        None => None,
    };
    // Joined groups are left again on every failure below: a member that never polls would
    // be assigned partitions nobody consumes.
    let joined = group_list(&ctx.config);
    for (index, (stream, topic, group)) in joined.iter().enumerate() {
        if let Err(message) = crate::iggy::join_group(&ctx.consumer, stream, topic, group).await {
            leave_groups(&ctx, &joined[..index]).await;
            return Err(iggy_error(message));
        }
    }

    if let Err(error) = driver.open(&ctx.config.plugin_config_json).await {
        leave_groups(&ctx, &joined).await;
        return Err(error);
    }

    let (stopping, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        driver,
        stages,
        dead_letter,
        ctx,
    });
    let mut tasks = Vec::new();
    for stream in &shared.ctx.config.streams {
        for topic in &stream.topics {
            tasks.push(tokio::spawn(consume::run(
                shared.clone(),
                stream.clone(),
                topic.clone(),
                stop_rx.clone(),
            )));
        }
    }
    shared.ctx.stats.set_status(Status::Running);
    shared.ctx.log.info(
        TARGET,
        format!("sink started ({})", shared.driver.describe()),
    );
    Ok(RunningSink {
        shared,
        stopping,
        tasks,
    })
}

impl RunningSink {
    /// Graceful stop: consume tasks finish the in-flight call (its offset is stored only if it
    /// succeeded), then the plugin is closed and the group left.
    pub async fn stop(self, timeout: Duration) {
        let ctx = &self.shared.ctx;
        if ctx.stats.status() != Status::Error {
            ctx.stats.set_status(Status::Stopping);
        }
        let _ = self.stopping.send(true);
        let deadline = tokio::time::Instant::now() + timeout;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                ctx.log.warn(
                    TARGET,
                    "stop timed out: an in-flight batch was abandoned (its offset was not stored)"
                        .to_owned(),
                );
            }
        }
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(500));
        if let Err(problem) = self.shared.driver.close(left).await {
            ctx.log.warn(TARGET, problem);
        }
        leave_groups(ctx, &group_list(&ctx.config)).await;
        if ctx.stats.status() != Status::Error {
            ctx.stats.set_status(Status::Stopped);
        }
        ctx.log.info(
            TARGET,
            format!("sink stopped ({})", self.shared.driver.describe()),
        );
    }
}

/// Every (stream, topic, group) the sink is a member of.
fn group_list(config: &SinkConfig) -> Vec<(String, String, String)> {
    let mut list = Vec::new();
    for stream in &config.streams {
        let group = stream.group_name(&config.key);
        for topic in &stream.topics {
            list.push((stream.stream.clone(), topic.clone(), group.clone()));
        }
    }
    list
}

async fn leave_groups(ctx: &SinkContext, groups: &[(String, String, String)]) {
    for (stream, topic, group) in groups {
        crate::iggy::leave_group(&ctx.consumer, stream, topic, group).await;
    }
}
