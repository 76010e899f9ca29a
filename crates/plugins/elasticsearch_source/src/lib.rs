//! Elasticsearch / OpenSearch source plugin for iggy-connectors (crate
//! `iggy_connector_elasticsearch_source`).
//!
//! Config- and state-compatible with upstream Apache Iggy's `elasticsearch_source` 0.4.0, but it
//! neither skips nor repeats: `search_after` paging on (timestamp, unique tie-breaker), a cursor
//! committed only after the runtime acknowledged the batch, and stable message ids derived from
//! (index, `_id`). See README.md.
#![deny(clippy::all)]

pub mod config;
mod source;
pub mod state;
mod state_file;

use iggy_connectors_sdk::{ProducedMessages, SourceBatchResult, source_connector};

pub use config::ElasticsearchSourceConfig;
pub use source::{ElasticsearchSource, SourceError, message_id};
pub use state::SourceState;

source_connector!(ElasticsearchSource);

fn sdk_error(error: SourceError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SourceError::Config(m) => Sdk::InvalidConfig(m),
        SourceError::Init(m) => Sdk::InitError(m),
        SourceError::Es(e) if e.is_transient() => Sdk::Connection(e.to_string()),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Source for ElasticsearchSource {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        ElasticsearchSource::open(self).await.map_err(sdk_error)
    }

    async fn poll(&self) -> Result<ProducedMessages, iggy_connectors_sdk::Error> {
        ElasticsearchSource::poll(self).await.map_err(sdk_error)
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
        ElasticsearchSource::close(self).await.map_err(sdk_error)
    }
}
