//! `random_source`: produces random JSON messages, `{"id", "title", "name", "text"}`, like
//! upstream's `iggy_connector_random_source`, with acknowledged state: the count of produced
//! messages is staged in `poll` and committed only when the host acknowledges the batch.
//! Message ids derive from the sequence number (`messages_produced` + index in the batch), so a
//! batch produced again after a crash carries the same ids and an id-keyed sink drops it.

mod config;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use iggy_connectors_sdk::tracing::{info, warn};
use iggy_connectors_sdk::{
    ConnectorState, Error, ProducedMessage, ProducedMessages, Schema, Source, SourceBatchResult,
    source_connector,
};
use rand::distr::{Alphanumeric, Distribution as _};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

pub use config::{MessageIds, RandomSourceConfig, Settings};

source_connector!(RandomSource);

/// Domain of deterministic ids (bump the version only to change the derivation on purpose).
pub const ID_DOMAIN: &str = "random_source/v1";

/// Persisted state: MessagePack `[messages_produced]`, as upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomSourceState {
    pub messages_produced: usize,
}

#[derive(Debug)]
pub struct RandomSource {
    id: u32,
    config: RandomSourceConfig,
    settings: Option<Settings>,
    /// How message ids are set (from the config at open).
    ids: MessageIds,
    /// Messages acknowledged by the host (what a restart resumes from).
    produced: AtomicUsize,
    /// The total after the batch in flight, committed on Ack.
    pending: Mutex<Option<usize>>,
}

/// The payload shape, serialized in this field order.
#[derive(Serialize)]
struct Record<'a> {
    id: &'a str,
    title: &'static str,
    name: &'static str,
    text: &'a str,
}

impl RandomSource {
    pub fn new(id: u32, config: RandomSourceConfig, state: Option<ConnectorState>) -> Self {
        let produced = match state.map(|state| state.decode::<RandomSourceState>()) {
            Some(Ok(state)) => state.messages_produced,
            Some(Err(error)) => {
                warn!("random source (id {id}): ignoring unreadable state, starting at 0: {error}");
                0
            }
            None => 0,
        };
        RandomSource {
            id,
            config,
            settings: None,
            ids: MessageIds::Random,
            produced: AtomicUsize::new(produced),
            pending: Mutex::new(None),
        }
    }

    /// Messages acknowledged so far.
    pub fn produced(&self) -> usize {
        self.produced.load(Ordering::Acquire)
    }

    /// The id of the message with sequence number `sequence` (0 = the first message ever).
    pub fn message_id(ids: &MessageIds, sequence: usize) -> Option<u128> {
        match ids {
            MessageIds::Deterministic { namespace } => Some(
                iggy_connectors_message_id::sequence_id(ID_DOMAIN, namespace, sequence as u64),
            ),
            MessageIds::Random => None,
        }
    }

    /// `count` messages, the first with sequence number `first`.
    fn generate(
        settings: &Settings,
        ids: &MessageIds,
        first: usize,
        count: usize,
    ) -> Result<Vec<ProducedMessage>, Error> {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let mut text = String::with_capacity(settings.payload_size);
        let mut messages = Vec::with_capacity(count);
        let mut id_buffer = uuid::Uuid::encode_buffer();
        for sequence in first..first + count {
            text.clear();
            text.extend(
                Alphanumeric
                    .sample_iter(&mut rng)
                    .take(settings.payload_size)
                    .map(char::from),
            );
            let record = Record {
                id: uuid::Builder::from_random_bytes(rng.random())
                    .into_uuid()
                    .hyphenated()
                    .encode_lower(&mut id_buffer),
                title: "Hello",
                name: "World",
                text: &text,
            };
            let payload = serde_json::to_vec(&record)
                .map_err(|error| Error::Serialization(error.to_string()))?;
            messages.push(ProducedMessage {
                id: Self::message_id(ids, sequence),
                checksum: None,
                timestamp: None,
                origin_timestamp: None,
                headers: None,
                payload,
            });
        }
        Ok(messages)
    }
}

impl Source for RandomSource {
    async fn open(&mut self) -> Result<(), Error> {
        let settings = self.config.settings()?;
        self.ids = self.config.message_ids()?;
        info!(
            "random source (id {}) opened: interval {:?}, {} messages so far, max {:?}",
            self.id,
            settings.interval,
            self.produced(),
            settings.max_count
        );
        self.settings = Some(settings);
        Ok(())
    }

    async fn poll(&self) -> Result<ProducedMessages, Error> {
        let settings = self
            .settings
            .as_ref()
            .ok_or_else(|| Error::InvalidState("poll() before open()".into()))?;
        if !settings.interval.is_zero() {
            iggy_connectors_sdk::tokio::time::sleep(settings.interval).await;
        }
        let produced = self.produced();
        let remaining = settings
            .max_count
            .map_or(usize::MAX, |max| max.saturating_sub(produced));
        if remaining == 0 {
            return Ok(ProducedMessages {
                schema: Schema::Json,
                messages: Vec::new(),
                state: None,
            });
        }
        let drawn = rand::rng().random_range(settings.min_messages..settings.max_messages);
        let count = (drawn as usize).min(remaining);
        let messages = Self::generate(settings, &self.ids, produced, count)?;
        let staged = produced + count;
        let state = ConnectorState::encode(&RandomSourceState {
            messages_produced: staged,
        })?;
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(staged);
        Ok(ProducedMessages {
            schema: Schema::Json,
            messages,
            state: Some(state),
        })
    }

    async fn on_batch_result(&self, result: SourceBatchResult) -> Result<(), Error> {
        let staged = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (SourceBatchResult::Ack, Some(staged)) = (result, staged) {
            self.produced.store(staged, Ordering::Release);
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), Error> {
        info!(
            "random source (id {}) closed after {} messages",
            self.id,
            self.produced()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod id_tests;
