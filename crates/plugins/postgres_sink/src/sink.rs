//! Insert path: `consume` turns a batch into multi-row `INSERT ... ON CONFLICT DO NOTHING`
//! statements of at most `batch_size` rows and at most 65 535 bind parameters each.
//!
//! * Transient failures (connection lost, server restarting, serialization/deadlock) are retried
//!   inside `consume` with upstream's bounded linear back-off; if they persist, `consume`
//!   returns Err before touching later chunks, so the engine can re-deliver the batch. Chunks
//!   already stored are skipped on replay by the primary key on the message id.
//! * A chunk PostgreSQL rejects for its data (invalid JSON for jsonb, NOT NULL/CHECK...) is
//!   retried row by row, so only the offending rows are left out; `on_bad_row` decides what
//!   becomes of them: reported to the runtime as rejected (default: dead-lettered with the
//!   reason, or the batch fails when the connector has no dead-letter topic), `consume` fails,
//!   or (opt-in) they are skipped with an error log. All three count them.
//! * Any other permanent error (table missing, wrong column types) fails `consume` at once.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use iggy_connector_postgres_common::pool::Pool;
use iggy_connector_postgres_common::quote::{quote_ident, quote_qualified};
use iggy_connector_postgres_common::redact::redact_connection_string;
use iggy_connector_postgres_common::retry::{is_transient, with_retry};
use iggy_connectors_sdk::{ConsumeOutcome, ConsumedMessage, MessagesMetadata, TopicMetadata};
use tokio_postgres::types::ToSql;

use crate::config::{BadRowPolicy, PayloadFormat, PostgresSinkConfig, Settings};
use crate::params::{MicrosTimestamp, NumericU128, PayloadParam};

/// PostgreSQL's limit on bind parameters per statement (a u16 count in the protocol).
const MAX_BIND_PARAMS: usize = 65_535;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{0}")]
    Init(String),
    #[error("{what}: {message}")]
    Db {
        what: String,
        message: String,
        transient: bool,
    },
    /// Rows PostgreSQL rejected permanently (with `on_bad_row = "fail"`).
    #[error("{count} message(s) rejected by PostgreSQL, offsets {offsets:?}: {first_error}")]
    BadRows {
        count: usize,
        offsets: Vec<u64>,
        first_error: String,
    },
    #[error("PostgreSQL sink is not open")]
    NotOpen,
}

fn db_error(what: &str, error: &tokio_postgres::Error) -> SinkError {
    let message = match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(inner) => format!("{error}: {inner}"),
            None => error.to_string(),
        },
    };
    SinkError::Db {
        what: what.to_string(),
        message,
        transient: is_transient(error),
    }
}

/// Rejected for its content: data exceptions (22xxx) and integrity violations (23xxx). Only
/// these are worth isolating row by row.
fn is_row_error(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|c| {
        let code = c.code();
        code.starts_with("22") || code.starts_with("23")
    })
}

/// One message ready to bind.
struct Row {
    id: NumericU128,
    offset: i64,
    timestamp: MicrosTimestamp,
    checksum: i64,
    origin_timestamp: MicrosTimestamp,
    payload: Vec<u8>,
}

pub struct PostgresSink {
    id: u32,
    config: Option<PostgresSinkConfig>,
    settings: Option<Settings>,
    pool: Option<Pool>,
    /// `INSERT INTO "t" (cols) VALUES ` and the per-row cast list, built once.
    insert_head: String,
    row_casts: Vec<&'static str>,
    inserted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
}

