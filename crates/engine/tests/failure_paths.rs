//! Failure paths through the whole engine (test plugins ⇄ engine ⇄ the embedded broker): a
//! plugin of another ABI major, a sink panicking in consume, a sink running out of attempts,
//! damaged state files, a broker restart, and multi-partition topics.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::*;
use iggy_connectors_engine::{ConnectorKind, PartitioningConfig, Status};
use serde_json::json;

fn state_u64(path: &Path) -> u64 {
    let bytes = std::fs::read(path).expect("state file");
    u64::from_le_bytes(bytes.try_into().expect("8-byte state"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_plugin_of_abi_major_2_when_started_should_refuse_it_and_run_the_rest() {
    let broker = Broker::start().await;
    let dir = temp_dir("abi");
    let output = dir.join("out.txt");
    let mut future = source("future", json!(null), "abi", "events");
    future.path = plugin("engine_test_abi_v2").display().to_string();
    let engine = engine(
        &broker.address,
        &dir.join("state"),
        vec![
            future,
            source(
                "good",
                json!({"total": 20, "batch_size": 5}),
                "abi",
                "events",
            ),
        ],
        vec![sink("rec", &output, 0, "abi", "events")],
    );
    let stats = engine.start().await.expect("engine starts");
    let future = stats.iter().find(|s| s.key == "future").unwrap();
    assert_eq!(future.status, Status::Error);
    let message = &future.last_error.as_ref().unwrap().message;
    assert!(message.contains("connector 'future'"), "{message}");
    assert!(message.contains("speaks plugin ABI 2.3"), "{message}");
    assert!(message.contains("ABI major 1"), "{message}");
    assert!(message.contains("engine_test_abi_v2"), "{message}");
    // Refused before any call: its open (which fails on purpose) never ran.
    assert!(!message.contains("iggy_source_open"), "{message}");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 20).await);
    assert_eq!(
        stats_of(&engine, ConnectorKind::Source, "good").status,
        Status::Running
    );
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_sink_panicking_in_consume_when_running_should_count_retry_and_lose_nothing() {
    let broker = Broker::start().await;
    let dir = temp_dir("panic");
    let output = dir.join("out.txt");
    let panicking = |panic_in: &str| {
        let mut config = sink("boom", &output, 0, "panic", "events");
        config.path = plugin("iggy_connector_panicking_sink")
            .display()
            .to_string();
        config.plugin_config_json = json!({"panic_in": panic_in}).to_string();
        config
    };
    let engine = engine(
        &broker.address,
        &dir.join("state"),
        vec![source(
            "seq",
            json!({"total": 50, "batch_size": 10}),
            "panic",
            "events",
        )],
        vec![
            panicking("consume"),
            sink("rec", &output, 0, "panic", "events"),
        ],
    );
    engine.start().await.expect("starts");
    assert!(
        wait_for(Duration::from_secs(20), || {
            stats_of(&engine, ConnectorKind::Sink, "boom").consume_errors >= 3
        })
        .await
    );
    let boom = stats_of(&engine, ConnectorKind::Sink, "boom");
    assert_eq!(
        boom.status,
        Status::Running,
        "a panic is retried, not fatal"
    );
    assert_eq!(boom.messages_out, 0);
    let error = boom.last_error.expect("the failure is recorded").message;
    assert!(error.contains("iggy_sink_consume returned"), "{error}");
    assert!(
        error.contains("offsets 0..="),
        "the same first batch again: {error}"
    );
    // The other sink of the same topic is unaffected.
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 50).await);
    assert_eq!(read_lines(&output).len(), 50);

    // Fixed (no more panics): it resumes at the batch that panicked, so it sees all 50.
    engine
        .restart_sink("boom", Some(panicking("")))
        .await
        .expect("restarts");
    assert!(
        wait_for(Duration::from_secs(20), || {
            stats_of(&engine, ConnectorKind::Sink, "boom").messages_out >= 50
        })
        .await
    );
    let boom = stats_of(&engine, ConnectorKind::Sink, "boom");
    assert_eq!(boom.messages_out, 50);
    assert_eq!(boom.lag, Some(0));
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_sink_failing_every_consume_when_max_attempts_run_out_should_stop_keeping_its_offset()
{
    let broker = Broker::start().await;
    let dir = temp_dir("attempts");
    let output = dir.join("out.txt");
    let mut failing = sink("rec", &output, u64::MAX, "attempts", "events");
    failing.retry.max_attempts = 3;
    let engine = engine(
        &broker.address,
        &dir.join("state"),
        vec![source(
            "seq",
            json!({"total": 30, "batch_size": 30}),
            "attempts",
            "events",
        )],
        vec![failing],
    );
    engine.start().await.expect("starts");
    assert!(
        wait_for(Duration::from_secs(20), || {
            stats_of(&engine, ConnectorKind::Sink, "rec").status == Status::Error
        })
        .await
    );
    let stats = stats_of(&engine, ConnectorKind::Sink, "rec");
    assert_eq!(stats.consume_errors, 3);
    assert_eq!(stats.messages_out, 0);
    let error = stats.last_error.unwrap().message;
    assert!(error.contains("giving up after 3 attempts"), "{error}");
    assert!(read_lines(&output).is_empty());

    // Nothing was committed: once it works, the sink starts from offset 0.
    engine
        .restart_sink("rec", Some(sink("rec", &output, 0, "attempts", "events")))
        .await
        .expect("restarts");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 30).await);
    let offsets: Vec<u64> = read_lines(&output).iter().map(|l| l.offset).collect();
    assert_eq!(offsets, (0..30).collect::<Vec<_>>());
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// Runs source `seq` (`total` messages) and a recording sink until the sink has `expect`
/// lines; returns the recorded seqs and the state file path.
async fn run_seq(
    broker: &Broker,
    dir: &Path,
    stream: &str,
    total: u64,
    expect: usize,
) -> (Vec<u64>, std::path::PathBuf) {
    let output = dir.join("out.txt");
    let state = dir.join("state");
    let engine = engine(
        &broker.address,
        &state,
        vec![source(
            "seq",
            json!({"total": total, "batch_size": 10}),
            stream,
            "events",
        )],
        vec![sink("rec", &output, 0, stream, "events")],
    );
    let stats = engine.start().await.expect("starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );
    assert!(
        wait_for(Duration::from_secs(20), || read_lines(&output).len()
            >= expect)
        .await,
        "{} of {expect}",
        read_lines(&output).len()
    );
    // The state is saved after the send that the sink has seen: wait for the last one.
    let state_file = state.join("source_seq.state");
    assert!(
        wait_for(Duration::from_secs(10), || std::fs::read(&state_file)
            .is_ok_and(|b| b == total.to_le_bytes()))
        .await
    );
    engine.stop(Duration::from_secs(5)).await;
    let seqs = read_lines(&output)
        .iter()
        .map(|l| seq_of(&l.payload))
        .collect();
    (seqs, state_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_leftover_tmp_state_when_started_should_resume_from_the_saved_state() {
    let broker = Broker::start().await;
    let dir = temp_dir("state-tmp");
    std::fs::create_dir_all(dir.join("state")).unwrap();
    // A crash between writing the temp file and the rename: the real file is the last good one.
    std::fs::write(dir.join("state/source_seq.state"), 100u64.to_le_bytes()).unwrap();
    std::fs::write(dir.join("state/source_seq.state.tmp"), b"half-writ").unwrap();
    let (seqs, state) = run_seq(&broker, &dir, "state_tmp", 150, 50).await;
    assert_eq!(seqs, (100..150).collect::<Vec<_>>());
    assert_eq!(state_u64(&state), 150);
    assert!(!dir.join("state/source_seq.state.tmp").exists());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_truncated_state_when_started_should_start_over_and_lose_nothing() {
    let broker = Broker::start().await;
    let dir = temp_dir("state-truncated");
    std::fs::create_dir_all(dir.join("state")).unwrap();
    // An in-place write cut short (what upstream's truncating save can leave): 3 of 8 bytes.
    std::fs::write(
        dir.join("state/source_seq.state"),
        &100u64.to_le_bytes()[..3],
    )
    .unwrap();
    let (seqs, state) = run_seq(&broker, &dir, "state_truncated", 60, 60).await;
    assert_eq!(
        seqs,
        (0..60).collect::<Vec<_>>(),
        "re-emitted from the start"
    );
    assert_eq!(state_u64(&state), 60);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_corrupt_msgpack_state_when_random_source_starts_should_start_fresh_and_save_valid_state()
 {
    let broker = Broker::start().await;
    let dir = temp_dir("state-corrupt");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("source_rnd.state"), [0xC1, 0xFF, 0x00]).unwrap();
    let mut random = source(
        "rnd",
        json!({"interval": "1ms", "messages_range": [5, 6], "max_count": 20}),
        "state_corrupt",
        "events",
    );
    random.path = plugin("iggy_connector_random_source").display().to_string();
    let engine = engine(&broker.address, &state, vec![random], vec![]);
    let stats = engine.start().await.expect("starts");
    assert_eq!(stats[0].status, Status::Running);
    assert!(
        wait_for(Duration::from_secs(20), || {
            std::fs::read(state.join("source_rnd.state")).is_ok_and(|b| b == [0x91, 20])
        })
        .await,
        "state {:?}",
        std::fs::read(state.join("source_rnd.state"))
    );
    assert_eq!(
        stats_of(&engine, ConnectorKind::Source, "rnd").messages_out,
        20
    );
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_unreadable_state_file_when_started_should_fail_that_source_naming_the_file() {
    let broker = Broker::start().await;
    let dir = temp_dir("state-unreadable");
    let state = dir.join("state");
    // A directory where the file should be: unreadable for every user, root included.
    std::fs::create_dir_all(state.join("source_bad.state")).unwrap();
    let output = dir.join("out.txt");
    let engine = engine(
        &broker.address,
        &state,
        vec![
            source("bad", json!({"total": 10}), "state_unreadable", "events"),
            source("good", json!({"total": 10}), "state_unreadable", "events"),
        ],
        vec![sink("rec", &output, 0, "state_unreadable", "events")],
    );
    let stats = engine.start().await.expect("starts");
    let bad = stats.iter().find(|s| s.key == "bad").unwrap();
    assert_eq!(bad.status, Status::Error);
    let message = &bad.last_error.as_ref().unwrap().message;
    assert!(message.contains("source_bad.state"), "{message}");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 10).await);
    engine.stop(Duration::from_secs(5)).await;
    assert_eq!(
        read_lines(&output).len(),
        10,
        "only the good source's messages"
    );
    assert!(state.join("source_bad.state").is_dir(), "left as it was");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_broker_restart_mid_stream_when_it_returns_should_rejoin_and_lose_nothing() {
    let dir = temp_dir("broker-restart");
    let Some(broker) = Broker::start_persistent("127.0.0.1:0", &dir.join("broker")).await else {
        return;
    };
    let address = broker.address.clone();
    let output = dir.join("out.txt");
    let total = 2_000u64;
    let engine = engine(
        &address,
        &dir.join("state"),
        vec![source(
            "seq",
            json!({"total": total, "batch_size": 10, "interval_ms": 2}),
            "restart",
            "events",
        )],
        vec![sink("rec", &output, 0, "restart", "events")],
    );
    engine.start().await.expect("starts");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 200).await);
    broker.stop().await;
    let at_stop = read_lines(&output).len() as u64;
    let broker = Broker::start_persistent(&address, &dir.join("broker"))
        .await
        .expect("the broker starts again on its address");
    assert!(
        wait_for(Duration::from_secs(60), || {
            read_lines(&output)
                .iter()
                .map(|l| seq_of(&l.payload))
                .collect::<BTreeSet<_>>()
                .len() as u64
                >= total
        })
        .await,
        "the sink got {} distinct messages after the restart",
        read_lines(&output).len()
    );
    let lines = read_lines(&output);
    let seqs: BTreeSet<u64> = lines.iter().map(|l| seq_of(&l.payload)).collect();
    assert_eq!(seqs, (0..total).collect::<BTreeSet<_>>(), "no gap");
    assert!(at_stop < total, "the restart happened mid-stream");
    // At-least-once: a batch consumed (or sent) just before the stop may come again, but an
    // offset always holds the same message: the broker kept what it had stored.
    let mut at_offset: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for line in &lines {
        at_offset
            .entry(line.offset)
            .or_default()
            .insert(seq_of(&line.payload));
    }
    assert!(
        at_offset.values().all(|s| s.len() == 1),
        "an offset changed its message"
    );
    eprintln!(
        "broker restart: {} lines for {total} messages ({} redelivered)",
        lines.len(),
        lines.len() as u64 - total
    );
    for kind in [ConnectorKind::Source, ConnectorKind::Sink] {
        let key = if kind == ConnectorKind::Source {
            "seq"
        } else {
            "rec"
        };
        assert_eq!(stats_of(&engine, kind, key).status, Status::Running);
    }
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

fn partitioned(
    key: &str,
    stream: &str,
    partitioning: PartitioningConfig,
) -> iggy_connectors_engine::SourceConfig {
    let mut config = source(
        key,
        json!({"total": 300, "batch_size": 30}),
        stream,
        "events",
    );
    config.streams[0].topic_partitions = 3;
    config.streams[0].partitioning = partitioning;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_partition_id_on_three_partitions_when_sent_should_all_land_in_that_partition() {
    let broker = Broker::start().await;
    let dir = temp_dir("partition-id");
    let output = dir.join("out.txt");
    let engine = engine(
        &broker.address,
        &dir.join("state"),
        vec![partitioned(
            "seq",
            "pid",
            PartitioningConfig::PartitionId(2),
        )],
        vec![sink("rec", &output, 0, "pid", "events")],
    );
    engine.start().await.expect("starts");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 300).await);
    let lines = read_lines(&output);
    assert_eq!(lines.len(), 300);
    assert!(lines.iter().all(|l| l.partition == 2), "{:?}", lines[0]);
    let offsets: Vec<u64> = lines.iter().map(|l| l.offset).collect();
    assert_eq!(offsets, (0..300).collect::<Vec<_>>());
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_messages_key_on_three_partitions_when_sent_twice_should_route_each_id_the_same_way()
{
    let broker = Broker::start().await;
    let dir = temp_dir("messages-key");
    let output = dir.join("out.txt");
    // Two runs with fresh state emit the same ids 1..=300 into one topic; the sink's group
    // carries on from its committed offsets.
    for (run, want) in [("one", 300), ("two", 600)] {
        let engine = engine(
            &broker.address,
            &dir.join(run),
            vec![partitioned("seq", "mkey", PartitioningConfig::MessagesKey)],
            vec![sink("rec", &output, 0, "mkey", "events")],
        );
        engine.start().await.expect("starts");
        assert!(
            wait_for(Duration::from_secs(30), || read_lines(&output).len()
                >= want)
            .await,
            "run {run}: {} of {want}",
            read_lines(&output).len()
        );
        engine.stop(Duration::from_secs(5)).await;
    }
    let lines = read_lines(&output);
    assert_eq!(lines.len(), 600);
    let mut partitions_of: BTreeMap<u128, BTreeSet<u32>> = BTreeMap::new();
    let mut per_partition: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for line in &lines {
        partitions_of
            .entry(line.id)
            .or_default()
            .insert(line.partition);
        per_partition
            .entry(line.partition)
            .or_default()
            .push(line.offset);
    }
    assert_eq!(partitions_of.len(), 300, "ids 1..=300");
    for (id, partitions) in &partitions_of {
        assert_eq!(partitions.len(), 1, "id {id} went to {partitions:?}");
    }
    assert_eq!(
        per_partition.len(),
        3,
        "300 keys spread over all 3 partitions"
    );
    for (partition, mut offsets) in per_partition {
        // Each partition read completely, once (the two runs interleave per partition).
        offsets.sort_unstable();
        assert_eq!(
            offsets,
            (0..offsets.len() as u64).collect::<Vec<_>>(),
            "partition {partition}"
        );
    }
    broker.stop().await;
}
