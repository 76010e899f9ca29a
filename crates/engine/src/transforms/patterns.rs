//! Key and value patterns of `filter_fields`, compiled once at load.

use std::borrow::Cow;

use regex::Regex;
use serde_json::Value;

use super::{
    TransformConfigError,
    parse::{Parser, join},
};

#[derive(Debug)]
pub(crate) enum KeyPattern {
    Exact(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(Regex),
}

impl KeyPattern {
    pub(crate) fn parse(
        p: &Parser,
        key: &str,
        value: &Value,
    ) -> Result<Self, TransformConfigError> {
        const KINDS: &str = "exact, starts_with, ends_with, contains, regex";
        let (kind, data) = p.tagged(key, value)?;
        let Some(data) = data else {
            return Err(p.error(
                key,
                format!("expected {{ <kind> = \"<text>\" }} with kind one of {KINDS}"),
            ));
        };
        let at = join(key, kind);
        let text = || p.string(&at, data).map(str::to_owned);
        Ok(match kind {
            "exact" => KeyPattern::Exact(text()?),
            "starts_with" => KeyPattern::StartsWith(text()?),
            "ends_with" => KeyPattern::EndsWith(text()?),
            "contains" => KeyPattern::Contains(text()?),
            "regex" => KeyPattern::Regex(compile(p, &at, &text()?)?),
            other => {
                return Err(p.error(
                    key,
                    format!("unknown key pattern '{other}', expected one of {KINDS}"),
                ));
            }
        })
    }

    #[inline]
    pub(crate) fn matches(&self, key: &str) -> bool {
        match self {
            KeyPattern::Exact(s) => key == s,
            KeyPattern::StartsWith(s) => key.starts_with(s.as_str()),
            KeyPattern::EndsWith(s) => key.ends_with(s.as_str()),
            KeyPattern::Contains(s) => key.contains(s.as_str()),
            KeyPattern::Regex(re) => re.is_match(key),
        }
    }
}

#[derive(Debug)]
pub(crate) enum ValuePattern {
    Equals(Value),
    Contains(String),
    Regex(Regex),
    GreaterThan(f64),
    LessThan(f64),
    Between(f64, f64),
    IsNull,
    IsNotNull,
    IsString,
    IsNumber,
    IsBoolean,
    IsObject,
    IsArray,
}

const VALUE_KINDS: &str = "equals, contains, regex, greater_than, less_than, between, is_null, \
     is_not_null, is_string, is_number, is_boolean, is_object, is_array";

impl ValuePattern {
    pub(crate) fn parse(
        p: &Parser,
        key: &str,
        value: &Value,
    ) -> Result<Self, TransformConfigError> {
        let (kind, data) = p.tagged(key, value)?;
        let at = join(key, kind);
        let unknown = || {
            p.error(
                key,
                format!("unknown value pattern '{kind}', expected one of {VALUE_KINDS}"),
            )
        };
        let Some(data) = data else {
            return Ok(match kind {
                "is_null" => ValuePattern::IsNull,
                "is_not_null" => ValuePattern::IsNotNull,
                "is_string" => ValuePattern::IsString,
                "is_number" => ValuePattern::IsNumber,
                "is_boolean" => ValuePattern::IsBoolean,
                "is_object" => ValuePattern::IsObject,
                "is_array" => ValuePattern::IsArray,
                "equals" | "contains" | "regex" | "greater_than" | "less_than" | "between" => {
                    return Err(p.error(key, format!("'{kind}' needs a value: {{ {kind} = ... }}")));
                }
                _ => return Err(unknown()),
            });
        };
        Ok(match kind {
            "equals" => ValuePattern::Equals(data.clone()),
            "contains" => ValuePattern::Contains(p.string(&at, data)?.to_owned()),
            "regex" => ValuePattern::Regex(compile(p, &at, p.string(&at, data)?)?),
            "greater_than" => ValuePattern::GreaterThan(p.number(&at, data)?),
            "less_than" => ValuePattern::LessThan(p.number(&at, data)?),
            "between" => {
                let bounds = p.array(&at, data)?;
                let [low, high] = bounds else {
                    return Err(p.error(
                        &at,
                        format!("expected [low, high], found {} items", bounds.len()),
                    ));
                };
                ValuePattern::Between(
                    p.number(&format!("{at}[0]"), low)?,
                    p.number(&format!("{at}[1]"), high)?,
                )
            }
            "is_null" | "is_not_null" | "is_string" | "is_number" | "is_boolean" | "is_object"
            | "is_array" => {
                return Err(p.error(
                    key,
                    format!("'{kind}' takes no value: write value_pattern = \"{kind}\""),
                ));
            }
            _ => return Err(unknown()),
        })
    }

