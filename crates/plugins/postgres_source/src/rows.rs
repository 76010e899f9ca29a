//! Result rows → messages (polling mode). One pass per row, JSON written straight into the
//! payload buffer; the column plan (keys already JSON-escaped, decoders chosen) is built once per
//! query shape, not per row.

use iggy_connectors_sdk::ProducedMessage;
use tokio_postgres::{Column, Row};

use crate::config::{PayloadFormat, Settings, to_snake_case};
use crate::decode::{Kind, RawValue, to_text, write_json, write_json_str};
use crate::error::{Error, Result};

pub struct ColumnPlan {
    pub name: String,
    /// `"key":` with the (optionally snake_cased) name, pre-escaped.
    key: Vec<u8>,
    pub kind: Kind,
}

/// How to turn rows of one query shape into messages.
pub struct RowPlan {
    pub columns: Vec<ColumnPlan>,
    pub tracking: Option<usize>,
    pub pk: Option<usize>,
    pub payload: Option<usize>,
}

impl RowPlan {
    /// `columns` are the statement's result columns; `cast` tells which ones the query selects
    /// as `::text`, so their decoder is the text one.
    pub fn new(columns: &[Column], settings: &Settings) -> RowPlan {
        let columns: Vec<ColumnPlan> = columns
            .iter()
            .map(|column| {
                let kind = match Kind::of(column.type_()) {
                    Kind::CastText => Kind::after_cast(column.type_()),
                    kind => kind,
                };
                let key_name = if settings.snake_case_columns {
                    to_snake_case(column.name())
                } else {
                    column.name().to_string()
                };
                let mut key = Vec::with_capacity(key_name.len() + 3);
                write_json_str(&mut key, &key_name);
                key.push(b':');
                ColumnPlan {
                    name: column.name().to_string(),
                    key,
                    kind,
                }
            })
            .collect();
        let find = |name: &str| columns.iter().position(|c| c.name == name);
        RowPlan {
            tracking: find(&settings.tracking_column),
            pk: find(&settings.primary_key_column),
            payload: settings.payload_column.as_deref().and_then(find),
            columns,
        }
    }
}

/// One table's rows turned into messages, plus what Ack must commit.
#[derive(Default)]
pub struct Encoded {
    pub messages: Vec<ProducedMessage>,
    /// Tracking value of the last row that had one (rows are ordered ascending).
    pub cursor: Option<String>,
    /// Keys for delete_after_read / processed_column.
    pub keys: Vec<String>,
}

/// The record envelope before `data`: `{"table_name":..,"operation_type":"SELECT","timestamp":..,"data":`.
pub fn envelope_prefix(table: &str, operation: &str, timestamp: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + table.len());
    out.extend_from_slice(b"{\"table_name\":");
    write_json_str(&mut out, table);
    out.extend_from_slice(b",\"operation_type\":");
    write_json_str(&mut out, operation);
    out.extend_from_slice(b",\"timestamp\":");
    write_json_str(&mut out, timestamp);
    out.extend_from_slice(b",\"data\":");
    out
}

pub fn encode_rows(
    rows: &[Row],
    plan: &RowPlan,
    settings: &Settings,
    prefix: &[u8],
    origin_timestamp_us: u64,
    collect_keys: bool,
) -> Result<Encoded> {
    let mut encoded = Encoded {
        messages: Vec::with_capacity(rows.len()),
        ..Default::default()
    };
    let mut size_hint = 256;
    for row in rows {
        let payload = match plan.payload {
            Some(index) => payload_column(
                row,
                index,
                &plan.columns[index].kind,
                settings.payload_format,
            )?,
            None => record(row, plan, settings.include_metadata, prefix, size_hint)?,
        };
        size_hint = payload.len() + 16;
        if let Some(index) = plan.tracking
            && let Some(value) = to_text(&plan.columns[index].kind, raw(row, index)?)
        {
            encoded.cursor = Some(value);
        }
        if collect_keys
            && let Some(index) = plan.pk
            && let Some(key) = to_text(&plan.columns[index].kind, raw(row, index)?)
        {
            encoded.keys.push(key);
        }
        encoded.messages.push(ProducedMessage {
            id: Some(uuid::Uuid::new_v4().as_u128()),
            checksum: None,
            timestamp: None,
            origin_timestamp: Some(origin_timestamp_us),
            headers: None,
            payload,
        });
    }
    Ok(encoded)
}

fn raw(row: &Row, index: usize) -> Result<Option<&[u8]>> {
    row.try_get::<_, Option<RawValue>>(index)
        .map(|v| v.map(|v| v.0))
        .map_err(|e| Error::Record(format!("cannot read column {index}: {e}")))
}

fn record(
    row: &Row,
    plan: &RowPlan,
    envelope: bool,
    prefix: &[u8],
    hint: usize,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(hint);
    if envelope {
        out.extend_from_slice(prefix);
    }
    out.push(b'{');
    for (index, column) in plan.columns.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&column.key);
        write_json(&mut out, &column.kind, raw(row, index)?)
            .map_err(|e| Error::Record(format!("column {:?}: {e}", column.name)))?;
    }
    out.push(b'}');
    if envelope {
        out.extend_from_slice(b",\"old_data\":null}");
    }
    Ok(out)
}

fn payload_column(row: &Row, index: usize, kind: &Kind, format: PayloadFormat) -> Result<Vec<u8>> {
    let value = raw(row, index)?;
    let as_json = |value: Option<&[u8]>| -> Result<Vec<u8>> {
        Ok(match (kind, value) {
            (_, None) => b"null".to_vec(),
            // A text column is taken to hold JSON text already.
            (Kind::Text | Kind::Json, Some(b)) => b.to_vec(),
            (Kind::Jsonb, Some(b)) => b.get(1..).unwrap_or_default().to_vec(),
            (kind, value) => {
                let mut out = Vec::new();
                write_json(&mut out, kind, value).map_err(|e| Error::Record(e.to_string()))?;
                out
            }
        })
    };
    Ok(match format {
        PayloadFormat::Bytea => value.map(<[u8]>::to_vec).unwrap_or_default(),
        PayloadFormat::Text => match kind {
            Kind::Text | Kind::Json => value.map(<[u8]>::to_vec).unwrap_or_default(),
            Kind::Jsonb => value.and_then(|b| b.get(1..)).unwrap_or_default().to_vec(),
            kind => to_text(kind, value)
                .map(String::into_bytes)
                .unwrap_or_default(),
        },
        PayloadFormat::JsonDirect => as_json(value)?,
        PayloadFormat::JsonBytes => match kind {
            Kind::Bytea => value.map(<[u8]>::to_vec).unwrap_or_default(),
            _ => as_json(value)?,
        },
        PayloadFormat::JsonRecord => unreachable!("no payload column in record mode"),
    })
}
