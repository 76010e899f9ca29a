//! Write path: `consume` turns a batch into line protocol and writes it in `batch_size` chunks.
//!
//! * A message that cannot become a point (payload not JSON for `payload_format = "json"`, not
//!   UTF-8 for `text`, a stream/topic name line protocol cannot carry) is rejected on its own;
//!   the rest of its chunk is written (upstream failed the whole chunk).
//! * A chunk InfluxDB refuses for its content (HTTP 400, 413, 422) is split in halves until the
//!   refused points are isolated; those are rejected with the server's message, the rest stored.
//! * Anything else (server down, 5xx, 429 after the retries, breaker open, token or bucket
//!   rejected) fails `consume` before the batch is acknowledged, so the runtime re-delivers it.
//!   Points already written are overwritten by the replay (same series and time): nothing is
//!   lost and nothing doubles. Upstream dropped the batch in all these cases.

use std::sync::atomic::{AtomicU64, Ordering};

use iggy_connector_influxdb_common::client::is_auth_or_target_error;
use iggy_connector_influxdb_common::{InfluxClient, InfluxError};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, TopicMetadata};

use crate::config::{InfluxDbSinkConfig, Settings};
use crate::point::{append_line, series_parts};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{0}")]
    Init(String),
    #[error(transparent)]
    Influx(#[from] InfluxError),
    #[error("InfluxDB sink is not open")]
    NotOpen,
}

/// One message InfluxDB will never store, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub offset: u64,
    pub reason: String,
}

struct Open {
    settings: Settings,
    client: InfluxClient,
    unsigned: bool,
}

pub struct InfluxDbSink {
    id: u32,
    config: Option<InfluxDbSinkConfig>,
    settings: Option<Settings>,
    open: Option<Open>,
    written: AtomicU64,
    rejected: AtomicU64,
    failed_batches: AtomicU64,
}

/// Statuses meaning "these points are wrong", as opposed to "try again" or "fix the config".
fn is_content_error(status: u16) -> bool {
    matches!(status, 400 | 413 | 422)
}

impl InfluxDbSink {
    pub fn new(id: u32, config: InfluxDbSinkConfig) -> Self {
        Self {
            id,
            config: Some(config),
            settings: None,
            open: None,
            written: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
        }
    }

