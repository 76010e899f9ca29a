//! A test's own Iggy client, separate from the engine's: it creates the topics a pipeline reads,
//! sends the messages, and reads back what landed (dead letters with their headers included).

use std::str::FromStr;

use bytes::Bytes;
use iggy::prelude::*;

/// A client of the broker at `address`, logged in as the default root user.
pub async fn connect(address: &str) -> IggyClient {
    let client = IggyClient::builder()
        .with_tcp()
        .with_server_address(address.to_owned())
        .build()
        .expect("client");
    client.connect().await.expect("connect");
    client.login_user("iggy", "iggy").await.expect("login");
    client
}

pub fn id(name: &str) -> Identifier {
    Identifier::named(name).expect("identifier")
}

/// Creates `stream` with one single-partition topic per name in `topics`.
pub async fn create_topics(client: &IggyClient, stream: &str, topics: &[&str]) {
    client.create_stream(stream).await.expect("create stream");
    for topic in topics {
        client
            .create_topic(
                &id(stream),
                topic,
                1,
                CompressionAlgorithm::None,
                None,
                IggyExpiry::NeverExpire,
                MaxTopicSize::ServerDefault,
            )
            .await
            .expect("create topic");
    }
}

/// Sends `payloads` to partition 0 of `stream`/`topic`, `batch` messages to a send.
pub async fn produce(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    batch: usize,
    payloads: impl IntoIterator<Item = Vec<u8>>,
) {
    let (stream, topic) = (id(stream), id(topic));
    let mut messages = Vec::with_capacity(batch);
    let mut payloads = payloads.into_iter().peekable();
    while payloads.peek().is_some() {
        messages.clear();
        messages.extend(payloads.by_ref().take(batch).map(|payload| {
            IggyMessage::builder()
                .payload(Bytes::from(payload))
                .build()
                .expect("message")
        }));
        client
            .send_messages(
                &stream,
                &topic,
                &Partitioning::partition_id(0),
                &mut messages,
            )
            .await
            .expect("send");
    }
}

/// Up to `count` messages of partition 0 from offset 0, read without storing an offset.
pub async fn read_all(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    count: u32,
) -> Vec<IggyMessage> {
    client
        .poll_messages(
            &id(stream),
            &id(topic),
            Some(0),
            &Consumer::new(id("test-reader")),
            &PollingStrategy::offset(0),
            count,
            false,
        )
        .await
        .expect("poll")
        .messages
}

/// A user header's string value, if the message has it.
pub fn header(message: &IggyMessage, key: &str) -> Option<String> {
    let headers = message.user_headers_map().ok().flatten()?;
    let value = headers.get(&HeaderKey::from_str(key).ok()?)?;
    value.as_str().ok().map(str::to_owned)
}

/// The dead letter of the message the sink read at `offset` (its `iggy-connectors-source-offset`
/// header); panics naming the offset when there is none.
pub fn dead_letter_of(letters: &[IggyMessage], offset: u64) -> &IggyMessage {
    let offset = offset.to_string();
    letters
        .iter()
        .find(|m| header(m, "iggy-connectors-source-offset").as_deref() == Some(offset.as_str()))
        .unwrap_or_else(|| panic!("no dead letter for offset {offset}"))
}

/// Why the sink refused the message a dead letter carries (`iggy-connectors-error`).
pub fn dead_letter_reason(letter: &IggyMessage) -> String {
    header(letter, "iggy-connectors-error").expect("a dead letter names its error")
}
