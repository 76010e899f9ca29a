//! The built-in transforms of one connector, applied in file order.

use iggy_connectors_sdk::codecs::ShallowObject;
use serde_json::Value;

use super::{
    BUILTIN_TYPES, JsonTransform, Outcome, TransformConfigError, build_with_warnings, is_builtin,
};

/// The enabled built-in transforms of one connector, shared by all its topics.
///
/// Upstream keeps `[transforms.*]` in a `HashMap`, so its order of application is arbitrary
/// and changes between runs; ours is the order of the list given to [`TransformChain::build`],
/// i.e. the order of the tables in the file.
#[derive(Default)]
pub struct TransformChain {
    transforms: Vec<Box<dyn JsonTransform>>,
    warnings: Vec<String>,
}

impl TransformChain {
    /// Builds every table of `list` (`(type, table-as-JSON)`, in file order). Fails on the first
    /// bad table, on an unknown type, and on a type listed twice (a TOML table cannot repeat,
    /// so a repeat means the caller merged two configs by mistake).
    pub fn build(list: &[(String, Value)]) -> Result<Self, TransformConfigError> {
        let mut chain = TransformChain::default();
        for (i, (transform_type, config)) in list.iter().enumerate() {
            if !is_builtin(transform_type) {
                return Err(TransformConfigError::new(
                    transform_type.as_str(),
                    None,
                    format!(
                        "unknown transform type, built-in types are: {}",
                        BUILTIN_TYPES.join(", ")
                    ),
                ));
            }
            if list[..i].iter().any(|(t, _)| t == transform_type) {
                return Err(TransformConfigError::new(
                    transform_type.as_str(),
                    None,
                    "listed more than once; each transform type may appear once",
                ));
            }
            let (built, warnings) = build_with_warnings(transform_type, config)?;
            chain.warnings.extend(warnings);
            chain.transforms.extend(built);
        }
        Ok(chain)
    }

    /// True when no transform is enabled: callers can skip JSON decoding entirely.
    pub fn is_empty(&self) -> bool {
        self.transforms.is_empty()
    }

    /// Applies every transform in order; stops at the first `Drop`.
    #[inline]
    pub fn apply(&self, value: &mut Value) -> Outcome {
        for t in &self.transforms {
            if let Outcome::Drop = t.apply(value) {
                return Outcome::Drop;
            }
        }
        Outcome::Keep
    }

