//! Operator tools on the `Engine` class: dead letters (list, replay), the live tap and the
//! sink lag. Conversions only; the work is in the engine's `dlq`, `tap` and `lag` modules.

use std::sync::Arc;

use iggy_connectors_engine as core;
use napi::bindgen_prelude::Buffer;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::error::{NapiResultExt, Result, invalid};

#[napi(object)]
pub struct DeadLetterQueryOptions {
    /// One partition of the dead-letter topic (default: all).
    pub partition: Option<u32>,
    /// First offset (default 0).
    pub from: Option<f64>,
    /// Most letters returned (default 100).
    pub limit: Option<u32>,
    /// Only letters whose reason or error kind contains this (case-insensitive).
    pub reason: Option<String>,
}

#[napi(object)]
pub struct JsDeadLetter {
    pub partition: u32,
    pub offset: f64,
    /// u128 as decimal.
    pub id: String,
    /// When it was dead-lettered, microseconds.
    pub timestamp_micros: f64,
    pub error: Option<String>,
    /// decode | transform | rejected | build | encode
    pub error_kind: Option<String>,
    pub origin_stream: Option<String>,
    pub origin_topic: Option<String>,
    pub origin_partition: Option<u32>,
    pub origin_offset: Option<f64>,
    pub origin_connector: Option<String>,
    /// Set when this letter is a replayed message that failed again.
    pub replay_of: Option<String>,
    pub parked: bool,
    /// The original payload was empty (the stored copy holds one zero byte).
    pub empty_payload: bool,
    pub headers: Vec<Vec<String>>,
    pub payload: Buffer,
}

#[napi(object)]
pub struct ReplayOptions {
    pub partition: Option<u32>,
    /// First offset; without it the replay resumes after the previous replay.
    pub from: Option<f64>,
    /// Last offset, inclusive (default: the end when the replay starts).
    pub to: Option<f64>,
    pub reason: Option<String>,
    /// Replay to this stream and topic instead of each letter's origin.
    pub target_stream: Option<String>,
    pub target_topic: Option<String>,
    /// Replay parked letters too.
    pub include_parked: Option<bool>,
}

#[napi(object)]
#[derive(Clone)]
pub struct JsReplayProgress {
    pub total: f64,
    pub scanned: f64,
    pub replayed: f64,
    pub skipped_parked: f64,
    pub skipped_filtered: f64,
    pub skipped_unreplayable: f64,
    pub done: bool,
}

#[napi(object)]
pub struct JsTapMessage {
    pub stream: String,
    pub topic: String,
    pub partition: Option<u32>,
    pub offset: Option<f64>,
    /// u128 as decimal.
    pub id: String,
    pub payload: Buffer,
}

#[napi(object)]
pub struct JsPartitionLag {
    pub stream: String,
    pub topic: String,
    pub partition: u32,
    /// Messages in the partition.
    pub end: f64,
    /// The group's stored offset, if any.
    pub committed: Option<f64>,
    pub lag: f64,
}

/// `(progress) => void`, weak so it never keeps Node alive.
type ProgressFn =
    ThreadsafeFunction<JsReplayProgress, (), JsReplayProgress, napi::Status, false, true>;

fn kind(kind: &str) -> Result<core::ConnectorKind> {
    core::parse_kind(kind).default_error()
}

fn offset(value: Option<f64>, name: &str) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(53) => Ok(Some(v as u64)),
        Some(v) => Err(invalid(format!(
            "{name}: expected a non-negative integer, got {v}"
        ))),
    }
}

impl From<&core::ReplayProgress> for JsReplayProgress {
    fn from(p: &core::ReplayProgress) -> Self {
        Self {
            total: p.total as f64,
            scanned: p.scanned as f64,
            replayed: p.replayed as f64,
            skipped_parked: p.skipped_parked as f64,
            skipped_filtered: p.skipped_filtered as f64,
            skipped_unreplayable: p.skipped_unreplayable as f64,
            done: p.done,
        }
    }
}

impl From<core::DeadLetterRecord> for JsDeadLetter {
    fn from(r: core::DeadLetterRecord) -> Self {
        Self {
            partition: r.partition,
            offset: r.offset as f64,
            id: r.id.to_string(),
            timestamp_micros: r.timestamp_micros as f64,
            error: r.error,
            error_kind: r.error_kind,
            origin_stream: r.origin_stream,
            origin_topic: r.origin_topic,
            origin_partition: r.origin_partition,
            origin_offset: r.origin_offset.map(|o| o as f64),
            origin_connector: r.origin_connector,
            replay_of: r.replay_of,
            parked: r.parked,
            empty_payload: r.empty_payload,
            headers: r.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
            payload: r.payload.to_vec().into(),
        }
    }
}

