//! Descriptor-driven protobuf ⇄ JSON conversion (no code generation).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use serde_json::{Map, Value};

/// A message type resolved from a descriptor set, with every message type it can reach.
#[derive(Debug, Clone)]
pub struct MessageSchema {
    root: String,
    messages: HashMap<String, DescriptorProto>,
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

impl MessageSchema {
    /// `message_type` is the fully qualified name, with or without the leading dot.
    pub fn from_descriptor_set(bytes: &[u8], message_type: &str) -> Result<Self, String> {
        let set = FileDescriptorSet::decode(bytes)
            .map_err(|error| format!("descriptor set is not a FileDescriptorSet: {error}"))?;
        let mut messages = HashMap::new();
        for file in &set.file {
            let scope = match file.package() {
                "" => String::new(),
                package => format!(".{package}"),
            };
            for message in &file.message_type {
                register(&scope, message, &mut messages);
            }
        }
        let root = format!(".{}", message_type.trim_start_matches('.'));
        if !messages.contains_key(&root) {
            return Err(format!(
                "message_type '{message_type}' is not in the descriptor set"
            ));
        }
        Ok(MessageSchema { root, messages })
    }

    /// Wire bytes of the root message → JSON object keyed by field name.
    pub fn decode(&self, bytes: &[u8], preserve_unknown: bool) -> Result<Value, String> {
        self.decode_message(&self.root, bytes, preserve_unknown)
            .map(Value::Object)
    }

    /// JSON object → wire bytes of the root message. Unknown keys are an error.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.encode_message(&self.root, value, &mut out)?;
        Ok(out)
    }

    fn message(&self, name: &str) -> Result<&DescriptorProto, String> {
        self.messages
            .get(name)
            .ok_or_else(|| format!("message type '{name}' is not in the descriptor set"))
    }

    fn decode_message(
        &self,
        name: &str,
        mut bytes: &[u8],
        preserve_unknown: bool,
    ) -> Result<Map<String, Value>, String> {
        let descriptor = self.message(name)?;
        let mut object = Map::new();
        while !bytes.is_empty() {
            let key = read_varint(&mut bytes)?;
            let number = (key >> 3) as i32;
            let wire = (key & 7) as u8;
            let field = descriptor.field.iter().find(|f| f.number() == number);
            let Some(field) = field else {
                let raw = read_unknown(wire, &mut bytes)?;
                if preserve_unknown {
                    object.insert(format!("unknown_field_{number}"), raw);
                }
                continue;
            };
            let repeated = field.label() == Label::Repeated;
            if repeated && wire == WIRE_LEN && is_packable(field.r#type()) {
                let mut packed = take_len(&mut bytes)?;
                let values = array_entry(&mut object, field.name());
                while !packed.is_empty() {
                    let element_wire = packed_wire(field.r#type());
                    values.push(self.read_scalar(field, element_wire, &mut packed)?);
                }
                continue;
            }
            let value = self.read_value(field, wire, &mut bytes, preserve_unknown)?;
            if repeated {
                array_entry(&mut object, field.name()).push(value);
            } else {
                object.insert(field.name().to_owned(), value);
            }
        }
        Ok(object)
    }

    fn read_value(
        &self,
        field: &FieldDescriptorProto,
        wire: u8,
        bytes: &mut &[u8],
        preserve_unknown: bool,
    ) -> Result<Value, String> {
        match field.r#type() {
            Type::String => {
                let data = take_len(bytes)?;
                std::str::from_utf8(data)
                    .map(|text| Value::String(text.to_owned()))
                    .map_err(|_| format!("field '{}' is not valid UTF-8", field.name()))
            }
            Type::Bytes => Ok(Value::String(BASE64.encode(take_len(bytes)?))),
            Type::Message => {
                let data = take_len(bytes)?;
                self.decode_message(field.type_name(), data, preserve_unknown)
                    .map(Value::Object)
            }
            Type::Group => Err(format!(
                "field '{}': groups are not supported",
                field.name()
            )),
            _ => self.read_scalar(field, wire, bytes),
        }
    }

