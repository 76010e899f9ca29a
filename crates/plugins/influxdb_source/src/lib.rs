//! InfluxDB source plugin for iggy-connectors (crate `iggy_connector_influxdb_source`).
//!
//! Config- and state-compatible with upstream Apache Iggy's `influxdb_source` 0.4.0: a Flux
//! query with `$cursor`/`$limit` placeholders runs through `POST /api/v2/query` every
//! `poll_interval`, each result row becomes a message, and the cursor moves only when the
//! runtime acknowledges the batch. See README.md for the defects it fixes.
#![deny(clippy::all)]

pub mod config;
pub mod cursor;
pub mod rows;
mod source;
pub mod state;

use iggy_connectors_sdk::{ProducedMessages, SourceBatchResult, source_connector};

pub use config::InfluxDbSourceConfig;
pub use source::{InfluxDbSource, SourceError};
pub use state::SourceState;

source_connector!(InfluxDbSource);

fn sdk_error(error: SourceError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SourceError::Config(m) => Sdk::InvalidConfig(m),
        SourceError::Init(m) => Sdk::InitError(m),
        SourceError::State(m) => Sdk::InvalidState(m),
        SourceError::Influx(e) if e.is_transient() => Sdk::Connection(e.to_string()),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Source for InfluxDbSource {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        InfluxDbSource::open(self).await.map_err(sdk_error)
    }

    async fn poll(&self) -> Result<ProducedMessages, iggy_connectors_sdk::Error> {
        InfluxDbSource::poll(self).await.map_err(sdk_error)
    }

    async fn on_batch_result(
        &self,
        result: SourceBatchResult,
    ) -> Result<(), iggy_connectors_sdk::Error> {
        match result {
            SourceBatchResult::Ack => self.ack(),
            SourceBatchResult::Nack => self.nack(),
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        InfluxDbSource::close(self).await.map_err(sdk_error)
    }
}
