//! Dead-letter topics: messages a connector could not deliver (a sink: undecodable,
//! untransformable or rejected by the plugin; a source: not buildable or convertible into an
//! Iggy message), with headers saying why and where they came from. A connector only moves
//! past such a message once it is durably here.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use iggy::prelude::{IggyClient, IggyMessage, MessageClient, Partitioning};
use iggy_common::{HeaderKey, HeaderValue};

use tokio::sync::watch;

use crate::config::{DeadLetterConfig, RetryConfig};
use crate::iggy::{EnsureTopic, ensure_topic, identifier};

pub const HEADER_ERROR: &str = "iggy-connectors-error";
/// `decode`, `transform`, `rejected` (refused by the sink plugin for its content) or, for
/// sources, `build` / `encode`.
pub const HEADER_ERROR_KIND: &str = "iggy-connectors-error-kind";
pub const HEADER_STREAM: &str = "iggy-connectors-source-stream";
pub const HEADER_TOPIC: &str = "iggy-connectors-source-topic";
pub const HEADER_PARTITION: &str = "iggy-connectors-source-partition";
pub const HEADER_OFFSET: &str = "iggy-connectors-source-offset";
/// Sources: the key of the source connector that produced the message.
pub const HEADER_CONNECTOR: &str = "iggy-connectors-source-connector";
/// Set to `true` when the original payload was empty (Iggy refuses empty payloads, so the
/// dead-letter copy carries one zero byte instead).
pub const HEADER_EMPTY_PAYLOAD: &str = "iggy-connectors-empty-payload";
/// Set by a dead-letter replay on every message it sends: where the copy it replays lies
/// (`<stream>/<topic>/<partition>/<offset>` of the dead-letter topic).
pub const HEADER_REPLAY_OF: &str = "iggy-connectors-replay-of";
/// `true` on a dead letter whose message was itself a replay (it carries
/// [`HEADER_REPLAY_OF`]): it failed twice, so it is parked. A replay skips parked letters
/// unless asked to include them, so a message that keeps failing cannot loop between the
/// topic and the dead-letter topic.
pub const HEADER_PARKED: &str = "iggy-connectors-parked";
/// Every header this runtime adds starts with this; a replay strips them.
pub const HEADER_PREFIX: &str = "iggy-connectors-";

type Headers = BTreeMap<HeaderKey, HeaderValue>;

/// One message on its way to the dead-letter topic.
#[derive(Clone)]
pub struct Letter {
    id: u128,
    payload: Bytes,
    headers: Headers,
    parked: bool,
}

impl Letter {
    /// The original id, payload and user headers.
    pub fn new(id: u128, payload: Bytes, headers: Option<Headers>) -> Self {
        let headers = headers.unwrap_or_default();
        let parked = HeaderKey::from_str(HEADER_REPLAY_OF).is_ok_and(|k| headers.contains_key(&k));
        let mut letter = Self {
            id,
            payload,
            headers,
            parked,
        };
        if letter.payload.is_empty() {
            letter.payload = Bytes::from_static(&[0]);
            letter = letter.tag(HEADER_EMPTY_PAYLOAD, "true");
        }
        if parked {
            letter = letter.tag(HEADER_PARKED, "true");
        }
        letter
    }

    /// A copy of a polled message.
    pub fn of_message(message: &IggyMessage) -> Self {
        Self::new(
            message.header.id,
            message.payload.clone(),
            message.user_headers_map().ok().flatten(),
        )
    }

    /// True when the message was a replay that failed again (see [`HEADER_PARKED`]).
    pub fn is_parked(&self) -> bool {
        self.parked
    }

    /// Adds (or replaces) a string header; values are cut to Iggy's 255-byte limit.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        if let (Ok(k), Ok(v)) = (
            HeaderKey::from_str(key),
            HeaderValue::from_str(&truncate(value)),
        ) {
            self.headers.insert(k, v);
        }
        self
    }
}

pub struct DeadLetter {
    client: Arc<IggyClient>,
    pub config: DeadLetterConfig,
}