    fn read_scalar(
        &self,
        field: &FieldDescriptorProto,
        wire: u8,
        bytes: &mut &[u8],
    ) -> Result<Value, String> {
        let expected = packed_wire(field.r#type());
        if wire != expected {
            return Err(format!(
                "field '{}' has wire type {wire}, expected {expected}",
                field.name()
            ));
        }
        let value = match field.r#type() {
            Type::Int32 | Type::Enum => Value::from(read_varint(bytes)? as i32),
            Type::Int64 => Value::from(read_varint(bytes)? as i64),
            Type::Uint32 => Value::from(read_varint(bytes)? as u32),
            Type::Uint64 => Value::from(read_varint(bytes)?),
            Type::Sint32 => Value::from(unzigzag(read_varint(bytes)?) as i32),
            Type::Sint64 => Value::from(unzigzag(read_varint(bytes)?)),
            Type::Bool => Value::Bool(read_varint(bytes)? != 0),
            Type::Fixed64 => Value::from(u64::from_le_bytes(take_array(bytes)?)),
            Type::Sfixed64 => Value::from(i64::from_le_bytes(take_array(bytes)?)),
            Type::Double => float_value(f64::from_le_bytes(take_array(bytes)?)),
            Type::Fixed32 => Value::from(u32::from_le_bytes(take_array(bytes)?)),
            Type::Sfixed32 => Value::from(i32::from_le_bytes(take_array(bytes)?)),
            Type::Float => float_value(f32::from_le_bytes(take_array(bytes)?) as f64),
            other => {
                return Err(format!(
                    "field '{}': {other:?} is not a scalar",
                    field.name()
                ));
            }
        };
        Ok(value)
    }

    fn encode_message(&self, name: &str, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
        let descriptor = self.message(name)?;
        let Value::Object(object) = value else {
            return Err(format!("message '{name}' needs a JSON object"));
        };
        for (key, value) in object {
            let field = descriptor
                .field
                .iter()
                .find(|f| f.name() == key || f.json_name() == key)
                .ok_or_else(|| format!("message '{name}' has no field '{key}'"))?;
            match (field.label() == Label::Repeated, value) {
                (true, Value::Array(items)) => {
                    for item in items {
                        self.encode_field(field, item, out)?;
                    }
                }
                (_, Value::Null) => {}
                _ => self.encode_field(field, value, out)?,
            }
        }
        Ok(())
    }

