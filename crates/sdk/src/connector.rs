//! The traits a plugin implements.
//!
//! They use native `async fn` in traits (Rust ≥ 1.75) with `Send` futures, so plugins need no
//! `#[async_trait]` attribute: write `async fn poll(&self) -> Result<ProducedMessages, Error>`
//! in the `impl` block and the compiler checks that the future is `Send` (it runs on the
//! plugin's multi-thread Tokio runtime).
//!
//! Constructors are inherent functions, as upstream, called by the export macros:
//! `fn new(id: u32, config: MyConfig, state: Option<ConnectorState>) -> Self` for sources and
//! `fn new(id: u32, config: MyConfig) -> Self` for sinks, where `MyConfig: DeserializeOwned`.

use std::future::Future;

use crate::{
    ConsumeOutcome, ConsumedMessage, Error, MessagesMetadata, ProducedMessages, SourceBatchResult,
    TopicMetadata,
};

/// A plugin that produces messages for the runtime to send to Iggy.
///
/// Lifecycle: `new` → `open` → repeated `poll` (each batch followed by `on_batch_result`
/// when the host reports it) → `close`. `poll` should sleep for its own interval: the SDK
/// polls again as soon as a batch is settled.
pub trait Source: Send + Sync + 'static {
    fn open(&mut self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Produces the next batch. Put a candidate cursor in `state` and commit it only when
    /// `on_batch_result(Ack)` arrives, so that a Nack re-produces from the committed cursor.
    fn poll(&self) -> impl Future<Output = Result<ProducedMessages, Error>> + Send;

    /// The host's verdict on the last batch `poll` returned: `Ack` once it is stored in Iggy
    /// (and its state saved), `Nack` when it was not. Hosts of the 0.4.0 ABI (no results) get
    /// an `Ack` as soon as their send callback returns.
    fn on_batch_result(
        &self,
        result: SourceBatchResult,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = result;
        std::future::ready(Ok(()))
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A plugin that writes messages consumed from Iggy to an external system.
///
/// `consume` takes `&self` because the runtime may call it concurrently for different
/// topics of the same instance.
pub trait Sink: Send + Sync + 'static {
    /// Whether the SDK decodes each payload with the stream's schema before `consume`
    /// (default `true`). A sink that forwards bytes as they are sets it to `false`: every
    /// message then arrives as `Payload::Raw` with the payload bytes untouched, skipping the
    /// parse (for JSON, a full `serde_json::Value` tree per message) and its check, so an
    /// undecodable payload is delivered rather than dropped. The ABI is the same either way.
    const DECODE_PAYLOADS: bool = true;

    fn open(&mut self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Stores a batch. `Err` means nothing of it is known to be stored: the host retries the
    /// whole batch with backoff, so return `Err` for every transient cause (connection lost,
    /// timeout, the external system refusing service). `Ok(outcome)` means every message was
    /// stored except those marked with [`ConsumeOutcome::reject`], which were refused for
    /// their content (a retry would refuse them again): the host sends each to the
    /// connector's dead-letter topic with the reason in its headers, then commits the batch
    /// (without a dead-letter topic it fails the batch instead, so nothing is lost).
    fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> impl Future<Output = Result<ConsumeOutcome, Error>> + Send;

    fn close(&mut self) -> impl Future<Output = Result<(), Error>> + Send;
}
