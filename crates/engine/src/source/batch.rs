//! Processing one source batch, from postcard bytes to Iggy messages, and the forwarding loop
//! that acknowledges a batch only after Iggy accepted all of it and the state was saved.

use std::collections::BTreeMap;
use std::str::FromStr;

use bytes::Bytes;
use iggy::prelude::IggyMessage;
use iggy_common::{HeaderKey, HeaderKind, HeaderValue};
use iggy_connectors_sdk::{ConnectorState, Payload, Schema, codecs};
use serde::Deserialize;
use tokio::sync::watch;

use super::send::StreamSender;
use super::{SourceContext, TARGET};
use crate::ffi::SourceBatchResultFn;
use crate::ffi::source::RawBatch;
use crate::stages::{self, ExternalBatch, ExternalMessage, Stage, Stages};
use crate::state_store::StateStore;
use crate::stats::Counters;
use crate::transforms::Outcome;

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
struct Work {
    id: Option<u128>,
    timestamp: Option<u64>,
    origin_timestamp: Option<u64>,
    headers: Option<Headers>,
    payload: Payload,
}

pub struct Pipeline {
    ctx: SourceContext,
    stages: Stages,
    store: StateStore,
    senders: Vec<StreamSender>,
    stopping: watch::Receiver<bool>,
}