impl DeadLetter {
    /// Makes sure the dead-letter stream and topic exist (created when missing: naming a
    /// dead-letter topic is the request to have one).
    pub async fn prepare(
        client: Arc<IggyClient>,
        config: DeadLetterConfig,
    ) -> Result<Self, String> {
        ensure_topic(
            &client,
            EnsureTopic {
                stream: &config.stream,
                topic: &config.topic,
                create_stream: true,
                create_topic: true,
                partitions: 1,
            },
        )
        .await
        .map_err(|e| format!("dead-letter topic: {e}"))?;
        Ok(Self { client, config })
    }

    /// Sends the letters in one batch; Ok once Iggy stored all of them.
    pub async fn send(&self, letters: &[Letter]) -> Result<(), String> {
        let mut messages = Vec::with_capacity(letters.len());
        for letter in letters {
            let built = IggyMessage::builder()
                .id(letter.id)
                .payload(letter.payload.clone())
                .user_headers(letter.headers.clone())
                .build()
                .map_err(|e| format!("cannot build the dead-letter message: {e}"))?;
            messages.push(built);
        }
        let stream = identifier(&self.config.stream).map_err(|e| e.to_string())?;
        let topic = identifier(&self.config.topic).map_err(|e| e.to_string())?;
        self.client
            .send_messages(&stream, &topic, &Partitioning::balanced(), &mut messages)
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends until Iggy stored the letters, retrying with the connector's backoff; every
    /// failed attempt is reported to `on_error`. Err (the last failure) once the retry budget
    /// is spent or the connector is stopping: the caller must then not move past them.
    pub async fn send_durably(
        &self,
        letters: &[Letter],
        retry: &RetryConfig,
        stop: &watch::Receiver<bool>,
        mut on_error: impl FnMut(&str),
    ) -> Result<(), String> {
        let mut attempt = 0u32;
        loop {
            let error = match self.send(letters).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            attempt += 1;
            let message = format!(
                "cannot send {} message(s) to the dead-letter topic '{}/{}' (attempt {attempt}): {error}",
                letters.len(),
                self.config.stream,
                self.config.topic
            );
            on_error(&message);
            if retry.exhausted(attempt) || *stop.borrow() {
                return Err(message);
            }
            let mut stop = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(retry.backoff(attempt)) => {}
                _ = stop.wait_for(|s| *s) => return Err(message),
            }
        }
    }
}

/// Header values hold at most 255 bytes; cut at a character boundary.
fn truncate(value: &str) -> String {
    let value = if value.is_empty() { "-" } else { value };
    if value.len() <= 255 {
        return value.to_owned();
    }
    let mut end = 255;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(letter: &Letter, key: &str) -> Option<String> {
        letter
            .headers
            .get(&HeaderKey::from_str(key).unwrap())
            .map(|v| v.as_str().unwrap().to_owned())
    }

    #[test]
    fn given_empty_payload_should_carry_one_zero_byte_and_say_so() {
        let letter = Letter::new(1, Bytes::new(), None);
        assert_eq!(&letter.payload[..], [0]);
        assert_eq!(
            header(&letter, HEADER_EMPTY_PAYLOAD).as_deref(),
            Some("true")
        );
        let letter = Letter::new(1, Bytes::from_static(b"x"), None);
        assert_eq!(header(&letter, HEADER_EMPTY_PAYLOAD), None);
    }

    #[test]
    fn given_replayed_message_should_be_parked_and_say_so() {
        let mut headers = Headers::new();
        headers.insert(
            HeaderKey::from_str(HEADER_REPLAY_OF).unwrap(),
            HeaderValue::from_str("dlq/failed/0/7").unwrap(),
        );
        let letter = Letter::new(1, Bytes::from_static(b"x"), Some(headers));
        assert!(letter.is_parked());
        assert_eq!(header(&letter, HEADER_PARKED).as_deref(), Some("true"));
        let letter = Letter::new(1, Bytes::from_static(b"x"), None);
        assert!(!letter.is_parked());
        assert_eq!(header(&letter, HEADER_PARKED), None);
    }

    #[test]
    fn given_long_reason_should_cut_it_at_a_char_boundary() {
        let reason = "é".repeat(200);
        let letter = Letter::new(1, Bytes::from_static(b"x"), None).tag(HEADER_ERROR, &reason);
        let value = header(&letter, HEADER_ERROR).unwrap();
        assert_eq!(value.len(), 254);
        assert!(reason.starts_with(&value));
    }
}
