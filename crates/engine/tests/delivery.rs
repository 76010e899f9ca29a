//! Delivery-guarantee tests (issue 15): nothing a sink or source refuses is lost, and no
//! offset moves past a message that was neither stored nor durably dead-lettered. Each test
//! runs the engine against the embedded broker (or `IGGY_TEST_SERVER`) with real plugins.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use iggy::prelude::*;
use iggy_connectors_engine::{ConnectorKind, SinkConfig, Status};

const WAIT: Duration = Duration::from_secs(30);

async fn group_offset(client: &IggyClient, stream: &str, topic: &str, key: &str) -> Option<u64> {
    client
        .get_consumer_offset(
            &Consumer::group(id(&format!("iggy-connect-sink-{key}"))),
            &stream_id(stream),
            &id(topic),
            Some(0),
        )
        .await
        .ok()
        .flatten()
        .map(|o| o.stored_offset)
}

fn rejecting_sink(key: &str, output: &Path, stream: &str, topic: &str) -> SinkConfig {
    // Build the SDK-based test sink first; `plugin` then finds it next to the raw ones.
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("IGGY_TEST_ARTIFACTS_BUILT").is_some() {
            return; // built with the workspace by scripts/rust-tests.mjs
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "engine_test_rejecting_sink"])
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building engine_test_rejecting_sink failed"
        );
    });
    let mut config = sink(key, output, 0, stream, topic);
    config.path = plugin("engine_test_rejecting_sink").display().to_string();
    config
}

fn payloads(count: u64, reject: impl Fn(u64) -> bool) -> Vec<String> {
    (0..count)
        .map(|seq| serde_json::json!({"seq": seq, "reject": reject(seq)}).to_string())
        .collect()
}

fn stored_seqs(output: &Path) -> Vec<u64> {
    read_lines(output)
        .iter()
        .map(|l| seq_of(&l.payload))
        .collect()
}

/// Item 8: the sink says which messages it refused; they reach the dead-letter topic with the
/// sink's reason, the rest is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_sink_rejecting_messages_with_dead_letter_should_dead_letter_them_with_reason_and_commit()
 {
    let broker = Broker::start().await;
    let dir = temp_dir("rejects-dlq");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "rej", &["events"]).await;
    produce(&iggy, "rej", "events", &payloads(20, |seq| seq % 5 == 3)).await;
    let mut snk = rejecting_sink("rej", &output, "rej", "events");
    snk.dead_letter = dead_letter("rej-dlq", "rejected");
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    engine.start().await.expect("starts");

    let mut committed = None;
    for _ in 0..(WAIT.as_millis() / 20) {
        committed = group_offset(&iggy, "rej", "events", "rej").await;
        if committed == Some(19) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(committed, Some(19), "the whole batch is committed");
    let stats = stats_of(&engine, ConnectorKind::Sink, "rej");
    assert_eq!(stats.rejected, 4);
    assert_eq!(stats.dead_lettered, 4);
    assert_eq!(stats.messages_out, 16);
    assert_eq!(stats.consume_errors, 0);
    let expected: Vec<u64> = (0..20).filter(|s| s % 5 != 3).collect();
    assert_eq!(stored_seqs(&output), expected);

    let dlq = read_all(&iggy, "rej-dlq", "rejected").await;
    let seqs: Vec<u64> = dlq
        .iter()
        .map(|m| seq_of(std::str::from_utf8(&m.payload).unwrap()))
        .collect();
    assert_eq!(seqs, [3, 8, 13, 18]);
    for message in &dlq {
        let seq = seq_of(std::str::from_utf8(&message.payload).unwrap());
        assert_eq!(
            header(message, "iggy-connectors-error").as_deref(),
            Some(format!("rejected on request (seq {seq})").as_str())
        );
        assert_eq!(
            header(message, "iggy-connectors-error-kind").as_deref(),
            Some("rejected")
        );
        assert_eq!(
            header(message, "iggy-connectors-source-offset"),
            Some(seq.to_string()),
            "offset = seq: one partition, produced in order"
        );
        assert_eq!(
            header(message, "iggy-connectors-source-stream"),
            Some(run_stream("rej"))
        );
    }
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// Item 8 without a dead-letter topic: a rejection fails the batch (retried with backoff),
/// the offset never moves past the rejected message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_sink_rejecting_messages_without_dead_letter_should_fail_and_retry_the_batch() {
    let broker = Broker::start().await;
    let dir = temp_dir("rejects-no-dlq");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "rejnd", &["events"]).await;
    produce(&iggy, "rejnd", "events", &payloads(10, |seq| seq == 4)).await;
    let snk = rejecting_sink("rejnd", &output, "rejnd", "events");
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    engine.start().await.expect("starts");
    assert!(
        wait_for(WAIT, || stats_of(&engine, ConnectorKind::Sink, "rejnd")
            .consume_errors
            >= 3)
        .await
    );
    let stats = stats_of(&engine, ConnectorKind::Sink, "rejnd");
    assert_eq!(stats.status, Status::Running, "retrying, not failed");
    assert_eq!(stats.messages_out, 0);
    assert!(stats.rejected >= 3, "{stats:?}");
    let error = stats.last_error.expect("last error").message;
    assert!(error.contains("no [dead_letter] topic"), "{error}");
    assert!(error.contains("offset 4"), "{error}");
    assert_eq!(group_offset(&iggy, "rejnd", "events", "rejnd").await, None);
    let seqs: BTreeSet<u64> = stored_seqs(&output).into_iter().collect();
    assert_eq!(seqs, (0..10).filter(|s| *s != 4).collect());
    engine.stop(Duration::from_secs(5)).await;
    assert_eq!(group_offset(&iggy, "rejnd", "events", "rejnd").await, None);
    broker.stop().await;
}

