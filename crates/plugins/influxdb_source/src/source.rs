//! The source's lifecycle: open, poll (query and stage), Ack (commit) / Nack (discard), close.
//!
//! `poll` sleeps `poll_interval` first (unless the previous poll left rows waiting), so a
//! healthy source does not query back to back (upstream only slept after errors). The cursor a
//! poll reaches is staged with the batch and becomes the committed cursor only on Ack; a Nack,
//! or a poll while a batch is still unsettled, drops it, and the next poll reads the same rows.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use iggy_connector_influxdb_common::InfluxClient;
use iggy_connector_influxdb_common::csv;
use iggy_connectors_sdk::{ConnectorState, ProducedMessages, Schema};

use crate::config::{InfluxDbSourceConfig, PayloadFormat, Settings, parse_cursor};
use crate::cursor::select;
use crate::rows::{Row, message, payload, row_id};
use crate::state::SourceState;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{0}")]
    Init(String),
    #[error("invalid state: {0}")]
    State(String),
    #[error(transparent)]
    Influx(#[from] iggy_connector_influxdb_common::InfluxError),
    #[error("{0}")]
    Query(String),
    #[error("InfluxDB source is not open")]
    NotOpen,
}

pub struct InfluxDbSource {
    id: u32,
    config: Option<InfluxDbSourceConfig>,
    settings: Option<Settings>,
    client: Option<InfluxClient>,
    /// What survives a restart; `Err` when the saved state did not decode (open fails).
    committed: Mutex<Result<SourceState, String>>,
    staged: Mutex<Option<SourceState>>,
    more_waiting: AtomicBool,
    unplaceable_rows: AtomicU64,
    bad_rows: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl InfluxDbSource {
    pub fn new(id: u32, config: InfluxDbSourceConfig, state: Option<ConnectorState>) -> Self {
        let committed = match state {
            None => Ok(SourceState::default()),
            Some(state) => SourceState::decode(&state),
        };
        Self {
            id,
            config: Some(config),
            settings: None,
            client: None,
            committed: Mutex::new(committed),
            staged: Mutex::new(None),
            more_waiting: AtomicBool::new(false),
            unplaceable_rows: AtomicU64::new(0),
            bad_rows: AtomicU64::new(0),
        }
    }

    /// The committed state (what the runtime has saved with the last acknowledged batch).
    pub fn state(&self) -> Option<SourceState> {
        lock(&self.committed).as_ref().ok().cloned()
    }

    /// Rows skipped because they could not become messages (bad payload column, unparsable
    /// cursor value) since open.
    pub fn skipped_rows(&self) -> u64 {
        self.bad_rows.load(Ordering::Relaxed) + self.unplaceable_rows.load(Ordering::Relaxed)
    }

    pub async fn open(&mut self) -> Result<(), SourceError> {
        let settings = match self.config.take() {
            Some(config) => config.validate().map_err(SourceError::Config)?,
            None => self.settings.clone().ok_or(SourceError::NotOpen)?,
        };
        if let Err(error) = &*lock(&self.committed) {
            return Err(SourceError::State(error.clone()));
        }
        let mut client = InfluxClient::new(settings.connection.clone())?;
        client.wait_ready().await.map_err(|e| {
            SourceError::Init(format!(
                "InfluxDB at {} is not ready: {e}",
                settings.connection.url
            ))
        })?;
        let cursor = self.cursor(&settings).0;
        tracing::info!(
            "InfluxDB source {} opened: {} (version {}), cursor {cursor}",
            self.id,
            settings.connection.url,
            client.version().unwrap_or("unknown"),
        );
        self.settings = Some(settings);
        self.client = Some(client);
        Ok(())
    }

    /// The committed cursor and its row count (or `initial_offset`).
    fn cursor(&self, settings: &Settings) -> (String, u64) {
        match &*lock(&self.committed) {
            Ok(SourceState {
                last_timestamp: Some(cursor),
                cursor_row_count,
                ..
            }) if parse_cursor(cursor).is_some() => (cursor.clone(), *cursor_row_count),
            Ok(SourceState {
                last_timestamp: Some(cursor),
                ..
            }) => {
                tracing::error!(
                    "InfluxDB source {}: saved cursor {cursor:?} is not an RFC 3339 time; using initial_offset",
                    self.id
                );
                (settings.initial_offset.clone(), 0)
            }
            _ => (settings.initial_offset.clone(), 0),
        }
    }

    fn schema(settings: &Settings) -> Schema {
        match (&settings.payload_column, settings.payload_format) {
            (Some(_), PayloadFormat::Text) => Schema::Text,
            (Some(_), PayloadFormat::Binary) => Schema::Raw,
            _ => Schema::Json,
        }
    }

    /// Sleeps `poll_interval` (unless rows are waiting), then queries and stages a batch.
    pub async fn poll(&self) -> Result<ProducedMessages, SourceError> {
        let settings = self.settings.as_ref().ok_or(SourceError::NotOpen)?;
        if !self.more_waiting.swap(false, Ordering::Relaxed) {
            tokio::time::sleep(settings.poll_interval).await;
        }
        self.poll_now().await
    }

    /// One poll without the interval sleep.
    pub async fn poll_now(&self) -> Result<ProducedMessages, SourceError> {
        let (Some(settings), Some(client)) = (&self.settings, &self.client) else {
            return Err(SourceError::NotOpen);
        };
        if lock(&self.staged).take().is_some() {
            tracing::warn!(
                "InfluxDB source {}: previous batch was never settled; treating it as Nack",
                self.id
            );
        }
        let (cursor, row_count) = self.cursor(settings);
        let limit = settings.batch_size + row_count;
        let query = settings
            .query
            .replace("$cursor", &cursor)
            .replace("$limit", &limit.to_string());
        let polled_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let text = client.query_csv(&query).await?;
        let blocks = csv::parse(&text).map_err(|e| SourceError::Query(e.to_string()))?;
        let rows: Vec<Row<'_>> = blocks
            .iter()
            .flat_map(|block| block.rows.iter().map(move |values| Row { block, values }))
            .collect();
        let selection = select(&rows, &settings.cursor_field, &cursor, row_count, limit)
            .map_err(SourceError::Query)?;
        self.more_waiting.store(selection.cut, Ordering::Relaxed);
        for row in &selection.unplaceable {
            tracing::error!(
                "InfluxDB source {}: skipping a row whose {:?} is not an RFC 3339 time: {:?}",
                self.id,
                settings.cursor_field,
                row.get(&settings.cursor_field)
            );
        }
        self.unplaceable_rows
            .fetch_add(selection.unplaceable.len() as u64, Ordering::Relaxed);

        let mut messages = Vec::with_capacity(selection.rows.len());
        for row in &selection.rows {
            match payload(settings, *row) {
                Ok(bytes) => {
                    let origin_us = row
                        .get(&settings.cursor_field)
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .and_then(|t| u64::try_from(t.timestamp_micros()).ok());
                    messages.push(message(row_id(*row), origin_us, bytes));
                }
                // A row that cannot become a message would fail this poll forever (upstream):
                // it is skipped, logged and counted; the cursor moves past it.
                Err(reason) => {
                    self.bad_rows.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        "InfluxDB source {}: skipping the row at {:?}: {reason}",
                        self.id,
                        row.get(&settings.cursor_field).unwrap_or_default()
                    );
                }
            }
        }
        let Some((next_cursor, next_count)) = selection.cursor else {
            return Ok(ProducedMessages {
                schema: Self::schema(settings),
                messages,
                state: None,
            });
        };
        let mut next = lock(&self.committed).as_ref().cloned().unwrap_or_default();
        next.last_poll_time = polled_at;
        next.last_timestamp = Some(next_cursor);
        next.cursor_row_count = next_count;
        next.processed_rows += messages.len() as u64;
        if settings.verbose {
            tracing::info!(
                "InfluxDB source {}: {} rows from cursor {cursor}, next cursor {:?}",
                self.id,
                messages.len(),
                next.last_timestamp
            );
        }
        let state = next
            .encode()
            .map_err(|e| SourceError::State(e.to_string()))?;
        *lock(&self.staged) = Some(next);
        Ok(ProducedMessages {
            schema: Self::schema(settings),
            messages,
            state: Some(state),
        })
    }

    /// The batch is in Iggy and its state saved: the staged cursor becomes the committed one.
    pub fn ack(&self) {
        if let Some(staged) = lock(&self.staged).take() {
            *lock(&self.committed) = Ok(staged);
        }
    }

    /// The batch did not reach Iggy: the next poll reads the same rows again.
    pub fn nack(&self) {
        if lock(&self.staged).take().is_some() {
            tracing::warn!(
                "InfluxDB source {}: batch not delivered; it will be read again",
                self.id
            );
        }
    }

    pub async fn close(&mut self) -> Result<(), SourceError> {
        self.client = None;
        let processed = self.state().map(|s| s.processed_rows).unwrap_or(0);
        tracing::info!(
            "InfluxDB source {} closed: {processed} rows delivered in total, {} skipped since open",
            self.id,
            self.skipped_rows()
        );
        Ok(())
    }
}
