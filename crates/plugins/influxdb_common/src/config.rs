//! The connection keys both plugins share, with upstream's names, meanings and code defaults.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::duration;
use crate::retry::RetryPolicy;

/// How a message payload is carried in InfluxDB: `payload_format`, shared by both plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// JSON: compact JSON text.
    Json,
    /// UTF-8 text as is.
    Text,
    /// Any bytes, as base64 text. Upstream's sink spells it `base64`, its source `raw`; both
    /// accept either.
    Binary,
}

impl PayloadFormat {
    /// Parses `payload_format` (case and surrounding blanks ignored; absent or empty = json).
    /// `binary` is the plugin's own name for [`PayloadFormat::Binary`], used in the error.
    pub fn parse(value: Option<&str>, binary: &str) -> Result<PayloadFormat, String> {
        let value = value.map(|v| v.trim().to_ascii_lowercase());
        match value.as_deref() {
            None | Some("") | Some("json") => Ok(PayloadFormat::Json),
            Some("text") | Some("utf8") => Ok(PayloadFormat::Text),
            Some("base64") | Some("raw") => Ok(PayloadFormat::Binary),
            Some(other) => Err(format!(
                "plugin_config.payload_format = {other:?} (expected json, text or {binary})"
            )),
        }
    }
}

/// A secret config value (the token): never printed by `Debug`.
#[derive(Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// The shared `[plugin_config]` keys as written (flattened into each plugin's config).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ConnectionKeys {
    pub url: Option<String>,
    pub org: Option<String>,
    pub token: Option<Secret>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub timeout: Option<String>,
    pub max_retries: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub retry_delay: Option<String>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub retry_max_delay: Option<String>,
    pub max_open_retries: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub open_retry_max_delay: Option<String>,
    pub circuit_breaker_threshold: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub circuit_breaker_cool_down: Option<String>,
}

/// Validated connection settings.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Base URL without a trailing `/`.
    pub url: String,
    pub org: String,
    pub token: Secret,
    /// Per attempt.
    pub timeout: Duration,
    /// Writes and queries.
    pub retry: RetryPolicy,
    /// The `/health` wait in `open`.
    pub open_retry: RetryPolicy,
    pub breaker_threshold: u32,
    pub breaker_cool_down: Duration,
}

/// `Some(non-empty value)` or an error naming the required key.
pub fn required(key: &str, value: Option<String>) -> Result<String, String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(format!("plugin_config.{key} is required")),
    }
}

impl ConnectionKeys {
    /// `timeout_default` differs per plugin upstream (sink 30 s, source 10 s).
    pub fn validate(self, timeout_default: Duration) -> Result<Connection, String> {
        let url = required("url", self.url)?;
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "plugin_config.url = {url:?} must start with http:// or https://"
            ));
        }
        let org = required("org", self.org)?;
        // InfluxDB 1.x without auth takes any token; 2.x/3.x need one. An empty token is
        // allowed so that an unauthenticated 1.x server works; the server rejects it otherwise
        // and `open` reports that.
        let token = self.token.unwrap_or_default();
        let retry_delay = duration::parse(
            "retry_delay",
            self.retry_delay.as_deref(),
            Duration::from_secs(1),
        )?;
        let retry_max_delay = duration::parse(
            "retry_max_delay",
            self.retry_max_delay.as_deref(),
            Duration::from_secs(5),
        )?;
        let open_retry_max_delay = duration::parse(
            "open_retry_max_delay",
            self.open_retry_max_delay.as_deref(),
            Duration::from_secs(60),
        )?;
        let timeout = duration::parse("timeout", self.timeout.as_deref(), timeout_default)?;
        if timeout.is_zero() {
            return Err("plugin_config.timeout must be greater than 0".into());
        }
        Ok(Connection {
            url,
            org,
            token,
            timeout,
            retry: RetryPolicy::new(self.max_retries.unwrap_or(3), retry_delay, retry_max_delay),
            open_retry: RetryPolicy::new(
                self.max_open_retries.unwrap_or(10),
                retry_delay,
                open_retry_max_delay,
            ),
            breaker_threshold: self.circuit_breaker_threshold.unwrap_or(5),
            breaker_cool_down: duration::parse(
                "circuit_breaker_cool_down",
                self.circuit_breaker_cool_down.as_deref(),
                Duration::from_secs(30),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn payload_format_accepts_both_upstream_spellings_and_names_the_key() {
        for (value, expected) in [
            (None, PayloadFormat::Json),
            (Some(" "), PayloadFormat::Json),
            (Some("JSON"), PayloadFormat::Json),
            (Some("utf8"), PayloadFormat::Text),
            (Some(" Text "), PayloadFormat::Text),
            (Some("raw"), PayloadFormat::Binary),
            (Some("base64"), PayloadFormat::Binary),
        ] {
            assert_eq!(
                PayloadFormat::parse(value, "raw"),
                Ok(expected),
                "{value:?}"
            );
        }
        assert_eq!(
            PayloadFormat::parse(Some("xml"), "base64"),
            Err("plugin_config.payload_format = \"xml\" (expected json, text or base64)".into())
        );
    }

    use super::*;

    fn keys() -> ConnectionKeys {
        ConnectionKeys {
            url: Some("http://localhost:8086/".into()),
            org: Some("iggy".into()),
            token: Some(Secret("t".into())),
            ..ConnectionKeys::default()
        }
    }

    #[test]
    fn given_minimal_keys_when_validated_should_apply_upstream_code_defaults() {
        let c = keys().validate(Duration::from_secs(30)).unwrap();
        assert_eq!(c.url, "http://localhost:8086");
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.retry.delay, Duration::from_secs(1));
        assert_eq!(c.retry.max_delay, Duration::from_secs(5));
        assert_eq!(c.open_retry.max_attempts, 10);
        assert_eq!(c.open_retry.max_delay, Duration::from_secs(60));
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(
            (c.breaker_threshold, c.breaker_cool_down),
            (5, Duration::from_secs(30))
        );
        assert_eq!(format!("{:?}", c.token), "\"***\"");
    }

    #[test]
    fn given_bad_keys_when_validated_should_name_the_key() {
        let mut k = keys();
        k.url = None;
        assert!(
            k.validate(Duration::ZERO)
                .unwrap_err()
                .contains("plugin_config.url")
        );
        let mut k = keys();
        k.url = Some("localhost:8086".into());
        assert!(k.validate(Duration::ZERO).unwrap_err().contains("http://"));
        let mut k = keys();
        k.org = Some(" ".into());
        assert!(
            k.validate(Duration::ZERO)
                .unwrap_err()
                .contains("plugin_config.org")
        );
        let mut k = keys();
        k.retry_max_delay = Some("5 parsecs".into());
        let error = k.validate(Duration::from_secs(1)).unwrap_err();
        assert!(error.contains("plugin_config.retry_max_delay"), "{error}");
    }
}