/// Item 2: while the dead-letter topic cannot take a message, the offset stays put; once it
/// can, the message is dead-lettered and the batch committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_dead_letter_send_failing_should_not_commit_until_the_message_is_dead_lettered() {
    let broker = Broker::start().await;
    let dir = temp_dir("dlq-down");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "dlqdown", &["events"]).await;
    let mut snk = sink("dlqdown", &output, 0, "dlqdown", "events");
    snk.dead_letter = dead_letter("dlqdown-dlq", "failed");
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    engine.start().await.expect("starts");
    // The engine created the dead-letter topic at start; take it away.
    iggy.delete_stream(&stream_id("dlqdown-dlq"))
        .await
        .expect("delete");
    let mut batch = payloads(10, |_| false);
    batch[2] = "{not json".to_owned();
    produce(&iggy, "dlqdown", "events", &batch).await;
    assert!(
        wait_for(WAIT, || {
            stats_of(&engine, ConnectorKind::Sink, "dlqdown")
                .last_error
                .is_some_and(|e| e.message.contains("(attempt 3)"))
        })
        .await
    );
    assert_eq!(
        group_offset(&iggy, "dlqdown", "events", "dlqdown").await,
        None
    );
    let stats = stats_of(&engine, ConnectorKind::Sink, "dlqdown");
    assert_eq!(stats.dead_lettered, 0);
    assert_eq!(stats.status, Status::Running);
    assert!(read_lines(&output).is_empty(), "the batch is held back");

    create_topics(&iggy, "dlqdown-dlq", &["failed"]).await;
    let mut committed = None;
    for _ in 0..(WAIT.as_millis() / 20) {
        committed = group_offset(&iggy, "dlqdown", "events", "dlqdown").await;
        if committed == Some(9) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(committed, Some(9));
    let dlq = read_all(&iggy, "dlqdown-dlq", "failed").await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(&dlq[0].payload[..], b"{not json");
    assert_eq!(
        header(&dlq[0], "iggy-connectors-error-kind").as_deref(),
        Some("decode")
    );
    assert_eq!(
        stats_of(&engine, ConnectorKind::Sink, "dlqdown").dead_lettered,
        1
    );
    let expected: Vec<u64> = (0..10).filter(|s| *s != 2).collect();
    assert_eq!(stored_seqs(&output), expected);
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

fn state_of(dir: &Path, key: &str) -> Option<u64> {
    let store = iggy_connectors_engine::state_store::StateStore::new(&dir.join("state"), key);
    store
        .load()
        .expect("state readable")
        .map(|bytes| u64::from_le_bytes(bytes.try_into().expect("u64 state")))
}

/// Item 1: a message Iggy would refuse (here: an empty payload) goes to the source's
/// dead-letter topic; the rest is sent and the state saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_unsendable_source_messages_with_dead_letter_should_dead_letter_them_and_save_state()
{
    let broker = Broker::start().await;
    let dir = temp_dir("src-dlq");
    let mut src = source(
        "empties",
        serde_json::json!({"total": 20, "batch_size": 10, "empty_every": 5}),
        "srcdlq",
        "events",
    );
    src.dead_letter = dead_letter("srcdlq-dlq", "unsendable");
    let engine = engine(&broker.address, &dir.join("state"), vec![src], vec![]);
    engine.start().await.expect("starts");
    assert!(wait_for(WAIT, || state_of(&dir, "empties") == Some(20)).await);
    let stats = stats_of(&engine, ConnectorKind::Source, "empties");
    assert_eq!(stats.dead_lettered, 4);
    assert_eq!(stats.decode_errors, 4);
    assert_eq!(stats.messages_out, 16);
    engine.stop(Duration::from_secs(5)).await;

    let iggy = connect(&broker.address).await;
    let sent: Vec<u64> = read_all(&iggy, "srcdlq", "events")
        .await
        .iter()
        .map(|m| seq_of(std::str::from_utf8(&m.payload).unwrap()))
        .collect();
    assert_eq!(
        sent,
        (0..20).filter(|s| (s + 1) % 5 != 0).collect::<Vec<_>>()
    );
    let dlq = read_all(&iggy, "srcdlq-dlq", "unsendable").await;
    let ids: Vec<u128> = dlq.iter().map(|m| m.header.id).collect();
    assert_eq!(ids, [5, 10, 15, 20], "ids are seq + 1");
    for message in &dlq {
        assert_eq!(&message.payload[..], [0]);
        assert_eq!(
            header(message, "iggy-connectors-empty-payload").as_deref(),
            Some("true")
        );
        assert_eq!(
            header(message, "iggy-connectors-error-kind").as_deref(),
            Some("build")
        );
        assert_eq!(
            header(message, "iggy-connectors-source-connector").as_deref(),
            Some("empties")
        );
        assert!(header(message, "iggy-connectors-error").is_some());
    }
    broker.stop().await;
}

/// Item 1 without a dead-letter topic: the batch is Nacked (the plugin keeps its cursor),
/// nothing of it is stored and the state does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_unsendable_source_message_without_dead_letter_should_nack_instead_of_dropping() {
    let broker = Broker::start().await;
    let dir = temp_dir("src-nack");
    let src = source(
        "empties",
        serde_json::json!({"total": 20, "batch_size": 10, "empty_every": 5}),
        "srcnack",
        "events",
    );
    let engine = engine(&broker.address, &dir.join("state"), vec![src], vec![]);
    engine.start().await.expect("starts");
    assert!(
        wait_for(WAIT, || stats_of(&engine, ConnectorKind::Source, "empties")
            .decode_errors
            >= 3)
        .await
    );
    let stats = stats_of(&engine, ConnectorKind::Source, "empties");
    assert_eq!(stats.messages_out, 0);
    assert_eq!(stats.status, Status::Running);
    let error = stats.last_error.expect("an error").message;
    assert!(error.contains("no [dead_letter] topic"), "{error}");
    engine.stop(Duration::from_secs(5)).await;
    assert_eq!(state_of(&dir, "empties"), None, "state never saved");
    let iggy = connect(&broker.address).await;
    assert!(read_all(&iggy, "srcnack", "events").await.is_empty());
    broker.stop().await;
}

