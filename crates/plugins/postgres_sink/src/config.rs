//! `[plugin_config]` of the PostgreSQL sink: upstream keys, meanings and defaults, plus
//! `on_bad_row` (ours).

use std::time::Duration;

use iggy_connector_postgres_common::duration::parse_or_default;
use iggy_connector_postgres_common::retry::RetryPolicy;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PostgresSinkConfig {
    pub connection_string: String,
    pub target_table: String,
    pub batch_size: Option<u32>,
    pub max_connections: Option<u32>,
    pub auto_create_table: Option<bool>,
    pub include_metadata: Option<bool>,
    pub include_checksum: Option<bool>,
    pub include_origin_timestamp: Option<bool>,
    pub payload_format: Option<String>,
    pub verbose_logging: Option<bool>,
    pub max_retries: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub retry_delay: Option<String>,
    /// `"reject"` (default), `"fail"` or `"skip"`: what `consume` does about rows PostgreSQL
    /// rejects permanently (see README).
    pub on_bad_row: Option<String>,
}

/// The `payload` column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    Bytea,
    Jsonb,
    Text,
}

impl PayloadFormat {
    pub fn sql_type(self) -> &'static str {
        match self {
            PayloadFormat::Bytea => "BYTEA",
            PayloadFormat::Jsonb => "JSONB",
            PayloadFormat::Text => "TEXT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRowPolicy {
    /// Store the rest and report the refused rows to the runtime as rejected: it
    /// dead-letters them with PostgreSQL's reason, or fails the batch without a dead-letter
    /// topic.
    Reject,
    /// Store the rest, log the rejected offsets, return Ok: the rows are dropped (opt-in).
    Skip,
    /// Store the rest, return Err naming the rejected offsets.
    Fail,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub connection_string: String,
    pub target_table: String,
    pub batch_size: u32,
    pub max_connections: u32,
    pub auto_create_table: bool,
    pub include_metadata: bool,
    pub include_checksum: bool,
    pub include_origin_timestamp: bool,
    pub payload_format: PayloadFormat,
    pub verbose: bool,
    pub retry: RetryPolicy,
    pub on_bad_row: BadRowPolicy,
}

impl PostgresSinkConfig {
    pub fn validate(self) -> Result<Settings, String> {
        if self.connection_string.trim().is_empty() {
            return Err("plugin_config.connection_string is empty".into());
        }
        if self.target_table.trim().is_empty() {
            return Err("plugin_config.target_table is empty".into());
        }
        // Upstream: json/jsonb and text by name (case-insensitive), anything else is bytea.
        let payload_format = match self
            .payload_format
            .as_deref()
            .map(|f| f.trim().to_ascii_lowercase())
        {
            Some(f) if f == "json" || f == "jsonb" => PayloadFormat::Jsonb,
            Some(f) if f == "text" => PayloadFormat::Text,
            Some(f) if f == "bytea" || f.is_empty() => PayloadFormat::Bytea,
            None => PayloadFormat::Bytea,
            Some(other) => {
                tracing::warn!(
                    "plugin_config.payload_format = {other:?} is unknown; storing payloads as bytea"
                );
                PayloadFormat::Bytea
            }
        };
        let on_bad_row = match self
            .on_bad_row
            .as_deref()
            .map(|p| p.trim().to_ascii_lowercase())
        {
            None => BadRowPolicy::Reject,
            Some(p) if p == "reject" => BadRowPolicy::Reject,
            Some(p) if p == "skip" => BadRowPolicy::Skip,
            Some(p) if p == "fail" => BadRowPolicy::Fail,
            Some(other) => {
                return Err(format!(
                    "plugin_config.on_bad_row = {other:?} (expected \"reject\", \"fail\" or \"skip\")"
                ));
            }
        };
        let batch_size = self.batch_size.unwrap_or(100);
        if batch_size == 0 {
            return Err("plugin_config.batch_size must be at least 1".into());
        }
        Ok(Settings {
            connection_string: self.connection_string,
            target_table: self.target_table,
            batch_size,
            max_connections: self.max_connections.unwrap_or(10),
            auto_create_table: self.auto_create_table.unwrap_or(false),
            include_metadata: self.include_metadata.unwrap_or(true),
            include_checksum: self.include_checksum.unwrap_or(true),
            include_origin_timestamp: self.include_origin_timestamp.unwrap_or(true),
            payload_format,
            verbose: self.verbose_logging.unwrap_or(false),
            retry: RetryPolicy::new(
                self.max_retries.unwrap_or(3),
                parse_or_default(
                    "retry_delay",
                    self.retry_delay.as_deref(),
                    Duration::from_secs(1),
                ),
            ),
            on_bad_row,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<Settings, String> {
        serde_json::from_str::<PostgresSinkConfig>(&format!(
            r#"{{"connection_string":"postgresql://x","target_table":"t"{extra}}}"#
        ))
        .map_err(|e| e.to_string())?
        .validate()
    }

    #[test]
    fn given_minimal_config_when_validated_should_apply_upstream_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.batch_size, 100);
        assert!(!s.auto_create_table);
        assert!(s.include_metadata && s.include_checksum && s.include_origin_timestamp);
        assert_eq!(s.payload_format, PayloadFormat::Bytea);
        assert_eq!(s.on_bad_row, BadRowPolicy::Reject);
        assert_eq!(s.retry, RetryPolicy::new(3, Duration::from_secs(1)));
    }

    #[test]
    fn given_payload_formats_when_validated_should_map_like_upstream() {
        let format = |f: &str| {
            parse(&format!(r#","payload_format":"{f}""#))
                .unwrap()
                .payload_format
        };
        assert_eq!(format("JSON"), PayloadFormat::Jsonb);
        assert_eq!(format("jsonb"), PayloadFormat::Jsonb);
        assert_eq!(format("Text"), PayloadFormat::Text);
        assert_eq!(format("xml"), PayloadFormat::Bytea);
        assert!(
            parse(r#","on_bad_row":"ignore""#)
                .unwrap_err()
                .contains("on_bad_row")
        );
        assert!(
            parse(r#","batch_size":0"#)
                .unwrap_err()
                .contains("batch_size")
        );
    }
}
