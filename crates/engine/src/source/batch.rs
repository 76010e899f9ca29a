//! Processing one source batch, from postcard bytes to Iggy messages, and the forwarding loop
//! that acknowledges a batch only after Iggy accepted all of it and the state was saved.

use std::collections::BTreeMap;
use std::str::FromStr;

use bytes::Bytes;
use iggy::prelude::IggyMessage;
use iggy_common::{HeaderKey, HeaderKind, HeaderValue};
use iggy_connectors_sdk::{ConnectorState, Payload, REJECTED_HEADER, Schema, codecs};
use serde::Deserialize;
use tokio::sync::watch;

use super::send::StreamSender;
use super::{SourceContext, TARGET};
use crate::dead_letter::{DeadLetter, HEADER_CONNECTOR, HEADER_ERROR, HEADER_ERROR_KIND, Letter};
use crate::ffi::source::RawBatch;
use crate::stages::{self, ExternalBatch, ExternalMessages, OutputPayload, Stage, Stages};
use crate::state_store::StateStore;
use crate::stats::Counters;
use crate::tap::{self, TapStage};
use crate::transforms::{Outcome, TransformChain};

type Headers = BTreeMap<HeaderKey, HeaderValue>;

/// `ProducedMessages` with payloads borrowed from the callback buffer (same wire layout), so
/// decoding a batch allocates nothing per payload and Iggy gets `Bytes` slices of that buffer.
#[derive(Deserialize)]
struct ProducedRef<'a> {
    schema: Schema,
    #[serde(borrow)]
    messages: Vec<ProducedMessageRef<'a>>,
    state: Option<ConnectorState>,
}

/// `ProducedMessage` with a borrowed payload; field order is the ABI's.
#[derive(Deserialize)]
struct ProducedMessageRef<'a> {
    id: Option<u128>,
    #[allow(dead_code)]
    checksum: Option<u64>,
    timestamp: Option<u64>,
    origin_timestamp: Option<u64>,
    headers: Option<Headers>,
    payload: &'a [u8],
}

/// One message between decode and encode.
#[derive(Clone)]
struct Work {
    /// The payload as the plugin produced it (for the dead-letter copy); `None` once a
    /// TypeScript transform replaced the message.
    original: Option<Bytes>,
    id: Option<u128>,
    timestamp: Option<u64>,
    origin_timestamp: Option<u64>,
    headers: Option<Headers>,
    payload: Payload,
}

/// A message of the batch that cannot be sent to Iggy as produced (empty or oversized
/// payload, bad headers, not decodable or encodable for the configured schemas).
struct Unsendable {
    index: usize,
    /// `decode`, `encode`, `build`, or `rejected` (marked so by the plugin).
    kind: &'static str,
    reason: String,
    letter: Letter,
}

pub struct Pipeline {
    ctx: SourceContext,
    dead_letter: Option<DeadLetter>,
    stages: Stages,
    store: StateStore,
    /// The state this pipeline last wrote: a batch whose state is the same bytes needs no
    /// write (the file already holds them), which spares an fdatasync per batch for sources
    /// whose state moves seldom.
    saved: Option<Vec<u8>>,
    senders: Vec<StreamSender>,
    stopping: watch::Receiver<bool>,
}

impl Pipeline {
    pub fn new(
        ctx: SourceContext,
        dead_letter: Option<DeadLetter>,
        stages: Stages,
        store: StateStore,
        partitions: Vec<u32>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let senders = ctx
            .config
            .streams
            .iter()
            .zip(partitions)
            .map(|(stream, count)| StreamSender::new(stream.clone(), count))
            .collect();
        Self {
            ctx,
            dead_letter,
            stages,
            store,
            saved: None,
            senders,
            stopping,
        }
    }

    /// Drains the plugin's batches until the channel closes (the plugin is closed), and
    /// gives the driver each batch's verdict after its state was saved.
    pub async fn run(
        mut self,
        rx: flume::Receiver<RawBatch>,
        driver: std::sync::Arc<dyn crate::driver::SourceDriver>,
    ) {
        while let Ok(batch) = rx.recv_async().await {
            let ok = match self.process(batch.bytes).await {
                Ok(()) => true,
                Err(message) => {
                    self.ctx.log.error(TARGET, message.clone());
                    self.ctx.stats.record_error(message);
                    false
                }
            };
            driver.batch_result(batch.batch_id, ok);
        }
    }

