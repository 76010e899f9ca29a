//! The sink pipeline: Iggy consumer group → decode check → transforms → postcard →
//! `iggy_sink_consume` → offset stored only after the plugin accepted the batch.

mod consume;
mod encode;
mod ownership;
mod prepare;

use std::sync::Arc;
use std::time::Duration;

use iggy::prelude::IggyClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::SinkConfig;
use crate::error::EngineError;
use crate::ffi;
use crate::logs::ConnectorLog;
use crate::plugin::{self, SinkSymbols};
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
}

/// What every consume task of one sink shares.
pub struct Shared {
    pub ctx: SinkContext,
    pub id: u32,
    pub consume: ffi::sink::ConsumeExport,
    pub stages: Stages,
    pub dead_letter: Option<DeadLetter>,
}

pub struct RunningSink {
    shared: Arc<Shared>,
    log_slot: usize,
    symbols: SinkSymbols,
    stopping: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

pub async fn start(ctx: SinkContext) -> Result<RunningSink, EngineError> {
    let key = ctx.config.key.clone();
    let path = plugin::resolve_path(&key, &ctx.config.path, ctx.config.config_dir.as_deref())?;
    let library = plugin::load(&key, &path)?;
    let symbols = library.sink_symbols(&key)?;
    ctx.stats.set_plugin(
        Some(symbols.version.clone()),
        Some(library.path.display().to_string()),
    );
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

    let id = ffi::next_plugin_id();
    let log_slot = library.log_slot;
    ffi::log::attach(log_slot, &key, ctx.log.bus());
    let config_json = ctx.config.plugin_config_json.clone();
    let open = symbols.open;
    let log_cb = ffi::log::callback(library.log_slot);
    let code = tokio::task::spawn_blocking(move || {
        // SAFETY: the config buffer outlives the call; the plugin copies it.
        unsafe { open(id, config_json.as_ptr(), config_json.len(), log_cb) }
    })
    .await
    .unwrap_or(-2);
    if code != 0 {
        ffi::log::detach(log_slot, &key);
        leave_groups(&ctx, &joined).await;
        return Err(EngineError::PluginCall {
            key,
            call: "iggy_sink_open",
            code,
        });
    }

    let (stopping, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        consume: symbols.consume,
        id,
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
    shared
        .ctx
        .log
        .info(TARGET, format!("sink started (plugin id {id})"));
    Ok(RunningSink {
        shared,
        log_slot,
        symbols,
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
        let close = self.symbols.close;
        let id = self.shared.id;
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(500));
        let closed = tokio::time::timeout(
            left,
            tokio::task::spawn_blocking(move || {
                // SAFETY: `id` was opened by this library.
                unsafe { close(id) }
            }),
        )
        .await;
        if !matches!(closed, Ok(Ok(0))) {
            ctx.log.warn(
                TARGET,
                format!("iggy_sink_close did not succeed: {closed:?}"),
            );
        }
        ffi::log::detach(self.log_slot, &ctx.config.key);
        leave_groups(ctx, &group_list(&ctx.config)).await;
        if ctx.stats.status() != Status::Error {
            ctx.stats.set_status(Status::Stopped);
        }
        ctx.log
            .info(TARGET, format!("sink stopped (plugin id {id})"));
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
