//! `[plugin_config]` of the Iceberg sink: upstream's keys with their meanings, validated once in
//! `open` into [`Settings`]. Errors name the key.

use std::collections::HashMap;

use iceberg::TableIdent;
use schemars::JsonSchema;
use serde::Deserialize;

/// The keys exactly as upstream's `iceberg_sink` 0.4.0 reads them (upstream requires every one
/// but the credentials; here the ones with an obvious value default to it), plus `writer_id`.
/// Unknown keys are ignored, as upstream does.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct IcebergSinkConfig {
    /// Static targets `namespace.table` (`a.b.c` = namespace `[a, b]`, table `c`).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Only `"rest"`.
    pub catalog_type: String,
    /// The REST catalog's `warehouse` property.
    #[serde(default)]
    pub warehouse: String,
    /// The REST catalog URI.
    pub uri: String,
    #[serde(default)]
    pub dynamic_routing: bool,
    /// Top-level JSON field naming each message's target table (dynamic routing).
    #[serde(default)]
    pub dynamic_route_field: String,
    /// S3 endpoint (`s3.endpoint`); empty = the AWS default for the region.
    #[serde(default)]
    pub store_url: String,
    pub store_access_key_id: Option<String>,
    pub store_secret_access_key: Option<String>,
    #[serde(default)]
    pub store_region: String,
    /// `s3` or `fs` (`gcs`, `azdls`, `oss` are recognised but not built in).
    pub store_class: String,
    /// Names this writer in the snapshot summary's committed offsets (exactly-once); two sinks
    /// that write the same stream into the same table need different ids.
    pub writer_id: Option<String>,
    /// A batch smaller than this (rows) … (see `commit_interval`); 0 = no minimum.
    #[serde(default)]
    pub min_commit_rows: u64,
    /// … and smaller than this (bytes of its Arrow data); 0 = no minimum.
    #[serde(default)]
    pub min_commit_bytes: u64,
    /// … is committed no sooner than this after the table's previous commit by this sink
    /// (humantime, default `5s`; applies only when a minimum is set).
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub commit_interval: Option<String>,
}

/// Where data files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreClass {
    S3,
    Fs,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Static routing targets, in config order (empty with dynamic routing).
    pub tables: Vec<TableIdent>,
    pub dynamic_route_field: Option<String>,
    pub uri: String,
    pub warehouse: Option<String>,
    pub store_class: StoreClass,
    /// Catalog and FileIO properties (`s3.*`).
    pub properties: HashMap<String, String>,
    pub writer_id: String,
    pub throttle: Option<CommitThrottle>,
}

/// Small batches wait for `interval` since the table's last commit before committing (the
/// consume call waits, its offset is stored after the commit); meanwhile the trickle piles up
/// in Iggy and the next batch carries it, so a slow stream makes one file per interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitThrottle {
    pub min_rows: u64,
    pub min_bytes: u64,
    pub interval: std::time::Duration,
}

impl CommitThrottle {
    /// Whether a batch of this size commits without waiting.
    pub fn is_large(&self, rows: u64, bytes: u64) -> bool {
        (self.min_rows > 0 && rows >= self.min_rows)
            || (self.min_bytes > 0 && bytes >= self.min_bytes)
    }
}

pub const DEFAULT_COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

pub const DEFAULT_WRITER_ID: &str = "iggy-connectors";

/// `a.b.c` → namespace `[a, b]`, table `c`: at least two non-empty dot-separated parts.
pub fn parse_table(name: &str) -> Result<TableIdent, String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.trim().is_empty()) {
        return Err(format!(
            "table name '{name}' must be 'namespace.table' (dot-separated, no empty part)"
        ));
    }
    TableIdent::from_strs(parts).map_err(|e| format!("table name '{name}': {e}"))
}

