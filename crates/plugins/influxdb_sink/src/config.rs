//! `[plugin_config]` of the InfluxDB sink: upstream's keys with their meanings and code
//! defaults, plus `unsigned_integers` (ours).

use std::time::Duration;

pub use iggy_connector_influxdb_common::PayloadFormat;
use iggy_connector_influxdb_common::config::{Connection, ConnectionKeys, required};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct InfluxDbSinkConfig {
    #[serde(flatten)]
    pub connection: ConnectionKeys,
    pub bucket: Option<String>,
    pub measurement: Option<String>,
    pub precision: Option<String>,
    pub batch_size: Option<u32>,
    pub payload_format: Option<String>,
    pub include_metadata: Option<bool>,
    pub include_stream_tag: Option<bool>,
    pub include_topic_tag: Option<bool>,
    pub include_partition_tag: Option<bool>,
    pub include_checksum: Option<bool>,
    pub include_origin_timestamp: Option<bool>,
    pub verbose_logging: Option<bool>,
    /// Ours: write integer fields with the `u` suffix (`true`) or as signed `i` (`false`).
    /// Absent: unsigned unless the server is InfluxDB 1.x, which cannot parse `u`.
    pub unsigned_integers: Option<bool>,
}

/// Timestamp precision: the resolution of the point time (see `Settings::point_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Ns,
    Us,
    Ms,
    S,
}

impl Precision {
    /// Nanoseconds per unit. Iggy timestamps are microseconds, so `ns` carries no more detail
    /// than `us`.
    pub fn unit_ns(self) -> u64 {
        match self {
            Precision::Ns | Precision::Us => 1_000,
            Precision::Ms => 1_000_000,
            Precision::S => 1_000_000_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: Connection,
    pub bucket: String,
    pub measurement: String,
    pub precision: Precision,
    pub batch_size: usize,
    pub payload_format: PayloadFormat,
    pub include_metadata: bool,
    pub include_stream_tag: bool,
    pub include_topic_tag: bool,
    pub include_partition_tag: bool,
    pub include_checksum: bool,
    pub include_origin_timestamp: bool,
    pub verbose: bool,
    pub unsigned_integers: Option<bool>,
}

impl InfluxDbSinkConfig {
    pub fn validate(self) -> Result<Settings, String> {
        let connection = self.connection.validate(Duration::from_secs(30))?;
        let bucket = required("bucket", self.bucket)?;
        let measurement = self
            .measurement
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "iggy_messages".into());
        // Refuse a measurement the line protocol cannot carry now, not on every message.
        iggy_connector_influxdb_common::line::escape_measurement(&measurement, &mut String::new())
            .map_err(|e| format!("plugin_config.measurement: {e}"))?;
        let precision = match self
            .precision
            .as_deref()
            .map(|p| p.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") | Some("us") => Precision::Us,
            Some("ns") => Precision::Ns,
            Some("ms") => Precision::Ms,
            Some("s") => Precision::S,
            Some(other) => {
                return Err(format!(
                    "plugin_config.precision = {other:?} (expected ns, us, ms or s)"
                ));
            }
        };
        let payload_format = PayloadFormat::parse(self.payload_format.as_deref(), "base64")?;
        Ok(Settings {
            connection,
            bucket,
            measurement,
            precision,
            // Upstream: 0 means 1.
            batch_size: self.batch_size.unwrap_or(500).max(1) as usize,
            payload_format,
            include_metadata: self.include_metadata.unwrap_or(true),
            include_stream_tag: self.include_stream_tag.unwrap_or(true),
            include_topic_tag: self.include_topic_tag.unwrap_or(true),
            include_partition_tag: self.include_partition_tag.unwrap_or(true),
            include_checksum: self.include_checksum.unwrap_or(true),
            include_origin_timestamp: self.include_origin_timestamp.unwrap_or(true),
            verbose: self.verbose_logging.unwrap_or(false),
            unsigned_integers: self.unsigned_integers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy_connector_influxdb_common::testing::merged;

    fn config(extra: serde_json::Value) -> Result<Settings, String> {
        let base = serde_json::json!({"url": "http://localhost:8086", "org": "o",
            "bucket": "b", "token": "t"});
        serde_json::from_value::<InfluxDbSinkConfig>(merged(base, extra))
            .unwrap()
            .validate()
    }

    #[test]
    fn given_minimal_config_when_validated_should_use_upstream_code_defaults() {
        let s = config(serde_json::json!({})).unwrap();
        assert_eq!(s.measurement, "iggy_messages");
        assert_eq!(s.precision, Precision::Us);
        assert_eq!(s.batch_size, 500);
        assert_eq!(s.payload_format, PayloadFormat::Json);
        assert!(s.include_metadata && s.include_stream_tag && s.include_checksum);
        assert_eq!(s.connection.timeout, Duration::from_secs(30));
        assert_eq!(
            config(serde_json::json!({"batch_size": 0}))
                .unwrap()
                .batch_size,
            1
        );
        let s = config(serde_json::json!({"payload_format": "BASE64", "precision": "MS"})).unwrap();
        assert_eq!(
            (s.payload_format, s.precision),
            (PayloadFormat::Binary, Precision::Ms)
        );
    }

    #[test]
    fn given_bad_values_when_validated_should_name_the_key() {
        let error = config(serde_json::json!({"precision": "h"})).unwrap_err();
        assert!(error.contains("plugin_config.precision"), "{error}");
        let error = config(serde_json::json!({"payload_format": "xml"})).unwrap_err();
        assert!(error.contains("plugin_config.payload_format"), "{error}");
        let error = config(serde_json::json!({"bucket": null})).unwrap_err();
        assert!(error.contains("plugin_config.bucket"), "{error}");
        let error = config(serde_json::json!({"measurement": "a\nb"})).unwrap_err();
        assert!(error.contains("plugin_config.measurement"), "{error}");
    }
}
