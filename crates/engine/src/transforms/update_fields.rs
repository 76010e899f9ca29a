//! `update_fields`: set top-level keys depending on whether they already exist.
//!
//! ```toml
//! [transforms.update_fields]
//! enabled = true
//! fields = [
//!   { key = "status", value.static = "seen", condition = "key_exists" },
//!   { key = "trace_id", value.computed = "uuid_v4", condition = "key_not_exists" },
//!   { key = "updated_at", value.computed = "timestamp_millis" },  # condition: always
//! ]
//! ```

use iggy_connectors_sdk::codecs::ShallowObject;
use serde_json::{Map, Value};

use super::{
    JsonTransform, Outcome, TransformConfigError,
    add_fields::set_field,
    field_value::FieldValue,
    parse::{Parser, index, join, optional},
};

pub(crate) const NAME: &str = "update_fields";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    KeyExists,
    KeyNotExists,
}

struct Field {
    key: String,
    value: FieldValue,
    condition: Condition,
}

pub(crate) struct UpdateFields {
    fields: Vec<Field>,
}

impl UpdateFields {
    pub(crate) fn parse(
        p: &mut Parser,
        table: &Map<String, Value>,
    ) -> Result<Self, TransformConfigError> {
        let mut fields = Vec::new();
        if let Some(list) = table.get("fields") {
            for (i, item) in p.array("fields", list)?.iter().enumerate() {
                let at = index("fields", i);
                let entry = p.table(&at, item, &["key", "value", "condition"])?;
                let key = entry
                    .get("key")
                    .ok_or_else(|| p.error(&join(&at, "key"), "missing"))?;
                let key = p.string(&join(&at, "key"), key)?.to_owned();
                let value_at = join(&at, "value");
                let value = entry
                    .get("value")
                    .ok_or_else(|| p.error(&value_at, "missing"))?;
                let value = FieldValue::parse(p, &value_at, value)?;
                let condition = match optional(entry, "condition") {
                    None => Condition::Always,
                    Some(c) => parse_condition(p, &join(&at, "condition"), c)?,
                };
                fields.push(Field {
                    key,
                    value,
                    condition,
                });
            }
        }
        Ok(Self { fields })
    }
}

fn parse_condition(
    p: &Parser,
    key: &str,
    value: &Value,
) -> Result<Condition, TransformConfigError> {
    match p.tagged(key, value)? {
        ("always", None) => Ok(Condition::Always),
        ("key_exists", None) => Ok(Condition::KeyExists),
        ("key_not_exists", None) => Ok(Condition::KeyNotExists),
        (other, _) => Err(p.error(
            key,
            format!(
                "unknown condition '{other}', expected one of always, key_exists, key_not_exists"
            ),
        )),
    }
}

impl JsonTransform for UpdateFields {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, value: &mut Value) -> Outcome {
        let Value::Object(map) = value else {
            return Outcome::Keep;
        };
        for field in &self.fields {
            match field.condition {
                Condition::Always => set_field(map, &field.key, field.value.produce()),
                Condition::KeyExists => {
                    if let Some(slot) = map.get_mut(&field.key) {
                        *slot = field.value.produce();
                    }
                }
                Condition::KeyNotExists => {
                    if !map.contains_key(&field.key) {
                        map.insert(field.key.clone(), field.value.produce());
                    }
                }
            }
        }
        Outcome::Keep
    }

    fn apply_shallow<'a>(&'a self, object: &mut ShallowObject<'a>) -> Outcome {
        for field in &self.fields {
            match field.condition {
                Condition::Always => object.set(&field.key, field.value.produce_text()),
                Condition::KeyExists => {
                    if let Some(slot) = object.get_mut(&field.key) {
                        *slot = field.value.produce_text();
                    }
                }
                Condition::KeyNotExists => {
                    if !object.contains_key(&field.key) {
                        object.push(&field.key, field.value.produce_text());
                    }
                }
            }
        }
        Outcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{built, config_error, run};

    fn update(fields: serde_json::Value) -> Box<dyn super::JsonTransform> {
        built("update_fields", json!({"enabled": true, "fields": fields}))
    }

    #[test]
    fn given_each_condition_when_key_present_or_missing_should_update_accordingly() {
        let t = update(json!([
            {"key": "a", "value": {"static": "always"}},
            {"key": "b", "value": {"static": "always"}, "condition": "always"},
            {"key": "c", "value": {"static": "exists"}, "condition": "key_exists"},
            {"key": "d", "value": {"static": "exists"}, "condition": "key_exists"},
            {"key": "e", "value": {"static": "absent"}, "condition": "key_not_exists"},
            {"key": "f", "value": {"static": "absent"}, "condition": "key_not_exists"},
        ]));
        // Present: a, c, e. Missing: b, d, f.
        let out = run(&*t, json!({"a": 0, "c": 0, "e": 0}));
        assert_eq!(
            out,
            json!({"a": "always", "c": "exists", "e": 0, "b": "always", "f": "absent"})
        );
        assert!(out.get("d").is_none());
    }

    #[test]
    fn given_null_condition_when_built_should_mean_always() {
        let t = update(json!([{"key": "a", "value": {"static": 1}, "condition": null}]));
        assert_eq!(run(&*t, json!({})), json!({"a": 1}));
    }

    #[test]
    fn given_computed_value_when_key_not_exists_should_add_it_once() {
        let t = update(json!([
            {"key": "id", "value": {"computed": "uuid_v4"}, "condition": "key_not_exists"},
        ]));
        let out = run(&*t, json!({}));
        assert!(uuid::Uuid::parse_str(out["id"].as_str().unwrap()).is_ok());
        assert_eq!(run(&*t, json!({"id": "keep"})), json!({"id": "keep"}));
    }

    #[test]
    fn given_nested_or_non_object_payload_when_applied_should_touch_top_level_only() {
        let t =
            update(json!([{"key": "name", "value": {"static": "x"}, "condition": "key_exists"}]));
        assert_eq!(
            run(&*t, json!({"user": {"name": "a"}})),
            json!({"user": {"name": "a"}})
        );
        assert_eq!(run(&*t, json!(["name"])), json!(["name"]));
    }

    #[test]
    fn given_unknown_condition_when_built_should_fail_naming_it() {
        let e = config_error(
            "update_fields",
            json!({"enabled": true, "fields": [{"key": "a", "value": {"static": 1}, "condition": "sometimes"}]}),
        );
        assert_eq!(e.key.as_deref(), Some("fields[0].condition"));
        assert!(
            e.message.contains("sometimes") && e.message.contains("key_not_exists"),
            "{e}"
        );
    }
}
