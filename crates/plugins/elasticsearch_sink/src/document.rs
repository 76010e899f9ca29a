//! One Iggy message → one document: upstream's payload mapping and `_iggy_*` metadata fields,
//! with upstream's defects fixed (`_iggy_timestamp` is the message's time, `_iggy_headers`
//! appears), and the document `_id`.

use base64::Engine as _;
use iggy_connectors_sdk::{ConsumedMessage, Payload, TopicMetadata};
use serde_json::{Map, Value, json};

/// A document ready for `_bulk`, or the reason the message cannot become one.
pub struct Document {
    pub offset: u64,
    pub id: String,
    pub source: Value,
}

/// Builds the document for `message`; `Err` is a reason that depends only on the message.
pub fn build(
    message: &ConsumedMessage,
    topic: &TopicMetadata,
    partition_id: u32,
    id_field: Option<&str>,
) -> Result<Document, String> {
    let mut source = match &message.payload {
        Payload::Json(value) => value.clone(),
        Payload::Raw(bytes) => serde_json::from_slice(bytes).unwrap_or_else(|_| {
            json!({
                "data": base64::engine::general_purpose::STANDARD.encode(bytes),
                "data_type": "raw",
            })
        }),
        Payload::Text(text) => json!({"text": text, "data_type": "text"}),
        Payload::Proto(_) | Payload::FlatBuffer(_) => {
            return Err(
                "payload schema proto/flatbuffer is not supported by the Elasticsearch sink; \
                 use schema json, raw or text"
                    .into(),
            );
        }
    };
    let id = match id_field {
        None => message.id.to_string(),
        Some(field) => match source.get(field) {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 512 => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(format!(
                    "id_field '{field}' must be a non-empty string (≤ 512 bytes) or a number, got {other}"
                ));
            }
            None => return Err(format!("id_field '{field}' is missing from the payload")),
        },
    };
    if let Value::Object(fields) = &mut source {
        fields.insert("_iggy_offset".into(), json!(message.offset));
        fields.insert("_iggy_stream".into(), json!(topic.stream));
        fields.insert("_iggy_topic".into(), json!(topic.topic));
        fields.insert("_iggy_partition".into(), json!(partition_id));
        // Milliseconds since the epoch of the message (Iggy stores µs); upstream wrote "now".
        fields.insert("_iggy_timestamp".into(), json!(message.timestamp / 1000));
        if let Some(headers) = &message.headers
            && !headers.is_empty()
        {
            let map: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string_value(), Value::String(v.to_string_value())))
                .collect();
            fields.insert("_iggy_headers".into(), Value::Object(map));
        }
    }
    Ok(Document {
        offset: message.offset,
        id,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use iggy_connectors_sdk::{HeaderKey, HeaderValue};

    fn message(payload: Payload) -> ConsumedMessage {
        ConsumedMessage {
            id: 42,
            offset: 7,
            checksum: 0,
            timestamp: 1_700_000_000_123_456,
            origin_timestamp: 0,
            headers: None,
            payload,
        }
    }

    fn topic() -> TopicMetadata {
        TopicMetadata {
            stream: "s".into(),
            topic: "t".into(),
        }
    }

    #[test]
    fn given_json_object_should_add_metadata_with_message_time() {
        let doc = build(&message(Payload::Json(json!({"a": 1}))), &topic(), 3, None).unwrap();
        assert_eq!(doc.id, "42");
        assert_eq!(
            doc.source,
            json!({"a": 1, "_iggy_offset": 7, "_iggy_stream": "s", "_iggy_topic": "t",
                   "_iggy_partition": 3, "_iggy_timestamp": 1_700_000_000_123u64})
        );
    }

    #[test]
    fn given_headers_should_write_them_as_strings() {
        let mut msg = message(Payload::Json(json!({})));
        let mut headers = BTreeMap::new();
        headers.insert(
            HeaderKey::try_from("trace").unwrap(),
            HeaderValue::try_from("abc").unwrap(),
        );
        msg.headers = Some(headers);
        let doc = build(&msg, &topic(), 1, None).unwrap();
        assert_eq!(doc.source["_iggy_headers"], json!({"trace": "abc"}));
    }

    #[test]
    fn given_raw_and_text_should_map_as_upstream() {
        let raw = build(&message(Payload::Raw(vec![0xff, 0x00])), &topic(), 1, None).unwrap();
        assert_eq!(raw.source["data"], "/wA=");
        assert_eq!(raw.source["data_type"], "raw");
        let json_raw = build(&message(Payload::Raw(b"[1,2]".to_vec())), &topic(), 1, None).unwrap();
        assert_eq!(
            json_raw.source,
            json!([1, 2]),
            "non-objects carry no metadata"
        );
        let text = build(&message(Payload::Text("hi".into())), &topic(), 1, None).unwrap();
        assert_eq!(text.source["text"], "hi");
        assert_eq!(text.source["data_type"], "text");
    }

    #[test]
    fn given_id_field_should_use_it_or_refuse_the_message() {
        let doc = build(
            &message(Payload::Json(json!({"order": "o-1"}))),
            &topic(),
            1,
            Some("order"),
        )
        .unwrap();
        assert_eq!(doc.id, "o-1");
        let num = build(
            &message(Payload::Json(json!({"order": 5}))),
            &topic(),
            1,
            Some("order"),
        )
        .unwrap();
        assert_eq!(num.id, "5");
        let missing = build(
            &message(Payload::Json(json!({}))),
            &topic(),
            1,
            Some("order"),
        )
        .err()
        .unwrap();
        assert!(missing.contains("missing"), "{missing}");
        let proto = build(&message(Payload::Proto("{}".into())), &topic(), 1, None)
            .err()
            .unwrap();
        assert!(proto.contains("not supported"), "{proto}");
    }
}
