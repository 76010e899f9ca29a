//! The sink's lifecycle and the `_bulk` path.
//!
//! `consume` writes the batch in `batch_size` chunks. Each chunk's items are sent with an
//! explicit `_id` (the Iggy message id, or `id_field`), so a re-delivered batch overwrites what
//! it already stored instead of duplicating it. `_bulk` answers per item:
//! * 2xx: stored;
//! * 429 / 5xx (and a failed request as a whole: transport error, 429, 5xx): sent again, only
//!   those items, with exponential backoff, up to `max_retries` attempts; when they still fail
//!   `consume` returns Err and the engine re-delivers the whole batch (idempotent by `_id`);
//! * any other status (400 mapping conflict, 409 …): refused for its data, reported as rejected
//!   with the server's reason, never retried; the rest of the batch is stored.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use iggy_connector_elasticsearch_common::client::{
    Body, Method, is_transient_status, path_segment,
};
use iggy_connector_elasticsearch_common::{EsClient, EsError};
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, TopicMetadata};
use serde_json::{Value, json};

use crate::config::{ElasticsearchSinkConfig, Settings};
use crate::document::{self, Document};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{0}")]
    Init(String),
    #[error(transparent)]
    Es(#[from] EsError),
    /// Items still failing transiently after every attempt.
    #[error("{count} document(s) not stored after {attempts} attempt(s), first: {first_error}")]
    Unstored {
        count: usize,
        attempts: u32,
        first_error: String,
    },
    #[error("Elasticsearch sink is not open")]
    NotOpen,
}

/// A message the server (or the document mapping) refused for its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub offset: u64,
    pub reason: String,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    indexed: AtomicU64,
    rejected: AtomicU64,
    retried: AtomicU64,
}

pub struct ElasticsearchSink {
    id: u32,
    config: Option<ElasticsearchSinkConfig>,
    settings: Option<Settings>,
    client: Option<EsClient>,
    counters: Counters,
}

impl ElasticsearchSink {
    pub fn new(id: u32, config: ElasticsearchSinkConfig) -> Self {
        Self {
            id,
            config: Some(config),
            settings: None,
            client: None,
            counters: Counters::default(),
        }
    }

    fn ready(&self) -> Result<(&Settings, &EsClient), SinkError> {
        match (&self.settings, &self.client) {
            (Some(settings), Some(client)) => Ok((settings, client)),
            _ => Err(SinkError::NotOpen),
        }
    }

    pub async fn open(&mut self) -> Result<(), SinkError> {
        let settings = match self.config.take() {
            Some(config) => config.validate().map_err(SinkError::Config)?,
            None => self.settings.clone().ok_or(SinkError::NotOpen)?,
        };
        let client = EsClient::new(&settings.connection, settings.timeout, settings.retry)
            .map_err(|e| SinkError::Config(e.to_string()))?;
        let root = client
            .call("checking the cluster", Method::GET, "/", None)
            .await
            .map_err(|e| SinkError::Init(e.to_string()))?;
        let index_path = format!("/{}", path_segment(&settings.index));
        if settings.create_index_if_not_exists
            && !client
                .exists("checking the index", &index_path)
                .await
                .map_err(|e| SinkError::Init(e.to_string()))?
        {
            let body = settings.index_mapping.clone().unwrap_or_else(|| json!({}));
            match client
                .call(
                    "creating the index",
                    Method::PUT,
                    &index_path,
                    Some(&Body::Json(&body)),
                )
                .await
            {
                Ok(_) => tracing::info!(
                    "Elasticsearch sink {}: created index '{}'",
                    self.id,
                    settings.index
                ),
                // Another sink instance created it between HEAD and PUT.
                Err(EsError::Status { body, .. })
                    if body.contains("resource_already_exists_exception") => {}
                Err(e) => return Err(SinkError::Init(e.to_string())),
            }
        }
        tracing::info!(
            "Elasticsearch sink {} opened: {} ({} {}), index '{}'",
            self.id,
            client.url(),
            root["version"]["distribution"]
                .as_str()
                .unwrap_or("elasticsearch"),
            root["version"]["number"].as_str().unwrap_or("?"),
            settings.index
        );
        self.settings = Some(settings);
        self.client = Some(client);
        Ok(())
    }

    /// Stores `messages`; returns those refused for their content (never for a transient cause).
    pub async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<Vec<Rejected>, SinkError> {
        let (settings, client) = self.ready()?;
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        let mut rejected = Vec::new();
        let mut documents = Vec::with_capacity(messages.len());
        for message in &messages {
            match document::build(
                message,
                topic,
                metadata.partition_id,
                settings.id_field.as_deref(),
            ) {
                Ok(doc) => documents.push(doc),
                Err(reason) => rejected.push(Rejected {
                    offset: message.offset,
                    reason,
                }),
            }
        }
        for chunk in documents.chunks(settings.batch_size) {
            rejected.extend(self.bulk(settings, client, chunk).await?);
        }
        if !rejected.is_empty() {
            self.counters
                .rejected
                .fetch_add(rejected.len() as u64, Ordering::Relaxed);
            for r in &rejected {
                tracing::warn!(
                    "Elasticsearch sink {}: {}/{} partition {} offset {} refused: {}",
                    self.id,
                    topic.stream,
                    topic.topic,
                    metadata.partition_id,
                    r.offset,
                    r.reason
                );
            }
        }
        Ok(rejected)
    }

