//! The source's lifecycle: open, poll (stage a cursor), Ack (commit) / Nack (discard), close.
//!
//! Paging is `search_after` on `[timestamp_field, tie_breaker_field]` (or the tie-breaker
//! alone): every search starts strictly after the last document delivered, so documents sharing
//! a timestamp at a page boundary are all read once, and a new search per poll sees documents
//! indexed since. A point-in-time would pin one snapshot, but its implicit `_shard_doc`
//! tie-breaker is meaningless outside that PIT, so it cannot be persisted across polls and
//! restarts; a unique field can. The cursor advances only on Ack (after Iggy stored the batch
//! and the runtime saved the state), so a Nack or a crash re-reads and never skips.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use iggy_connector_elasticsearch_common::client::{Body, Method, path_segment};
use iggy_connector_elasticsearch_common::{EsClient, EsError};
use iggy_connectors_sdk::{ConnectorState, ProducedMessage, ProducedMessages, Schema};
use serde_json::{Value, json};

use crate::config::{ElasticsearchSourceConfig, Settings};
use crate::state::{SourceState, millis_to_rfc3339, now_rfc3339};
use crate::state_file;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{0}")]
    Init(String),
    #[error(transparent)]
    Es(#[from] EsError),
    #[error("{0}")]
    Response(String),
    #[error("Elasticsearch source is not open")]
    NotOpen,
}

/// The cursor a polled batch moves to, committed on Ack.
#[derive(Debug, Clone)]
struct Staged {
    last_timestamp: Option<String>,
    last_tie: Option<String>,
    documents: u64,
    bytes: u64,
}

pub struct ElasticsearchSource {
    id: u32,
    config: Option<ElasticsearchSourceConfig>,
    settings: Option<Settings>,
    client: Option<EsClient>,
    committed: Mutex<SourceState>,
    staged: Mutex<Option<Staged>>,
    /// The last poll filled a whole page: poll again without sleeping.
    more_waiting: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stable 128-bit message id for a document: the same (index, `_id`) always gets the same
/// id, so a re-read document can be recognised downstream.
pub fn message_id(index: &str, id: &str) -> u128 {
    let mut key = Vec::with_capacity(index.len() + id.len() + 1);
    key.extend_from_slice(index.as_bytes());
    key.push(0);
    key.extend_from_slice(id.as_bytes());
    // 0 asks Iggy to generate an id; never hand it out.
    twox_hash::XxHash3_128::oneshot(&key).max(1)
}

impl ElasticsearchSource {
    pub fn new(id: u32, config: ElasticsearchSourceConfig, state: Option<ConnectorState>) -> Self {
        let committed = state
            .and_then(|s| SourceState::from_bytes(s.as_bytes()))
            .unwrap_or_default();
        Self {
            id,
            config: Some(config),
            settings: None,
            client: None,
            committed: Mutex::new(committed),
            staged: Mutex::new(None),
            more_waiting: AtomicBool::new(false),
        }
    }

    /// The committed state (what survives a restart).
    pub fn state(&self) -> SourceState {
        lock(&self.committed).clone()
    }

    fn ready(&self) -> Result<(&Settings, &EsClient), SourceError> {
        match (&self.settings, &self.client) {
            (Some(settings), Some(client)) => Ok((settings, client)),
            _ => Err(SourceError::NotOpen),
        }
    }

    pub async fn open(&mut self) -> Result<(), SourceError> {
        let settings = match self.config.take() {
            Some(config) => config.validate(self.id).map_err(SourceError::Config)?,
            None => self.settings.clone().ok_or(SourceError::NotOpen)?,
        };
        let client = EsClient::new(&settings.connection, settings.timeout, settings.retry())
            .map_err(|e| SourceError::Config(e.to_string()))?;
        let index_path = format!("/{}", path_segment(&settings.index));
        let exists = client
            .exists("checking the index", &index_path)
            .await
            .map_err(|e| SourceError::Init(e.to_string()))?;
        if !exists {
            return Err(SourceError::Init(format!(
                "plugin_config.index: index '{}' does not exist on {} (create it first)",
                settings.index,
                client.url()
            )));
        }
        if let Some(file) = &settings.state_file
            && let Some(state) = state_file::load(file)
        {
            *lock(&self.committed) = state;
        }
        let resume = self.state();
        tracing::info!(
            "Elasticsearch source {} opened: {}, index '{}', resuming after {:?}/{:?}",
            self.id,
            client.url(),
            settings.index,
            resume.last_poll_timestamp,
            resume.last_document_id,
        );
        self.settings = Some(settings);
        self.client = Some(client);
        Ok(())
    }

    /// Sleeps `polling_interval` (unless the previous page was full), then stages a batch.
    pub async fn poll(&self) -> Result<ProducedMessages, SourceError> {
        let (settings, _) = self.ready()?;
        if !self.more_waiting.swap(false, Ordering::Relaxed) {
            tokio::time::sleep(settings.polling_interval).await;
        }
        self.poll_now().await
    }

    /// The search body for the page after `after`.
    fn search_body(settings: &Settings, after: Option<Vec<Value>>) -> Value {
        let mut sort = Vec::new();
        let query = match &settings.timestamp_field {
            Some(field) => {
                sort.push(json!({ field: {"order": "asc"} }));
                // A document without the field has no place in the order: leave it out
                // rather than let it end the cursor at "missing".
                json!({"bool": {"must": [settings.query], "filter": [{"exists": {"field": field}}]}})
            }
            None => settings.query.clone(),
        };
        sort.push(json!({ settings.tie_breaker_field.as_str(): {"order": "asc"} }));
        let mut body = json!({
            "query": query,
            "size": settings.batch_size,
            "sort": sort,
            "track_total_hits": false,
        });
        if let Some(after) = after {
            body["search_after"] = Value::Array(after);
        }
        body
    }

