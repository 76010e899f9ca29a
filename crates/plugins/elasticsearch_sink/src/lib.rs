//! Elasticsearch / OpenSearch sink plugin for iggy-connectors (crate
//! `iggy_connector_elasticsearch_sink`).
//!
//! Config-compatible with upstream Apache Iggy's `elasticsearch_sink` 0.4.0, without its data
//! loss: documents carry an explicit `_id` (replays overwrite), `_bulk` goes in `batch_size`
//! chunks with a request timeout, transiently failed items are retried with bounded backoff and
//! `consume` fails when they stay unstored, and items refused for their data are reported to the
//! engine (dead-lettered with the server's reason) while the rest is stored. See README.md.
#![deny(clippy::all)]

pub mod config;
mod document;
mod sink;

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata, sink_connector,
};

pub use config::ElasticsearchSinkConfig;
pub use sink::{ElasticsearchSink, Rejected, SinkError};

sink_connector!(ElasticsearchSink);

fn sdk_error(error: SinkError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SinkError::Config(m) => Sdk::InvalidConfig(m),
        SinkError::Init(m) => Sdk::InitError(m),
        SinkError::Es(e) if e.is_transient() => Sdk::Connection(e.to_string()),
        SinkError::Unstored { .. } => Sdk::Connection(error.to_string()),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Sink for ElasticsearchSink {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        ElasticsearchSink::open(self).await.map_err(sdk_error)
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, iggy_connectors_sdk::Error> {
        let rejected = ElasticsearchSink::consume(self, topic, metadata, messages)
            .await
            .map_err(sdk_error)?;
        // Everything else is stored; the engine dead-letters these with the reason.
        let mut outcome = ConsumeOutcome::all_stored();
        for r in rejected {
            outcome.reject(r.offset, r.reason);
        }
        Ok(outcome)
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        ElasticsearchSink::close(self).await.map_err(sdk_error)
    }
}
