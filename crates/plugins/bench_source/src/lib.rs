//! `bench_source`: emits pre-generated JSON messages as fast as the runtime takes them, for
//! `npm run bench`. The payloads are generated once at open; a poll only copies them (the SDK
//! hands the host owned buffers). State is the count of messages sent, staged in `poll` and
//! committed on Ack. The plugin also times every batch from the moment `poll` hands it off to
//! the host's Ack, and reports p50/p99 at close, because the engine keeps only counters.
//! Message ids derive from the sequence number (`sent` + index in the batch), so a batch re-sent
//! after a crash keeps its ids.

mod config;
mod report;

use std::sync::Mutex;
use std::time::Instant;

use iggy_connectors_sdk::tracing::{info, warn};
use iggy_connectors_sdk::{
    ConnectorState, Error, ProducedMessage, ProducedMessages, Schema, Source, SourceBatchResult,
    source_connector,
};
use serde::{Deserialize, Serialize};

pub use config::{BenchSourceConfig, MIN_PAYLOAD_SIZE, MessageIds, Settings, generate};
pub use report::{Recorder, Summary, percentile};

source_connector!(BenchSource);

/// Domain of deterministic ids (bump the version only to change the derivation on purpose).
pub const ID_DOMAIN: &str = "bench_source/v1";

/// The id of the message with sequence number `sequence` (0 = the first message ever).
pub fn message_id(ids: &MessageIds, sequence: u64) -> Option<u128> {
    match ids {
        MessageIds::Deterministic { namespace } => Some(iggy_connectors_message_id::sequence_id(
            ID_DOMAIN, namespace, sequence,
        )),
        MessageIds::Random => None,
    }
}

/// Persisted state: MessagePack `[sent]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchSourceState {
    pub sent: u64,
}

#[derive(Debug)]
pub struct BenchSource {
    id: u32,
    config: BenchSourceConfig,
    settings: Option<Settings>,
    /// How message ids are set (from the config at open).
    ids: MessageIds,
    /// One batch of payloads, copied into every poll.
    pool: Vec<Vec<u8>>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Acknowledged messages (what a restart resumes from).
    sent: u64,
    /// The total after the batch in flight, committed on Ack.
    pending: Option<u64>,
    recorder: Recorder,
}

impl BenchSource {
    pub fn new(id: u32, config: BenchSourceConfig, state: Option<ConnectorState>) -> Self {
        let sent = match state.map(|state| state.decode::<BenchSourceState>()) {
            Some(Ok(state)) => state.sent,
            Some(Err(error)) => {
                warn!("bench source (id {id}): ignoring unreadable state, starting at 0: {error}");
                0
            }
            None => 0,
        };
        BenchSource {
            id,
            config,
            settings: None,
            ids: MessageIds::Random,
            pool: Vec::new(),
            inner: Mutex::new(Inner {
                sent,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages acknowledged so far.
    pub fn sent(&self) -> u64 {
        self.lock().sent
    }

    pub fn summary(&self) -> Summary {
        let inner = self.lock();
        let size = self.settings.as_ref().map_or(0, |s| s.payload_size);
        inner.recorder.summary(inner.sent, size)
    }
}

impl Source for BenchSource {
    async fn open(&mut self) -> Result<(), Error> {
        let settings = self.config.settings()?;
        self.ids = self.config.message_ids()?;
        self.pool = generate(&settings);
        let batches = settings.count.div_ceil(settings.batch_size as u64) as usize;
        self.lock().recorder = Recorder::with_capacity(batches);
        info!(
            "bench source (id {}) opened: {} messages of {} bytes in batches of {}, {} sent so far",
            self.id,
            settings.count,
            settings.payload_size,
            settings.batch_size,
            self.sent()
        );
        self.settings = Some(settings);
        Ok(())
    }

    async fn poll(&self) -> Result<ProducedMessages, Error> {
        let settings = self
            .settings
            .as_ref()
            .ok_or_else(|| Error::InvalidState("poll() before open()".into()))?;
        let mut inner = self.lock();
        let remaining = settings.count.saturating_sub(inner.sent);
        if remaining == 0 {
            // Done: an empty batch is not sent; the SDK pauses before polling again.
            return Ok(ProducedMessages {
                schema: Schema::Json,
                messages: Vec::new(),
                state: None,
            });
        }
        let count = remaining.min(settings.batch_size as u64) as usize;
        let first = inner.sent;
        let messages = self.pool[..count]
            .iter()
            .zip(first..)
            .map(|(payload, sequence)| ProducedMessage {
                id: message_id(&self.ids, sequence),
                checksum: None,
                timestamp: None,
                origin_timestamp: None,
                headers: None,
                payload: payload.clone(),
            })
            .collect();
        let staged = inner.sent + count as u64;
        let state = ConnectorState::encode(&BenchSourceState { sent: staged })?;
        inner.pending = Some(staged);
        inner.recorder.handoff(Instant::now());
        Ok(ProducedMessages {
            schema: Schema::Json,
            messages,
            state: Some(state),
        })
    }

    async fn on_batch_result(&self, result: SourceBatchResult) -> Result<(), Error> {
        let now = Instant::now();
        let mut inner = self.lock();
        let staged = inner.pending.take();
        let acked = result == SourceBatchResult::Ack;
        inner.recorder.settle(now, acked);
        if let (true, Some(staged)) = (acked, staged) {
            inner.sent = staged;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), Error> {
        let summary = self.summary();
        let json = serde_json::to_string(&summary)
            .map_err(|error| Error::Serialization(error.to_string()))?;
        info!("bench source (id {}) closed: {json}", self.id);
        if let Some(path) = self.settings.as_ref().and_then(|s| s.report_path.as_ref()) {
            std::fs::write(path, &json).map_err(|error| {
                Error::Storage(format!("cannot write report_path '{path}': {error}"))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod id_tests;
