//! The engine: owns the Iggy clients, the connectors' stats and the running pipelines, and
//! implements start/stop/restart. A connector that fails to start is isolated (status
//! `error`); the others keep running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use iggy::prelude::{Client, IggyClient};

use crate::config::{EngineConfig, SinkConfig, SourceConfig};
use crate::connector_host::{ExternalTarget, SharedHost};
use crate::error::{EngineError, Result};
use crate::logs::{LogBus, LogLevel};
use crate::sink::{self, RunningSink, SinkContext};
use crate::source::{self, RunningSource, SourceContext};
use crate::stages::ExternalHook;
use crate::stats::{ConnectorKind, ConnectorState, ConnectorStats, Status};

const TARGET: &str = "iggy_connectors::engine";
/// Per-connector stop budget when the caller gives none.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

struct Entry {
    kind: ConnectorKind,
    key: String,
    name: String,
    state: Arc<ConnectorState>,
    /// A second definition of an existing key: reported, never started.
    duplicate: bool,
}

enum Running {
    Source(RunningSource),
    Sink(RunningSink),
}

struct Clients {
    producer: Arc<IggyClient>,
    consumer: Arc<IggyClient>,
}

struct Inner {
    config: Mutex<EngineConfig>,
    logs: LogBus,
    hook: RwLock<Option<ExternalHook>>,
    /// The host of TypeScript connectors and the modules it runs, by (kind, key).
    connector_host: RwLock<Option<SharedHost>>,
    external: Mutex<HashMap<(ConnectorKind, String), String>>,
    entries: Mutex<Vec<Entry>>,
    /// Held for the whole of every start/stop, so operations never interleave.
    running: tokio::sync::Mutex<HashMap<(ConnectorKind, String), Running>>,
    clients: tokio::sync::Mutex<Option<Clients>>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        let logs = LogBus::default();
        let mut entries: Vec<Entry> = Vec::new();
        let keys = config
            .sources
            .iter()
            .map(|s| (ConnectorKind::Source, &s.key, &s.name))
            .chain(
                config
                    .sinks
                    .iter()
                    .map(|s| (ConnectorKind::Sink, &s.key, &s.name)),
            );
        for (kind, key, name) in keys {
            let duplicate = entries.iter().any(|e| e.kind == kind && &e.key == key);
            let state = Arc::new(ConnectorState::default());
            if duplicate {
                let message = format!(
                    "duplicate {} key '{key}': another {} connector already uses it; only the first one runs",
                    kind.as_str(),
                    kind.as_str()
                );
                logs.emit(LogLevel::Error, Some(key), TARGET, message.clone());
                state.fail(message);
            }
            entries.push(Entry {
                kind,
                key: key.clone(),
                name: name.clone(),
                state,
                duplicate,
            });
        }
        Self {
            inner: Arc::new(Inner {
                config: Mutex::new(config),
                logs,
                hook: RwLock::new(None),
                connector_host: RwLock::new(None),
                external: Mutex::new(HashMap::new()),
                entries: Mutex::new(entries),
                running: tokio::sync::Mutex::new(HashMap::new()),
                clients: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The log bus: read engine and plugin log lines from `logs().receiver()`.
    pub fn logs(&self) -> &LogBus {
        &self.inner.logs
    }

    /// Registers the handler of non-built-in (TypeScript) transforms; used by connectors
    /// started afterwards.
    pub fn set_external_transform(&self, hook: ExternalHook) {
        *self.inner.hook.write().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Registers the host that runs connectors written in TypeScript.
    pub fn set_connector_host(&self, host: SharedHost) {
        *self
            .inner
            .connector_host
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(host);
    }

    /// Marks connector (`kind`, `key`) as written in TypeScript: from its next start it runs
    /// `module` through the connector host instead of loading its `path`. `None` turns it
    /// back into a native connector.
    pub fn set_external_connector(&self, kind: ConnectorKind, key: &str, module: Option<String>) {
        let mut external = self
            .inner
            .external
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match module {
            Some(module) => external.insert((kind, key.to_owned()), module),
            None => external.remove(&(kind, key.to_owned())),
        };
    }

    /// The host target of a TypeScript connector; Err when it is one but no host is set.
    fn external_target(&self, kind: ConnectorKind, key: &str) -> Result<Option<ExternalTarget>> {
        let module = self
            .inner
            .external
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(kind, key.to_owned()))
            .cloned();
        let Some(module) = module else {
            return Ok(None);
        };
        let host = self
            .inner
            .connector_host
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| EngineError::Config {
                key: key.to_owned(),
                message: format!(
                    "TypeScript module {module} configured but no connector host is registered"
                ),
            })?;
        Ok(Some(ExternalTarget { host, module }))
    }

    fn log(&self, level: LogLevel, key: Option<&str>, message: String) {
        self.inner.logs.emit(level, key, TARGET, message);
    }

    fn state_of(&self, kind: ConnectorKind, key: &str) -> Option<Arc<ConnectorState>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|e| e.kind == kind && e.key == key && !e.duplicate)
            .map(|e| e.state.clone())
    }

