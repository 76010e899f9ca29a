//! `[plugin_config]` of the HTTP sink: every upstream key with its upstream meaning and
//! default, plus `reject_status_codes` (ours). [`HttpSinkConfig::validate`] turns it into
//! [`Settings`] or an error naming the key.

use std::collections::BTreeMap;
use std::time::Duration;

use iggy_connector_http_common::{Backoff, Framing, SuccessCodes, backoff, duration};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use schemars::JsonSchema;
use serde::Deserialize;

const DEFAULT_MAX_PAYLOAD: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct HttpSinkConfig {
    pub url: String,
    pub method: Option<String>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub timeout: Option<String>,
    pub max_payload_size_bytes: Option<u64>,
    pub batch_mode: Option<String>,
    pub include_metadata: Option<bool>,
    pub include_checksum: Option<bool>,
    pub include_origin_timestamp: Option<bool>,
    pub health_check_enabled: Option<bool>,
    pub health_check_method: Option<String>,
    pub max_retries: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub retry_delay: Option<String>,
    pub retry_backoff_multiplier: Option<f64>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub max_retry_delay: Option<String>,
    pub success_status_codes: Option<Vec<u16>>,
    pub tls_danger_accept_invalid_certs: Option<bool>,
    pub max_connections: Option<usize>,
    pub verbose_logging: Option<bool>,
    pub headers: Option<BTreeMap<String, serde_json::Value>>,
    /// Ours: final statuses that mean "this message's content is refused" (see README).
    pub reject_status_codes: Option<Vec<u16>>,
    /// Everything else. `headers_<name>` keys are headers (what the env override
    /// `…_PLUGIN_CONFIG_HEADERS_<NAME>` produces); other unknown keys are warned about.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// One request per message, JSON body.
    Individual,
    /// One request per chunk, one JSON document per line, each line ending in `\n`.
    Ndjson,
    /// One request per chunk, a JSON array.
    JsonArray,
    /// One request per message, the payload bytes as they are.
    Raw,
}

