//! `[plugin_config]` of the random source (upstream keys and defaults).

use std::time::Duration;

use iggy_connectors_sdk::Error;
use schemars::JsonSchema;
use serde::Deserialize;

/// As written in the connector file. Every key is optional; a file without
/// `[plugin_config]` (JSON `null`) gets the defaults.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RandomSourceConfig {
    /// humantime duration slept before every poll (default `"1s"`); `"0"` disables the sleep.
    #[schemars(with = "Option<iggy_connectors_sdk::schema::Duration>")]
    pub interval: Option<String>,
    /// Total messages to produce across restarts (default: unlimited).
    pub max_count: Option<usize>,
    /// Messages per poll, drawn from the half-open range `[min, max)` (default `[10, 50]`).
    pub messages_range: Option<(u32, u32)>,
    /// Length of the random alphanumeric `text` field (default 100).
    pub payload_size: Option<u32>,
    /// `"deterministic"` (default): each message id is derived from its sequence number, so a
    /// batch re-sent after a crash keeps its ids; `"random"`: no id (the broker assigns one), as
    /// upstream.
    pub message_ids: Option<String>,
    /// Mixed into deterministic ids (default `""`): give each random source that writes into the
    /// same topic its own value, or their sequence numbers yield the same ids.
    pub id_namespace: Option<String>,
}

/// How message ids are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageIds {
    /// From `(id_namespace, sequence number)`, see `iggy_connectors_message_id::sequence_id`.
    Deterministic { namespace: String },
    /// None: the broker assigns a random id (upstream's behaviour).
    Random,
}

impl RandomSourceConfig {
    /// `message_ids` and `id_namespace`, checked at open.
    pub fn message_ids(&self) -> Result<MessageIds, Error> {
        match self
            .message_ids
            .as_deref()
            .map(|m| m.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("deterministic") => Ok(MessageIds::Deterministic {
                namespace: self.id_namespace.clone().unwrap_or_default(),
            }),
            Some("random") => Ok(MessageIds::Random),
            Some(other) => Err(Error::InvalidConfig(format!(
                "message_ids = {other:?} is not \"deterministic\" or \"random\""
            ))),
        }
    }
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub interval: Duration,
    pub max_count: Option<usize>,
    pub min_messages: u32,
    pub max_messages: u32,
    pub payload_size: usize,
}

impl RandomSourceConfig {
    /// Upstream silently falls back to 1 s on a bad interval and panics on an empty range;
    /// both are config errors here, reported at open.
    pub fn settings(&self) -> Result<Settings, Error> {
        let interval = match self.interval.as_deref().map(str::trim) {
            None => Duration::from_secs(1),
            Some("0") => Duration::ZERO,
            Some(text) => humantime::parse_duration(text).map_err(|error| {
                Error::InvalidConfig(format!(
                    "interval '{text}' is not a duration like \"100ms\" or \"1s\": {error}"
                ))
            })?,
        };
        let (min_messages, max_messages) = self.messages_range.unwrap_or((10, 50));
        if min_messages >= max_messages {
            return Err(Error::InvalidConfig(format!(
                "messages_range [{min_messages}, {max_messages}] is empty: it is half-open \
                 [min, max), so min must be less than max"
            )));
        }
        Ok(Settings {
            interval,
            max_count: self.max_count,
            min_messages,
            max_messages,
            payload_size: self.payload_size.unwrap_or(100) as usize,
        })
    }
}