    /// (points written, messages rejected, consume calls failed) since open.
    pub fn counters(&self) -> (u64, u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
            self.failed_batches.load(Ordering::Relaxed),
        )
    }

    pub fn is_breaker_open(&self) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.client.breaker().is_open())
    }

    /// Validates the config, waits for the server, and checks the token and bucket with an
    /// empty write, so that a wrong token, org or bucket stops the connector here instead of
    /// failing every batch.
    pub async fn open(&mut self) -> Result<(), SinkError> {
        let settings = match self.config.take() {
            Some(config) => config.validate().map_err(SinkError::Config)?,
            None => self.settings.clone().ok_or(SinkError::NotOpen)?,
        };
        let mut client = InfluxClient::new(settings.connection.clone())?;
        client.wait_ready().await.map_err(|e| {
            SinkError::Init(format!(
                "InfluxDB at {} is not ready: {e}",
                settings.connection.url
            ))
        })?;
        match client.write(&settings.bucket, "").await {
            Ok(()) => {}
            // 2.x answers an empty body with 400 "writing requires points" after the token
            // and bucket checks passed.
            Err(InfluxError::Status { status: 400, .. }) => {}
            Err(InfluxError::Status { status, body, .. }) if is_auth_or_target_error(status) => {
                return Err(SinkError::Init(format!(
                    "InfluxDB at {} refused writes to bucket {:?} of org {:?} (HTTP {status}: {body}); \
                     check plugin_config.token, plugin_config.org and plugin_config.bucket",
                    settings.connection.url, settings.bucket, settings.connection.org
                )));
            }
            Err(error) => {
                return Err(SinkError::Init(format!(
                    "cannot write to InfluxDB bucket {:?}: {error}",
                    settings.bucket
                )));
            }
        }
        let unsigned = settings
            .unsigned_integers
            .unwrap_or_else(|| client.supports_unsigned_fields());
        tracing::info!(
            "InfluxDB sink {} opened: {} (version {}), bucket {:?}, measurement {:?}, {} integer fields",
            self.id,
            settings.connection.url,
            client.version().unwrap_or("unknown"),
            settings.bucket,
            settings.measurement,
            if unsigned { "unsigned" } else { "signed" }
        );
        self.settings = Some(settings.clone());
        self.open = Some(Open {
            settings,
            client,
            unsigned,
        });
        Ok(())
    }

    /// Writes the batch; `Ok` lists the messages InfluxDB can never store (everything else is
    /// stored), `Err` means the batch must be delivered again.
    pub async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<Vec<Rejected>, SinkError> {
        let open = self.open.as_ref().ok_or(SinkError::NotOpen)?;
        let result = self.write_batch(open, topic, metadata, messages).await;
        match &result {
            Ok(rejected) => {
                self.rejected
                    .fetch_add(rejected.len() as u64, Ordering::Relaxed);
                for r in rejected {
                    tracing::warn!(
                        "InfluxDB sink {}: message at offset {} of {}/{} partition {} rejected: {}",
                        self.id,
                        r.offset,
                        topic.stream,
                        topic.topic,
                        metadata.partition_id,
                        r.reason
                    );
                }
            }
            Err(error) => {
                self.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "InfluxDB sink {}: batch of {}/{} partition {} from offset {} not stored, to be re-delivered: {error}",
                    self.id,
                    topic.stream,
                    topic.topic,
                    metadata.partition_id,
                    metadata.current_offset
                );
            }
        }
        result
    }

    async fn write_batch(
        &self,
        open: &Open,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<Vec<Rejected>, SinkError> {
        let settings = &open.settings;
        let mut rejected = Vec::new();
        let series = match series_parts(settings, topic, metadata.partition_id, open.unsigned) {
            Ok(series) => series,
            Err(error) => {
                return Ok(messages
                    .iter()
                    .map(|m| Rejected {
                        offset: m.offset,
                        reason: error.to_string(),
                    })
                    .collect());
            }
        };
        let total = messages.len();
        // (offset, line) of every message that became a point.
        let mut lines: Vec<(u64, String)> = Vec::with_capacity(total);
        for message in messages {
            let offset = message.offset;
            let mut line = String::new();
            match append_line(settings, &series, open.unsigned, message, &mut line) {
                Ok(()) => lines.push((offset, line)),
                Err(reason) => rejected.push(Rejected { offset, reason }),
            }
        }
        let mut written = 0u64;
        for chunk in lines.chunks(settings.batch_size) {
            written += self.write_isolating(open, chunk, &mut rejected).await?;
        }
        self.written.fetch_add(written, Ordering::Relaxed);
        if settings.verbose {
            tracing::info!(
                "InfluxDB sink {}: {written} of {total} points written, {} rejected ({}/{} partition {})",
                self.id,
                rejected.len(),
                topic.stream,
                topic.topic,
                metadata.partition_id
            );
        }
        rejected.sort_by_key(|r| r.offset);
        Ok(rejected)
    }

    /// Writes `chunk`; when InfluxDB refuses it for its content, halves it until the refused
    /// lines are alone and rejects those. Returns how many points were written.
    async fn write_isolating(
        &self,
        open: &Open,
        chunk: &[(u64, String)],
        rejected: &mut Vec<Rejected>,
    ) -> Result<u64, SinkError> {
        let mut pending: Vec<&[(u64, String)]> = vec![chunk];
        let mut written = 0u64;
        while let Some(part) = pending.pop() {
            let body = join_lines(part);
            match open.client.write(&open.settings.bucket, &body).await {
                Ok(()) => written += part.len() as u64,
                Err(InfluxError::Status { status, body, .. }) if is_content_error(status) => {
                    if part.len() == 1 {
                        rejected.push(Rejected {
                            offset: part[0].0,
                            reason: format!("InfluxDB refused the point (HTTP {status}): {body}"),
                        });
                    } else {
                        let (left, right) = part.split_at(part.len() / 2);
                        pending.push(right);
                        pending.push(left);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(written)
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        self.open = None;
        let (written, rejected, failed) = self.counters();
        tracing::info!(
            "InfluxDB sink {} closed: {written} points written, {rejected} messages rejected, {failed} batches failed",
            self.id
        );
        Ok(())
    }
}

fn join_lines(lines: &[(u64, String)]) -> String {
    let mut body = String::with_capacity(lines.iter().map(|(_, l)| l.len() + 1).sum());
    for (i, (_, line)) in lines.iter().enumerate() {
        if i > 0 {
            body.push('\n');
        }
        body.push_str(line);
    }
    body
}