    async fn clients(&self) -> Result<(Arc<IggyClient>, Arc<IggyClient>)> {
        let mut clients = self.inner.clients.lock().await;
        if let Some(c) = clients.as_ref() {
            return Ok((c.producer.clone(), c.consumer.clone()));
        }
        let iggy = self
            .inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iggy
            .clone();
        // Consumer first, then producer, as upstream.
        let consumer = crate::iggy::connect(&iggy).await?;
        let producer = crate::iggy::connect(&iggy).await?;
        *clients = Some(Clients {
            producer: producer.clone(),
            consumer: consumer.clone(),
        });
        Ok((producer, consumer))
    }

    /// Starts every connector. Fails only when Iggy cannot be reached or the state directory
    /// cannot be created; a connector that cannot start gets status `error`.
    pub async fn start(&self) -> Result<Vec<ConnectorStats>> {
        let state_path = self
            .inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state_path
            .clone();
        std::fs::create_dir_all(&state_path).map_err(|source| EngineError::State {
            path: state_path.clone(),
            source,
        })?;
        self.clients().await?;
        let targets: Vec<(ConnectorKind, String)> = self
            .inner
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| !e.duplicate)
            .map(|e| (e.kind, e.key.clone()))
            .collect();
        let mut running = self.inner.running.lock().await;
        for (kind, key) in targets {
            if running.contains_key(&(kind, key.clone())) {
                continue;
            }
            if let Err(error) = self.start_locked(&mut running, kind, &key).await {
                self.log(LogLevel::Error, Some(&key), error.to_string());
            }
        }
        drop(running);
        Ok(self.stats())
    }

    async fn start_locked(
        &self,
        running: &mut HashMap<(ConnectorKind, String), Running>,
        kind: ConnectorKind,
        key: &str,
    ) -> Result<()> {
        let state = self
            .state_of(kind, key)
            .ok_or_else(|| EngineError::NotFound {
                kind: kind.as_str(),
                key: key.to_owned(),
            })?;
        if running.contains_key(&(kind, key.to_owned())) {
            return Ok(());
        }
        state.set_status(Status::Starting);
        let result = self.start_one(kind, key, state.clone()).await;
        match result {
            Ok(started) => {
                running.insert((kind, key.to_owned()), started);
                Ok(())
            }
            Err(error) => {
                state.fail(error.to_string());
                Err(error)
            }
        }
    }

    async fn start_one(
        &self,
        kind: ConnectorKind,
        key: &str,
        state: Arc<ConnectorState>,
    ) -> Result<Running> {
        let (producer, consumer) = self.clients().await?;
        let hook = self
            .inner
            .hook
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let log = self.inner.logs.for_connector(key);
        let external = self.external_target(kind, key)?;
        let config = self
            .inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match kind {
            ConnectorKind::Source => {
                let source = find_source(&config, key)?;
                let started = source::start(SourceContext {
                    config: source,
                    client: producer,
                    state_dir: config.state_path.clone(),
                    stats: state,
                    log,
                    hook,
                    external,
                })
                .await?;
                Ok(Running::Source(started))
            }
            ConnectorKind::Sink => {
                let sink = find_sink(&config, key)?;
                let started = sink::start(SinkContext {
                    config: sink,
                    consumer,
                    producer,
                    stats: state,
                    log,
                    hook,
                    external,
                })
                .await?;
                Ok(Running::Sink(started))
            }
        }
    }

    /// Starts one connector (a no-op when it runs already). Errors are returned and also
    /// recorded as the connector's status.
    pub async fn start_connector(&self, kind: ConnectorKind, key: &str) -> Result<()> {
        let mut running = self.inner.running.lock().await;
        self.start_locked(&mut running, kind, key).await
    }

    /// Stops one connector gracefully (a no-op when it is not running).
    pub async fn stop_connector(
        &self,
        kind: ConnectorKind,
        key: &str,
        timeout: Duration,
    ) -> Result<()> {
        let state = self
            .state_of(kind, key)
            .ok_or_else(|| EngineError::NotFound {
                kind: kind.as_str(),
                key: key.to_owned(),
            })?;
        let mut running = self.inner.running.lock().await;
        if let Some(connector) = running.remove(&(kind, key.to_owned())) {
            stop_running(connector, timeout).await;
        } else if state.status() != Status::Error {
            state.set_status(Status::Stopped);
        }
        Ok(())
    }

    /// Stops every connector (concurrently, each within `timeout`) and closes the clients.
    pub async fn stop(&self, timeout: Duration) {
        let mut running = self.inner.running.lock().await;
        let stops: Vec<_> = running
            .drain()
            .map(|(_, connector)| tokio::spawn(stop_running(connector, timeout)))
            .collect();
        for stop in stops {
            let _ = stop.await;
        }
        drop(running);
        if let Some(clients) = self.inner.clients.lock().await.take() {
            let _ = clients.producer.shutdown().await;
            let _ = clients.consumer.shutdown().await;
        }
        self.log(LogLevel::Info, None, "engine stopped".to_owned());
    }

    /// Stops the source, optionally replaces its config, and starts it again (new plugin id,
    /// state reloaded from its file).
    pub async fn restart_source(&self, key: &str, config: Option<SourceConfig>) -> Result<()> {
        if let Some(config) = config {
            ensure_restart_key(key, &config.key)?;
            self.replace(|c| replace_keyed(&mut c.sources, key, &config, |s| &s.key));
            self.rename(ConnectorKind::Source, key, &config.name);
        }
        self.restart(ConnectorKind::Source, key).await
    }

    /// Like [`Engine::restart_source`], for a sink (the group offset carries over).
    pub async fn restart_sink(&self, key: &str, config: Option<SinkConfig>) -> Result<()> {
        if let Some(config) = config {
            ensure_restart_key(key, &config.key)?;
            self.replace(|c| replace_keyed(&mut c.sinks, key, &config, |s| &s.key));
            self.rename(ConnectorKind::Sink, key, &config.name);
        }
        self.restart(ConnectorKind::Sink, key).await
    }

    async fn restart(&self, kind: ConnectorKind, key: &str) -> Result<()> {
        self.stop_connector(kind, key, DEFAULT_STOP_TIMEOUT).await?;
        self.start_connector(kind, key).await
    }

    fn replace(&self, update: impl FnOnce(&mut EngineConfig)) {
        update(&mut self.inner.config.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn rename(&self, kind: ConnectorKind, key: &str, name: &str) {
        let mut entries = self.inner.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries
            .iter_mut()
            .find(|e| e.kind == kind && e.key == key && !e.duplicate)
        {
            entry.name = name.to_owned();
        }
    }

    /// The (producer, consumer) Iggy clients, connected on first use: for the operator
    /// tools (dead letters, lag) that read and write Iggy outside the pipelines.
    pub(crate) async fn iggy_clients(&self) -> Result<(Arc<IggyClient>, Arc<IggyClient>)> {
        self.clients().await
    }

    /// The current config (with restarts' replacements applied).
    pub(crate) fn config_snapshot(&self) -> EngineConfig {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The shared state (counters, tap) of a connector that is not a duplicate.
    pub(crate) fn connector_state(
        &self,
        kind: ConnectorKind,
        key: &str,
    ) -> Result<Arc<ConnectorState>> {
        self.state_of(kind, key)
            .ok_or_else(|| EngineError::NotFound {
                kind: kind.as_str(),
                key: key.to_owned(),
            })
    }

    /// A snapshot of every connector, in config order (sources, then sinks).
    pub fn stats(&self) -> Vec<ConnectorStats> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|e| e.state.snapshot(&e.key, e.kind, &e.name))
            .collect()
    }
}