    /// One chunk: sends it, then re-sends the transiently failed items until all are settled.
    async fn bulk(
        &self,
        settings: &Settings,
        client: &EsClient,
        chunk: &[Document],
    ) -> Result<Vec<Rejected>, SinkError> {
        let policy = settings.retry;
        let mut pending: Vec<&Document> = chunk.iter().collect();
        let mut rejected = Vec::new();
        let mut attempt = 1;
        loop {
            let body = Body::NdJson(ndjson(&settings.index, &pending));
            let failure = match client
                .send_once("bulk indexing", Method::POST, "/_bulk", Some(&body))
                .await
            {
                Ok((_, answer)) => {
                    let (retry, refused, first_error) = settle(&pending, &answer);
                    let stored = pending.len() - retry.len() - refused.len();
                    self.counters
                        .indexed
                        .fetch_add(stored as u64, Ordering::Relaxed);
                    rejected.extend(refused);
                    pending = retry;
                    match first_error {
                        None => return Ok(rejected),
                        Some(error) => error,
                    }
                }
                Err(e) if e.is_transient() => e.to_string(),
                Err(e) => return Err(e.into()),
            };
            if attempt >= policy.max_attempts {
                return Err(SinkError::Unstored {
                    count: pending.len(),
                    attempts: attempt,
                    first_error: failure,
                });
            }
            let delay = policy.delay(attempt);
            self.counters
                .retried
                .fetch_add(pending.len() as u64, Ordering::Relaxed);
            tracing::warn!(
                "Elasticsearch sink {}: {} document(s) not stored ({failure}); retrying in {delay:?}",
                self.id,
                pending.len()
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        tracing::info!(
            "Elasticsearch sink {} closed: {} batch(es), {} indexed, {} rejected, {} item retries",
            self.id,
            self.counters.batches.load(Ordering::Relaxed),
            self.counters.indexed.load(Ordering::Relaxed),
            self.counters.rejected.load(Ordering::Relaxed),
            self.counters.retried.load(Ordering::Relaxed),
        );
        self.client = None;
        Ok(())
    }
}

/// The `_bulk` body: an `index` action with an explicit `_id` before each document.
fn ndjson(index: &str, documents: &[&Document]) -> String {
    let mut body = String::with_capacity(documents.len() * 256);
    for doc in documents {
        let action = json!({"index": {"_index": index, "_id": doc.id}});
        let _ = writeln!(body, "{action}");
        let _ = writeln!(body, "{}", doc.source);
    }
    body
}

/// Splits a `_bulk` answer into items to retry and items refused; with the first transient
/// error when something must be retried. Items are answered in request order.
fn settle<'a>(
    sent: &[&'a Document],
    answer: &Value,
) -> (Vec<&'a Document>, Vec<Rejected>, Option<String>) {
    let items = answer["items"].as_array();
    let mut retry = Vec::new();
    let mut refused = Vec::new();
    let mut first_error = None;
    for (i, doc) in sent.iter().enumerate() {
        let item = items.and_then(|items| items.get(i)).map(|item| {
            item.as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or(Value::Null)
        });
        let Some(item) = item else {
            // A short answer: nothing says this one was stored.
            first_error.get_or_insert_with(|| "bulk answer lacks an item".to_string());
            retry.push(*doc);
            continue;
        };
        let status = item["status"].as_u64().unwrap_or(0) as u16;
        if (200..300).contains(&status) {
            continue;
        }
        let reason = describe(status, &item["error"]);
        if status == 0 || is_transient_status(status) {
            first_error.get_or_insert_with(|| reason.clone());
            retry.push(*doc);
        } else {
            refused.push(Rejected {
                offset: doc.offset,
                reason,
            });
        }
    }
    (retry, refused, first_error)
}

/// `400 mapper_parsing_exception: failed to parse field [n] … (caused by …)`.
fn describe(status: u16, error: &Value) -> String {
    let kind = error["type"].as_str().unwrap_or("error");
    let reason = error["reason"].as_str().unwrap_or("no reason given");
    let mut text = format!("{status} {kind}: {reason}");
    if let Some(cause) = error["caused_by"]["reason"].as_str() {
        let _ = write!(text, " (caused by {cause})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(offset: u64) -> Document {
        Document {
            offset,
            id: offset.to_string(),
            source: json!({"n": offset}),
        }
    }

    #[test]
    fn given_mixed_bulk_answer_should_retry_transient_and_refuse_data_errors() {
        let docs = [doc(1), doc(2), doc(3), doc(4)];
        let sent: Vec<&Document> = docs.iter().collect();
        let answer = json!({"errors": true, "items": [
            {"index": {"status": 201}},
            {"index": {"status": 400, "error": {"type": "mapper_parsing_exception",
                "reason": "failed to parse field [n]", "caused_by": {"reason": "For input string"}}}},
            {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
            {"index": {"status": 200}},
        ]});
        let (retry, refused, first) = settle(&sent, &answer);
        assert_eq!(retry.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![3]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].offset, 2);
        assert_eq!(
            refused[0].reason,
            "400 mapper_parsing_exception: failed to parse field [n] (caused by For input string)"
        );
        assert!(first.unwrap().starts_with("429"));
    }

    #[test]
    fn given_short_answer_should_retry_the_unanswered() {
        let docs = [doc(1), doc(2)];
        let sent: Vec<&Document> = docs.iter().collect();
        let (retry, refused, first) =
            settle(&sent, &json!({"items": [{"index": {"status": 201}}]}));
        assert_eq!(retry.len(), 1);
        assert!(refused.is_empty());
        assert!(first.is_some());
    }

    #[test]
    fn given_documents_should_write_ids_in_actions() {
        let docs = [doc(5)];
        let body = ndjson("idx", &docs.iter().collect::<Vec<_>>());
        assert_eq!(
            body,
            "{\"index\":{\"_index\":\"idx\",\"_id\":\"5\"}}\n{\"n\":5}\n"
        );
    }
}
