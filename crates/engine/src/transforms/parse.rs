//! Reading a transform's table (TOML converted to JSON) with errors that name the key.
//!
//! Upstream deserializes each table with serde; we read it by hand so an error can point at
//! `fields[2].value` instead of a bare "invalid config", and so ignored keys can be reported.
//! The accepted shapes are the serde shapes of upstream: externally tagged enums are either a
//! bare string (unit variants) or a table with exactly one key.

use serde_json::{Map, Value};

use super::TransformConfigError;

/// Reads one transform's table; collects "ignored key" warnings on the way.
pub(crate) struct Parser {
    transform: &'static str,
    warnings: Vec<String>,
}

impl Parser {
    pub(crate) fn new(transform: &'static str) -> Self {
        Self {
            transform,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn into_warnings(self) -> Vec<String> {
        self.warnings
    }

    pub(crate) fn error(&self, key: &str, message: impl Into<String>) -> TransformConfigError {
        let key = (!key.is_empty()).then(|| key.to_owned());
        TransformConfigError::new(self.transform, key, message)
    }

    fn expected(&self, key: &str, what: &str, found: &Value) -> TransformConfigError {
        self.error(key, format!("expected {what}, found {}", describe(found)))
    }

    /// A table whose keys must come from `known`; any other key is ignored, as upstream does,
    /// and reported as a warning.
    pub(crate) fn table<'v>(
        &mut self,
        key: &str,
        value: &'v Value,
        known: &[&str],
    ) -> Result<&'v Map<String, Value>, TransformConfigError> {
        let Value::Object(map) = value else {
            return Err(self.expected(key, "a table", value));
        };
        for k in map.keys().filter(|k| !known.contains(&k.as_str())) {
            self.warnings.push(format!(
                "transform '{}': unknown key '{}' is ignored",
                self.transform,
                join(key, k)
            ));
        }
        Ok(map)
    }

    pub(crate) fn string<'v>(
        &self,
        key: &str,
        value: &'v Value,
    ) -> Result<&'v str, TransformConfigError> {
        value
            .as_str()
            .ok_or_else(|| self.expected(key, "a string", value))
    }

    pub(crate) fn bool(&self, key: &str, value: &Value) -> Result<bool, TransformConfigError> {
        value
            .as_bool()
            .ok_or_else(|| self.expected(key, "a boolean", value))
    }

    pub(crate) fn number(&self, key: &str, value: &Value) -> Result<f64, TransformConfigError> {
        value
            .as_f64()
            .ok_or_else(|| self.expected(key, "a number", value))
    }

    pub(crate) fn array<'v>(
        &self,
        key: &str,
        value: &'v Value,
    ) -> Result<&'v [Value], TransformConfigError> {
        match value {
            Value::Array(items) => Ok(items),
            other => Err(self.expected(key, "an array", other)),
        }
    }

    /// An array of strings; absent means empty (upstream `#[serde(default)]`).
    pub(crate) fn string_list(
        &self,
        key: &str,
        value: Option<&Value>,
    ) -> Result<Vec<String>, TransformConfigError> {
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        self.array(key, value)?
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(&index(key, i), item).map(str::to_owned))
            .collect()
    }

    /// An externally tagged enum value: a bare string is a unit variant `(name, None)`, a table
    /// with exactly one key is a variant with data `(name, Some(data))`.
    pub(crate) fn tagged<'v>(
        &self,
        key: &str,
        value: &'v Value,
    ) -> Result<(&'v str, Option<&'v Value>), TransformConfigError> {
        match value {
            Value::String(name) => Ok((name, None)),
            Value::Object(map) if map.len() == 1 => {
                let (name, data) = map.iter().next().expect("one entry");
                Ok((name, Some(data)))
            }
            Value::Object(map) => Err(self.error(
                key,
                format!(
                    "expected a table with exactly one key, found {} keys",
                    map.len()
                ),
            )),
            other => Err(self.expected(key, "a string or a table with one key", other)),
        }
    }
}

/// `parent.child`, or `child` at the top level.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A present, non-null value: upstream's `Option` fields treat `null` as absent.
pub(crate) fn optional<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "a table".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn given_unknown_keys_when_table_read_should_warn_with_full_path() {
        let mut p = Parser::new("add_fields");
        let v = json!({"key": "a", "colour": 1});
        p.table("fields[0]", &v, &["key", "value"]).unwrap();
        assert_eq!(
            p.into_warnings(),
            vec!["transform 'add_fields': unknown key 'fields[0].colour' is ignored".to_string()]
        );
    }

    #[test]
    fn given_wrong_type_when_read_should_say_what_was_found() {
        let p = Parser::new("delete_fields");
        let e = p.string_list("fields", Some(&json!(["a", 3]))).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("fields[1]"));
        assert_eq!(e.message, "expected a string, found number 3");
    }

    #[test]
    fn given_tagged_values_when_read_should_split_name_and_data() {
        let p = Parser::new("t");
        assert_eq!(p.tagged("k", &json!("is_null")).unwrap(), ("is_null", None));
        let v = json!({"static": 5});
        assert_eq!(p.tagged("k", &v).unwrap(), ("static", Some(&json!(5))));
        let e = p.tagged("k", &json!({"a": 1, "b": 2})).unwrap_err();
        assert!(e.message.contains("exactly one key"), "{e}");
        assert!(p.tagged("k", &json!(1)).is_err());
    }
}