impl PostgresSink {
    pub fn new(id: u32, config: PostgresSinkConfig) -> Self {
        Self {
            id,
            config: Some(config),
            settings: None,
            pool: None,
            insert_head: String::new(),
            row_casts: Vec::new(),
            inserted: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// (stored, skipped as duplicates, rejected) since open.
    pub fn counters(&self) -> (u64, u64, u64) {
        (
            self.inserted.load(Ordering::Relaxed),
            self.duplicates.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        )
    }

    fn columns(settings: &Settings) -> Vec<(&'static str, &'static str)> {
        let mut columns = vec![("id", "numeric")];
        if settings.include_metadata {
            columns.extend([
                ("iggy_offset", "bigint"),
                ("iggy_timestamp", "timestamptz"),
                ("iggy_stream", "text"),
                ("iggy_topic", "text"),
                ("iggy_partition_id", "integer"),
            ]);
        }
        if settings.include_checksum {
            columns.push(("iggy_checksum", "bigint"));
        }
        if settings.include_origin_timestamp {
            columns.push(("iggy_origin_timestamp", "timestamptz"));
        }
        columns.push((
            "payload",
            match settings.payload_format {
                PayloadFormat::Bytea => "bytea",
                PayloadFormat::Jsonb => "jsonb",
                PayloadFormat::Text => "text",
            },
        ));
        columns
    }

    pub async fn open(&mut self) -> Result<(), SinkError> {
        let settings = match self.config.take() {
            Some(config) => config.validate().map_err(SinkError::Config)?,
            None => self.settings.clone().ok_or(SinkError::NotOpen)?,
        };
        let table = quote_qualified(&settings.target_table)
            .map_err(|e| SinkError::Config(format!("plugin_config.target_table: {e}")))?;
        let redacted = redact_connection_string(&settings.connection_string);
        let pool =
            Pool::new(&settings.connection_string, settings.max_connections).map_err(|e| {
                SinkError::Config(format!("plugin_config.connection_string ({redacted}): {e}"))
            })?;
        let what = format!("connecting to PostgreSQL at {redacted}");
        with_retry(
            &what,
            settings.retry,
            |e: &SinkError| {
                matches!(
                    e,
                    SinkError::Db {
                        transient: true,
                        ..
                    }
                )
            },
            || async {
                let client = pool.get().await.map_err(|e| db_error(&what, &e))?;
                client
                    .simple_query("SELECT 1")
                    .await
                    .map_err(|e| db_error(&what, &e))?;
                if settings.auto_create_table {
                    client
                        .batch_execute(&create_table_sql(&table, &settings))
                        .await
                        .map_err(|e| db_error(&format!("creating table {table}"), &e))?;
                }
                Ok(())
            },
        )
        .await
        .map_err(|e| SinkError::Init(e.to_string()))?;

        let columns = Self::columns(&settings);
        let mut head = format!("INSERT INTO {table} (");
        for (i, (name, _)) in columns.iter().enumerate() {
            if i > 0 {
                head.push_str(", ");
            }
            head.push_str(&quote_ident(name).expect("static column names are valid"));
        }
        head.push_str(") VALUES ");
        self.insert_head = head;
        self.row_casts = columns.iter().map(|(_, cast)| *cast).collect();
        tracing::info!(
            "PostgreSQL sink {} opened: table {table}, payload {:?}, {redacted}",
            self.id,
            settings.payload_format
        );
        self.settings = Some(settings);
        self.pool = Some(pool);
        Ok(())
    }

    /// Rows per statement: `batch_size`, capped by the bind-parameter limit.
    pub fn rows_per_statement(&self) -> usize {
        let per_row = self.row_casts.len().max(1);
        let batch = self
            .settings
            .as_ref()
            .map_or(100, |s| s.batch_size as usize);
        batch.min(MAX_BIND_PARAMS / per_row).max(1)
    }

    fn insert_sql(&self, rows: usize) -> String {
        let per_row = self.row_casts.len();
        let mut sql = String::with_capacity(self.insert_head.len() + rows * per_row * 14 + 32);
        sql.push_str(&self.insert_head);
        let mut n = 1;
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for (c, cast) in self.row_casts.iter().enumerate() {
                if c > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "${n}::{cast}");
                n += 1;
            }
            sql.push(')');
        }
        // Replays (engine retries, source re-deliveries) must not fail or duplicate: the id is
        // the primary key of the auto-created table. The conflict target is the id alone, so a
        // violation of any other unique constraint is a rejected row, not a silent skip.
        sql.push_str(" ON CONFLICT (id) DO NOTHING");
        sql
    }

