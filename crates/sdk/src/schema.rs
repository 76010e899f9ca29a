//! The JSON Schema of a plugin's `[plugin_config]`, exported as the optional symbol
//! `iggy_connector_config_schema` so hosts can check a connector file before anything opens.
//!
//! A plugin opts in by deriving [`JsonSchema`] on its config struct next to `Deserialize`; the
//! export macros find the config type through the connector's `new` and export the schema
//! when the type implements [`JsonSchema`], and a null pointer otherwise (hosts then check
//! nothing, as for a 0.4.0 plugin without the symbol). Keys that serde reads as strings but the
//! plugin parses further (durations) take their schema from a type of this module
//! (`#[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]`) so the schema refuses
//! what `open` would refuse.

use std::borrow::Cow;
use std::ffi::{CString, c_char};
use std::marker::PhantomData;
use std::sync::OnceLock;

pub use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::ConnectorState;

/// A humantime duration as the plugins parse it (`humantime::parse_duration` after trimming):
/// one or more `<number><unit>` terms, or `"0"`. Kept in step with humantime 2's unit table.
pub const DURATION_PATTERN: &str = concat!(
    r"^\s*(0|([0-9]+(\.[0-9]+)?\s*(nsec|ns|usec|us|µs|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m",
    r"|hours|hour|hrs|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y)\s*)+)$"
);

/// What a duration key expects, in errors (`x-expected`, read by our host) and in editors.
const DURATION_TEXT: &str = "a duration such as \"500ms\", \"5s\" or \"1m 30s\"";

/// A humantime duration as the plugin parses it. Use it as the schema of a `String` key:
/// `#[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]` on an `Option<String>`
/// (optional stays optional), `with = "iggy_connectors_sdk::schema::Duration"` on a `String`.
pub struct Duration;

impl JsonSchema for Duration {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": DURATION_TEXT,
            "x-expected": DURATION_TEXT,
        })
    }
}

/// As [`Duration`], also accepting `""` (the plugin then uses its default).
pub struct DurationOrEmpty;

impl JsonSchema for DurationOrEmpty {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "DurationOrEmpty".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let expected = format!("{DURATION_TEXT} (empty: the default)");
        json_schema!({
            "type": "string",
            "pattern": format!("({DURATION_PATTERN})|(^\\s*$)"),
            "description": expected,
            "x-expected": expected,
        })
    }
}

/// A string the plugin also accepts as a number or boolean (converted to its text).
pub fn string_like(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "number", "boolean"] })
}

/// The schema text of `C`, generated once per library (draft 2020-12, as schemars defaults to).
pub fn render<C: JsonSchema>() -> String {
    serde_json::to_string(&schemars::schema_for!(C)).unwrap_or_default()
}

/// Carries a connector's config type, taken from the signature of its `new`, to the
/// specialisation below. Not a stable API: the export macros use it.
pub struct ConfigType<C>(PhantomData<C>);

impl<C> ConfigType<C> {
    pub fn of_sink<T>(_new: fn(u32, C) -> T) -> Self {
        Self(PhantomData)
    }

    pub fn of_source<T>(_new: fn(u32, C, Option<ConnectorState>) -> T) -> Self {
        Self(PhantomData)
    }
}

/// Chosen by method resolution when the config type derives `JsonSchema` (autoref
/// specialisation: `(&probe).config_schema()` tries this impl before [`WithoutSchema`]'s).
pub trait WithSchema {
    fn config_schema(&self) -> Option<String>;
}

impl<C: JsonSchema> WithSchema for ConfigType<C> {
    fn config_schema(&self) -> Option<String> {
        Some(render::<C>())
    }
}

/// The fallback for config types without `JsonSchema`: the symbol returns null.
pub trait WithoutSchema {
    fn config_schema(&self) -> Option<String> {
        None
    }
}

impl<C> WithoutSchema for &ConfigType<C> {}

/// What `iggy_connector_config_schema` returns: a NUL-terminated static string, or null.
pub fn export(
    cell: &'static OnceLock<Option<CString>>,
    schema: impl FnOnce() -> Option<String>,
) -> *const c_char {
    cell.get_or_init(|| schema().and_then(|text| CString::new(text).ok()))
        .as_ref()
        .map_or(std::ptr::null(), |text| text.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    #[allow(dead_code)]
    #[derive(Default)]
    struct Typed {
        /// Doc comments become descriptions; the expected text stays.
        #[schemars(with = "Option<Duration>")]
        interval: Option<String>,
        count: u32,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Untyped {
        anything: String,
    }

    struct TypedSink;
    impl TypedSink {
        fn new(_id: u32, _config: Typed) -> Self {
            Self
        }
    }

    struct UntypedSource;
    impl UntypedSource {
        fn new(_id: u32, _config: Untyped, _state: Option<ConnectorState>) -> Self {
            Self
        }
    }

    // `(&probe).config_schema()` as the export macros write it: the borrow is what picks the
    // fallback for config types without `JsonSchema`.
    #[allow(clippy::needless_borrow)]
    #[test]
    fn given_a_config_deriving_json_schema_when_probed_should_render_its_schema() {
        let probe = ConfigType::of_sink(TypedSink::new);
        let schema: serde_json::Value =
            serde_json::from_str(&(&probe).config_schema().expect("a schema")).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["count"]["type"], "integer");
        assert_eq!(
            schema["properties"]["interval"]["pattern"],
            DURATION_PATTERN
        );
        assert_eq!(
            schema["properties"]["interval"]["x-expected"],
            DURATION_TEXT
        );
        assert!(schema.get("required").is_none(), "{schema}");
    }

    #[test]
    fn given_a_config_without_json_schema_when_probed_should_have_none() {
        let probe = ConfigType::of_source(UntypedSource::new);
        assert_eq!((&probe).config_schema(), None);
    }

    #[test]
    fn given_duration_strings_when_matched_should_agree_with_humantime() {
        let pattern = regex::Regex::new(DURATION_PATTERN).unwrap();
        let cases = [
            "5s",
            "0",
            " 1m 30s ",
            "250ms",
            "2days",
            "1h",
            "3 weeks",
            "10us",
            "1M",
            "banana",
            "",
            "5",
            "s",
            "-1s",
            "1.5s",
            ".5s",
            "1.s",
            "1e3s",
            "1h30m",
            "5 parsecs",
            "5s banana",
        ];
        for text in cases {
            assert_eq!(
                pattern.is_match(text),
                humantime::parse_duration(text.trim()).is_ok(),
                "{text:?}"
            );
        }
    }
}