impl IcebergSinkConfig {
    pub fn validate(self) -> Result<Settings, String> {
        if self.catalog_type != "rest" {
            return Err(format!(
                "plugin_config.catalog_type: only \"rest\" is supported, got '{}'",
                self.catalog_type
            ));
        }
        if self.uri.trim().is_empty() {
            return Err("plugin_config.uri is empty".into());
        }
        let store_class = match self.store_class.as_str() {
            "s3" => StoreClass::S3,
            "fs" => StoreClass::Fs,
            "gcs" | "azdls" | "oss" => {
                return Err(format!(
                    "plugin_config.store_class '{}' is not built into this plugin (s3 and fs are)",
                    self.store_class
                ));
            }
            other => {
                return Err(format!(
                    "plugin_config.store_class: expected s3 or fs, got '{other}'"
                ));
            }
        };
        let mut properties = HashMap::new();
        match (&self.store_access_key_id, &self.store_secret_access_key) {
            (Some(id), Some(secret)) => {
                properties.insert("s3.access-key-id".to_string(), id.clone());
                properties.insert("s3.secret-access-key".to_string(), secret.clone());
            }
            (None, None) => {}
            _ => {
                return Err(
                    "plugin_config.store_access_key_id and store_secret_access_key must \
                            be set together (or both omitted for the default credential chain)"
                        .into(),
                );
            }
        }
        if !self.store_url.trim().is_empty() {
            properties.insert("s3.endpoint".to_string(), self.store_url.clone());
            // A custom endpoint (MinIO, moto, Ceph) serves buckets by path, not virtual host.
            properties.insert("s3.path-style-access".to_string(), "true".to_string());
        }
        if !self.store_region.trim().is_empty() {
            properties.insert("s3.region".to_string(), self.store_region.clone());
            properties.insert("client.region".to_string(), self.store_region.clone());
        }
        let (tables, dynamic_route_field) = if self.dynamic_routing {
            if self.dynamic_route_field.trim().is_empty() {
                return Err(
                    "plugin_config.dynamic_route_field is empty but dynamic_routing is true".into(),
                );
            }
            (Vec::new(), Some(self.dynamic_route_field))
        } else {
            if self.tables.is_empty() {
                return Err("plugin_config.tables is empty and dynamic_routing is false".into());
            }
            let tables = self
                .tables
                .iter()
                .map(|t| parse_table(t).map_err(|e| format!("plugin_config.tables: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            (tables, None)
        };
        let writer_id = self
            .writer_id
            .filter(|w| !w.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_WRITER_ID.to_string());
        let throttle = if self.min_commit_rows > 0 || self.min_commit_bytes > 0 {
            let interval = match &self.commit_interval {
                None => DEFAULT_COMMIT_INTERVAL,
                Some(text) => humantime::parse_duration(text).map_err(|e| {
                    format!("plugin_config.commit_interval '{text}' is not a duration: {e}")
                })?,
            };
            Some(CommitThrottle {
                min_rows: self.min_commit_rows,
                min_bytes: self.min_commit_bytes,
                interval,
            })
        } else {
            None
        };
        Ok(Settings {
            throttle,
            tables,
            dynamic_route_field,
            uri: self.uri,
            warehouse: Some(self.warehouse).filter(|w| !w.is_empty()),
            store_class,
            properties,
            writer_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> IcebergSinkConfig {
        serde_json::from_value(serde_json::json!({
            "tables": ["test.messages"], "catalog_type": "rest", "warehouse": "warehouse",
            "uri": "http://localhost:8181", "dynamic_routing": false, "dynamic_route_field": "",
            "store_url": "http://localhost:9000", "store_access_key_id": "admin",
            "store_secret_access_key": "password", "store_region": "us-east-1", "store_class": "s3"
        }))
        .unwrap()
    }

    #[test]
    fn upstream_example_config_validates() {
        let s = base().validate().unwrap();
        assert_eq!(
            s.tables,
            vec![TableIdent::from_strs(["test", "messages"]).unwrap()]
        );
        assert_eq!(s.properties["s3.endpoint"], "http://localhost:9000");
        assert_eq!(s.properties["s3.access-key-id"], "admin");
        assert_eq!(s.writer_id, DEFAULT_WRITER_ID);
    }

    #[test]
    fn one_credential_without_the_other_is_refused() {
        let mut c = base();
        c.store_secret_access_key = None;
        assert!(
            c.validate()
                .unwrap_err()
                .contains("store_secret_access_key")
        );
    }

    #[test]
    fn table_names_need_a_namespace() {
        assert!(parse_table("messages").is_err());
        assert!(parse_table("a..b").is_err());
        let t = parse_table("a.b.c").unwrap();
        assert_eq!(
            t.namespace().as_ref(),
            &vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(t.name(), "c");
    }

    #[test]
    fn unsupported_store_class_and_catalog_name_the_key() {
        let mut c = base();
        c.store_class = "gcs".into();
        assert!(c.validate().unwrap_err().contains("store_class"));
        let mut c = base();
        c.catalog_type = "glue".into();
        assert!(c.validate().unwrap_err().contains("catalog_type"));
    }

    #[test]
    fn a_commit_minimum_enables_the_throttle_with_its_interval() {
        assert_eq!(base().validate().unwrap().throttle, None);
        let mut c = base();
        c.min_commit_rows = 1000;
        let t = c.clone().validate().unwrap().throttle.unwrap();
        assert_eq!(t.interval, DEFAULT_COMMIT_INTERVAL);
        assert!(!t.is_large(999, u64::MAX) && t.is_large(1000, 0));
        c.commit_interval = Some("soon".into());
        assert!(c.validate().unwrap_err().contains("commit_interval"));
    }

    #[test]
    fn dynamic_routing_needs_a_route_field() {
        let mut c = base();
        c.dynamic_routing = true;
        assert!(c.validate().unwrap_err().contains("dynamic_route_field"));
    }
}
