//! Deterministic message ids (issue 20): a batch produced again after a Nack or a crash carries
//! the same ids; every message of a run has its own id.

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

async fn opened(json: &str, state: Option<ConnectorState>) -> RandomSource {
    let config: RandomSourceConfig = parse_config(json.as_bytes()).expect("config parses");
    let mut source = RandomSource::new(1, config, state);
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

const FIXED: &str = r#"{"interval":"0","messages_range":[5,6]}"#;

#[test]
fn given_a_batch_reproduced_after_nack_or_crash_should_carry_the_same_ids() {
    block_on(async {
        let source = opened(FIXED, None).await;
        let first = source.poll().await.unwrap();
        source
            .on_batch_result(SourceBatchResult::Nack)
            .await
            .unwrap();
        let again = source.poll().await.unwrap();
        assert_eq!(
            ids(&first),
            ids(&again),
            "Nack: same sequence numbers, same ids"
        );
        // A crash before the state was saved: a new instance from no state re-produces them too.
        let restarted = opened(FIXED, None).await;
        assert_eq!(ids(&first), ids(&restarted.poll().await.unwrap()));
        // A restart from the acknowledged state continues the sequence with new ids.
        source
            .on_batch_result(SourceBatchResult::Ack)
            .await
            .unwrap();
        let resumed = opened(FIXED, again.state.clone()).await;
        let next = ids(&resumed.poll().await.unwrap());
        assert_eq!(next[0], RandomSource::message_id(&resumed.ids, 5).unwrap());
        let all: HashSet<u128> = ids(&first).into_iter().chain(next).collect();
        assert_eq!(all.len(), 10, "ten messages, ten distinct ids");
    });
}

#[test]
fn given_id_namespace_should_change_every_id() {
    block_on(async {
        let plain = ids(&opened(FIXED, None).await.poll().await.unwrap());
        let other = opened(
            r#"{"interval":"0","messages_range":[5,6],"id_namespace":"second"}"#,
            None,
        )
        .await;
        let named = ids(&other.poll().await.unwrap());
        assert!(
            plain.iter().all(|id| !named.contains(id)),
            "{plain:x?} {named:x?}"
        );
    });
}

#[test]
fn given_message_ids_random_should_leave_ids_to_the_broker_as_upstream() {
    block_on(async {
        let source = opened(
            r#"{"interval":"0","messages_range":[5,6],"message_ids":"random"}"#,
            None,
        )
        .await;
        let batch = source.poll().await.unwrap();
        assert!(batch.messages.iter().all(|m| m.id.is_none()));
    });
}

#[test]
fn given_unknown_message_ids_value_should_fail_open_naming_the_key() {
    block_on(async {
        let config: RandomSourceConfig =
            parse_config(br#"{"message_ids":"uuid"}"#).expect("config parses");
        let mut source = RandomSource::new(1, config, None);
        let error = source.open().await.unwrap_err().to_string();
        assert!(error.contains("message_ids = \"uuid\""), "{error}");
    });
}