    fn encode_field(
        &self,
        field: &FieldDescriptorProto,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let number = field.number() as u64;
        let mismatch = || format!("field '{}' cannot hold {value}", field.name());
        let key = |wire: u8, out: &mut Vec<u8>| write_varint((number << 3) | wire as u64, out);
        match field.r#type() {
            Type::String => {
                let text = value.as_str().ok_or_else(mismatch)?;
                key(WIRE_LEN, out);
                write_len(text.as_bytes(), out);
            }
            Type::Bytes => {
                let text = value.as_str().ok_or_else(mismatch)?;
                let data = BASE64.decode(text).map_err(|_| mismatch())?;
                key(WIRE_LEN, out);
                write_len(&data, out);
            }
            Type::Message => {
                let mut nested = Vec::new();
                self.encode_message(field.type_name(), value, &mut nested)?;
                key(WIRE_LEN, out);
                write_len(&nested, out);
            }
            Type::Bool => {
                key(WIRE_VARINT, out);
                write_varint(value.as_bool().ok_or_else(mismatch)? as u64, out);
            }
            Type::Int32 | Type::Int64 | Type::Enum => {
                key(WIRE_VARINT, out);
                write_varint(value.as_i64().ok_or_else(mismatch)? as u64, out);
            }
            Type::Uint32 | Type::Uint64 => {
                key(WIRE_VARINT, out);
                write_varint(value.as_u64().ok_or_else(mismatch)?, out);
            }
            Type::Sint32 | Type::Sint64 => {
                let signed = value.as_i64().ok_or_else(mismatch)?;
                key(WIRE_VARINT, out);
                write_varint(((signed << 1) ^ (signed >> 63)) as u64, out);
            }
            Type::Fixed64 | Type::Sfixed64 | Type::Double => {
                let bits = match field.r#type() {
                    Type::Double => value.as_f64().ok_or_else(mismatch)?.to_bits(),
                    Type::Fixed64 => value.as_u64().ok_or_else(mismatch)?,
                    _ => value.as_i64().ok_or_else(mismatch)? as u64,
                };
                key(WIRE_FIXED64, out);
                out.extend_from_slice(&bits.to_le_bytes());
            }
            Type::Fixed32 | Type::Sfixed32 | Type::Float => {
                let bits = match field.r#type() {
                    Type::Float => (value.as_f64().ok_or_else(mismatch)? as f32).to_bits(),
                    Type::Fixed32 => value.as_u64().ok_or_else(mismatch)? as u32,
                    _ => value.as_i64().ok_or_else(mismatch)? as u32,
                };
                key(WIRE_FIXED32, out);
                out.extend_from_slice(&bits.to_le_bytes());
            }
            Type::Group => {
                return Err(format!(
                    "field '{}': groups are not supported",
                    field.name()
                ));
            }
        }
        Ok(())
    }
}

fn register(scope: &str, message: &DescriptorProto, into: &mut HashMap<String, DescriptorProto>) {
    let name = format!("{scope}.{}", message.name());
    for nested in &message.nested_type {
        register(&name, nested, into);
    }
    into.insert(name, message.clone());
}

fn array_entry<'a>(object: &'a mut Map<String, Value>, name: &str) -> &'a mut Vec<Value> {
    let entry = object
        .entry(name.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    match entry {
        Value::Array(items) => items,
        _ => unreachable!("entry was just made an array"),
    }
}

fn is_packable(kind: Type) -> bool {
    !matches!(
        kind,
        Type::String | Type::Bytes | Type::Message | Type::Group
    )
}

fn packed_wire(kind: Type) -> u8 {
    match kind {
        Type::Fixed64 | Type::Sfixed64 | Type::Double => WIRE_FIXED64,
        Type::Fixed32 | Type::Sfixed32 | Type::Float => WIRE_FIXED32,
        Type::String | Type::Bytes | Type::Message | Type::Group => WIRE_LEN,
        _ => WIRE_VARINT,
    }
}

fn float_value(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn read_unknown(wire: u8, bytes: &mut &[u8]) -> Result<Value, String> {
    match wire {
        WIRE_VARINT => read_varint(bytes).map(Value::from),
        WIRE_FIXED64 => take_array::<8>(bytes).map(|raw| Value::from(u64::from_le_bytes(raw))),
        WIRE_FIXED32 => take_array::<4>(bytes).map(|raw| Value::from(u32::from_le_bytes(raw))),
        WIRE_LEN => take_len(bytes).map(|data| Value::String(BASE64.encode(data))),
        other => Err(format!("unsupported wire type {other}")),
    }
}

fn read_varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            *bytes = &bytes[index + 1..];
            return Ok(value);
        }
    }
    Err("truncated or overlong varint".to_owned())
}

fn take_len<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = read_varint(bytes)? as usize;
    if len > bytes.len() {
        return Err(format!(
            "length {len} runs past the end of the message ({} bytes left)",
            bytes.len()
        ));
    }
    let (data, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(data)
}

fn take_array<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], String> {
    let Some((data, rest)) = bytes.split_first_chunk::<N>() else {
        return Err(format!("truncated {N}-byte field"));
    };
    *bytes = rest;
    Ok(*data)
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn write_len(data: &[u8], out: &mut Vec<u8>) {
    write_varint(data.len() as u64, out);
    out.extend_from_slice(data);
}
