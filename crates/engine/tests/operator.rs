//! Operator tools against the embedded broker: dead-letter listing and replay (each replayed
//! letter delivered once; a replay failing again is parked, not looped), the live tap (exact
//! payloads before and after the transforms) and the sink lag read from Iggy.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use iggy_connectors_engine::{
    ConnectorKind, DeadLetterQuery, ExternalBatch, ExternalOutput, ExternalTransform,
    ReplayProgress, ReplayRequest, TapStage,
};

const WAIT: Duration = Duration::from_secs(60);

/// A TypeScript-transform stand-in for an outage the operator fixes: while `broken` it throws
/// on everything; afterwards only on messages whose seq is a multiple of 100 (a message that
/// still fails after the fix).
struct Gate {
    broken: AtomicBool,
}

#[async_trait::async_trait]
impl ExternalTransform for Gate {
    async fn transform(&self, batch: &ExternalBatch) -> Result<ExternalOutput, String> {
        if self.broken.load(Ordering::SeqCst) {
            return Err("Error: downstream schema registry unavailable".to_owned());
        }
        let poisoned = (0..batch.messages.len()).any(|i| {
            serde_json::from_slice::<serde_json::Value>(batch.messages.payload(i))
                .is_ok_and(|v| v["seq"].as_u64().is_some_and(|s| s.is_multiple_of(100)))
        });
        if poisoned {
            return Err("TypeError: still failing".to_owned());
        }
        Ok(ExternalOutput::keep_all(batch.messages.len()))
    }
}