    async fn process(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        let counters = &self.ctx.stats.counters;
        let buffer = Bytes::from(bytes);
        let mut produced: ProducedRef<'_> = match postcard::from_bytes(&buffer) {
            Ok(produced) => produced,
            Err(error) => {
                Counters::add(&counters.decode_errors, 1);
                return Err(format!(
                    "batch from the plugin is not valid postcard: {error}"
                ));
            }
        };
        let state = produced.state.take();
        self.ctx.stats.tap.publish(TapStage::Before, || {
            tap::source_produced(
                &self.ctx.config.streams,
                produced.messages.iter().map(|m| (m.id, m.payload)),
            )
        });
        let count = produced.messages.len() as u64;
        let bytes_in: usize = produced.messages.iter().map(|m| m.payload.len()).sum();
        Counters::add(&counters.messages_in, count);
        Counters::add(&counters.bytes_in, bytes_in as u64);
        let line = format!("received {count} messages from the plugin");
        if self.ctx.config.verbose {
            self.ctx.log.info(TARGET, line);
        } else {
            self.ctx.log.debug(TARGET, line);
        }

        // Same schema on both sides and nothing to transform: the payload bytes go to Iggy
        // as they are, without decoding (no JSON parse) and without copying.
        let passthrough =
            self.stages.is_empty() && self.senders.iter().all(|s| s.schema() == produced.schema);
        let mut unsendable = Vec::new();
        let mut per_stream = if passthrough {
            self.passthrough(&buffer, produced.messages, &mut unsendable)
        } else if let Some(chain) = self.builtin_json_only(produced.schema) {
            self.builtin_json(chain, &buffer, produced.messages, &mut unsendable)
        } else {
            self.convert(&buffer, produced, &mut unsendable).await?
        };
        if !unsendable.is_empty() {
            self.refuse_or_keep(&unsendable)?;
        }

