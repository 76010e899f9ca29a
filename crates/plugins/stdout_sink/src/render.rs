//! The text the sink prints for a batch.

use std::fmt::Write as _;

use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, TopicMetadata};

use crate::StdoutSinkConfig;

/// Binary payloads longer than this are shown truncated.
const MAX_HEX_BYTES: usize = 64;

/// One line per message (when `print_payload` or `print_metadata`) and a summary line.
pub fn render_batch(
    id: u32,
    config: StdoutSinkConfig,
    topic: &TopicMetadata,
    metadata: &MessagesMetadata,
    messages: &[ConsumedMessage],
    batch: u64,
) -> String {
    let mut out = String::new();
    if config.print_payload || config.print_metadata {
        for message in messages {
            let _ = write!(
                out,
                "[{}/{} p{} #{}]",
                topic.stream, topic.topic, metadata.partition_id, message.offset
            );
            if config.print_metadata {
                let _ = write!(
                    out,
                    " id={:032x} timestamp={} origin_timestamp={} checksum={}",
                    message.id, message.timestamp, message.origin_timestamp, message.checksum
                );
                if let Some(headers) = &message.headers {
                    out.push_str(" headers={");
                    for (index, (key, value)) in headers.iter().enumerate() {
                        let separator = if index == 0 { "" } else { ", " };
                        let _ = write!(
                            out,
                            "{separator}{}={}",
                            key.to_string_value(),
                            value.to_string_value()
                        );
                    }
                    out.push('}');
                }
            }
            if config.print_payload {
                out.push(' ');
                push_payload(&mut out, &message.payload);
            }
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "stdout_sink (id {id}): {} messages from {}/{} p{} (schema {}, offset {}, batch #{batch})",
        messages.len(),
        topic.stream,
        topic.topic,
        metadata.partition_id,
        metadata.schema,
        metadata.current_offset
    );
    out
}

fn push_payload(out: &mut String, payload: &Payload) {
    match payload {
        Payload::Json(value) => {
            let _ = write!(out, "{value}");
        }
        Payload::Text(text) | Payload::Proto(text) => push_single_line(out, text),
        Payload::Raw(bytes) | Payload::FlatBuffer(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => push_single_line(out, text),
            Err(_) => {
                out.push_str("0x");
                for byte in bytes.iter().take(MAX_HEX_BYTES) {
                    let _ = write!(out, "{byte:02x}");
                }
                if bytes.len() > MAX_HEX_BYTES {
                    let _ = write!(out, "… ({} bytes)", bytes.len());
                }
            }
        },
    }
}

/// Keeps one message on one line (so `grep` and line counts work): newlines are escaped.
fn push_single_line(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
}
