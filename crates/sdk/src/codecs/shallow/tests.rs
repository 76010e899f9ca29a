use serde_json::Value;

use super::*;

/// `bytes` as serde_json decodes them (`preserve_order`), or its error.
fn full(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// The shallow parse must agree with the full decode: `Some` only for objects the decode
/// accepts, and writing it back must give the same value with the same key order.
fn assert_agrees(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let Some(object) = ShallowObject::parse(bytes) else {
        // Refusing is always allowed for non-objects and bad input; for a valid object it
        // is allowed only for the documented cases (too many keys, deep nesting).
        if let Ok(Value::Object(map)) = full(bytes) {
            assert!(
                map.len() > MAX_KEYS || text.contains("[[[[[[[[[["),
                "refused a plain valid object: {text}"
            );
        }
        return;
    };
    let decoded = full(bytes).unwrap_or_else(|e| panic!("accepted {text}, decode says {e}"));
    let mut out = Vec::new();
    object.write(&mut out);
    let rewritten = full(&out).unwrap_or_else(|e| {
        panic!(
            "{text} was written as invalid JSON {}: {e}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(rewritten, decoded, "{text}");
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&rewritten), keys(&decoded), "{text}");
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn given_a_compact_object_when_parsed_should_borrow_every_value_and_write_it_back_unchanged() {
    let bytes =
        br#"{"id":1234567,"user":"u-42","amount":19.99,"tags":["a","b"],"ok":true,"n":null}"#;
    let object = ShallowObject::parse(bytes).unwrap();
    let keys: Vec<&str> = object.fields().iter().map(|f| f.key.as_ref()).collect();
    assert_eq!(keys, ["id", "user", "amount", "tags", "ok", "n"]);
    assert_eq!(
        object.fields()[3].value,
        JsonText::Borrowed(br#"["a","b"]"#)
    );
    assert!(
        object
            .fields()
            .iter()
            .all(|f| matches!(f.key, Cow::Borrowed(_)))
    );
    let mut out = Vec::new();
    object.write(&mut out);
    assert_eq!(out, bytes);
}

#[test]
fn given_edits_when_written_should_keep_positions_and_append_new_keys() {
    let mut object = ShallowObject::parse(br#" { "a" : 1 , "b" : [1, 2] , "c" : "x" } "#).unwrap();
    object.set("a", JsonText::Borrowed(b"\"new\""));
    object.set("z", JsonText::Owned(b"42".to_vec()));
    object.retain(|key, _| key != "c");
    assert!(object.contains_key("b") && !object.contains_key("c"));
    let mut out = Vec::new();
    object.write(&mut out);
    // Untouched nested values keep their bytes, spaces included.
    assert_eq!(out, br#"{"a":"new","b":[1, 2],"z":42}"#);
}

#[test]
fn given_escaped_or_odd_keys_when_written_should_escape_like_serde_json() {
    let bytes = br#"{"q\"uote":1,"tab\t":2,"\u00e9":3,"sl\/ash":4}"#;
    let object = ShallowObject::parse(bytes).unwrap();
    let mut out = Vec::new();
    object.write(&mut out);
    let value: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(out, serde_json::to_vec(&value).unwrap());
    let mut added = ShallowObject::default();
    added.set("new\nline", JsonText::Borrowed(b"1"));
    out.clear();
    added.write(&mut out);
    assert_eq!(out, br#"{"new\nline":1}"#);
}

#[test]
fn given_repeated_keys_when_parsed_should_keep_the_first_position_and_the_last_value() {
    let object = ShallowObject::parse(br#"{"a":1,"b":2,"a":3}"#).unwrap();
    let mut out = Vec::new();
    object.write(&mut out);
    assert_eq!(out, br#"{"a":3,"b":2}"#);
    assert_agrees(br#"{"a":1,"b":2,"a":3}"#);
}

#[test]
fn given_payloads_the_decode_refuses_or_that_are_no_objects_should_be_none() {
    let deep_inside = format!(r#"{{"a":{}}}"#, nested(128));
    let cases: Vec<&[u8]> = vec![
        b"",
        b"[1]",
        b"\"s\"",
        b"12",
        b"{",
        b"{\"a\"}",
        b"{\"a\":}",
        b"{\"a\":1,}",
        b"{\"a\":1} x",
        b"{\"a\":01}",
        b"{\"a\":1.}",
        b"{\"a\":-}",
        b"{\"a\":1e400}",
        b"{\"a\":[1e400]}",
        b"{\"a\":tru}",
        b"{\"a\":nul}",
        b"{\"a\":\"\\ud800\"}",
        b"{\"k\\ud800\":1}",
        b"{\"a\":\"ctrl\x01\"}",
        b"{\"a\":\"\xff\"}",
        b"{\"\xff\":1}",
        b"{a:1}",
        deep_inside.as_bytes(),
    ];
    for case in cases {
        let text = String::from_utf8_lossy(case);
        assert!(ShallowObject::parse(case).is_none(), "accepted {text}");
        assert_agrees(case);
    }
}

#[test]
fn given_valid_objects_of_every_value_shape_should_agree_with_the_full_decode() {
    let deep_ok = format!(r#"{{"a":{}}}"#, nested(100));
    let cases: Vec<&[u8]> = vec![
        b"{}",
        b" {\n} ",
        br#"{"a":-0,"b":0.5,"c":-12.25e3,"d":1E2,"e":18446744073709551616,"f":1e300}"#,
        r#"{"s":"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00","u":"héllo"}"#.as_bytes(),
        br#"{"o":{"x":{"y":[1,{"z":null}]}},"arr":[],"obj":{}}"#,
        br#"{"t":true,"f":false,"n":null}"#,
        deep_ok.as_bytes(),
    ];
    for case in cases {
        assert!(
            ShallowObject::parse(case).is_some(),
            "refused {}",
            String::from_utf8_lossy(case)
        );
        assert_agrees(case);
    }
}

#[test]
fn given_more_keys_than_the_limit_should_leave_the_object_to_the_full_decode() {
    let object = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
        format!("{{{}}}", fields.join(","))
    };
    assert_eq!(
        ShallowObject::parse(object(MAX_KEYS).as_bytes()).map(|o| o.len()),
        Some(MAX_KEYS)
    );
    assert!(ShallowObject::parse(object(MAX_KEYS + 1).as_bytes()).is_none());
}

/// Random objects and random one-byte corruptions of them: whatever the parse accepts, the
/// decode accepts with the same value and key order.
#[test]
fn given_random_and_corrupted_objects_should_always_agree_with_the_full_decode() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let atoms = [
        "1",
        "-2.5",
        "0",
        "1e5",
        "\"x\"",
        "\"\\u0041\"",
        "true",
        "null",
        "[1,[2]]",
        "{\"a\":{}}",
        "\"é\"",
        "12345678901234567890",
        " 7 ",
    ];
    let keys = ["a", "b", "c", "a\\\"", "é", "meta_x"];
    let mut accepted = 0;
    for _ in 0..3000 {
        let n = next(6);
        let fields: Vec<String> = (0..n)
            .map(|_| {
                format!(
                    "\"{}\":{}",
                    keys[next(keys.len())],
                    atoms[next(atoms.len())]
                )
            })
            .collect();
        let mut bytes = format!("{{{}}}", fields.join(",")).into_bytes();
        if next(2) == 0 && !bytes.is_empty() {
            let at = next(bytes.len());
            let noise = b"{}[]\",:\\ 0e-.tx\x01";
            bytes[at] = noise[next(noise.len())];
        }
        accepted += usize::from(ShallowObject::parse(&bytes).is_some());
        assert_agrees(&bytes);
    }
    // Half of the inputs are intact objects; most of them must take the shallow path.
    assert!(accepted > 1000, "only {accepted} accepted");
}
