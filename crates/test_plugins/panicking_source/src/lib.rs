//! Test plugin: a source that panics where `plugin_config.panic_in` says
//! (`"new"`, `"open"`, `"poll"`, `"on_batch_result"`, `"close"`), and otherwise produces one
//! one-byte raw message per poll every 10 ms.

use iggy_connectors_sdk::{
    ConnectorState, Error, ProducedMessage, ProducedMessages, Schema, Source, SourceBatchResult,
    source_connector,
};
use serde::Deserialize;

source_connector!(PanickingSource);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PanickingSourceConfig {
    pub panic_in: Option<String>,
}

pub struct PanickingSource {
    panic_in: String,
}

impl PanickingSource {
    pub fn new(id: u32, config: PanickingSourceConfig, _state: Option<ConnectorState>) -> Self {
        let panic_in = config.panic_in.unwrap_or_default();
        if panic_in == "new" {
            panic!("panicking source {id}: panic in new");
        }
        PanickingSource { panic_in }
    }

    fn maybe_panic(&self, entry: &str) {
        if self.panic_in == entry {
            panic!("panicking source: panic in {entry}");
        }
    }
}

impl Source for PanickingSource {
    async fn open(&mut self) -> Result<(), Error> {
        self.maybe_panic("open");
        Ok(())
    }

    async fn poll(&self) -> Result<ProducedMessages, Error> {
        iggy_connectors_sdk::tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        self.maybe_panic("poll");
        Ok(ProducedMessages {
            schema: Schema::Raw,
            messages: vec![ProducedMessage {
                id: None,
                checksum: None,
                timestamp: None,
                origin_timestamp: None,
                headers: None,
                payload: vec![1],
            }],
            state: None,
        })
    }

    async fn on_batch_result(&self, _result: SourceBatchResult) -> Result<(), Error> {
        self.maybe_panic("on_batch_result");
        Ok(())
    }

    async fn close(&mut self) -> Result<(), Error> {
        self.maybe_panic("close");
        Ok(())
    }
}
