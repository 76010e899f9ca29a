//! Open (client, ping, size limit, optional collection creation) and the insert path.
//!
//! `consume` builds one document per message, then inserts them in chunks of `batch_size`
//! with unordered `insertMany`, so one refused document never stops its neighbours:
//! * a duplicate `_id` means the message was stored before (a replay) and counts as stored;
//! * transient failures are retried with upstream's bounded linear back-off — only the
//!   documents not yet known stored — and when they persist `consume` returns `Err` before
//!   touching later chunks, so the engine re-delivers the batch and nothing is committed;
//! * documents refused for their content (too large, invalid key names, failing the
//!   collection's validator) are returned as rejections with the reason, for the engine's
//!   dead-letter path; every other document of the batch is stored.

use std::sync::atomic::{AtomicU64, Ordering};

use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, TopicMetadata};
use mongodb::bson::{Document, RawDocumentBuf, doc};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection};

use crate::config::{MongoDbSinkConfig, Settings, redact_uri};
use crate::document::{PreparedDocument, prepare};
use crate::failure::{CallFailure, DocumentFailure, classify, describe};

/// MongoDB's document size limit, used when the server's `hello` does not state one.
const DEFAULT_MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// NamespaceExists: another sink instance created the collection first.
const NAMESPACE_EXISTS: i32 = 48;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{0}")]
    Init(String),
    /// The server was unreachable or busy for every attempt; nothing of the batch is known
    /// stored past the chunks already done.
    #[error("{0}")]
    Transient(String),
    /// Not worth retrying inside `consume` (permissions, namespace, ...).
    #[error("{0}")]
    Fatal(String),
    #[error("MongoDB sink is not open")]
    NotOpen,
}

/// A message the sink did not store because of its content, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub offset: u64,
    pub reason: String,
}

/// Counters since `open`, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SinkCounters {
    /// Documents inserted by this instance.
    pub inserted: u64,
    /// Documents found already present (replays).
    pub duplicates: u64,
    /// Messages refused for their content.
    pub rejected: u64,
    /// Insert attempts repeated after a transient failure.
    pub retries: u64,
}

#[derive(Default)]
struct AtomicCounters {
    inserted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
}

pub struct MongoDbSink {
    id: u32,
    config: Option<MongoDbSinkConfig>,
    settings: Option<Settings>,
    client: Option<Client>,
    collection: Option<Collection<RawDocumentBuf>>,
    max_document_bytes: usize,
    counters: AtomicCounters,
}

/// What inserting one chunk did.
#[derive(Default)]
struct ChunkOutcome {
    inserted: u64,
    duplicates: u64,
    rejected: Vec<Rejection>,
}

enum Attempt {
    Done(ChunkOutcome),
    /// The server refused the command for some document's content without naming it.
    Content(String),
}

impl MongoDbSink {
    pub fn new(id: u32, config: MongoDbSinkConfig) -> Self {
        Self {
            id,
            config: Some(config),
            settings: None,
            client: None,
            collection: None,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            counters: AtomicCounters::default(),
        }
    }