/// Item 6: a source with no streams is refused, not run with its batches discarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_source_without_streams_should_refuse_to_start_it() {
    let broker = Broker::start().await;
    let dir = temp_dir("no-streams");
    let mut src = source("nowhere", serde_json::json!({"total": 5}), "x", "y");
    src.streams.clear();
    let engine = engine(&broker.address, &dir.join("state"), vec![src], vec![]);
    let stats = engine.start().await.expect("engine starts");
    let stats = stats.iter().find(|s| s.key == "nowhere").unwrap();
    assert_eq!(stats.status, Status::Error);
    let error = &stats.last_error.as_ref().unwrap().message;
    assert!(error.contains("streams is empty"), "{error}");
    assert!(error.contains("'nowhere'"), "{error}");
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// Item 7: a sink whose plugin fails to open leaves the consumer groups it joined, so Iggy
/// does not assign partitions to a member that never polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_sink_failing_to_open_should_leave_its_consumer_groups() {
    let broker = Broker::start().await;
    let dir = temp_dir("open-fails");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "openfail", &["a"]).await;
    iggy.create_topic(
        &stream_id("openfail"),
        "b",
        1,
        CompressionAlgorithm::None,
        None,
        IggyExpiry::NeverExpire,
        MaxTopicSize::ServerDefault,
    )
    .await
    .unwrap();
    let mut snk = sink("broken", &dir.join("out.txt"), 0, "openfail", "a");
    snk.streams[0].topics.push("b".to_owned());
    // `output` must be a string: engine_test_sink refuses this config in open.
    snk.plugin_config_json = "{\"output\": 42}".to_owned();
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    engine.start().await.expect("engine starts");
    let stats = stats_of(&engine, ConnectorKind::Sink, "broken");
    assert_eq!(stats.status, Status::Error);
    for topic in ["a", "b"] {
        let group = iggy
            .get_consumer_group(
                &stream_id("openfail"),
                &id(topic),
                &id("iggy-connect-sink-broken"),
            )
            .await
            .unwrap()
            .expect("the group was created by the join");
        assert_eq!(group.members_count, 0, "topic {topic}");
    }
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// A TypeScript-transform stand-in: throws for the first `fail_first` batches, and always for
/// a batch holding a message with `"poison": true`.
struct FlakyTransform {
    fail_first: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl iggy_connectors_engine::ExternalTransform for FlakyTransform {
    async fn transform(
        &self,
        batch: &iggy_connectors_engine::ExternalBatch,
    ) -> Result<iggy_connectors_engine::ExternalOutput, String> {
        use std::sync::atomic::Ordering;
        let left = self.fail_first.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_first.store(left - 1, Ordering::SeqCst);
            return Err("Error: transform is warming up".to_owned());
        }
        let poisoned = (0..batch.messages.len()).any(|i| {
            serde_json::from_slice::<serde_json::Value>(batch.messages.payload(i))
                .is_ok_and(|v| v["poison"] == serde_json::Value::Bool(true))
        });
        if poisoned {
            return Err("TypeError: poison".to_owned());
        }
        Ok(iggy_connectors_engine::ExternalOutput::keep_all(
            batch.messages.len(),
        ))
    }
}

