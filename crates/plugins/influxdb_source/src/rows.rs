//! One Flux result row → one Iggy message.
//!
//! * Values are typed by the CSV `#datatype` annotation (`long`, `unsignedLong`, `double`,
//!   `boolean`, anything else a string), so a numeric-looking tag or string stays a string and
//!   an unsigned value above `i64::MAX` stays exact (upstream guessed types from the text).
//! * The message id is a 128-bit FNV-1a hash of the row's identity (every column but `result`,
//!   `table`, `_start`, `_stop` and `_value`): the same point read twice gets the same id, so
//!   downstream can deduplicate (upstream used random UUIDs).

use base64::Engine as _;
use iggy_connector_influxdb_common::csv::Block;
use iggy_connectors_sdk::ProducedMessage;
use serde_json::{Map, Value};

use crate::config::{PayloadFormat, Settings};

/// A row of a block.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    pub block: &'a Block,
    pub values: &'a [String],
}

impl<'a> Row<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.block.index_of(name).map(|i| self.values[i].as_str())
    }

    /// (column name, datatype, value) of the named columns (the annotation column has none).
    fn cells(self) -> impl Iterator<Item = (&'a str, Option<&'a str>, &'a str)> + 'a {
        let block = self.block;
        block
            .columns
            .iter()
            .zip(self.values.iter())
            .filter(|(c, _)| !c.name.is_empty())
            .map(|(c, v)| (c.name.as_str(), c.datatype.as_deref(), v.as_str()))
    }

    /// Which Flux table (series) of which result the row belongs to.
    pub fn table_key(&self) -> (&'a str, &'a str) {
        (
            self.get("result").unwrap_or_default(),
            self.get("table").unwrap_or_default(),
        )
    }
}

/// A CSV cell as JSON, by its annotated datatype; an empty cell is null.
pub fn typed_value(raw: &str, datatype: Option<&str>) -> Value {
    if raw.is_empty() {
        return Value::Null;
    }
    let parsed = match datatype {
        Some("long") => raw.parse::<i64>().ok().map(Value::from),
        Some("unsignedLong") => raw.parse::<u64>().ok().map(Value::from),
        Some("double") => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Some("boolean") => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    };
    // NaN/±Inf doubles and anything unannotated stay text.
    parsed.unwrap_or_else(|| Value::String(raw.to_string()))
}

