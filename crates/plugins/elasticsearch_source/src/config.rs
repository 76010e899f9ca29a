//! `[plugin_config]` of the Elasticsearch source: every upstream key with its upstream meaning,
//! plus ours (documented in README.md).

use std::time::Duration;

use iggy_connector_elasticsearch_common::ConnectionConfig;
use iggy_connector_elasticsearch_common::config::duration;
use iggy_connector_elasticsearch_common::retry::RetryPolicy;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ElasticsearchSourceConfig {
    #[serde(flatten)]
    pub connection: ConnectionConfig,
    /// Index name or pattern (upstream: required).
    pub index: String,
    /// Base query DSL (upstream default `{"match_all": {}}`).
    pub query: Option<Value>,
    /// Sleep before a poll (upstream default "10s"); skipped while a backlog is being read.
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub polling_interval: Option<String>,
    /// Documents per search (upstream default 100).
    pub batch_size: Option<usize>,
    /// The incremental cursor field, a `date` field (upstream).
    pub timestamp_field: Option<String>,
    /// Accepted for compatibility; search_after paging needs no scroll context (upstream: unused).
    pub scroll_timeout: Option<String>,
    /// Upstream's optional extra JSON state file.
    pub state: Option<StateFileConfig>,
    /// Ours: the unique field that orders documents sharing a timestamp (default `_id`).
    pub tie_breaker_field: Option<String>,
    /// Ours: per-request timeout (default 30).
    pub timeout_seconds: Option<u64>,
}

/// Upstream's `[plugin_config.state]` table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct StateFileConfig {
    pub enabled: bool,
    pub storage_type: Option<String>,
    pub storage_config: Option<StorageConfig>,
    pub state_id: Option<String>,
    /// Parsed but unused, as upstream.
    pub auto_save_interval: Option<Value>,
    pub tracked_fields: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct StorageConfig {
    pub base_path: Option<String>,
}

/// Where the JSON state file lives when `state.enabled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    pub path: std::path::PathBuf,
    pub state_id: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: ConnectionConfig,
    pub index: String,
    pub query: Value,
    pub polling_interval: Duration,
    pub batch_size: usize,
    pub timestamp_field: Option<String>,
    pub tie_breaker_field: String,
    pub timeout: Duration,
    pub state_file: Option<StateFile>,
}

impl ElasticsearchSourceConfig {
    pub fn validate(self, connector_id: u32) -> Result<Settings, String> {
        let mut problems = Vec::new();
        if self.connection.url.trim().is_empty() {
            problems.push("plugin_config.url: required (e.g. \"http://localhost:9200\")".into());
        }
        let index = self.index.trim().to_string();
        if index.is_empty() {
            problems.push("plugin_config.index: required".to_string());
        }
        let query = self.query.unwrap_or_else(|| json!({"match_all": {}}));
        if !query.is_object() {
            problems.push("plugin_config.query: expected a query DSL object".into());
        }
        let polling_interval = duration(
            "polling_interval",
            self.polling_interval.as_deref(),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| {
            problems.push(e);
            Duration::ZERO
        });
        let batch_size = self.batch_size.unwrap_or(100);
        if batch_size == 0 || batch_size > 10_000 {
            problems.push(format!(
                "plugin_config.batch_size: must be 1..=10000 (the servers' max result window), got {batch_size}"
            ));
        }
        let timeout = Duration::from_secs(self.timeout_seconds.unwrap_or(30));
        if timeout.is_zero() {
            problems.push("plugin_config.timeout_seconds: must be at least 1".into());
        }
        let tie_breaker_field = self.tie_breaker_field.unwrap_or_else(|| "_id".to_string());
        if tie_breaker_field.trim().is_empty() {
            problems.push("plugin_config.tie_breaker_field: must not be empty".into());
        }
        let timestamp_field = self.timestamp_field.filter(|f| !f.trim().is_empty());
        let state_file = match self.state {
            Some(state) if state.enabled => {
                match state.storage_type.as_deref() {
                    None | Some("file") => {}
                    Some(other) => tracing::warn!(
                        "plugin_config.state.storage_type '{other}' is not implemented; using a file (as upstream)"
                    ),
                }
                let base = state
                    .storage_config
                    .and_then(|c| c.base_path)
                    .unwrap_or_else(|| "./connector_states".to_string());
                let state_id = state
                    .state_id
                    .unwrap_or_else(|| format!("elasticsearch_source_{connector_id}"));
                if state_id.contains(['/', '\\']) || state_id.is_empty() {
                    problems.push(format!(
                        "plugin_config.state.state_id: '{state_id}' must be a plain file name"
                    ));
                }
                Some(StateFile {
                    path: std::path::Path::new(&base).join(format!("{state_id}.json")),
                    state_id,
                })
            }
            _ => None,
        };
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Settings {
            connection: self.connection,
            index,
            query,
            polling_interval,
            batch_size,
            timestamp_field,
            tie_breaker_field,
            timeout,
            state_file,
        })
    }
}

impl Settings {
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<Settings, String> {
        serde_json::from_value::<ElasticsearchSourceConfig>(value)
            .map_err(|e| e.to_string())?
            .validate(7)
    }

    #[test]
    fn given_upstream_config_should_keep_upstream_defaults() {
        let settings = parse(json!({"url": "http://localhost:9200", "index": "docs",
            "scroll_timeout": "1m"}))
        .unwrap();
        assert_eq!(settings.polling_interval, Duration::from_secs(10));
        assert_eq!(settings.batch_size, 100);
        assert_eq!(settings.query, json!({"match_all": {}}));
        assert_eq!(settings.tie_breaker_field, "_id");
        assert_eq!(settings.state_file, None);
    }

    #[test]
    fn given_state_table_should_default_like_upstream() {
        let settings = parse(json!({"url": "http://h:9200", "index": "docs",
            "state": {"enabled": true}}))
        .unwrap();
        let file = settings.state_file.unwrap();
        assert_eq!(file.state_id, "elasticsearch_source_7");
        assert_eq!(
            file.path,
            std::path::Path::new("./connector_states/elasticsearch_source_7.json")
        );
    }

    #[test]
    fn given_bad_values_should_name_every_key() {
        let err = parse(json!({"url": "", "index": "d", "polling_interval": "often",
            "batch_size": 0, "query": "all"}))
        .unwrap_err();
        for key in [
            "plugin_config.url",
            "plugin_config.polling_interval",
            "plugin_config.batch_size",
            "plugin_config.query",
        ] {
            assert!(err.contains(key), "{key} missing in: {err}");
        }
    }
}
