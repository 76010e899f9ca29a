//! One BSON document per message, in upstream's shape:
//!
//! ```text
//! { _id: "<stream>:<topic>:<partition>:<message id>",
//!   iggy_offset: Int64 (iggy_offset_str: String past i64::MAX), iggy_timestamp: DateTime(ms),
//!   iggy_stream, iggy_topic: String, iggy_partition_id: Int32 (Int64 past i32::MAX),  // include_metadata
//!   iggy_checksum: Int64 (decimal String past i64::MAX),                               // include_checksum
//!   iggy_origin_timestamp: DateTime(ms),                                                // include_origin_timestamp
//!   payload: Binary(0x00) | JSON as BSON | String }
//! ```
//!
//! Each document is serialized here, once, so that a message the BSON encoding or the server's
//! size limit refuses is found before the insert and reported alone, instead of failing the
//! insert of every document around it (the driver refuses a whole `insertMany` for one
//! oversized document).

use iggy_connectors_sdk::{ConsumedMessage, Payload, TopicMetadata};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, RawDocumentBuf};

use crate::config::{PayloadFormat, Settings};

/// A message ready to insert: its serialized document and where it came from.
pub struct PreparedDocument {
    pub offset: u64,
    pub document: RawDocumentBuf,
}

/// The deterministic `_id`: the same message always maps to the same document, so a replay
/// hits a duplicate key instead of storing a second copy.
pub fn document_id(topic: &TopicMetadata, partition_id: u32, message_id: u128) -> String {
    format!(
        "{}:{}:{partition_id}:{message_id}",
        topic.stream, topic.topic
    )
}

/// Builds and serializes the document of `message`. `Err` is the reason the message cannot be
/// stored whatever is retried (its payload does not fit the format, or it is too large).
pub fn prepare(
    settings: &Settings,
    topic: &TopicMetadata,
    partition_id: u32,
    max_document_bytes: usize,
    message: ConsumedMessage,
) -> Result<PreparedDocument, String> {
    let offset = message.offset;
    let mut doc = Document::new();
    doc.insert("_id", document_id(topic, partition_id, message.id));
    if settings.include_metadata {
        match i64::try_from(offset) {
            Ok(offset) => doc.insert("iggy_offset", offset),
            Err(_) => doc.insert("iggy_offset_str", offset.to_string()),
        };
        doc.insert("iggy_timestamp", micros_to_datetime(message.timestamp));
        doc.insert("iggy_stream", topic.stream.as_str());
        doc.insert("iggy_topic", topic.topic.as_str());
        match i32::try_from(partition_id) {
            Ok(id) => doc.insert("iggy_partition_id", id),
            Err(_) => doc.insert("iggy_partition_id", i64::from(partition_id)),
        };
    }
    if settings.include_checksum {
        match i64::try_from(message.checksum) {
            Ok(checksum) => doc.insert("iggy_checksum", checksum),
            Err(_) => doc.insert("iggy_checksum", message.checksum.to_string()),
        };
    }
    if settings.include_origin_timestamp {
        doc.insert(
            "iggy_origin_timestamp",
            micros_to_datetime(message.origin_timestamp),
        );
    }
    doc.insert(
        "payload",
        payload(settings.payload_format, message.payload)?,
    );
    let document = RawDocumentBuf::from_document(&doc)
        .map_err(|error| format!("cannot encode the document as BSON: {error}"))?;
    let size = document.as_bytes().len();
    if size > max_document_bytes {
        return Err(format!(
            "document is {size} bytes, over the server's maxBsonObjectSize of {max_document_bytes} bytes"
        ));
    }
    Ok(PreparedDocument { offset, document })
}

/// Iggy timestamps are µs since the epoch; BSON DateTime holds ms (upstream truncates too).
fn micros_to_datetime(micros: u64) -> DateTime {
    DateTime::from_millis(i64::try_from(micros / 1000).unwrap_or(i64::MAX))
}

fn payload(format: PayloadFormat, payload: Payload) -> Result<Bson, String> {
    match (format, payload) {
        // A `json` stream arrives already parsed: convert the tree, do not re-parse text.
        (PayloadFormat::Json, Payload::Json(value)) => json_to_bson(&value),
        (PayloadFormat::Json, other) => {
            let bytes = payload_bytes(other)?;
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|error| format!("payload is not valid JSON: {error}"))?;
            json_to_bson(&value)
        }
        (PayloadFormat::String, Payload::Text(text) | Payload::Proto(text)) => {
            Ok(Bson::String(text))
        }
        (PayloadFormat::String, other) => {
            let bytes = payload_bytes(other)?;
            String::from_utf8(bytes)
                .map(Bson::String)
                .map_err(|error| format!("payload is not UTF-8 text: {error}"))
        }
        (PayloadFormat::Binary, other) => Ok(Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: payload_bytes(other)?,
        })),
    }
}

fn payload_bytes(payload: Payload) -> Result<Vec<u8>, String> {
    payload
        .into_bytes()
        .map_err(|error| format!("payload cannot be encoded: {error}"))
}

