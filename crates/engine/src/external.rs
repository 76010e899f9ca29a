//! The columnar batch an external (TypeScript) transform receives, and what it hands back.
//!
//! # Format
//! A batch crosses into JavaScript as a handful of arrays, not one object per message, so the
//! crossing costs per batch:
//! - `payloads`: every payload back to back in one buffer. With `json_array` (schema `json`,
//!   every payload valid JSON) the buffer is laid out as JSON array text, `[p0,p1,…,pn]`, so
//!   one `JSON.parse` of the whole buffer yields every message's value;
//! - `starts[i]`, `lengths[i]`: where message `i`'s payload lies in `payloads` (bytes);
//! - `ids[i]` (u128), `offsets[i]` (sinks only: the Iggy offset), `timestamps[i]` (µs, may be
//!   absent), `headers[i]` (string-kind headers only, absent when the message has none).
//!
//! The result ([`ExternalOutput`]) is one buffer of new payloads plus, per returned message,
//! the input message it continues (`from`) and either a range in that buffer or "unchanged":
//! a message kept as it is costs no bytes at all. Metadata is inherited from `from` unless
//! overridden, so a transform that only filters or edits payloads sends back two integers per
//! message.

/// Messages in columns; see the module docs for the layout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalMessages {
    pub payloads: Vec<u8>,
    pub starts: Vec<u32>,
    pub lengths: Vec<u32>,
    pub ids: Vec<u128>,
    /// Sinks only (`None` for a source's batch).
    pub offsets: Option<Vec<u64>>,
    /// Microseconds.
    pub timestamps: Vec<Option<u64>>,
    /// String-kind headers only; `None` = the message has none.
    pub headers: Vec<Option<Vec<(String, String)>>>,
    /// `payloads` is JSON array text (`[p0,p1,…]`).
    pub json_array: bool,
}

/// One message, borrowed or owned payload, as pushed into [`ExternalMessages`] or resolved
/// from an [`ExternalOutput`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalMessage {
    pub id: u128,
    /// Sinks only.
    pub offset: Option<u64>,
    /// Microseconds.
    pub timestamp: Option<u64>,
    /// String-kind headers only.
    pub headers: Option<Vec<(String, String)>>,
    /// The payload bytes (JSON text for schema json).
    pub payload: Vec<u8>,
}

impl ExternalMessages {
    /// `json_array`: lay the payloads out as JSON array text (only when every payload pushed
    /// will be valid JSON). `with_offsets`: a sink's batch.
    pub fn new(capacity: usize, json_array: bool, with_offsets: bool) -> Self {
        let mut payloads = Vec::with_capacity(capacity * 64);
        if json_array {
            payloads.push(b'[');
        }
        Self {
            payloads,
            starts: Vec::with_capacity(capacity),
            lengths: Vec::with_capacity(capacity),
            ids: Vec::with_capacity(capacity),
            offsets: with_offsets.then(|| Vec::with_capacity(capacity)),
            timestamps: Vec::with_capacity(capacity),
            headers: Vec::with_capacity(capacity),
            json_array,
        }
    }

    /// Appends one message; Err when the batch's payloads would pass 4 GiB (the u32 ranges).
    pub fn push(
        &mut self,
        id: u128,
        offset: Option<u64>,
        timestamp: Option<u64>,
        headers: Option<Vec<(String, String)>>,
        payload: &[u8],
    ) -> Result<(), String> {
        self.push_with(id, offset, timestamp, headers, |buffer| {
            buffer.extend_from_slice(payload);
            Ok(())
        })
    }

