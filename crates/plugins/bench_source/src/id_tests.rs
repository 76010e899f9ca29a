//! Deterministic message ids (issue 20): a batch re-sent after a Nack or a crash carries the same
//! ids; every message of a run has its own id.

use std::collections::HashSet;

use iggy_connectors_sdk::ffi::parse_config;

use super::*;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    iggy_connectors_sdk::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

async fn opened(json: &str, state: Option<ConnectorState>) -> BenchSource {
    let config: BenchSourceConfig = parse_config(json.as_bytes()).expect("config parses");
    let mut source = BenchSource::new(1, config, state);
    source.open().await.expect("open");
    source
}

fn ids(batch: &ProducedMessages) -> Vec<u128> {
    batch
        .messages
        .iter()
        .map(|m| m.id.expect("a deterministic id"))
        .collect()
}

const SMALL: &str = r#"{"count":10,"batch_size":4}"#;

#[test]
fn given_a_batch_resent_after_nack_or_crash_should_carry_the_same_ids() {
    block_on(async {
        let source = opened(SMALL, None).await;
        let first = source.poll().await.unwrap();
        source
            .on_batch_result(SourceBatchResult::Nack)
            .await
            .unwrap();
        assert_eq!(ids(&first), ids(&source.poll().await.unwrap()));
        let restarted = opened(SMALL, None).await;
        assert_eq!(ids(&first), ids(&restarted.poll().await.unwrap()));

        // The whole run, batch by batch with Acks: ten messages, ten ids, in sequence order.
        let mut all = Vec::new();
        let run = opened(SMALL, None).await;
        loop {
            let batch = run.poll().await.unwrap();
            if batch.messages.is_empty() {
                break;
            }
            all.extend(ids(&batch));
            run.on_batch_result(SourceBatchResult::Ack).await.unwrap();
        }
        assert_eq!(all.len(), 10);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 10);
        assert_eq!(all[..4], ids(&first)[..]);
        assert_eq!(all[9], message_id(&run.ids, 9).unwrap());
    });
}

#[test]
fn given_message_ids_random_or_a_namespace_should_follow_the_option() {
    block_on(async {
        let random = opened(r#"{"count":4,"message_ids":"random"}"#, None).await;
        let batch = random.poll().await.unwrap();
        assert!(batch.messages.iter().all(|m| m.id.is_none()));

        let plain = ids(&opened(SMALL, None).await.poll().await.unwrap());
        let named = opened(r#"{"count":10,"batch_size":4,"id_namespace":"b"}"#, None).await;
        let named = ids(&named.poll().await.unwrap());
        assert!(plain.iter().all(|id| !named.contains(id)));

        let mut bad = BenchSource::new(1, parse_config(br#"{"message_ids":"v4"}"#).unwrap(), None);
        let error = bad.open().await.unwrap_err().to_string();
        assert!(error.contains("message_ids = \"v4\""), "{error}");
    });
}