    pub async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, SinkError> {
        let (Some(settings), Some(pool)) = (&self.settings, &self.pool) else {
            return Err(SinkError::NotOpen);
        };
        let total = messages.len();
        let mut rejected: Vec<(u64, String)> = Vec::new();
        let mut rows = Vec::with_capacity(total);
        for message in messages {
            let offset = message.offset;
            let payload = match message.payload.into_bytes() {
                Ok(bytes) => bytes,
                Err(error) => {
                    rejected.push((offset, format!("payload cannot be encoded: {error}")));
                    continue;
                }
            };
            if settings.payload_format == PayloadFormat::Text
                && std::str::from_utf8(&payload).is_err()
            {
                rejected.push((offset, "payload is not UTF-8 text".into()));
                continue;
            }
            rows.push(Row {
                id: NumericU128(message.id),
                offset: i64::try_from(offset).unwrap_or(i64::MAX),
                timestamp: MicrosTimestamp::from_unix_micros(message.timestamp),
                // Upstream stores the u64 checksum bit-cast into BIGINT.
                checksum: message.checksum as i64,
                origin_timestamp: MicrosTimestamp::from_unix_micros(message.origin_timestamp),
                payload,
            });
        }
        let partition = i32::try_from(metadata.partition_id).unwrap_or(i32::MAX);
        let mut stored = 0u64;
        for chunk in rows.chunks(self.rows_per_statement()) {
            match self.insert(pool, settings, topic, partition, chunk).await {
                Ok(n) => stored += n,
                Err(InsertError::Rows(error)) if chunk.len() > 1 => {
                    tracing::warn!(
                        "PostgreSQL sink {}: a chunk of {} rows was rejected ({error}); inserting it row by row",
                        self.id,
                        chunk.len()
                    );
                    for row in chunk {
                        match self
                            .insert(pool, settings, topic, partition, std::slice::from_ref(row))
                            .await
                        {
                            Ok(n) => stored += n,
                            Err(InsertError::Rows(error)) => {
                                rejected.push((row.offset as u64, error))
                            }
                            Err(InsertError::Fatal(error)) => return Err(self.stop(error, stored)),
                        }
                    }
                }
                Err(InsertError::Rows(error)) => rejected.push((chunk[0].offset as u64, error)),
                Err(InsertError::Fatal(error)) => return Err(self.stop(error, stored)),
            }
        }
        let duplicates = (total - rejected.len()) as u64 - stored;
        self.inserted.fetch_add(stored, Ordering::Relaxed);
        self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        if settings.verbose {
            tracing::info!(
                "PostgreSQL sink {}: {stored} rows stored, {duplicates} already present, {} rejected ({}/{} partition {})",
                self.id,
                rejected.len(),
                topic.stream,
                topic.topic,
                metadata.partition_id
            );
        }
        if rejected.is_empty() {
            return Ok(ConsumeOutcome::all_stored());
        }
        self.rejected
            .fetch_add(rejected.len() as u64, Ordering::Relaxed);
        let offsets: Vec<u64> = rejected.iter().map(|(o, _)| *o).collect();
        // Row data is never logged (it may be personal data): offsets and the first error only.
        tracing::error!(
            "PostgreSQL sink {}: {} message(s) of {}/{} partition {} could not be stored and were {}: offsets {offsets:?}; first error: {}",
            self.id,
            offsets.len(),
            topic.stream,
            topic.topic,
            metadata.partition_id,
            match settings.on_bad_row {
                BadRowPolicy::Reject => "reported to the runtime as rejected",
                BadRowPolicy::Skip => "skipped",
                BadRowPolicy::Fail => "reported (the batch fails)",
            },
            rejected[0].1
        );
        match settings.on_bad_row {
            BadRowPolicy::Reject => {
                let mut outcome = ConsumeOutcome::all_stored();
                for (offset, reason) in rejected {
                    outcome.reject(offset, format!("PostgreSQL rejected the row: {reason}"));
                }
                Ok(outcome)
            }
            BadRowPolicy::Skip => Ok(ConsumeOutcome::all_stored()),
            BadRowPolicy::Fail => Err(SinkError::BadRows {
                count: offsets.len(),
                offsets,
                first_error: rejected.swap_remove(0).1,
            }),
        }
    }