        self.ctx.stats.tap.publish(TapStage::After, || {
            tap::source_sent(&self.ctx.config.streams, &per_stream)
        });
        let mut sent = 0u64;
        let mut bytes_out = 0u64;
        for (sender, messages) in self.senders.iter_mut().zip(per_stream.iter_mut()) {
            bytes_out += messages.iter().map(|m| m.payload.len() as u64).sum::<u64>();
            sender.send(&self.ctx, messages, &self.stopping).await?;
            sent = sent.max(messages.len() as u64);
        }
        if !unsendable.is_empty() {
            self.send_to_dead_letter(unsendable).await?;
        }
        if let Some(state) = state
            && self.saved.as_deref() != Some(state.0.as_slice())
        {
            self.save_state(&state.0).await?;
            self.saved = Some(state.0);
        }
        Counters::add(&counters.messages_out, sent);
        Counters::add(&counters.bytes_out, bytes_out);
        Counters::add(&counters.batches, 1);
        Ok(())
    }

    /// Saves the state of a batch Iggy already stored, retrying with the connector's backoff
    /// (a full or failing disk): a Nack now would make the plugin produce the batch again and
    /// Iggy would hold it twice, so only a stop or a spent retry budget gives up (→ Nack).
    async fn save_state(&self, bytes: &[u8]) -> Result<(), String> {
        let mut attempt = 0u32;
        loop {
            let error = match self.store.save(bytes) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            attempt += 1;
            let message = format!(
                "{error} (attempt {attempt}); the batch is in Iggy, its Ack waits for the state"
            );
            self.ctx.log.error(TARGET, message.clone());
            self.ctx.stats.record_error(message.clone());
            if self.ctx.config.retry.exhausted(attempt) || *self.stopping.borrow() {
                return Err(message);
            }
            let mut stop = self.stopping.clone();
            tokio::select! {
                _ = tokio::time::sleep(self.ctx.config.retry.backoff(attempt)) => {}
                _ = stop.wait_for(|s| *s) => return Err(message),
            }
        }
    }

    /// Counts and logs the unsendable messages; without a dead-letter topic the batch fails
    /// (Nack: the plugin keeps its cursor and re-produces it) instead of losing them.
    fn refuse_or_keep(&self, unsendable: &[Unsendable]) -> Result<(), String> {
        Counters::add(
            &self.ctx.stats.counters.decode_errors,
            unsendable.len() as u64,
        );
        let action = if self.dead_letter.is_some() {
            "dead-lettered"
        } else {
            "not sendable"
        };
        for u in unsendable {
            self.ctx.log.warn(
                TARGET,
                format!(
                    "message #{} of the batch {action} ({}): {}",
                    u.index, u.kind, u.reason
                ),
            );
        }
        if self.dead_letter.is_some() {
            return Ok(());
        }
        let first = &unsendable[0];
        Err(format!(
            "{} message(s) of the batch cannot be sent to Iggy (first: #{}: {}) and the source has no [dead_letter] topic; the batch is not stored (Nack) and will be produced again",
            unsendable.len(),
            first.index,
            first.reason
        ))
    }

    /// Sends the unsendable messages to the dead-letter topic, retrying like a send; Err
    /// (→ Nack, state not saved) when they could not be stored.
    async fn send_to_dead_letter(&self, unsendable: Vec<Unsendable>) -> Result<(), String> {
        let Some(dead_letter) = &self.dead_letter else {
            return Err("no dead-letter topic".to_owned());
        };
        let key = &self.ctx.config.key;
        let letters: Vec<Letter> = unsendable
            .into_iter()
            .map(|u| {
                u.letter
                    .tag(HEADER_ERROR, &u.reason)
                    .tag(HEADER_ERROR_KIND, u.kind)
                    .tag(HEADER_CONNECTOR, key)
            })
            .collect();
        dead_letter
            .send_durably(
                &letters,
                &self.ctx.config.retry,
                &self.stopping,
                |message| {
                    self.ctx.log.error(TARGET, message.to_owned());
                    self.ctx.stats.record_error(message.to_owned());
                },
            )
            .await?;
        Counters::add(&self.ctx.stats.counters.dead_lettered, letters.len() as u64);
        Ok(())
    }

    fn passthrough(
        &self,
        buffer: &Bytes,
        messages: Vec<ProducedMessageRef<'_>>,
        unsendable: &mut Vec<Unsendable>,
    ) -> Vec<Vec<IggyMessage>> {
        let mut out: Vec<Vec<IggyMessage>> = (0..self.senders.len())
            .map(|_| Vec::with_capacity(messages.len()))
            .collect();
        for (index, mut message) in messages.into_iter().enumerate() {
            let payload = buffer.slice_ref(message.payload);
            if let Some(reason) = take_rejection(&mut message.headers) {
                unsendable.push(Unsendable {
                    index,
                    kind: "rejected",
                    reason,
                    letter: Letter::new(message.id.unwrap_or(0), payload, message.headers),
                });
                continue;
            }
            let origin_timestamp = message.origin_timestamp;
            fan_out(
                index,
                &message,
                origin_timestamp,
                payload.clone(),
                payload,
                &mut out,
                unsendable,
            );
        }
        out
    }

    /// The chain when the only stage is one run of built-in transforms and the plugin and every
    /// stream speak JSON: then [`Pipeline::builtin_json`] can do the batch.
    fn builtin_json_only(&self, schema: Schema) -> Option<&TransformChain> {
        let json =
            schema == Schema::Json && self.senders.iter().all(|s| s.schema() == Schema::Json);
        match self.stages.stages() {
            [Stage::Builtin(chain)] if json => Some(chain),
            _ => None,
        }
    }

    /// Built-in transforms on a JSON batch: each payload is transformed and re-encoded in one
    /// pass ([`stages::apply_builtin_json`]) into one buffer for the whole batch, and every
    /// stream gets `Bytes` slices of it (no allocation per message).
    fn builtin_json(
        &self,
        chain: &TransformChain,
        buffer: &Bytes,
        messages: Vec<ProducedMessageRef<'_>>,
        unsendable: &mut Vec<Unsendable>,
    ) -> Vec<Vec<IggyMessage>> {
        let size: usize = messages.iter().map(|m| m.payload.len() + 32).sum();
        let mut encoded = Vec::with_capacity(size);
        let mut kept = Vec::with_capacity(messages.len());
        let mut filtered = 0u64;
        for (index, mut message) in messages.into_iter().enumerate() {
            let original = buffer.slice_ref(message.payload);
            if let Some(reason) = take_rejection(&mut message.headers) {
                unsendable.push(Unsendable {
                    index,
                    kind: "rejected",
                    reason,
                    letter: Letter::new(message.id.unwrap_or(0), original, message.headers),
                });
                continue;
            }
            let start = encoded.len();
            match stages::apply_builtin_json(chain, message.payload, &mut encoded) {
                Ok(Outcome::Keep) => kept.push((index, message, start..encoded.len())),
                Ok(Outcome::Drop) => filtered += 1,
                Err(error) => unsendable.push(Unsendable {
                    index,
                    kind: "decode",
                    reason: error.to_string(),
                    letter: Letter::new(message.id.unwrap_or(0), original, message.headers),
                }),
            }
        }
        Counters::add(&self.ctx.stats.counters.filtered, filtered);
        let encoded = Bytes::from(encoded);
        let mut out: Vec<Vec<IggyMessage>> = (0..self.senders.len())
            .map(|_| Vec::with_capacity(kept.len()))
            .collect();
        for (index, message, span) in kept {
            let original = buffer.slice_ref(message.payload);
            let origin_timestamp = message.origin_timestamp.or(message.timestamp);
            fan_out(
                index,
                &message,
                origin_timestamp,
                encoded.slice(span),
                original,
                &mut out,
                unsendable,
            );
        }
        out
    }

    async fn convert(
        &self,
        buffer: &Bytes,
        produced: ProducedRef<'_>,
        unsendable: &mut Vec<Unsendable>,
    ) -> Result<Vec<Vec<IggyMessage>>, String> {
        let counters = &self.ctx.stats.counters;
        let schema = produced.schema;
        let mut work = Vec::with_capacity(produced.messages.len());
        for (index, mut message) in produced.messages.into_iter().enumerate() {
            let original = buffer.slice_ref(message.payload);
            if let Some(reason) = take_rejection(&mut message.headers) {
                unsendable.push(Unsendable {
                    index,
                    kind: "rejected",
                    reason,
                    letter: Letter::new(message.id.unwrap_or(0), original, message.headers),
                });
                continue;
            }
            match codecs::decode(schema, message.payload) {
                Ok(payload) => work.push((
                    index,
                    Work {
                        original: Some(original),
                        id: message.id,
                        timestamp: message.timestamp,
                        origin_timestamp: message.origin_timestamp,
                        headers: message.headers,
                        payload,
                    },
                )),
                Err(error) => unsendable.push(Unsendable {
                    index,
                    kind: "decode",
                    reason: error.to_string(),
                    letter: Letter::new(message.id.unwrap_or(0), original, message.headers),
                }),
            }
        }
        for stage in self.stages.stages() {
            match stage {
                Stage::Builtin(chain) => {
                    let before = work.len();
                    work.retain_mut(|(_, w)| {
                        stages::apply_builtin(chain, &mut w.payload) == Outcome::Keep
                    });
                    Counters::add(&counters.filtered, (before - work.len()) as u64);
                }
                Stage::External(external) => {
                    let name = external.name.as_str();
                    let before = work.len() as u64;
                    let items = work.into_iter().map(|(_, w)| w).collect();
                    // A throwing transform fails the whole batch (Nack → re-produced):
                    // a transient failure, never a reason to drop messages.
                    let kept = self.external(name, items).await.inspect_err(|_| {
                        Counters::add(&counters.transform_errors, before);
                    })?;
                    // Messages a TypeScript transform returns are new: numbered in the
                    // order it returned them.
                    work = kept.into_iter().enumerate().collect();
                    Counters::add(&counters.filtered, before.saturating_sub(work.len() as u64));
                }
            }
        }
        let streams = self.senders.len();
        let mut out: Vec<Vec<IggyMessage>> = (0..streams).map(|_| Vec::new()).collect();
        for (index, w) in work {
            let mut payload = Some(w.payload);
            for (i, (sender, list)) in self.senders.iter().zip(out.iter_mut()).enumerate() {
                let p = if i + 1 == streams {
                    payload.take().expect("payload used once per stream")
                } else {
                    payload
                        .clone()
                        .expect("payload present until the last stream")
                };
                // The dead-letter copy: the plugin's bytes, or the transformed payload when
                // a TypeScript transform made the message.
                let original = match &w.original {
                    Some(bytes) => bytes.clone(),
                    None => Bytes::from(p.clone().into_bytes().unwrap_or_default()),
                };
                let built = codecs::encode(sender.schema(), p)
                    .map_err(|e| ("encode", e.to_string()))
                    .and_then(|bytes| {
                        build(
                            w.id,
                            w.origin_timestamp.or(w.timestamp),
                            w.headers.clone(),
                            Bytes::from(bytes),
                        )
                        .map_err(|reason| ("build", reason))
                    });
                match built {
                    Ok(message) => list.push(message),
                    Err((kind, reason)) => unsendable.push(Unsendable {
                        index,
                        kind,
                        reason: format!("for stream #{i}: {reason}"),
                        letter: Letter::new(w.id.unwrap_or(0), original, w.headers.clone()),
                    }),
                }
            }
        }
        Ok(out)
    }

    /// Runs a TypeScript transform over the batch. Returned messages that continue an input
    /// message inherit what they do not override (id, timestamps, all headers, and the
    /// decoded payload itself when it is unchanged: no re-decode).
    async fn external(&self, name: &str, work: Vec<Work>) -> Result<Vec<Work>, String> {
        let Some(hook) = &self.ctx.hook else {
            return Err(format!(
                "transform '{name}' is not built in and no TypeScript transform handler is registered"
            ));
        };
        if work.is_empty() {
            return Ok(work);
        }
        let kind = work[0].payload.schema();
        let mut messages = ExternalMessages::new(work.len(), kind == Schema::Json, false);
        for w in &work {
            messages.push_with(
                w.id.unwrap_or(0),
                None,
                w.origin_timestamp.or(w.timestamp),
                w.headers.as_ref().map(string_headers),
                |buffer| stages::write_external(&w.payload, buffer),
            )?;
        }
        let Some(first) = self.ctx.config.streams.first() else {
            return Err("the source has no streams".to_owned());
        };
        let batch = ExternalBatch {
            connector_key: self.ctx.config.key.clone(),
            kind: "source",
            transform: name.to_owned(),
            stream: first.stream.clone(),
            topic: first.topic.clone(),
            messages: messages.finish(),
        };
        let output = hook
            .transform(&batch)
            .await
            .map_err(|error| format!("transform '{name}' failed: {error}"))?;
        output
            .check(&batch.messages)
            .map_err(|error| format!("transform '{name}' returned a bad batch: {error}"))?;
        // How often each input message is continued: the last use moves it, the others
        // clone it (the payload only when they keep it unchanged).
        let mut uses = vec![0u32; work.len()];
        for from in output.messages.iter().filter_map(|m| m.from) {
            uses[from as usize] += 1;
        }
        let mut inputs: Vec<Option<Work>> = work.into_iter().map(Some).collect();
        let mut result: Vec<Work> = Vec::with_capacity(output.messages.len());
        for (i, m) in output.messages.iter().enumerate() {
            let from = m.from.map(|f| f as usize);
            let continued = match from {
                Some(f) if m.payload == OutputPayload::Unchanged => {
                    uses[f] -= 1;
                    if uses[f] == 0 {
                        inputs[f].take()
                    } else {
                        inputs[f].clone()
                    }
                }
                Some(f) => {
                    uses[f] -= 1;
                    let meta = inputs[f].as_ref().map(|w| Work {
                        original: None,
                        payload: Payload::Raw(Vec::new()),
                        headers: w.headers.clone(),
                        ..*w
                    });
                    if uses[f] == 0 {
                        inputs[f] = None;
                    }
                    meta
                }
                None => None,
            };
            let mut w = match continued {
                Some(w) => w,
                None => Work {
                    original: None,
                    id: None,
                    timestamp: None,
                    origin_timestamp: None,
                    headers: None,
                    payload: Payload::Raw(Vec::new()),
                },
            };
            if let OutputPayload::Range { .. } = m.payload {
                w.original = None;
                w.payload =
                    stages::from_external(kind, output.payload(i, &batch.messages).to_vec())
                        .map_err(|e| format!("transform '{name}' returned a bad payload: {e}"))?;
            }
            if let Some(id) = m.id {
                w.id = (id != 0).then_some(id);
            }
            if let Some(timestamp) = m.timestamp {
                w.timestamp = Some(timestamp);
                w.origin_timestamp = Some(timestamp);
            }
            if let Some(headers) = &m.headers {
                w.headers = headers.as_ref().map(|h| headers_from_strings(h));
            }
            result.push(w);
        }
        Ok(result)
    }
}

