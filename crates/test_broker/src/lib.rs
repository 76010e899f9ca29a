//! An embedded Iggy broker for development and tests — **not for production**.
//!
//! It speaks the Iggy TCP binary protocol (the one the `iggy` 0.10 client uses) well enough that
//! the unmodified client, `IggyProducer` and `IggyConsumer` cannot tell it from a real server for
//! the commands they use: login (password and personal access token), streams, topics, partitions,
//! send/poll, consumer offsets and consumer groups. Requests are decoded and responses encoded
//! with `iggy_binary_protocol`, the crate the client itself uses, so layouts cannot drift.
//!
//! Messages live in memory (bounded by [`BrokerConfig::max_bytes`]); with
//! [`BrokerConfig::data_dir`] set they are also appended to per-partition files and survive a
//! restart. There is one user (`iggy`/`iggy`), no permissions model, no TLS, no QUIC/HTTP, no
//! clustering, no message expiry and no segments. See the crate README for the full list.
//!
//! Consumer groups rebalance as Iggy 0.8 does: cooperatively on join (pending revocations that
//! complete once the group committed what it polled, or after
//! [`BrokerConfig::rebalancing_timeout`]), eagerly on leave, disconnect and repartitioning.
#![deny(clippy::all)]

mod dispatch;
mod frame;
mod persist;
mod server;
mod state;

use std::path::PathBuf;
use std::time::Duration;

pub use server::BrokerHandle;

/// One gibibyte, the default cap on message bytes held by the broker.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Requests whose declared length exceeds this are refused and the connection is closed.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 64 * 1024 * 1024;
/// The built-in user, as on a freshly installed Iggy server.
pub const DEFAULT_USERNAME: &str = "iggy";
/// The built-in user's password, as on a freshly installed Iggy server.
pub const DEFAULT_PASSWORD: &str = "iggy";

/// Iggy's default `[consumer_group] rebalancing_timeout`: a partition pending revocation moves
/// to its new owner after this long even if the group has not committed what it polled there.
pub const DEFAULT_REBALANCING_TIMEOUT: Duration = Duration::from_secs(30);
/// Iggy's default `[consumer_group] rebalancing_check_interval`.
pub const DEFAULT_REBALANCING_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// How to start a [`BrokerHandle`].
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to bind; port 0 picks a free port (read it back with [`BrokerHandle::address`]).
    pub address: String,
    /// When set, streams, topics, groups, offsets, tokens and messages are kept here across
    /// restarts. When `None`, everything is in memory only.
    pub data_dir: Option<PathBuf>,
    /// Cap on stored message bytes across all partitions; a send that would exceed it is refused
    /// with Iggy's `TopicFull` status. `None` means unlimited.
    pub max_bytes: Option<u64>,
    /// Largest accepted request frame (code + payload). Longer frames close the connection.
    pub max_frame_bytes: u32,
    /// Username of the built-in user.
    pub username: String,
    /// Password of the built-in user.
    pub password: String,
    /// How long a consumer-group partition may stay pending revocation before it is
    /// force-transferred to its new owner (Iggy's `rebalancing_timeout`).
    pub rebalancing_timeout: Duration,
    /// How often pending revocations are checked against the timeout (Iggy's
    /// `rebalancing_check_interval`), so a transfer happens between `rebalancing_timeout` and
    /// `rebalancing_timeout + rebalancing_check_interval` after the join.
    pub rebalancing_check_interval: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:0".to_owned(),
            data_dir: None,
            max_bytes: Some(DEFAULT_MAX_BYTES),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            rebalancing_timeout: DEFAULT_REBALANCING_TIMEOUT,
            rebalancing_check_interval: DEFAULT_REBALANCING_CHECK_INTERVAL,
        }
    }
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot bind the test broker to {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt broker state file {path}: {message}")]
    CorruptState { path: PathBuf, message: String },
    #[error("the test broker must be started inside a tokio runtime")]
    NoRuntime,
}

// The napi binding keeps a handle across awaits on other threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<BrokerHandle>();
    assert_send_sync::<BrokerConfig>();
    assert_send_sync::<BrokerError>();
};
