//! `[plugin_config]` of the Quickwit sink: upstream's `url` and `index`, plus the keys that
//! bound what upstream left unbounded (chunking, commit mode, timeouts, retries).

use std::collections::BTreeMap;
use std::time::Duration;

use iggy_connector_http_common::{Backoff, backoff, duration};
use reqwest::Url;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::index::IndexConfig;

/// Quickwit refuses ingest bodies over 10 MiB (`413`).
pub const QUICKWIT_MAX_BODY: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct QuickwitSinkConfig {
    pub url: String,
    pub index: String,
    pub commit: Option<String>,
    pub batch_size: Option<usize>,
    pub max_payload_size_bytes: Option<u64>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub timeout: Option<String>,
    pub max_retries: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub retry_delay: Option<String>,
    pub retry_backoff_multiplier: Option<f64>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub max_retry_delay: Option<String>,
    pub verbose_logging: Option<bool>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Quickwit's `commit` query parameter of the ingest API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Return once queued; searchable after the index's `commit_timeout_secs` (upstream's mode).
    Auto,
    /// Return once the documents are committed by the regular commit.
    WaitFor,
    /// Commit now and return after it (costly for small batches).
    Force,
}

impl CommitMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitMode::Auto => "auto",
            CommitMode::WaitFor => "wait_for",
            CommitMode::Force => "force",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL without a trailing slash.
    pub url: Url,
    pub index: IndexConfig,
    pub commit: CommitMode,
    pub batch_size: usize,
    pub max_payload_size_bytes: u64,
    pub timeout: Duration,
    pub backoff: Backoff,
    pub verbose: bool,
}

impl QuickwitSinkConfig {
    pub fn validate(self) -> Result<Settings, String> {
        let text = self.url.trim().trim_end_matches('/');
        if text.is_empty() {
            return Err("plugin_config.url is empty".into());
        }
        let url = Url::parse(text).map_err(|e| format!("plugin_config.url {text:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "plugin_config.url must be http:// or https://, got {text:?}"
            ));
        }
        let index =
            IndexConfig::parse(&self.index).map_err(|e| format!("plugin_config.index: {e}"))?;
        let commit = match self.commit.as_deref() {
            None | Some("auto") => CommitMode::Auto,
            Some("wait_for") => CommitMode::WaitFor,
            Some("force") => CommitMode::Force,
            Some(other) => {
                return Err(format!(
                    "plugin_config.commit = {other:?}; expected auto, wait_for or force"
                ));
            }
        };
        let batch_size = self.batch_size.unwrap_or(1000);
        if batch_size == 0 {
            return Err("plugin_config.batch_size must be at least 1".into());
        }
        let max_payload_size_bytes = self.max_payload_size_bytes.unwrap_or(QUICKWIT_MAX_BODY);
        if max_payload_size_bytes == 0 || max_payload_size_bytes > QUICKWIT_MAX_BODY {
            return Err(format!(
                "plugin_config.max_payload_size_bytes = {max_payload_size_bytes}; must be in 1..={QUICKWIT_MAX_BODY} (Quickwit's ingest limit)"
            ));
        }
        for key in self.other.keys() {
            tracing::warn!("plugin_config.{key} is not a key of the Quickwit sink; ignored");
        }
        Ok(Settings {
            url,
            index,
            commit,
            batch_size,
            max_payload_size_bytes,
            timeout: duration::parse("timeout", self.timeout.as_deref(), Duration::from_secs(30))?,
            backoff: backoff::from_config_keys(
                self.max_retries,
                self.retry_delay.as_deref(),
                self.retry_backoff_multiplier,
                self.max_retry_delay.as_deref(),
            )?,
            verbose: self.verbose_logging.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "version: 0.8\nindex_id: events\ndoc_mapping:\n  mode: dynamic\n";

    fn parse(extra: serde_json::Value) -> Result<Settings, String> {
        let mut config = serde_json::json!({"url": "http://127.0.0.1:7280/", "index": INDEX});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<QuickwitSinkConfig>(config)
            .unwrap()
            .validate()
    }

    #[test]
    fn given_upstream_keys_only_when_validated_should_use_defaults() {
        let s = parse(serde_json::json!({})).unwrap();
        assert_eq!(s.url.as_str(), "http://127.0.0.1:7280/");
        assert_eq!(s.index.index_id, "events");
        assert_eq!(s.commit, CommitMode::Auto);
        assert_eq!(
            (s.batch_size, s.max_payload_size_bytes),
            (1000, QUICKWIT_MAX_BODY)
        );
        assert_eq!(s.timeout, Duration::from_secs(30));
    }

    #[test]
    fn given_bad_values_when_validated_should_name_the_key() {
        for (extra, needle) in [
            (serde_json::json!({"commit": "now"}), "plugin_config.commit"),
            (
                serde_json::json!({"batch_size": 0}),
                "plugin_config.batch_size",
            ),
            (
                serde_json::json!({"max_payload_size_bytes": 20_000_000}),
                "max_payload_size_bytes",
            ),
            (serde_json::json!({"timeout": "x"}), "plugin_config.timeout"),
            (
                serde_json::json!({"index": "doc_mapping: {}"}),
                "plugin_config.index",
            ),
            (serde_json::json!({"url": "tcp://h"}), "plugin_config.url"),
        ] {
            let error = parse(extra.clone()).unwrap_err();
            assert!(error.contains(needle), "{extra}: {error}");
        }
    }
}
