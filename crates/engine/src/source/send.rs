//! Sending one stream's share of a batch to Iggy: `batch_length` chunks, `linger_time`
//! between sends (upstream's throttle), partitioning, and retries with backoff.

use std::collections::BTreeMap;

use iggy::prelude::{IggyMessage, MessageClient, Partitioning};
use iggy_connectors_sdk::Schema;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{SourceContext, TARGET};
use crate::config::{PartitioningConfig, SourceStreamConfig};
use crate::iggy::identifier;
use crate::stats::Counters;

pub struct StreamSender {
    config: SourceStreamConfig,
    last_send: Option<Instant>,
}

impl StreamSender {
    pub fn new(config: SourceStreamConfig, _partitions: u32) -> Self {
        Self {
            config,
            last_send: None,
        }
    }

    pub fn schema(&self) -> Schema {
        self.config.schema
    }

    /// Sends every message or fails; a failed chunk is retried per the connector's
    /// `RetryOptions` until the budget is spent or the connector is stopping.
    pub async fn send(
        &mut self,
        ctx: &SourceContext,
        messages: &mut [IggyMessage],
        stopping: &watch::Receiver<bool>,
    ) -> Result<(), String> {
        let stream = identifier(&self.config.stream).map_err(|e| e.to_string())?;
        let topic = identifier(&self.config.topic).map_err(|e| e.to_string())?;
        let chunk = self.config.batch_length.max(1) as usize;
        for part in messages.chunks_mut(chunk) {
            if let Some(last) = self.last_send {
                let ready = last + self.config.linger_time;
                if ready > Instant::now() {
                    tokio::time::sleep_until(ready).await;
                }
            }
            let mut attempt = 0u32;
            loop {
                let result = match self.config.partitioning {
                    PartitioningConfig::Balanced => {
                        ctx.client
                            .send_messages(&stream, &topic, &Partitioning::balanced(), part)
                            .await
                    }
                    PartitioningConfig::PartitionId(id) => {
                        ctx.client
                            .send_messages(&stream, &topic, &Partitioning::partition_id(id), part)
                            .await
                    }
                    PartitioningConfig::MessagesKey => {
                        send_by_key(ctx, &stream, &topic, part).await
                    }
                };
                self.last_send = Some(Instant::now());
                let Err(error) = result else { break };
                attempt += 1;
                Counters::add(&ctx.stats.counters.send_errors, 1);
                let message = format!(
                    "send to '{}/{}' failed (attempt {attempt}): {error}",
                    self.config.stream, self.config.topic
                );
                ctx.stats.record_error(message.clone());
                if ctx.config.retry.exhausted(attempt) || *stopping.borrow() {
                    return Err(message);
                }
                ctx.log.warn(TARGET, message);
                let mut stop = stopping.clone();
                tokio::select! {
                    _ = tokio::time::sleep(ctx.config.retry.backoff(attempt)) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            }
        }
        Ok(())
    }
}

/// `messages_key`: messages with the same id go to the same partition; one send per distinct
/// id (Iggy hashes the key server-side).
async fn send_by_key(
    ctx: &SourceContext,
    stream: &iggy::prelude::Identifier,
    topic: &iggy::prelude::Identifier,
    part: &mut [IggyMessage],
) -> Result<(), iggy::prelude::IggyError> {
    let mut groups: BTreeMap<u128, Vec<IggyMessage>> = BTreeMap::new();
    for message in part.iter() {
        groups
            .entry(message.header.id)
            .or_default()
            .push(copy_message(message));
    }
    for (key, mut group) in groups {
        ctx.client
            .send_messages(
                stream,
                topic,
                &Partitioning::messages_key_u128(key),
                &mut group,
            )
            .await?;
    }
    Ok(())
}

/// `IggyMessage` is not `Clone`; payload and headers are `Bytes`, so this copies no data.
fn copy_message(message: &IggyMessage) -> IggyMessage {
    let h = &message.header;
    IggyMessage {
        header: iggy::prelude::IggyMessageHeader {
            checksum: h.checksum,
            id: h.id,
            offset: h.offset,
            timestamp: h.timestamp,
            origin_timestamp: h.origin_timestamp,
            user_headers_length: h.user_headers_length,
            payload_length: h.payload_length,
            reserved: h.reserved,
        },
        payload: message.payload.clone(),
        user_headers: message.user_headers.clone(),
    }
}
