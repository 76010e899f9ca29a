//! Turning one polled batch into what the plugin receives: a decode check per message (so a
//! malformed payload is caught here, counted and dead-lettered, instead of vanishing inside
//! the plugin), the transforms, and the per-message header bytes.

use iggy::prelude::{IggyMessage, PolledMessages};
use iggy_connectors_sdk::{Payload, Schema, codecs};

use super::Shared;
use crate::source::batch::string_headers;
use crate::stages::{
    self, ExternalBatch, ExternalMessages, ExternalOutput, ExternalStage, OnError, OutputPayload,
    Stage,
};
use crate::transforms::Outcome;

/// A message the plugin will receive: index into the polled batch, postcard header bytes and,
/// when transforms rewrote it, the new payload.
pub struct Ready {
    pub index: usize,
    pub headers: Vec<u8>,
    pub payload: Option<Vec<u8>>,
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

/// A message on its way through the stages. Schemas whose wire bytes TypeScript transforms
/// see as they are (JSON, text, raw) stay bytes until a built-in stage needs the decoded tree,
/// so a TypeScript-only pipeline never builds one: the polled bytes go to JS as they are, and
/// what JS returns is checked, not decoded.
enum Body {
    /// The polled bytes, untouched.
    Polled,
    /// Bytes a TypeScript transform returned (checked valid for the schema).
    Bytes(Vec<u8>),
    Decoded(Payload),
}

impl Body {
    fn decoded(&mut self, schema: Schema, polled: &[u8]) -> Result<&mut Payload, String> {
        let payload = match std::mem::replace(self, Body::Polled) {
            Body::Polled => codecs::decode(schema, polled),
            Body::Bytes(bytes) => codecs::decode_owned(schema, bytes),
            Body::Decoded(payload) => Ok(payload),
        }
        .map_err(|e| e.to_string())?;
        *self = Body::Decoded(payload);
        match self {
            Body::Decoded(payload) => Ok(payload),
            _ => unreachable!("just set"),
        }
    }

    fn write_external(&self, polled: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Body::Polled => out.extend_from_slice(polled),
            Body::Bytes(bytes) => out.extend_from_slice(bytes),
            Body::Decoded(payload) => stages::write_external(payload, out)?,
        }
        Ok(())
    }