fn flaky(fail_first: u32) -> std::sync::Arc<FlakyTransform> {
    std::sync::Arc::new(FlakyTransform {
        fail_first: std::sync::atomic::AtomicU32::new(fail_first),
    })
}

/// Item 3: a throwing TypeScript transform is transient: the batch is retried, never skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_throwing_ts_transform_in_sink_should_retry_the_batch_not_skip_it() {
    let broker = Broker::start().await;
    let dir = temp_dir("ts-throws");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "tsthrow", &["events"]).await;
    produce(&iggy, "tsthrow", "events", &payloads(10, |_| false)).await;
    let mut snk = sink("tsthrow", &output, 0, "tsthrow", "events");
    snk.transforms = vec![transform("flaky", serde_json::json!({"enabled": true}))];
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    engine.set_external_transform(flaky(3));
    engine.start().await.expect("starts");
    let mut committed = None;
    for _ in 0..(WAIT.as_millis() / 20) {
        committed = group_offset(&iggy, "tsthrow", "events", "tsthrow").await;
        if committed == Some(9) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(committed, Some(9));
    assert_eq!(stored_seqs(&output), (0..10).collect::<Vec<_>>());
    let stats = stats_of(&engine, ConnectorKind::Sink, "tsthrow");
    assert_eq!(stats.transform_errors, 3, "one per failed attempt");
    assert_eq!(stats.messages_out, 10);
    assert_eq!(stats.dead_lettered, 0);
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// Item 3, opt-in per-message path: with `on_error = "dead_letter"` only the message that
/// makes the transform throw is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_ts_transform_with_on_error_dead_letter_should_dead_letter_only_the_poison() {
    let broker = Broker::start().await;
    let dir = temp_dir("ts-poison");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "tspoison", &["events"]).await;
    let batch: Vec<String> = (0..10u64)
        .map(|seq| serde_json::json!({"seq": seq, "poison": seq == 6}).to_string())
        .collect();
    produce(&iggy, "tspoison", "events", &batch).await;
    let mut snk = sink("tspoison", &output, 0, "tspoison", "events");
    snk.transforms = vec![transform(
        "flaky",
        serde_json::json!({"enabled": true, "on_error": "dead_letter"}),
    )];
    snk.dead_letter = dead_letter("tspoison-dlq", "failed");
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    engine.set_external_transform(flaky(0));
    engine.start().await.expect("starts");
    let mut committed = None;
    for _ in 0..(WAIT.as_millis() / 20) {
        committed = group_offset(&iggy, "tspoison", "events", "tspoison").await;
        if committed == Some(9) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(committed, Some(9));
    let expected: Vec<u64> = (0..10).filter(|s| *s != 6).collect();
    assert_eq!(stored_seqs(&output), expected);
    let dlq = read_all(&iggy, "tspoison-dlq", "failed").await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(seq_of(std::str::from_utf8(&dlq[0].payload).unwrap()), 6);
    assert_eq!(
        header(&dlq[0], "iggy-connectors-error-kind").as_deref(),
        Some("transform")
    );
    assert!(
        header(&dlq[0], "iggy-connectors-error")
            .unwrap()
            .contains("TypeError: poison")
    );
    let stats = stats_of(&engine, ConnectorKind::Sink, "tspoison");
    assert_eq!((stats.messages_out, stats.dead_lettered), (9, 1));
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// A state directory whose writes fail until [`FullDisk::free`]: a 64 KiB tmpfs filled to the
/// last byte when this process may mount one (root), else a directory standing where the
/// state writer puts its temp file (the write fails with EISDIR; root ignores read-only
/// permissions, so a read-only directory would not do).
struct FullDisk {
    dir: std::path::PathBuf,
    key: String,
    mounted: bool,
}

impl FullDisk {
    fn new(parent: &Path, key: &str) -> FullDisk {
        let dir = parent.join("state");
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        eprintln!(
            "disk-full test: {}",
            if mounted {
                "64 KiB tmpfs, filled"
            } else {
                "no tmpfs (mount refused): a directory in place of the state temp file"
            }
        );
        FullDisk {
            dir,
            key: key.to_owned(),
            mounted,
        }
    }

    fn blocker(&self) -> std::path::PathBuf {
        if self.mounted {
            self.dir.join("filler")
        } else {
            self.dir.join(format!("source_{}.state.tmp", self.key))
        }
    }

    /// Takes the remaining space (tmpfs) or the temp file's name (fallback).
    fn fill(&self) {
        if self.mounted {
            use std::io::Write;
            let mut filler = std::fs::File::create(self.blocker()).unwrap();
            let chunk = vec![0u8; 4096];
            while filler
                .write_all(&chunk)
                .and_then(|()| filler.sync_data())
                .is_ok()
            {}
        } else {
            std::fs::create_dir_all(self.blocker()).unwrap();
        }
    }

    fn free(&self) {
        if self.mounted {
            std::fs::remove_file(self.blocker()).unwrap();
        } else {
            std::fs::remove_dir(self.blocker()).unwrap();
        }
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount").arg(&self.dir).status();
        }
    }
}

