//! `[plugin_config]` of the MongoDB sink: upstream's keys, meanings and defaults, validated once
//! in `open` into [`Settings`].

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// The keys exactly as upstream's `mongodb_sink` 0.4.0 reads them. Unknown keys are ignored, as
/// upstream does (no plugin uses `deny_unknown_fields`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MongoDbSinkConfig {
    pub connection_uri: String,
    pub database: String,
    pub collection: String,
    pub max_pool_size: Option<u32>,
    pub auto_create_collection: Option<bool>,
    pub batch_size: Option<u32>,
    pub include_metadata: Option<bool>,
    pub include_checksum: Option<bool>,
    pub include_origin_timestamp: Option<bool>,
    pub payload_format: Option<String>,
    pub verbose_logging: Option<bool>,
    pub max_retries: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub retry_delay: Option<String>,
}

/// How the message payload is stored in the `payload` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// BSON Binary, subtype Generic (0x00), holding the payload bytes.
    Binary,
    /// The payload parsed as JSON and stored as BSON (an object becomes an embedded document).
    Json,
    /// The payload as a UTF-8 string.
    String,
}

/// Upstream's retry loop: `max_attempts` in total (`max_retries`, at least 1); the sleep after
/// attempt n is `delay × n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub delay: Duration,
}

impl RetryPolicy {
    /// The pause after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.delay * attempt
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub connection_uri: String,
    pub database: String,
    pub collection: String,
    pub max_pool_size: Option<u32>,
    pub auto_create_collection: bool,
    pub batch_size: usize,
    pub include_metadata: bool,
    pub include_checksum: bool,
    pub include_origin_timestamp: bool,
    pub payload_format: PayloadFormat,
    pub verbose: bool,
    pub retry: RetryPolicy,
}

const DEFAULT_BATCH_SIZE: u32 = 100;
const DEFAULT_MAX_RETRIES: u32 = 3;
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

impl MongoDbSinkConfig {
    /// Checks the keys and applies upstream's defaults. Errors name the key.
    pub fn validate(self) -> Result<Settings, String> {
        let required = |key: &str, value: &str| {
            if value.trim().is_empty() {
                Err(format!("plugin_config.{key} is empty"))
            } else {
                Ok(())
            }
        };
        required("connection_uri", &self.connection_uri)?;
        required("database", &self.database)?;
        required("collection", &self.collection)?;
        // MongoDB's own naming rules, checked here so a typo fails `open` with the key's name
        // instead of failing every insert later.
        if let Some(bad) = self
            .database
            .chars()
            .find(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'))
        {
            return Err(format!(
                "plugin_config.database = {:?}: a database name cannot contain {bad:?}",
                self.database
            ));
        }
        if self.collection.contains('\0') || self.collection.starts_with("system.") {
            return Err(format!(
                "plugin_config.collection = {:?}: not a usable collection name",
                self.collection
            ));
        }
        let batch_size = self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err("plugin_config.batch_size must be at least 1".into());
        }
        if self.max_pool_size == Some(0) {
            return Err("plugin_config.max_pool_size must be at least 1".into());
        }
        Ok(Settings {
            connection_uri: self.connection_uri,
            database: self.database,
            collection: self.collection,
            max_pool_size: self.max_pool_size,
            auto_create_collection: self.auto_create_collection.unwrap_or(false),
            batch_size: batch_size as usize,
            include_metadata: self.include_metadata.unwrap_or(true),
            include_checksum: self.include_checksum.unwrap_or(true),
            include_origin_timestamp: self.include_origin_timestamp.unwrap_or(true),
            payload_format: payload_format(self.payload_format.as_deref()),
            verbose: self.verbose_logging.unwrap_or(false),
            retry: RetryPolicy {
                max_attempts: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES).max(1),
                delay: retry_delay(self.retry_delay.as_deref()),
            },
        })
    }
}

