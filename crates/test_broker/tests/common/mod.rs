//! Shared test harness: every test talks to the broker only through the `iggy` client (or raw
//! TCP), so the same tests run against a real Iggy server when `IGGY_TEST_SERVER=host:port` is
//! set (credentials iggy/iggy). Tests that need broker internals (restart, memory cap) call
//! [`TestServer::embedded`] and are skipped against an external server.
#![allow(dead_code)]

use iggy::prelude::*;
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use std::sync::atomic::{AtomicU32, Ordering};

pub const USERNAME: &str = "iggy";
pub const PASSWORD: &str = "iggy";

pub struct TestServer {
    pub address: String,
    broker: Option<BrokerHandle>,
}

impl TestServer {
    /// The external server named by `IGGY_TEST_SERVER`, or a fresh embedded broker.
    pub async fn start() -> Self {
        Self::start_with(BrokerConfig::default()).await
    }

    /// Like [`TestServer::start`], with `config` for the embedded broker (an external server
    /// keeps its own configuration).
    pub async fn start_with(config: BrokerConfig) -> Self {
        match std::env::var("IGGY_TEST_SERVER") {
            Ok(address) if !address.is_empty() => Self {
                address,
                broker: None,
            },
            _ => Self::embedded(config).await.expect("embedded broker"),
        }
    }

    /// An embedded broker with a specific config, or `None` when the suite targets an external
    /// server (such tests are then skipped).
    pub async fn embedded(config: BrokerConfig) -> Option<Self> {
        if std::env::var("IGGY_TEST_SERVER").is_ok_and(|a| !a.is_empty()) {
            eprintln!("skipped: needs the embedded broker");
            return None;
        }
        let broker = BrokerHandle::start(config).await.expect("start broker");
        Some(Self {
            address: broker.address().to_string(),
            broker: Some(broker),
        })
    }

    pub fn is_embedded(&self) -> bool {
        self.broker.is_some()
    }

    /// A connected client that has not logged in.
    pub async fn anonymous_client(&self) -> IggyClient {
        let client = IggyClient::builder()
            .with_tcp()
            .with_server_address(self.address.clone())
            .build()
            .expect("build client");
        client.connect().await.expect("connect");
        client
    }

    /// A connected client logged in as iggy/iggy.
    pub async fn client(&self) -> IggyClient {
        let client = self.anonymous_client().await;
        client
            .login_user(USERNAME, PASSWORD)
            .await
            .expect("login iggy/iggy");
        client
    }

    pub async fn stop(self) {
        if let Some(broker) = self.broker {
            broker.shutdown().await;
        }
    }
}

/// A stream name no other test (or earlier run against an external server) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn id(name: &str) -> Identifier {
    Identifier::named(name).expect("valid identifier")
}

/// Creates a stream and a topic with `partitions` partitions; returns their names.
pub async fn stream_and_topic(
    client: &IggyClient,
    prefix: &str,
    partitions: u32,
) -> (String, String) {
    let stream = unique_name(prefix);
    let topic = "events".to_owned();
    client.create_stream(&stream).await.expect("create stream");
    client
        .create_topic(
            &id(&stream),
            &topic,
            partitions,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .expect("create topic");
    (stream, topic)
}

pub fn message(payload: impl Into<String>) -> IggyMessage {
    IggyMessage::builder()
        .payload(bytes::Bytes::from(payload.into()))
        .build()
        .expect("message")
}

/// Deterministic xorshift64*, so fuzz and data tests are reproducible without extra crates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
