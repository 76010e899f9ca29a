//! `add_fields`: set top-level keys unconditionally, overwriting existing values.
//!
//! ```toml
//! [transforms.add_fields]
//! enabled = true
//! fields = [
//!   { key = "source", value.static = "iggy" },
//!   { key = "received_at", value.computed = "date_time" },
//! ]
//! ```

use iggy_connectors_sdk::codecs::ShallowObject;
use serde_json::{Map, Value};

use super::{
    JsonTransform, Outcome, TransformConfigError,
    field_value::FieldValue,
    parse::{Parser, index, join},
};

pub(crate) const NAME: &str = "add_fields";

pub(crate) struct AddFields {
    fields: Vec<(String, FieldValue)>,
}

impl AddFields {
    pub(crate) fn parse(
        p: &mut Parser,
        table: &Map<String, Value>,
    ) -> Result<Self, TransformConfigError> {
        let mut fields = Vec::new();
        if let Some(list) = table.get("fields") {
            for (i, item) in p.array("fields", list)?.iter().enumerate() {
                let at = index("fields", i);
                let entry = p.table(&at, item, &["key", "value"])?;
                let key = entry
                    .get("key")
                    .ok_or_else(|| p.error(&join(&at, "key"), "missing"))?;
                let key = p.string(&join(&at, "key"), key)?.to_owned();
                let value_at = join(&at, "value");
                let value = entry
                    .get("value")
                    .ok_or_else(|| p.error(&value_at, "missing"))?;
                fields.push((key, FieldValue::parse(p, &value_at, value)?));
            }
        }
        Ok(Self { fields })
    }
}

/// Sets `key` keeping its position when it already exists (and without allocating the key).
#[inline]
pub(crate) fn set_field(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            map.insert(key.to_owned(), value);
        }
    }
}

impl JsonTransform for AddFields {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, value: &mut Value) -> Outcome {
        if let Value::Object(map) = value {
            for (key, field) in &self.fields {
                set_field(map, key, field.produce());
            }
        }
        Outcome::Keep
    }

    fn apply_shallow<'a>(&'a self, object: &mut ShallowObject<'a>) -> Outcome {
        for (key, field) in &self.fields {
            object.set(key, field.produce_text());
        }
        Outcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{built, config_error, run};

    #[test]
    fn given_static_fields_when_applied_should_append_them_in_order() {
        let t = built(
            "add_fields",
            json!({"enabled": true, "fields": [
                {"key": "s", "value": {"static": "x"}},
                {"key": "n", "value": {"static": 42}},
                {"key": "o", "value": {"static": {"a": [1, 2]}}},
            ]}),
        );
        let out = run(&*t, json!({"id": 1}));
        assert_eq!(out, json!({"id": 1, "s": "x", "n": 42, "o": {"a": [1, 2]}}));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "s", "n", "o"]);
    }

    #[test]
    fn given_existing_key_when_added_should_overwrite_in_place() {
        let t = built(
            "add_fields",
            json!({"enabled": true, "fields": [{"key": "a", "value": {"static": "new"}}]}),
        );
        let out = run(&*t, json!({"a": "old", "b": 2}));
        assert_eq!(out, json!({"a": "new", "b": 2}));
        assert_eq!(out.as_object().unwrap().keys().next().unwrap(), "a");
    }

    #[test]
    fn given_nested_key_name_when_added_should_only_touch_top_level() {
        let t = built(
            "add_fields",
            json!({"enabled": true, "fields": [{"key": "user.name", "value": {"static": "z"}}]}),
        );
        let out = run(&*t, json!({"user": {"name": "a"}}));
        assert_eq!(out, json!({"user": {"name": "a"}, "user.name": "z"}));
    }

    #[test]
    fn given_computed_fields_when_applied_to_two_messages_should_differ() {
        let t = built(
            "add_fields",
            json!({"enabled": true, "fields": [
                {"key": "id", "value": {"computed": "uuid_v7"}},
                {"key": "ts", "value": {"computed": "timestamp_millis"}},
            ]}),
        );
        let a = run(&*t, json!({}));
        let b = run(&*t, json!({}));
        assert_ne!(a["id"], b["id"]);
        assert!(a["ts"].is_i64());
    }

    #[test]
    fn given_non_object_payloads_when_applied_should_pass_unchanged() {
        let t = built(
            "add_fields",
            json!({"enabled": true, "fields": [{"key": "a", "value": {"static": 1}}]}),
        );
        for v in [
            json!([1, 2]),
            json!("s"),
            json!(3),
            json!(null),
            json!(true),
        ] {
            assert_eq!(run(&*t, v.clone()), v);
        }
    }

    #[test]
    fn given_no_fields_when_applied_should_be_a_no_op() {
        let t = built("add_fields", json!({"enabled": true}));
        assert_eq!(run(&*t, json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn given_malformed_fields_when_built_should_name_the_key() {
        let cases = [
            (json!({"enabled": true, "fields": {"key": "a"}}), "fields"),
            (
                json!({"enabled": true, "fields": [{"value": {"static": 1}}]}),
                "fields[0].key",
            ),
            (
                json!({"enabled": true, "fields": [{"key": "a"}]}),
                "fields[0].value",
            ),
            (
                json!({"enabled": true, "fields": [{"key": 1, "value": {"static": 1}}]}),
                "fields[0].key",
            ),
            (
                json!({"enabled": true, "fields": [{"key": "a", "value": {"static": 1}}, {"key": "b", "value": 5}]}),
                "fields[1].value",
            ),
        ];
        for (config, key) in cases {
            let e = config_error("add_fields", config);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert_eq!(e.transform, "add_fields");
        }
    }
}