/// Upstream: `binary`, `json`, `string` (alias `text`), case-insensitive; anything else warns
/// and means binary.
fn payload_format(value: Option<&str>) -> PayloadFormat {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("binary") => PayloadFormat::Binary,
        Some("json") => PayloadFormat::Json,
        Some("string") | Some("text") => PayloadFormat::String,
        Some(other) => {
            tracing::warn!(
                "plugin_config.payload_format = {other:?} is unknown (binary, json, string); storing payloads as binary"
            );
            PayloadFormat::Binary
        }
    }
}

/// Upstream falls back to the default silently on a typo; we fall back too (a running
/// pipeline must not stop over it) but say so, naming the key.
fn retry_delay(value: Option<&str>) -> Duration {
    match value.map(str::trim) {
        None | Some("") => DEFAULT_RETRY_DELAY,
        Some(text) => humantime::parse_duration(text).unwrap_or_else(|error| {
            tracing::warn!(
                "plugin_config.retry_delay = {text:?} is not a duration ({error}); using 1s"
            );
            DEFAULT_RETRY_DELAY
        }),
    }
}

/// Connection URIs hold passwords; logs show upstream's redaction: the scheme, the first three
/// characters after it, then `***`.
pub fn redact_uri(uri: &str) -> String {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", uri));
    let head: String = rest.chars().take(3).collect();
    if scheme.is_empty() {
        format!("{head}***")
    } else {
        format!("{scheme}://{head}***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<Settings, String> {
        serde_json::from_str::<MongoDbSinkConfig>(&format!(
            r#"{{"connection_uri":"mongodb://localhost","database":"db","collection":"c"{extra}}}"#
        ))
        .map_err(|e| e.to_string())?
        .validate()
    }

    #[test]
    fn given_minimal_config_when_validated_should_apply_upstream_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.batch_size, 100);
        assert_eq!(s.max_pool_size, None);
        assert!(!s.auto_create_collection);
        assert!(s.include_metadata && s.include_checksum && s.include_origin_timestamp);
        assert_eq!(s.payload_format, PayloadFormat::Binary);
        assert!(!s.verbose);
        assert_eq!(
            s.retry,
            RetryPolicy {
                max_attempts: 3,
                delay: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn given_payload_formats_when_validated_should_map_like_upstream() {
        let format = |f: &str| {
            parse(&format!(r#","payload_format":"{f}""#))
                .unwrap()
                .payload_format
        };
        assert_eq!(format("JSON"), PayloadFormat::Json);
        assert_eq!(format("string"), PayloadFormat::String);
        assert_eq!(format("Text"), PayloadFormat::String);
        assert_eq!(format("binary"), PayloadFormat::Binary);
        assert_eq!(format("xml"), PayloadFormat::Binary);
    }

    #[test]
    fn given_retry_keys_when_validated_should_give_total_attempts_and_linear_backoff() {
        let s = parse(r#","max_retries":0,"retry_delay":"50ms""#).unwrap();
        assert_eq!(s.retry.max_attempts, 1);
        assert_eq!(s.retry.backoff(3), Duration::from_millis(150));
        let s = parse(r#","retry_delay":"soon""#).unwrap();
        assert_eq!(s.retry.delay, Duration::from_secs(1));
    }

    #[test]
    fn given_uri_with_password_when_redacted_should_keep_only_scheme_and_three_chars() {
        assert_eq!(
            redact_uri("mongodb://user:secret@db:27017/?w=2"),
            "mongodb://use***"
        );
        assert_eq!(
            redact_uri("mongodb+srv://u:p@cluster"),
            "mongodb+srv://u:p***"
        );
    }

    #[test]
    fn given_bad_values_when_validated_should_name_the_key() {
        let error = |extra: &str| parse(extra).unwrap_err();
        assert!(error(r#","batch_size":0"#).contains("batch_size"));
        assert!(error(r#","max_pool_size":0"#).contains("max_pool_size"));
        let bad_db = serde_json::from_str::<MongoDbSinkConfig>(
            r#"{"connection_uri":"mongodb://x","database":"a.b","collection":"c"}"#,
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(bad_db.contains("plugin_config.database"), "{bad_db}");
        let empty = serde_json::from_str::<MongoDbSinkConfig>(
            r#"{"connection_uri":" ","database":"d","collection":"c"}"#,
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(empty.contains("connection_uri"), "{empty}");
    }
}