#[napi]
impl Engine {
    /// Dead-lettered messages of a connector with their reason and origin.
    #[napi(catch_unwind)]
    pub async fn dead_letters(
        &self,
        kind_name: String,
        key: String,
        query: Option<DeadLetterQueryOptions>,
    ) -> Result<Vec<JsDeadLetter>> {
        let query = match query {
            Some(q) => core::DeadLetterQuery {
                partition: q.partition,
                from: offset(q.from, "from")?,
                limit: q.limit.unwrap_or(0),
                reason: q.reason.filter(|r| !r.is_empty()),
            },
            None => core::DeadLetterQuery::default(),
        };
        let records = self
            .inner
            .dead_letters(kind(&kind_name)?, &key, query)
            .await
            .default_error()?;
        Ok(records.into_iter().map(Into::into).collect())
    }

    /// Replays dead letters to their origin (or `targetStream`/`targetTopic`), marked so a
    /// second failure parks them; `onProgress` gets a report after every batch.
    #[napi(
        catch_unwind,
        ts_args_type = "kindName: string, key: string, options: ReplayOptions, onProgress?: (progress: JsReplayProgress) => void"
    )]
    pub async fn replay_dead_letters(
        &self,
        kind_name: String,
        key: String,
        options: ReplayOptions,
        on_progress: Option<ProgressFn>,
    ) -> Result<JsReplayProgress> {
        let target = match (options.target_stream, options.target_topic) {
            (Some(stream), Some(topic)) => Some((stream, topic)),
            (None, None) => None,
            _ => return Err(invalid("targetStream and targetTopic go together")),
        };
        let request = core::ReplayRequest {
            partition: options.partition,
            from: offset(options.from, "from")?,
            to: offset(options.to, "to")?,
            reason: options.reason.filter(|r| !r.is_empty()),
            target,
            include_parked: options.include_parked.unwrap_or(false),
        };
        let progress = on_progress.map(Arc::new);
        let result = self
            .inner
            .replay_dead_letters(kind(&kind_name)?, &key, request, move |p| {
                if let Some(tsfn) = &progress {
                    tsfn.call(p.into(), ThreadsafeFunctionCallMode::NonBlocking);
                }
            })
            .await
            .default_error()?;
        Ok((&result).into())
    }

    /// Starts listening to a connector's messages before (`"before"`) or after (`"after"`)
    /// its transforms. Close the tap when done: an open tap copies every message.
    #[napi]
    pub fn tap(&self, kind_name: String, key: String, stage: String) -> Result<Tap> {
        let stage = core::TapStage::parse(&stage).ok_or_else(|| {
            invalid(format!(
                "stage: expected \"before\" or \"after\", got \"{stage}\""
            ))
        })?;
        let subscription = self
            .inner
            .tap(kind(&kind_name)?, &key, stage)
            .default_error()?;
        let (closed, _) = watch::channel(false);
        Ok(Tap {
            subscription: std::sync::Mutex::new(Some(Arc::new(subscription))),
            closed,
        })
    }

    /// A sink's lag per partition, read from Iggy.
    #[napi(catch_unwind)]
    pub async fn sink_lag(&self, key: String) -> Result<Vec<JsPartitionLag>> {
        let lag = self.inner.sink_lag(&key).await.default_error()?;
        Ok(lag
            .into_iter()
            .map(|l| JsPartitionLag {
                stream: l.stream,
                topic: l.topic,
                partition: l.partition,
                end: l.end as f64,
                committed: l.committed.map(|c| c as f64),
                lag: l.lag as f64,
            })
            .collect())
    }
}

/// A live tap on one connector (from `Engine.tap`).
#[napi]
pub struct Tap {
    subscription: std::sync::Mutex<Option<Arc<core::TapSubscription>>>,
    closed: watch::Sender<bool>,
}

#[napi]
impl Tap {
    /// Waits for the next messages (at most `max`, default 100); `[]` once closed.
    #[napi(catch_unwind)]
    pub async fn next(&self, max: Option<u32>) -> Result<Vec<JsTapMessage>> {
        let Some(subscription) = self
            .subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return Ok(Vec::new());
        };
        let mut closed = self.closed.subscribe();
        let messages = tokio::select! {
            messages = subscription.next(max.unwrap_or(100) as usize) => messages,
            _ = closed.wait_for(|c| *c) => Vec::new(),
        };
        Ok(messages
            .into_iter()
            .map(|m| JsTapMessage {
                stream: m.stream,
                topic: m.topic,
                partition: m.partition,
                offset: m.offset.map(|o| o as f64),
                id: m.id.to_string(),
                payload: m.payload.into(),
            })
            .collect())
    }

    /// Messages this tap lost because it was read too slowly.
    #[napi]
    pub fn dropped(&self) -> f64 {
        self.subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0.0, |s| s.dropped() as f64)
    }

    /// Stops listening (a pending `next` resolves with `[]`).
    #[napi]
    pub fn close(&self) {
        self.subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.closed.send_replace(true);
    }
}