    /// Appends one message whose payload `write` appends to the buffer (so an encoder writes
    /// in place, with no buffer per message). On Err nothing of the message stays.
    pub fn push_with(
        &mut self,
        id: u128,
        offset: Option<u64>,
        timestamp: Option<u64>,
        headers: Option<Vec<(String, String)>>,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), String>,
    ) -> Result<(), String> {
        let before = self.payloads.len();
        if self.json_array && !self.starts.is_empty() {
            self.payloads.push(b',');
        }
        let start = self.payloads.len();
        let written = write(&mut self.payloads).and_then(|()| {
            // Ranges are u32 (they cross as Uint32Array): the whole buffer must fit.
            u32::try_from(self.payloads.len()).map_err(|_| {
                "a batch handed to a TypeScript transform is limited to 4 GiB".to_owned()
            })
        });
        let end = match written {
            Ok(end) => end,
            Err(error) => {
                self.payloads.truncate(before);
                return Err(error);
            }
        };
        // start <= end <= u32::MAX
        let start = start as u32;
        let length = end - start;
        self.starts.push(start);
        self.lengths.push(length);
        self.ids.push(id);
        if let Some(offsets) = &mut self.offsets {
            offsets.push(offset.unwrap_or_default());
        }
        self.timestamps.push(timestamp);
        self.headers.push(headers.filter(|h| !h.is_empty()));
        Ok(())
    }

    /// Closes the JSON array text (call once, after the last push).
    pub fn finish(mut self) -> Self {
        if self.json_array {
            self.payloads.push(b']');
        }
        self
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    pub fn payload(&self, index: usize) -> &[u8] {
        let start = self.starts[index] as usize;
        &self.payloads[start..start + self.lengths[index] as usize]
    }

    /// Message `index` alone, as a batch of one (the dead-letter path isolates failures).
    pub fn single(&self, index: usize) -> Self {
        let mut one = Self::new(1, self.json_array, self.offsets.is_some());
        // Cannot fail: the payload already fitted in a bigger batch.
        let _ = one.push(
            self.ids[index],
            self.offsets.as_ref().map(|o| o[index]),
            self.timestamps[index],
            self.headers[index].clone(),
            self.payload(index),
        );
        one.finish()
    }

    /// Message `index` as an owned message.
    pub fn message(&self, index: usize) -> ExternalMessage {
        ExternalMessage {
            id: self.ids[index],
            offset: self.offsets.as_ref().map(|o| o[index]),
            timestamp: self.timestamps[index],
            headers: self.headers[index].clone(),
            payload: self.payload(index).to_vec(),
        }
    }
}

/// A batch for an external transform: where it comes from, and its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalBatch {
    pub connector_key: String,
    /// "source" | "sink"
    pub kind: &'static str,
    pub transform: String,
    pub stream: String,
    pub topic: String,
    pub messages: ExternalMessages,
}

/// Where a returned message's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputPayload {
    /// The payload of the input message it continues (`from`), byte for byte.
    Unchanged,
    /// `start..start + length` in [`ExternalOutput::payloads`].
    Range { start: u32, length: u32 },
}

/// One message an external transform returned.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputMessage {
    /// The input message this one continues (index in the batch); `None` = a new message
    /// (sources only: a sink cannot invent messages, it has no offset to commit for them).
    pub from: Option<u32>,
    pub payload: OutputPayload,
    /// `None` = the input message's (a new message: generated by Iggy).
    pub id: Option<u128>,
    /// `None` = the input message's.
    pub timestamp: Option<u64>,
    /// `None` = the input message's; `Some(None)` = no headers.
    pub headers: Option<Option<Vec<(String, String)>>>,
}

impl OutputMessage {
    /// The input message `from`, unchanged.
    pub fn keep(from: u32) -> Self {
        Self {
            from: Some(from),
            payload: OutputPayload::Unchanged,
            id: None,
            timestamp: None,
            headers: None,
        }
    }
}

/// What an external transform returned: the messages to keep, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalOutput {
    pub payloads: Vec<u8>,
    pub messages: Vec<OutputMessage>,
}

impl ExternalOutput {
    /// Every one of `len` input messages, unchanged.
    pub fn keep_all(len: usize) -> Self {
        Self {
            payloads: Vec::new(),
            messages: (0..len as u32).map(OutputMessage::keep).collect(),
        }
    }