/// Builds one message for every stream (`out[i]` is stream `i`). Every stream gets the same
/// bytes and headers, so a message builds for all of them or for none; one that does not is
/// unsendable once, with `original` (the plugin's bytes) as its dead-letter copy.
fn fan_out(
    index: usize,
    message: &ProducedMessageRef<'_>,
    origin_timestamp: Option<u64>,
    payload: Bytes,
    original: Bytes,
    out: &mut [Vec<IggyMessage>],
    unsendable: &mut Vec<Unsendable>,
) {
    for list in out.iter_mut() {
        match build(
            message.id,
            origin_timestamp,
            message.headers.clone(),
            payload.clone(),
        ) {
            Ok(built) => list.push(built),
            Err(reason) => {
                unsendable.push(Unsendable {
                    index,
                    kind: "build",
                    reason,
                    letter: Letter::new(message.id.unwrap_or(0), original, message.headers.clone()),
                });
                return;
            }
        }
    }
}

/// The reason of a message the plugin marked as rejected (`REJECTED_HEADER`), with the
/// header taken off; `None` for every other message.
fn take_rejection(headers: &mut Option<Headers>) -> Option<String> {
    let map = headers.as_mut()?;
    let key = HeaderKey::from_str(REJECTED_HEADER).ok()?;
    let value = map.remove(&key)?;
    if map.is_empty() {
        *headers = None;
    }
    Some(
        value
            .as_str()
            .map_or_else(|_| "rejected by the source".to_owned(), str::to_owned),
    )
}