async fn stop_running(connector: Running, timeout: Duration) {
    match connector {
        Running::Source(source) => source.stop(timeout).await,
        Running::Sink(sink) => sink.stop(timeout).await,
    }
}

pub(crate) fn find_source(config: &EngineConfig, key: &str) -> Result<SourceConfig> {
    config
        .sources
        .iter()
        .find(|s| s.key == key)
        .cloned()
        .ok_or_else(|| EngineError::NotFound {
            kind: "source",
            key: key.to_owned(),
        })
}

pub(crate) fn find_sink(config: &EngineConfig, key: &str) -> Result<SinkConfig> {
    config
        .sinks
        .iter()
        .find(|s| s.key == key)
        .cloned()
        .ok_or_else(|| EngineError::NotFound {
            kind: "sink",
            key: key.to_owned(),
        })
}

/// Restart options must describe the connector being restarted.
fn ensure_restart_key(key: &str, options_key: &str) -> Result<()> {
    if options_key == key {
        return Ok(());
    }
    Err(EngineError::Config {
        key: key.to_owned(),
        message: format!("restart options are for key '{options_key}'"),
    })
}

/// Replaces the config whose key is `key` (a no-op when none has it).
fn replace_keyed<T: Clone>(list: &mut [T], key: &str, config: &T, key_of: impl Fn(&T) -> &str) {
    if let Some(slot) = list.iter_mut().find(|item| key_of(item) == key) {
        *slot = config.clone();
    }
}