    /// Checks every `from` and range against `input`; Err names the first bad message.
    pub fn check(&self, input: &ExternalMessages) -> Result<(), String> {
        for (i, m) in self.messages.iter().enumerate() {
            if let Some(from) = m.from
                && from as usize >= input.len()
            {
                return Err(format!(
                    "returned message #{i} continues input message #{from}, but the batch has {} messages",
                    input.len()
                ));
            }
            match m.payload {
                OutputPayload::Unchanged if m.from.is_none() => {
                    return Err(format!(
                        "returned message #{i} keeps its payload unchanged but continues no input message"
                    ));
                }
                OutputPayload::Range { start, length }
                    if start as usize + length as usize > self.payloads.len() =>
                {
                    return Err(format!(
                        "returned message #{i}: payload range {start}+{length} is outside the {}-byte result buffer",
                        self.payloads.len()
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The payload of returned message `index` (call [`check`](Self::check) first).
    pub fn payload<'a>(&'a self, index: usize, input: &'a ExternalMessages) -> &'a [u8] {
        let m = &self.messages[index];
        match (m.payload, m.from) {
            (OutputPayload::Range { start, length }, _) => {
                &self.payloads[start as usize..start as usize + length as usize]
            }
            (OutputPayload::Unchanged, Some(from)) => input.payload(from as usize),
            (OutputPayload::Unchanged, None) => &[],
        }
    }

    /// Every returned message as an owned message, metadata inherited where not overridden.
    pub fn resolve(&self, input: &ExternalMessages) -> Result<Vec<ExternalMessage>, String> {
        self.check(input)?;
        Ok((0..self.messages.len())
            .map(|i| {
                let m = &self.messages[i];
                let from = m.from.map(|f| f as usize);
                ExternalMessage {
                    id: m.id.or(from.map(|f| input.ids[f])).unwrap_or(0),
                    offset: from.and_then(|f| input.offsets.as_ref().map(|o| o[f])),
                    timestamp: m.timestamp.or(from.and_then(|f| input.timestamps[f])),
                    headers: match &m.headers {
                        Some(set) => set.clone(),
                        None => from.and_then(|f| input.headers[f].clone()),
                    },
                    payload: self.payload(i, input).to_vec(),
                }
            })
            .collect())
    }
}

/// Runs transforms the engine does not know (TypeScript ones). Returns the messages to keep.
#[async_trait::async_trait]
pub trait ExternalTransform: Send + Sync {
    async fn transform(&self, batch: &ExternalBatch) -> Result<ExternalOutput, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> ExternalMessages {
        let mut m = ExternalMessages::new(3, true, true);
        m.push(1, Some(10), Some(100), None, br#"{"a":1}"#).unwrap();
        m.push(
            2,
            Some(11),
            None,
            Some(vec![("k".into(), "v".into())]),
            br#""x""#,
        )
        .unwrap();
        m.push(u128::MAX, Some(12), Some(300), Some(vec![]), b"[]")
            .unwrap();
        m.finish()
    }

    #[test]
    fn json_batches_are_one_json_array_text() {
        let m = batch();
        let all: serde_json::Value = serde_json::from_slice(&m.payloads).unwrap();
        assert_eq!(all, serde_json::json!([{"a": 1}, "x", []]));
        assert_eq!(m.payload(1), br#""x""#);
        assert_eq!(m.headers[2], None, "empty headers are no headers");
        assert_eq!(m.single(2).payloads, b"[[]]");
    }

    #[test]
    fn outputs_inherit_metadata_and_reuse_unchanged_payloads() {
        let input = batch();
        let output = ExternalOutput {
            payloads: b"hello".to_vec(),
            messages: vec![
                OutputMessage::keep(2),
                OutputMessage {
                    from: Some(0),
                    payload: OutputPayload::Range {
                        start: 0,
                        length: 5,
                    },
                    id: Some(7),
                    timestamp: None,
                    headers: Some(None),
                },
            ],
        };
        let resolved = output.resolve(&input).unwrap();
        assert_eq!(resolved[0], input.message(2));
        assert_eq!(resolved[1].id, 7);
        assert_eq!(resolved[1].offset, Some(10));
        assert_eq!(resolved[1].timestamp, Some(100));
        assert_eq!(resolved[1].payload, b"hello");
    }

    #[test]
    fn bad_outputs_are_named() {
        let input = batch();
        let out = |m: OutputMessage| ExternalOutput {
            payloads: vec![0; 4],
            messages: vec![OutputMessage::keep(0), m],
        };
        let err = out(OutputMessage::keep(3)).check(&input).unwrap_err();
        assert!(err.contains("#1 continues input message #3"), "{err}");
        let mut new = OutputMessage::keep(0);
        new.from = None;
        assert!(
            out(new)
                .check(&input)
                .unwrap_err()
                .contains("continues no input")
        );
        let mut long = OutputMessage::keep(0);
        long.payload = OutputPayload::Range {
            start: 2,
            length: 3,
        };
        assert!(
            out(long)
                .check(&input)
                .unwrap_err()
                .contains("outside the 4-byte")
        );
    }
}
