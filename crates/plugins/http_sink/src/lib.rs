//! HTTP sink plugin for iggy-connectors (crate `iggy_connector_http_sink`).
//!
//! Config-compatible with upstream Apache Iggy's `http_sink` 0.4.0 (same keys, meanings,
//! defaults and bytes on the wire), but nothing is dropped silently: a request that finally
//! fails makes `consume` fail so the engine re-delivers, batches are split to fit the size
//! limit, and messages the server refuses for their content are reported to the engine's
//! dead-letter path. See README.md.
#![deny(clippy::all)]

pub mod config;
pub mod envelope;
mod sink;

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata, sink_connector,
};

pub use config::{BatchMode, HttpSinkConfig, Settings};
pub use iggy_connector_http_common::Rejection;
use iggy_connector_http_common::consume_outcome;
pub use sink::{Counters, HttpSink, SinkError};

sink_connector!(HttpSink);

fn sdk_error(error: SinkError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SinkError::Config(m) => Sdk::InvalidConfig(m),
        SinkError::HealthCheck(e) => Sdk::InitError(format!("health check failed: {e}")),
        SinkError::Unavailable(e) => Sdk::Connection(e.to_string()),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Sink for HttpSink {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        HttpSink::open(self).await.map_err(sdk_error)
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, iggy_connectors_sdk::Error> {
        let rejections = HttpSink::consume(self, topic, metadata, messages)
            .await
            .map_err(sdk_error)?;
        Ok(consume_outcome(rejections))
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        HttpSink::close(self).await.map_err(sdk_error)
    }
}
