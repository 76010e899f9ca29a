//! PostgreSQL source plugin for iggy-connectors (crate `iggy_connector_postgres_source`).
//!
//! Config-compatible with upstream Apache Iggy's `postgres_source` 0.4.0: polling mode reads
//! tables incrementally by a tracking column (or runs a `custom_query`); CDC mode streams
//! INSERT/UPDATE/DELETE through a logical replication slot (`test_decoding`). Every cursor move,
//! row delete/mark and slot advance waits for the runtime's Ack. See README.md.
#![deny(clippy::all)]

mod cdc;
mod cdc_parse;
pub mod config;
mod decode;
pub mod error;
mod polling;
mod rows;
mod source;
pub mod state;

use iggy_connectors_sdk::{ProducedMessages, SourceBatchResult, source_connector};

pub use config::PostgresSourceConfig;
pub use source::PostgresSource;
pub use state::SourceState;

source_connector!(PostgresSource);

fn sdk_error(error: error::Error) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        error::Error::Config(m) => Sdk::InvalidConfig(m),
        error::Error::Init(m) => Sdk::InitError(m),
        error::Error::Record(m) => Sdk::Serialization(m),
        other @ error::Error::Db { .. } => Sdk::Storage(other.to_string()),
        other => Sdk::Other(other.to_string()),
    }
}

impl iggy_connectors_sdk::Source for PostgresSource {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        PostgresSource::open(self).await.map_err(sdk_error)
    }

    async fn poll(&self) -> Result<ProducedMessages, iggy_connectors_sdk::Error> {
        PostgresSource::poll(self).await.map_err(sdk_error)
    }

    async fn on_batch_result(
        &self,
        result: SourceBatchResult,
    ) -> Result<(), iggy_connectors_sdk::Error> {
        match result {
            SourceBatchResult::Ack => self.ack().await.map_err(sdk_error),
            SourceBatchResult::Nack => {
                self.nack();
                Ok(())
            }
        }
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        PostgresSource::close(self).await.map_err(sdk_error)
    }
}
