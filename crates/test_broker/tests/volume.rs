//! Volume: one million messages sent in batches of 1000 and polled back in order, with payloads
//! and user headers compared byte for byte.

mod common;

use bytes::Bytes;
use common::{TestServer, id, stream_and_topic};
use iggy::prelude::*;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

const TOTAL: u64 = 1_000_000;
const BATCH: u64 = 1_000;
const POLL_BATCH: u32 = 10_000;
/// Header sets rotate through this many variants so they can be compared as raw bytes cheaply.
const HEADER_VARIANTS: u64 = 10;

fn header_variant(v: u64) -> BTreeMap<HeaderKey, HeaderValue> {
    BTreeMap::from([
        (
            HeaderKey::from_str("variant").unwrap(),
            HeaderValue::from(v),
        ),
        (
            HeaderKey::from_str("source").unwrap(),
            HeaderValue::from_str("volume-test").unwrap(),
        ),
    ])
}

fn payload(i: u64) -> Bytes {
    Bytes::from(format!(
        "message-{i:010}-{}",
        i.wrapping_mul(2_654_435_761) % 1_000_003
    ))
}

#[tokio::test]
async fn given_one_million_messages_when_sent_in_batches_should_poll_back_identical_and_in_order() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "volume", 1).await;
    let (s, t) = (id(&stream), id(&topic));
    let variants: Vec<BTreeMap<HeaderKey, HeaderValue>> =
        (0..HEADER_VARIANTS).map(header_variant).collect();

    let started = Instant::now();
    for batch in 0..TOTAL / BATCH {
        let mut messages: Vec<IggyMessage> = (batch * BATCH..(batch + 1) * BATCH)
            .map(|i| {
                IggyMessage::builder()
                    .id(u128::from(i) + 1)
                    .payload(payload(i))
                    .user_headers(variants[(i % HEADER_VARIANTS) as usize].clone())
                    .build()
                    .unwrap()
            })
            .collect();
        client
            .send_messages(&s, &t, &Partitioning::partition_id(0), &mut messages)
            .await
            .expect("send batch");
    }
    let sent_in = started.elapsed();

    // Raw encoded header bytes per variant, taken from what the broker returns for offsets 0..10.
    let consumer = Consumer::new(id("volume-reader"));
    let head = client
        .poll_messages(
            &s,
            &t,
            Some(0),
            &consumer,
            &PollingStrategy::offset(0),
            HEADER_VARIANTS as u32,
            false,
        )
        .await
        .unwrap();
    let raw_variants: Vec<Bytes> = head
        .messages
        .iter()
        .map(|m| m.user_headers.clone().expect("headers present"))
        .collect();
    for (v, m) in head.messages.iter().enumerate() {
        assert_eq!(m.user_headers_map().unwrap().unwrap(), variants[v]);
    }

    let started = Instant::now();
    let mut next = 0u64;
    while next < TOTAL {
        let polled = client
            .poll_messages(
                &s,
                &t,
                Some(0),
                &consumer,
                &PollingStrategy::offset(next),
                POLL_BATCH,
                false,
            )
            .await
            .expect("poll batch");
        assert!(!polled.messages.is_empty(), "stalled at offset {next}");
        assert_eq!(polled.current_offset, TOTAL - 1);
        for m in &polled.messages {
            assert_eq!(m.header.offset, next, "messages out of order");
            assert_eq!(m.header.id, u128::from(next) + 1);
            assert_eq!(m.payload, payload(next), "payload differs at offset {next}");
            assert_eq!(
                m.user_headers.as_ref(),
                Some(&raw_variants[(next % HEADER_VARIANTS) as usize]),
                "headers differ at offset {next}"
            );
            next += 1;
        }
    }
    let polled_in = started.elapsed();
    eprintln!("volume: sent {TOTAL} messages in {sent_in:?}, polled and verified in {polled_in:?}");
    let details = client.get_topic(&s, &t).await.unwrap().unwrap();
    assert_eq!(details.messages_count, TOTAL);
    client.delete_stream(&s).await.unwrap();
    server.stop().await;
}