impl BatchMode {
    pub fn content_type(self) -> &'static str {
        match self {
            BatchMode::Individual | BatchMode::JsonArray => "application/json",
            BatchMode::Ndjson => "application/x-ndjson",
            BatchMode::Raw => "application/octet-stream",
        }
    }

    pub fn framing(self) -> Framing {
        match self {
            BatchMode::Ndjson => Framing::Ndjson,
            BatchMode::JsonArray => Framing::JsonArray,
            BatchMode::Individual | BatchMode::Raw => Framing::Single,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub url: Url,
    pub method: Method,
    pub timeout: Duration,
    /// 0 = no limit.
    pub max_payload_size_bytes: u64,
    pub batch_mode: BatchMode,
    pub include_metadata: bool,
    pub include_checksum: bool,
    pub include_origin_timestamp: bool,
    pub health_check: Option<Method>,
    pub backoff: Backoff,
    pub success: SuccessCodes,
    pub reject_status_codes: Vec<u16>,
    pub accept_invalid_certs: bool,
    pub max_connections: usize,
    pub verbose: bool,
    /// Custom headers, without any Content-Type (the batch mode sets it).
    pub headers: HeaderMap,
}

/// Upstream's method names are upper-case and case-sensitive.
fn parse_method(key: &str, value: Option<&str>, default: Method) -> Result<Method, String> {
    match value {
        None => Ok(default),
        Some(m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE")) => {
            Ok(Method::from_bytes(m.as_bytes()).expect("a standard method"))
        }
        Some(other) => Err(format!(
            "plugin_config.{key} = {other:?}; expected one of GET, HEAD, POST, PUT, PATCH, DELETE (upper-case)"
        )),
    }
}

fn header_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        // Env overrides are type-inferred: `…_HEADERS_X_TENANT=42` arrives as a number.
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl HttpSinkConfig {
    pub fn validate(self) -> Result<Settings, String> {
        let url_text = self.url.trim();
        if url_text.is_empty() {
            return Err("plugin_config.url is empty".into());
        }
        let url =
            Url::parse(url_text).map_err(|e| format!("plugin_config.url {url_text:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "plugin_config.url must be http:// or https://, got scheme {:?}",
                url.scheme()
            ));
        }
        let method = parse_method("method", self.method.as_deref(), Method::POST)?;
        if method == Method::HEAD {
            // A HEAD request has no defined body: the messages would never arrive.
            return Err("plugin_config.method = \"HEAD\" cannot carry messages (HEAD requests have no body); \
                        use it as health_check_method"
                .into());
        }
        if method == Method::GET {
            tracing::warn!(
                "plugin_config.method = \"GET\": messages are sent as GET bodies, which some servers and proxies drop"
            );
        }
        let batch_mode = match self.batch_mode.as_deref() {
            None | Some("individual") => BatchMode::Individual,
            Some("ndjson") => BatchMode::Ndjson,
            Some("json_array") => BatchMode::JsonArray,
            Some("raw") => BatchMode::Raw,
            Some(other) => {
                return Err(format!(
                    "plugin_config.batch_mode = {other:?}; expected individual, ndjson, json_array or raw"
                ));
            }
        };
        let health_check = if self.health_check_enabled.unwrap_or(false) {
            Some(parse_method(
                "health_check_method",
                self.health_check_method.as_deref(),
                Method::HEAD,
            )?)
        } else {
            None
        };
        let backoff = backoff::from_config_keys(
            self.max_retries,
            self.retry_delay.as_deref(),
            self.retry_backoff_multiplier,
            self.max_retry_delay.as_deref(),
        )?;
        let success = SuccessCodes::new(
            "success_status_codes",
            self.success_status_codes
                .unwrap_or_else(|| vec![200, 201, 202, 204]),
        )?;
        let reject_status_codes = self
            .reject_status_codes
            .unwrap_or_else(|| vec![400, 413, 415, 422]);
        if let Some(bad) = reject_status_codes
            .iter()
            .find(|c| !(300..=599).contains(*c))
        {
            return Err(format!(
                "plugin_config.reject_status_codes contains {bad}; each code must be in 300..=599"
            ));
        }

        let mut named: Vec<(String, String, serde_json::Value)> = Vec::new();
        for (name, value) in self.headers.unwrap_or_default() {
            named.push((format!("headers.{name}"), name, value));
        }
        for (key, value) in self.other {
            match key.strip_prefix("headers_") {
                Some(name) if !name.is_empty() => {
                    named.push((key.clone(), name.replace('_', "-"), value));
                }
                _ => tracing::warn!("plugin_config.{key} is not a key of the HTTP sink; ignored"),
            }
        }
        let mut headers = HeaderMap::new();
        for (key, name, value) in named {
            let text = header_text(&value)
                .ok_or_else(|| format!("plugin_config.{key} must be a string, got {value}"))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("plugin_config.{key}: invalid header name: {e}"))?;
            if name == CONTENT_TYPE {
                tracing::warn!(
                    "plugin_config.{key}: Content-Type is set by batch_mode; this header is ignored"
                );
                continue;
            }
            let value = HeaderValue::from_str(&text)
                .map_err(|e| format!("plugin_config.{key}: invalid header value: {e}"))?;
            headers.insert(name, value);
        }

        Ok(Settings {
            url,
            method,
            timeout: duration::parse("timeout", self.timeout.as_deref(), Duration::from_secs(30))?,
            max_payload_size_bytes: self.max_payload_size_bytes.unwrap_or(DEFAULT_MAX_PAYLOAD),
            batch_mode,
            include_metadata: self.include_metadata.unwrap_or(true),
            include_checksum: self.include_checksum.unwrap_or(false),
            include_origin_timestamp: self.include_origin_timestamp.unwrap_or(false),
            health_check,
            backoff,
            success,
            reject_status_codes,
            accept_invalid_certs: self.tls_danger_accept_invalid_certs.unwrap_or(false),
            max_connections: self.max_connections.unwrap_or(10),
            verbose: self.verbose_logging.unwrap_or(false),
            headers,
        })
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
