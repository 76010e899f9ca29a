//! `[plugin_config]` of the PostgreSQL source: every upstream key with its upstream meaning and
//! default. Unknown keys are ignored (no `deny_unknown_fields`), like upstream.

use std::time::Duration;

use iggy_connector_postgres_common::duration::parse_or_default;
use iggy_connector_postgres_common::retry::RetryPolicy;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PostgresSourceConfig {
    pub connection_string: String,
    pub mode: String,
    pub tables: Vec<String>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub poll_interval: Option<String>,
    pub batch_size: Option<u32>,
    pub tracking_column: Option<String>,
    /// A string upstream; accepted as a number or bool too, because the env override
    /// `..._PLUGIN_CONFIG_INITIAL_OFFSET=0` is type-inferred into a JSON number (upstream then
    /// fails to deserialize).
    #[serde(default, deserialize_with = "string_like")]
    #[schemars(schema_with = "iggy_connectors_sdk::schema::string_like")]
    pub initial_offset: Option<String>,
    pub max_connections: Option<u32>,
    pub snake_case_columns: Option<bool>,
    pub include_metadata: Option<bool>,
    pub payload_column: Option<String>,
    pub payload_format: Option<String>,
    pub delete_after_read: Option<bool>,
    pub processed_column: Option<String>,
    pub primary_key_column: Option<String>,
    pub custom_query: Option<String>,
    /// 0.4.0 only; CDC now needs just `mode = "cdc"`. Accepted and ignored.
    pub enable_wal_cdc: Option<bool>,
    /// 0.4.0 only (publications are not used by the test_decoding backend). Accepted, ignored.
    pub publication_name: Option<String>,
    pub replication_slot: Option<String>,
    pub capture_operations: Option<Vec<String>>,
    pub cdc_backend: Option<String>,
    pub verbose_logging: Option<bool>,
    pub max_retries: Option<u32>,
    #[schemars(with = "Option<iggy_connectors_sdk::schema::DurationOrEmpty>")]
    pub retry_delay: Option<String>,
    /// Ours: `"deterministic"` (default) or `"random"` (upstream's UUIDv4 per message); polling
    /// mode only, CDC ids always come from the LSN.
    pub message_ids: Option<String>,
}

fn string_like<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Some(other.to_string())
        }
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "initial_offset must be a string or number, got {other}"
            )));
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Polling,
    Cdc,
}

/// How `payload_column` is read (upstream names and aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// No payload column: each row becomes a JSON record.
    JsonRecord,
    /// `bytea`/`raw`: the column's bytes, batch schema `raw`.
    Bytea,
    /// `text`: the column as UTF-8 text, batch schema `text`.
    Text,
    /// `json_direct`/`jsonb`/`jsonb_direct`: the JSON value itself, schema `json`.
    JsonDirect,
    /// `json` or absent/unknown with a payload column: the column's bytes, schema `json`.
    JsonBytes,
}

/// How polling mode sets message ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageIds {
    /// From the row's identity (see `rows::message_id`): a re-read row keeps its id.
    Deterministic,
    /// A fresh UUIDv4 per message, as upstream: a re-read row is a new message to the sink.
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Insert,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// The validated config the source runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connection_string: String,
    pub mode: Mode,
    pub tables: Vec<String>,
    pub poll_interval: Duration,
    pub batch_size: u32,
    pub tracking_column: String,
    pub initial_offset: Option<String>,
    pub max_connections: u32,
    pub snake_case_columns: bool,
    pub include_metadata: bool,
    pub payload_column: Option<String>,
    pub payload_format: PayloadFormat,
    pub delete_after_read: bool,
    pub processed_column: Option<String>,
    /// The key column for delete/mark and keyset paging: as configured, else `tracking_column`
    /// (the table's own key replaces it when the tracking column is not unique; see polling).
    pub primary_key_column: String,
    /// `primary_key_column` was configured (trusted unique, not looked up in the catalog).
    pub primary_key_explicit: bool,
    pub custom_query: Option<String>,
    pub replication_slot: String,
    pub capture_operations: Vec<Operation>,
    pub verbose: bool,
    pub retry: RetryPolicy,
    pub message_ids: MessageIds,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty())
}