    /// Numeric patterns match any JSON number, integers included. Upstream 0.4.0 reads the
    /// number with simd-json's `as_f64`, which is `None` for integers, so there
    /// `greater_than = 18` never matches `{"age": 30}`; we follow the documented intent
    /// ("numeric value is greater than") instead of that accident.
    #[inline]
    pub(crate) fn matches(&self, value: &Value) -> bool {
        match self {
            ValuePattern::Equals(x) => value == x,
            ValuePattern::Contains(s) => value.as_str().is_some_and(|v| v.contains(s.as_str())),
            ValuePattern::Regex(re) => value.as_str().is_some_and(|v| re.is_match(v)),
            ValuePattern::GreaterThan(t) => value.as_f64().is_some_and(|n| n > *t),
            ValuePattern::LessThan(t) => value.as_f64().is_some_and(|n| n < *t),
            ValuePattern::Between(a, b) => value.as_f64().is_some_and(|n| n >= *a && n <= *b),
            ValuePattern::IsNull => value.is_null(),
            ValuePattern::IsNotNull => !value.is_null(),
            ValuePattern::IsString => value.is_string(),
            ValuePattern::IsNumber => value.is_number(),
            ValuePattern::IsBoolean => value.is_boolean(),
            ValuePattern::IsObject => value.is_object(),
            ValuePattern::IsArray => value.is_array(),
        }
    }
}

impl ValuePattern {
    /// [`ValuePattern::matches`] on a value that is still JSON text (valid, as a
    /// `ShallowObject` holds it): type checks read the first byte, string and number
    /// patterns decode just that value, and only `equals` builds a `Value`.
    pub(crate) fn matches_text(&self, text: &[u8]) -> bool {
        let first = text.first().copied().unwrap_or(b' ');
        match self {
            ValuePattern::Equals(x) => {
                serde_json::from_slice::<Value>(text).is_ok_and(|value| value == *x)
            }
            ValuePattern::Contains(s) => string_of(text).is_some_and(|v| v.contains(s.as_str())),
            ValuePattern::Regex(re) => string_of(text).is_some_and(|v| re.is_match(&v)),
            ValuePattern::GreaterThan(t) => number_of(text).is_some_and(|n| n > *t),
            ValuePattern::LessThan(t) => number_of(text).is_some_and(|n| n < *t),
            ValuePattern::Between(a, b) => number_of(text).is_some_and(|n| n >= *a && n <= *b),
            ValuePattern::IsNull => text == b"null",
            ValuePattern::IsNotNull => text != b"null",
            ValuePattern::IsString => first == b'"',
            ValuePattern::IsNumber => first == b'-' || first.is_ascii_digit(),
            ValuePattern::IsBoolean => first == b't' || first == b'f',
            ValuePattern::IsObject => first == b'{',
            ValuePattern::IsArray => first == b'[',
        }
    }
}

/// The string a JSON string literal holds; borrowed when it has no escape.
fn string_of(text: &[u8]) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        serde_json::from_slice::<String>(text).ok().map(Cow::Owned)
    } else {
        std::str::from_utf8(inner).ok().map(Cow::Borrowed)
    }
}

/// A JSON number as `Value::as_f64` reads it (serde_json's own number parsing).
fn number_of(text: &[u8]) -> Option<f64> {
    let first = *text.first()?;
    if first == b'-' || first.is_ascii_digit() {
        serde_json::from_slice::<f64>(text).ok()
    } else {
        None
    }
}

