//! One message → one line-protocol point.
//!
//! `<measurement>[,stream=…][,topic=…][,partition=…] message_id="…",offset=…[,iggy_stream="…"]
//! [,iggy_topic="…"][,iggy_partition=…][,iggy_checksum=…][,iggy_origin_timestamp=…],
//! payload_<format>="…" <time>`: upstream's layout without its per-message `offset` tag, which
//! made every message its own series. The offset identifies the point through its time
//! instead (see [`point_time_ns`]).

use base64::Engine as _;
use iggy_connector_influxdb_common::line::{
    LineError, escape_key, escape_measurement, write_string_field, write_uint_field,
};
use iggy_connectors_sdk::{ConsumedMessage, Payload, TopicMetadata};

use crate::config::{PayloadFormat, Settings};

/// The parts of a line shared by every message of one partition of one topic.
pub struct SeriesParts {
    /// Measurement and tag set, escaped.
    pub key: String,
    /// `,iggy_stream="…",iggy_topic="…",iggy_partition=…` for the metadata kept as fields.
    pub metadata_fields: String,
}

pub fn series_parts(
    settings: &Settings,
    topic: &TopicMetadata,
    partition: u32,
    unsigned: bool,
) -> Result<SeriesParts, LineError> {
    let mut key = String::with_capacity(64);
    escape_measurement(&settings.measurement, &mut key)?;
    let mut metadata_fields = String::new();
    if settings.include_metadata {
        // Tag keys in lexical order (partition, stream, topic), as InfluxDB stores them.
        if settings.include_partition_tag {
            key.push_str(",partition=");
            key.push_str(&partition.to_string());
        }
        if settings.include_stream_tag {
            key.push_str(",stream=");
            escape_key("stream tag value", &topic.stream, &mut key)?;
        } else {
            metadata_fields.push_str(",iggy_stream=");
            write_string_field(&topic.stream, &mut metadata_fields);
        }
        if settings.include_topic_tag {
            key.push_str(",topic=");
            escape_key("topic tag value", &topic.topic, &mut key)?;
        } else {
            metadata_fields.push_str(",iggy_topic=");
            write_string_field(&topic.topic, &mut metadata_fields);
        }
        if !settings.include_partition_tag {
            metadata_fields.push_str(",iggy_partition=");
            write_uint_field(u64::from(partition), unsigned, &mut metadata_fields);
        }
    }
    Ok(SeriesParts {
        key,
        metadata_fields,
    })
}

/// The point time in nanoseconds: the message's Iggy timestamp (µs; now when it is 0)
/// truncated to `precision`, plus `offset mod (ns per precision unit)` nanoseconds.
///
/// InfluxDB keeps one point per series and time, and Iggy gives every message of one appended
/// batch the same timestamp; the offset in the sub-unit digits keeps them apart without an
/// offset tag (a new series per message, upstream's cardinality defect), and the time read at
/// the configured precision is still the message's. Deterministic, so a replay overwrites the
/// same points instead of adding new ones.
pub fn point_time_ns(timestamp_us: u64, offset: u64, unit_ns: u64) -> u64 {
    let timestamp_us = if timestamp_us == 0 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    } else {
        timestamp_us
    };
    let ns = timestamp_us.saturating_mul(1_000);
    (ns - ns % unit_ns).saturating_add(offset % unit_ns)
}

/// The string field the payload is written to, named after its format as upstream does.
fn field_name(format: PayloadFormat) -> &'static str {
    match format {
        PayloadFormat::Json => "payload_json",
        PayloadFormat::Text => "payload_text",
        PayloadFormat::Binary => "payload_base64",
    }
}

