//! The engine's configuration: the Rust mirror of the binding's `EngineOptions`.
//!
//! Everything arrives resolved (defaults applied, secrets read, durations in milliseconds):
//! the engine never reads TOML or the environment.

use std::path::PathBuf;
use std::time::Duration;

use iggy_connectors_sdk::Schema;
use serde_json::Value;

use crate::error::EngineError;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub iggy: IggyConfig,
    /// Directory of `source_<key>.state` files; created when missing.
    pub state_path: PathBuf,
    pub sources: Vec<SourceConfig>,
    pub sinks: Vec<SinkConfig>,
}

#[derive(Debug, Clone, Default)]
pub struct IggyConfig {
    /// `host:port` (TCP).
    pub address: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Personal access token; wins over username/password.
    pub token: Option<String>,
    pub tls_enabled: bool,
    pub tls_ca_file: Option<String>,
    pub tls_domain: Option<String>,
}

/// One `[transforms.<type>]` table.
#[derive(Debug, Clone)]
pub struct TransformConfig {
    pub kind: String,
    pub config: Value,
}

/// Exponential backoff for failed sends (sources) and failed consumes (sinks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub multiplier: f64,
    /// 0 = retry forever.
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            multiplier: 2.0,
            max_attempts: 0,
        }
    }
}

impl RetryConfig {
    /// The pause before retry number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = self
            .multiplier
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let millis = (self.initial_backoff.as_millis() as f64 * factor)
            .min(self.max_backoff.as_millis() as f64);
        Duration::from_millis(millis as u64)
    }

    /// True when `attempts` failures exhausted the budget.
    pub fn exhausted(&self, attempts: u32) -> bool {
        self.max_attempts != 0 && attempts >= self.max_attempts
    }
}

/// How a source spreads messages over the partitions of its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitioningConfig {
    #[default]
    Balanced,
    PartitionId(u32),
    /// Partition by message id: messages with equal ids land in the same partition.
    MessagesKey,
}

impl std::str::FromStr for PartitioningConfig {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "balanced" => Ok(Self::Balanced),
            "messages_key" => Ok(Self::MessagesKey),
            other => match other.strip_prefix("partition_id:").map(str::parse::<u32>) {
                Some(Ok(id)) => Ok(Self::PartitionId(id)),
                _ => Err(format!(
                    "invalid partitioning '{other}', expected balanced, messages_key or partition_id:<n>"
                )),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct SourceStreamConfig {
    pub stream: String,
    pub topic: String,
    /// Encoder of the stream.
    pub schema: Schema,
    pub batch_length: u32,
    pub linger_time: Duration,
    pub partitioning: PartitioningConfig,
    pub create_stream: bool,
    pub create_topic: bool,
    pub topic_partitions: u32,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub key: String,
    pub name: String,
    pub path: String,
    pub config_dir: Option<PathBuf>,
    pub version: i64,
    /// `[plugin_config]` as JSON text, `"null"` when absent; handed to the plugin verbatim.
    pub plugin_config_json: String,
    pub transforms: Vec<TransformConfig>,
    pub streams: Vec<SourceStreamConfig>,
    pub verbose: bool,
    pub retry: RetryConfig,
    /// Where messages that cannot be sent to Iggy as produced go; without it such a batch
    /// fails (Nack) instead of being stored without them.
    pub dead_letter: Option<DeadLetterConfig>,
}

#[derive(Debug, Clone)]
pub struct SinkStreamConfig {
    pub stream: String,
    pub topics: Vec<String>,
    /// Decoder schema.
    pub schema: Schema,
    pub batch_length: u32,
    pub poll_interval: Duration,
    pub consumer_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterConfig {
    pub stream: String,
    pub topic: String,
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub key: String,
    pub name: String,
    pub path: String,
    pub config_dir: Option<PathBuf>,
    pub version: i64,
    pub plugin_config_json: String,
    pub transforms: Vec<TransformConfig>,
    pub streams: Vec<SinkStreamConfig>,
    pub verbose: bool,
    pub retry: RetryConfig,
    pub dead_letter: Option<DeadLetterConfig>,
}

impl SinkStreamConfig {
    /// The consumer group of `key`'s sink: the configured one or upstream's default name.
    pub fn group_name(&self, key: &str) -> String {
        self.consumer_group
            .clone()
            .unwrap_or_else(|| format!("iggy-connect-sink-{key}"))
    }
}

/// Parses a schema name, naming the connector and field on failure.
pub fn parse_schema(key: &str, value: &str) -> Result<Schema, EngineError> {
    value
        .parse::<Schema>()
        .map_err(|reason| EngineError::Config {
            key: key.to_owned(),
            message: reason,
        })
}

/// Parses a transform table given as JSON text.
pub fn parse_transform(key: &str, kind: &str, json: &str) -> Result<TransformConfig, EngineError> {
    let config = serde_json::from_str(json).map_err(|error| EngineError::Config {
        key: key.to_owned(),
        message: format!("transform '{kind}': config is not valid JSON: {error}"),
    })?;
    Ok(TransformConfig {
        kind: kind.to_owned(),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_retry_defaults_when_backing_off_should_double_and_cap() {
        let retry = RetryConfig {
            max_backoff: Duration::from_millis(500),
            ..RetryConfig::default()
        };
        assert_eq!(retry.backoff(1), Duration::from_millis(100));
        assert_eq!(retry.backoff(2), Duration::from_millis(200));
        assert_eq!(retry.backoff(3), Duration::from_millis(400));
        assert_eq!(retry.backoff(4), Duration::from_millis(500));
        assert!(!retry.exhausted(1_000_000));
        let bounded = RetryConfig {
            max_attempts: 3,
            ..retry
        };
        assert!(!bounded.exhausted(2));
        assert!(bounded.exhausted(3));
    }

    #[test]
    fn given_partitioning_strings_when_parsed_should_map_or_fail_clearly() {
        assert_eq!("balanced".parse(), Ok(PartitioningConfig::Balanced));
        assert_eq!(
            "partition_id:3".parse(),
            Ok(PartitioningConfig::PartitionId(3))
        );
        assert_eq!("messages_key".parse(), Ok(PartitioningConfig::MessagesKey));
        let error = "partition_id:x".parse::<PartitioningConfig>().unwrap_err();
        assert!(error.contains("partition_id:x"), "{error}");
    }
}
