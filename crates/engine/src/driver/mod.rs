//! The plugin calls the pipelines make, behind two traits: a source is opened, started
//! (its batches flow into the pipeline's channel), told each batch's result and closed; a sink
//! is opened, handed batches and closed. A shared library over the C ABI ([`native`]) is one
//! implementation; a TypeScript connector reached through the binding
//! ([`crate::connector_host`]) is the other. The pipelines do not know which one they drive, so
//! both get the same guarantees (one batch in flight, state saved only after Iggy acked,
//! offsets stored only after `consume` succeeded).

pub mod native;

use std::time::Duration;

use crate::error::EngineError;
use crate::external::ExternalMessages;
use crate::ffi::sink::Rejection;
use crate::ffi::source::RawBatch;
use crate::sink::ConsumeBuffers;

/// What a started source needs to know about its plugin.
#[async_trait::async_trait]
pub trait SourceDriver: Send + Sync {
    /// "plugin id 7, batch-result ABI" or "TypeScript module ./x.mjs", for the start log line.
    fn describe(&self) -> String;

    /// Opens the connector with its `[plugin_config]` JSON and its saved state; its batches
    /// go to `batches` (postcard `ProducedMessages`, the native wire format) from now on.
    async fn open(
        &self,
        config_json: &str,
        state: Option<Vec<u8>>,
        batches: flume::Sender<RawBatch>,
    ) -> Result<(), EngineError>;

    /// Starts producing (the plugin's poll loop).
    async fn start(&self) -> Result<(), EngineError>;

    /// The pipeline's verdict on batch `batch_id`, given after the state it carried was saved
    /// (Ack) or after it failed (Nack).
    fn batch_result(&self, batch_id: Option<u64>, ok: bool);

    /// Stops producing and closes the connector, within `timeout`; the batch in flight gets
    /// its verdict first. Err describes a close that failed or timed out (logged).
    async fn close(&self, timeout: Duration) -> Result<(), String>;
}

/// The form a sink wants its batches in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkInput {
    /// The three postcard buffers of `iggy_sink_consume`.
    Postcard,
    /// Message values (TypeScript sinks).
    Messages,
}

/// One batch for a sink, in the form its [`SinkDriver::input`] asked for.
pub enum SinkBatch {
    Postcard(ConsumeBuffers),
    Messages(MessagesBatch),
}

/// A batch as message values, with where it came from.
pub struct MessagesBatch {
    pub stream: String,
    pub topic: String,
    pub partition: u32,
    /// In columns (the transform crossing's format): one buffer of payloads, with offsets.
    pub messages: ExternalMessages,
}

/// A consume that did not store the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeFailure {
    /// Transient (an error code, a rejected promise): the batch is retried with backoff.
    Retry(String),
    /// The call itself broke (its thread panicked): the connector is failed.
    Fatal(String),
}

#[async_trait::async_trait]
pub trait SinkDriver: Send + Sync {
    fn describe(&self) -> String;

    fn input(&self) -> SinkInput;

    async fn open(&self, config_json: &str) -> Result<(), EngineError>;

    /// Hands one batch over; Ok = stored except the rejected messages (their offsets and
    /// reasons). The batch is left in place for a retry.
    async fn consume(&self, batch: &mut SinkBatch) -> Result<Vec<Rejection>, ConsumeFailure>;

    async fn close(&self, timeout: Duration) -> Result<(), String>;
}
