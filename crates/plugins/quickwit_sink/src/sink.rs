//! The Quickwit sink: `open` makes sure the index exists (creating it from the inline config),
//! `consume` ingests the JSON documents as NDJSON in chunks that fit Quickwit's limits.
//!
//! * Documents are the message payloads unchanged (no metadata, no id), as upstream.
//! * A payload that is not a JSON object cannot be a Quickwit document: it is returned as a
//!   [`Rejection`] for the engine to dead-letter (upstream skipped it with a warning).
//! * Transient failures (429, 5xx, transport) are retried within the back-off; if they persist
//!   `consume` fails and the engine re-delivers. A chunk Quickwit refuses as a bad request is
//!   split until the refused documents are isolated and rejected.
//! * If the index disappears (404 on ingest), it is created again from the config and the
//!   chunk is sent once more.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use iggy_connector_http_common::{
    ClientOptions, Framing, HttpClient, HttpRequest, Outgoing, Rejection, SendError, SuccessCodes,
    log_closed, redact_url,
};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, TopicMetadata};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};

use crate::config::{QuickwitSinkConfig, Settings};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("Quickwit index `{index}`: {error}")]
    Index { index: String, error: SendError },
    /// Retries used up on retryable statuses or transport errors.
    #[error("{0}")]
    Unavailable(SendError),
    /// A final answer about the request, not about one document (auth proxy, wrong URL...).
    #[error("{0}")]
    Refused(SendError),
    #[error("Quickwit sink is not open")]
    NotOpen,
}

/// Statuses Quickwit answers when the request's documents are the problem (a malformed
/// body, or a body over its size limit); a single document with such an answer is rejected.
const CONTENT_REFUSALS: [u16; 2] = [400, 413];

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub ingested: AtomicU64,
    pub rejected: AtomicU64,
    pub indexes_created: AtomicU64,
}

struct Open {
    settings: Settings,
    client: HttpClient,
    index_url: Url,
    indexes_url: Url,
    ingest_url: Url,
}

pub struct QuickwitSink {
    id: u32,
    config: Option<QuickwitSinkConfig>,
    open: Option<Open>,
    counters: Counters,
}

fn join(base: &Url, path: &str) -> Result<Url, SinkError> {
    Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/')))
        .map_err(|e| SinkError::Config(format!("plugin_config.url + {path}: {e}")))
}

impl QuickwitSink {
    pub fn new(id: u32, config: QuickwitSinkConfig) -> Self {
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
                max_idle_per_host: 10,
                accept_invalid_certs: false,
            },
            settings.backoff,
            SuccessCodes::any_2xx(),
        )
        .map_err(SinkError::Config)?;
        let id = settings.index.index_id.clone();
        let open = Open {
            index_url: join(&settings.url, &format!("/api/v1/indexes/{id}"))?,
            indexes_url: join(&settings.url, "/api/v1/indexes")?,
            ingest_url: join(
                &settings.url,
                &format!("/api/v1/{id}/ingest?commit={}", settings.commit.as_str()),
            )?,
            settings,
            client,
        };
        self.ensure_index(&open).await?;
        tracing::info!(
            "Quickwit sink {} opened: index `{id}` at {}, commit={}",
            self.id,
            redact_url(&open.settings.url),
            open.settings.commit.as_str()
        );
        self.open = Some(open);
        Ok(())
    }

    /// `GET /api/v1/indexes/{id}`: 2xx exists, 404 missing (then created), anything else fails.
    async fn ensure_index(&self, open: &Open) -> Result<(), SinkError> {
        let index = &open.settings.index;
        let index_error = |error| SinkError::Index {
            index: index.index_id.clone(),
            error,
        };
        let get = HttpRequest {
            method: Method::GET,
            url: open.index_url.clone(),
            headers: HeaderMap::new(),
            body: None,
        };
        match open.client.send(&get).await {
            Ok(_) => return Ok(()),
            Err(error) if error.status() == Some(404) => {}
            Err(error) => return Err(index_error(error)),
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(index.content_type));
        let create = HttpRequest {
            method: Method::POST,
            url: open.indexes_url.clone(),
            headers,
            body: Some(Bytes::from(index.text.clone())),
        };
        match open.client.send(&create).await {
            Ok(_) => {
                self.counters
                    .indexes_created
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    "Quickwit sink {}: created index `{}`",
                    self.id,
                    index.index_id
                );
                Ok(())
            }
            // Another sink instance created it between our GET and POST.
            Err(error)
                if matches!(error.status(), Some(400 | 409))
                    && error.body().is_some_and(|b| b.contains("already exist")) =>
            {
                Ok(())
            }
            Err(error) => Err(index_error(error)),
        }
    }

    async fn ingest(&self, open: &Open, body: Bytes) -> Result<(), SinkError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        let request = HttpRequest {
            method: Method::POST,
            url: open.ingest_url.clone(),
            headers,
            body: Some(body),
        };
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let result = match open.client.send(&request).await {
            Err(error) if error.status() == Some(404) => {
                tracing::warn!(
                    "Quickwit sink {}: index `{}` not found on ingest; creating it again",
                    self.id,
                    open.settings.index.index_id
                );
                self.ensure_index(open).await?;
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                open.client.send(&request).await
            }
            other => other,
        };
        match result {
            Ok(response) => {
                if open.settings.verbose {
                    tracing::info!(
                        "Quickwit sink {}: ingest answered {} {}",
                        self.id,
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    );
                }
                Ok(())
            }
            Err(error @ SendError::Status { .. }) => Err(SinkError::Refused(error)),
            Err(error) => Err(SinkError::Unavailable(error)),
        }
    }

    /// Ingests the JSON-object payloads of `messages`; returns the messages that cannot be
    /// Quickwit documents or that Quickwit refused. Err when a request finally failed otherwise.
    pub async fn consume(
        &self,
        topic: &TopicMetadata,
        _metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<Vec<Rejection>, SinkError> {
        let open = self.open.as_ref().ok_or(SinkError::NotOpen)?;
        let mut outgoing = Outgoing::new(
            Framing::Ndjson,
            open.settings.max_payload_size_bytes,
            messages.len(),
        );
        for message in messages {
            let doc = match &message.payload {
                Payload::Json(value @ serde_json::Value::Object(_)) => serde_json::to_vec(value)
                    .map_err(|e| format!("cannot serialize the document: {e}")),
                Payload::Json(other) => Err(format!(
                    "a Quickwit document must be a JSON object, this payload is {}",
                    json_kind(other)
                )),
                other => Err(format!(
                    "the payload is {} (stream schema {}); the Quickwit sink needs schema \"json\" payloads that are JSON objects",
                    other.kind(),
                    other.schema()
                )),
            };
            outgoing.push(message.offset, doc);
        }

        let ingested = outgoing
            .deliver(
                open.settings.batch_size,
                |body| self.ingest(open, body),
                |e: &SinkError| {
                    matches!(e, SinkError::Refused(s) if s.status().is_some_and(|c| CONTENT_REFUSALS.contains(&c)))
                },
            )
            .await?;
        self.counters
            .ingested
            .fetch_add(ingested, Ordering::Relaxed);
        let rejections = outgoing.finish(
            &self.counters.rejected,
            "Quickwit sink",
            self.id,
            &topic.stream,
            &topic.topic,
        );
        Ok(rejections)
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        let c = &self.counters;
        log_closed(
            "Quickwit sink",
            self.id,
            &[
                (&c.requests, "ingest request(s)"),
                (&c.ingested, "document(s) ingested"),
                (&c.rejected, "rejected"),
            ],
        );
        Ok(())
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
