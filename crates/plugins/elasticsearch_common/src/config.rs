//! Connection keys both plugins accept (upstream's `url`, `username`, `password`, plus TLS and
//! timeout keys of ours) and humantime parsing that reports bad values instead of silently
//! falling back (an upstream defect).

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// The connection part of a plugin's `[plugin_config]`.
#[derive(Clone, Deserialize, JsonSchema, Default)]
pub struct ConnectionConfig {
    /// Base URL of one node, e.g. `http://localhost:9200` (upstream: required).
    pub url: String,
    /// HTTP basic auth; used only when both are set (upstream).
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file with extra CA certificates trusted for `https://` URLs (ours).
    pub tls_ca_file: Option<String>,
    /// Accept any server certificate (ours; tests against self-signed servers only).
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
}

impl std::fmt::Debug for ConnectionConfig {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_insecure_skip_verify", &self.tls_insecure_skip_verify)
            .finish()
    }
}

/// Parses a humantime duration (`"100ms"`, `"10s"`), naming the key when it is invalid.
pub fn duration(key: &str, value: Option<&str>, default: Duration) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            format!(
                "plugin_config.{key}: '{text}' is not a duration like \"100ms\" or \"10s\" ({e})"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_bad_duration_should_name_the_key() {
        let err = duration("polling_interval", Some("soon"), Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("plugin_config.polling_interval"), "{err}");
        assert!(err.contains("soon"), "{err}");
        assert_eq!(
            duration("x", Some("250ms"), Duration::ZERO).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            duration("x", None, Duration::from_secs(3)).unwrap(),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn given_password_debug_should_mask_it() {
        let config = ConnectionConfig {
            url: "http://h:9200".into(),
            username: Some("elastic".into()),
            password: Some("hunter2".into()),
            ..ConnectionConfig::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