    /// [`TransformChain::apply`] on an object parsed one level deep.
    #[inline]
    pub fn apply_shallow<'a>(&'a self, object: &mut ShallowObject<'a>) -> Outcome {
        for t in &self.transforms {
            if let Outcome::Drop = t.apply_shallow(object) {
                return Outcome::Drop;
            }
        }
        Outcome::Keep
    }

    /// The enabled transforms, in order of application.
    pub fn names(&self) -> Vec<&'static str> {
        self.transforms.iter().map(|t| t.name()).collect()
    }

    /// Keys that were ignored while building (upstream ignores them silently); for the caller
    /// to log once at start-up.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl std::fmt::Debug for TransformChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformChain")
            .field("transforms", &self.names())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn list(items: Vec<(&str, Value)>) -> Vec<(String, Value)> {
        items.into_iter().map(|(t, v)| (t.to_owned(), v)).collect()
    }

    fn add_a() -> (&'static str, Value) {
        (
            "add_fields",
            json!({"enabled": true, "fields": [{"key": "a", "value": {"static": 1}}]}),
        )
    }

    fn delete_a() -> (&'static str, Value) {
        ("delete_fields", json!({"enabled": true, "fields": ["a"]}))
    }

    fn apply(chain: &TransformChain, mut v: Value) -> Value {
        assert!(matches!(chain.apply(&mut v), Outcome::Keep));
        v
    }

    #[test]
    fn given_add_then_delete_when_applied_should_differ_from_delete_then_add() {
        let add_then_delete = TransformChain::build(&list(vec![add_a(), delete_a()])).unwrap();
        let delete_then_add = TransformChain::build(&list(vec![delete_a(), add_a()])).unwrap();
        assert_eq!(add_then_delete.names(), ["add_fields", "delete_fields"]);
        assert_eq!(delete_then_add.names(), ["delete_fields", "add_fields"]);
        assert_eq!(
            apply(&add_then_delete, json!({"a": 0, "b": 2})),
            json!({"b": 2})
        );
        assert_eq!(
            apply(&delete_then_add, json!({"a": 0, "b": 2})),
            json!({"b": 2, "a": 1})
        );
    }

    #[test]
    fn given_all_four_when_applied_should_run_in_list_order() {
        let chain = TransformChain::build(&list(vec![
            (
                "update_fields",
                json!({"enabled": true, "fields": [
                    {"key": "n", "value": {"static": 10}, "condition": "key_exists"},
                ]}),
            ),
            (
                "add_fields",
                json!({"enabled": true, "fields": [{"key": "tmp", "value": {"static": "t"}}]}),
            ),
            (
                "filter_fields",
                json!({"enabled": true, "include_matching": false,
                "patterns": [{"value_pattern": {"greater_than": 5}}]}),
            ),
            ("delete_fields", json!({"enabled": true, "fields": ["tmp"]})),
        ]))
        .unwrap();
        // update makes n = 10, filter then drops it (> 5) and keeps small; delete removes tmp.
        assert_eq!(
            apply(&chain, json!({"n": 1, "small": 3})),
            json!({"small": 3})
        );
    }

    #[test]
    fn given_disabled_and_null_tables_when_built_should_skip_them() {
        let chain = TransformChain::build(&list(vec![
            (
                "add_fields",
                json!({"enabled": false, "fields": [{"key": "a", "value": {"static": 1}}]}),
            ),
            ("delete_fields", Value::Null),
            (
                "filter_fields",
                json!({"enabled": false, "patterns": [{"key_pattern": {"regex": "("}}]}),
            ),
        ]))
        .unwrap();
        assert!(chain.is_empty());
        assert!(chain.names().is_empty());
        assert_eq!(apply(&chain, json!({"x": 1})), json!({"x": 1}));
        assert!(TransformChain::build(&[]).unwrap().is_empty());
    }

    #[test]
    fn given_unknown_type_when_built_should_list_the_builtin_ones() {
        let e = TransformChain::build(&list(vec![
            add_a(),
            ("proto_convert", json!({"enabled": true})),
        ]))
        .unwrap_err();
        assert_eq!(e.transform, "proto_convert");
        assert_eq!(
            e.to_string(),
            "transform 'proto_convert': unknown transform type, built-in types are: \
             add_fields, delete_fields, filter_fields, update_fields"
        );
    }

    #[test]
    fn given_repeated_type_when_built_should_fail() {
        let e = TransformChain::build(&list(vec![add_a(), delete_a(), add_a()])).unwrap_err();
        assert_eq!(e.transform, "add_fields");
        assert!(e.message.contains("more than once"), "{e}");
    }

    #[test]
    fn given_unknown_keys_when_built_should_collect_warnings_in_order() {
        let chain = TransformChain::build(&list(vec![
            (
                "add_fields",
                json!({"enabled": true, "colour": "red",
                "fields": [{"key": "a", "value": {"static": 1}, "when": "now"}]}),
            ),
            ("delete_fields", json!({"enabled": true, "field": ["typo"]})),
        ]))
        .unwrap();
        assert_eq!(
            chain.warnings(),
            [
                "transform 'add_fields': unknown key 'colour' is ignored",
                "transform 'add_fields': unknown key 'fields[0].when' is ignored",
                "transform 'delete_fields': unknown key 'field' is ignored",
            ]
        );
    }

    /// The shallow path (what the pipelines run) must give what the `Value` path gives, key
    /// order included, for every transform and pattern kind.
    #[test]
    fn given_any_chain_when_applied_shallow_should_equal_the_value_path() {
        let chains = [
            list(vec![
                (
                    "add_fields",
                    json!({"enabled": true, "fields": [
                        {"key": "source", "value": {"static": "iggy"}},
                        {"key": "id", "value": {"static": {"n": [1, 2.5, null]}}},
                        {"key": "q\"uote", "value": {"static": "é\n"}},
                    ]}),
                ),
                (
                    "delete_fields",
                    json!({"enabled": true, "fields": ["url", "nested"]}),
                ),
            ]),
            list(vec![(
                "update_fields",
                json!({"enabled": true, "fields": [
                    {"key": "event", "value": {"static": "view"}, "condition": "key_exists"},
                    {"key": "region", "value": {"static": "eu"}, "condition": "key_not_exists"},
                    {"key": "ok", "value": {"static": false}},
                ]}),
            )]),
            list(vec![(
                "filter_fields",
                json!({"enabled": true, "keep_fields": ["id"], "patterns": [
                    {"key_pattern": {"starts_with": "meta_"}},
                    {"key_pattern": {"regex": "^(user|event)$"}, "value_pattern": "is_string"},
                    {"value_pattern": {"between": [10, 100]}},
                    {"value_pattern": {"contains": "é"}},
                    {"value_pattern": {"regex": "^a\\.b$"}},
                    {"value_pattern": {"equals": {"x": [1, 2]}}},
                    {"value_pattern": "is_null"},
                ]}),
            )]),
            list(vec![(
                "filter_fields",
                json!({"enabled": true, "include_matching": false, "patterns": [
                    {"value_pattern": {"greater_than": 5}},
                    {"value_pattern": {"less_than": -1.5}},
                    {"value_pattern": "is_object"},
                    {"value_pattern": "is_array"},
                    {"value_pattern": "is_boolean"},
                ]}),
            )]),
        ];
        let payloads = [
            r#"{"id":1,"user":"u","event":"click","url":"https://x","meta_a":1,"ok":true}"#,
            r#"{"nested":{"a":[1,{"b":2}]},"n":50,"m":4.5e1,"big":18446744073709551616}"#,
            r#"{"s":"caf\u00e9","t":"a.b","u":"a\u002eb","e":{"x":[1,2]},"f":{"x":[1,2,3]}}"#,
            r#"{"neg":-2,"zero":0,"nil":null,"arr":[],"obj":{},"no":false,"str":"7"}"#,
            r#"{"a":1,"a":2,"event":"dup"}"#,
            r#"{}"#,
        ];
        for chain in &chains {
            let chain = TransformChain::build(chain).unwrap();
            for payload in payloads {
                let expected = apply(&chain, serde_json::from_str(payload).unwrap());
                let mut object = ShallowObject::parse(payload.as_bytes()).unwrap();
                assert_eq!(chain.apply_shallow(&mut object), Outcome::Keep);
                let mut bytes = Vec::new();
                object.write(&mut bytes);
                let got: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(got, expected, "{payload} through {chain:?}");
                let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
                assert_eq!(keys(&got), keys(&expected), "{payload} through {chain:?}");
            }
        }
    }
}