fn fnv1a_128(parts: &[(&str, &str)]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash = OFFSET;
    for (name, value) in parts {
        for byte in name
            .bytes()
            .chain([0u8])
            .chain(value.bytes())
            .chain([0xffu8])
        {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

/// The deterministic message id of a row.
pub fn row_id(row: Row<'_>) -> u128 {
    let mut parts: Vec<(&str, &str)> = row
        .cells()
        .filter(|(name, _, _)| !matches!(*name, "result" | "table" | "_start" | "_stop" | "_value"))
        .map(|(name, _, value)| (name, value))
        .collect();
    parts.sort_unstable();
    fnv1a_128(&parts).max(1)
}

/// The payload of `row`, or why the row cannot become a message.
pub fn payload(settings: &Settings, row: Row<'_>) -> Result<Vec<u8>, String> {
    let Some(column) = &settings.payload_column else {
        return Ok(whole_row(settings, row).to_string().into_bytes());
    };
    let text = row.get(column).ok_or_else(|| {
        format!("the row has no column {column:?} (plugin_config.payload_column)")
    })?;
    match settings.payload_format {
        PayloadFormat::Json => serde_json::from_str::<Value>(text)
            .map(|v| v.to_string().into_bytes())
            .map_err(|e| format!("column {column:?} is not JSON: {e}")),
        PayloadFormat::Text => Ok(text.as_bytes().to_vec()),
        PayloadFormat::Binary => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("column {column:?} is not base64: {e}")),
    }
}

/// Upstream's whole-row JSON: measurement, field, timestamp, value and the row's columns.
fn whole_row(settings: &Settings, row: Row<'_>) -> Value {
    let mut columns = Map::new();
    for (name, datatype, value) in row.cells() {
        if settings.include_metadata || matches!(name, "_value" | "_time" | "_measurement") {
            columns.insert(name.to_string(), typed_value(value, datatype));
        }
    }
    let value = row
        .block
        .index_of("_value")
        .map(|i| typed_value(&row.values[i], row.block.columns[i].datatype.as_deref()))
        .unwrap_or(Value::Null);
    serde_json::json!({
        "measurement": row.get("_measurement").unwrap_or_default(),
        "field": row.get("_field").unwrap_or_default(),
        "timestamp": row.get("_time").unwrap_or_default(),
        "value": value,
        "row": columns,
    })
}

pub fn message(id: u128, origin_us: Option<u64>, payload: Vec<u8>) -> ProducedMessage {
    ProducedMessage {
        id: Some(id),
        checksum: None,
        timestamp: None,
        origin_timestamp: origin_us,
        headers: None,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy_connector_influxdb_common::csv;

    const CSV: &str = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,unsignedLong\r\n\
        ,result,table,_start,_time,_value,_field,_measurement,host,big\r\n\
        ,_result,0,2020-01-01T00:00:00Z,2024-01-01T00:00:00Z,1.5,temp,cpu,0042,18446744073709551615\r\n";

    fn settings(extra: serde_json::Value) -> Settings {
        let mut base =
            serde_json::json!({"url": "http://h", "org": "o", "query": "q $cursor $limit"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value::<crate::config::InfluxDbSourceConfig>(base)
            .unwrap()
            .validate()
            .unwrap()
    }

    #[test]
    fn given_annotated_row_when_converted_should_keep_types_exact() {
        let blocks = csv::parse(CSV).unwrap();
        let row = Row {
            block: &blocks[0],
            values: &blocks[0].rows[0],
        };
        let json: Value =
            serde_json::from_slice(&payload(&settings(serde_json::json!({})), row).unwrap())
                .unwrap();
        assert_eq!(json["measurement"], "cpu");
        assert_eq!(json["field"], "temp");
        assert_eq!(json["timestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(json["value"], 1.5);
        assert_eq!(
            json["row"]["host"], "0042",
            "a numeric-looking tag stays a string"
        );
        assert_eq!(json["row"]["big"], serde_json::json!(u64::MAX));
        let lean: Value = serde_json::from_slice(
            &payload(
                &settings(serde_json::json!({"include_metadata": false})),
                row,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(lean["row"].as_object().unwrap().len(), 3);
    }

    #[test]
    fn given_payload_column_when_converted_should_decode_or_explain() {
        let blocks = csv::parse(CSV).unwrap();
        let row = Row {
            block: &blocks[0],
            values: &blocks[0].rows[0],
        };
        let text =
            settings(serde_json::json!({"payload_column": "host", "payload_format": "text"}));
        assert_eq!(payload(&text, row).unwrap(), b"0042");
        let raw =
            settings(serde_json::json!({"payload_column": "_field", "payload_format": "raw"}));
        assert_eq!(payload(&raw, row).unwrap(), vec![0xb5, 0xe9, 0xa9]);
        let json = settings(serde_json::json!({"payload_column": "_field"}));
        assert!(payload(&json, row).unwrap_err().contains("not JSON"));
        let missing = settings(serde_json::json!({"payload_column": "nope"}));
        assert!(
            payload(&missing, row)
                .unwrap_err()
                .contains("payload_column")
        );
    }

    #[test]
    fn given_same_point_in_two_polls_when_hashed_should_get_same_id() {
        let a = csv::parse(CSV).unwrap();
        let other_poll = CSV
            .replace("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z")
            .replace(",0,", ",7,");
        let b = csv::parse(&other_poll).unwrap();
        let id = |blocks: &Vec<csv::Block>| {
            row_id(Row {
                block: &blocks[0],
                values: &blocks[0].rows[0],
            })
        };
        assert_eq!(id(&a), id(&b));
        let other_host = csv::parse(&CSV.replace("0042", "0043")).unwrap();
        assert_ne!(id(&a), id(&other_host));
    }
}
