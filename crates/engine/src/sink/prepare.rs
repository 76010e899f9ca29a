//! Turning one polled batch into what the plugin receives: a decode check per message (so a
//! malformed payload is caught here, counted and dead-lettered, instead of vanishing inside
//! the plugin), the transforms, and the per-message header bytes.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use iggy::prelude::{IggyMessage, PolledMessages};
use iggy_connectors_sdk::{Payload, Schema, codecs};

use super::Shared;
use crate::source::batch::string_headers;
use crate::stages::{self, ExternalBatch, ExternalMessage, ExternalStage, OnError, Stage};
use crate::transforms::{Outcome, TransformChain};

/// A message the plugin will receive: index into the polled batch, postcard header bytes and,
/// when transforms rewrote it, the new payload (a slice of one buffer per batch on the
/// built-in JSON path).
pub struct Ready {
    pub index: usize,
    pub headers: Vec<u8>,
    pub payload: Option<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Decode,
    Transform,
}

impl FailureKind {
    /// The `iggy-connectors-error-kind` header value of a dead-lettered message.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Decode => "decode",
            FailureKind::Transform => "transform",
        }
    }
}

pub struct Failure {
    pub index: usize,
    pub kind: FailureKind,
    pub reason: String,
}

#[derive(Default)]
pub struct Prepared {
    pub ready: Vec<Ready>,
    pub failed: Vec<Failure>,
    pub filtered: u64,
}

/// Checks that `bytes` decode under `schema` without building the decoded value (the plugin
/// decodes them itself): a JSON scan with no tree, a UTF-8 check for text, nothing for raw.
fn check(schema: Schema, bytes: &[u8]) -> Result<(), String> {
    codecs::validate(schema, bytes).map_err(|e| e.to_string())
}

