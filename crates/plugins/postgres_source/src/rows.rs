//! Result rows → messages (polling mode). One pass per row, JSON written straight into the
//! payload buffer; the column plan (keys already JSON-escaped, decoders chosen) is built once per
//! query shape, not per row.
//!
//! Message ids are derived from the row's identity (issue 20), so a row read again after a crash
//! or a Nack (its batch reached Iggy, the cursor was not committed) carries the same id and an
//! id-keyed sink drops the replay. See [`message_id`] for the derivation.

use iggy_connectors_sdk::ProducedMessage;
use tokio_postgres::{Column, Row};

use iggy_connectors_message_id::IdBuilder;

use crate::config::{MessageIds, PayloadFormat, Settings, to_snake_case};
use crate::decode::{Kind, RawValue, to_text, write_json, write_json_str};
use crate::error::{Error, Result};

pub struct ColumnPlan {
    pub name: String,
    /// `"key":` with the (optionally snake_cased) name, pre-escaped.
    key: Vec<u8>,
    pub kind: Kind,
}

/// Domain of ids of table rows: (schema, table, tracking value, key value).
pub const TABLE_ID_DOMAIN: &str = "postgres_source/polling/v1";
/// Domain of ids of `custom_query` rows: (table, tracking value, key value, row content).
pub const CUSTOM_ID_DOMAIN: &str = "postgres_source/custom_query/v1";

/// Where a row's message id comes from besides its own values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdScope {
    pub domain: &'static str,
    /// The table's schema and name as the catalog has them (`""` and the configured name for a
    /// custom query), so `users` and `public.users` in `tables` give the same ids.
    pub schema: String,
    pub table: String,
    /// The key column is known to be unique (a table's paging key): its value alone identifies
    /// the row. Otherwise (custom queries) the row's content is part of the id too.
    pub unique_key: bool,
}

/// How to turn rows of one query shape into messages.
pub struct RowPlan {
    pub columns: Vec<ColumnPlan>,
    pub tracking: Option<usize>,
    pub pk: Option<usize>,
    pub payload: Option<usize>,
    pub id_scope: IdScope,
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
            id_scope: IdScope {
                domain: CUSTOM_ID_DOMAIN,
                schema: String::new(),
                table: String::new(),
                unique_key: false,
            },
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
        let tracking = match plan.tracking {
            Some(index) => to_text(&plan.columns[index].kind, raw(row, index)?),
            None => None,
        };
        // The key column's value when it is another column than the tracking one.
        let key = match plan.pk {
            Some(index) if plan.pk != plan.tracking => {
                to_text(&plan.columns[index].kind, raw(row, index)?)
            }
            _ => None,
        };
        let id = match settings.message_ids {
            MessageIds::Random => uuid::Uuid::new_v4().as_u128(),
            MessageIds::Deterministic => {
                // The data without the envelope, whose timestamp is the poll time.
                let content = match plan.payload {
                    None if settings.include_metadata => &payload[prefix.len()..],
                    _ => &payload[..],
                };
                message_id(plan, tracking.as_deref(), key.as_deref(), content)
            }
        };
        if collect_keys && plan.pk.is_some() {
            let value = if plan.pk == plan.tracking {
                tracking.clone()
            } else {
                key.clone()
            };
            if let Some(value) = value {
                encoded.keys.push(value);
            }
        }
        if tracking.is_some() {
            encoded.cursor = tracking;
        }
        encoded.messages.push(ProducedMessage {
            id: Some(id),
            checksum: None,
            timestamp: None,
            origin_timestamp: Some(origin_timestamp_us),
            headers: None,
            payload,
        });
    }
    Ok(encoded)
}

/// A row's message id: xxh3-128 of (domain, schema, table, tracking value, key value), as a
/// UUIDv8 (`iggy_connectors_message_id`). The key value is present only when the key column is
/// another column than the tracking one (keyed paging). The row's content (its JSON data or
/// payload column) is added when the values above may not identify it: a custom query (its
/// columns are not known to be unique) or a NULL key.
pub fn message_id(
    plan: &RowPlan,
    tracking: Option<&str>,
    key: Option<&str>,
    content: &[u8],
) -> u128 {
    let scope = &plan.id_scope;
    let mut id = IdBuilder::new(scope.domain);
    id.part(Some(scope.schema.as_bytes()))
        .part(Some(scope.table.as_bytes()))
        .part(tracking.map(str::as_bytes))
        .part(key.map(str::as_bytes));
    let key_value = if plan.pk.is_some() && plan.pk != plan.tracking {
        key
    } else {
        tracking
    };
    if !scope.unique_key || key_value.is_none() {
        id.part(Some(content));
    }
    id.finish()
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
