//! Connectors written in TypeScript: the engine reaches them through one host the binding
//! registers ([`ConnectorHost`]), with the calls a native plugin gets over the C ABI. The
//! drivers here turn those calls into [`crate::driver`] implementations, so the source and
//! sink pipelines drive a TypeScript connector exactly like a shared library.

pub mod sink;
pub mod source;

use std::sync::Arc;

pub use sink::ExternalSink;
pub use source::ExternalSource;

use crate::external::{ExternalMessage, ExternalMessages};
use crate::ffi::sink::Rejection;

/// `"source"` or `"sink"`.
pub type Kind = &'static str;

/// One call into a TypeScript connector. `instance` is a fresh number on every (re)start, so
/// a late reply of a stopped instance can be told apart from the running one.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorCall {
    Open {
        kind: Kind,
        key: String,
        instance: u32,
        /// The module as written in the connector file (resolved by the host).
        module: String,
        config_json: String,
        /// Sources: the saved state bytes.
        state: Option<Vec<u8>>,
    },
    /// Sources: the next messages (and the state they bring the source to).
    Poll { key: String, instance: u32 },
    /// Sources: the verdict on the last polled batch, after its state was saved (Ack) or
    /// after it failed (Nack).
    BatchResult {
        key: String,
        instance: u32,
        ok: bool,
    },
    /// Sinks: one batch.
    Consume {
        key: String,
        instance: u32,
        stream: String,
        topic: String,
        partition: u32,
        messages: ExternalMessages,
    },
    Close {
        kind: Kind,
        key: String,
        instance: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectorReply {
    /// Poll: the produced messages.
    pub messages: Vec<ExternalMessage>,
    /// Poll: the state after these messages (saved once Iggy acked them).
    pub state: Option<Vec<u8>>,
    /// Consume: messages refused for their content (to the dead-letter path).
    pub rejections: Vec<Rejection>,
}

/// Runs calls on TypeScript connectors (the binding implements it with a threadsafe
/// function). Err = the call threw or its promise rejected.
#[async_trait::async_trait]
pub trait ConnectorHost: Send + Sync {
    async fn call(&self, call: ConnectorCall) -> Result<ConnectorReply, String>;
}

pub type SharedHost = Arc<dyn ConnectorHost>;

/// The next instance number (one counter for all TypeScript connectors).
fn next_instance() -> u32 {
    crate::ffi::next_plugin_id()
}

/// How the engine reaches one TypeScript connector.
#[derive(Clone)]
pub struct ExternalTarget {
    pub host: SharedHost,
    /// As written in the connector file (or the key it was registered under in code).
    pub module: String,
}