impl PostgresSourceConfig {
    /// Checks every key and resolves defaults; errors name the key.
    pub fn validate(self) -> Result<Settings, String> {
        let mode = match self.mode.trim().to_ascii_lowercase().as_str() {
            "polling" => Mode::Polling,
            "cdc" => Mode::Cdc,
            other => {
                return Err(format!(
                    "plugin_config.mode = {other:?} is not supported (expected \"polling\" or \"cdc\")"
                ));
            }
        };
        if self.connection_string.trim().is_empty() {
            return Err("plugin_config.connection_string is empty".into());
        }
        let payload_column = non_empty(self.payload_column);
        let format_name = self
            .payload_format
            .as_deref()
            .map(|f| f.trim().to_ascii_lowercase());
        let known = [
            "json",
            "bytea",
            "raw",
            "text",
            "json_direct",
            "jsonb",
            "jsonb_direct",
        ];
        if let Some(name) = &format_name
            && (mode == Mode::Cdc || payload_column.is_some())
            && !known.contains(&name.as_str())
        {
            // Upstream HEAD rejects unknown formats in CDC mode; in polling mode it silently
            // reads raw bytes. An unknown name is almost always a typo, so both modes reject it.
            return Err(format!(
                "plugin_config.payload_format = {name:?} is not one of {}",
                known.join(", ")
            ));
        }
        let payload_format = match (&payload_column, format_name.as_deref()) {
            (None, _) => PayloadFormat::JsonRecord,
            (Some(_), Some("bytea" | "raw")) => PayloadFormat::Bytea,
            (Some(_), Some("text")) => PayloadFormat::Text,
            (Some(_), Some("json_direct" | "jsonb" | "jsonb_direct")) => PayloadFormat::JsonDirect,
            (Some(_), _) => PayloadFormat::JsonBytes,
        };
        match self.cdc_backend.as_deref().map(str::trim) {
            None | Some("") | Some("builtin") => {}
            Some("pg_replicate") => {
                return Err(
                    "plugin_config.cdc_backend = \"pg_replicate\" is not available in \
                            this build; use \"builtin\""
                        .into(),
                );
            }
            Some(other) => {
                return Err(format!(
                    "plugin_config.cdc_backend = {other:?} is unknown (expected \"builtin\")"
                ));
            }
        }
        let capture_operations = match self.capture_operations {
            None => vec![Operation::Insert, Operation::Update, Operation::Delete],
            Some(ops) => ops
                .iter()
                .map(|op| match op.trim().to_ascii_uppercase().as_str() {
                    "INSERT" => Ok(Operation::Insert),
                    "UPDATE" => Ok(Operation::Update),
                    "DELETE" => Ok(Operation::Delete),
                    other => Err(format!(
                        "plugin_config.capture_operations contains {other:?} (expected INSERT, UPDATE, DELETE)"
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        let custom_query = non_empty(self.custom_query);
        if let Some(query) = &custom_query {
            if !query.to_ascii_uppercase().contains("SELECT") {
                tracing::warn!("plugin_config.custom_query does not contain SELECT: {query}");
            }
            if query.contains("$table") && self.tables.is_empty() {
                return Err("plugin_config.custom_query uses $table but tables is empty".into());
            }
            // Delete/mark need a real table name to act on.
            if self.tables.is_empty()
                && (self.delete_after_read == Some(true)
                    || non_empty(self.processed_column.clone()).is_some())
            {
                return Err(
                    "plugin_config.delete_after_read / processed_column with a custom_query \
                            need the table in plugin_config.tables"
                        .into(),
                );
            }
        }
        if mode == Mode::Polling && self.tables.is_empty() && custom_query.is_none() {
            return Err("plugin_config.tables is empty".into());
        }
        let message_ids = match self
            .message_ids
            .as_deref()
            .map(|m| m.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("deterministic") => MessageIds::Deterministic,
            Some("random") => MessageIds::Random,
            Some(other) => {
                return Err(format!(
                    "plugin_config.message_ids = {other:?} is not \"deterministic\" or \"random\""
                ));
            }
        };
        let tracking_column = non_empty(self.tracking_column).unwrap_or_else(|| "id".into());
        let primary_key = non_empty(self.primary_key_column);
        let batch_size = self.batch_size.unwrap_or(1000);
        if batch_size == 0 {
            return Err("plugin_config.batch_size must be at least 1".into());
        }
        Ok(Settings {
            connection_string: self.connection_string,
            mode,
            tables: self.tables,
            poll_interval: parse_or_default(
                "poll_interval",
                self.poll_interval.as_deref(),
                Duration::from_secs(10),
            ),
            batch_size,
            primary_key_explicit: primary_key.is_some(),
            primary_key_column: primary_key.unwrap_or_else(|| tracking_column.clone()),
            tracking_column,
            initial_offset: self.initial_offset,
            max_connections: self.max_connections.unwrap_or(10),
            snake_case_columns: self.snake_case_columns.unwrap_or(false),
            include_metadata: self.include_metadata.unwrap_or(true),
            payload_column,
            payload_format,
            delete_after_read: self.delete_after_read.unwrap_or(false),
            processed_column: non_empty(self.processed_column),
            custom_query,
            replication_slot: non_empty(self.replication_slot)
                .unwrap_or_else(|| "iggy_slot".into()),
            capture_operations,
            verbose: self.verbose_logging.unwrap_or(false),
            retry: RetryPolicy::new(
                self.max_retries.unwrap_or(3),
                parse_or_default(
                    "retry_delay",
                    self.retry_delay.as_deref(),
                    Duration::from_secs(1),
                ),
            ),
            message_ids,
        })
    }
}

/// Upstream's snake_case: a capital after a lowercase letter or digit starts a new word;
/// runs of capitals are only lower-cased (`HTTPCode` → `httpcode`), spaces/dashes become `_`.
pub fn to_snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower_or_digit = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if prev_lower_or_digit {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower_or_digit = false;
        } else if c == ' ' || c == '-' {
            out.push('_');
            prev_lower_or_digit = false;
        } else {
            out.push(c);
            prev_lower_or_digit = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Settings, String> {
        serde_json::from_str::<PostgresSourceConfig>(json)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn given_minimal_config_when_validated_should_apply_upstream_defaults() {
        let s = parse(r#"{"connection_string":"postgresql://x","mode":"polling","tables":["t"]}"#)
            .unwrap();
        assert_eq!(s.poll_interval, Duration::from_secs(10));
        assert_eq!(s.batch_size, 1000);
        assert_eq!(s.tracking_column, "id");
        assert_eq!(s.primary_key_column, "id");
        assert!(!s.primary_key_explicit);
        assert!(s.include_metadata);
        assert_eq!(s.payload_format, PayloadFormat::JsonRecord);
        assert_eq!(s.replication_slot, "iggy_slot");
        assert_eq!(s.capture_operations.len(), 3);
        assert_eq!(s.retry, RetryPolicy::new(3, Duration::from_secs(1)));
        assert_eq!(s.message_ids, MessageIds::Deterministic);
    }

    #[test]
    fn given_numeric_initial_offset_when_parsed_should_become_string() {
        let s = parse(
            r#"{"connection_string":"x","mode":"polling","tables":["t"],"initial_offset":0}"#,
        )
        .unwrap();
        assert_eq!(s.initial_offset.as_deref(), Some("0"));
    }

    #[test]
    fn given_bad_values_when_validated_should_name_the_key() {
        let base = r#""connection_string":"x","tables":["t"]"#;
        let err = parse(&format!(r#"{{{base},"mode":"stream"}}"#)).unwrap_err();
        assert!(err.contains("plugin_config.mode"), "{err}");
        let err = parse(&format!(
            r#"{{{base},"mode":"cdc","capture_operations":["MERGE"]}}"#
        ))
        .unwrap_err();
        assert!(err.contains("capture_operations"), "{err}");
        let err = parse(&format!(
            r#"{{{base},"mode":"cdc","cdc_backend":"pg_replicate"}}"#
        ))
        .unwrap_err();
        assert!(err.contains("cdc_backend"), "{err}");
        let err = parse(&format!(
            r#"{{{base},"mode":"polling","payload_column":"p","payload_format":"xml"}}"#
        ))
        .unwrap_err();
        assert!(err.contains("payload_format"), "{err}");
        let err = parse(&format!(
            r#"{{{base},"mode":"polling","message_ids":"v4"}}"#
        ))
        .unwrap_err();
        assert!(err.contains("plugin_config.message_ids"), "{err}");
        let s = parse(&format!(
            r#"{{{base},"mode":"polling","message_ids":"Random"}}"#
        ))
        .unwrap();
        assert_eq!(s.message_ids, MessageIds::Random);
    }

    #[test]
    fn given_payload_formats_when_validated_should_map_aliases() {
        let with = |f: &str| {
            parse(&format!(
                r#"{{"connection_string":"x","mode":"polling","tables":["t"],"payload_column":"p","payload_format":"{f}"}}"#
            ))
            .unwrap()
            .payload_format
        };
        assert_eq!(with("raw"), PayloadFormat::Bytea);
        assert_eq!(with("TEXT"), PayloadFormat::Text);
        assert_eq!(with("jsonb"), PayloadFormat::JsonDirect);
        assert_eq!(with("json"), PayloadFormat::JsonBytes);
    }

    #[test]
    fn given_column_names_when_snake_cased_should_follow_upstream_rules() {
        assert_eq!(to_snake_case("camelCase"), "camel_case");
        assert_eq!(to_snake_case("HTTPCode"), "httpcode");
        assert_eq!(to_snake_case("userId2Name"), "user_id2_name");
        assert_eq!(to_snake_case("already_snake"), "already_snake");
    }
}
