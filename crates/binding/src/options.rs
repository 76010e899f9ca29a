//! `EngineOptions` and friends as JavaScript sees them (`#[napi(object)]`), converted into the
//! engine's own config types. No defaults are decided here: TS resolves them.

use napi_derive::napi;

/// Fully resolved runtime config handed to the engine.
#[napi(object)]
#[derive(Clone)]
pub struct EngineOptions {
    pub iggy: IggyConnectionOptions,
    /// Directory for source state files (`source_<key>.state`). Created if missing.
    pub state_path: String,
    pub sources: Vec<SourceConnectorOptions>,
    pub sinks: Vec<SinkConnectorOptions>,
}

#[napi(object)]
#[derive(Clone)]
pub struct IggyConnectionOptions {
    /// host:port (TCP)
    pub address: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Personal access token, already resolved; wins over username/password.
    pub token: Option<String>,
    pub tls_enabled: Option<bool>,
    pub tls_ca_file: Option<String>,
    pub tls_domain: Option<String>,
}

/// One `[transforms.<type>]` table, in the order it appears in the connector file.
#[napi(object)]
#[derive(Clone)]
pub struct TransformOptions {
    /// add_fields | delete_fields | filter_fields | update_fields, else a TS transform name
    #[napi(js_name = "type")]
    pub kind: String,
    /// The table as JSON, `enabled` included.
    pub config_json: String,
}

#[napi(object)]
#[derive(Clone)]
pub struct RetryOptions {
    pub initial_backoff_ms: f64,
    pub max_backoff_ms: f64,
    pub multiplier: f64,
    /// 0 = retry forever, never skipping ahead.
    pub max_attempts: u32,
}

#[napi(object)]
#[derive(Clone)]
pub struct SourceStreamOptions {
    pub stream: String,
    pub topic: String,
    /// json | raw | text | proto | flat_buffer (encoder of the stream)
    pub schema: String,
    pub batch_length: u32,
    pub linger_time_ms: f64,
    /// "balanced" (default) | "partition_id:<n>" | "messages_key"
    pub partitioning: Option<String>,
    pub create_stream: Option<bool>,
    pub create_topic: Option<bool>,
    pub topic_partitions: Option<u32>,
}

#[napi(object)]
#[derive(Clone)]
pub struct SourceConnectorOptions {
    pub key: String,
    pub name: String,
    /// As written in the connector file; the engine resolves it.
    pub path: String,
    /// Directory of the connector file: relative plugin paths are also tried against it.
    pub config_dir: Option<String>,
    pub version: i64,
    /// "null" when the file has no [plugin_config].
    pub plugin_config_json: String,
    pub transforms: Vec<TransformOptions>,
    pub streams: Vec<SourceStreamOptions>,
    pub verbose: bool,
    pub retry: Option<RetryOptions>,
    /// Messages that cannot be sent to Iggy as produced go here; without it their batch is
    /// Nacked.
    pub dead_letter: Option<DeadLetterOptions>,
}

#[napi(object)]
#[derive(Clone)]
pub struct SinkStreamOptions {
    pub stream: String,
    pub topics: Vec<String>,
    /// Decoder schema.
    pub schema: String,
    pub batch_length: u32,
    pub poll_interval_ms: f64,
    /// Default iggy-connect-sink-<key>.
    pub consumer_group: Option<String>,
}

#[napi(object)]
#[derive(Clone)]
pub struct DeadLetterOptions {
    pub stream: String,
    pub topic: String,
}

#[napi(object)]
#[derive(Clone)]
pub struct SinkConnectorOptions {
    pub key: String,
    pub name: String,
    pub path: String,
    pub config_dir: Option<String>,
    pub version: i64,
    pub plugin_config_json: String,
    pub transforms: Vec<TransformOptions>,
    pub streams: Vec<SinkStreamOptions>,
    pub verbose: bool,
    pub retry: Option<RetryOptions>,
    pub dead_letter: Option<DeadLetterOptions>,
}

// ---- conversion into the engine's config ---------------------------------------------------

use std::path::PathBuf;
use std::time::Duration;

