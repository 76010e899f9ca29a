//! `[plugin_config]` of the bench source and the payloads it pre-generates.

use iggy_connectors_sdk::Error;
use schemars::JsonSchema;
use serde::Deserialize;

/// The fixed part of every payload; `id` and `pad` are filled in per message. The fields give
/// the built-in transforms something to do (`url`, `meta_*`, `ok`, `tags`).
const PREFIX: &str = r#"{"id":"#;
const BODY: &str = r#","user_id":"u-000042","event":"page_view","url":"https://example.com/p/1","ts":1764086400123,"amount":19.99,"tags":["web","ad"],"meta_src":"web","meta_rev":3,"ok":true,"pad":""#;
const SUFFIX: &str = r#""}"#;
/// Width of the id, left-padded with spaces (valid JSON whitespace; leading zeros are not), so
/// every payload of a run has the same length.
const ID_DIGITS: usize = 10;

/// The smallest payload the generator can make (the fixed fields, an empty `pad`).
pub const MIN_PAYLOAD_SIZE: usize = PREFIX.len() + ID_DIGITS + BODY.len() + SUFFIX.len();

/// As written in the connector file; every key is optional.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BenchSourceConfig {
    /// Messages to emit in total, across restarts (default 1,000,000).
    pub count: Option<u64>,
    /// Messages per `poll` (default 1000).
    pub batch_size: Option<u32>,
    /// Bytes per JSON payload (default 200, at least [`MIN_PAYLOAD_SIZE`]).
    pub payload_size: Option<u32>,
    /// Where to write the JSON summary at close (default: only logged).
    pub report_path: Option<String>,
    /// `"deterministic"` (default): message ids from the sequence number, so a batch re-sent after
    /// a crash keeps its ids; `"random"`: no id (the broker assigns one).
    pub message_ids: Option<String>,
    /// Mixed into deterministic ids (default `""`): one value per bench source sharing a topic.
    pub id_namespace: Option<String>,
}

/// How message ids are set: from `(id_namespace, sequence number)`, or left to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageIds {
    Deterministic { namespace: String },
    Random,
}

impl BenchSourceConfig {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub count: u64,
    pub batch_size: usize,
    pub payload_size: usize,
    pub report_path: Option<String>,
}

impl BenchSourceConfig {
    pub fn settings(&self) -> Result<Settings, Error> {
        let batch_size = self.batch_size.unwrap_or(1000) as usize;
        if batch_size == 0 {
            return Err(Error::InvalidConfig(
                "batch_size must be at least 1".to_owned(),
            ));
        }
        let payload_size = self.payload_size.unwrap_or(200) as usize;
        if payload_size < MIN_PAYLOAD_SIZE {
            return Err(Error::InvalidConfig(format!(
                "payload_size {payload_size} is below the minimum of {MIN_PAYLOAD_SIZE} bytes \
                 (the generated JSON record's fixed fields)"
            )));
        }
        Ok(Settings {
            count: self.count.unwrap_or(1_000_000),
            batch_size,
            payload_size,
            report_path: self.report_path.clone(),
        })
    }
}

/// One batch of distinct payloads (ids `0..batch_size`), each exactly `payload_size` bytes of
/// JSON. Generated once at open; every poll copies from it, so no formatting on the hot path.
pub fn generate(settings: &Settings) -> Vec<Vec<u8>> {
    let pad = settings.payload_size - MIN_PAYLOAD_SIZE;
    (0..settings.batch_size)
        .map(|index| {
            let mut payload = Vec::with_capacity(settings.payload_size);
            payload.extend_from_slice(PREFIX.as_bytes());
            payload.extend_from_slice(format!("{index:>ID_DIGITS$}").as_bytes());
            payload.extend_from_slice(BODY.as_bytes());
            payload.resize(payload.len() + pad, b'x');
            payload.extend_from_slice(SUFFIX.as_bytes());
            payload
        })
        .collect()
}
