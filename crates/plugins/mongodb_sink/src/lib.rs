//! MongoDB sink plugin for iggy-connectors (crate `iggy_connector_mongodb_sink`).
//!
//! Config- and document-compatible with upstream Apache Iggy's `mongodb_sink` 0.4.0, but it
//! does not lose data: `consume` fails when documents were not stored (after bounded retries
//! of transient errors), replays are idempotent (deterministic `_id`, duplicates count as
//! stored), and a document refused for its content is reported alone, with the server's
//! reason, for the dead-letter topic while its neighbours are stored. See README.md.
#![deny(clippy::all)]

pub mod config;
pub mod document;
mod failure;
mod sink;

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata, sink_connector,
};

pub use config::MongoDbSinkConfig;
pub use sink::{MongoDbSink, Rejection, SinkCounters, SinkError};

sink_connector!(MongoDbSink);

fn sdk_error(error: SinkError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SinkError::Config(m) => Sdk::InvalidConfig(m),
        SinkError::Init(m) => Sdk::InitError(m),
        SinkError::Transient(m) => Sdk::Connection(m),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Sink for MongoDbSink {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        MongoDbSink::open(self).await.map_err(sdk_error)
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, iggy_connectors_sdk::Error> {
        let rejections = MongoDbSink::consume(self, topic, metadata, messages)
            .await
            .map_err(sdk_error)?;
        let mut outcome = ConsumeOutcome::all_stored();
        for rejection in rejections {
            outcome.reject(rejection.offset, rejection.reason);
        }
        Ok(outcome)
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        MongoDbSink::close(self).await.map_err(sdk_error)
    }
}
