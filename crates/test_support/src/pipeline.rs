//! Engine configurations for end-to-end tests: one source and one sink of the tests' choosing
//! joined by a topic of the broker under test, with fast retries. The returned structs have
//! public fields, so a test changes what it needs (`batch_length`, `dead_letter`, `schema`…).

use std::path::Path;
use std::time::Duration;

use iggy_connectors_engine::{
    ConnectorKind, ConnectorStats, Engine, EngineConfig, IggyConfig, PartitioningConfig,
    RetryConfig, SinkConfig, SinkStreamConfig, SourceConfig, SourceStreamConfig,
};
use iggy_connectors_sdk::Schema;
use serde_json::Value;

/// Retries forever, starting at 20 ms and capped at 500 ms: a test waits on the outcome, not on
/// production back-off.
pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
        multiplier: 2.0,
        max_attempts: 0,
    }
}

/// The broker at `address` with the default root user (`iggy`/`iggy`), as the test broker has.
pub fn iggy(address: &str) -> IggyConfig {
    IggyConfig {
        address: address.to_owned(),
        username: Some("iggy".into()),
        password: Some("iggy".into()),
        ..IggyConfig::default()
    }
}

/// Source `key` loading `plugin` with `plugin_config`, sending JSON to `stream`/`topic` (created
/// with one partition when missing) in batches of up to 1000.
pub fn source(
    key: &str,
    plugin: &Path,
    plugin_config: &Value,
    stream: &str,
    topic: &str,
) -> SourceConfig {
    SourceConfig {
        key: key.into(),
        name: format!("{key} source"),
        path: plugin.display().to_string(),
        config_dir: None,
        version: 1,
        plugin_config_json: plugin_config.to_string(),
        transforms: vec![],
        streams: vec![SourceStreamConfig {
            stream: stream.into(),
            topic: topic.into(),
            schema: Schema::Json,
            batch_length: 1000,
            linger_time: Duration::from_millis(5),
            partitioning: PartitioningConfig::Balanced,
            create_stream: true,
            create_topic: true,
            topic_partitions: 1,
        }],
        verbose: false,
        retry: fast_retry(),
        dead_letter: None,
    }
}

/// Sink `key` loading `plugin` with `plugin_config`, reading JSON from `stream`/`topic` in
/// batches of up to 1000 with its default consumer group.
pub fn sink(
    key: &str,
    plugin: &Path,
    plugin_config: &Value,
    stream: &str,
    topic: &str,
) -> SinkConfig {
    SinkConfig {
        key: key.into(),
        name: format!("{key} sink"),
        path: plugin.display().to_string(),
        config_dir: None,
        version: 1,
        plugin_config_json: plugin_config.to_string(),
        transforms: vec![],
        streams: vec![SinkStreamConfig {
            stream: stream.into(),
            topics: vec![topic.into()],
            schema: Schema::Json,
            batch_length: 1000,
            poll_interval: Duration::from_millis(5),
            consumer_group: None,
        }],
        verbose: false,
        retry: fast_retry(),
        dead_letter: None,
    }
}

/// An engine on the broker at `address` keeping source state under `state_dir`.
pub fn engine_config(
    address: &str,
    state_dir: &Path,
    sources: Vec<SourceConfig>,
    sinks: Vec<SinkConfig>,
) -> EngineConfig {
    EngineConfig {
        iggy: iggy(address),
        state_path: state_dir.to_path_buf(),
        sources,
        sinks,
    }
}

/// The counters of the engine's first sink (the pipelines here have one).
pub fn sink_stats(engine: &Engine) -> ConnectorStats {
    engine
        .stats()
        .into_iter()
        .find(|s| s.kind == ConnectorKind::Sink)
        .expect("the engine has a sink")
}
