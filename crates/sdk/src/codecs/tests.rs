use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};
use serde_json::json;

use super::*;

#[test]
fn given_json_bytes_should_decode_preserving_key_order_and_reencode_compact() {
    let payload = decode(Schema::Json, br#"{ "z": 1, "a": [true, null] }"#).unwrap();
    let Payload::Json(value) = &payload else {
        panic!("expected Json, got {payload:?}");
    };
    let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["z", "a"]);
    assert_eq!(
        encode(Schema::Json, payload).unwrap(),
        br#"{"z":1,"a":[true,null]}"#
    );
}

#[test]
fn given_invalid_json_should_fail_naming_the_schema() {
    let error = decode(Schema::Json, b"{nope").unwrap_err();
    assert!(matches!(
        error,
        CodecError::CannotDecode {
            schema: Schema::Json,
            ..
        }
    ));
    assert!(
        error.to_string().starts_with("cannot decode json payload"),
        "{error}"
    );
}

#[test]
fn given_text_payload_should_encode_as_json_string_literal() {
    let bytes = encode(Schema::Json, Payload::Text("say \"hi\"".into())).unwrap();
    assert_eq!(bytes, br#""say \"hi\"""#);
}

#[test]
fn given_raw_payload_should_be_refused_by_json_encoder() {
    let error = encode(Schema::Json, Payload::Raw(vec![1])).unwrap_err();
    assert_eq!(
        error,
        CodecError::InvalidPayloadType {
            schema: Schema::Json,
            payload: "Raw"
        }
    );
    assert_eq!(
        error.to_string(),
        "the json encoder does not accept a Raw payload"
    );
}

#[test]
fn given_raw_schema_should_pass_bytes_through_and_accept_json() {
    let bytes = vec![0, 159, 146, 150];
    assert_eq!(
        decode(Schema::Raw, &bytes).unwrap(),
        Payload::Raw(bytes.clone())
    );
    let owned = decode_owned(Schema::Raw, bytes.clone()).unwrap();
    assert_eq!(encode(Schema::Raw, owned).unwrap(), bytes);
    assert_eq!(
        encode(Schema::Raw, Payload::Json(json!({"a": 1}))).unwrap(),
        br#"{"a":1}"#
    );
}

#[test]
fn given_text_schema_should_check_utf8_and_render_json_compact() {
    assert_eq!(
        decode_owned(Schema::Text, "héllo".as_bytes().to_vec()).unwrap(),
        Payload::Text("héllo".into())
    );
    let error = decode(Schema::Text, &[0x66, 0xFF]).unwrap_err();
    assert!(
        error.to_string().starts_with("cannot decode text payload"),
        "{error}"
    );
    assert_eq!(
        encode(Schema::Text, Payload::Json(json!({"k": "v"}))).unwrap(),
        br#"{"k":"v"}"#
    );
    let error = encode(Schema::Text, Payload::FlatBuffer(vec![1])).unwrap_err();
    assert!(error.to_string().contains("text encoder"), "{error}");
}

#[test]
fn given_payload_into_bytes_should_match_upstream_try_into_vec() {
    assert_eq!(Payload::Json(json!([1, 2])).into_bytes().unwrap(), b"[1,2]");
    assert_eq!(Payload::Text("t".into()).into_bytes().unwrap(), b"t");
    assert_eq!(Payload::Proto("p".into()).into_bytes().unwrap(), b"p");
    assert_eq!(Payload::Raw(vec![9]).into_bytes().unwrap(), [9]);
    assert_eq!(Payload::FlatBuffer(vec![8]).into_bytes().unwrap(), [8]);
    assert_eq!(Payload::FlatBuffer(vec![]).schema(), Schema::FlatBuffer);
}

#[test]
fn given_json_payload_should_round_trip_through_proto_any_string_value() {
    let bytes = encode(Schema::Proto, Payload::Json(json!({"a": 1}))).unwrap();
    let any = prost_types::Any::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        any.type_url,
        "type.googleapis.com/google.protobuf.StringValue"
    );
    assert_eq!(String::decode(any.value.as_slice()).unwrap(), r#"{"a":1}"#);

    let decoded = decode(Schema::Proto, &bytes).unwrap();
    assert_eq!(
        decoded,
        Payload::Json(json!({
            "type_url": "type.googleapis.com/google.protobuf.StringValue",
            "value": BASE64.encode(&any.value),
        }))
    );
}

#[test]
fn given_raw_and_text_payloads_should_wrap_as_bytes_value_and_text_envelope() {
    let bytes = encode(Schema::Proto, Payload::Raw(vec![1, 2, 3])).unwrap();
    let any = prost_types::Any::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        any.type_url,
        "type.googleapis.com/google.protobuf.BytesValue"
    );
    assert_eq!(Vec::<u8>::decode(any.value.as_slice()).unwrap(), [1, 2, 3]);

    let bytes = encode(Schema::Proto, Payload::Text("hi".into())).unwrap();
    let any = prost_types::Any::decode(bytes.as_slice()).unwrap();
    let envelope: serde_json::Value =
        serde_json::from_str(&String::decode(any.value.as_slice()).unwrap()).unwrap();
    assert_eq!(envelope["text"], "hi");
    assert_eq!(envelope["encoding"], "utf-8");
    assert!(envelope["timestamp"].as_u64().unwrap() > 1_700_000_000_000);
}

