//! `delete_fields`: remove top-level keys.
//!
//! ```toml
//! [transforms.delete_fields]
//! enabled = true
//! fields = ["password", "internal_id"]
//! ```

use iggy_connectors_sdk::codecs::ShallowObject;
use serde_json::{Map, Value};

use super::{JsonTransform, Outcome, TransformConfigError, key_set::KeySet, parse::Parser};

pub(crate) const NAME: &str = "delete_fields";

pub(crate) struct DeleteFields {
    keys: KeySet,
}

impl DeleteFields {
    pub(crate) fn parse(
        p: &mut Parser,
        table: &Map<String, Value>,
    ) -> Result<Self, TransformConfigError> {
        Ok(Self {
            keys: KeySet::new(p.string_list("fields", table.get("fields"))?),
        })
    }
}

impl JsonTransform for DeleteFields {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, value: &mut Value) -> Outcome {
        if let Value::Object(map) = value
            && !self.keys.is_empty()
        {
            // One pass that keeps the order of the remaining keys (`Map::remove` would swap
            // the last key into the hole).
            map.retain(|k, _| !self.keys.contains(k));
        }
        Outcome::Keep
    }

    fn apply_shallow<'a>(&'a self, object: &mut ShallowObject<'a>) -> Outcome {
        if !self.keys.is_empty() {
            object.retain(|k, _| !self.keys.contains(k));
        }
        Outcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{built, config_error, run};

    #[test]
    fn given_keys_when_deleted_should_remove_only_them_and_keep_order() {
        let t = built(
            "delete_fields",
            json!({"enabled": true, "fields": ["b", "d", "missing"]}),
        );
        let out = run(&*t, json!({"a": 1, "b": 2, "c": {"b": 3}, "d": 4, "e": 5}));
        assert_eq!(out, json!({"a": 1, "c": {"b": 3}, "e": 5}));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "c", "e"]);
    }

    #[test]
    fn given_many_keys_when_deleted_should_use_the_hashed_set_correctly() {
        let fields: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let t = built("delete_fields", json!({"enabled": true, "fields": fields}));
        let out = run(&*t, json!({"k3": 1, "keep": 2, "k19": 3}));
        assert_eq!(out, json!({"keep": 2}));
    }

    #[test]
    fn given_dotted_key_when_deleted_should_not_reach_nested_values() {
        let t = built(
            "delete_fields",
            json!({"enabled": true, "fields": ["user.name"]}),
        );
        let v = json!({"user": {"name": "a"}});
        assert_eq!(run(&*t, v.clone()), v);
    }

    #[test]
    fn given_non_object_or_no_fields_when_applied_should_pass_unchanged() {
        let t = built("delete_fields", json!({"enabled": true, "fields": ["a"]}));
        assert_eq!(run(&*t, json!([{"a": 1}])), json!([{"a": 1}]));
        let empty = built("delete_fields", json!({"enabled": true}));
        assert_eq!(run(&*empty, json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn given_non_string_field_when_built_should_fail_naming_it() {
        let e = config_error(
            "delete_fields",
            json!({"enabled": true, "fields": ["a", 1]}),
        );
        assert_eq!(
            e.to_string(),
            "transform 'delete_fields': key 'fields[1]': expected a string, found number 1"
        );
    }
}