/// The payload as the text of the `payload_<format>` field, or why it cannot be.
fn payload_text(format: PayloadFormat, payload: Payload) -> Result<String, String> {
    match (format, payload) {
        (PayloadFormat::Json, Payload::Json(value)) => serde_json::to_string(&value)
            .map_err(|e| format!("JSON payload cannot be encoded: {e}")),
        (PayloadFormat::Json, other) => {
            let bytes = other
                .into_bytes()
                .map_err(|e| format!("payload cannot be encoded: {e}"))?;
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("payload is not JSON (payload_format = \"json\"): {e}"))?;
            Ok(value.to_string())
        }
        (PayloadFormat::Text, payload) => {
            let bytes = payload
                .into_bytes()
                .map_err(|e| format!("payload cannot be encoded: {e}"))?;
            String::from_utf8(bytes)
                .map_err(|_| "payload is not UTF-8 text (payload_format = \"text\")".to_string())
        }
        (PayloadFormat::Binary, payload) => {
            let bytes = payload
                .into_bytes()
                .map_err(|e| format!("payload cannot be encoded: {e}"))?;
            Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

/// Appends the message's line (without a newline) to `out`; on error `out` is unchanged.
pub fn append_line(
    settings: &Settings,
    series: &SeriesParts,
    unsigned: bool,
    message: ConsumedMessage,
    out: &mut String,
) -> Result<(), String> {
    let payload = payload_text(settings.payload_format, message.payload)?;
    out.reserve(series.key.len() + payload.len() + 160);
    out.push_str(&series.key);
    out.push_str(" message_id=\"");
    out.push_str(&message.id.to_string());
    out.push_str("\",offset=");
    write_uint_field(message.offset, unsigned, out);
    out.push_str(&series.metadata_fields);
    if settings.include_checksum {
        out.push_str(",iggy_checksum=");
        write_uint_field(message.checksum, unsigned, out);
    }
    if settings.include_origin_timestamp {
        out.push_str(",iggy_origin_timestamp=");
        write_uint_field(message.origin_timestamp, unsigned, out);
    }
    out.push(',');
    out.push_str(field_name(settings.payload_format));
    out.push('=');
    write_string_field(&payload, out);
    out.push(' ');
    out.push_str(
        &point_time_ns(
            message.timestamp,
            message.offset,
            settings.precision.unit_ns(),
        )
        .to_string(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InfluxDbSinkConfig;

    fn settings(extra: serde_json::Value) -> Settings {
        let mut base = serde_json::json!({"url": "http://h", "org": "o", "bucket": "b"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value::<InfluxDbSinkConfig>(base)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn message(offset: u64, payload: Payload) -> ConsumedMessage {
        ConsumedMessage {
            id: 42,
            offset,
            checksum: 12345,
            timestamp: 1_000_000,
            origin_timestamp: 999,
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
    fn given_defaults_when_line_built_should_match_upstream_layout_without_offset_tag() {
        let s = settings(serde_json::json!({}));
        let parts = series_parts(&s, &topic(), 1, true).unwrap();
        let mut out = String::new();
        append_line(
            &s,
            &parts,
            true,
            message(7, Payload::Json(serde_json::json!({"a": 1}))),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            "iggy_messages,partition=1,stream=s,topic=t message_id=\"42\",offset=7u,\
             iggy_checksum=12345u,iggy_origin_timestamp=999u,payload_json=\"{\\\"a\\\":1}\" 1000000007"
        );
    }

    #[test]
    fn given_tags_off_and_signed_integers_when_line_built_should_write_metadata_fields() {
        let s = settings(
            serde_json::json!({"include_stream_tag": false, "include_topic_tag": false,
            "include_partition_tag": false, "include_checksum": false,
            "include_origin_timestamp": false, "payload_format": "text"}),
        );
        let parts = series_parts(&s, &topic(), 3, false).unwrap();
        let mut out = String::new();
        append_line(
            &s,
            &parts,
            false,
            message(1, Payload::Text("a\"b".into())),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            "iggy_messages message_id=\"42\",offset=1i,iggy_stream=\"s\",iggy_topic=\"t\",\
             iggy_partition=3i,payload_text=\"a\\\"b\" 1000000001"
        );
    }

    #[test]
    fn given_bad_payloads_when_line_built_should_refuse_without_writing() {
        let json = settings(serde_json::json!({}));
        let parts = series_parts(&json, &topic(), 1, true).unwrap();
        let mut out = String::new();
        let error = append_line(
            &json,
            &parts,
            true,
            message(1, Payload::Raw(b"{nope".to_vec())),
            &mut out,
        )
        .unwrap_err();
        assert!(error.contains("not JSON"), "{error}");
        let text = settings(serde_json::json!({"payload_format": "text"}));
        let error = append_line(
            &text,
            &parts,
            true,
            message(1, Payload::Raw(vec![0xff])),
            &mut out,
        )
        .unwrap_err();
        assert!(error.contains("UTF-8"), "{error}");
        assert!(out.is_empty());
        let b64 = settings(serde_json::json!({"payload_format": "base64"}));
        append_line(
            &b64,
            &parts,
            true,
            message(1, Payload::Raw(vec![0, 1, 0xff])),
            &mut out,
        )
        .unwrap();
        assert!(out.contains("payload_base64=\"AAH/\""), "{out}");
    }

    #[test]
    fn given_offsets_when_timed_should_stay_within_the_precision_unit_and_differ() {
        assert_eq!(point_time_ns(1_000_000, 7, 1_000), 1_000_000_007);
        assert_eq!(
            point_time_ns(1_000_999, 1_234_567, 1_000_000),
            1_000_234_567
        );
        assert_eq!(point_time_ns(1_999_999, 5, 1_000_000_000), 1_000_000_005);
        assert_ne!(point_time_ns(5, 1, 1_000), point_time_ns(5, 2, 1_000));
    }
}