#[test]
fn given_empty_or_garbage_proto_should_fail_and_raw_mode_should_pass_bytes() {
    let error = decode(Schema::Proto, &[]).unwrap_err();
    assert!(error.to_string().contains("proto") && error.to_string().contains("empty"));
    let error = decode(Schema::Proto, &[0x0A, 0x05, b'a']).unwrap_err();
    assert!(error.to_string().contains("google.protobuf.Any"), "{error}");

    let options = CodecOptions {
        proto: ProtoOptions {
            use_any_wrapper: false,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        decode_with(Schema::Proto, &[1, 2], &options).unwrap(),
        Payload::Raw(vec![1, 2])
    );
    assert_eq!(
        encode_with(Schema::Proto, Payload::Raw(vec![1, 2]), &options).unwrap(),
        [1, 2]
    );
    let error = encode_with(Schema::Proto, Payload::Json(json!(1)), &options).unwrap_err();
    assert!(error.to_string().contains("use_any_wrapper"), "{error}");
}

fn field(name: &str, number: i32, kind: Type, label: Label) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        r#type: Some(kind as i32),
        label: Some(label as i32),
        ..Default::default()
    }
}

fn order_schema() -> Vec<u8> {
    let mut item = field("item", 5, Type::Message, Label::Optional);
    item.type_name = Some(".shop.Order.Item".into());
    let set = FileDescriptorSet {
        file: vec![FileDescriptorProto {
            name: Some("shop.proto".into()),
            package: Some("shop".into()),
            message_type: vec![DescriptorProto {
                name: Some("Order".into()),
                field: vec![
                    field("name", 1, Type::String, Label::Optional),
                    field("qty", 2, Type::Int64, Label::Optional),
                    field("price", 3, Type::Double, Label::Optional),
                    field("tags", 4, Type::Int32, Label::Repeated),
                    item,
                    field("code", 6, Type::Fixed32, Label::Optional),
                    field("delta", 7, Type::Sint32, Label::Optional),
                ],
                nested_type: vec![DescriptorProto {
                    name: Some("Item".into()),
                    field: vec![field("sku", 1, Type::String, Label::Optional)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    set.encode_to_vec()
}

fn schema_options() -> CodecOptions {
    CodecOptions {
        proto: ProtoOptions {
            descriptor_set: Some(order_schema()),
            message_type: Some("shop.Order".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn given_descriptor_set_should_encode_and_decode_message_fields_by_name() {
    let options = schema_options();
    let order = json!({
        "name": "ab",
        "qty": 300,
        "price": 2.5,
        "tags": [1, 2],
        "item": {"sku": "x"},
        "code": 7,
        "delta": -2,
    });
    let bytes = encode_with(Schema::Proto, Payload::Json(order.clone()), &options).unwrap();
    // name = 1 (LEN) "ab", qty = 2 (varint) 300.
    assert_eq!(&bytes[..7], [0x0A, 0x02, b'a', b'b', 0x10, 0xAC, 0x02]);
    let decoded = decode_with(Schema::Proto, &bytes, &options).unwrap();
    assert_eq!(decoded, Payload::Json(order));
}

#[test]
fn given_packed_repeated_and_unknown_fields_should_decode_them() {
    // tags = 4 packed [3, 270]; field 9 varint 1 is unknown to the schema.
    let bytes = [0x22, 0x03, 0x03, 0x8E, 0x02, 0x48, 0x01];
    let mut options = schema_options();
    assert_eq!(
        decode_with(Schema::Proto, &bytes, &options).unwrap(),
        Payload::Json(json!({"tags": [3, 270]}))
    );
    // A clone with changed fields must not reuse the cached schema of the original.
    options.proto = ProtoOptions {
        preserve_unknown_fields: true,
        ..options.proto.clone()
    };
    assert_eq!(
        decode_with(Schema::Proto, &bytes, &options).unwrap(),
        Payload::Json(json!({"tags": [3, 270], "unknown_field_9": 1}))
    );
}

#[test]
fn given_bad_schema_inputs_should_fail_with_clear_messages() {
    let options = schema_options();
    let error =
        encode_with(Schema::Proto, Payload::Json(json!({"nope": 1})), &options).unwrap_err();
    assert!(error.to_string().contains("has no field 'nope'"), "{error}");
    let error = decode_with(Schema::Proto, &[0x0A, 0x09, b'a'], &options).unwrap_err();
    assert!(error.to_string().contains("runs past the end"), "{error}");

    let missing = CodecOptions {
        proto: ProtoOptions {
            descriptor_set: Some(order_schema()),
            message_type: Some("shop.Nope".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let error = decode_with(Schema::Proto, &[], &missing).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("'shop.Nope' is not in the descriptor set")
    );

    let source = CodecOptions {
        proto: ProtoOptions {
            schema_path: Some("schemas/order.proto".into()),
            message_type: Some("shop.Order".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let error = decode_with(Schema::Proto, &[1], &source).unwrap_err();
    assert!(matches!(
        error,
        CodecError::InvalidOptions {
            schema: Schema::Proto,
            ..
        }
    ));
    assert!(error.to_string().contains("protoc"), "{error}");
}

#[test]
fn given_json_object_should_encode_to_flatbuffer_string_vector() {
    let bytes = encode(Schema::FlatBuffer, Payload::Json(json!({"a": "x", "n": 5}))).unwrap();
    let root = flatbuffers::root::<flatbuffers::Vector<flatbuffers::ForwardsUOffset<&str>>>(&bytes)
        .unwrap();
    let items: Vec<&str> = root.iter().collect();
    assert_eq!(items, ["a", "x", "n", "5"]);

    let decoded = decode(Schema::FlatBuffer, &bytes).unwrap();
    let Payload::Json(summary) = decoded else {
        panic!("expected a JSON summary");
    };
    assert_eq!(summary["buffer_size"], bytes.len());
    assert_eq!(summary["has_root_table"], true);
    assert_eq!(
        BASE64
            .decode(summary["raw_data_base64"].as_str().unwrap())
            .unwrap(),
        bytes
    );
}

#[test]
fn given_real_table_should_decode_with_root_table_and_name() {
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    let start = builder.start_table();
    builder.push_slot::<u32>(4, 42, 0);
    let table = builder.end_table(start);
    builder.finish_minimal(table);
    let bytes = builder.finished_data().to_vec();
    let options = CodecOptions {
        flatbuffer: FlatBufferOptions {
            root_table_name: Some("Monster".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let Payload::Json(summary) = decode_with(Schema::FlatBuffer, &bytes, &options).unwrap() else {
        panic!("expected a JSON summary");
    };
    assert_eq!(summary["has_root_table"], true);
    assert_eq!(summary["root_table_type"], "Monster");

    let keep = CodecOptions {
        flatbuffer: FlatBufferOptions {
            extract_as_json: false,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        decode_with(Schema::FlatBuffer, &bytes, &keep).unwrap(),
        Payload::FlatBuffer(bytes.clone())
    );
    assert_eq!(
        encode(Schema::FlatBuffer, Payload::FlatBuffer(bytes.clone())).unwrap(),
        bytes
    );
}

#[test]
fn given_broken_flatbuffers_should_fail_unless_verification_is_off() {
    assert!(
        decode(Schema::FlatBuffer, &[])
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    let error = decode(Schema::FlatBuffer, &[1, 2]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("shorter than the 4-byte root offset"),
        "{error}"
    );
    let error = decode(Schema::FlatBuffer, &[0xFF; 8]).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot decode flat_buffer payload"),
        "{error}"
    );

    let lenient = CodecOptions {
        flatbuffer: FlatBufferOptions {
            verify_buffers: false,
            extract_as_json: false,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(decode_with(Schema::FlatBuffer, &[0xFF; 8], &lenient).is_ok());
}

#[test]
fn given_raw_and_text_should_encode_flatbuffer_vector_and_string() {
    let bytes = encode(Schema::FlatBuffer, Payload::Raw(vec![1, 2, 3])).unwrap();
    let root = flatbuffers::root::<flatbuffers::Vector<u8>>(&bytes).unwrap();
    assert_eq!(root.bytes(), [1, 2, 3]);
    let bytes = encode(Schema::FlatBuffer, Payload::Text("plain".into())).unwrap();
    assert_eq!(flatbuffers::root::<&str>(&bytes).unwrap(), "plain");
    let bytes = encode(Schema::FlatBuffer, Payload::Json(json!([1]))).unwrap();
    assert_eq!(flatbuffers::root::<&str>(&bytes).unwrap(), "[1]");
}

#[test]
fn given_options_json_should_deserialize_upstream_keys_with_defaults() {
    let options: CodecOptions = serde_json::from_value(json!({
        "proto": {"use_any_wrapper": false, "message_type": "shop.Order"},
        "flatbuffer": {"verify_buffers": false}
    }))
    .unwrap();
    assert!(!options.proto.use_any_wrapper);
    assert_eq!(options.proto.type_url_prefix, "type.googleapis.com");
    assert_eq!(options.proto.message_type.as_deref(), Some("shop.Order"));
    assert!(!options.flatbuffer.verify_buffers);
    assert!(options.flatbuffer.extract_as_json);
}

#[test]
fn given_any_schema_validate_should_fail_exactly_when_decode_fails_with_the_same_error() {
    let table = encode(Schema::FlatBuffer, Payload::Raw(vec![1, 2, 3])).unwrap();
    let cases: Vec<(Schema, Vec<u8>)> = vec![
        (Schema::Json, br#"{"a":[1,{"b":null}],"c":"x"}"#.to_vec()),
        (Schema::Json, b"{nope".to_vec()),
        (Schema::Json, b"1 2".to_vec()),
        (Schema::Text, "héllo".as_bytes().to_vec()),
        (Schema::Text, vec![0x66, 0xFF]),
        (Schema::Raw, vec![0xFF, 0x00]),
        (Schema::FlatBuffer, table),
        (Schema::FlatBuffer, vec![]),
        (Schema::FlatBuffer, vec![1, 2]),
        (Schema::FlatBuffer, vec![0xFF; 8]),
        (Schema::Proto, vec![]),
        (Schema::Proto, vec![0xFF; 3]),
    ];
    let mut failures = 0;
    for (schema, bytes) in cases {
        let decoded = decode(schema, &bytes).map(|_| ());
        failures += usize::from(decoded.is_err());
        assert_eq!(validate(schema, &bytes), decoded, "{schema} {bytes:?}");
    }
    assert!(
        failures >= 6,
        "the cases must exercise failures, got {failures}"
    );
}
