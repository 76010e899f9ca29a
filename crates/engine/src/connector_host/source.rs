//! A TypeScript source as a [`SourceDriver`]: a poll loop that asks the connector for
//! messages, hands them to the pipeline as one batch (the native postcard format, so
//! transforms, dead-lettering and the state file work unchanged), waits for that batch's
//! verdict and tells the connector before polling again: one batch in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iggy_connectors_sdk::{ConnectorState, ProducedMessage, ProducedMessages, Schema};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ConnectorCall, SharedHost, next_instance};
use crate::config::RetryConfig;
use crate::driver::SourceDriver;
use crate::error::EngineError;
use crate::external::ExternalMessage;
use crate::ffi::source::RawBatch;
use crate::logs::ConnectorLog;
use crate::stats::ConnectorState as Stats;

const TARGET: &str = "iggy_connectors::source";
/// The pause after a poll that returned nothing; a connector that waits for data should
/// instead resolve `poll()` when it has some.
const IDLE_PAUSE: Duration = Duration::from_millis(10);

type Verdict = (u64, bool);

pub struct ExternalSource {
    inner: Arc<Inner>,
    batches: Mutex<Option<flume::Sender<RawBatch>>>,
    /// The pipeline's verdicts: (batch id, Ack).
    verdicts: (flume::Sender<Verdict>, flume::Receiver<Verdict>),
    stopping: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the poll loop shares with the driver.
struct Inner {
    host: SharedHost,
    key: String,
    module: String,
    instance: u32,
    schema: Schema,
    retry: RetryConfig,
    log: ConnectorLog,
    stats: Arc<Stats>,
}

/// What an [`ExternalSource`] is built from.
pub struct ExternalSourceSpec {
    pub host: SharedHost,
    pub key: String,
    pub module: String,
    /// The schema of the produced payloads: the first stream's, so a batch for streams of
    /// that schema goes to Iggy without being decoded.
    pub schema: Schema,
    pub retry: RetryConfig,
    pub log: ConnectorLog,
    pub stats: Arc<Stats>,
}

impl ExternalSource {
    pub fn new(spec: ExternalSourceSpec) -> Self {
        Self {
            inner: Arc::new(Inner {
                host: spec.host,
                key: spec.key,
                module: spec.module,
                instance: next_instance(),
                schema: spec.schema,
                retry: spec.retry,
                log: spec.log,
                stats: spec.stats,
            }),
            batches: Mutex::new(None),
            verdicts: flume::unbounded(),
            stopping: watch::channel(false).0,
            task: Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl SourceDriver for ExternalSource {
    fn describe(&self) -> String {
        format!(
            "TypeScript module {}, instance {}",
            self.inner.module, self.inner.instance
        )
    }

    async fn open(
        &self,
        config_json: &str,
        state: Option<Vec<u8>>,
        batches: flume::Sender<RawBatch>,
    ) -> Result<(), EngineError> {
        let inner = &self.inner;
        inner
            .host
            .call(ConnectorCall::Open {
                kind: "source",
                key: inner.key.clone(),
                instance: inner.instance,
                module: inner.module.clone(),
                config_json: config_json.to_owned(),
                state,
            })
            .await
            .map_err(|message| EngineError::Config {
                key: inner.key.clone(),
                message: format!(
                    "open() of TypeScript source {} failed: {message}",
                    inner.module
                ),
            })?;
        *self.batches.lock().unwrap_or_else(|p| p.into_inner()) = Some(batches);
        Ok(())
    }

    async fn start(&self) -> Result<(), EngineError> {
        let Some(batches) = self
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Err(EngineError::Config {
                key: self.inner.key.clone(),
                message: "the TypeScript source was started before it was opened".to_owned(),
            });
        };
        let task = tokio::spawn(poll_loop(
            self.inner.clone(),
            batches,
            self.verdicts.1.clone(),
            self.stopping.subscribe(),
        ));
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(())
    }

    fn batch_result(&self, batch_id: Option<u64>, ok: bool) {
        if let Some(batch_id) = batch_id {
            let _ = self.verdicts.0.send((batch_id, ok));
        }
    }

    async fn close(&self, timeout: Duration) -> Result<(), String> {
        let started = tokio::time::Instant::now();
        let _ = self.stopping.send(true);
        // Never started: dropping the sender ends the pipeline.
        drop(
            self.batches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut problems = Vec::new();
        if let Some(mut task) = task
            && tokio::time::timeout(timeout, &mut task).await.is_err()
        {
            task.abort();
            problems.push(format!(
                "the batch in flight got no verdict within {timeout:?}"
            ));
        }
        let left = timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let inner = &self.inner;
        let closed = tokio::time::timeout(
            left,
            inner.host.call(ConnectorCall::Close {
                kind: "source",
                key: inner.key.clone(),
                instance: inner.instance,
            }),
        )
        .await;
        match closed {
            Ok(Ok(_)) => {}
            Ok(Err(message)) => problems.push(format!("close() failed: {message}")),
            Err(_) => problems.push(format!("close() did not return within {left:?}")),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Sleeps `duration` unless the source is stopping; true when it is.
async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    stopped || *stop.borrow()
}

async fn poll_loop(
    inner: Arc<Inner>,
    batches: flume::Sender<RawBatch>,
    verdicts: flume::Receiver<Verdict>,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch_id = 0u64;
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let poll = inner.host.call(ConnectorCall::Poll {
            key: inner.key.clone(),
            instance: inner.instance,
        });
        // A poll may wait for data indefinitely (a webhook with no traffic): a stop abandons
        // it; nothing was handed over yet, so nothing is lost.
        let reply = tokio::select! {
            reply = poll => reply,
            _ = stop.wait_for(|s| *s) => return,
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(message) => {
                failures += 1;
                let message = format!("poll() failed (attempt {failures}): {message}");
                inner.log.error(TARGET, message.clone());
                inner.stats.record_error(message);
                if pause(&mut stop, inner.retry.backoff(failures)).await {
                    return;
                }
                continue;
            }
        };
        if reply.messages.is_empty() && reply.state.is_none() {
            failures = 0;
            if pause(&mut stop, IDLE_PAUSE).await {
                return;
            }
            continue;
        }
        let bytes = match encode(inner.schema, reply.messages, reply.state) {
            Ok(bytes) => bytes,
            Err(message) => {
                inner.stats.fail(message);
                return;
            }
        };
        batch_id += 1;
        let batch = RawBatch {
            batch_id: Some(batch_id),
            bytes,
        };
        if batches.send_async(batch).await.is_err() {
            return;
        }
        // The pipeline answers every batch it received, also while stopping: waiting here
        // keeps one batch in flight and lets the connector hear the verdict before it closes.
        let ok = loop {
            match verdicts.recv_async().await {
                Ok((id, ok)) if id == batch_id => break ok,
                Ok(_) => continue,
                Err(_) => return,
            }
        };
        let told = inner
            .host
            .call(ConnectorCall::BatchResult {
                key: inner.key.clone(),
                instance: inner.instance,
                ok,
            })
            .await;
        if let Err(message) = told {
            let message = format!("{}() failed: {message}", if ok { "ack" } else { "nack" });
            inner.log.warn(TARGET, message.clone());
            inner.stats.record_error(message);
        }
        if ok {
            failures = 0;
        } else {
            // The pipeline logged why; back off before the source re-produces the batch.
            failures += 1;
            if pause(&mut stop, inner.retry.backoff(failures)).await {
                return;
            }
        }
    }
}

/// The batch in the native wire format (postcard `ProducedMessages`).
fn encode(
    schema: Schema,
    messages: Vec<ExternalMessage>,
    state: Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let produced = ProducedMessages {
        schema,
        messages: messages
            .into_iter()
            .map(|m| ProducedMessage {
                // 0 = "no id": Iggy assigns one. Any other id is kept end to end.
                id: (m.id != 0).then_some(m.id),
                checksum: None,
                timestamp: m.timestamp,
                origin_timestamp: m.timestamp,
                headers: m
                    .headers
                    .as_deref()
                    .map(crate::source::batch::headers_from_strings)
                    .filter(|h| !h.is_empty()),
                payload: m.payload,
            })
            .collect(),
        state: state.map(ConnectorState),
    };
    postcard::to_allocvec(&produced)
        .map_err(|error| format!("cannot encode the TypeScript source's batch: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_ts_messages_when_encoded_should_keep_ids_headers_state_and_leave_id_zero_to_iggy() {
        let messages = vec![
            ExternalMessage {
                id: 0x1234_5678_9abc_def0_1122_3344_5566_7788,
                offset: None,
                timestamp: Some(1_700_000_000_000_000),
                headers: Some(vec![
                    ("source".into(), "ts".into()),
                    (String::new(), "x".into()),
                ]),
                payload: br#"{"seq":1}"#.to_vec(),
            },
            ExternalMessage {
                id: 0,
                offset: None,
                timestamp: None,
                headers: Some(vec![]),
                payload: b"{}".to_vec(),
            },
        ];
        let bytes = encode(Schema::Json, messages, Some(b"{\"next\":2}".to_vec())).unwrap();
        let decoded: ProducedMessages = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(decoded.schema, Schema::Json);
        assert_eq!(
            decoded.state,
            Some(ConnectorState(b"{\"next\":2}".to_vec()))
        );
        let [first, second] = decoded.messages.as_slice() else {
            panic!("expected two messages, got {:?}", decoded.messages);
        };
        assert_eq!(first.id, Some(0x1234_5678_9abc_def0_1122_3344_5566_7788));
        assert_eq!(first.origin_timestamp, Some(1_700_000_000_000_000));
        assert_eq!(first.payload, br#"{"seq":1}"#);
        // The empty header name is not a valid Iggy header: dropped, the valid one kept.
        let headers = first.headers.as_ref().unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(second.id, None, "id 0 means: let Iggy assign one");
        assert_eq!(second.headers, None, "no headers rather than an empty map");
    }
}