impl Pipeline {
    pub fn new(
        ctx: SourceContext,
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
            stages,
            store,
            senders,
            stopping,
        }
    }

    /// Drains the plugin's batches until the channel closes (the plugin id is unregistered).
    pub async fn run(
        mut self,
        rx: flume::Receiver<RawBatch>,
        id: u32,
        batch_result: Option<SourceBatchResultFn>,
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
            if let (Some(batch_id), Some(batch_result)) = (batch.batch_id, batch_result) {
                let result = if ok { 0u8 } else { 1u8 };
                // Called inline, not via spawn_blocking: the SDK's `batch_result` only takes a
                // short registry lock and queues the verdict on an unbounded channel (it is
                // safe even from inside the send callback), so a thread hop per batch buys
                // nothing.
                // SAFETY: `id` is open in this library; the call only records the result.
                let _ = unsafe { batch_result(id, batch_id, result) };
            }
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
        let mut per_stream = if passthrough {
            self.passthrough(&buffer, produced.messages)
        } else {
            self.convert(produced).await?
        };

        let mut sent = 0u64;
        let mut bytes_out = 0u64;
        for (sender, messages) in self.senders.iter_mut().zip(per_stream.iter_mut()) {
            bytes_out += messages.iter().map(|m| m.payload.len() as u64).sum::<u64>();
            sender.send(&self.ctx, messages, &self.stopping).await?;
            sent = sent.max(messages.len() as u64);
        }
        if let Some(state) = state {
            self.store.save(&state.0).map_err(|e| e.to_string())?;
        }
        Counters::add(&counters.messages_out, sent);
        Counters::add(&counters.bytes_out, bytes_out);
        Counters::add(&counters.batches, 1);
        Ok(())
    }

    fn passthrough(
        &self,
        buffer: &Bytes,
        messages: Vec<ProducedMessageRef<'_>>,
    ) -> Vec<Vec<IggyMessage>> {
        let mut out: Vec<Vec<IggyMessage>> = (0..self.senders.len())
            .map(|_| Vec::with_capacity(messages.len()))
            .collect();
        for (index, message) in messages.into_iter().enumerate() {
            let payload = buffer.slice_ref(message.payload);
            for list in out.iter_mut() {
                let headers = message.headers.clone();
                if let Some(built) = self.build(
                    index,
                    message.id,
                    message.origin_timestamp,
                    headers,
                    payload.clone(),
                ) {
                    list.push(built);
                }
            }
        }
        out
    }

    fn build(
        &self,
        index: usize,
        id: Option<u128>,
        origin_timestamp: Option<u64>,
        headers: Option<Headers>,
        payload: Bytes,
    ) -> Option<IggyMessage> {
        match IggyMessage::builder()
            .maybe_id(id)
            .payload(payload)
            .maybe_user_headers(headers)
            .build()
        {
            Ok(mut message) => {
                if let Some(origin) = origin_timestamp.filter(|t| *t > 0) {
                    message.header.origin_timestamp = origin;
                }
                Some(message)
            }
            Err(error) => {
                Counters::add(&self.ctx.stats.counters.decode_errors, 1);
                self.ctx.log.warn(
                    TARGET,
                    format!("message #{index} of the batch skipped: {error}"),
                );
                None
            }
        }
    }

    async fn convert(&self, produced: ProducedRef<'_>) -> Result<Vec<Vec<IggyMessage>>, String> {
        let counters = &self.ctx.stats.counters;
        let schema = produced.schema;
        let mut work = Vec::with_capacity(produced.messages.len());
        for (index, message) in produced.messages.into_iter().enumerate() {
            match codecs::decode(schema, message.payload) {
                Ok(payload) => work.push(Work {
                    id: message.id,
                    timestamp: message.timestamp,
                    origin_timestamp: message.origin_timestamp,
                    headers: message.headers,
                    payload,
                }),
                Err(error) => {
                    Counters::add(&counters.decode_errors, 1);
                    self.ctx.log.warn(
                        TARGET,
                        format!("message #{index} of the batch skipped: {error}"),
                    );
                }
            }
        }
        for stage in self.stages.stages() {
            match stage {
                Stage::Builtin(chain) => {
                    let before = work.len();
                    work.retain_mut(|w| {
                        stages::apply_builtin(chain, &mut w.payload) == Outcome::Keep
                    });
                    Counters::add(&counters.filtered, (before - work.len()) as u64);
                }
                Stage::External(name) => {
                    let before = work.len() as u64;
                    work = self.external(name, work).await.inspect_err(|_| {
                        Counters::add(&counters.transform_errors, before);
                    })?;
                    Counters::add(&counters.filtered, before.saturating_sub(work.len() as u64));
                }
            }
        }
        let streams = self.senders.len();
        let mut out: Vec<Vec<IggyMessage>> = (0..streams).map(|_| Vec::new()).collect();
        let total = work.len();
        for (index, w) in work.into_iter().enumerate() {
            let mut payload = Some(w.payload);
            for (i, (sender, list)) in self.senders.iter().zip(out.iter_mut()).enumerate() {
                let p = if i + 1 == streams {
                    payload.take().expect("payload used once per stream")
                } else {
                    payload
                        .clone()
                        .expect("payload present until the last stream")
                };
                match codecs::encode(sender.schema(), p) {
                    Ok(bytes) => {
                        if let Some(built) = self.build(
                            index,
                            w.id,
                            w.origin_timestamp.or(w.timestamp),
                            w.headers.clone(),
                            Bytes::from(bytes),
                        ) {
                            list.push(built);
                        }
                    }
                    Err(error) => {
                        Counters::add(&counters.decode_errors, 1);
                        self.ctx.log.warn(
                            TARGET,
                            format!("message #{index} of {total} skipped: {error}"),
                        );
                    }
                }
            }
        }
        Ok(out)
    }

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
        let mut messages = Vec::with_capacity(work.len());
        for w in work {
            messages.push(ExternalMessage {
                id: w.id.unwrap_or(0),
                offset: None,
                timestamp: w.origin_timestamp.or(w.timestamp),
                headers: w.headers.as_ref().map(string_headers),
                payload: stages::external_bytes(w.payload)?,
            });
        }
        let first = &self.ctx.config.streams[0];
        let kept = hook
            .transform(ExternalBatch {
                connector_key: self.ctx.config.key.clone(),
                kind: "source",
                transform: name.to_owned(),
                stream: first.stream.clone(),
                topic: first.topic.clone(),
                messages,
            })
            .await
            .map_err(|error| format!("transform '{name}' failed: {error}"))?;
        kept.into_iter()
            .map(|m| {
                Ok(Work {
                    id: (m.id != 0).then_some(m.id),
                    timestamp: m.timestamp,
                    origin_timestamp: m.timestamp,
                    headers: m.headers.map(|h| headers_from_strings(&h)),
                    payload: stages::from_external(kind, m.payload)
                        .map_err(|e| format!("transform '{name}' returned a bad payload: {e}"))?,
                })
            })
            .collect()
    }
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
