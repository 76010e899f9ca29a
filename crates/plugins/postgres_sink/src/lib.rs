//! PostgreSQL sink plugin for iggy-connectors (crate `iggy_connector_postgres_sink`).
//!
//! Config- and table-compatible with upstream Apache Iggy's `postgres_sink` 0.4.0, but it does
//! not lose data: `consume` returns Err when rows were not stored (after bounded retries of
//! transient errors), replays are idempotent (`ON CONFLICT (id) DO NOTHING`), rows PostgreSQL refuses are
//! reported to the runtime as rejected (dead-lettered), and
//! statements respect PostgreSQL's bind-parameter limit. See README.md.
#![deny(clippy::all)]

pub mod config;
mod params;
mod sink;

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata, sink_connector,
};

pub use config::PostgresSinkConfig;
pub use sink::{PostgresSink, SinkError};

sink_connector!(PostgresSink);

fn sdk_error(error: SinkError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SinkError::Config(m) => Sdk::InvalidConfig(m),
        SinkError::Init(m) => Sdk::InitError(m),
        SinkError::Db {
            transient: true, ..
        } => Sdk::Connection(error.to_string()),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Sink for PostgresSink {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        PostgresSink::open(self).await.map_err(sdk_error)
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, iggy_connectors_sdk::Error> {
        PostgresSink::consume(self, topic, metadata, messages)
            .await
            .map_err(sdk_error)
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        PostgresSink::close(self).await.map_err(sdk_error)
    }
}