    fn stop(&self, error: SinkError, stored: u64) -> SinkError {
        self.inserted.fetch_add(stored, Ordering::Relaxed);
        tracing::error!(
            "PostgreSQL sink {}: batch not fully stored ({stored} rows in): {error}",
            self.id
        );
        error
    }

    /// One statement for `rows`, with retries for transient errors. Ok(rows actually inserted).
    async fn insert(
        &self,
        pool: &Pool,
        settings: &Settings,
        topic: &TopicMetadata,
        partition: i32,
        rows: &[Row],
    ) -> Result<u64, InsertError> {
        let sql = self.insert_sql(rows.len());
        let mut params: Vec<&(dyn ToSql + Sync)> =
            Vec::with_capacity(rows.len() * self.row_casts.len());
        // Borrowed views of the payloads (no copy); they must outlive `params`.
        let payloads: Vec<PayloadParam<'_>> =
            rows.iter().map(|r| PayloadParam(&r.payload)).collect();
        for (row, payload) in rows.iter().zip(&payloads) {
            params.push(&row.id);
            if settings.include_metadata {
                params.push(&row.offset);
                params.push(&row.timestamp);
                params.push(&topic.stream);
                params.push(&topic.topic);
                params.push(&partition);
            }
            if settings.include_checksum {
                params.push(&row.checksum);
            }
            if settings.include_origin_timestamp {
                params.push(&row.origin_timestamp);
            }
            params.push(payload);
        }
        let what = format!(
            "inserting {} rows into {}",
            rows.len(),
            settings.target_table
        );
        let result = with_retry(&what, settings.retry, is_transient_pg, || async {
            let client = pool.get().await.map_err(PgFailure)?;
            client.execute(&sql, &params).await.map_err(PgFailure)
        })
        .await;
        match result {
            Ok(n) => Ok(n),
            Err(PgFailure(error)) if is_row_error(&error) => {
                Err(InsertError::Rows(match error.as_db_error() {
                    Some(db) => format!("{} ({})", db.message(), db.code().code()),
                    None => error.to_string(),
                }))
            }
            Err(PgFailure(error)) => Err(InsertError::Fatal(db_error(&what, &error))),
        }
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        if let Some(pool) = self.pool.take() {
            // Cancel a query still running (a consume cut short by the stop) and wait until the
            // server ended every session, so no insert keeps its locks after close returns.
            if let Err(error) = pool.shutdown(Duration::from_secs(10)).await {
                tracing::warn!("PostgreSQL sink {}: {error}", self.id);
            }
        }
        let (stored, duplicates, rejected) = self.counters();
        tracing::info!(
            "PostgreSQL sink {} closed: {stored} rows stored, {duplicates} duplicates skipped, {rejected} rejected",
            self.id
        );
        Ok(())
    }
}

struct PgFailure(tokio_postgres::Error);

impl std::fmt::Display for PgFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
            None => write!(f, "{}", self.0),
        }
    }
}

fn is_transient_pg(error: &PgFailure) -> bool {
    is_transient(&error.0)
}

enum InsertError {
    /// The statement's data was rejected (22xxx/23xxx).
    Rows(String),
    /// Anything else, after retries.
    Fatal(SinkError),
}

pub fn create_table_sql(table: &str, settings: &Settings) -> String {
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {table} (\n  id DECIMAL(39, 0) PRIMARY KEY");
    if settings.include_metadata {
        sql.push_str(
            ",\n  iggy_offset BIGINT,\n  iggy_timestamp TIMESTAMP WITH TIME ZONE,\n  iggy_stream TEXT,\n  \
             iggy_topic TEXT,\n  iggy_partition_id INTEGER",
        );
    }
    if settings.include_checksum {
        sql.push_str(",\n  iggy_checksum BIGINT");
    }
    if settings.include_origin_timestamp {
        sql.push_str(",\n  iggy_origin_timestamp TIMESTAMP WITH TIME ZONE");
    }
    let _ = write!(
        sql,
        ",\n  payload {},\n  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()\n)",
        settings.payload_format.sql_type()
    );
    sql
}
