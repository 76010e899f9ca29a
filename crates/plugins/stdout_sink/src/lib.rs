//! `stdout_sink`: logs every batch (as upstream) and also prints it to the process's
//! stdout, so the quick start can be followed by eye or with `grep`:
//!
//! ```text
//! [test_stream/test_topic p1 #41] {"id":"…","title":"Hello","name":"World","text":"…"}
//! stdout_sink (id 2): 100 messages from test_stream/test_topic p1 (schema json, offset 140, batch #3)
//! ```

mod render;

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use iggy_connectors_sdk::tracing::{info, warn};
use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, Error, MessagesMetadata, Sink, TopicMetadata, sink_connector,
};
use schemars::JsonSchema;
use serde::Deserialize;

pub use render::render_batch;

sink_connector!(StdoutSink);

/// `[plugin_config]`; a file without it gets the defaults.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StdoutSinkConfig {
    /// Print one line per message with its payload (default `false`).
    pub print_payload: bool,
    /// Print one line per message with id, timestamps, checksum and headers (default `false`).
    pub print_metadata: bool,
}

#[derive(Debug)]
pub struct StdoutSink {
    id: u32,
    config: StdoutSinkConfig,
    batches: AtomicU64,
    messages: AtomicU64,
}

impl StdoutSink {
    pub fn new(id: u32, config: StdoutSinkConfig) -> Self {
        StdoutSink {
            id,
            config,
            batches: AtomicU64::new(0),
            messages: AtomicU64::new(0),
        }
    }
}

impl Sink for StdoutSink {
    async fn open(&mut self) -> Result<(), Error> {
        info!(
            "stdout sink (id {}) opened: print_payload={}, print_metadata={}",
            self.id, self.config.print_payload, self.config.print_metadata
        );
        Ok(())
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, Error> {
        let batch = self.batches.fetch_add(1, Ordering::Relaxed) + 1;
        self.messages
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        info!(
            "stdout sink (id {}) received {} messages, schema {}, stream {}, topic {}, partition {}, offset {}, batch #{}",
            self.id,
            messages.len(),
            metadata.schema,
            topic.stream,
            topic.topic,
            metadata.partition_id,
            metadata.current_offset,
            batch
        );
        // Render first, then write once under one stdout lock, so concurrent batches from
        // other topics never interleave line by line.
        let text = render_batch(self.id, self.config, topic, &metadata, &messages, batch);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // Losing console output must not fail the batch.
            warn!(
                "stdout sink (id {}) cannot write to stdout: {error}",
                self.id
            );
        }
        Ok(ConsumeOutcome::all_stored())
    }

    async fn close(&mut self) -> Result<(), Error> {
        info!(
            "stdout sink (id {}) closed after {} messages in {} batches",
            self.id,
            self.messages.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;
