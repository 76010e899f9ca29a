//! Behaviour specific to the embedded broker: persistence across restarts and the memory cap.
//! These need to restart or configure the broker, so they are skipped against an external server.

mod common;

use bytes::Bytes;
use common::{TestServer, id, message, unique_name};
use iggy::prelude::*;
use iggy_test_broker::BrokerConfig;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn persistent(dir: &TempDir) -> BrokerConfig {
    BrokerConfig {
        data_dir: Some(dir.0.clone()),
        ..BrokerConfig::default()
    }
}

async fn poll_all(client: &IggyClient, stream: &str, partition: u32) -> Vec<IggyMessage> {
    client
        .poll_messages(
            &id(stream),
            &id("events"),
            Some(partition),
            &Consumer::new(id("restart-check")),
            &PollingStrategy::first(),
            10_000,
            false,
        )
        .await
        .unwrap()
        .messages
}

#[tokio::test]
async fn given_data_dir_when_broker_restarts_should_keep_streams_messages_offsets_and_tokens() {
    let dir = TempDir::new("broker-data");
    let Some(server) = TestServer::embedded(persistent(&dir)).await else {
        return;
    };
    let client = server.client().await;
    let stream = unique_name("persist");
    client.create_stream(&stream).await.unwrap();
    client
        .create_topic(
            &id(&stream),
            "events",
            2,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .unwrap();
    let header = BTreeMap::from([(
        HeaderKey::from_str("kind").unwrap(),
        HeaderValue::from_str("persisted").unwrap(),
    )]);
    let mut messages: Vec<IggyMessage> = (0..50)
        .map(|i| {
            IggyMessage::builder()
                .payload(Bytes::from(format!("durable-{i}")))
                .user_headers(header.clone())
                .build()
                .unwrap()
        })
        .collect();
    client
        .send_messages(
            &id(&stream),
            &id("events"),
            &Partitioning::partition_id(1),
            &mut messages,
        )
        .await
        .unwrap();
    let consumer = Consumer::new(id("keeper"));
    client
        .store_consumer_offset(&consumer, &id(&stream), &id("events"), Some(1), 24)
        .await
        .unwrap();
    client
        .create_consumer_group(&id(&stream), &id("events"), "survivors")
        .await
        .unwrap();
    let token = client
        .create_personal_access_token("restart-token", PersonalAccessTokenExpiry::NeverExpire)
        .await
        .unwrap();
    let before = poll_all(&client, &stream, 1).await;
    assert_eq!(before.len(), 50);
    client.shutdown().await.unwrap();
    server.stop().await;

    let server = TestServer::embedded(persistent(&dir)).await.unwrap();
    let client = server.anonymous_client().await;
    client
        .login_with_personal_access_token(&token.token)
        .await
        .expect("token survives restart");
    let topic = client
        .get_topic(&id(&stream), &id("events"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(topic.partitions_count, 2);
    assert_eq!(topic.messages_count, 50);
    let after = poll_all(&client, &stream, 1).await;
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(before.iter()) {
        assert_eq!(
            a.header, b.header,
            "ids, offsets, timestamps and checksums preserved"
        );
        assert_eq!(a.payload, b.payload);
        assert_eq!(a.user_headers_map().unwrap(), Some(header.clone()));
    }
    let offset = client
        .get_consumer_offset(&consumer, &id(&stream), &id("events"), Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offset.stored_offset, 24);
    assert!(
        client
            .get_consumer_group(&id(&stream), &id("events"), &id("survivors"))
            .await
            .unwrap()
            .is_some()
    );
    // New messages continue the offset sequence.
    let mut more = vec![message("after-restart")];
    client
        .send_messages(
            &id(&stream),
            &id("events"),
            &Partitioning::partition_id(1),
            &mut more,
        )
        .await
        .unwrap();
    let all = poll_all(&client, &stream, 1).await;
    assert_eq!(all.last().unwrap().header.offset, 50);
    server.stop().await;
}

#[tokio::test]
async fn given_torn_partition_log_when_restarting_should_keep_whole_messages_only() {
    let dir = TempDir::new("broker-torn");
    let Some(server) = TestServer::embedded(persistent(&dir)).await else {
        return;
    };
    let client = server.client().await;
    let stream = unique_name("torn");
    let created = client.create_stream(&stream).await.unwrap();
    client
        .create_topic(
            &id(&stream),
            "events",
            1,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .unwrap();
    let mut messages: Vec<IggyMessage> = (0..5).map(|i| message(format!("m{i}"))).collect();
    client
        .send_messages(
            &id(&stream),
            &id("events"),
            &Partitioning::partition_id(0),
            &mut messages,
        )
        .await
        .unwrap();
    server.stop().await;

    // Simulate a crash mid-write: half a message header at the end of the log.
    let log = dir
        .0
        .join("streams")
        .join(created.id.to_string())
        .join("0")
        .join("0.log");
    let mut bytes = std::fs::read(&log).expect("partition log exists");
    bytes.extend_from_slice(&[7u8; 30]);
    std::fs::write(&log, bytes).unwrap();

    let server = TestServer::embedded(persistent(&dir)).await.unwrap();
    let client = server.client().await;
    assert_eq!(poll_all(&client, &stream, 0).await.len(), 5);
    let mut one = vec![message("m5")];
    client
        .send_messages(
            &id(&stream),
            &id("events"),
            &Partitioning::partition_id(0),
            &mut one,
        )
        .await
        .unwrap();
    server.stop().await;
    let server = TestServer::embedded(persistent(&dir)).await.unwrap();
    let client = server.client().await;
    let all = poll_all(&client, &stream, 0).await;
    assert_eq!(
        all.len(),
        6,
        "append after recovery lines up with the index"
    );
    assert_eq!(all[5].payload, Bytes::from("m5"));
    server.stop().await;
}

#[tokio::test]
async fn given_memory_cap_when_exceeded_should_refuse_sends_with_topic_full() {
    let config = BrokerConfig {
        max_bytes: Some(20_000),
        ..BrokerConfig::default()
    };
    let Some(server) = TestServer::embedded(config).await else {
        return;
    };
    let client = server.client().await;
    let stream = unique_name("capped");
    client.create_stream(&stream).await.unwrap();
    client
        .create_topic(
            &id(&stream),
            "events",
            1,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .unwrap();
    let payload = "x".repeat(1_000);
    let mut accepted = 0;
    let error = loop {
        let mut batch = vec![message(payload.clone())];
        match client
            .send_messages(
                &id(&stream),
                &id("events"),
                &Partitioning::partition_id(0),
                &mut batch,
            )
            .await
        {
            Ok(()) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted < 100, "cap never enforced");
    };
    assert!(matches!(error, IggyError::TopicFull(..)), "got {error:?}");
    assert_eq!(accepted, 20_000 / 1_064, "as many whole messages as fit");
    // Deleting data frees room again.
    client.delete_stream(&id(&stream)).await.unwrap();
    client.create_stream(&stream).await.unwrap();
    client
        .create_topic(
            &id(&stream),
            "events",
            1,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .unwrap();
    let mut batch = vec![message(payload)];
    client
        .send_messages(
            &id(&stream),
            &id("events"),
            &Partitioning::partition_id(0),
            &mut batch,
        )
        .await
        .expect("room again after delete");
    server.stop().await;
}
