use std::time::Instant;

use iggy_connectors_sdk::ffi::parse_config;
use serde_json::Value;

use super::*;

fn config(json: &str) -> RandomSourceConfig {
    parse_config(json.as_bytes()).expect("config parses")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

async fn opened(json: &str, state: Option<ConnectorState>) -> RandomSource {
    let mut source = RandomSource::new(1, config(json), state);
    source.open().await.expect("open");
    source
}

#[test]
fn given_null_config_should_use_upstream_defaults() {
    let settings = config("null").settings().unwrap();
    assert_eq!(
        settings,
        Settings {
            interval: std::time::Duration::from_secs(1),
            max_count: None,
            min_messages: 10,
            max_messages: 50,
            payload_size: 100,
        }
    );
}

#[test]
fn given_bad_interval_or_empty_range_should_fail_open_with_config_error() {
    block_on(async {
        let mut source = RandomSource::new(1, config(r#"{"interval":"soon"}"#), None);
        let error = source.open().await.unwrap_err().to_string();
        assert!(error.contains("interval 'soon'"), "{error}");

        let mut source = RandomSource::new(1, config(r#"{"messages_range":[5,5]}"#), None);
        let error = source.open().await.unwrap_err().to_string();
        assert!(error.contains("messages_range [5, 5] is empty"), "{error}");
    });
}

#[test]
fn given_config_should_produce_json_records_in_upstream_field_order() {
    block_on(async {
        let source = opened(
            r#"{"interval":"0","messages_range":[3,6],"payload_size":12}"#,
            None,
        )
        .await;
        let batch = source.poll().await.unwrap();
        assert_eq!(batch.schema, Schema::Json);
        assert!(
            (3..6).contains(&batch.messages.len()),
            "{}",
            batch.messages.len()
        );
        for message in &batch.messages {
            assert!(
                message.id.is_some(),
                "deterministic ids by default (id_tests.rs)"
            );
            assert_eq!(message.headers, None);
            let value: Value = serde_json::from_slice(&message.payload).unwrap();
            let object = value.as_object().unwrap();
            let keys: Vec<_> = object.keys().map(String::as_str).collect();
            assert_eq!(keys, ["id", "title", "name", "text"]);
            assert_eq!(object["title"], "Hello");
            assert_eq!(object["name"], "World");
            let text = object["text"].as_str().unwrap();
            assert_eq!(text.len(), 12);
            assert!(text.chars().all(|c| c.is_ascii_alphanumeric()));
            let id = uuid::Uuid::parse_str(object["id"].as_str().unwrap()).unwrap();
            assert_eq!(id.get_version_num(), 4);
        }
    });
}

#[test]
fn given_ack_should_commit_staged_count_and_nack_should_discard_it() {
    block_on(async {
        let source = opened(r#"{"interval":"0","messages_range":[2,3]}"#, None).await;
        let batch = source.poll().await.unwrap();
        assert_eq!(batch.messages.len(), 2);
        assert_eq!(batch.state.as_ref().unwrap().as_bytes(), [0x91, 0x02]);
        assert_eq!(source.produced(), 0, "nothing committed before the verdict");
        source
            .on_batch_result(SourceBatchResult::Nack)
            .await
            .unwrap();
        assert_eq!(source.produced(), 0);

        let batch = source.poll().await.unwrap();
        assert_eq!(
            batch.state.as_ref().unwrap().as_bytes(),
            [0x91, 0x02],
            "re-produced"
        );
        source
            .on_batch_result(SourceBatchResult::Ack)
            .await
            .unwrap();
        assert_eq!(source.produced(), 2);
        let batch = source.poll().await.unwrap();
        assert_eq!(batch.state.unwrap().as_bytes(), [0x91, 0x04]);
    });
}

#[test]
fn given_max_count_should_clamp_final_batch_then_produce_nothing() {
    block_on(async {
        let source = opened(
            r#"{"interval":"0","messages_range":[3,4],"max_count":5}"#,
            None,
        )
        .await;
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let batch = source.poll().await.unwrap();
            sizes.push(batch.messages.len());
            if batch.messages.is_empty() {
                assert_eq!(batch.state, None);
            }
            source
                .on_batch_result(SourceBatchResult::Ack)
                .await
                .unwrap();
        }
        assert_eq!(sizes, [3, 2, 0]);
        assert_eq!(source.produced(), 5);
    });
}

#[test]
fn given_acked_state_when_restarted_should_resume_the_count_from_it() {
    block_on(async {
        let json = r#"{"interval":"0","messages_range":[1,2],"max_count":5}"#;
        let mut first = opened(json, None).await;
        let mut saved = None;
        for _ in 0..2 {
            let batch = first.poll().await.unwrap();
            first.on_batch_result(SourceBatchResult::Ack).await.unwrap();
            // The runtime persists a batch's state once Iggy acknowledged it.
            saved = batch.state;
        }
        // A third batch is in flight when the runtime stops: its state is never saved.
        let unsaved = first.poll().await.unwrap();
        assert_eq!(unsaved.state.unwrap().as_bytes(), [0x91, 0x03]);
        first.close().await.unwrap();
        let saved = saved.unwrap();
        assert_eq!(saved.as_bytes(), [0x91, 0x02]);

        let second = opened(json, Some(saved)).await;
        assert_eq!(second.produced(), 2);
        let mut states = Vec::new();
        loop {
            let batch = second.poll().await.unwrap();
            let Some(state) = batch.state else { break };
            assert_eq!(batch.messages.len(), 1);
            states.push(state.as_bytes().to_vec());
            second
                .on_batch_result(SourceBatchResult::Ack)
                .await
                .unwrap();
        }
        assert_eq!(states, [[0x91, 0x03], [0x91, 0x04], [0x91, 0x05]]);
        assert_eq!(second.produced(), 5);

        let garbage = RandomSource::new(2, config("null"), Some(ConnectorState(vec![0xC1])));
        assert_eq!(garbage.produced(), 0, "unreadable state starts fresh");
    });
}

#[test]
fn given_zero_interval_should_not_sleep_and_nonzero_should() {
    block_on(async {
        let fast = opened(r#"{"interval":"0","messages_range":[1,2]}"#, None).await;
        let started = Instant::now();
        for _ in 0..200 {
            fast.poll().await.unwrap();
        }
        assert!(
            started.elapsed().as_millis() < 500,
            "{:?}",
            started.elapsed()
        );

        let slow = opened(r#"{"interval":"30ms","messages_range":[1,2]}"#, None).await;
        let started = Instant::now();
        slow.poll().await.unwrap();
        assert!(started.elapsed().as_millis() >= 30);
    });
}