    /// One poll without the interval sleep.
    pub async fn poll_now(&self) -> Result<ProducedMessages, SourceError> {
        let (settings, client) = self.ready()?;
        if lock(&self.staged).take().is_some() {
            tracing::warn!(
                "Elasticsearch source {}: previous batch was never settled; treating it as Nack",
                self.id
            );
        }
        let started = Instant::now();
        let with_timestamp = settings.timestamp_field.is_some();
        let after = lock(&self.committed).search_after(with_timestamp);
        let body = Self::search_body(settings, after);
        let path = format!("/{}/_search", path_segment(&settings.index));
        let answer = match client
            .call("searching", Method::POST, &path, Some(&Body::Json(&body)))
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                let mut committed = lock(&self.committed);
                committed.poll_count += 1;
                committed.error_count += 1;
                committed.last_error = Some(e.to_string());
                return Err(e.into());
            }
        };
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut messages = Vec::with_capacity(hits.len());
        let mut staged = Staged {
            last_timestamp: None,
            last_tie: None,
            documents: 0,
            bytes: 0,
        };
        for hit in &hits {
            let (Some(index), Some(id), Some(sort)) = (
                hit["_index"].as_str(),
                hit["_id"].as_str(),
                hit["sort"].as_array(),
            ) else {
                return Err(SourceError::Response(format!(
                    "search answer has a hit without _index/_id/sort: {hit}"
                )));
            };
            let millis = if with_timestamp {
                sort.first().and_then(Value::as_i64)
            } else {
                None
            };
            if with_timestamp {
                let Some(text) = millis.and_then(millis_to_rfc3339) else {
                    return Err(SourceError::Response(format!(
                        "timestamp_field '{}' of document '{id}' sorts as {:?}, not a date in \
                         milliseconds; the field must be mapped as `date`",
                        settings.timestamp_field.as_deref().unwrap_or_default(),
                        sort.first()
                    )));
                };
                staged.last_timestamp = Some(text);
            }
            staged.last_tie = sort.last().map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let payload = serde_json::to_vec(&hit["_source"])
                .map_err(|e| SourceError::Response(format!("document '{id}': {e}")))?;
            staged.bytes += payload.len() as u64;
            staged.documents += 1;
            messages.push(ProducedMessage {
                id: Some(message_id(index, id)),
                checksum: None,
                timestamp: None,
                origin_timestamp: millis.and_then(|m| u64::try_from(m).ok()).map(|m| m * 1000),
                headers: None,
                payload,
            });
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.more_waiting
            .store(hits.len() >= settings.batch_size, Ordering::Relaxed);
        let state = {
            let mut committed = lock(&self.committed);
            committed.poll_count += 1;
            let stats = &mut committed.processing_stats;
            stats.successful_polls_count += 1;
            stats.last_successful_poll = Some(now_rfc3339());
            let n = stats.successful_polls_count as f64;
            stats.avg_batch_processing_time_ms +=
                (elapsed_ms - stats.avg_batch_processing_time_ms) / n;
            if hits.is_empty() {
                stats.empty_polls_count += 1;
                return Ok(ProducedMessages {
                    schema: Schema::Json,
                    messages,
                    state: None,
                });
            }
            let mut next = committed.clone();
            apply(&mut next, &staged);
            next
        };
        *lock(&self.staged) = Some(staged);
        Ok(ProducedMessages {
            schema: Schema::Json,
            messages,
            state: Some(ConnectorState(state.to_bytes())),
        })
    }

    /// Iggy stored the batch and the runtime saved its state: the cursor moves.
    pub fn ack(&self) {
        if let Some(staged) = lock(&self.staged).take() {
            apply(&mut lock(&self.committed), &staged);
        }
    }

    /// The batch was not stored: the next poll reads the same documents again.
    pub fn nack(&self) {
        if lock(&self.staged).take().is_some() {
            self.more_waiting.store(true, Ordering::Relaxed);
        }
    }

    pub async fn close(&mut self) -> Result<(), SourceError> {
        let state = self.state();
        tracing::info!(
            "Elasticsearch source {} closed: {} document(s) fetched in {} poll(s), {} error(s)",
            self.id,
            state.total_documents_fetched,
            state.poll_count,
            state.error_count
        );
        if let (Some(settings), Some(client)) = (&self.settings, &self.client)
            && let Some(file) = &settings.state_file
        {
            state_file::save(file, &state, self.id, &settings.index, client.url());
        }
        self.client = None;
        Ok(())
    }
}

fn apply(state: &mut SourceState, staged: &Staged) {
    if staged.last_timestamp.is_some() {
        state.last_poll_timestamp = staged.last_timestamp.clone();
    }
    if staged.last_tie.is_some() {
        state.last_document_id = staged.last_tie.clone();
    }
    state.total_documents_fetched += staged.documents;
    state.processing_stats.total_bytes_processed += staged.bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_index_and_id_message_id_should_be_stable_and_distinct() {
        assert_eq!(message_id("a", "1"), message_id("a", "1"));
        assert_ne!(message_id("a", "1"), message_id("b", "1"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(message_id("ab", "c"), message_id("a", "bc"));
        assert_ne!(message_id("a", "1"), 0);
    }
}
