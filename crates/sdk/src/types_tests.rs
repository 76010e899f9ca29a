//! Golden bytes: each expectation is written out by hand from the postcard rules (runtime
//! reference §3), so a reordered field or variant fails here before it breaks a plugin.

use std::collections::BTreeMap;

use super::*;
use crate::HeaderKind;

fn enc<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("postcard encode")
}

fn dec<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> T {
    postcard::from_bytes(bytes).expect("postcard decode")
}

fn key(text: &str) -> HeaderKey {
    HeaderKey::try_from(text).expect("header key")
}

#[test]
fn given_topic_metadata_should_encode_as_two_strings() {
    let meta = TopicMetadata {
        stream: "s".into(),
        topic: "t".into(),
    };
    assert_eq!(enc(&meta), [0x01, 0x73, 0x01, 0x74]);
    assert_eq!(dec::<TopicMetadata>(&[0x01, 0x73, 0x01, 0x74]), meta);
}

#[test]
fn given_messages_metadata_should_encode_varints_then_schema_index() {
    let meta = MessagesMetadata {
        partition_id: 1,
        current_offset: 300,
        schema: Schema::Json,
    };
    assert_eq!(enc(&meta), [0x01, 0xAC, 0x02, 0x00]);
    assert_eq!(dec::<MessagesMetadata>(&[0x01, 0xAC, 0x02, 0x00]), meta);
}

#[test]
fn given_each_schema_should_encode_its_declaration_index() {
    let all = [
        (Schema::Json, 0u8, "json"),
        (Schema::Raw, 1, "raw"),
        (Schema::Text, 2, "text"),
        (Schema::Proto, 3, "proto"),
        (Schema::FlatBuffer, 4, "flat_buffer"),
    ];
    for (schema, index, name) in all {
        assert_eq!(enc(&schema), [index], "{name}");
        assert_eq!(dec::<Schema>(&[index]), schema);
        assert_eq!(
            serde_json::to_string(&schema).unwrap(),
            format!("\"{name}\"")
        );
        assert_eq!(name.parse::<Schema>().unwrap(), schema);
        assert_eq!(schema.to_string(), name);
    }
    assert!(postcard::from_bytes::<Schema>(&[5]).is_err());
    assert!(serde_json::from_str::<Schema>("\"flatbuffer\"").is_err());
    assert!("flatbuffer".parse::<Schema>().is_err());
}

#[test]
fn given_string_header_key_should_encode_kind_then_base64_text() {
    assert_eq!(enc(&key("k")), [0x01, 0x04, 0x61, 0x77, 0x3D, 0x3D]);
    assert_eq!(
        dec::<HeaderKey>(&[0x01, 0x04, 0x61, 0x77, 0x3D, 0x3D]),
        key("k")
    );
    // Unpadded base64 ("aw") is accepted too.
    assert_eq!(dec::<HeaderKey>(&[0x01, 0x02, 0x61, 0x77]), key("k"));
}

#[test]
fn given_numeric_and_bool_header_values_should_encode_little_endian_bytes_as_base64() {
    // Uint32 7 → kind 10, bytes 07 00 00 00 → "BwAAAA==".
    let value: HeaderValue = 7u32.into();
    assert_eq!(value.kind(), HeaderKind::Uint32);
    assert_eq!(
        enc(&value),
        [0x0A, 0x08, b'B', b'w', b'A', b'A', b'A', b'A', b'=', b'=']
    );
    // Bool true → kind 2, [1] → "AQ==".
    let value: HeaderValue = true.into();
    assert_eq!(enc(&value), [0x02, 0x04, b'A', b'Q', b'=', b'=']);
}

#[test]
fn given_header_map_should_order_by_kind_index_then_bytes() {
    let mut headers = BTreeMap::new();
    headers.insert(HeaderKey::from(1u8), HeaderValue::from(false));
    headers.insert(key("b"), HeaderValue::try_from("v").unwrap());
    headers.insert(key("a"), HeaderValue::try_from("v").unwrap());
    let bytes = enc(&headers);
    #[rustfmt::skip]
    let expected = [
        0x03,
        0x01, 0x04, b'Y', b'Q', b'=', b'=', 0x01, 0x04, b'd', b'g', b'=', b'=', // "a": "v"
        0x01, 0x04, b'Y', b'g', b'=', b'=', 0x01, 0x04, b'd', b'g', b'=', b'=', // "b": "v"
        0x08, 0x04, b'A', b'Q', b'=', b'=', 0x02, 0x04, b'A', b'A', b'=', b'=', // u8 1: false
    ];
    assert_eq!(bytes, expected);
    assert_eq!(dec::<BTreeMap<HeaderKey, HeaderValue>>(&expected), headers);
}

