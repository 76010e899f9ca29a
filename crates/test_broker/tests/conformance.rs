//! Conformance suite: each command the connectors runtime relies on, driven by the unmodified
//! `iggy` 0.10 client. Runs against the embedded broker, or against a real Iggy server when
//! `IGGY_TEST_SERVER=host:port` is set.

mod common;

use bytes::Bytes;
use common::{TestServer, id, message, stream_and_topic, unique_name};
use iggy::prelude::*;
use std::collections::BTreeMap;
use std::str::FromStr;

#[tokio::test]
async fn given_default_credentials_when_logging_in_should_succeed_and_ping() {
    let server = TestServer::start().await;
    let client = server.anonymous_client().await;
    client.ping().await.expect("ping works before login");
    let identity = client.login_user("iggy", "iggy").await.expect("login");
    let me = client.get_me().await.expect("get_me");
    assert_eq!(me.user_id, Some(identity.user_id));
    let stats = client.get_stats().await.expect("get_stats after login");
    assert!(stats.clients_count >= 1);
    server.stop().await;
}

#[tokio::test]
async fn given_wrong_password_when_logging_in_should_fail_with_invalid_credentials() {
    let server = TestServer::start().await;
    let client = server.anonymous_client().await;
    let error = client
        .login_user("iggy", "not-the-password")
        .await
        .unwrap_err();
    assert!(
        matches!(error, IggyError::InvalidCredentials),
        "expected InvalidCredentials, got {error:?}"
    );
    let error = client.login_user("nobody", "iggy").await.unwrap_err();
    assert!(
        matches!(error, IggyError::InvalidCredentials),
        "got {error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn given_no_login_when_sending_a_command_should_fail_with_unauthenticated() {
    let server = TestServer::start().await;
    // The client reconnects once on Unauthenticated before giving up; skip its 5 s back-off.
    let client = IggyClient::builder()
        .with_tcp()
        .with_server_address(server.address.clone())
        .with_reestablish_after(IggyDuration::from_str("1ms").unwrap())
        .build()
        .unwrap();
    client.connect().await.unwrap();
    // get_stats is one of the few client calls that does not check login locally, so the
    // refusal observed here comes from the server.
    let error = client.get_stats().await.unwrap_err();
    assert!(matches!(error, IggyError::Unauthenticated), "got {error:?}");
    server.stop().await;
}

#[tokio::test]
async fn given_personal_access_token_when_logging_in_with_it_should_authenticate() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    let name = unique_name("pat");
    let token = admin
        .create_personal_access_token(&name, PersonalAccessTokenExpiry::NeverExpire)
        .await
        .expect("create PAT");
    let listed = admin.get_personal_access_tokens().await.expect("list PATs");
    assert!(listed.iter().any(|t| t.name == name));

    let client = server.anonymous_client().await;
    client
        .login_with_personal_access_token(&token.token)
        .await
        .expect("login with PAT");
    client.get_streams().await.expect("authenticated command");

    let other = server.anonymous_client().await;
    let error = other
        .login_with_personal_access_token("definitely-not-a-token")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            IggyError::InvalidPersonalAccessToken
                | IggyError::Unauthenticated
                | IggyError::ResourceNotFound(_)
                | IggyError::InvalidCredentials
        ),
        "got {error:?}"
    );
    admin
        .delete_personal_access_token(&name)
        .await
        .expect("delete PAT");
    server.stop().await;
}

