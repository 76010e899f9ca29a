//! `filter_fields`: keep or drop top-level keys by name and value.
//!
//! ```toml
//! [transforms.filter_fields]
//! enabled = true
//! keep_fields = ["id"]                 # always kept
//! include_matching = true              # default: keep the matches, drop the rest
//! patterns = [
//!   { key_pattern.starts_with = "meta_" },
//!   { key_pattern.regex = "_at$", value_pattern = "is_string" },
//!   { value_pattern.between = [0, 100] },
//! ]
//! ```
//!
//! A pattern matches when every part it has matches (a pattern with neither part matches every
//! field); a field matches when any pattern matches. Fields in `keep_fields` always stay; the
//! others stay when `matched == include_matching`.

use iggy_connectors_sdk::codecs::ShallowObject;
use serde_json::{Map, Value};

use super::{
    JsonTransform, Outcome, TransformConfigError,
    key_set::KeySet,
    parse::{Parser, index, join, optional},
    patterns::{KeyPattern, ValuePattern},
};

pub(crate) const NAME: &str = "filter_fields";

struct Pattern {
    key: Option<KeyPattern>,
    value: Option<ValuePattern>,
}

impl Pattern {
    #[inline]
    fn matches(&self, key: &str, value: &Value) -> bool {
        self.key.as_ref().is_none_or(|p| p.matches(key))
            && self.value.as_ref().is_none_or(|p| p.matches(value))
    }

    /// [`Pattern::matches`] on a value that is still JSON text.
    #[inline]
    fn matches_text(&self, key: &str, value: &[u8]) -> bool {
        self.key.as_ref().is_none_or(|p| p.matches(key))
            && self.value.as_ref().is_none_or(|p| p.matches_text(value))
    }
}

pub(crate) struct FilterFields {
    keep: KeySet,
    patterns: Vec<Pattern>,
    include_matching: bool,
}

impl FilterFields {
    pub(crate) fn parse(
        p: &mut Parser,
        table: &Map<String, Value>,
    ) -> Result<Self, TransformConfigError> {
        let keep = KeySet::new(p.string_list("keep_fields", table.get("keep_fields"))?);
        let include_matching = match table.get("include_matching") {
            Some(v) => p.bool("include_matching", v)?,
            None => true,
        };
        let mut patterns = Vec::new();
        if let Some(list) = table.get("patterns") {
            for (i, item) in p.array("patterns", list)?.iter().enumerate() {
                let at = index("patterns", i);
                let entry = p.table(&at, item, &["key_pattern", "value_pattern"])?;
                let key = optional(entry, "key_pattern")
                    .map(|v| KeyPattern::parse(p, &join(&at, "key_pattern"), v))
                    .transpose()?;
                let value = optional(entry, "value_pattern")
                    .map(|v| ValuePattern::parse(p, &join(&at, "value_pattern"), v))
                    .transpose()?;
                patterns.push(Pattern { key, value });
            }
        }
        Ok(Self {
            keep,
            patterns,
            include_matching,
        })
    }
}

