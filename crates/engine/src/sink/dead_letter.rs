//! The dead-letter topic: messages that failed to decode or transform, with headers saying
//! why and where they came from.

use std::str::FromStr;
use std::sync::Arc;

use iggy::prelude::{IggyClient, IggyMessage, MessageClient, Partitioning};
use iggy_common::{HeaderKey, HeaderValue};

use crate::config::DeadLetterConfig;
use crate::iggy::{EnsureTopic, ensure_topic, identifier};

pub const HEADER_ERROR: &str = "iggy-connectors-error";
pub const HEADER_STREAM: &str = "iggy-connectors-source-stream";
pub const HEADER_TOPIC: &str = "iggy-connectors-source-topic";
pub const HEADER_PARTITION: &str = "iggy-connectors-source-partition";
pub const HEADER_OFFSET: &str = "iggy-connectors-source-offset";

pub struct DeadLetter {
    client: Arc<IggyClient>,
    pub config: DeadLetterConfig,
}

/// Where a failed message came from.
pub struct Origin<'a> {
    pub stream: &'a str,
    pub topic: &'a str,
    pub partition: u32,
}

impl DeadLetter {
    /// Makes sure the dead-letter stream and topic exist (created when missing: naming a
    /// dead-letter topic is the request to have one).
    pub async fn prepare(
        client: Arc<IggyClient>,
        config: DeadLetterConfig,
    ) -> Result<Self, String> {
        ensure_topic(
            &client,
            EnsureTopic {
                stream: &config.stream,
                topic: &config.topic,
                create_stream: true,
                create_topic: true,
                partitions: 1,
            },
        )
        .await
        .map_err(|e| format!("dead-letter topic: {e}"))?;
        Ok(Self { client, config })
    }

    /// Sends the failed messages (original payload, id and headers, plus error headers).
    pub async fn send(
        &self,
        origin: &Origin<'_>,
        failed: &[(&IggyMessage, &str)],
    ) -> Result<(), String> {
        let mut messages = Vec::with_capacity(failed.len());
        for (message, reason) in failed {
            let mut headers = message
                .user_headers_map()
                .ok()
                .flatten()
                .unwrap_or_default();
            let mut put = |key: &str, value: &str| {
                if let (Ok(k), Ok(v)) = (
                    HeaderKey::from_str(key),
                    HeaderValue::from_str(&truncate(value)),
                ) {
                    headers.insert(k, v);
                }
            };
            put(HEADER_ERROR, reason);
            put(HEADER_STREAM, origin.stream);
            put(HEADER_TOPIC, origin.topic);
            put(HEADER_PARTITION, &origin.partition.to_string());
            put(HEADER_OFFSET, &message.header.offset.to_string());
            let built = IggyMessage::builder()
                .id(message.header.id)
                .payload(message.payload.clone())
                .user_headers(headers)
                .build()
                .map_err(|e| e.to_string())?;
            messages.push(built);
        }
        let stream = identifier(&self.config.stream).map_err(|e| e.to_string())?;
        let topic = identifier(&self.config.topic).map_err(|e| e.to_string())?;
        self.client
            .send_messages(&stream, &topic, &Partitioning::balanced(), &mut messages)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Header values hold at most 255 bytes; cut at a character boundary.
fn truncate(value: &str) -> String {
    let value = if value.is_empty() { "-" } else { value };
    if value.len() <= 255 {
        return value.to_owned();
    }
    let mut end = 255;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}