/// Issue 19: 1,000 dead letters replayed are each delivered once; the ones failing again are
/// parked and a second replay does not send them again; a replay to another topic marks every
/// message and strips the dead-letter headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_1000_dead_letters_when_replayed_should_deliver_each_once_and_park_repeat_failures() {
    let broker = Broker::start().await;
    let dir = temp_dir("dlq-replay");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "replay", &["events", "elsewhere"]).await;
    let payloads: Vec<String> = (0..1000u64)
        .map(|seq| serde_json::json!({ "seq": seq }).to_string())
        .collect();
    produce(&iggy, "replay", "events", &payloads).await;
    let mut snk = sink("replay", &output, 0, "replay", "events");
    snk.transforms = vec![transform(
        "gate",
        serde_json::json!({"enabled": true, "on_error": "dead_letter"}),
    )];
    snk.dead_letter = dead_letter("replay-dlq", "failed");
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    let gate = Arc::new(Gate {
        broken: AtomicBool::new(true),
    });
    engine.set_external_transform(gate.clone());
    engine.start().await.expect("starts");
    let stats = || stats_of(&engine, ConnectorKind::Sink, "replay");
    assert!(wait_for(WAIT, || stats().dead_lettered == 1000).await);
    assert!(read_lines(&output).is_empty());

    // List: every letter with its reason and origin, in origin order.
    let listed = engine
        .dead_letters(
            ConnectorKind::Sink,
            "replay",
            DeadLetterQuery {
                limit: 5000,
                ..DeadLetterQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 1000);
    for (index, letter) in listed.iter().enumerate() {
        assert_eq!(letter.offset, index as u64);
        assert_eq!(letter.origin_offset, Some(index as u64));
        assert_eq!(
            letter.origin_stream.as_deref(),
            Some(run_stream("replay").as_str())
        );
        assert_eq!(letter.origin_topic.as_deref(), Some("events"));
        assert_eq!(letter.origin_partition, Some(0));
        assert_eq!(letter.error_kind.as_deref(), Some("transform"));
        assert!(
            letter
                .error
                .as_deref()
                .unwrap()
                .contains("schema registry unavailable")
        );
        assert!(!letter.parked);
        assert_eq!(
            std::str::from_utf8(&letter.payload).unwrap(),
            payloads[index]
        );
    }
    let filtered = engine
        .dead_letters(
            ConnectorKind::Sink,
            "replay",
            DeadLetterQuery {
                from: Some(10),
                limit: 3,
                reason: Some("SCHEMA REGISTRY".to_owned()),
                ..DeadLetterQuery::default()
            },
        )
        .await
        .expect("list a page");
    assert_eq!(
        filtered.iter().map(|l| l.offset).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );

    // The outage is over: replay everything back to the origin topic.
    gate.broken.store(false, Ordering::SeqCst);
    let mut reports: Vec<ReplayProgress> = Vec::new();
    let first = engine
        .replay_dead_letters(
            ConnectorKind::Sink,
            "replay",
            ReplayRequest::default(),
            |p| reports.push(p.clone()),
        )
        .await
        .expect("replay");
    assert_eq!(
        (first.total, first.scanned, first.replayed),
        (1000, 1000, 1000)
    );
    assert!(first.done);
    assert!(
        reports.len() >= 3,
        "progress before, per batch and at the end"
    );
    assert!(reports.windows(2).all(|w| w[0].replayed <= w[1].replayed));
    assert_eq!(reports.last(), Some(&first));

    // 990 delivered exactly once; the 10 still failing are dead-lettered again, parked.
    assert!(
        wait_for(WAIT, || stats().parked == 10
            && read_lines(&output).len() == 990)
        .await
    );
    let mut delivered: Vec<String> = read_lines(&output).into_iter().map(|l| l.payload).collect();
    delivered.sort_by_key(|p| seq_of(p));
    let expected: Vec<String> = payloads
        .iter()
        .filter(|p| !seq_of(p).is_multiple_of(100))
        .cloned()
        .collect();
    assert_eq!(delivered, expected);
    assert_eq!(stats().dead_lettered, 1010);
    let dlq = read_all(&iggy, "replay-dlq", "failed").await;
    assert_eq!(dlq.len(), 1010);
    for parked in &dlq[1000..] {
        assert_eq!(
            header(parked, "iggy-connectors-parked").as_deref(),
            Some("true")
        );
        let replay_of = header(parked, "iggy-connectors-replay-of").expect("replay mark");
        let origin: u64 = replay_of.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(
            seq_of(std::str::from_utf8(&parked.payload).unwrap()),
            origin
        );
        assert!(origin.is_multiple_of(100));
    }

    // Replaying again resumes after the first replay and skips the parked letters: no loop.
    let second = engine
        .replay_dead_letters(
            ConnectorKind::Sink,
            "replay",
            ReplayRequest::default(),
            |_| {},
        )
        .await
        .expect("second replay");
    assert_eq!(
        (second.total, second.replayed, second.skipped_parked),
        (10, 0, 10)
    );

    // A range to another topic: marked, the dead-letter headers stripped, the cursor kept.
    let moved = engine
        .replay_dead_letters(
            ConnectorKind::Sink,
            "replay",
            ReplayRequest {
                from: Some(5),
                to: Some(7),
                target: Some((run_stream("replay"), "elsewhere".to_owned())),
                ..ReplayRequest::default()
            },
            |_| {},
        )
        .await
        .expect("replay elsewhere");
    assert_eq!(moved.replayed, 3);
    let elsewhere = read_all(&iggy, "replay", "elsewhere").await;
    assert_eq!(elsewhere.len(), 3);
    for (message, offset) in elsewhere.iter().zip(5u64..) {
        assert_eq!(
            std::str::from_utf8(&message.payload).unwrap(),
            payloads[offset as usize]
        );
        assert_eq!(
            header(message, "iggy-connectors-replay-of"),
            Some(format!("{}/failed/0/{offset}", run_stream("replay-dlq")))
        );
        assert_eq!(header(message, "iggy-connectors-error"), None);
    }
    let third = engine
        .replay_dead_letters(
            ConnectorKind::Sink,
            "replay",
            ReplayRequest::default(),
            |_| {},
        )
        .await
        .expect("third replay");
    assert_eq!((third.total, third.replayed), (0, 0));
    assert_eq!(read_lines(&output).len(), 990);

    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// Issue 19: the tap shows the exact payloads before and after the transforms, and nothing
/// once the listener is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_tap_listeners_should_see_exact_payloads_before_and_after_transforms() {
    let broker = Broker::start().await;
    let dir = temp_dir("tap");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "tap", &["events"]).await;
    let mut snk = sink("tap", &output, 0, "tap", "events");
    snk.transforms = vec![transform(
        "add_fields",
        serde_json::json!({"enabled": true, "fields": [{"key": "env", "value": {"static": "prod"}}]}),
    )];
    let engine = engine(&broker.address, &dir.join("state"), vec![], vec![snk]);
    let before = engine
        .tap(ConnectorKind::Sink, "tap", TapStage::Before)
        .expect("tap before");
    let after = engine
        .tap(ConnectorKind::Sink, "tap", TapStage::After)
        .expect("tap after");
    engine.start().await.expect("starts");
    let payloads: Vec<String> = (0..3u64)
        .map(|seq| serde_json::json!({ "seq": seq }).to_string())
        .collect();
    produce(&iggy, "tap", "events", &payloads).await;

    let mut seen_before = Vec::new();
    while seen_before.len() < 3 {
        seen_before.extend(before.next(10).await);
    }
    let mut seen_after = Vec::new();
    while seen_after.len() < 3 {
        seen_after.extend(after.next(10).await);
    }
    let text =
        |m: &iggy_connectors_engine::TapMessage| String::from_utf8(m.payload.clone()).unwrap();
    assert_eq!(seen_before.iter().map(text).collect::<Vec<_>>(), payloads);
    let transformed: Vec<serde_json::Value> = seen_after
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect();
    for (seq, value) in transformed.iter().enumerate() {
        assert_eq!(value, &serde_json::json!({"seq": seq, "env": "prod"}));
    }
    assert_eq!(
        seen_after.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![Some(0), Some(1), Some(2)]
    );
    assert_eq!(seen_after[0].topic, "events");
    assert_eq!((before.dropped(), after.dropped()), (0, 0));
    assert!(wait_for(WAIT, || read_lines(&output).len() == 3).await);
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// Issue 19: a sink's lag comes from Iggy: every message before the sink ran, none after it
/// committed them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_backlog_should_report_lag_from_iggy_until_the_sink_commits_it() {
    let broker = Broker::start().await;
    let dir = temp_dir("lag");
    let output = dir.join("out.txt");
    let iggy = connect(&broker.address).await;
    create_topics(&iggy, "lag", &["events"]).await;
    let payloads: Vec<String> = (0..50u64)
        .map(|seq| serde_json::json!({ "seq": seq }).to_string())
        .collect();
    produce(&iggy, "lag", "events", &payloads).await;
    let engine = engine(
        &broker.address,
        &dir.join("state"),
        vec![],
        vec![sink("lag", &output, 0, "lag", "events")],
    );
    let lag = engine.sink_lag("lag").await.expect("lag before start");
    assert_eq!(lag.len(), 1);
    assert_eq!((lag[0].end, lag[0].committed, lag[0].lag), (50, None, 50));
    engine.start().await.expect("starts");
    assert!(wait_for(WAIT, || read_lines(&output).len() == 50).await);
    let mut committed = Vec::new();
    for _ in 0..(WAIT.as_millis() / 20) {
        committed = engine.sink_lag("lag").await.expect("lag");
        if committed[0].lag == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        (committed[0].end, committed[0].committed, committed[0].lag),
        (50, Some(49), 0)
    );
    assert!(engine.sink_lag("nope").await.is_err());
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}