/// Plain JSON → BSON (no Extended JSON interpretation: `{"$oid": …}` stays a sub-document).
/// Integers beyond i64 have no BSON type and are refused.
fn json_to_bson(value: &serde_json::Value) -> Result<Bson, String> {
    mongodb::bson::to_bson(value)
        .map_err(|error| format!("payload JSON cannot be stored as BSON: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MongoDbSinkConfig;

    fn settings(extra: serde_json::Value) -> Settings {
        let mut config = serde_json::json!({
            "connection_uri": "mongodb://x", "database": "d", "collection": "c"
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        serde_json::from_value::<MongoDbSinkConfig>(config)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn topic() -> TopicMetadata {
        TopicMetadata {
            stream: "s".into(),
            topic: "t".into(),
        }
    }

    fn message(offset: u64, payload: Payload) -> ConsumedMessage {
        ConsumedMessage {
            id: u128::MAX,
            offset,
            checksum: u64::MAX,
            timestamp: 1_700_000_000_123_456,
            origin_timestamp: 1_600_000_000_000_999,
            headers: None,
            payload,
        }
    }

    fn build(settings: &Settings, message: ConsumedMessage) -> Result<Document, String> {
        prepare(settings, &topic(), 3, 16 * 1024 * 1024, message)
            .map(|p| p.document.to_document().unwrap())
    }

    #[test]
    fn given_full_metadata_when_prepared_should_match_upstream_shape() {
        let s = settings(serde_json::json!({}));
        let doc = build(&s, message(7, Payload::Raw(vec![0, 255]))).unwrap();
        assert_eq!(doc.get_str("_id").unwrap(), format!("s:t:3:{}", u128::MAX));
        assert_eq!(doc.get_i64("iggy_offset").unwrap(), 7);
        assert_eq!(
            doc.get_datetime("iggy_timestamp")
                .unwrap()
                .timestamp_millis(),
            1_700_000_000_123
        );
        assert_eq!(doc.get_str("iggy_stream").unwrap(), "s");
        assert_eq!(doc.get_str("iggy_topic").unwrap(), "t");
        assert_eq!(doc.get_i32("iggy_partition_id").unwrap(), 3);
        // u64::MAX does not fit i64: upstream stores the decimal string.
        assert_eq!(doc.get_str("iggy_checksum").unwrap(), u64::MAX.to_string());
        assert_eq!(
            doc.get_datetime("iggy_origin_timestamp")
                .unwrap()
                .timestamp_millis(),
            1_600_000_000_000
        );
        let binary = doc.get_binary_generic("payload").unwrap();
        assert_eq!(binary, &vec![0, 255]);
    }

    #[test]
    fn given_offset_past_i64_when_prepared_should_use_the_string_key() {
        let s = settings(serde_json::json!({}));
        let doc = build(&s, message(u64::MAX, Payload::Raw(vec![]))).unwrap();
        assert!(!doc.contains_key("iggy_offset"));
        assert_eq!(
            doc.get_str("iggy_offset_str").unwrap(),
            u64::MAX.to_string()
        );
    }

    #[test]
    fn given_no_metadata_when_prepared_should_hold_only_id_and_payload() {
        let s = settings(serde_json::json!({
            "include_metadata": false, "include_checksum": false,
            "include_origin_timestamp": false, "payload_format": "string"
        }));
        let doc = build(&s, message(1, Payload::Text("hi".into()))).unwrap();
        let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
        assert_eq!(keys, ["_id", "payload"]);
        assert_eq!(doc.get_str("payload").unwrap(), "hi");
    }

    #[test]
    fn given_json_format_when_prepared_should_store_a_sub_document() {
        let s = settings(serde_json::json!({"payload_format": "json"}));
        let parsed = build(
            &s,
            message(1, Payload::Json(serde_json::json!({"a": {"b": [1, "x"]}}))),
        )
        .unwrap();
        let from_bytes = build(
            &s,
            message(1, Payload::Raw(br#"{"a": {"b": [1, "x"]}}"#.to_vec())),
        )
        .unwrap();
        assert_eq!(
            parsed.get_document("payload"),
            from_bytes.get_document("payload")
        );
        let a = parsed
            .get_document("payload")
            .unwrap()
            .get_document("a")
            .unwrap();
        assert_eq!(
            a.get_array("b").unwrap(),
            &vec![Bson::Int64(1), Bson::String("x".into())]
        );
    }

    #[test]
    fn given_unstorable_payloads_when_prepared_should_give_the_reason() {
        let json = settings(serde_json::json!({"payload_format": "json"}));
        let bad_json = build(&json, message(1, Payload::Raw(b"{nope".to_vec()))).unwrap_err();
        assert!(bad_json.contains("not valid JSON"), "{bad_json}");
        let nul_key = build(
            &json,
            message(1, Payload::Json(serde_json::json!({"a\u{0}b": 1}))),
        )
        .unwrap_err();
        assert!(nul_key.contains("null bytes"), "{nul_key}");
        let text = settings(serde_json::json!({"payload_format": "string"}));
        let bad_utf8 = build(&text, message(1, Payload::Raw(vec![0xff, 0xfe]))).unwrap_err();
        assert!(bad_utf8.contains("not UTF-8"), "{bad_utf8}");
        let binary = settings(serde_json::json!({}));
        let too_big = prepare(
            &binary,
            &topic(),
            3,
            1024,
            message(1, Payload::Raw(vec![7; 2000])),
        )
        .err()
        .unwrap();
        assert!(too_big.contains("maxBsonObjectSize of 1024"), "{too_big}");
    }
}
