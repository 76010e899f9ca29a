//! `[plugin_config]` of the InfluxDB source: upstream's keys with their meanings and code
//! defaults. Differences: a bad duration, `initial_offset` or `payload_format` fails `open`
//! naming the key (upstream fell back to 1 s / failed every poll / fell back to json).

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
pub use iggy_connector_influxdb_common::PayloadFormat;
use iggy_connector_influxdb_common::config::{Connection, ConnectionKeys, required};
use iggy_connector_influxdb_common::duration;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct InfluxDbSourceConfig {
    #[serde(flatten)]
    pub connection: ConnectionKeys,
    pub query: Option<String>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub poll_interval: Option<String>,
    pub batch_size: Option<u32>,
    pub cursor_field: Option<String>,
    pub initial_offset: Option<String>,
    pub payload_column: Option<String>,
    pub payload_format: Option<String>,
    pub include_metadata: Option<bool>,
    pub verbose_logging: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: Connection,
    pub query: String,
    pub poll_interval: Duration,
    pub batch_size: u64,
    pub cursor_field: String,
    pub initial_offset: String,
    pub payload_column: Option<String>,
    pub payload_format: PayloadFormat,
    pub include_metadata: bool,
    pub verbose: bool,
}

pub const EPOCH: &str = "1970-01-01T00:00:00Z";

/// A cursor value safe to paste into Flux: an RFC 3339 time made only of the characters such a
/// time needs (no quote can slip into the query), parsed to its instant.
pub fn parse_cursor(value: &str) -> Option<DateTime<FixedOffset>> {
    let safe = value.len() >= 20
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b'T' | b'Z' | b'.' | b'+'));
    if !safe {
        return None;
    }
    DateTime::parse_from_rfc3339(value).ok()
}

impl InfluxDbSourceConfig {
    pub fn validate(self) -> Result<Settings, String> {
        let connection = self.connection.validate(Duration::from_secs(10))?;
        let query = required("query", self.query)?;
        if !query.contains("$cursor") {
            tracing::warn!(
                "plugin_config.query has no $cursor: every poll reads the same rows again"
            );
        }
        if !query.contains("$limit") {
            tracing::warn!(
                "plugin_config.query has no $limit: a poll reads every matching row into memory"
            );
        }
        let poll_interval = duration::parse(
            "poll_interval",
            self.poll_interval.as_deref(),
            Duration::from_secs(5),
        )?;
        let initial_offset = self
            .initial_offset
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| EPOCH.to_string());
        if parse_cursor(&initial_offset).is_none() {
            return Err(format!(
                "plugin_config.initial_offset = {initial_offset:?} is not an RFC 3339 time like \"2024-01-01T00:00:00Z\""
            ));
        }
        let cursor_field = self
            .cursor_field
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "_time".into());
        let payload_column = self
            .payload_column
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        let payload_format = PayloadFormat::parse(self.payload_format.as_deref(), "raw")?;
        Ok(Settings {
            connection,
            query,
            poll_interval,
            batch_size: u64::from(self.batch_size.unwrap_or(500).max(1)),
            cursor_field,
            initial_offset,
            payload_column,
            payload_format,
            include_metadata: self.include_metadata.unwrap_or(true),
            verbose: self.verbose_logging.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy_connector_influxdb_common::testing::merged;

    fn config(extra: serde_json::Value) -> Result<Settings, String> {
        let base = serde_json::json!({"url": "http://localhost:8086", "org": "o",
            "token": "t", "query": "from(bucket: \"b\") |> range(start: time(v: \"$cursor\")) |> limit(n: $limit)"});
        serde_json::from_value::<InfluxDbSourceConfig>(merged(base, extra))
            .unwrap()
            .validate()
    }

    #[test]
    fn given_minimal_config_when_validated_should_use_upstream_code_defaults() {
        let s = config(serde_json::json!({})).unwrap();
        assert_eq!(s.poll_interval, Duration::from_secs(5));
        assert_eq!(s.batch_size, 500);
        assert_eq!(s.cursor_field, "_time");
        assert_eq!(s.initial_offset, EPOCH);
        assert_eq!(s.payload_column, None);
        assert_eq!(s.payload_format, PayloadFormat::Json);
        assert!(s.include_metadata);
        assert_eq!(s.connection.timeout, Duration::from_secs(10));
    }

    #[test]
    fn given_bad_values_when_validated_should_name_the_key() {
        for (extra, key) in [
            (
                serde_json::json!({"initial_offset": "yesterday"}),
                "initial_offset",
            ),
            (
                serde_json::json!({"initial_offset": "2024-01-01T00:00:00Z\") |> drop(\""}),
                "initial_offset",
            ),
            (
                serde_json::json!({"poll_interval": "often"}),
                "poll_interval",
            ),
            (
                serde_json::json!({"payload_format": "xml"}),
                "payload_format",
            ),
            (serde_json::json!({"query": ""}), "query"),
        ] {
            let error = config(extra).unwrap_err();
            assert!(error.contains(&format!("plugin_config.{key}")), "{error}");
        }
    }

    #[test]
    fn given_cursor_values_when_checked_should_accept_only_plain_rfc3339() {
        assert!(parse_cursor("2024-01-01T00:00:00.123456789Z").is_some());
        assert!(parse_cursor("2024-01-01T00:00:00+02:00").is_some());
        assert!(parse_cursor("2024-01-01 00:00:00Z").is_none());
        assert!(parse_cursor("2024-01-01T00:00:00Z\"").is_none());
    }
}
