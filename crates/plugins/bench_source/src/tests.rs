use iggy_connectors_sdk::ffi::parse_config;
use serde_json::Value;

use super::*;

fn config(json: &str) -> BenchSourceConfig {
    parse_config(json.as_bytes()).expect("config parses")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

async fn opened(json: &str, state: Option<ConnectorState>) -> BenchSource {
    let mut source = BenchSource::new(1, config(json), state);
    source.open().await.expect("open");
    source
}

#[test]
fn given_null_config_should_use_defaults() {
    let settings = config("null").settings().unwrap();
    assert_eq!(
        settings,
        Settings {
            count: 1_000_000,
            batch_size: 1000,
            payload_size: 200,
            report_path: None,
        }
    );
}

#[test]
fn given_bad_config_should_fail_with_a_clear_error() {
    let error = config(r#"{"payload_size":10}"#)
        .settings()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("payload_size 10 is below the minimum"),
        "{error}"
    );
    let error = config(r#"{"batch_size":0}"#)
        .settings()
        .unwrap_err()
        .to_string();
    assert!(error.contains("batch_size"), "{error}");
    let unknown = parse_config::<BenchSourceConfig>(br#"{"cont":5}"#);
    assert!(unknown.is_err(), "a misspelt key is rejected");
}

#[test]
fn given_payload_size_should_generate_distinct_json_of_exactly_that_size() {
    for size in [MIN_PAYLOAD_SIZE as u32, 200, 1024] {
        let settings = config(&format!(r#"{{"payload_size":{size},"batch_size":3}}"#))
            .settings()
            .unwrap();
        let pool = generate(&settings);
        assert_eq!(pool.len(), 3);
        for (index, payload) in pool.iter().enumerate() {
            assert_eq!(payload.len(), size as usize);
            let value: Value = serde_json::from_slice(payload).expect("valid JSON");
            assert_eq!(value["id"], index as u64);
            assert_eq!(value["event"], "page_view");
        }
    }
}

#[test]
fn given_ack_should_commit_and_nack_should_re_emit_the_same_range() {
    block_on(async {
        let source = opened(r#"{"count":5,"batch_size":2}"#, None).await;
        let batch = source.poll().await.unwrap();
        assert_eq!(batch.messages.len(), 2);
        assert_eq!(batch.schema, Schema::Json);
        assert_eq!(batch.state.unwrap().as_bytes(), [0x91, 0x02]);
        source
            .on_batch_result(SourceBatchResult::Nack)
            .await
            .unwrap();
        assert_eq!(source.sent(), 0);

        let batch = source.poll().await.unwrap();
        assert_eq!(batch.state.unwrap().as_bytes(), [0x91, 0x02], "re-emitted");
        source
            .on_batch_result(SourceBatchResult::Ack)
            .await
            .unwrap();
        assert_eq!(source.sent(), 2);

        let mut sizes = Vec::new();
        for _ in 0..3 {
            let batch = source.poll().await.unwrap();
            sizes.push(batch.messages.len());
            source
                .on_batch_result(SourceBatchResult::Ack)
                .await
                .unwrap();
        }
        assert_eq!(sizes, [2, 1, 0], "clamped to count, then nothing");
        let summary = source.summary();
        assert_eq!(summary.sent, 5);
        assert_eq!(summary.batches, 3, "acked batches with a latency sample");
        assert_eq!(summary.nacks, 1);
        assert!(summary.latency_p50_micros <= summary.latency_max_micros);
    });
}

#[test]
fn given_acked_state_when_restarted_should_resume_after_it() {
    block_on(async {
        let json = r#"{"count":9,"batch_size":2}"#;
        let mut first = opened(json, None).await;
        let acked = first.poll().await.unwrap();
        first.on_batch_result(SourceBatchResult::Ack).await.unwrap();
        // In flight at the stop, never acknowledged: its state is never saved.
        let unsaved = first.poll().await.unwrap();
        assert_eq!(unsaved.state.unwrap().as_bytes(), [0x91, 0x04]);
        first.close().await.unwrap();
        let saved = acked.state.unwrap();
        assert_eq!(saved.as_bytes(), [0x91, 0x02]);

        let second = opened(json, Some(saved)).await;
        assert_eq!(second.sent(), 2);
        let mut sizes = Vec::new();
        loop {
            let batch = second.poll().await.unwrap();
            if batch.messages.is_empty() {
                break;
            }
            sizes.push(batch.messages.len());
            second
                .on_batch_result(SourceBatchResult::Ack)
                .await
                .unwrap();
        }
        assert_eq!(
            sizes,
            [2, 2, 2, 1],
            "messages 2..9 once more: the unacked pair included"
        );
        assert_eq!(second.sent(), 9);
    });
}

#[test]
fn given_report_path_should_write_the_summary_at_close() {
    block_on(async {
        let path = std::env::temp_dir().join(format!("bench-source-{}.json", std::process::id()));
        let json = format!(
            r#"{{"count":3,"batch_size":3,"report_path":{}}}"#,
            serde_json::to_string(&path.display().to_string()).unwrap()
        );
        let mut source = opened(&json, None).await;
        source.poll().await.unwrap();
        source
            .on_batch_result(SourceBatchResult::Ack)
            .await
            .unwrap();
        source.close().await.unwrap();
        let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(report["sent"], 3);
        assert_eq!(report["batches"], 1);
        assert_eq!(report["payload_size"], 200);
    });
}

#[test]
fn given_samples_percentile_should_use_nearest_rank() {
    let sorted: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&sorted, 50.0), 50);
    assert_eq!(percentile(&sorted, 99.0), 99);
    assert_eq!(percentile(&[7], 99.0), 7);
    assert_eq!(percentile(&[], 50.0), 0);
}