use iggy_connectors_engine as engine;

use crate::error::{Result, invalid};

fn millis(value: f64) -> Duration {
    Duration::from_millis(value.max(0.0) as u64)
}

fn config_error(error: engine::EngineError) -> napi::Error {
    invalid(error.to_string())
}

fn retry(options: Option<RetryOptions>) -> engine::RetryConfig {
    match options {
        None => engine::RetryConfig::default(),
        Some(r) => engine::RetryConfig {
            initial_backoff: millis(r.initial_backoff_ms),
            max_backoff: millis(r.max_backoff_ms),
            multiplier: r.multiplier,
            max_attempts: r.max_attempts,
        },
    }
}

fn transforms(key: &str, list: Vec<TransformOptions>) -> Result<Vec<engine::TransformConfig>> {
    list.into_iter()
        .map(|t| engine::parse_transform(key, &t.kind, &t.config_json).map_err(config_error))
        .collect()
}

pub fn source_config(o: SourceConnectorOptions) -> Result<engine::SourceConfig> {
    let key = o.key.clone();
    let streams = o
        .streams
        .into_iter()
        .map(|s| {
            Ok(engine::SourceStreamConfig {
                schema: engine::parse_schema(&key, &s.schema).map_err(config_error)?,
                partitioning: s
                    .partitioning
                    .as_deref()
                    .unwrap_or("balanced")
                    .parse()
                    .map_err(|e: String| invalid(format!("connector '{key}': {e}")))?,
                stream: s.stream,
                topic: s.topic,
                batch_length: s.batch_length,
                linger_time: millis(s.linger_time_ms),
                create_stream: s.create_stream.unwrap_or(false),
                create_topic: s.create_topic.unwrap_or(false),
                topic_partitions: s.topic_partitions.unwrap_or(1),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(engine::SourceConfig {
        transforms: transforms(&key, o.transforms)?,
        key: o.key,
        name: o.name,
        path: o.path,
        config_dir: o.config_dir.map(PathBuf::from),
        version: o.version,
        plugin_config_json: o.plugin_config_json,
        streams,
        verbose: o.verbose,
        retry: retry(o.retry),
        dead_letter: o.dead_letter.map(dead_letter),
    })
}

fn dead_letter(d: DeadLetterOptions) -> engine::DeadLetterConfig {
    engine::DeadLetterConfig {
        stream: d.stream,
        topic: d.topic,
    }
}

pub fn sink_config(o: SinkConnectorOptions) -> Result<engine::SinkConfig> {
    let key = o.key.clone();
    let streams = o
        .streams
        .into_iter()
        .map(|s| {
            Ok(engine::SinkStreamConfig {
                schema: engine::parse_schema(&key, &s.schema).map_err(config_error)?,
                stream: s.stream,
                topics: s.topics,
                batch_length: s.batch_length,
                poll_interval: millis(s.poll_interval_ms),
                consumer_group: s.consumer_group,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(engine::SinkConfig {
        transforms: transforms(&key, o.transforms)?,
        key: o.key,
        name: o.name,
        path: o.path,
        config_dir: o.config_dir.map(PathBuf::from),
        version: o.version,
        plugin_config_json: o.plugin_config_json,
        streams,
        verbose: o.verbose,
        retry: retry(o.retry),
        dead_letter: o.dead_letter.map(dead_letter),
    })
}

pub fn engine_config(o: EngineOptions) -> Result<engine::EngineConfig> {
    Ok(engine::EngineConfig {
        iggy: engine::IggyConfig {
            address: o.iggy.address,
            username: o.iggy.username,
            password: o.iggy.password,
            token: o.iggy.token,
            tls_enabled: o.iggy.tls_enabled.unwrap_or(false),
            tls_ca_file: o.iggy.tls_ca_file,
            tls_domain: o.iggy.tls_domain,
        },
        state_path: PathBuf::from(o.state_path),
        sources: o
            .sources
            .into_iter()
            .map(source_config)
            .collect::<Result<_>>()?,
        sinks: o
            .sinks
            .into_iter()
            .map(sink_config)
            .collect::<Result<_>>()?,
    })
}
