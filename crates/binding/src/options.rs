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
