//! The batch crossing into JavaScript: columns, not one object per message.
//!
//! `ExternalBatch` → [`BatchColumns`] (one `Buffer` of payloads, typed arrays for the rest) and
//! [`BatchResultColumns`] → `ExternalOutput`. The TS side reads them through the `Batch` view
//! and writes them with `BatchResultBuilder` (`ts/batch.ts`). Layout:
//!
//! | field | type | per message `i` |
//! |---|---|---|
//! | `payloads` | `Buffer` | all payloads back to back; with `jsonArray` it is JSON array text `[p0,p1,…]` (one `JSON.parse` gives every value) |
//! | `starts`, `lengths` | `Uint32Array` | byte range of payload `i` in `payloads` |
//! | `ids` | `BigUint64Array`, 2 per message | `ids[2i]` low 64 bits, `ids[2i+1]` high 64 bits of the u128 id |
//! | `offsets` | `Float64Array` (sinks only) | Iggy offset (exact below 2^53) |
//! | `timestamps` | `Float64Array` | µs since the epoch, `NaN` = none |
//! | `headers` | `Array<Record<string,string> \| null>`, only when some message has headers | string-kind headers |
//!
//! A result lists, per returned message, `from[j]` (the input index it continues, `-1` = a new
//! message, sources only) and `lengths[j]` (its new payload's byte length in `payloads`, taken in
//! order; `-1` = the input's payload unchanged, no bytes sent). Optional `ids` (2 per message,
//! both 0 = inherit), `timestamps` (`NaN` = inherit) and `headers` (`null` = inherit, `{}` = none)
//! override what the message inherits from `from`.

use std::collections::HashMap;

use iggy_connectors_engine::{ExternalBatch, ExternalOutput, OutputMessage, OutputPayload};
use napi::bindgen_prelude::{
    BigUint64Array, Buffer, Float64Array, Int32Array, Uint8Array, Uint32Array,
};
use napi_derive::napi;

/// A batch handed to a TS transform, in columns (see `ts/batch.ts` for the view over it).
#[napi(object)]
pub struct BatchColumns {
    pub connector_key: String,
    /// source | sink
    pub kind: String,
    /// The transform name from the config.
    pub transform: String,
    pub stream: String,
    pub topic: String,
    pub count: u32,
    /// All payloads back to back (JSON array text `[p0,p1,…]` when `jsonArray`).
    pub payloads: Buffer,
    pub starts: Uint32Array,
    pub lengths: Uint32Array,
    /// Two per message: low 64 bits, then high 64 bits of the u128 id.
    pub ids: BigUint64Array,
    /// Sinks only: the Iggy offsets.
    pub offsets: Option<Float64Array>,
    /// Microseconds since the epoch; NaN = none.
    pub timestamps: Float64Array,
    /// Only when some message has headers: string-kind headers per message (null = none).
    pub headers: Option<Vec<Option<HashMap<String, String>>>>,
    /// `payloads` is JSON array text.
    pub json_array: bool,
}

/// What a TS transform returns, in columns (built by `BatchResultBuilder` in `ts/batch.ts`).
#[napi(object)]
pub struct BatchResultColumns {
    /// New payloads back to back, in the order of the messages that have one.
    pub payloads: Uint8Array,
    /// Per returned message: the input index it continues, -1 = a new message (sources only).
    pub from: Int32Array,
    /// Per returned message: new payload length in `payloads`, -1 = the input's unchanged.
    pub lengths: Int32Array,
    /// Two per message (low, high 64 bits); both 0 = inherit from `from`.
    pub ids: Option<BigUint64Array>,
    /// Microseconds; NaN = inherit from `from`.
    pub timestamps: Option<Float64Array>,
    /// null = inherit from `from`, {} = no headers.
    pub headers: Option<Vec<Option<HashMap<String, String>>>>,
}

fn pairs(map: HashMap<String, String>) -> Vec<(String, String)> {
    map.into_iter().collect()
}

