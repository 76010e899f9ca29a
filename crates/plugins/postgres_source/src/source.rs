//! The source's lifecycle: open, poll (stage), Ack (commit) / Nack (discard), close.
//!
//! Nothing a poll reads is committed until the runtime acknowledges the batch: the cursor
//! advance, `delete_after_read` / `processed_column` updates and the CDC slot advance all happen
//! in [`PostgresSource::ack`]. A Nack (or a new poll while a batch is still unsettled) drops the
//! staged batch, so the next poll reads the same rows/changes again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use iggy_connector_postgres_common::pool::Pool;
use iggy_connector_postgres_common::redact::redact_connection_string;
use iggy_connectors_sdk::{ConnectorState, ProducedMessages, Schema};

use crate::cdc;
use crate::config::{Mode, PayloadFormat, PostgresSourceConfig, Settings};
use crate::error::{Error, Result};
use crate::polling::{self, Planner};
use crate::rows::{encode_rows, envelope_prefix};
use crate::state::{Cursor, SourceState};

/// What one table contributed to the staged batch.
struct TableBatch {
    table: String,
    cursor: Option<String>,
    /// Key-column value of the cursor row (keyed paging only).
    cursor_key: Option<String>,
    key_column: String,
    keys: Vec<String>,
    rows: u64,
}

enum Staged {
    Polling {
        tables: Vec<TableBatch>,
        at: DateTime<Utc>,
    },
    Cdc {
        advance_to: String,
    },
}

/// Post-Ack database work that failed; retried before the next poll.
enum Backlog {
    Finish {
        table: String,
        key_column: String,
        keys: Vec<String>,
    },
    Advance(String),
}

pub struct PostgresSource {
    id: u32,
    config: Option<PostgresSourceConfig>,
    settings: Option<Settings>,
    pool: Option<Pool>,
    planner: Planner,
    cdc_filters: Vec<(Option<String>, String)>,
    committed: Mutex<SourceState>,
    staged: Mutex<Option<Staged>>,
    backlog: Mutex<Vec<Backlog>>,
    /// The last poll filled a whole batch: poll again without sleeping.
    more_waiting: AtomicBool,
}

