//! `FieldValue`: `{ static = <any> }` or `{ computed = "<kind>" }`, as upstream.

use chrono::{SecondsFormat, Utc};
use iggy_connectors_sdk::codecs::JsonText;
use serde_json::Value;

use super::{
    TransformConfigError,
    parse::{Parser, join},
};

/// What a computed field holds. Computed afresh for every message (and every field), as
/// upstream does, so two messages of one batch may carry different times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Computed {
    DateTime,
    TimestampNanos,
    TimestampMicros,
    TimestampMillis,
    TimestampSeconds,
    UuidV4,
    UuidV7,
}

impl Computed {
    const ALL: [(&'static str, Computed); 7] = [
        ("date_time", Computed::DateTime),
        ("timestamp_nanos", Computed::TimestampNanos),
        ("timestamp_micros", Computed::TimestampMicros),
        ("timestamp_millis", Computed::TimestampMillis),
        ("timestamp_seconds", Computed::TimestampSeconds),
        ("uuid_v4", Computed::UuidV4),
        ("uuid_v7", Computed::UuidV7),
    ];

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    fn names() -> String {
        Self::ALL.map(|(n, _)| n).join(", ")
    }

    pub(crate) fn compute(self) -> Value {
        let now = Utc::now();
        match self {
            // RFC 3339 with microseconds and `+00:00`, e.g. 2026-04-14T10:00:00.123456+00:00.
            Computed::DateTime => Value::String(now.to_rfc3339_opts(SecondsFormat::Micros, false)),
            // i64 nanoseconds overflow in 2262; saturate rather than panic on the hot path.
            Computed::TimestampNanos => now.timestamp_nanos_opt().unwrap_or(i64::MAX).into(),
            Computed::TimestampMicros => now.timestamp_micros().into(),
            Computed::TimestampMillis => now.timestamp_millis().into(),
            Computed::TimestampSeconds => now.timestamp().into(),
            Computed::UuidV4 => Value::String(uuid::Uuid::new_v4().to_string()),
            Computed::UuidV7 => Value::String(uuid::Uuid::now_v7().to_string()),
        }
    }
}

/// A pre-parsed field value: static values are built (and encoded) once at load and copied per
/// message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    Static { value: Value, json: Vec<u8> },
    Computed(Computed),
}

impl FieldValue {
    pub(crate) fn parse(
        p: &Parser,
        key: &str,
        value: &Value,
    ) -> Result<Self, TransformConfigError> {
        match p.tagged(key, value)? {
            ("static", Some(v)) => Ok(FieldValue::Static {
                value: v.clone(),
                json: serde_json::to_vec(v).expect("a Value always encodes"),
            }),
            ("computed", Some(kind)) => {
                let key = join(key, "computed");
                let name = p.string(&key, kind)?;
                Computed::parse(name).map(FieldValue::Computed).ok_or_else(|| {
                    p.error(
                        &key,
                        format!("unknown computed value '{name}', expected one of {}", Computed::names()),
                    )
                })
            }
            (other, _) => Err(p.error(
                key,
                format!("expected {{ static = <value> }} or {{ computed = \"<kind>\" }}, found '{other}'"),
            )),
        }
    }

    /// The value to store in one message.
    #[inline]
    pub(crate) fn produce(&self) -> Value {
        match self {
            FieldValue::Static { value, .. } => value.clone(),
            FieldValue::Computed(c) => c.compute(),
        }
    }

    /// The value to store in one message, as JSON text (the same text `produce` encodes to).
    #[inline]
    pub(crate) fn produce_text(&self) -> JsonText<'_> {
        match self {
            FieldValue::Static { json, .. } => JsonText::Borrowed(json),
            FieldValue::Computed(c) => {
                JsonText::Owned(serde_json::to_vec(&c.compute()).expect("a Value always encodes"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    fn computed(name: &str) -> Value {
        let p = Parser::new("add_fields");
        FieldValue::parse(&p, "v", &json!({ "computed": name }))
            .unwrap()
            .produce()
    }

    fn now_nanos() -> i128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128
    }

    /// `value` must be an integer within now ± 5 s at `unit_nanos` nanoseconds per unit.
    fn assert_recent(value: &Value, unit_nanos: i128) {
        let n = value
            .as_i64()
            .unwrap_or_else(|| panic!("not an i64: {value}")) as i128;
        let now = now_nanos() / unit_nanos;
        let slack = 5_000_000_000 / unit_nanos;
        assert!(
            (now - slack..=now + slack).contains(&n),
            "{n} is not within 5 s of {now}"
        );
    }

    #[test]
    fn given_date_time_when_computed_should_be_rfc3339_utc_with_micros() {
        let v = computed("date_time");
        let s = v.as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(s).unwrap();
        assert!(s.ends_with("+00:00"), "{s}");
        // 2026-04-14T10:00:00.123456+00:00: 26 characters before the offset, 6 fraction digits.
        assert_eq!(s.len(), 32, "{s}");
        assert_eq!(
            s.split_once('.').unwrap().1.len(),
            "123456+00:00".len(),
            "{s}"
        );
        let age = Utc::now().signed_duration_since(parsed).num_seconds().abs();
        assert!(age <= 5, "{s} is {age} s away from now");
    }

    #[test]
    fn given_timestamps_when_computed_should_be_now_in_their_unit() {
        assert_recent(&computed("timestamp_nanos"), 1);
        assert_recent(&computed("timestamp_micros"), 1_000);
        assert_recent(&computed("timestamp_millis"), 1_000_000);
        assert_recent(&computed("timestamp_seconds"), 1_000_000_000);
    }

    #[test]
    fn given_uuids_when_computed_should_be_hyphenated_lowercase_of_their_version() {
        for (name, version) in [("uuid_v4", 4), ("uuid_v7", 7)] {
            let v = computed(name);
            let s = v.as_str().unwrap();
            let id = uuid::Uuid::parse_str(s).unwrap();
            assert_eq!(id.get_version_num(), version, "{s}");
            assert_eq!(s.len(), 36);
            assert_eq!(s, s.to_lowercase());
            // The version nibble is the first digit of the third group.
            assert_eq!(s.as_bytes()[14], b'0' + version as u8, "{s}");
        }
        assert_ne!(computed("uuid_v4"), computed("uuid_v4"));
    }

    #[test]
    fn given_static_value_when_produced_should_clone_any_json() {
        let p = Parser::new("add_fields");
        let v = json!({"static": {"nested": [1, "a", null]}});
        let fv = FieldValue::parse(&p, "v", &v).unwrap();
        assert_eq!(fv.produce(), json!({"nested": [1, "a", null]}));
        let null = FieldValue::parse(&p, "v", &json!({"static": null})).unwrap();
        assert_eq!(null.produce(), Value::Null);
    }

    #[test]
    fn given_bad_field_values_when_parsed_should_name_key_and_choices() {
        let p = Parser::new("add_fields");
        let e =
            FieldValue::parse(&p, "fields[0].value", &json!({"computed": "uuid_v5"})).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("fields[0].value.computed"));
        assert!(
            e.message.contains("uuid_v5") && e.message.contains("uuid_v7"),
            "{e}"
        );
        let e = FieldValue::parse(&p, "fields[0].value", &json!("x")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("fields[0].value"));
        assert!(FieldValue::parse(&p, "v", &json!({"dynamic": 1})).is_err());
        assert!(FieldValue::parse(&p, "v", &json!({"computed": 1})).is_err());
        // `static` is a newtype variant: the bare string form is not accepted (as with serde).
        assert!(FieldValue::parse(&p, "v", &json!("static")).is_err());
    }
}
