//! Quickwit sink plugin for iggy-connectors (crate `iggy_connector_quickwit_sink`).
//!
//! Config-compatible with upstream Apache Iggy's `quickwit_sink` 0.4.0 (`url`, `index`), with
//! the index config validated at open instead of panicking, ingest bounded to Quickwit's
//! limits, transient failures retried, and nothing dropped silently. See README.md.
#![deny(clippy::all)]

pub mod config;
pub mod index;
mod sink;

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata, sink_connector,
};

pub use config::{CommitMode, QuickwitSinkConfig, Settings};
pub use iggy_connector_http_common::Rejection;
use iggy_connector_http_common::consume_outcome;
pub use sink::{Counters, QuickwitSink, SinkError};

sink_connector!(QuickwitSink);

fn sdk_error(error: SinkError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SinkError::Config(m) => Sdk::InvalidConfig(m),
        SinkError::Index { .. } => Sdk::InitError(error.to_string()),
        SinkError::Unavailable(e) => Sdk::Connection(e.to_string()),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Sink for QuickwitSink {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        QuickwitSink::open(self).await.map_err(sdk_error)
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, iggy_connectors_sdk::Error> {
        let rejections = QuickwitSink::consume(self, topic, metadata, messages)
            .await
            .map_err(sdk_error)?;
        Ok(consume_outcome(rejections))
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        QuickwitSink::close(self).await.map_err(sdk_error)
    }
}