/// How long `close` waits for PostgreSQL to end the source's sessions.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PostgresSource {
    pub fn new(id: u32, config: PostgresSourceConfig, state: Option<ConnectorState>) -> Self {
        let committed = state
            .and_then(|s| SourceState::from_bytes(s.as_bytes()))
            .unwrap_or_default();
        Self {
            id,
            config: Some(config),
            settings: None,
            pool: None,
            planner: Planner::default(),
            cdc_filters: Vec::new(),
            committed: Mutex::new(committed),
            staged: Mutex::new(None),
            backlog: Mutex::new(Vec::new()),
            more_waiting: AtomicBool::new(false),
        }
    }

    /// The committed state (what survives a restart).
    pub fn state(&self) -> SourceState {
        lock(&self.committed).clone()
    }

    fn ready(&self) -> Result<(&Settings, &Pool)> {
        match (&self.settings, &self.pool) {
            (Some(settings), Some(pool)) => Ok((settings, pool)),
            _ => Err(Error::NotOpen),
        }
    }

    pub async fn open(&mut self) -> Result<()> {
        let settings = match self.config.take() {
            Some(config) => config.validate().map_err(Error::Config)?,
            None => self.settings.clone().ok_or(Error::NotOpen)?,
        };
        let redacted = redact_connection_string(&settings.connection_string);
        let pool =
            Pool::new(&settings.connection_string, settings.max_connections).map_err(|e| {
                Error::Config(format!("plugin_config.connection_string ({redacted}): {e}"))
            })?;
        {
            let client = pool.get().await.map_err(|e| {
                Error::Init(format!("cannot connect to PostgreSQL at {redacted}: {e}"))
            })?;
            client.simple_query("SELECT 1").await.map_err(|e| {
                Error::Init(format!("PostgreSQL at {redacted} does not answer: {e}"))
            })?;
        }
        if settings.mode == Mode::Cdc {
            cdc::setup(&pool, &settings).await?;
            self.cdc_filters = cdc::filters(&settings.tables)?;
        }
        tracing::info!(
            "PostgreSQL source {} opened ({:?} mode, {} table(s), {redacted})",
            self.id,
            settings.mode,
            settings.tables.len()
        );
        self.settings = Some(settings);
        self.pool = Some(pool);
        Ok(())
    }

    /// Sleeps `poll_interval` (unless the previous poll filled a batch), then stages a batch.
    pub async fn poll(&self) -> Result<ProducedMessages> {
        let (settings, _) = self.ready()?;
        if !self.more_waiting.swap(false, Ordering::Relaxed) {
            tokio::time::sleep(settings.poll_interval).await;
        }
        self.poll_now().await
    }

    /// One poll without the interval sleep.
    pub async fn poll_now(&self) -> Result<ProducedMessages> {
        let (settings, pool) = self.ready()?;
        if lock(&self.staged).take().is_some() {
            tracing::warn!(
                "PostgreSQL source {}: previous batch was never settled; treating it as Nack",
                self.id
            );
        }
        self.run_backlog(pool, settings).await?;
        match settings.mode {
            Mode::Polling => self.poll_tables(settings, pool).await,
            Mode::Cdc => self.poll_cdc(settings, pool).await,
        }
    }

    async fn poll_tables(&self, settings: &Settings, pool: &Pool) -> Result<ProducedMessages> {
        let at = Utc::now();
        let timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let origin_us = at.timestamp_micros().max(0) as u64;
        let committed = lock(&self.committed).clone();
        let collect_keys = settings.delete_after_read || settings.processed_column.is_some();
        let mut messages = Vec::new();
        let mut tables = Vec::new();
        let mut full = false;
        // With a custom query that does not mention $table, the query runs once per poll and its
        // cursor is kept under the first table's name (upstream ran it once per table, emitting
        // every row N times).
        let per_table = settings
            .custom_query
            .as_ref()
            .is_none_or(|q| q.contains("$table"));
        let names: Vec<&String> = if per_table {
            settings.tables.iter().collect()
        } else {
            settings.tables.iter().take(1).collect()
        };
        let fallback_key = String::from("custom_query");
        let names = if names.is_empty() {
            vec![&fallback_key]
        } else {
            names
        };
        for table in names {
            let cursor = committed
                .cursor(table)
                .or_else(|| settings.initial_offset.as_deref().map(Cursor::initial));
            let fetched = match &settings.custom_query {
                Some(query) => {
                    let sql = polling::substitute(
                        query,
                        table,
                        cursor.as_ref().map(|c| c.value.as_str()),
                        settings.batch_size,
                        at,
                    );
                    polling::fetch_custom(pool, &self.planner, settings, table, &sql).await?
                }
                None => {
                    polling::fetch_table(pool, &self.planner, settings, table, cursor.as_ref())
                        .await?
                }
            };
            if settings.custom_query.is_some() && fetched.plan.rows.tracking.is_none() {
                self.planner.warn_once(
                    "custom_query",
                    &format!(
                        "the custom_query result has no column {:?} (tracking_column), so the cursor \
                         cannot advance and $offset stays at its initial value",
                        settings.tracking_column
                    ),
                );
            }
            full |= fetched.rows.len() >= settings.batch_size as usize;
            if fetched.rows.is_empty() {
                continue;
            }
            let prefix = envelope_prefix(table, "SELECT", &timestamp);
            let encoded = encode_rows(
                &fetched.rows,
                &fetched.plan.rows,
                settings,
                &prefix,
                origin_us,
                collect_keys,
            )?;
            if settings.verbose {
                tracing::info!(
                    "PostgreSQL source {}: {} rows from {table:?}",
                    self.id,
                    encoded.messages.len()
                );
            }
            let cursor_key = match fetched.plan.paging {
                polling::Paging::Keyed(_) => polling::boundary_key(&fetched)?,
                polling::Paging::Tracking => None,
            };
            tables.push(TableBatch {
                table: table.clone(),
                cursor: encoded.cursor,
                cursor_key,
                key_column: fetched.plan.key_column.clone(),
                keys: encoded.keys,
                rows: encoded.messages.len() as u64,
            });
            messages.extend(encoded.messages);
        }
        self.more_waiting.store(full, Ordering::Relaxed);
        if messages.is_empty() {
            return Ok(ProducedMessages {
                schema: self.schema(settings),
                messages,
                state: None,
            });
        }
        // The state the runtime persists with this batch is the post-Ack state.
        let mut next = lock(&self.committed).clone();
        apply(&mut next, &tables, at);
        *lock(&self.staged) = Some(Staged::Polling { tables, at });
        Ok(ProducedMessages {
            schema: self.schema(settings),
            messages,
            state: Some(ConnectorState(next.to_bytes())),
        })
    }

    async fn poll_cdc(&self, settings: &Settings, pool: &Pool) -> Result<ProducedMessages> {
        let peeked = cdc::peek(pool, settings, &self.cdc_filters).await?;
        self.more_waiting.store(
            peeked.rows >= settings.batch_size as usize,
            Ordering::Relaxed,
        );
        let Some(lsn) = peeked.advance_to else {
            return Ok(ProducedMessages {
                schema: Schema::Json,
                messages: Vec::new(),
                state: None,
            });
        };
        if peeked.messages.is_empty() {
            // Only changes of other tables / operations: nothing to deliver, so nothing can be
            // lost by consuming them now (otherwise the slot would never move past them).
            cdc::advance(pool, settings, &lsn).await?;
            return Ok(ProducedMessages {
                schema: Schema::Json,
                messages: Vec::new(),
                state: None,
            });
        }
        if settings.verbose {
            tracing::info!(
                "PostgreSQL source {}: {} changes up to {lsn}",
                self.id,
                peeked.messages.len()
            );
        }
        *lock(&self.staged) = Some(Staged::Cdc { advance_to: lsn });
        let mut next = lock(&self.committed).clone();
        next.processed_rows += peeked.messages.len() as u64;
        next.last_poll_time = Utc::now();
        Ok(ProducedMessages {
            schema: Schema::Json,
            messages: peeked.messages,
            state: Some(ConnectorState(next.to_bytes())),
        })
    }

    fn schema(&self, settings: &Settings) -> Schema {
        match settings.payload_format {
            PayloadFormat::Bytea => Schema::Raw,
            PayloadFormat::Text => Schema::Text,
            _ => Schema::Json,
        }
    }

    /// The batch is stored in Iggy (and its state saved): commit what it staged.
    pub async fn ack(&self) -> Result<()> {
        let (settings, pool) = self.ready()?;
        let Some(staged) = lock(&self.staged).take() else {
            return Ok(());
        };
        match staged {
            Staged::Polling { tables, at } => {
                apply(&mut lock(&self.committed), &tables, at);
                for batch in tables {
                    if batch.keys.is_empty() {
                        continue;
                    }
                    if let Err(error) = polling::finish_rows(
                        pool,
                        settings,
                        &batch.table,
                        &batch.key_column,
                        &batch.keys,
                    )
                    .await
                    {
                        tracing::error!(
                            "PostgreSQL source {}: cannot delete/mark {} delivered rows of {:?}: {error}; retrying before the next poll",
                            self.id,
                            batch.keys.len(),
                            batch.table
                        );
                        lock(&self.backlog).push(Backlog::Finish {
                            table: batch.table,
                            key_column: batch.key_column,
                            keys: batch.keys,
                        });
                    }
                }
            }
            Staged::Cdc { advance_to } => {
                {
                    let mut committed = lock(&self.committed);
                    committed.last_poll_time = Utc::now();
                }
                if let Err(error) = cdc::advance(pool, settings, &advance_to).await {
                    tracing::error!(
                        "PostgreSQL source {}: cannot advance the slot to {advance_to}: {error}; retrying before the next poll",
                        self.id
                    );
                    lock(&self.backlog).push(Backlog::Advance(advance_to));
                }
            }
        }
        Ok(())
    }

    /// The batch did not reach Iggy: forget it; the next poll reads the same data again.
    pub fn nack(&self) {
        if lock(&self.staged).take().is_some() {
            tracing::warn!(
                "PostgreSQL source {}: batch not delivered; it will be read again",
                self.id
            );
        }
    }

    /// Retries post-Ack work. A pending slot advance must succeed before peeking again, or the
    /// same changes would be delivered twice; pending deletes/marks do not block polling (the
    /// cursor already moved past those rows).
    async fn run_backlog(&self, pool: &Pool, settings: &Settings) -> Result<()> {
        let work = std::mem::take(&mut *lock(&self.backlog));
        let mut result = Ok(());
        for item in work {
            match item {
                Backlog::Finish {
                    table,
                    key_column,
                    keys,
                } => {
                    if let Err(error) =
                        polling::finish_rows(pool, settings, &table, &key_column, &keys).await
                    {
                        tracing::error!(
                            "PostgreSQL source {}: still cannot delete/mark rows of {table:?}: {error}",
                            self.id
                        );
                        lock(&self.backlog).push(Backlog::Finish {
                            table,
                            key_column,
                            keys,
                        });
                    }
                }
                Backlog::Advance(lsn) => {
                    if let Err(error) = cdc::advance(pool, settings, &lsn).await {
                        lock(&self.backlog).push(Backlog::Advance(lsn));
                        result = Err(error);
                    }
                }
            }
        }
        result
    }

    pub async fn close(&mut self) -> Result<()> {
        // Wait until PostgreSQL has ended our sessions: a peek cancelled by the shutdown can
        // otherwise keep the replication slot busy after close returns, and a quick restart
        // (or another run of this connector) would find it "active for PID …".
        if let Some(pool) = self.pool.take()
            && let Err(error) = pool.shutdown(CLOSE_WAIT).await
        {
            tracing::warn!("PostgreSQL source {}: {error}", self.id);
        }
        let state = self.state();
        tracing::info!(
            "PostgreSQL source {} closed after {} rows",
            self.id,
            state.processed_rows
        );
        Ok(())
    }
}

fn apply(state: &mut SourceState, tables: &[TableBatch], at: DateTime<Utc>) {
    for batch in tables {
        if let Some(cursor) = &batch.cursor {
            state.set_cursor(&batch.table, cursor.clone(), batch.cursor_key.clone());
        }
        state.processed_rows += batch.rows;
    }
    state.last_poll_time = at;
}
