//! The HTTP sink: `open` validates the config and builds the client (and runs the optional
//! health check); `consume` sends the batch in its mode and reports what was not stored.
//!
//! Nothing is dropped silently (upstream logged failures and moved on):
//! * a request that still fails after its retries makes `consume` return Err, so the engine
//!   re-delivers the batch (messages sent before the failure may arrive twice: at-least-once);
//! * a message the server refuses for its content (a `reject_status_codes` answer), or one too
//!   big to send at all, is returned as a [`Rejection`] for the engine to dead-letter;
//! * any other final status (401, 404, a redirect...) is a configuration problem: Err.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use iggy_connector_http_common::{
    ClientOptions, HttpClient, HttpRequest, Outgoing, Rejection, SendError, log_closed, redact_url,
};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, TopicMetadata};
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::config::{BatchMode, HttpSinkConfig, Settings};
use crate::envelope::{EnvelopeOptions, message_json};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("health check failed: {0}")]
    HealthCheck(SendError),
    /// Retries used up on retryable statuses or transport errors.
    #[error("{0}")]
    Unavailable(SendError),
    /// A final answer that is not about one message's content (auth, wrong URL, redirect).
    #[error("{0}")]
    Refused(SendError),
    #[error("HTTP sink is not open")]
    NotOpen,
}

/// Counters since open, for logs and tests.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub delivered: AtomicU64,
    pub rejected: AtomicU64,
    pub failed_batches: AtomicU64,
}

struct Open {
    settings: Settings,
    client: HttpClient,
    content_type: HeaderValue,
}

pub struct HttpSink {
    id: u32,
    config: Option<HttpSinkConfig>,
    open: Option<Open>,
    counters: Counters,
}

impl HttpSink {
    pub fn new(id: u32, config: HttpSinkConfig) -> Self {
        Self {
            id,
            config: Some(config),
            open: None,
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub async fn open(&mut self) -> Result<(), SinkError> {
        let settings = match (self.config.take(), self.open.take()) {
            (Some(config), _) => config.validate().map_err(SinkError::Config)?,
            (None, Some(open)) => open.settings,
            (None, None) => return Err(SinkError::NotOpen),
        };
        let client = HttpClient::new(
            &ClientOptions {
                timeout: settings.timeout,
                max_idle_per_host: settings.max_connections,
                accept_invalid_certs: settings.accept_invalid_certs,
            },
            settings.backoff,
            settings.success.clone(),
        )
        .map_err(SinkError::Config)?;
        if let Some(method) = &settings.health_check {
            let response = client
                .send(&HttpRequest {
                    method: method.clone(),
                    url: settings.url.clone(),
                    headers: settings.headers.clone(),
                    body: None,
                })
                .await
                .map_err(SinkError::HealthCheck)?;
            tracing::info!(
                "HTTP sink {}: health check answered {}",
                self.id,
                response.status
            );
        }
        tracing::info!(
            "HTTP sink {} opened: {} {} in {:?} mode",
            self.id,
            settings.method,
            redact_url(&settings.url),
            settings.batch_mode
        );
        let content_type = HeaderValue::from_static(settings.batch_mode.content_type());
        self.open = Some(Open {
            settings,
            client,
            content_type,
        });
        Ok(())
    }

    /// Sends one body; Ok once the server answered a success code.
    async fn send(&self, open: &Open, body: Bytes) -> Result<(), SendError> {
        let mut headers = open.settings.headers.clone();
        headers.insert(CONTENT_TYPE, open.content_type.clone());
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = open
            .client
            .send(&HttpRequest {
                method: open.settings.method.clone(),
                url: open.settings.url.clone(),
                headers,
                body: Some(body),
            })
            .await?;
        if open.settings.verbose {
            tracing::info!(
                "HTTP sink {}: {} after {} attempt(s)",
                self.id,
                response.status,
                response.attempts
            );
        }
        Ok(())
    }

    /// Sends `messages`; returns the messages refused for their content. Err when a request
    /// finally failed for any other reason (nothing after it was attempted).
    pub async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<Vec<Rejection>, SinkError> {
        let open = self.open.as_ref().ok_or(SinkError::NotOpen)?;
        let settings = &open.settings;
        let mode = settings.batch_mode;
        let options = EnvelopeOptions {
            include_metadata: settings.include_metadata,
            include_checksum: settings.include_checksum,
            include_origin_timestamp: settings.include_origin_timestamp,
        };
        let mut outgoing = Outgoing::new(
            mode.framing(),
            settings.max_payload_size_bytes,
            messages.len(),
        );
        for message in messages {
            let offset = message.offset;
            let doc = if mode == BatchMode::Raw {
                // The payload's own bytes; JSON re-serialized compactly, as upstream.
                message.payload.into_bytes().map_err(|e| e.to_string())
            } else {
                serde_json::to_vec(&message_json(&message, topic, &metadata, options))
                    .map_err(|e| e.to_string())
            };
            outgoing.push(
                offset,
                doc.map_err(|reason| format!("cannot encode the message: {reason}")),
            );
        }
        let delivered = outgoing
            .deliver(
                0,
                |body| self.send(open, body),
                |e: &SendError| {
                    e.status()
                        .is_some_and(|s| settings.reject_status_codes.contains(&s))
                },
            )
            .await
            .map_err(|error| {
                self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                match error {
                    SendError::Status { .. } => SinkError::Refused(error),
                    other => SinkError::Unavailable(other),
                }
            })?;
        self.counters
            .delivered
            .fetch_add(delivered, Ordering::Relaxed);
        let rejections = outgoing.finish(
            &self.counters.rejected,
            "HTTP sink",
            self.id,
            &topic.stream,
            &topic.topic,
        );
        Ok(rejections)
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        let c = &self.counters;
        log_closed(
            "HTTP sink",
            self.id,
            &[
                (&c.requests, "request(s)"),
                (&c.delivered, "message(s) delivered"),
                (&c.rejected, "refused"),
                (&c.failed_batches, "failed batch(es)"),
            ],
        );
        Ok(())
    }
}
