//! What a sink plugin's own tests hand to `open` and `consume` when they drive the plugin
//! directly (no engine): a config with a test's extra keys, the topic and batch metadata, and
//! consumed messages with predictable ids.

use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, Schema, TopicMetadata};
use serde_json::Value;

/// `base` with each key of the object `extra` set (added or replaced).
pub fn with_keys(mut base: Value, extra: Value) -> Value {
    let extra = match extra {
        Value::Object(extra) => extra,
        other => panic!("extra config keys must be an object, got {other}"),
    };
    let base_keys = base.as_object_mut().expect("base config is an object");
    base_keys.extend(extra);
    base
}

/// `test_stream`/`test_topic`.
pub fn topic() -> TopicMetadata {
    TopicMetadata {
        stream: "test_stream".into(),
        topic: "test_topic".into(),
    }
}

/// A batch of partition 1 in `schema`.
pub fn meta(schema: Schema) -> MessagesMetadata {
    MessagesMetadata {
        partition_id: 1,
        current_offset: 0,
        schema,
    }
}

/// The values of one consumed message that its test asserts on, derived from its offset.
pub struct Stamps {
    pub checksum: u64,
    pub timestamp: u64,
    pub origin_timestamp: u64,
}

/// `payloads` at consecutive offsets from `first_offset`, each with id `1000 + offset` and the
/// stamps `stamps(offset)` gives.
pub fn messages(
    first_offset: u64,
    payloads: Vec<Payload>,
    stamps: impl Fn(u64) -> Stamps,
) -> Vec<ConsumedMessage> {
    payloads
        .into_iter()
        .zip(first_offset..)
        .map(|(payload, offset)| {
            let Stamps {
                checksum,
                timestamp,
                origin_timestamp,
            } = stamps(offset);
            ConsumedMessage {
                id: 1000 + u128::from(offset),
                offset,
                checksum,
                timestamp,
                origin_timestamp,
                headers: None,
                payload,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn with_keys_adds_and_replaces_keys() {
        let merged = with_keys(json!({"a": 1, "b": 2}), json!({"b": 3, "c": 4}));
        assert_eq!(merged, json!({"a": 1, "b": 3, "c": 4}));
    }

    #[test]
    fn messages_number_from_the_first_offset_with_the_given_stamps() {
        let batch = messages(
            5,
            vec![Payload::Raw(b"a".to_vec()), Payload::Raw(b"b".to_vec())],
            |offset| Stamps {
                checksum: offset * 2,
                timestamp: offset + 10,
                origin_timestamp: offset + 20,
            },
        );
        let seen: Vec<(u128, u64, u64, u64, u64)> = batch
            .iter()
            .map(|m| (m.id, m.offset, m.checksum, m.timestamp, m.origin_timestamp))
            .collect();
        assert_eq!(seen, vec![(1005, 5, 10, 15, 25), (1006, 6, 12, 16, 26)]);
    }
}