/// Issue 19: a source's tap shows what the plugin produced (before) and what went to Iggy
/// (after its transforms).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_source_tap_should_see_plugin_payloads_before_and_iggy_payloads_after() {
    let broker = Broker::start().await;
    let dir = temp_dir("tap-source");
    let mut src = source(
        "tapsrc",
        serde_json::json!({"total": 5, "batch_size": 5}),
        "tapsrc",
        "events",
    );
    src.transforms = vec![transform(
        "add_fields",
        serde_json::json!({"enabled": true, "fields": [{"key": "env", "value": {"static": "prod"}}]}),
    )];
    let engine = engine(&broker.address, &dir.join("state"), vec![src], vec![]);
    let before = engine
        .tap(ConnectorKind::Source, "tapsrc", TapStage::Before)
        .expect("tap before");
    let after = engine
        .tap(ConnectorKind::Source, "tapsrc", TapStage::After)
        .expect("tap after");
    engine.start().await.expect("starts");
    let mut seen_before = Vec::new();
    while seen_before.len() < 5 {
        seen_before.extend(before.next(10).await);
    }
    let mut seen_after = Vec::new();
    while seen_after.len() < 5 {
        seen_after.extend(after.next(10).await);
    }
    // The after-tap sees a batch as it is sent; Iggy holds it once the send is acknowledged.
    assert!(
        wait_for(WAIT, || stats_of(&engine, ConnectorKind::Source, "tapsrc")
            .messages_out
            >= 5)
        .await
    );
    let iggy = connect(&broker.address).await;
    let stored = read_all(&iggy, "tapsrc", "events").await;
    assert_eq!(stored.len(), 5);
    for ((b, a), s) in seen_before.iter().zip(&seen_after).zip(&stored) {
        let mut plugin: serde_json::Value = serde_json::from_slice(&b.payload).unwrap();
        assert!(plugin.get("env").is_none());
        plugin["env"] = serde_json::json!("prod");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&a.payload).unwrap(),
            plugin
        );
        assert_eq!(a.payload, s.payload.to_vec(), "after = what Iggy stored");
        assert_eq!(
            (a.stream.as_str(), a.topic.as_str()),
            (run_stream("tapsrc").as_str(), "events")
        );
    }
    engine.stop(Duration::from_secs(5)).await;
    broker.stop().await;
}
