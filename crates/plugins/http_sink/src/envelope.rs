//! One message as JSON (upstream's shape, byte for byte): the payload converted by schema, and
//! with `include_metadata` the `{"metadata": {…}, "payload": …}` envelope.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use iggy_connectors_sdk::{
    ConsumedMessage, HeaderKind, HeaderValue, MessagesMetadata, Payload, TopicMetadata,
};
use serde_json::{Map, Value, json};

/// Which optional metadata fields the envelope carries.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeOptions {
    pub include_metadata: bool,
    pub include_checksum: bool,
    pub include_origin_timestamp: bool,
}

/// The payload as JSON: JSON as is, text as a string, and bytes (raw, flatbuffer, proto) as
/// `{"data": <standard base64>, "iggy_payload_encoding": "base64"}`.
pub fn payload_json(payload: &Payload) -> Value {
    match payload {
        Payload::Json(value) => value.clone(),
        Payload::Text(text) => Value::String(text.clone()),
        Payload::Raw(bytes) | Payload::FlatBuffer(bytes) => {
            base64_object(bytes, "iggy_payload_encoding")
        }
        Payload::Proto(text) => base64_object(text.as_bytes(), "iggy_payload_encoding"),
    }
}

fn base64_object(bytes: &[u8], encoding_key: &str) -> Value {
    let mut object = Map::with_capacity(2);
    object.insert("data".into(), Value::String(STANDARD.encode(bytes)));
    object.insert(encoding_key.into(), Value::String("base64".into()));
    Value::Object(object)
}

/// A header value as upstream renders it: typed values stringified (`42` → `"42"`), raw bytes
/// as `{"data": <base64>, "iggy_header_encoding": "base64"}`.
fn header_json(value: &HeaderValue) -> Value {
    match value.kind() {
        HeaderKind::Raw => base64_object(value.as_bytes(), "iggy_header_encoding"),
        _ => Value::String(value.to_string_value()),
    }
}

/// The JSON document sent for `message`: the bare payload, or the metadata envelope.
pub fn message_json(
    message: &ConsumedMessage,
    topic: &TopicMetadata,
    batch: &MessagesMetadata,
    options: EnvelopeOptions,
) -> Value {
    let payload = payload_json(&message.payload);
    if !options.include_metadata {
        return payload;
    }
    let mut metadata = Map::with_capacity(9);
    // 32 lower-case hex digits, zero-padded, no dashes (upstream's `iggy_id`).
    metadata.insert(
        "iggy_id".into(),
        Value::String(format!("{:032x}", message.id)),
    );
    metadata.insert("iggy_offset".into(), json!(message.offset));
    metadata.insert("iggy_timestamp".into(), json!(message.timestamp));
    metadata.insert("iggy_stream".into(), Value::String(topic.stream.clone()));
    metadata.insert("iggy_topic".into(), Value::String(topic.topic.clone()));
    metadata.insert("iggy_partition_id".into(), json!(batch.partition_id));
    if options.include_checksum {
        metadata.insert("iggy_checksum".into(), json!(message.checksum));
    }
    if options.include_origin_timestamp {
        metadata.insert(
            "iggy_origin_timestamp".into(),
            json!(message.origin_timestamp),
        );
    }
    if let Some(headers) = message.headers.as_ref().filter(|h| !h.is_empty()) {
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(key, value)| (key.to_string_value(), header_json(value)))
            .collect();
        metadata.insert("iggy_headers".into(), Value::Object(headers));
    }
    let mut envelope = Map::with_capacity(2);
    envelope.insert("metadata".into(), Value::Object(metadata));
    envelope.insert("payload".into(), payload);
    Value::Object(envelope)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use iggy_connectors_sdk::{HeaderKey, Schema};

    use super::*;

    fn message(payload: Payload) -> ConsumedMessage {
        ConsumedMessage {
            id: 0xabc,
            offset: 7,
            checksum: 99,
            timestamp: 1_700_000_000_000_000,
            origin_timestamp: 1_699_999_999_000_000,
            headers: None,
            payload,
        }
    }

    fn meta() -> (TopicMetadata, MessagesMetadata) {
        (
            TopicMetadata {
                stream: "s".into(),
                topic: "t".into(),
            },
            MessagesMetadata {
                partition_id: 1,
                current_offset: 7,
                schema: Schema::Json,
            },
        )
    }

    #[test]
    fn given_full_options_when_enveloped_should_write_upstream_fields_in_order() {
        let (topic, batch) = meta();
        let mut m = message(Payload::Json(json!({"a": 1})));
        let mut headers = BTreeMap::new();
        headers.insert(HeaderKey::try_from("n").unwrap(), HeaderValue::from(42i32));
        headers.insert(
            HeaderKey::try_from("r").unwrap(),
            HeaderValue::try_from(&[0u8, 255][..]).unwrap(),
        );
        m.headers = Some(headers);
        let options = EnvelopeOptions {
            include_metadata: true,
            include_checksum: true,
            include_origin_timestamp: true,
        };
        let text = serde_json::to_string(&message_json(&m, &topic, &batch, options)).unwrap();
        assert_eq!(
            text,
            r#"{"metadata":{"iggy_id":"00000000000000000000000000000abc","iggy_offset":7,"iggy_timestamp":1700000000000000,"iggy_stream":"s","iggy_topic":"t","iggy_partition_id":1,"iggy_checksum":99,"iggy_origin_timestamp":1699999999000000,"iggy_headers":{"n":"42","r":{"data":"AP8=","iggy_header_encoding":"base64"}}},"payload":{"a":1}}"#
        );
    }

    #[test]
    fn given_each_payload_kind_without_metadata_when_converted_should_match_upstream() {
        let (topic, batch) = meta();
        let bare = EnvelopeOptions {
            include_metadata: false,
            include_checksum: false,
            include_origin_timestamp: false,
        };
        let render =
            |p| serde_json::to_string(&message_json(&message(p), &topic, &batch, bare)).unwrap();
        assert_eq!(render(Payload::Text("hi \"x\"".into())), r#""hi \"x\"""#);
        assert_eq!(
            render(Payload::Raw(vec![1, 2, 3])),
            r#"{"data":"AQID","iggy_payload_encoding":"base64"}"#
        );
        assert_eq!(render(Payload::Json(json!([1, "b"]))), r#"[1,"b"]"#);
    }
}
