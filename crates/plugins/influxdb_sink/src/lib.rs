//! InfluxDB sink plugin for iggy-connectors (crate `iggy_connector_influxdb_sink`).
//!
//! Config-compatible with upstream Apache Iggy's `influxdb_sink` 0.4.0: every message becomes a
//! line-protocol point written through `POST /api/v2/write`. Unlike upstream it loses nothing:
//! a batch that was not stored fails `consume` (the runtime re-delivers it, and replays
//! overwrite the same points), and a message InfluxDB can never store is rejected on its own
//! through the SDK's sink-rejections API instead of failing its chunk. See README.md.
#![deny(clippy::all)]

pub mod config;
pub mod point;
mod sink;

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata, sink_connector,
};

pub use config::InfluxDbSinkConfig;
pub use sink::{InfluxDbSink, Rejected, SinkError};

sink_connector!(InfluxDbSink);

fn sdk_error(error: SinkError) -> iggy_connectors_sdk::Error {
    use iggy_connectors_sdk::Error as Sdk;
    match error {
        SinkError::Config(m) => Sdk::InvalidConfig(m),
        SinkError::Init(m) => Sdk::InitError(m),
        SinkError::Influx(e) if e.is_transient() => Sdk::Connection(e.to_string()),
        other => Sdk::Storage(other.to_string()),
    }
}

impl iggy_connectors_sdk::Sink for InfluxDbSink {
    async fn open(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        InfluxDbSink::open(self).await.map_err(sdk_error)
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, iggy_connectors_sdk::Error> {
        let rejected = InfluxDbSink::consume(self, topic, metadata, messages)
            .await
            .map_err(sdk_error)?;
        let mut outcome = ConsumeOutcome::all_stored();
        for r in rejected {
            outcome.reject(r.offset, r.reason);
        }
        Ok(outcome)
    }

    async fn close(&mut self) -> Result<(), iggy_connectors_sdk::Error> {
        InfluxDbSink::close(self).await.map_err(sdk_error)
    }
}
