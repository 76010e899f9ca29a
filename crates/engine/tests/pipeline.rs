//! End-to-end engine tests: test plugins ⇄ engine ⇄ Iggy (embedded broker, or
//! `IGGY_TEST_SERVER=host:port`).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use iggy_connectors_engine::{ConnectorKind, Status};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_source_and_sink_when_running_should_deliver_every_message_transformed() {
    let broker = Broker::start().await;
    let dir = temp_dir("e2e");
    let output = dir.join("out.txt");
    let total = 2_000u64;
    let mut src = source(
        "seq",
        json!({"total": total, "batch_size": 100}),
        "e2e",
        "events",
    );
    src.transforms = vec![transform(
        "add_fields",
        json!({"enabled": true, "fields": [{"key": "via", "value": {"static": "engine"}}]}),
    )];
    let mut snk = sink("rec", &output, 0, "e2e", "events");
    snk.transforms = vec![transform(
        "delete_fields",
        json!({"enabled": true, "fields": ["source"]}),
    )];
    let engine = engine(&broker.address, &dir.join("state"), vec![src], vec![snk]);
    let started = Instant::now();
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );
    assert!(
        wait_for(Duration::from_secs(30), || read_lines(&output).len() as u64
            >= total)
        .await,
        "sink received {} of {total}",
        read_lines(&output).len()
    );
    let elapsed = started.elapsed();
    assert!(
        wait_for(Duration::from_secs(5), || {
            stats_of(&engine, ConnectorKind::Sink, "rec").messages_out >= total
        })
        .await
    );
    let lines = read_lines(&output);
    assert_eq!(lines.len() as u64, total);
    let seqs: BTreeSet<u64> = lines.iter().map(|l| seq_of(&l.payload)).collect();
    assert_eq!(seqs, (0..total).collect::<BTreeSet<_>>());
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(&line.payload).unwrap();
        assert_eq!(value["via"], "engine", "{}", line.payload);
        assert!(value.get("source").is_none(), "{}", line.payload);
        // Plugin-supplied ids survive the trip through Iggy.
        assert_eq!(line.id, value["seq"].as_u64().unwrap() as u128 + 1);
    }
    let source_stats = stats_of(&engine, ConnectorKind::Source, "seq");
    let sink_stats = stats_of(&engine, ConnectorKind::Sink, "rec");
    assert_eq!(source_stats.messages_in, total);
    assert_eq!(source_stats.messages_out, total);
    assert_eq!(sink_stats.messages_out, total);
    assert_eq!(sink_stats.errors, 0);
    assert_eq!(sink_stats.lag, Some(0));
    eprintln!(
        "e2e: {total} messages in {elapsed:?} = {:.0} msg/s",
        total as f64 / elapsed.as_secs_f64()
    );
    engine.stop(Duration::from_secs(5)).await;
    assert!(engine.stats().iter().all(|s| s.status == Status::Stopped));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_restart_mid_stream_when_sink_fails_first_consumes_should_deliver_each_message_once()
{
    let broker = Broker::start().await;
    let dir = temp_dir("restart");
    let state = dir.join("state");
    let output = dir.join("out.txt");
    let total = 600u64;
    let plugin_config = json!({"total": total, "batch_size": 10, "interval_ms": 5});

    let first = engine(
        &broker.address,
        &state,
        vec![source("seq", plugin_config.clone(), "restart", "events")],
        vec![sink("rec", &output, 0, "restart", "events")],
    );
    first.start().await.expect("first run starts");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 150).await);
    first.stop(Duration::from_secs(5)).await;
    let after_first = read_lines(&output).len() as u64;
    assert!(after_first < total, "the first run should stop mid-stream");
    let saved = std::fs::read(state.join("source_seq.state")).expect("state file written");
    let next_seq = u64::from_le_bytes(saved.try_into().expect("8-byte state"));
    assert!(
        next_seq >= after_first && next_seq < total,
        "state {next_seq}"
    );

    // Second run: the sink fails its first 3 consumes; nothing may be skipped or repeated.
    let second = engine(
        &broker.address,
        &state,
        vec![source("seq", plugin_config, "restart", "events")],
        vec![sink("rec", &output, 3, "restart", "events")],
    );
    second.start().await.expect("second run starts");
    assert!(
        wait_for(Duration::from_secs(30), || read_lines(&output).len() as u64
            >= total)
        .await,
        "got {} of {total}",
        read_lines(&output).len()
    );
    let sink_stats = stats_of(&second, ConnectorKind::Sink, "rec");
    assert_eq!(sink_stats.consume_errors, 3);
    assert_eq!(sink_stats.status, Status::Running);
    assert!(
        sink_stats
            .last_error
            .is_some_and(|e| e.message.contains("returned 1"))
    );
    // After the graceful stop nothing more can arrive: the file is final, so a duplicate
    // delivered late would be in it.
    second.stop(Duration::from_secs(5)).await;
    let lines = read_lines(&output);
    let seqs: Vec<u64> = lines.iter().map(|l| seq_of(&l.payload)).collect();
    assert_eq!(
        seqs,
        (0..total).collect::<Vec<_>>(),
        "in order, no gap, no duplicate"
    );
    let offsets: Vec<u64> = lines.iter().map(|l| l.offset).collect();
    assert_eq!(offsets, (0..total).collect::<Vec<_>>());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_malformed_json_when_sinking_should_count_log_and_dead_letter_then_continue() {
    let broker = Broker::start().await;
    let dir = temp_dir("malformed");
    let output = dir.join("out.txt");
    let total = 100u64;
    // Source and stream schema are both json with no transform: the bytes pass through
    // unparsed, so the malformed payloads reach Iggy and the sink must catch them.
    let src = source(
        "seq",
        json!({"total": total, "batch_size": 25, "malformed_every": 10}),
        "bad",
        "events",
    );
    let mut snk = sink("rec", &output, 0, "bad", "events");
    snk.dead_letter = dead_letter("dlq", "failed");
    let engine = engine(&broker.address, &dir.join("state"), vec![src], vec![snk]);
    let logs = engine.logs().receiver();
    engine.start().await.expect("starts");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 90).await);
    assert!(
        wait_for(Duration::from_secs(5), || {
            // Lines are written inside consume; the counters move right after it returns.
            let stats = stats_of(&engine, ConnectorKind::Sink, "rec");
            stats.dead_lettered >= 10 && stats.messages_out >= 90
        })
        .await
    );
    let stats = stats_of(&engine, ConnectorKind::Sink, "rec");
    assert_eq!(stats.decode_errors, 10);
    assert_eq!(stats.dead_lettered, 10);
    assert_eq!(stats.messages_in, total);
    assert_eq!(stats.messages_out, 90);
    assert_eq!(read_lines(&output).len(), 90);
    let warnings: Vec<String> = logs
        .drain()
        .filter(|l| l.message.contains("dead-lettered"))
        .map(|l| l.message)
        .collect();
    assert_eq!(warnings.len(), 10, "{warnings:#?}");
    assert!(warnings[0].contains("offset 9"), "{}", warnings[0]);
    assert!(
        warnings[0].contains(&format!("'{}/events' partition", run_stream("bad"))),
        "{}",
        warnings[0]
    );
    engine.stop(Duration::from_secs(5)).await;

    // The dead-letter topic holds the originals with error headers.
    let dlq_out = dir.join("dlq.txt");
    let reader = common::engine(
        &broker.address,
        &dir.join("state"),
        vec![],
        vec![sink("dlq-reader", &dlq_out, 0, "dlq", "failed")],
    );
    let mut config = sink("dlq-reader", &dlq_out, 0, "dlq", "failed");
    config.streams[0].schema = iggy_connectors_sdk::Schema::Raw;
    reader
        .restart_sink("dlq-reader", Some(config))
        .await
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || read_lines(&dlq_out).len() >= 10).await);
    let dlq = read_lines(&dlq_out);
    assert_eq!(dlq.len(), 10);
    assert!(dlq.iter().all(|l| l.payload.starts_with("{not json")));
    reader.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_broken_connectors_when_starting_should_isolate_them_and_run_the_rest() {
    let broker = Broker::start().await;
    let dir = temp_dir("broken");
    let output = dir.join("out.txt");
    let good_source = source(
        "good",
        json!({"total": 50, "batch_size": 10}),
        "iso",
        "events",
    );
    let mut missing = source("missing", json!(null), "iso", "events");
    missing.path = "no/such/plugin".to_owned();
    // A source library used as a sink: it lacks every sink symbol.
    let mut wrong_kind = sink("wrong", &output, 0, "iso", "events");
    wrong_kind.path = plugin("engine_test_source").display().to_string();
    let good_sink = sink("rec", &output, 0, "iso", "events");
    let duplicate = sink("rec", &dir.join("dup.txt"), 0, "iso", "events");
    let engine = engine(
        &broker.address,
        &dir.join("state"),
        vec![good_source, missing],
        vec![wrong_kind, good_sink, duplicate],
    );
    let stats = engine
        .start()
        .await
        .expect("engine starts despite broken connectors");
    let by = |kind, key: &str, n: usize| {
        stats
            .iter()
            .filter(|s| s.kind == kind && s.key == key)
            .nth(n)
            .cloned()
            .unwrap()
    };
    let missing = by(ConnectorKind::Source, "missing", 0);
    assert_eq!(missing.status, Status::Error);
    let message = missing.last_error.unwrap().message;
    assert!(message.contains("connector 'missing'"), "{message}");
    assert!(message.contains("no/such/plugin.so"), "{message}");
    assert!(message.contains("/usr/lib/plugin.so"), "{message}");

    let wrong = by(ConnectorKind::Sink, "wrong", 0);
    assert_eq!(wrong.status, Status::Error);
    let message = wrong.last_error.unwrap().message;
    assert!(message.contains("iggy_sink_consume"), "{message}");
    assert!(message.contains("is not a sink plugin"), "{message}");

    let dup = by(ConnectorKind::Sink, "rec", 1);
    assert_eq!(dup.status, Status::Error);
    assert!(
        dup.last_error
            .unwrap()
            .message
            .contains("duplicate sink key 'rec'")
    );

    assert_eq!(by(ConnectorKind::Source, "good", 0).status, Status::Running);
    assert_eq!(by(ConnectorKind::Sink, "rec", 0).status, Status::Running);
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 50).await);
    assert_eq!(read_lines(&output).len(), 50);
    assert!(!dir.join("dup.txt").exists());
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_legacy_abi_source_when_running_should_deliver_all_and_save_state_after_send() {
    let broker = Broker::start().await;
    let dir = temp_dir("legacy");
    let state = dir.join("state");
    let output = dir.join("out.txt");
    let mut src = source(
        "old",
        json!({"total": 300, "batch_size": 30}),
        "legacy",
        "events",
    );
    src.path = plugin("engine_test_legacy_source").display().to_string();
    let engine = engine(
        &broker.address,
        &state,
        vec![src],
        vec![sink("rec", &output, 0, "legacy", "events")],
    );
    engine.start().await.expect("starts");
    assert!(wait_for(Duration::from_secs(20), || read_lines(&output).len() >= 300).await);
    let seqs: Vec<u64> = read_lines(&output)
        .iter()
        .map(|l| seq_of(&l.payload))
        .collect();
    assert_eq!(seqs, (0..300).collect::<Vec<_>>());
    assert!(
        wait_for(Duration::from_secs(5), || {
            stats_of(&engine, ConnectorKind::Source, "old").batches >= 10
        })
        .await
    );
    let stats = stats_of(&engine, ConnectorKind::Source, "old");
    assert_eq!(stats.messages_out, 300);
    assert_eq!(stats.batches, 10);
    let saved = std::fs::read(state.join("source_old.state")).expect("state saved");
    assert_eq!(u64::from_le_bytes(saved.try_into().unwrap()), 300);
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_iggy_refusing_sends_when_retries_run_out_should_nack_and_keep_the_old_state() {
    // The broker refuses messages once ~1.5 KB are stored: the first batch fits, later ones
    // fail with TopicFull.
    let Some(broker) = Broker::start_capped(1_500).await else {
        return;
    };
    let dir = temp_dir("nack");
    let state = dir.join("state");
    let mut src = source(
        "seq",
        json!({"total": 100, "batch_size": 10}),
        "full",
        "events",
    );
    src.retry.max_attempts = 2;
    let engine = engine(&broker.address, &state, vec![src], vec![]);
    engine.start().await.expect("starts");
    assert!(
        wait_for(Duration::from_secs(10), || {
            stats_of(&engine, ConnectorKind::Source, "seq").send_errors >= 6
        })
        .await
    );
    let stats = stats_of(&engine, ConnectorKind::Source, "seq");
    assert_eq!(
        stats.status,
        Status::Running,
        "a failing send is retried, not fatal"
    );
    assert_eq!(
        stats.messages_out, 10,
        "only the first batch was acknowledged"
    );
    let last_error = stats.last_error.expect("last error recorded").message;
    assert!(
        last_error.contains(&format!("send to '{}/events' failed", run_stream("full"))),
        "{last_error}"
    );
    let saved = std::fs::read(state.join("source_seq.state")).expect("first batch saved");
    assert_eq!(
        u64::from_le_bytes(saved.try_into().unwrap()),
        10,
        "state never advanced past the Nacked batch"
    );
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_second_engine_when_it_starts_a_loaded_plugin_should_receive_its_tagged_logs() {
    let broker = Broker::start().await;
    let dir = temp_dir("logs");
    let config = || {
        vec![source(
            "log-src",
            json!({"total": 1, "batch_size": 1}),
            "logs",
            "events",
        )]
    };
    let first = engine(&broker.address, &dir.join("a"), config(), vec![]);
    first.start().await.expect("first starts");
    first.stop(Duration::from_secs(5)).await;
    let second = engine(&broker.address, &dir.join("b"), config(), vec![]);
    let logs = second.logs().receiver();
    second.start().await.expect("second starts");
    let mut plugin_line = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while plugin_line.is_none() && Instant::now() < deadline {
        if let Ok(Ok(entry)) =
            tokio::time::timeout(Duration::from_millis(100), logs.recv_async()).await
            && entry.target == "engine_test_source"
        {
            plugin_line = Some(entry);
        }
    }
    let line = plugin_line.expect("the plugin's open log reached the second engine");
    // Tests in this binary share the library: other running connectors' keys may be joined in.
    let keys = line.connector_key.unwrap_or_default();
    assert!(keys.split(',').any(|k| k == "log-src"), "{keys}");
    assert!(line.message.contains("opened instance"), "{}", line.message);
    second.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}
