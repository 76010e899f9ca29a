//! `json`: bytes ⇄ `serde_json::Value` (insertion order preserved).

use crate::codecs::CodecError;
use crate::{Payload, Schema};

pub(super) fn decode(bytes: &[u8]) -> Result<Payload, CodecError> {
    serde_json::from_slice(bytes)
        .map(Payload::Json)
        .map_err(|error| CodecError::decode(Schema::Json, error))
}

/// Fails exactly when [`decode`] fails, without building the tree: the scan goes through
/// `deserialize_any` like `Value` does, so serde_json applies the same number parsing
/// (`1e400` is out of range), string checks and nesting limit (128) to both. A scan into
/// `IgnoredAny` skips all three and let through payloads that the decode then dropped.
pub(super) fn validate(bytes: &[u8]) -> Result<(), CodecError> {
    serde_json::from_slice::<Checked>(bytes)
        .map(|_| ())
        .map_err(|error| CodecError::decode(Schema::Json, error))
}

/// A JSON value that was parsed like `serde_json::Value` and then thrown away.
pub(super) struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> serde::de::Visitor<'de> for CheckVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

/// Json → compact JSON; Text → a JSON string literal (as upstream); anything else is refused
/// because there is no faithful JSON rendering of arbitrary bytes.
pub(super) fn encode(payload: Payload) -> Result<Vec<u8>, CodecError> {
    let encoded = match &payload {
        Payload::Json(value) => serde_json::to_vec(value),
        Payload::Text(text) => serde_json::to_vec(text),
        _ => return Err(CodecError::payload_type(Schema::Json, &payload)),
    };
    encoded.map_err(|error| CodecError::encode(Schema::Json, error))
}

#[cfg(test)]
mod check_tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
    }

    /// Item 4 of issue 15: the host's check and the plugin's decode must agree.
    #[test]
    fn given_payloads_the_decode_refuses_should_fail_the_check_with_the_same_error() {
        let cases: Vec<Vec<u8>> = vec![
            b"1e400".to_vec(),
            b"[-1e999]".to_vec(),
            br#"{"a": 1e309}"#.to_vec(),
            nested(129),
            nested(500),
            br#""\ud800""#.to_vec(),
            br#"{"k\ud800": 1}"#.to_vec(),
            b"{\"a\":1} x".to_vec(),
            b"".to_vec(),
        ];
        for case in &cases {
            let text = String::from_utf8_lossy(case);
            let decoded = decode(case);
            assert!(decoded.is_err(), "decode accepts {text}");
            let checked = validate(case);
            assert!(checked.is_err(), "check accepts {text}");
            assert_eq!(
                checked.unwrap_err().to_string(),
                decoded.unwrap_err().to_string()
            );
        }
    }

    #[test]
    fn given_payloads_the_decode_accepts_should_pass_the_check() {
        let cases: Vec<Vec<u8>> = vec![
            br#"{"a": [1, -2, 3.5, 1e300, true, null, "x\u00e9\ud83d\ude00"]}"#.to_vec(),
            b"18446744073709551616".to_vec(),
            nested(127),
            b" \"s\" ".to_vec(),
        ];
        for case in &cases {
            let text = String::from_utf8_lossy(case);
            assert!(decode(case).is_ok(), "decode refuses {text}");
            assert!(validate(case).is_ok(), "check refuses {text}");
        }
    }
}
