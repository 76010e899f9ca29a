//! Apache Iceberg sink plugin for iggy-connectors (crate `iggy_connector_iceberg_sink`).
//!
//! Config-compatible with upstream Apache Iggy's `iceberg_sink` 0.4.0 (REST catalog, static
//! fan-out or dynamic routing), but exactly-once: each commit records the partition's last
//! Iggy offset in its snapshot summary and a re-delivered message at or below it is skipped.
//! Partitioned tables get real partition values; a payload that does not fit the table is
//! refused alone, with the reason, for the dead-letter topic. See README.md.
#![deny(clippy::all)]

pub mod config;
pub mod offsets;
pub mod records;
mod sink;
mod writer;

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata, sink_connector,
};

pub use config::IcebergSinkConfig;
pub use sink::{IcebergSink, Rejection, SinkError};

sink_connector!(IcebergSink);

fn sdk_error(error: SinkError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SinkError::Config(m) => Sdk::InvalidConfig(m),
        SinkError::Init(m) => Sdk::InitError(m),
        SinkError::Transient(m) => Sdk::Connection(m),
    }
}

impl iggy_connectors_sdk::Sink for IcebergSink {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        IcebergSink::open(self).await.map_err(sdk_error)
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, iggy_connectors_sdk::Error> {
        let rejections = IcebergSink::consume(self, topic, metadata, messages)
            .await
            .map_err(sdk_error)?;
        let mut outcome = ConsumeOutcome::all_stored();
        for rejection in rejections {
            outcome.reject(rejection.offset, rejection.reason);
        }
        Ok(outcome)
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        IcebergSink::close(self).await.map_err(sdk_error)
    }
}