    pub fn counters(&self) -> SinkCounters {
        let c = &self.counters;
        SinkCounters {
            inserted: c.inserted.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    /// The server's document size limit learnt in `open`.
    pub fn max_document_bytes(&self) -> usize {
        self.max_document_bytes
    }

    pub async fn open(&mut self) -> Result<(), SinkError> {
        let settings = match self.config.take() {
            Some(config) => config.validate().map_err(SinkError::Config)?,
            None => self.settings.clone().ok_or(SinkError::NotOpen)?,
        };
        let redacted = redact_uri(&settings.connection_uri);
        let mut options = ClientOptions::parse(&settings.connection_uri)
            .await
            .map_err(|e| {
                SinkError::Config(format!(
                    "plugin_config.connection_uri ({redacted}): {}",
                    describe(&e)
                ))
            })?;
        if let Some(size) = settings.max_pool_size {
            options.max_pool_size = Some(size);
        }
        if options.app_name.is_none() {
            options.app_name = Some(format!("iggy-connectors mongodb_sink {}", self.id));
        }
        let client = Client::with_options(options).map_err(|e| {
            SinkError::Config(format!(
                "plugin_config.connection_uri ({redacted}): {}",
                describe(&e)
            ))
        })?;
        let database = client.database(&settings.database);

        let what = format!("connecting to MongoDB at {redacted}");
        let hello = self
            .retrying(&settings, &what, || async {
                database.run_command(doc! { "ping": 1 }).await?;
                database.run_command(doc! { "hello": 1 }).await
            })
            .await
            .map_err(|e| SinkError::Init(format!("{what}: {e}")))?;
        self.max_document_bytes = max_document_bytes(&hello);

        if settings.auto_create_collection {
            let what = format!(
                "creating collection {}.{}",
                settings.database, settings.collection
            );
            self.retrying(&settings, &what, || async {
                let existing = database
                    .list_collection_names()
                    .filter(doc! { "name": settings.collection.as_str() })
                    .await?;
                if existing.iter().any(|name| name == &settings.collection) {
                    return Ok(());
                }
                match database.create_collection(&settings.collection).await {
                    Err(e) if command_code(&e) == Some(NAMESPACE_EXISTS) => Ok(()),
                    other => other,
                }
            })
            .await
            .map_err(|e| SinkError::Init(format!("{what}: {e}")))?;
        }

        tracing::info!(
            "MongoDB sink {} opened: {}.{} at {redacted}, payload {:?}, batch_size {}, max document {} bytes",
            self.id,
            settings.database,
            settings.collection,
            settings.payload_format,
            settings.batch_size,
            self.max_document_bytes
        );
        self.collection = Some(database.collection(&settings.collection));
        self.client = Some(client);
        self.settings = Some(settings);
        Ok(())
    }

    /// Runs a setup step with the retry policy, retrying transient errors only.
    async fn retrying<T, F, Fut>(
        &self,
        settings: &Settings,
        what: &str,
        mut op: F,
    ) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = mongodb::error::Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let transient = matches!(classify(error.clone()), CallFailure::Transient(_));
                    if !transient || attempt >= settings.retry.max_attempts {
                        return Err(describe(&error));
                    }
                    self.pause(settings, what, attempt, &describe(&error)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn pause(&self, settings: &Settings, what: &str, attempt: u32, error: &str) {
        let sleep = settings.retry.backoff(attempt);
        tracing::warn!(
            "MongoDB sink {}: {what} failed (attempt {attempt}/{}): {error}; retrying in {}",
            self.id,
            settings.retry.max_attempts,
            humantime::format_duration(sleep)
        );
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(sleep).await;
    }

    /// Stores `messages`. `Ok(rejections)`: every message is stored except the rejected ones,
    /// which the server (or BSON) refused for their content. `Err`: some chunk could not be
    /// stored; chunks before it are stored and replay as duplicates.
    pub async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<Vec<Rejection>, SinkError> {
        let (Some(settings), Some(collection)) = (&self.settings, &self.collection) else {
            return Err(SinkError::NotOpen);
        };
        let mut rejected = Vec::new();
        let mut documents = Vec::with_capacity(messages.len());
        for message in messages {
            let offset = message.offset;
            match prepare(
                settings,
                topic,
                metadata.partition_id,
                self.max_document_bytes,
                message,
            ) {
                Ok(document) => documents.push(document),
                Err(reason) => rejected.push(Rejection { offset, reason }),
            }
        }

        // Counters move per chunk, so a long batch shows progress while it runs.
        let mut total = ChunkOutcome {
            rejected,
            ..ChunkOutcome::default()
        };
        self.add(&total);
        for chunk in documents.chunks(settings.batch_size) {
            let chunk: Vec<&PreparedDocument> = chunk.iter().collect();
            let outcome = match self.insert_chunk(settings, collection, &chunk).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    tracing::error!(
                        "MongoDB sink {}: batch of {}/{} partition {} not fully stored ({} stored before the failing chunk): {error}",
                        self.id,
                        topic.stream,
                        topic.topic,
                        metadata.partition_id,
                        total.inserted + total.duplicates
                    );
                    return Err(error);
                }
            };
            self.add(&outcome);
            total.inserted += outcome.inserted;
            total.duplicates += outcome.duplicates;
            total.rejected.extend(outcome.rejected);
        }
        if settings.verbose {
            tracing::info!(
                "MongoDB sink {}: {} inserted, {} already present, {} rejected ({}/{} partition {})",
                self.id,
                total.inserted,
                total.duplicates,
                total.rejected.len(),
                topic.stream,
                topic.topic,
                metadata.partition_id
            );
        }
        if total.duplicates > 0 {
            tracing::warn!(
                "MongoDB sink {}: {} message(s) of {}/{} partition {} were already stored (a replay); kept the existing documents",
                self.id,
                total.duplicates,
                topic.stream,
                topic.topic,
                metadata.partition_id
            );
        }
        for rejection in &total.rejected {
            tracing::error!(
                "MongoDB sink {}: message at offset {} of {}/{} partition {} not stored: {}",
                self.id,
                rejection.offset,
                topic.stream,
                topic.topic,
                metadata.partition_id,
                rejection.reason
            );
        }
        Ok(total.rejected)
    }

    fn add(&self, outcome: &ChunkOutcome) {
        let c = &self.counters;
        c.inserted.fetch_add(outcome.inserted, Ordering::Relaxed);
        c.duplicates
            .fetch_add(outcome.duplicates, Ordering::Relaxed);
        c.rejected
            .fetch_add(outcome.rejected.len() as u64, Ordering::Relaxed);
    }

    /// One chunk; when the server refuses the whole command for some document's content
    /// without naming it, the chunk is inserted one document at a time to find it.
    async fn insert_chunk(
        &self,
        settings: &Settings,
        collection: &Collection<RawDocumentBuf>,
        chunk: &[&PreparedDocument],
    ) -> Result<ChunkOutcome, SinkError> {
        match self.insert_retrying(settings, collection, chunk).await? {
            Attempt::Done(outcome) => Ok(outcome),
            Attempt::Content(reason) if chunk.len() == 1 => Ok(ChunkOutcome {
                rejected: vec![Rejection {
                    offset: chunk[0].offset,
                    reason: format!("MongoDB refused the document: {reason}"),
                }],
                ..ChunkOutcome::default()
            }),
            Attempt::Content(reason) => {
                tracing::warn!(
                    "MongoDB sink {}: a chunk of {} documents was refused ({reason}); inserting them one by one",
                    self.id,
                    chunk.len()
                );
                let mut total = ChunkOutcome::default();
                for document in chunk {
                    match self
                        .insert_retrying(settings, collection, std::slice::from_ref(document))
                        .await?
                    {
                        Attempt::Done(outcome) => {
                            total.inserted += outcome.inserted;
                            total.duplicates += outcome.duplicates;
                            total.rejected.extend(outcome.rejected);
                        }
                        Attempt::Content(reason) => total.rejected.push(Rejection {
                            offset: document.offset,
                            reason: format!("MongoDB refused the document: {reason}"),
                        }),
                    }
                }
                Ok(total)
            }
        }
    }

    /// Unordered `insertMany` of `documents`, retrying those not yet stored while failures
    /// are transient and attempts remain.
    async fn insert_retrying(
        &self,
        settings: &Settings,
        collection: &Collection<RawDocumentBuf>,
        documents: &[&PreparedDocument],
    ) -> Result<Attempt, SinkError> {
        let mut outcome = ChunkOutcome::default();
        let mut pending: Vec<&PreparedDocument> = documents.to_vec();
        let mut attempt = 1;
        loop {
            let result = collection
                .insert_many(pending.iter().map(|d| &d.document))
                .ordered(false)
                .await;
            let error = match result {
                Ok(_) => {
                    outcome.inserted += pending.len() as u64;
                    return Ok(Attempt::Done(outcome));
                }
                Err(error) => error,
            };
            let last_error = match classify(error) {
                CallFailure::Documents(failures) => {
                    let mut retry = Vec::new();
                    let mut first_transient = None;
                    for failure in &failures {
                        match failure {
                            DocumentFailure::Duplicate { .. } => outcome.duplicates += 1,
                            DocumentFailure::Refused { index, reason } => {
                                outcome.rejected.push(Rejection {
                                    offset: pending[*index].offset,
                                    reason: reason.clone(),
                                })
                            }
                            DocumentFailure::Transient { index, reason } => {
                                first_transient.get_or_insert_with(|| reason.clone());
                                retry.push(pending[*index]);
                            }
                        }
                    }
                    outcome.inserted += (pending.len() - failures.len()) as u64;
                    if retry.is_empty() {
                        return Ok(Attempt::Done(outcome));
                    }
                    pending = retry;
                    format!(
                        "{} document(s) not written: {}",
                        pending.len(),
                        first_transient.unwrap_or_default()
                    )
                }
                CallFailure::Transient(reason) => reason,
                CallFailure::Content(reason) => {
                    // Documents an earlier attempt of this call stored are counted now; the
                    // one-by-one pass finds them again as duplicates.
                    self.add(&outcome);
                    return Ok(Attempt::Content(reason));
                }
                CallFailure::Fatal(reason) => {
                    self.add(&outcome);
                    return Err(SinkError::Fatal(format!(
                        "inserting into {}.{}: {reason}",
                        settings.database, settings.collection
                    )));
                }
            };
            if attempt >= settings.retry.max_attempts {
                self.add(&outcome);
                return Err(SinkError::Transient(format!(
                    "inserting {} document(s) into {}.{} failed after {attempt} attempt(s): {last_error}",
                    pending.len(),
                    settings.database,
                    settings.collection
                )));
            }
            let what = format!("inserting {} document(s)", pending.len());
            self.pause(settings, &what, attempt, &last_error).await;
            attempt += 1;
        }
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        self.collection = None;
        if let Some(client) = self.client.take() {
            client.shutdown().immediate(true).await;
        }
        let c = self.counters();
        tracing::info!(
            "MongoDB sink {} closed: {} inserted, {} already present, {} rejected, {} retries",
            self.id,
            c.inserted,
            c.duplicates,
            c.rejected,
            c.retries
        );
        Ok(())
    }
}

fn max_document_bytes(hello: &Document) -> usize {
    match hello.get("maxBsonObjectSize") {
        Some(mongodb::bson::Bson::Int32(n)) if *n > 0 => *n as usize,
        Some(mongodb::bson::Bson::Int64(n)) if *n > 0 => *n as usize,
        _ => DEFAULT_MAX_DOCUMENT_BYTES,
    }
}

fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}
