//! The inline index config: YAML (upstream) or JSON, of which only `index_id` is read here;
//! Quickwit validates the rest when the index is created.
//!
//! Upstream panicked in the constructor on invalid YAML or a missing `index_id`, which took
//! the whole runtime down; here it is a config error naming the problem.

/// What the sink needs from the index config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexConfig {
    pub index_id: String,
    /// The config text, sent as is to `POST /api/v1/indexes`.
    pub text: String,
    /// `application/json` when the text is JSON, else `application/yaml`.
    pub content_type: &'static str,
}

/// Quickwit's index id rule: a letter, then 2 to 254 letters, digits, `-`, `_` or `.`.
fn valid_index_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && (3..=255).contains(&id.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl IndexConfig {
    pub fn parse(text: &str) -> Result<Self, String> {
        let is_json = serde_json::from_str::<serde_json::Value>(text).is_ok();
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML or JSON: {e}"))?;
        let index_id = match value.get("index_id") {
            Some(serde_yaml_ng::Value::String(id)) => id.clone(),
            Some(other) => return Err(format!("index_id must be a string, got {other:?}")),
            None => return Err("the index config has no index_id".into()),
        };
        if !valid_index_id(&index_id) {
            return Err(format!(
                "index_id {index_id:?} is not a valid Quickwit index id (a letter, then 2-254 letters, digits, '-', '_' or '.')"
            ));
        }
        Ok(Self {
            index_id,
            text: text.to_string(),
            content_type: if is_json {
                "application/json"
            } else {
                "application/yaml"
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_yaml_or_json_when_parsed_should_read_index_id_and_content_type() {
        let yaml = IndexConfig::parse("version: 0.8\nindex_id: my-logs.v1\n").unwrap();
        assert_eq!(
            (yaml.index_id.as_str(), yaml.content_type),
            ("my-logs.v1", "application/yaml")
        );
        let json = IndexConfig::parse(r#"{"version":"0.8","index_id":"orders"}"#).unwrap();
        assert_eq!(
            (json.index_id.as_str(), json.content_type),
            ("orders", "application/json")
        );
    }

    #[test]
    fn given_broken_configs_when_parsed_should_explain_instead_of_panicking() {
        assert!(
            IndexConfig::parse("index_id: [unclosed")
                .unwrap_err()
                .contains("YAML")
        );
        assert!(
            IndexConfig::parse("version: 0.8\n")
                .unwrap_err()
                .contains("no index_id")
        );
        assert!(
            IndexConfig::parse("index_id: 1x\n")
                .unwrap_err()
                .contains("not a valid")
        );
        assert!(
            IndexConfig::parse("index_id: ab\n")
                .unwrap_err()
                .contains("not a valid")
        );
    }
}
