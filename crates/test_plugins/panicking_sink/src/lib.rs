//! Test plugin: a sink that panics where `plugin_config.panic_in` says
//! (`"new"`, `"open"`, `"consume"`, `"close"`).

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, Error, MessagesMetadata, Sink, TopicMetadata, sink_connector,
};
use serde::Deserialize;

sink_connector!(PanickingSink);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PanickingSinkConfig {
    pub panic_in: Option<String>,
}

pub struct PanickingSink {
    panic_in: String,
}

impl PanickingSink {
    pub fn new(id: u32, config: PanickingSinkConfig) -> Self {
        let panic_in = config.panic_in.unwrap_or_default();
        if panic_in == "new" {
            panic!("panicking sink {id}: panic in new");
        }
        PanickingSink { panic_in }
    }

    fn maybe_panic(&self, entry: &str) {
        if self.panic_in == entry {
            panic!("panicking sink: panic in {entry}");
        }
    }
}

impl Sink for PanickingSink {
    async fn open(&mut self) -> Result<(), Error> {
        self.maybe_panic("open");
        Ok(())
    }

    async fn consume(
        &self,
        _topic: &TopicMetadata,
        _metadata: MessagesMetadata,
        _messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, Error> {
        self.maybe_panic("consume");
        Ok(ConsumeOutcome::all_stored())
    }

    async fn close(&mut self) -> Result<(), Error> {
        self.maybe_panic("close");
        Ok(())
    }
}
