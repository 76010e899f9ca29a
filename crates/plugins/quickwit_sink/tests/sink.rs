//! The Quickwit sink against a test double of Quickwit 0.8's REST API (see
//! `common/quickwit_double.rs`; no real Quickwit server is obtainable here).

mod common;

use common::quickwit_double::QuickwitDouble;
use common::{doc, docs, message, meta, sink, strict_index_yaml, topic};
use iggy_connector_quickwit_sink::SinkError;
use iggy_connectors_sdk::Payload;
use serde_json::{Value, json};

fn fast(index: &str, extra: Value) -> Value {
    let mut config = json!({"index": index, "max_retries": 2, "retry_delay": "10ms", "max_retry_delay": "40ms", "timeout": "5s"});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    config
}

#[tokio::test]
async fn given_nonexistent_index_when_opened_double_should_create_it_from_yaml_and_store_documents_unchanged()
 {
    let qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(&strict_index_yaml("events"), json!({"commit": "force"})),
    );
    sink.open().await.unwrap();
    assert_eq!(
        (qw.creates(), qw.index_content_type("events").as_deref()),
        (1, Some("application/yaml"))
    );
    let rejected = sink.consume(&topic(), meta(), docs(0, 13)).await.unwrap();
    assert!(rejected.is_empty());
    let expected: Vec<Value> = (0..13).map(doc).collect();
    assert_eq!(
        qw.committed("events"),
        expected,
        "each hit equals the sent JSON: no fields added"
    );
    // Through the REST search endpoint too.
    let search: Value = reqwest::get(format!(
        "{}/api/v1/events/search?query=*&max_hits=100",
        qw.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(search["num_hits"], 13);
    assert_eq!(search["hits"], json!(expected));
}

#[tokio::test]
async fn given_existing_index_when_opened_double_should_not_create_it_again() {
    let qw = QuickwitDouble::start().await;
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/indexes", qw.url()))
        .header("content-type", "application/yaml")
        .body(strict_index_yaml("existing"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let mut sink = sink(
        &qw.url(),
        fast(
            &strict_index_yaml("existing"),
            json!({"commit": "wait_for"}),
        ),
    );
    sink.open().await.unwrap();
    sink.consume(&topic(), meta(), docs(0, 11)).await.unwrap();
    assert_eq!(qw.creates(), 1);
    assert_eq!(
        qw.committed("existing"),
        (0..11).map(doc).collect::<Vec<_>>()
    );
    assert_eq!(
        sink.counters()
            .indexes_created
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn given_json_index_config_when_opened_double_should_create_it_as_json() {
    let qw = QuickwitDouble::start().await;
    let config =
        json!({"version": "0.8", "index_id": "json-index", "doc_mapping": {"mode": "dynamic"}})
            .to_string();
    let mut sink = sink(&format!("{}/", qw.url()), fast(&config, json!({})));
    sink.open().await.unwrap();
    assert_eq!(
        qw.index_content_type("json-index").as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn given_commit_modes_when_ingesting_double_should_get_each_mode_and_auto_stays_uncommitted()
{
    let qw = QuickwitDouble::start().await;
    for (i, mode) in ["auto", "wait_for", "force"].iter().enumerate() {
        let id = format!("commit-{}", mode.replace('_', "-"));
        let extra = if *mode == "auto" {
            json!({})
        } else {
            json!({"commit": mode})
        };
        let mut sink = sink(&qw.url(), fast(&strict_index_yaml(&id), extra));
        sink.open().await.unwrap();
        sink.consume(&topic(), meta(), docs(0, 3)).await.unwrap();
        assert_eq!(qw.ingests()[i].commit, *mode);
        let searchable = qw.committed(&id).len();
        assert_eq!(searchable, if *mode == "auto" { 0 } else { 3 }, "{mode}");
    }
    qw.commit_timeout_elapsed();
    assert_eq!(qw.committed("commit-auto").len(), 3);
}

#[tokio::test]
async fn given_10000_messages_when_consumed_in_batches_double_should_hold_each_once_in_order() {
    let qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(
            &strict_index_yaml("bulk"),
            json!({"commit": "force", "batch_size": 1000}),
        ),
    );
    sink.open().await.unwrap();
    for from in (0..10_000).step_by(2_500) {
        let rejected = sink
            .consume(&topic(), meta(), docs(from, from + 2_500))
            .await
            .unwrap();
        assert!(rejected.is_empty());
    }
    let stored = qw.committed("bulk");
    assert_eq!(stored.len(), 10_000);
    for (i, d) in stored.iter().enumerate() {
        assert_eq!(*d, doc(i as u64), "document {i}");
    }
    let ingests = qw.ingests();
    assert_eq!(
        ingests.len(),
        12,
        "2 500-message batches in chunks of at most 1 000"
    );
    assert!(ingests.iter().all(|c| c.lines <= 1000 && c.status == 200));
}

#[tokio::test]
async fn given_non_object_payloads_when_consumed_double_should_reject_them_by_offset_and_ingest_the_rest()
 {
    let qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(&strict_index_yaml("mixed"), json!({"commit": "force"})),
    );
    sink.open().await.unwrap();
    let messages = vec![
        message(0, Payload::Json(doc(0))),
        message(1, Payload::Text("plain text".into())),
        message(2, Payload::Json(json!([1, 2]))),
        message(3, Payload::Raw(vec![1, 2])),
        message(4, Payload::Json(doc(4))),
    ];
    let rejected = sink.consume(&topic(), meta(), messages).await.unwrap();
    let offsets: Vec<u64> = rejected.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![1, 2, 3]);
    assert!(
        rejected[0].reason.contains("Text"),
        "{}",
        rejected[0].reason
    );
    assert!(
        rejected[1].reason.contains("an array"),
        "{}",
        rejected[1].reason
    );
    assert_eq!(qw.committed("mixed"), vec![doc(0), doc(4)]);
}

#[tokio::test]
async fn given_strict_index_and_an_unmapped_field_when_consumed_double_should_drop_it_unseen_by_the_sink()
 {
    // Quickwit 0.8's ingest API does not report indexing failures: the strict index drops the
    // document after answering 200. The sink cannot notice (documented in the README).
    let qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(&strict_index_yaml("strict"), json!({"commit": "force"})),
    );
    sink.open().await.unwrap();
    for (offset, payload) in [
        (0, doc(0)),
        (1, json!({"not_a_test_message_field": 17.0})),
        (2, doc(2)),
    ] {
        let rejected = sink
            .consume(
                &topic(),
                meta(),
                vec![message(offset, Payload::Json(payload))],
            )
            .await
            .unwrap();
        assert!(rejected.is_empty());
    }
    assert_eq!(qw.committed("strict"), vec![doc(0), doc(2)]);
    assert_eq!(qw.dropped("strict"), 1);
}

#[tokio::test]
async fn given_429_and_503_answers_when_consumed_double_should_retry_and_store_once() {
    let qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(&strict_index_yaml("flaky"), json!({"commit": "force"})),
    );
    sink.open().await.unwrap();
    qw.fail_next_ingests(&[429, 503]);
    sink.consume(&topic(), meta(), docs(0, 20)).await.unwrap();
    let statuses: Vec<u16> = qw.ingests().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![429, 503, 200]);
    assert_eq!(qw.committed("flaky"), (0..20).map(doc).collect::<Vec<_>>());
}

#[tokio::test]
async fn given_an_outage_longer_than_the_retries_when_consumed_double_should_fail_then_lose_nothing()
 {
    let mut qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(&strict_index_yaml("outage"), json!({"commit": "force"})),
    );
    sink.open().await.unwrap();
    sink.consume(&topic(), meta(), docs(0, 5)).await.unwrap();
    qw.stop();
    let error = sink
        .consume(&topic(), meta(), docs(5, 10))
        .await
        .unwrap_err();
    assert!(matches!(error, SinkError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("3 attempt(s)"), "{error}");
    let qw = qw.restart().await;
    // The engine re-delivers the failed batch.
    sink.consume(&topic(), meta(), docs(5, 10)).await.unwrap();
    assert_eq!(qw.committed("outage"), (0..10).map(doc).collect::<Vec<_>>());
}

#[tokio::test]
async fn given_the_index_deleted_while_running_when_consumed_double_should_recreate_it_and_ingest()
{
    let qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(&strict_index_yaml("vanishing"), json!({"commit": "force"})),
    );
    sink.open().await.unwrap();
    let deleted = reqwest::Client::new()
        .delete(format!("{}/api/v1/indexes/vanishing", qw.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    sink.consume(&topic(), meta(), docs(0, 4)).await.unwrap();
    assert_eq!(qw.creates(), 2);
    assert_eq!(
        qw.committed("vanishing"),
        (0..4).map(doc).collect::<Vec<_>>()
    );
    let statuses: Vec<u16> = qw.ingests().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![404, 200]);
}

#[tokio::test]
async fn given_a_payload_size_limit_when_consumed_double_should_split_bodies_under_it() {
    let qw = QuickwitDouble::start().await;
    let mut sink = sink(
        &qw.url(),
        fast(
            &strict_index_yaml("small"),
            json!({"commit": "force", "max_payload_size_bytes": 1000}),
        ),
    );
    sink.open().await.unwrap();
    let mut messages = docs(0, 40);
    messages[9] = message(9, Payload::Json(json!({"name": "x".repeat(2000)})));
    let rejected = sink.consume(&topic(), meta(), messages).await.unwrap();
    assert_eq!(
        rejected.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![9]
    );
    assert!(qw.ingests().iter().all(|c| c.body_len <= 1000));
    assert!(qw.ingests().len() > 1);
    let expected: Vec<Value> = (0..40).filter(|&i| i != 9).map(doc).collect();
    assert_eq!(qw.committed("small"), expected);
}

#[tokio::test]
async fn given_a_broken_index_config_when_opened_should_fail_with_a_config_error_not_a_panic() {
    let qw = QuickwitDouble::start().await;
    for (index, needle) in [
        ("version: 0.8\n", "no index_id"),
        ("index_id: [oops", "YAML"),
    ] {
        let mut sink = sink(&qw.url(), fast(index, json!({})));
        let error = sink.open().await.unwrap_err();
        assert!(
            matches!(error, SinkError::Config(_)) && error.to_string().contains(needle),
            "{error}"
        );
    }
    // Quickwit refuses a config it cannot parse: open reports the server's message.
    let mut sink = sink(&qw.url(), fast("index_id: no-version\n", json!({})));
    let error = sink.open().await.unwrap_err();
    assert!(
        error.to_string().contains("missing field `version`"),
        "{error}"
    );
    assert_eq!(qw.creates(), 0);
}
