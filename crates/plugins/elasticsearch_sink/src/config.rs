//! `[plugin_config]` of the Elasticsearch sink: every upstream key with its upstream meaning,
//! plus ours (documented in README.md).

use std::time::Duration;

use iggy_connector_elasticsearch_common::ConnectionConfig;
use iggy_connector_elasticsearch_common::config::duration;
use iggy_connector_elasticsearch_common::retry::RetryPolicy;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ElasticsearchSinkConfig {
    #[serde(flatten)]
    pub connection: ConnectionConfig,
    /// Target index (upstream: required).
    pub index: String,
    /// Create the index in `open` when it does not exist (upstream default true).
    pub create_index_if_not_exists: Option<bool>,
    /// The whole create-index body (`{"settings": …, "mappings": …}`), upstream's meaning.
    pub index_mapping: Option<Value>,
    /// Documents per `_bulk` request (upstream accepted it but sent one request per batch).
    pub batch_size: Option<usize>,
    /// Per-request timeout (upstream accepted it but set none).
    pub timeout_seconds: Option<u64>,
    /// Ours: a top-level payload field whose value becomes the document `_id` instead of the
    /// Iggy message id.
    pub id_field: Option<String>,
    /// Ours: attempts per bulk item on 429/5xx/transport errors, the first included.
    pub max_retries: Option<u32>,
    /// Ours: delay after the first failed attempt; doubles up to `max_retry_delay`.
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub retry_delay: Option<String>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub max_retry_delay: Option<String>,
}

/// The validated config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: ConnectionConfig,
    pub index: String,
    pub create_index_if_not_exists: bool,
    pub index_mapping: Option<Value>,
    pub batch_size: usize,
    pub timeout: Duration,
    pub id_field: Option<String>,
    pub retry: RetryPolicy,
}

impl ElasticsearchSinkConfig {
    pub fn validate(self) -> Result<Settings, String> {
        let mut problems = Vec::new();
        if self.connection.url.trim().is_empty() {
            problems.push("plugin_config.url: required (e.g. \"http://localhost:9200\")".into());
        }
        let index = self.index.trim().to_string();
        if index.is_empty() {
            problems.push("plugin_config.index: required".to_string());
        } else if index != index.to_lowercase() || index.contains(['*', ',', ' ', '/']) {
            problems.push(format!(
                "plugin_config.index: '{index}' is not a valid target index (lowercase, no '*', ',', ' ' or '/')"
            ));
        }
        if let Some(mapping) = &self.index_mapping
            && !mapping.is_object()
        {
            problems.push(
                "plugin_config.index_mapping: expected a table/object (the create-index body)"
                    .into(),
            );
        }
        let batch_size = self.batch_size.unwrap_or(100);
        if batch_size == 0 {
            problems.push("plugin_config.batch_size: must be at least 1".into());
        }
        let timeout = Duration::from_secs(self.timeout_seconds.unwrap_or(30));
        if timeout.is_zero() {
            problems.push("plugin_config.timeout_seconds: must be at least 1".into());
        }
        let defaults = RetryPolicy::default();
        let initial_delay = duration(
            "retry_delay",
            self.retry_delay.as_deref(),
            defaults.initial_delay,
        )
        .unwrap_or_else(|e| {
            problems.push(e);
            defaults.initial_delay
        });
        let max_delay = duration(
            "max_retry_delay",
            self.max_retry_delay.as_deref(),
            defaults.max_delay,
        )
        .unwrap_or_else(|e| {
            problems.push(e);
            defaults.max_delay
        });
        let max_attempts = self.max_retries.unwrap_or(defaults.max_attempts);
        if max_attempts == 0 {
            problems.push("plugin_config.max_retries: must be at least 1 (total attempts)".into());
        }
        if let Some(field) = &self.id_field
            && field.trim().is_empty()
        {
            problems.push("plugin_config.id_field: must not be empty".into());
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Settings {
            connection: self.connection,
            index,
            create_index_if_not_exists: self.create_index_if_not_exists.unwrap_or(true),
            index_mapping: self.index_mapping,
            batch_size,
            timeout,
            id_field: self.id_field,
            retry: RetryPolicy {
                max_attempts,
                initial_delay,
                max_delay,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Settings, String> {
        serde_json::from_value::<ElasticsearchSinkConfig>(value)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn given_upstream_config_should_keep_upstream_defaults() {
        let settings = parse(json!({"url": "http://localhost:9200", "index": "iggy_messages"}))
            .expect("valid");
        assert!(settings.create_index_if_not_exists);
        assert_eq!(settings.batch_size, 100);
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert_eq!(settings.id_field, None);
    }

    #[test]
    fn given_bad_values_should_name_every_key() {
        let err = parse(
            json!({"url": "http://h:9200", "index": "Bad*", "batch_size": 0,
            "retry_delay": "later", "index_mapping": "nope"}),
        )
        .unwrap_err();
        for key in [
            "plugin_config.index",
            "plugin_config.batch_size",
            "plugin_config.retry_delay",
            "plugin_config.index_mapping",
        ] {
            assert!(err.contains(key), "{key} missing in: {err}");
        }
    }
}