/// Fault: the state write fails (disk full). The batch already in Iggy is not re-sent (no
/// Nack, so no duplicate), the state write is retried, and once space is back the source
/// carries on: every message exactly once in Iggy, the state at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_disk_full_on_state_write_should_retry_the_write_without_duplicates_or_loss() {
    let broker = Broker::start().await;
    let dir = temp_dir("disk-full");
    let disk = FullDisk::new(&dir, "full");
    let src = source(
        "full",
        serde_json::json!({"total": 30, "batch_size": 10}),
        "diskfull",
        "events",
    );
    let engine = engine(&broker.address, &disk.dir, vec![src], vec![]);
    disk.fill();
    engine.start().await.expect("starts");
    assert!(
        wait_for(WAIT, || {
            stats_of(&engine, ConnectorKind::Source, "full")
                .last_error
                .is_some_and(|e| e.message.contains("(attempt 3)"))
        })
        .await
    );
    let iggy = connect(&broker.address).await;
    let stats = stats_of(&engine, ConnectorKind::Source, "full");
    assert_eq!(stats.status, Status::Running);
    assert_eq!(stats.messages_out, 0, "not acknowledged yet");
    let seqs = |messages: Vec<IggyMessage>| -> Vec<u64> {
        messages
            .iter()
            .map(|m| seq_of(std::str::from_utf8(&m.payload).unwrap()))
            .collect()
    };
    assert_eq!(
        seqs(read_all(&iggy, "diskfull", "events").await),
        (0..10).collect::<Vec<_>>(),
        "the first batch is in Iggy once; nothing after it"
    );

    disk.free();
    assert!(wait_for(WAIT, || state_of(&dir, "full") == Some(30)).await);
    engine.stop(Duration::from_secs(5)).await;
    assert_eq!(
        seqs(read_all(&iggy, "diskfull", "events").await),
        (0..30).collect::<Vec<_>>()
    );
    drop(disk);
    broker.stop().await;
}