fn compile(p: &Parser, key: &str, pattern: &str) -> Result<Regex, TransformConfigError> {
    Regex::new(pattern).map_err(|e| p.error(key, format!("invalid regex {pattern:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(v: Value) -> KeyPattern {
        KeyPattern::parse(&Parser::new("filter_fields"), "k", &v).unwrap()
    }

    fn value(v: Value) -> ValuePattern {
        ValuePattern::parse(&Parser::new("filter_fields"), "v", &v).unwrap()
    }

    #[test]
    fn given_each_key_pattern_when_matched_should_follow_its_rule() {
        let cases = [
            (json!({"exact": "meta"}), "meta", "meta_x"),
            (json!({"starts_with": "meta_"}), "meta_x", "x_meta_"),
            (json!({"ends_with": "_at"}), "created_at", "at_x"),
            (json!({"contains": "date"}), "up_date_d", "dat"),
            (json!({"regex": "^f[0-9]+$"}), "f12", "f12a"),
        ];
        for (config, yes, no) in cases {
            let pattern = key(config.clone());
            assert!(pattern.matches(yes), "{config} should match {yes}");
            assert!(!pattern.matches(no), "{config} should not match {no}");
        }
    }

    #[test]
    fn given_each_value_pattern_when_matched_should_follow_its_rule() {
        let cases = [
            (
                json!({"equals": {"a": [1]}}),
                json!({"a": [1]}),
                json!({"a": [2]}),
            ),
            (json!({"equals": 5}), json!(5), json!(5.5)),
            (
                json!({"contains": "err"}),
                json!("an error"),
                json!(["err"]),
            ),
            (json!({"regex": "^\\d{3}$"}), json!("123"), json!(123)),
            (json!({"greater_than": 18}), json!(30), json!(18)),
            (json!({"greater_than": 1.5}), json!(1.6), json!("2")),
            (json!({"less_than": 0}), json!(-1), json!(0)),
            (json!({"between": [1, 2]}), json!(2), json!(2.01)),
            (json!({"between": [1.0, 2.0]}), json!(1), json!(null)),
            (json!("is_null"), json!(null), json!(0)),
            (json!("is_not_null"), json!(false), json!(null)),
            (json!("is_string"), json!(""), json!(1)),
            (json!("is_number"), json!(-0.5), json!("1")),
            (json!("is_boolean"), json!(true), json!("true")),
            (json!("is_object"), json!({}), json!([])),
            (json!("is_array"), json!([]), json!({})),
        ];
        for (config, yes, no) in cases {
            let pattern = value(config.clone());
            assert!(pattern.matches(&yes), "{config} should match {yes}");
            assert!(!pattern.matches(&no), "{config} should not match {no}");
        }
    }

    /// `matches_text` (the pipelines' path) must agree with `matches` on every pattern kind
    /// and every value shape, escaped strings and odd numbers included.
    #[test]
    fn given_values_as_json_text_when_matched_should_agree_with_the_value_path() {
        let patterns = [
            json!({"equals": {"a": [1]}}),
            json!({"equals": 5}),
            json!({"equals": "é"}),
            json!({"contains": "err"}),
            json!({"regex": "^\\d{3}$"}),
            json!({"greater_than": 18}),
            json!({"less_than": 0}),
            json!({"between": [1, 2]}),
            json!("is_null"),
            json!("is_not_null"),
            json!("is_string"),
            json!("is_number"),
            json!("is_boolean"),
            json!("is_object"),
            json!("is_array"),
        ];
        let texts = [
            r#"{"a":[1]}"#,
            r#"{ "a" : [ 1 ] }"#,
            "5",
            "5.0",
            "-0",
            "30",
            "18",
            "1.5e1",
            "2E0",
            "-1",
            "18446744073709551616",
            r#""an error""#,
            r#""an \u0065rror""#,
            r#""123""#,
            r#""\u0031\u0032\u0033""#,
            r#""é""#,
            r#""\u00e9""#,
            "null",
            "true",
            "false",
            "[]",
            "{}",
            r#""""#,
        ];
        for pattern in patterns {
            let compiled = value(pattern.clone());
            for text in texts {
                let parsed: Value = serde_json::from_str(text).unwrap();
                assert_eq!(
                    compiled.matches_text(text.as_bytes()),
                    compiled.matches(&parsed),
                    "{pattern} on {text}"
                );
            }
        }
    }

    #[test]
    fn given_invalid_regex_when_parsed_should_be_a_config_error_naming_the_key() {
        let p = Parser::new("filter_fields");
        let e = KeyPattern::parse(
            &p,
            "patterns[0].key_pattern",
            &json!({"regex": "(unclosed"}),
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("patterns[0].key_pattern.regex"));
        assert!(e.message.starts_with("invalid regex \"(unclosed\""), "{e}");
        let e = ValuePattern::parse(&p, "patterns[1].value_pattern", &json!({"regex": "[z-a]"}))
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("patterns[1].value_pattern.regex"));
    }

    #[test]
    fn given_malformed_patterns_when_parsed_should_fail() {
        let p = Parser::new("filter_fields");
        for bad in [json!("exact"), json!({"prefix": "a"}), json!({"exact": 1})] {
            assert!(KeyPattern::parse(&p, "k", &bad).is_err(), "{bad}");
        }
        for bad in [
            json!("is_nothing"),
            json!("equals"),
            json!({"between": [1]}),
            json!({"between": [1, "2"]}),
            json!({"greater_than": "1"}),
            json!({"contains": 1}),
            json!({"is_null": true}),
        ] {
            assert!(ValuePattern::parse(&p, "v", &bad).is_err(), "{bad}");
        }
    }
}