/// An Iggy message from a produced one; Err names why Iggy would refuse it (empty or
/// oversized payload, oversized headers).
fn build(
    id: Option<u128>,
    origin_timestamp: Option<u64>,
    headers: Option<Headers>,
    payload: Bytes,
) -> Result<IggyMessage, String> {
    let mut message = IggyMessage::builder()
        .maybe_id(id)
        .payload(payload)
        .maybe_user_headers(headers)
        .build()
        .map_err(|error| error.to_string())?;
    if let Some(origin) = origin_timestamp.filter(|t| *t > 0) {
        message.header.origin_timestamp = origin;
    }
    Ok(message)
}

/// The string-kind headers of a map, for TypeScript.
pub fn string_headers(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, v)| k.kind() == HeaderKind::String && v.kind() == HeaderKind::String)
        .filter_map(|(k, v)| Some((k.as_str().ok()?.to_owned(), v.as_str().ok()?.to_owned())))
        .collect()
}

/// Header map from string pairs (invalid ones are dropped: empty or over 255 bytes).
pub fn headers_from_strings(pairs: &[(String, String)]) -> Headers {
    pairs
        .iter()
        .filter_map(|(k, v)| Some((HeaderKey::from_str(k).ok()?, HeaderValue::from_str(v).ok()?)))
        .collect()
}
