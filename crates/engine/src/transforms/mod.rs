//! Built-in field transforms: `add_fields`, `delete_fields`, `filter_fields`, `update_fields`.
//!
//! Config-compatible with Apache Iggy connectors 0.4.0: each `[transforms.<type>]` table must
//! hold a boolean `enabled` (no default); `enabled = false` or a null table skips it; other keys
//! follow the upstream serde shapes, unknown keys are ignored (and reported as warnings).
//! Transforms act on top-level keys of a JSON object only; any other payload passes unchanged,
//! and they never fail at run time.
//!
//! Everything is parsed at build time (regexes compiled, static values built and encoded, key
//! sets made), so the per-message work is map edits plus copies of static values. Each
//! transform works on a `serde_json::Value` ([`JsonTransform::apply`]) and on a
//! [`ShallowObject`] ([`JsonTransform::apply_shallow`]), whose values stay JSON text: the
//! pipelines use the latter, so a 200-byte object is never built into a tree (see
//! BENCHMARKS.md, "The transform path"). Deliberate differences from
//! upstream:
//! - transforms run in the order of the list, i.e. file order (upstream: `HashMap` order);
//! - `computed` values are produced per message and per field, as upstream does, so within one
//!   batch every message gets its own time and UUID (nothing is shared per batch);
//! - `date_time` always has microsecond precision (`2026-04-14T10:00:00.123456+00:00`);
//!   upstream's `to_rfc3339()` prints as many digits as the clock gives (usually nine);
//! - numeric value patterns (`greater_than`, `less_than`, `between`) also match integers,
//!   where upstream matches floats only (see `patterns.rs`);
//! - config errors name the transform and the key path instead of a bare "invalid config".

mod add_fields;
mod chain;
mod delete_fields;
mod error;
mod field_value;
mod filter_fields;
mod key_set;
mod parse;
mod patterns;
mod update_fields;

use iggy_connectors_sdk::codecs::ShallowObject;
use serde_json::Value;

pub use chain::TransformChain;
pub use error::TransformConfigError;
use parse::Parser;

/// The transform types this module implements, in the order error messages list them.
pub const BUILTIN_TYPES: [&str; 4] = [
    add_fields::NAME,
    delete_fields::NAME,
    filter_fields::NAME,
    update_fields::NAME,
];

/// Whether `transform_type` is implemented here (the engine sends other types elsewhere).
pub fn is_builtin(transform_type: &str) -> bool {
    BUILTIN_TYPES.contains(&transform_type)
}

/// What happens to a message after a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    /// Drop the message (no built-in transform drops; the chain honours it for future ones).
    Drop,
}

/// One built-in transform, built from its TOML table converted to JSON (incl. `enabled`).
pub trait JsonTransform: Send + Sync {
    fn name(&self) -> &'static str;
    /// Edits `value` in place. Non-object values are left as they are.
    fn apply(&self, value: &mut Value) -> Outcome;
    /// The same edit on an object parsed one level deep (the pipelines' path: values stay
    /// JSON text, so only a value a pattern must look into is parsed). Must give the object
    /// [`JsonTransform::apply`] gives, key order included.
    fn apply_shallow<'a>(&'a self, object: &mut ShallowObject<'a>) -> Outcome;
}

/// Builds one transform; `Ok(None)` when `enabled = false` or the table is null.
pub fn build(
    transform_type: &str,
    config: &Value,
) -> Result<Option<Box<dyn JsonTransform>>, TransformConfigError> {
    build_with_warnings(transform_type, config).map(|(built, _)| built)
}

/// A built transform (`None` when disabled) and the ignored keys of its table, one message
/// each, ready to log.
pub type Built = (Option<Box<dyn JsonTransform>>, Vec<String>);