    /// What the plugin receives: `None` = the polled bytes.
    fn into_bytes(self) -> Result<Option<Vec<u8>>, String> {
        match self {
            Body::Polled => Ok(None),
            Body::Bytes(bytes) => Ok(Some(bytes)),
            Body::Decoded(payload) => payload.into_bytes().map(Some).map_err(|e| e.to_string()),
        }
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

    let lazy = stages::external_sees_wire_bytes(schema);
    let mut work: Vec<(usize, Body)> = Vec::with_capacity(polled.messages.len());
    for (index, message) in polled.messages.iter().enumerate() {
        let body = if lazy {
            check(schema, &message.payload).map(|()| Body::Polled)
        } else {
            codecs::decode(schema, &message.payload)
                .map(Body::Decoded)
                .map_err(|e| e.to_string())
        };
        match body {
            Ok(body) => work.push((index, body)),
            Err(reason) => out.failed.push(Failure {
                index,
                kind: FailureKind::Decode,
                reason,
            }),
        }
    }
    for stage in shared.stages.stages() {
        match stage {
            Stage::Builtin(chain) => {
                let before = work.len();
                let mut kept = Vec::with_capacity(before);
                for (index, mut body) in work {
                    match body.decoded(schema, &polled.messages[index].payload) {
                        Ok(payload) => {
                            if stages::apply_builtin(chain, payload) == Outcome::Keep {
                                kept.push((index, body));
                            }
                        }
                        Err(reason) => out.failed.push(Failure {
                            index,
                            kind: FailureKind::Transform,
                            reason,
                        }),
                    }
                }
                out.filtered += (before - kept.len()) as u64;
                work = kept;
            }
            Stage::External(external_stage) => {
                work = external(
                    shared,
                    external_stage,
                    (schema, stream, topic),
                    polled,
                    work,
                    &mut out,
                )
                .await?;
            }
        }
    }
    for (index, body) in work {
        match body.into_bytes() {
            Ok(payload) => out.ready.push(Ready {
                index,
                headers: header_bytes(&polled.messages[index]),
                payload,
            }),
            Err(reason) => out.failed.push(Failure {
                index,
                kind: FailureKind::Transform,
                reason,
            }),
        }
    }
    out.ready.sort_by_key(|r| r.index);
    Ok(out)
}

/// Runs a TypeScript transform; returned messages are matched to the polled ones by their
/// index in the batch (`from`). A throwing handler is a transient failure of the batch (Err),
/// unless the table says `on_error = "dead_letter"`: then the batch is run again one message
/// at a time and only the messages that still throw fail (as transform errors, dead-lettered).
async fn external(
    shared: &Shared,
    stage: &ExternalStage,
    (schema, stream, topic): (Schema, &str, &str),
    polled: &PolledMessages,
    work: Vec<(usize, Body)>,
    out: &mut Prepared,
) -> Result<Vec<(usize, Body)>, String> {
    if work.is_empty() {
        return Ok(work);
    }
    let name = stage.name.as_str();
    let Some(hook) = &shared.ctx.hook else {
        return Err(format!(
            "transform '{name}' is not built in and no TypeScript transform handler is registered"
        ));
    };
    let mut messages = ExternalMessages::new(work.len(), schema == Schema::Json, true);
    // `sent[i]` is the polled index and body of the batch's message i.
    let mut sent: Vec<Option<(usize, Body)>> = Vec::with_capacity(work.len());
    for (index, body) in work {
        let message = &polled.messages[index];
        let pushed = messages.push_with(
            message.header.id,
            Some(message.header.offset),
            Some(message.header.timestamp),
            message
                .user_headers_map()
                .ok()
                .flatten()
                .map(|h| string_headers(&h)),
            |buffer| body.write_external(&message.payload, buffer),
        );
        match pushed {
            Ok(()) => sent.push(Some((index, body))),
            Err(reason) => out.failed.push(Failure {
                index,
                kind: FailureKind::Transform,
                reason,
            }),
        }
    }
    let batch = |messages: ExternalMessages| ExternalBatch {
        connector_key: shared.ctx.config.key.clone(),
        kind: "sink",
        transform: name.to_owned(),
        stream: stream.to_owned(),
        topic: topic.to_owned(),
        messages,
    };
    let whole = batch(messages.finish());
    // (output, the batch it answers, which message of `sent` that batch's message 0 is)
    let outputs: Vec<(ExternalOutput, ExternalBatch, Option<usize>)> = match hook
        .transform(&whole)
        .await
    {
        Ok(output) => vec![(output, whole, None)],
        Err(error) if stage.on_error == OnError::Retry => {
            return Err(format!("transform '{name}' failed: {error}"));
        }
        Err(error) => {
            shared.ctx.log.warn(
                    super::TARGET,
                    format!("transform '{name}' failed on the batch ({error}); running it message by message"),
                );
            let mut outputs = Vec::with_capacity(sent.len());
            for (i, entry) in sent.iter_mut().enumerate() {
                let one = batch(whole.messages.single(i));
                match hook.transform(&one).await {
                    Ok(output) => outputs.push((output, one, Some(i))),
                    Err(error) => {
                        if let Some((index, _)) = entry.take() {
                            out.failed.push(Failure {
                                index,
                                kind: FailureKind::Transform,
                                reason: format!("transform '{name}' failed: {error}"),
                            });
                        }
                    }
                }
            }
            outputs
        }
    };
    let mut result = Vec::with_capacity(sent.len());
    let mut ignored = 0usize;
    for (output, answered, single) in outputs {
        if let Err(error) = output.check(&answered.messages) {
            // A transform that returns nonsense is broken code, not a transient failure:
            // retrying cannot help, and dropping would lose messages. Fail the batch loudly.
            return Err(format!("transform '{name}' returned a bad batch: {error}"));
        }
        for (i, m) in output.messages.iter().enumerate() {
            let Some(from) = m.from.map(|f| single.unwrap_or(f as usize)) else {
                ignored += 1;
                continue;
            };
            // Each polled message reaches the plugin at most once (its offset is committed once).
            let Some((index, body)) = sent.get_mut(from).and_then(Option::take) else {
                ignored += 1;
                continue;
            };
            let body = match m.payload {
                OutputPayload::Unchanged => body,
                OutputPayload::Range { .. } => {
                    let bytes = output.payload(i, &answered.messages).to_vec();
                    match returned_body(schema, bytes) {
                        Ok(body) => body,
                        Err(reason) => {
                            out.failed.push(Failure {
                                index,
                                kind: FailureKind::Transform,
                                reason: format!(
                                    "transform '{name}' returned a bad payload: {reason}"
                                ),
                            });
                            continue;
                        }
                    }
                }
            };
            result.push((index, body));
        }
    }
    if ignored > 0 {
        shared.ctx.log.warn(
            super::TARGET,
            format!("transform '{name}' returned {ignored} message(s) that continue no polled message (or one already returned); a sink transform can only keep, change or drop messages, so they were ignored"),
        );
    }
    // What is left in `sent` was dropped by the transform.
    out.filtered += sent.iter().filter(|s| s.is_some()).count() as u64;
    Ok(result)
}

/// A payload a TypeScript transform returned: checked for the schema (wire-bytes schemas) or
/// decoded (Proto text, FlatBuffer).
fn returned_body(schema: Schema, bytes: Vec<u8>) -> Result<Body, String> {
    if stages::external_sees_wire_bytes(schema) {
        check(schema, &bytes).map(|()| Body::Bytes(bytes))
    } else {
        stages::from_external(schema, bytes).map(Body::Decoded)
    }
}