#[tokio::test]
async fn given_streams_when_created_fetched_listed_and_deleted_should_reflect_each_step() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let name = unique_name("streams");
    let created = client.create_stream(&name).await.expect("create stream");
    assert_eq!(created.name, name);
    assert_eq!(created.topics_count, 0);

    let by_id = client
        .get_stream(&Identifier::numeric(created.id).unwrap())
        .await
        .expect("get by id")
        .expect("stream exists");
    assert_eq!(by_id.name, name);
    let by_name = client
        .get_stream(&id(&name))
        .await
        .unwrap()
        .expect("by name");
    assert_eq!(by_name.id, created.id);
    assert!(
        client
            .get_streams()
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == created.id)
    );

    let duplicate = client.create_stream(&name).await.unwrap_err();
    assert!(
        matches!(duplicate, IggyError::StreamNameAlreadyExists(_)),
        "got {duplicate:?}"
    );

    client.delete_stream(&id(&name)).await.expect("delete");
    assert!(client.get_stream(&id(&name)).await.unwrap().is_none());
    let error = client.delete_stream(&id(&name)).await.unwrap_err();
    assert!(
        matches!(
            error,
            IggyError::StreamNameNotFound(_) | IggyError::StreamIdNotFound(_)
        ),
        "got {error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn given_topic_with_partitions_when_created_should_be_listed_with_its_partitions() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let stream = unique_name("topics");
    let created_stream = client.create_stream(&stream).await.unwrap();
    let topic = client
        .create_topic(
            &id(&stream),
            "orders",
            3,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .expect("create topic");
    assert_eq!(topic.name, "orders");
    assert_eq!(topic.partitions_count, 3);
    assert_eq!(topic.partitions.len(), 3);
    assert_eq!(
        topic.partitions.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    let by_numeric = client
        .get_topic(
            &Identifier::numeric(created_stream.id).unwrap(),
            &Identifier::numeric(topic.id).unwrap(),
        )
        .await
        .unwrap()
        .expect("topic by numeric ids");
    assert_eq!(by_numeric.name, "orders");
    let topics = client.get_topics(&id(&stream)).await.unwrap();
    assert_eq!(topics.len(), 1);
    let details = client.get_stream(&id(&stream)).await.unwrap().unwrap();
    assert_eq!(details.topics_count, 1);
    assert!(
        client
            .get_topic(&id(&stream), &id("missing"))
            .await
            .unwrap()
            .is_none()
    );

    let duplicate = client
        .create_topic(
            &id(&stream),
            "orders",
            1,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, IggyError::TopicNameAlreadyExists(_, _)),
        "got {duplicate:?}"
    );

    client
        .delete_topic(&id(&stream), &id("orders"))
        .await
        .expect("delete topic");
    assert!(
        client
            .get_topic(&id(&stream), &id("orders"))
            .await
            .unwrap()
            .is_none()
    );
    client.delete_stream(&id(&stream)).await.unwrap();
    server.stop().await;
}

fn headers(i: u64) -> BTreeMap<HeaderKey, HeaderValue> {
    BTreeMap::from([
        (
            HeaderKey::from_str("trace").unwrap(),
            HeaderValue::from_str(&format!("t-{i}")).unwrap(),
        ),
        (HeaderKey::from_str("n").unwrap(), HeaderValue::from(i)),
    ])
}

#[tokio::test]
async fn given_sent_messages_when_polled_by_offset_first_last_should_return_them_in_order() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "poll", 1).await;
    let mut messages: Vec<IggyMessage> = (0..10u64)
        .map(|i| {
            IggyMessage::builder()
                .id(if i == 0 { 0 } else { 1000 + u128::from(i) })
                .payload(Bytes::from(format!("payload-{i}")))
                .user_headers(headers(i))
                .build()
                .unwrap()
        })
        .collect();
    client
        .send_messages(
            &id(&stream),
            &id(&topic),
            &Partitioning::partition_id(0),
            &mut messages,
        )
        .await
        .expect("send");

    let consumer = Consumer::new(id("reader"));
    let polled = client
        .poll_messages(
            &id(&stream),
            &id(&topic),
            Some(0),
            &consumer,
            &PollingStrategy::offset(0),
            100,
            false,
        )
        .await
        .expect("poll");
    assert_eq!(polled.partition_id, 0);
    assert_eq!(polled.current_offset, 9);
    assert_eq!(polled.messages.len(), 10);
    for (i, m) in polled.messages.iter().enumerate() {
        assert_eq!(m.header.offset, i as u64);
        assert_eq!(m.payload, Bytes::from(format!("payload-{i}")));
        assert_eq!(m.user_headers_map().unwrap().unwrap(), headers(i as u64));
        assert!(m.header.timestamp > 0);
        assert!(m.header.origin_timestamp > 0);
        if i == 0 {
            assert_ne!(
                m.header.id, 0,
                "id 0 must be replaced by a server-assigned id"
            );
        } else {
            assert_eq!(m.header.id, 1000 + i as u128);
        }
        // The checksum is Iggy's: XXH3 over the message bytes after the checksum field.
        let bytes = m.to_bytes();
        assert_eq!(
            m.header.checksum,
            iggy_common::calculate_checksum(&bytes[8..])
        );
    }

    let from_five = client
        .poll_messages(
            &id(&stream),
            &id(&topic),
            Some(0),
            &consumer,
            &PollingStrategy::offset(5),
            3,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        from_five
            .messages
            .iter()
            .map(|m| m.header.offset)
            .collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    let first = client
        .poll_messages(
            &id(&stream),
            &id(&topic),
            Some(0),
            &consumer,
            &PollingStrategy::first(),
            2,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .messages
            .iter()
            .map(|m| m.header.offset)
            .collect::<Vec<_>>(),
        vec![0, 1]
    );
    let last = client
        .poll_messages(
            &id(&stream),
            &id(&topic),
            Some(0),
            &consumer,
            &PollingStrategy::last(),
            3,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        last.messages
            .iter()
            .map(|m| m.header.offset)
            .collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
    let beyond = client
        .poll_messages(
            &id(&stream),
            &id(&topic),
            Some(0),
            &consumer,
            &PollingStrategy::offset(50),
            3,
            false,
        )
        .await
        .unwrap();
    assert!(beyond.messages.is_empty());
    assert_eq!(beyond.current_offset, 9);
    client.delete_stream(&id(&stream)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_stored_offset_when_polling_next_with_auto_commit_should_continue_after_it() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "next", 1).await;
    let mut messages: Vec<IggyMessage> = (0..20).map(|i| message(format!("m{i}"))).collect();
    client
        .send_messages(
            &id(&stream),
            &id(&topic),
            &Partitioning::partition_id(0),
            &mut messages,
        )
        .await
        .unwrap();
    let consumer = Consumer::new(id("next-reader"));
    let (s, t) = (id(&stream), id(&topic));

    assert!(
        client
            .get_consumer_offset(&consumer, &s, &t, Some(0))
            .await
            .unwrap()
            .is_none()
    );
    let batch = client
        .poll_messages(
            &s,
            &t,
            Some(0),
            &consumer,
            &PollingStrategy::next(),
            5,
            true,
        )
        .await
        .unwrap();
    assert_eq!(batch.messages.first().unwrap().header.offset, 0);
    assert_eq!(batch.messages.last().unwrap().header.offset, 4);
    let offset = client
        .get_consumer_offset(&consumer, &s, &t, Some(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offset.stored_offset, 4);
    assert_eq!(offset.current_offset, 19);

    let batch = client
        .poll_messages(
            &s,
            &t,
            Some(0),
            &consumer,
            &PollingStrategy::next(),
            5,
            true,
        )
        .await
        .unwrap();
    assert_eq!(batch.messages.first().unwrap().header.offset, 5);

    client
        .store_consumer_offset(&consumer, &s, &t, Some(0), 14)
        .await
        .unwrap();
    let batch = client
        .poll_messages(
            &s,
            &t,
            Some(0),
            &consumer,
            &PollingStrategy::next(),
            100,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        batch
            .messages
            .iter()
            .map(|m| m.header.offset)
            .collect::<Vec<_>>(),
        (15..20).collect::<Vec<_>>()
    );
    client.delete_stream(&s).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_stored_offset_when_client_reconnects_should_keep_the_offset() {
    let server = TestServer::start().await;
    let (stream, topic) = {
        let client = server.client().await;
        let (stream, topic) = stream_and_topic(&client, "reconnect", 1).await;
        let mut messages: Vec<IggyMessage> = (0..10).map(|i| message(format!("m{i}"))).collect();
        client
            .send_messages(
                &id(&stream),
                &id(&topic),
                &Partitioning::partition_id(0),
                &mut messages,
            )
            .await
            .unwrap();
        client
            .store_consumer_offset(
                &Consumer::new(id("durable")),
                &id(&stream),
                &id(&topic),
                Some(0),
                6,
            )
            .await
            .unwrap();
        client.shutdown().await.unwrap();
        (stream, topic)
    };
    let client = server.client().await;
    let consumer = Consumer::new(id("durable"));
    let offset = client
        .get_consumer_offset(&consumer, &id(&stream), &id(&topic), Some(0))
        .await
        .unwrap()
        .expect("offset survives reconnect");
    assert_eq!(offset.stored_offset, 6);
    let next = client
        .poll_messages(
            &id(&stream),
            &id(&topic),
            Some(0),
            &consumer,
            &PollingStrategy::next(),
            10,
            false,
        )
        .await
        .unwrap();
    assert_eq!(next.messages.first().unwrap().header.offset, 7);
    client.delete_stream(&id(&stream)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_timestamp_strategy_when_polling_should_start_at_first_message_not_older() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "timestamp", 1).await;
    let (s, t) = (id(&stream), id(&topic));
    let mut early: Vec<IggyMessage> = (0..3).map(|i| message(format!("early{i}"))).collect();
    client
        .send_messages(&s, &t, &Partitioning::partition_id(0), &mut early)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut late: Vec<IggyMessage> = (0..2).map(|i| message(format!("late{i}"))).collect();
    client
        .send_messages(&s, &t, &Partitioning::partition_id(0), &mut late)
        .await
        .unwrap();

    let consumer = Consumer::new(id("ts"));
    let all = client
        .poll_messages(
            &s,
            &t,
            Some(0),
            &consumer,
            &PollingStrategy::offset(0),
            10,
            false,
        )
        .await
        .unwrap();
    let late_ts = all.messages[3].header.timestamp;
    assert!(late_ts > all.messages[2].header.timestamp);
    let polled = client
        .poll_messages(
            &s,
            &t,
            Some(0),
            &consumer,
            &PollingStrategy::timestamp(late_ts.into()),
            10,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        polled
            .messages
            .iter()
            .map(|m| m.header.offset)
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    client.delete_stream(&s).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_partitioning_modes_when_sending_should_route_as_the_server_does() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "routing", 3).await;
    let (s, t) = (id(&stream), id(&topic));

    // Balanced: one batch per partition, round-robin.
    for i in 0..3 {
        let mut batch = vec![message(format!("balanced{i}"))];
        client
            .send_messages(&s, &t, &Partitioning::balanced(), &mut batch)
            .await
            .unwrap();
    }
    let details = client.get_topic(&s, &t).await.unwrap().unwrap();
    assert_eq!(
        details
            .partitions
            .iter()
            .map(|p| p.messages_count)
            .collect::<Vec<_>>(),
        vec![1, 1, 1]
    );

    // Explicit partition.
    let mut batch = vec![message("explicit")];
    client
        .send_messages(&s, &t, &Partitioning::partition_id(2), &mut batch)
        .await
        .unwrap();
    let details = client.get_topic(&s, &t).await.unwrap().unwrap();
    assert_eq!(details.partitions[2].messages_count, 2);

    // Message key: XXH32(key) % partitions, so a key always lands on the same partition.
    let key = b"customer-42".to_vec();
    let expected = (iggy_common::calculate_32(&key) % 3) as usize;
    for _ in 0..2 {
        let mut batch = vec![message("keyed")];
        client
            .send_messages(
                &s,
                &t,
                &Partitioning::messages_key(&key).unwrap(),
                &mut batch,
            )
            .await
            .unwrap();
    }
    let after = client.get_topic(&s, &t).await.unwrap().unwrap();
    let grown: Vec<usize> = after
        .partitions
        .iter()
        .zip(details.partitions.iter())
        .enumerate()
        .filter(|(_, (a, b))| a.messages_count > b.messages_count)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(grown, vec![expected]);

    let error = client
        .send_messages(
            &s,
            &t,
            &Partitioning::partition_id(7),
            &mut [message("nowhere")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, IggyError::PartitionNotFound(..)),
        "got {error:?}"
    );
    client.delete_stream(&s).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_consumer_group_when_created_joined_and_left_should_report_members() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "groups", 4).await;
    let (s, t) = (id(&stream), id(&topic));
    let group = client
        .create_consumer_group(&s, &t, "workers")
        .await
        .expect("create group");
    assert_eq!(group.name, "workers");
    assert_eq!(group.members_count, 0);
    assert!(
        client
            .get_consumer_group(&s, &t, &id("absent"))
            .await
            .unwrap()
            .is_none()
    );
    let error = client
        .create_consumer_group(&s, &t, "workers")
        .await
        .unwrap_err();
    assert!(
        matches!(error, IggyError::ConsumerGroupNameAlreadyExists(_, _)),
        "got {error:?}"
    );

    client
        .join_consumer_group(&s, &t, &id("workers"))
        .await
        .expect("join");
    let joined = client
        .get_consumer_group(&s, &t, &id("workers"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(joined.members_count, 1);
    assert_eq!(joined.members[0].partitions_count, 4);
    let me = client.get_me().await.unwrap();
    assert_eq!(me.consumer_groups_count, 1);

    client
        .leave_consumer_group(&s, &t, &id("workers"))
        .await
        .expect("leave");
    let left = client
        .get_consumer_group(&s, &t, &id("workers"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.members_count, 0);
    assert_eq!(client.get_consumer_groups(&s, &t).await.unwrap().len(), 1);
    client
        .delete_consumer_group(&s, &t, &id("workers"))
        .await
        .expect("delete group");
    assert!(
        client
            .get_consumer_group(&s, &t, &id("workers"))
            .await
            .unwrap()
            .is_none()
    );
    client.delete_stream(&s).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_producer_and_group_consumer_when_streaming_should_deliver_every_message_once() {
    use futures::StreamExt;
    let server = TestServer::start().await;
    let client = server.client().await;
    let stream = unique_name("flow");
    let producer = client
        .producer(&stream, "flow-topic")
        .unwrap()
        .create_stream_if_not_exists()
        .create_topic_if_not_exists(
            2,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .direct(DirectConfig::builder().batch_length(100).build())
        .partitioning(Partitioning::balanced())
        .build();
    producer
        .init()
        .await
        .expect("producer init creates stream and topic");
    let sent: Vec<String> = (0..300).map(|i| format!("flow-{i}")).collect();
    for chunk in sent.chunks(50) {
        producer
            .send(chunk.iter().map(|p| message(p.clone())).collect())
            .await
            .expect("send");
    }

    let consumer_client = server.client().await;
    let mut consumer = consumer_client
        .consumer_group("flow-group", &stream, "flow-topic")
        .unwrap()
        .auto_commit(AutoCommit::Disabled)
        .create_consumer_group_if_not_exists()
        .auto_join_consumer_group()
        .polling_strategy(PollingStrategy::next())
        .batch_length(64)
        .poll_interval(IggyDuration::from_str("1ms").unwrap())
        .build();
    consumer
        .init()
        .await
        .expect("consumer init joins the group");
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while received.len() < sent.len() {
        let next = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .expect("all messages arrive in time")
            .expect("stream open")
            .expect("message");
        received.push(String::from_utf8(next.message.payload.to_vec()).unwrap());
        consumer
            .store_offset(next.message.header.offset, Some(next.partition_id))
            .await
            .expect("store offset");
    }
    received.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(received, expected);

    let group = client
        .get_consumer_group(&id(&stream), &id("flow-topic"), &id("flow-group"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.members_count, 1);
    let offset = client
        .get_consumer_offset(
            &Consumer::group(id("flow-group")),
            &id(&stream),
            &id("flow-topic"),
            Some(0),
        )
        .await
        .unwrap()
        .expect("group offset stored");
    assert_eq!(offset.stored_offset, offset.current_offset);
    client.delete_stream(&id(&stream)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_concurrent_producers_when_sending_should_store_every_message() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "concurrent", 2).await;
    let mut tasks = Vec::new();
    for producer in 0..8 {
        let address = server.address.clone();
        let (stream, topic) = (stream.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            let client = IggyClient::builder()
                .with_tcp()
                .with_server_address(address)
                .build()
                .unwrap();
            client.connect().await.unwrap();
            client.login_user("iggy", "iggy").await.unwrap();
            for batch in 0..25 {
                let mut messages: Vec<IggyMessage> = (0..40)
                    .map(|i| message(format!("p{producer}-b{batch}-m{i}")))
                    .collect();
                client
                    .send_messages(
                        &id(&stream),
                        &id(&topic),
                        &Partitioning::partition_id(producer % 2),
                        &mut messages,
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let details = client
        .get_topic(&id(&stream), &id(&topic))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details.messages_count, 8 * 25 * 40);
    // Each producer's messages keep their relative order within the partition.
    let consumer = Consumer::new(id("checker"));
    for partition in 0..2u32 {
        let polled = client
            .poll_messages(
                &id(&stream),
                &id(&topic),
                Some(partition),
                &consumer,
                &PollingStrategy::first(),
                10_000,
                false,
            )
            .await
            .unwrap();
        assert_eq!(polled.messages.len(), 4 * 25 * 40);
        let mut last_seen: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for (i, m) in polled.messages.iter().enumerate() {
            assert_eq!(m.header.offset, i as u64);
            let text = String::from_utf8(m.payload.to_vec()).unwrap();
            let mut parts = text.split('-');
            let who = parts.next().unwrap().to_owned();
            let b: u32 = parts.next().unwrap()[1..].parse().unwrap();
            let n: u32 = parts.next().unwrap()[1..].parse().unwrap();
            if let Some(prev) = last_seen.get(&who) {
                assert!((b, n) > *prev, "{who} out of order");
            }
            last_seen.insert(who, (b, n));
        }
    }
    client.delete_stream(&id(&stream)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_existing_resources_when_updated_purged_and_repartitioned_should_report_new_state() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "manage", 2).await;
    let renamed = format!("{stream}-renamed");
    client
        .update_stream(&id(&stream), &renamed)
        .await
        .expect("update stream");
    assert!(client.get_stream(&id(&stream)).await.unwrap().is_none());
    let (s, t) = (id(&renamed), id(&topic));
    assert!(client.get_stream(&s).await.unwrap().is_some());

    client
        .update_topic(
            &s,
            &t,
            "events-v2",
            CompressionAlgorithm::Gzip,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .expect("update topic");
    let t = id("events-v2");
    let details = client.get_topic(&s, &t).await.unwrap().unwrap();
    assert_eq!(details.compression_algorithm, CompressionAlgorithm::Gzip);

    let mut batch: Vec<IggyMessage> = (0..4).map(|i| message(format!("m{i}"))).collect();
    client
        .send_messages(&s, &t, &Partitioning::partition_id(1), &mut batch)
        .await
        .unwrap();
    assert_eq!(
        client
            .get_topic(&s, &t)
            .await
            .unwrap()
            .unwrap()
            .messages_count,
        4
    );
    client.purge_topic(&s, &t).await.expect("purge topic");
    assert_eq!(
        client
            .get_topic(&s, &t)
            .await
            .unwrap()
            .unwrap()
            .messages_count,
        0
    );

    client
        .create_partitions(&s, &t, 3)
        .await
        .expect("create partitions");
    let details = client.get_topic(&s, &t).await.unwrap().unwrap();
    assert_eq!(details.partitions_count, 5);
    assert_eq!(details.partitions.last().unwrap().id, 4);
    client
        .delete_partitions(&s, &t, 2)
        .await
        .expect("delete partitions");
    assert_eq!(
        client
            .get_topic(&s, &t)
            .await
            .unwrap()
            .unwrap()
            .partitions_count,
        3
    );

    let consumer = Consumer::new(id("manage-reader"));
    let error = client
        .store_consumer_offset(&consumer, &s, &t, Some(0), 3)
        .await
        .unwrap_err();
    assert!(
        matches!(error, IggyError::InvalidOffset(_)),
        "got {error:?}"
    );
    let mut batch = vec![message("after-purge")];
    client
        .send_messages(&s, &t, &Partitioning::partition_id(0), &mut batch)
        .await
        .unwrap();
    client
        .store_consumer_offset(&consumer, &s, &t, Some(0), 0)
        .await
        .unwrap();
    client
        .delete_consumer_offset(&consumer, &s, &t, Some(0))
        .await
        .expect("delete offset");
    assert!(
        client
            .get_consumer_offset(&consumer, &s, &t, Some(0))
            .await
            .unwrap()
            .is_none()
    );

    let me = client.get_me().await.unwrap();
    let clients = client.get_clients().await.unwrap();
    assert!(clients.iter().any(|c| c.client_id == me.client_id));
    let fetched = client
        .get_client(me.client_id)
        .await
        .unwrap()
        .expect("own client");
    assert_eq!(fetched.address, me.address);
    client.delete_stream(&s).await.unwrap();
    server.stop().await;
}