/// The columns JS sees for `batch`. Copies the payload buffer once (a memcpy per batch): the
/// engine keeps its own for the messages the transform keeps unchanged.
pub fn to_js(batch: &ExternalBatch) -> BatchColumns {
    let m = &batch.messages;
    let mut ids = Vec::with_capacity(m.len() * 2);
    for id in &m.ids {
        ids.push(*id as u64);
        ids.push((*id >> 64) as u64);
    }
    let headers = m.headers.iter().any(Option::is_some).then(|| {
        m.headers
            .iter()
            .map(|h| h.as_ref().map(|h| h.iter().cloned().collect()))
            .collect()
    });
    BatchColumns {
        connector_key: batch.connector_key.clone(),
        kind: batch.kind.to_owned(),
        transform: batch.transform.clone(),
        stream: batch.stream.clone(),
        topic: batch.topic.clone(),
        count: m.len() as u32,
        payloads: Buffer::from(m.payloads.clone()),
        starts: Uint32Array::new(m.starts.clone()),
        lengths: Uint32Array::new(m.lengths.clone()),
        ids: BigUint64Array::new(ids),
        offsets: m
            .offsets
            .as_ref()
            .map(|o| Float64Array::new(o.iter().map(|o| *o as f64).collect())),
        timestamps: Float64Array::new(
            m.timestamps
                .iter()
                .map(|t| t.map_or(f64::NAN, |t| t as f64))
                .collect(),
        ),
        headers,
        json_array: m.json_array,
    }
}

/// Reads a result; Err names the first malformed column or message. `from` indexes are
/// checked against the batch by the engine (`ExternalOutput::check`).
pub fn from_js(result: BatchResultColumns) -> Result<ExternalOutput, String> {
    let count = result.from.len();
    if result.lengths.len() != count {
        return Err(format!(
            "result has {count} 'from' entries but {} 'lengths'",
            result.lengths.len()
        ));
    }
    if let Some(ids) = &result.ids
        && ids.len() != count * 2
    {
        return Err(format!(
            "result 'ids' has {} entries, expected 2 per message ({})",
            ids.len(),
            count * 2
        ));
    }
    if let Some(timestamps) = &result.timestamps
        && timestamps.len() != count
    {
        return Err(format!(
            "result 'timestamps' has {} entries, expected {count}",
            timestamps.len()
        ));
    }
    let mut headers = result.headers.map(Vec::into_iter);
    if let Some(h) = &headers
        && h.len() != count
    {
        return Err(format!(
            "result 'headers' has {} entries, expected {count}",
            h.len()
        ));
    }
    let mut messages = Vec::with_capacity(count);
    let mut next: u64 = 0;
    for j in 0..count {
        let from = match result.from[j] {
            -1 => None,
            f if f >= 0 => Some(f as u32),
            f => {
                return Err(format!(
                    "result message #{j}: from = {f}, expected -1 or an index"
                ));
            }
        };
        let payload = match result.lengths[j] {
            -1 => OutputPayload::Unchanged,
            length if length >= 0 => {
                let start = u32::try_from(next)
                    .map_err(|_| "result payloads are limited to 4 GiB".to_owned())?;
                next += length as u64;
                OutputPayload::Range {
                    start,
                    length: length as u32,
                }
            }
            length => {
                return Err(format!(
                    "result message #{j}: length = {length}, expected -1 or a byte count"
                ));
            }
        };
        let id = result.ids.as_ref().and_then(|ids| {
            let id = u128::from(ids[2 * j]) | (u128::from(ids[2 * j + 1]) << 64);
            (id != 0).then_some(id)
        });
        let timestamp = result
            .timestamps
            .as_ref()
            .map(|t| t[j])
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| t as u64);
        let headers = headers
            .as_mut()
            .and_then(Iterator::next)
            .flatten()
            .map(|h| (!h.is_empty()).then(|| pairs(h)));
        messages.push(OutputMessage {
            from,
            payload,
            id,
            timestamp,
            headers,
        });
    }
    if next != result.payloads.len() as u64 {
        return Err(format!(
            "result 'lengths' add up to {next} bytes but 'payloads' holds {}",
            result.payloads.len()
        ));
    }
    Ok(ExternalOutput {
        payloads: result.payloads.to_vec(),
        messages,
    })
}