/// [`build`], plus the ignored keys of the table.
pub fn build_with_warnings(
    transform_type: &str,
    config: &Value,
) -> Result<Built, TransformConfigError> {
    let Some(&name) = BUILTIN_TYPES.iter().find(|n| **n == transform_type) else {
        return Err(TransformConfigError::new(
            transform_type,
            None,
            format!(
                "unknown transform type, built-in types are: {}",
                BUILTIN_TYPES.join(", ")
            ),
        ));
    };
    if config.is_null() {
        return Ok((None, Vec::new()));
    }
    let mut p = Parser::new(name);
    let known: &[&str] = match name {
        add_fields::NAME | delete_fields::NAME | update_fields::NAME => &["enabled", "fields"],
        _ => &["enabled", "keep_fields", "patterns", "include_matching"],
    };
    let table = p.table("", config, known)?;
    let enabled = table.get("enabled").ok_or_else(|| {
        p.error(
            "enabled",
            "missing; every [transforms.*] table needs enabled = true or false",
        )
    })?;
    // A disabled table is skipped before the rest is read, as upstream does, so a half-written
    // disabled table never blocks start-up.
    if !p.bool("enabled", enabled)? {
        return Ok((None, p.into_warnings()));
    }
    let built: Box<dyn JsonTransform> = match name {
        add_fields::NAME => Box::new(add_fields::AddFields::parse(&mut p, table)?),
        delete_fields::NAME => Box::new(delete_fields::DeleteFields::parse(&mut p, table)?),
        filter_fields::NAME => Box::new(filter_fields::FilterFields::parse(&mut p, table)?),
        _ => Box::new(update_fields::UpdateFields::parse(&mut p, table)?),
    };
    Ok((Some(built), p.into_warnings()))
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// Builds an enabled transform or panics with the config error.
    pub(crate) fn built(transform_type: &str, config: Value) -> Box<dyn JsonTransform> {
        match build(transform_type, &config) {
            Ok(Some(t)) => t,
            Ok(None) => panic!("{transform_type} was skipped"),
            Err(e) => panic!("{e}"),
        }
    }

    pub(crate) fn config_error(transform_type: &str, config: Value) -> TransformConfigError {
        match build(transform_type, &config) {
            Err(e) => e,
            Ok(_) => panic!("{transform_type} accepted {config}"),
        }
    }

    /// Applies `t` and checks that it kept the message.
    pub(crate) fn run(t: &dyn JsonTransform, mut value: Value) -> Value {
        assert_eq!(t.apply(&mut value), Outcome::Keep);
        value
    }

    #[test]
    fn given_builtin_names_when_checked_should_recognise_only_them() {
        for name in [
            "add_fields",
            "delete_fields",
            "filter_fields",
            "update_fields",
        ] {
            assert!(is_builtin(name));
            assert_eq!(built(name, json!({"enabled": true})).name(), name);
        }
        for name in ["proto_convert", "flat_buffer_convert", "Add_Fields", ""] {
            assert!(!is_builtin(name));
        }
    }

    #[test]
    fn given_missing_enabled_when_built_should_fail_naming_transform_and_key() {
        for name in BUILTIN_TYPES {
            let e = config_error(name, json!({"fields": []}));
            assert_eq!(e.transform, name);
            assert_eq!(e.key.as_deref(), Some("enabled"));
            assert!(
                e.to_string()
                    .starts_with(&format!("transform '{name}': key 'enabled': missing"))
            );
        }
    }

    #[test]
    fn given_non_bool_enabled_when_built_should_fail() {
        for bad in [json!("true"), json!(1), Value::Null] {
            let e = config_error("delete_fields", json!({"enabled": bad}));
            assert_eq!(e.key.as_deref(), Some("enabled"));
            assert!(e.message.starts_with("expected a boolean"), "{e}");
        }
    }

    #[test]
    fn given_disabled_or_null_table_when_built_should_skip_without_reading_the_rest() {
        assert!(
            build(
                "add_fields",
                &json!({"enabled": false, "fields": "garbage"})
            )
            .unwrap()
            .is_none()
        );
        assert!(build("filter_fields", &Value::Null).unwrap().is_none());
    }

    #[test]
    fn given_non_table_config_when_built_should_fail() {
        let e = config_error("add_fields", json!([1]));
        assert_eq!(e.key, None);
        assert_eq!(
            e.to_string(),
            "transform 'add_fields': expected a table, found an array"
        );
    }

    #[test]
    fn given_unknown_type_when_built_should_fail() {
        let e = config_error("rename_fields", json!({"enabled": true}));
        assert!(
            e.message
                .contains("add_fields, delete_fields, filter_fields, update_fields")
        );
    }

    #[test]
    fn given_unknown_key_when_built_with_warnings_should_report_it() {
        let (t, warnings) =
            build_with_warnings("filter_fields", &json!({"enabled": true, "keep": ["a"]})).unwrap();
        assert!(t.is_some());
        assert_eq!(
            warnings,
            ["transform 'filter_fields': unknown key 'keep' is ignored"]
        );
    }
}