#[test]
fn given_raw_message_should_encode_fields_in_order_with_double_encoded_headers() {
    let mut headers = BTreeMap::new();
    headers.insert(key("k"), HeaderValue::try_from("v").unwrap());
    let header_bytes = enc(&headers);
    assert_eq!(
        header_bytes,
        [
            0x01, 0x01, 0x04, b'a', b'w', b'=', b'=', 0x01, 0x04, b'd', b'g', b'=', b'='
        ]
    );
    let message = RawMessage {
        id: 1u128 << 64,
        offset: 2,
        checksum: 3,
        timestamp: 300,
        origin_timestamp: 0,
        headers: header_bytes.clone(),
        payload: b"hi".to_vec(),
    };
    let mut expected = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02];
    expected.extend([0x02, 0x03, 0xAC, 0x02, 0x00]);
    expected.push(header_bytes.len() as u8);
    expected.extend(&header_bytes);
    expected.extend([0x02, b'h', b'i']);
    assert_eq!(enc(&message), expected);
    assert_eq!(dec::<RawMessage>(&expected), message);
    assert_eq!(
        RawMessage::encode_headers(Some(&headers)).unwrap(),
        header_bytes
    );
    assert_eq!(message.decode_headers().unwrap(), Some(headers.clone()));
    assert_eq!(
        RawMessage::encode_headers(Some(&BTreeMap::new())).unwrap(),
        Vec::<u8>::new()
    );

    let batch = RawMessages {
        schema: Schema::Text,
        messages: vec![message],
    };
    let mut expected_batch = vec![0x02, 0x01];
    expected_batch.extend(&expected);
    assert_eq!(enc(&batch), expected_batch);
}

#[test]
fn given_raw_message_without_headers_should_encode_empty_header_vec() {
    let message = RawMessage {
        id: 1,
        offset: 2,
        checksum: 3,
        timestamp: 300,
        origin_timestamp: 0,
        headers: Vec::new(),
        payload: b"hi".to_vec(),
    };
    assert_eq!(
        enc(&message),
        [0x01, 0x02, 0x03, 0xAC, 0x02, 0x00, 0x00, 0x02, b'h', b'i']
    );
}

#[test]
fn given_produced_message_should_encode_options_and_inline_headers() {
    let mut headers = BTreeMap::new();
    headers.insert(key("k"), HeaderValue::from(true));
    let message = ProducedMessage {
        id: Some(5),
        checksum: None,
        timestamp: Some(1),
        origin_timestamp: None,
        headers: Some(headers),
        payload: vec![0xFF],
    };
    #[rustfmt::skip]
    let expected = [
        0x01, 0x05, // id
        0x00, // checksum
        0x01, 0x01, // timestamp
        0x00, // origin_timestamp
        0x01, 0x01, 0x01, 0x04, b'a', b'w', b'=', b'=', 0x02, 0x04, b'A', b'Q', b'=', b'=',
        0x01, 0xFF, // payload
    ];
    assert_eq!(enc(&message), expected);
    assert_eq!(dec::<ProducedMessage>(&expected), message);

    let bare = ProducedMessage {
        id: None,
        checksum: None,
        timestamp: None,
        origin_timestamp: None,
        headers: None,
        payload: b"{}".to_vec(),
    };
    assert_eq!(enc(&bare), [0, 0, 0, 0, 0, 0x02, b'{', b'}']);
}

#[test]
fn given_produced_messages_should_encode_schema_messages_then_optional_state() {
    let batch = ProducedMessages {
        schema: Schema::Json,
        messages: Vec::new(),
        state: Some(ConnectorState(vec![0x91, 0x05])),
    };
    assert_eq!(enc(&batch), [0x00, 0x00, 0x01, 0x02, 0x91, 0x05]);
    assert_eq!(
        dec::<ProducedMessages>(&[0x00, 0x00, 0x01, 0x02, 0x91, 0x05]),
        batch
    );

    let without_state = ProducedMessages {
        schema: Schema::Raw,
        messages: vec![ProducedMessage {
            id: None,
            checksum: None,
            timestamp: None,
            origin_timestamp: None,
            headers: None,
            payload: vec![7],
        }],
        state: None,
    };
    assert_eq!(
        enc(&without_state),
        [0x01, 0x01, 0, 0, 0, 0, 0, 0x01, 0x07, 0x00]
    );
}

#[test]
fn given_connector_state_should_encode_as_byte_vec_newtype() {
    assert_eq!(enc(&ConnectorState(vec![1, 2])), [0x02, 0x01, 0x02]);
    assert_eq!(
        dec::<ConnectorState>(&[0x02, 0x01, 0x02]),
        ConnectorState(vec![1, 2])
    );
}

#[test]
fn given_batch_result_codes_should_map_ack_and_nack() {
    assert_eq!(SourceBatchResult::from_u8(0), Some(SourceBatchResult::Ack));
    assert_eq!(SourceBatchResult::from_u8(1), Some(SourceBatchResult::Nack));
    assert_eq!(SourceBatchResult::from_u8(2), None);
    assert_eq!(SourceBatchResult::Nack as u8, 1);
}

#[test]
fn given_state_struct_should_round_trip_as_positional_msgpack_array() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        messages_produced: usize,
    }
    let state = ConnectorState::encode(&State {
        messages_produced: 5,
    })
    .unwrap();
    assert_eq!(state.as_bytes(), [0x91, 0x05]);
    let big = ConnectorState::encode(&State {
        messages_produced: 300,
    })
    .unwrap();
    assert_eq!(big.as_bytes(), [0x91, 0xCD, 0x01, 0x2C]);
    assert_eq!(
        big.decode::<State>().unwrap(),
        State {
            messages_produced: 300
        }
    );
    let error = ConnectorState(vec![0xC1]).decode::<State>().unwrap_err();
    assert!(error.to_string().contains("cannot decode state"), "{error}");
}
