//! Engine test sink built with the SDK macros, so it exports `iggy_sink_consume_v2`.
//!
//! Appends one line per stored message to `output`, in the format of `engine_test_sink`
//! (`<stream>\t<topic>\t<partition>\t<offset>\t<id>\t<payload>`), and rejects every message
//! whose JSON payload has `"reject": true`, with the reason `rejected on request (seq <seq>)`.
//! The first `fail_first` consume calls return `Err` without storing anything.
#![deny(clippy::all)]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, Error, MessagesMetadata, Payload, Sink, TopicMetadata,
    sink_connector,
};
use serde::Deserialize;

sink_connector!(RejectingSink);

#[derive(Debug, Deserialize)]
pub struct Config {
    output: String,
    #[serde(default)]
    fail_first: u64,
}

pub struct RejectingSink {
    config: Config,
    calls: AtomicU64,
}

impl RejectingSink {
    pub fn new(_id: u32, config: Config) -> Self {
        Self {
            config,
            calls: AtomicU64::new(0),
        }
    }
}

/// `Some(seq)` when the payload asks to be rejected.
fn rejection(payload: &Payload) -> Option<u64> {
    match payload {
        Payload::Json(value) if value["reject"] == serde_json::Value::Bool(true) => {
            Some(value["seq"].as_u64().unwrap_or(u64::MAX))
        }
        _ => None,
    }
}

impl Sink for RejectingSink {
    async fn open(&mut self) -> Result<(), Error> {
        Ok(())
    }

    async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, Error> {
        if self.calls.fetch_add(1, Ordering::Relaxed) < self.config.fail_first {
            return Err(Error::Connection("failing on purpose".into()));
        }
        let mut outcome = ConsumeOutcome::all_stored();
        let mut lines = String::new();
        for message in messages {
            if let Some(seq) = rejection(&message.payload) {
                outcome.reject(message.offset, format!("rejected on request (seq {seq})"));
                continue;
            }
            let payload = message.payload.into_bytes()?;
            lines.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                topic.stream,
                topic.topic,
                metadata.partition_id,
                message.offset,
                message.id,
                String::from_utf8_lossy(&payload)
            ));
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.output)
            .and_then(|mut file| file.write_all(lines.as_bytes()))
            .map_err(|error| Error::Storage(error.to_string()))?;
        Ok(outcome)
    }

    async fn close(&mut self) -> Result<(), Error> {
        Ok(())
    }
}