/// The postcard bytes of a message's user headers (empty = none, as the ABI says).
fn header_bytes(message: &IggyMessage) -> Vec<u8> {
    match message.user_headers_map() {
        Ok(Some(map)) if !map.is_empty() => postcard::to_allocvec(&map).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Err = a transient failure of the whole batch (a TypeScript transform threw, or no handler
/// is registered yet): the caller retries it with backoff and must not commit it.
pub async fn prepare(
    shared: &Shared,
    schema: Schema,
    stream: &str,
    topic: &str,
    polled: &PolledMessages,
) -> Result<Prepared, String> {
    let mut out = Prepared::default();
    if shared.stages.is_empty() {
        for (index, message) in polled.messages.iter().enumerate() {
            match check(schema, &message.payload) {
                Ok(()) => out.ready.push(Ready {
                    index,
                    headers: header_bytes(message),
                    payload: None,
                }),
                Err(reason) => out.failed.push(Failure {
                    index,
                    kind: FailureKind::Decode,
                    reason,
                }),
            }
        }
        return Ok(out);
    }

    if let (Schema::Json, [Stage::Builtin(chain)]) = (schema, shared.stages.stages()) {
        return Ok(builtin_json(chain, polled));
    }

    let mut work: Vec<(usize, Payload)> = Vec::with_capacity(polled.messages.len());
    for (index, message) in polled.messages.iter().enumerate() {
        match codecs::decode(schema, &message.payload) {
            Ok(payload) => work.push((index, payload)),
            Err(error) => out.failed.push(Failure {
                index,
                kind: FailureKind::Decode,
                reason: error.to_string(),
            }),
        }
    }
    for stage in shared.stages.stages() {
        match stage {
            Stage::Builtin(chain) => {
                let before = work.len();
                work.retain_mut(|(_, p)| stages::apply_builtin(chain, p) == Outcome::Keep);
                out.filtered += (before - work.len()) as u64;
            }
            Stage::External(external_stage) => {
                work = external(
                    shared,
                    external_stage,
                    stream,
                    topic,
                    polled,
                    work,
                    &mut out,
                )
                .await?;
            }
        }
    }
    for (index, payload) in work {
        match payload.into_bytes() {
            Ok(bytes) => out.ready.push(Ready {
                index,
                headers: header_bytes(&polled.messages[index]),
                payload: Some(Bytes::from(bytes)),
            }),
            Err(error) => out.failed.push(Failure {
                index,
                kind: FailureKind::Transform,
                reason: error.to_string(),
            }),
        }
    }
    out.ready.sort_by_key(|r| r.index);
    Ok(out)
}

/// The common case of a JSON stream with built-in transforms only: each payload is checked,
/// transformed and re-encoded in one pass ([`stages::apply_builtin_json`]: one parse serves as
/// the decode check too), into one output buffer for the whole batch.
fn builtin_json(chain: &TransformChain, polled: &PolledMessages) -> Prepared {
    let mut out = Prepared::default();
    let size: usize = polled.messages.iter().map(|m| m.payload.len() + 32).sum();
    let mut buffer = Vec::with_capacity(size);
    let mut spans: Vec<(usize, Range<usize>)> = Vec::with_capacity(polled.messages.len());
    for (index, message) in polled.messages.iter().enumerate() {
        let start = buffer.len();
        match stages::apply_builtin_json(chain, &message.payload, &mut buffer) {
            Ok(Outcome::Keep) => spans.push((index, start..buffer.len())),
            Ok(Outcome::Drop) => out.filtered += 1,
            Err(error) => out.failed.push(Failure {
                index,
                kind: FailureKind::Decode,
                reason: error.to_string(),
            }),
        }
    }
    let buffer = Bytes::from(buffer);
    out.ready = spans
        .into_iter()
        .map(|(index, span)| Ready {
            index,
            headers: header_bytes(&polled.messages[index]),
            payload: Some(buffer.slice(span)),
        })
        .collect();
    out
}

/// Runs a TypeScript transform; messages come back matched by offset. A throwing handler is
/// a transient failure of the batch (Err), unless the table says `on_error = "dead_letter"`:
/// then the batch is run again one message at a time and only the messages that still throw
/// fail (as transform errors, dead-lettered).
async fn external(
    shared: &Shared,
    stage: &ExternalStage,
    stream: &str,
    topic: &str,
    polled: &PolledMessages,
    work: Vec<(usize, Payload)>,
    out: &mut Prepared,
) -> Result<Vec<(usize, Payload)>, String> {
    if work.is_empty() {
        return Ok(work);
    }
    let name = stage.name.as_str();
    let Some(hook) = &shared.ctx.hook else {
        return Err(format!(
            "transform '{name}' is not built in and no TypeScript transform handler is registered"
        ));
    };
    let kind = work[0].1.schema();
    let mut by_offset = HashMap::with_capacity(work.len());
    let mut messages = Vec::with_capacity(work.len());
    for (index, payload) in work {
        let message = &polled.messages[index];
        let bytes = match stages::external_bytes(payload) {
            Ok(bytes) => bytes,
            Err(reason) => {
                out.failed.push(Failure {
                    index,
                    kind: FailureKind::Transform,
                    reason,
                });
                continue;
            }
        };
        by_offset.insert(message.header.offset, index);
        messages.push(ExternalMessage {
            id: message.header.id,
            offset: Some(message.header.offset),
            timestamp: Some(message.header.timestamp),
            headers: message
                .user_headers_map()
                .ok()
                .flatten()
                .map(|h| string_headers(&h)),
            payload: bytes,
        });
    }
    let sent = messages.len();
    let batch = |messages: Vec<ExternalMessage>| ExternalBatch {
        connector_key: shared.ctx.config.key.clone(),
        kind: "sink",
        transform: name.to_owned(),
        stream: stream.to_owned(),
        topic: topic.to_owned(),
        messages,
    };
    let kept = match hook.transform(batch(messages.clone())).await {
        Ok(kept) => kept,
        Err(error) if stage.on_error == OnError::Retry => {
            return Err(format!("transform '{name}' failed: {error}"));
        }
        Err(error) => {
            shared.ctx.log.warn(
                super::TARGET,
                format!("transform '{name}' failed on the batch ({error}); running it message by message"),
            );
            let mut kept = Vec::with_capacity(messages.len());
            for message in messages {
                let offset = message.offset;
                match hook.transform(batch(vec![message])).await {
                    Ok(one) => kept.extend(one),
                    Err(error) => {
                        if let Some(index) = offset.and_then(|o| by_offset.remove(&o)) {
                            out.failed.push(Failure {
                                index,
                                kind: FailureKind::Transform,
                                reason: format!("transform '{name}' failed: {error}"),
                            });
                        }
                    }
                }
            }
            kept
        }
    };
    // Messages that failed alone (only with on_error = "dead_letter") are already failures.
    let isolated = sent - by_offset.len();
    let mut result = Vec::with_capacity(kept.len());
    let mut bad = 0usize;
    for message in kept {
        let Some(index) = message.offset.and_then(|o| by_offset.remove(&o)) else {
            continue;
        };
        match stages::from_external(kind, message.payload) {
            Ok(payload) => result.push((index, payload)),
            Err(reason) => {
                bad += 1;
                out.failed.push(Failure {
                    index,
                    kind: FailureKind::Transform,
                    reason: format!("transform '{name}' returned a bad payload: {reason}"),
                });
            }
        }
    }
    out.filtered += sent.saturating_sub(result.len() + bad + isolated) as u64;
    Ok(result)
}