/// Item 8 for sources (the CDC path): a message the plugin marks as rejected goes to the
/// dead-letter topic with the plugin's reason, never to the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_source_marking_messages_rejected_should_dead_letter_them_with_its_reason() {
    let broker = Broker::start().await;
    let dir = temp_dir("src-rejects");
    let mut src = source(
        "marks",
        serde_json::json!({"total": 10, "batch_size": 10, "reject_every": 4}),
        "srcrej",
        "events",
    );
    src.dead_letter = dead_letter("srcrej-dlq", "rejected");
    let engine = engine(&broker.address, &dir.join("state"), vec![src], vec![]);
    engine.start().await.expect("starts");
    assert!(wait_for(WAIT, || state_of(&dir, "marks") == Some(10)).await);
    engine.stop(Duration::from_secs(5)).await;
    let iggy = connect(&broker.address).await;
    let sent: Vec<u64> = read_all(&iggy, "srcrej", "events")
        .await
        .iter()
        .map(|m| seq_of(std::str::from_utf8(&m.payload).unwrap()))
        .collect();
    assert_eq!(sent, [0, 1, 2, 4, 5, 6, 8, 9]);
    let dlq = read_all(&iggy, "srcrej-dlq", "rejected").await;
    let reasons: Vec<Option<String>> = dlq
        .iter()
        .map(|m| header(m, "iggy-connectors-error"))
        .collect();
    assert_eq!(
        reasons,
        [
            Some("cannot parse record 3".to_owned()),
            Some("cannot parse record 7".to_owned())
        ]
    );
    for message in &dlq {
        assert_eq!(
            header(message, "iggy-connectors-error-kind").as_deref(),
            Some("rejected")
        );
        assert_eq!(
            header(message, "iggy-connectors-rejected"),
            None,
            "marker removed"
        );
    }
    broker.stop().await;
}