impl JsonTransform for FilterFields {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, value: &mut Value) -> Outcome {
        if self.keep.is_empty() && self.patterns.is_empty() {
            return Outcome::Keep;
        }
        if let Value::Object(map) = value {
            map.retain(|k, v| {
                self.keep.contains(k)
                    || self.patterns.iter().any(|p| p.matches(k, v)) == self.include_matching
            });
        }
        Outcome::Keep
    }

    fn apply_shallow<'a>(&'a self, object: &mut ShallowObject<'a>) -> Outcome {
        if self.keep.is_empty() && self.patterns.is_empty() {
            return Outcome::Keep;
        }
        object.retain(|k, v| {
            self.keep.contains(k)
                || self.patterns.iter().any(|p| p.matches_text(k, v)) == self.include_matching
        });
        Outcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::tests::{built, config_error, run};

    fn filter(config: Value) -> Box<dyn super::JsonTransform> {
        let mut table = json!({"enabled": true});
        table
            .as_object_mut()
            .unwrap()
            .extend(config.as_object().unwrap().clone());
        built("filter_fields", table)
    }

    const DOC: &str = r#"{"id": 1, "name": "n", "meta_a": "x", "meta_b": 2, "score": 7.5, "tags": [], "gone": null}"#;

    fn doc() -> Value {
        serde_json::from_str(DOC).unwrap()
    }

    #[test]
    fn given_keep_fields_only_when_including_should_drop_everything_else() {
        let t = filter(json!({"keep_fields": ["id", "name", "absent"]}));
        assert_eq!(run(&*t, doc()), json!({"id": 1, "name": "n"}));
    }

    #[test]
    fn given_keep_fields_only_when_excluding_should_keep_everything() {
        // Nothing matches an empty pattern list, and excluding keeps the non-matches.
        let t = filter(json!({"keep_fields": ["id"], "include_matching": false}));
        assert_eq!(run(&*t, doc()), doc());
    }

    #[test]
    fn given_key_pattern_when_including_should_keep_matches_and_kept_fields_in_order() {
        let t = filter(
            json!({"keep_fields": ["id"], "patterns": [{"key_pattern": {"starts_with": "meta_"}}]}),
        );
        let out = run(&*t, doc());
        assert_eq!(out, json!({"id": 1, "meta_a": "x", "meta_b": 2}));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "meta_a", "meta_b"]);
    }

    #[test]
    fn given_key_pattern_when_excluding_should_drop_matches() {
        let t = filter(
            json!({"include_matching": false, "patterns": [{"key_pattern": {"regex": "^meta_"}}]}),
        );
        assert_eq!(
            run(&*t, doc()),
            json!({"id": 1, "name": "n", "score": 7.5, "tags": [], "gone": null})
        );
    }

    #[test]
    fn given_key_and_value_parts_when_matching_should_require_both() {
        let t = filter(json!({"patterns": [
            {"key_pattern": {"starts_with": "meta_"}, "value_pattern": "is_string"},
        ]}));
        assert_eq!(run(&*t, doc()), json!({"meta_a": "x"}));
    }

    #[test]
    fn given_several_patterns_when_matching_should_accept_any() {
        let t = filter(json!({"patterns": [
            {"value_pattern": "is_array"},
            {"value_pattern": {"between": [7, 8]}},
            {"key_pattern": {"exact": "gone"}},
        ]}));
        assert_eq!(
            run(&*t, doc()),
            json!({"score": 7.5, "tags": [], "gone": null})
        );
    }

    #[test]
    fn given_empty_pattern_when_matching_should_match_every_field() {
        let t = filter(json!({"include_matching": false, "keep_fields": ["id"], "patterns": [{}]}));
        assert_eq!(run(&*t, doc()), json!({"id": 1}));
    }

    #[test]
    fn given_nested_values_when_filtering_should_only_judge_top_level_keys() {
        let t = filter(json!({"patterns": [{"key_pattern": {"exact": "keep"}}]}));
        let out = run(
            &*t,
            json!({"keep": {"drop": 1, "keep": 2}, "drop": {"keep": 3}}),
        );
        assert_eq!(out, json!({"keep": {"drop": 1, "keep": 2}}));
    }

    #[test]
    fn given_no_lists_or_non_object_when_applied_should_pass_unchanged() {
        assert_eq!(run(&*filter(json!({})), doc()), doc());
        let t = filter(json!({"keep_fields": ["id"]}));
        assert_eq!(run(&*t, json!([{"x": 1}])), json!([{"x": 1}]));
        assert_eq!(run(&*t, json!("text")), json!("text"));
    }

    #[test]
    fn given_bad_config_when_built_should_name_the_key() {
        let cases = [
            (
                json!({"enabled": true, "patterns": [{"key_pattern": {"regex": "("}}]}),
                "patterns[0].key_pattern.regex",
            ),
            (
                json!({"enabled": true, "include_matching": "yes"}),
                "include_matching",
            ),
            (json!({"enabled": true, "keep_fields": "id"}), "keep_fields"),
            (
                json!({"enabled": true, "patterns": [{"value_pattern": "is_text"}]}),
                "patterns[0].value_pattern",
            ),
        ];
        for (config, key) in cases {
            let e = config_error("filter_fields", config);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
    }
}
