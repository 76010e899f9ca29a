//! Reading and replaying a connector's dead-letter topic (`iggy-connectors dlq`).
//!
//! Listing polls the topic by offset with auto-commit off, so it moves nothing. A replay
//! sends the chosen letters back to where they came from (the origin headers) or to another
//! topic, with the runtime's own headers stripped and [`HEADER_REPLAY_OF`] added. The
//! engine parks a replayed message that fails again ([`HEADER_PARKED`], counted in
//! `parked`), and a replay skips parked letters unless told otherwise: a message that keeps
//! failing is replayed once per operator decision, never in a loop.
//!
//! Without an explicit `from`, a replay resumes after the last letter a previous replay
//! handled: its cursor is the stored offset of the consumer `iggy-connectors-replay-<kind>-<key>`
//! on the dead-letter topic, stored only after Iggy acknowledged the replayed batch (so a
//! crash mid-replay replays the last batch again, never skips one). A replay with `from`
//! leaves that cursor alone. The end of each partition is taken when the replay starts, so
//! letters written during the replay (a replayed message failing again) are not read by it.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use iggy::prelude::{
    Consumer, ConsumerOffsetClient, Identifier, IggyClient, IggyMessage, MessageClient,
    Partitioning, PollingStrategy, TopicClient,
};
use iggy_common::{HeaderKey, HeaderValue};

use crate::config::DeadLetterConfig;
use crate::dead_letter::{
    HEADER_CONNECTOR, HEADER_EMPTY_PAYLOAD, HEADER_ERROR, HEADER_ERROR_KIND, HEADER_OFFSET,
    HEADER_PARKED, HEADER_PARTITION, HEADER_PREFIX, HEADER_REPLAY_OF, HEADER_STREAM, HEADER_TOPIC,
    Letter,
};
use crate::error::{EngineError, Result};
use crate::iggy::identifier;
use crate::runtime::{Engine, find_sink, find_source};
use crate::stats::{ConnectorKind, Counters};

const TARGET: &str = "iggy_connectors::dlq";
/// Messages per poll (and per replayed batch).
const CHUNK: u32 = 500;

/// One dead-lettered message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterRecord {
    pub partition: u32,
    pub offset: u64,
    pub id: u128,
    /// When it was dead-lettered (Iggy's timestamp), microseconds.
    pub timestamp_micros: u64,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub origin_stream: Option<String>,
    pub origin_topic: Option<String>,
    pub origin_partition: Option<u32>,
    pub origin_offset: Option<u64>,
    /// Sources: the connector that produced it.
    pub origin_connector: Option<String>,
    /// Set when this letter is a replayed message that failed again.
    pub replay_of: Option<String>,
    pub parked: bool,
    /// The original payload was empty (the stored copy holds one zero byte).
    pub empty_payload: bool,
    /// Every string header, the runtime's included.
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

/// Which letters to list.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterQuery {
    /// One partition of the dead-letter topic (default: all).
    pub partition: Option<u32>,
    /// First offset (default 0).
    pub from: Option<u64>,
    /// Most letters returned (0 = 100).
    pub limit: u32,
    /// Only letters whose reason or error kind contains this (case-insensitive).
    pub reason: Option<String>,
}

/// What to replay, and where to.
#[derive(Debug, Clone, Default)]
pub struct ReplayRequest {
    pub partition: Option<u32>,
    /// First offset; without it the replay resumes after the previous replay's cursor.
    pub from: Option<u64>,
    /// Last offset, inclusive (default: the end when the replay starts).
    pub to: Option<u64>,
    /// Only letters whose reason or error kind contains this (case-insensitive).
    pub reason: Option<String>,
    /// `(stream, topic)` to send to instead of each letter's origin.
    pub target: Option<(String, String)>,
    /// Replay parked letters too (they failed after a replay already).
    pub include_parked: bool,
}

/// Progress of a replay, reported after every batch and once at the end (`done`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayProgress {
    /// Letters in the chosen range when the replay started.
    pub total: u64,
    /// Letters read so far.
    pub scanned: u64,
    /// Letters sent (Iggy acknowledged them).
    pub replayed: u64,
    pub skipped_parked: u64,
    /// Not matching `reason`.
    pub skipped_filtered: u64,
    /// No origin header and no target, or an originally empty payload (Iggy refuses one).
    pub skipped_unreplayable: u64,
    pub done: bool,
}

/// Counts and logs the parked letters among `letters` (called once Iggy stored them).
pub(crate) fn count_parked(ctx: &crate::sink::SinkContext, letters: &[Letter]) {
    let parked = letters.iter().filter(|l| l.is_parked()).count() as u64;
    if parked == 0 {
        return;
    }
    Counters::add(&ctx.stats.counters.parked, parked);
    ctx.log.warn(
        TARGET,
        format!(
            "{parked} replayed message(s) failed again and were parked in the dead-letter topic (header {HEADER_PARKED}); a replay skips them unless asked to include them"
        ),
    );
}

fn header_map(message: &IggyMessage) -> BTreeMap<HeaderKey, HeaderValue> {
    message
        .user_headers_map()
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn record(partition: u32, message: &IggyMessage) -> DeadLetterRecord {
    let headers = crate::source::batch::string_headers(&header_map(message));
    let get = |key: &str| {
        headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    DeadLetterRecord {
        partition,
        offset: message.header.offset,
        id: message.header.id,
        timestamp_micros: message.header.timestamp,
        error: get(HEADER_ERROR),
        error_kind: get(HEADER_ERROR_KIND),
        origin_stream: get(HEADER_STREAM),
        origin_topic: get(HEADER_TOPIC),
        origin_partition: get(HEADER_PARTITION).and_then(|v| v.parse().ok()),
        origin_offset: get(HEADER_OFFSET).and_then(|v| v.parse().ok()),
        origin_connector: get(HEADER_CONNECTOR),
        replay_of: get(HEADER_REPLAY_OF),
        parked: get(HEADER_PARKED).as_deref() == Some("true"),
        empty_payload: get(HEADER_EMPTY_PAYLOAD).as_deref() == Some("true"),
        headers,
        payload: message.payload.clone(),
    }
}

fn matches_reason(record: &DeadLetterRecord, reason: Option<&str>) -> bool {
    let Some(reason) = reason else {
        return true;
    };
    let needle = reason.to_lowercase();
    [&record.error, &record.error_kind]
        .into_iter()
        .flatten()
        .any(|text| text.to_lowercase().contains(&needle))
}

/// The dead-letter topic of a connector and where its letters go back to by default.
struct Target {
    dead_letter: DeadLetterConfig,
    /// Sources: their (first) stream and topic (source letters carry no origin topic).
    default_origin: Option<(String, String)>,
}

/// A dead-letter partition: its id and the offset of its newest letter (None when empty).
struct PartitionEnd {
    id: u32,
    last: Option<u64>,
}

struct Topic {
    stream: Identifier,
    topic: Identifier,
}

impl Engine {
    fn dead_letter_target(&self, kind: ConnectorKind, key: &str) -> Result<Target> {
        self.connector_state(kind, key)?;
        let config = self.config_snapshot();
        let (dead_letter, default_origin) = match kind {
            ConnectorKind::Source => {
                let source = find_source(&config, key)?;
                let origin = source
                    .streams
                    .first()
                    .map(|s| (s.stream.clone(), s.topic.clone()));
                (source.dead_letter, origin)
            }
            ConnectorKind::Sink => (find_sink(&config, key)?.dead_letter, None),
        };
        let dead_letter = dead_letter.ok_or_else(|| EngineError::Config {
            key: key.to_owned(),
            message: format!(
                "{} '{key}' has no [dead_letter] topic, so it has no dead letters",
                kind.as_str()
            ),
        })?;
        Ok(Target {
            dead_letter,
            default_origin,
        })
    }

    async fn partitions(
        &self,
        client: &IggyClient,
        config: &DeadLetterConfig,
        only: Option<u32>,
    ) -> Result<(Topic, Vec<PartitionEnd>)> {
        let iggy_error = |message: String| EngineError::Iggy {
            key: format!("{}/{}", config.stream, config.topic),
            message,
        };
        let ids = Topic {
            stream: identifier(&config.stream).map_err(|e| iggy_error(e.to_string()))?,
            topic: identifier(&config.topic).map_err(|e| iggy_error(e.to_string()))?,
        };
        let details = client
            .get_topic(&ids.stream, &ids.topic)
            .await
            .map_err(|e| iggy_error(format!("cannot read the dead-letter topic: {e}")))?;
        // A dead-letter topic is created when its connector starts; none yet = no letters.
        let Some(details) = details else {
            return Ok((ids, Vec::new()));
        };
        let mut ends: Vec<PartitionEnd> = details
            .partitions
            .iter()
            .filter(|p| only.is_none_or(|id| id == p.id))
            .map(|p| PartitionEnd {
                id: p.id,
                last: (p.messages_count > 0).then_some(p.current_offset),
            })
            .collect();
        ends.sort_by_key(|p| p.id);
        if let Some(id) = only
            && ends.is_empty()
        {
            return Err(iggy_error(format!(
                "the dead-letter topic has no partition {id}"
            )));
        }
        Ok((ids, ends))
    }

    /// Lists dead-lettered messages of a connector, oldest first per partition.
    pub async fn dead_letters(
        &self,
        kind: ConnectorKind,
        key: &str,
        query: DeadLetterQuery,
    ) -> Result<Vec<DeadLetterRecord>> {
        let target = self.dead_letter_target(kind, key)?;
        let (_, consumer) = self.iggy_clients().await?;
        let (topic, ends) = self
            .partitions(&consumer, &target.dead_letter, query.partition)
            .await?;
        let limit = if query.limit == 0 { 100 } else { query.limit } as usize;
        let reader = Consumer::new(Identifier::named("iggy-connectors-dlq-reader").map_err(
            |e| EngineError::Config {
                key: key.to_owned(),
                message: e.to_string(),
            },
        )?);
        let mut out = Vec::new();
        for end in ends {
            let Some(last) = end.last else { continue };
            let mut offset = query.from.unwrap_or(0);
            while offset <= last && out.len() < limit {
                let polled = poll(&consumer, &topic, &reader, end.id, offset, key).await?;
                let Some(newest) = polled.last().map(|m| m.header.offset) else {
                    break;
                };
                for message in &polled {
                    let record = record(end.id, message);
                    if matches_reason(&record, query.reason.as_deref()) && out.len() < limit {
                        out.push(record);
                    }
                }
                offset = newest + 1;
            }
        }
        Ok(out)
    }

    /// Replays dead letters (see the module docs); `progress` is called after every batch
    /// Iggy acknowledged and once at the end.
    pub async fn replay_dead_letters(
        &self,
        kind: ConnectorKind,
        key: &str,
        request: ReplayRequest,
        mut progress: impl FnMut(&ReplayProgress) + Send,
    ) -> Result<ReplayProgress> {
        let target = self.dead_letter_target(kind, key)?;
        let (producer, consumer) = self.iggy_clients().await?;
        let (topic, ends) = self
            .partitions(&consumer, &target.dead_letter, request.partition)
            .await?;
        let named = |name: String| {
            Identifier::named(&name).map_err(|e| EngineError::Config {
                key: key.to_owned(),
                message: format!("consumer name '{name}': {e}"),
            })
        };
        let reader = Consumer::new(named("iggy-connectors-dlq-reader".to_owned())?);
        let cursor = Consumer::new(named(format!(
            "iggy-connectors-replay-{}-{key}",
            kind.as_str()
        ))?);
        let iggy_error = |message: String| EngineError::Iggy {
            key: key.to_owned(),
            message,
        };

        // The range of every partition, fixed now.
        let mut ranges = Vec::new();
        let mut state = ReplayProgress::default();
        for end in &ends {
            let Some(last) = end.last else { continue };
            let from = match request.from {
                Some(from) => from,
                None => consumer
                    .get_consumer_offset(&cursor, &topic.stream, &topic.topic, Some(end.id))
                    .await
                    .map_err(|e| iggy_error(format!("cannot read the replay cursor: {e}")))?
                    .map_or(0, |info| info.stored_offset + 1),
            };
            let to = request.to.map_or(last, |to| to.min(last));
            if from <= to {
                state.total += to - from + 1;
                ranges.push((end.id, from, to));
            }
        }
        progress(&state);

        for (partition, from, to) in ranges {
            let mut offset = from;
            while offset <= to {
                let polled = poll(&consumer, &topic, &reader, partition, offset, key).await?;
                let Some(newest) = polled.last().map(|m| m.header.offset) else {
                    break;
                };
                let mut batches: BTreeMap<(String, String, Option<u32>), Vec<IggyMessage>> =
                    BTreeMap::new();
                let mut scanned_to = offset;
                for message in polled.iter().filter(|m| m.header.offset <= to) {
                    scanned_to = message.header.offset;
                    state.scanned += 1;
                    let letter = record(partition, message);
                    if letter.parked && !request.include_parked {
                        state.skipped_parked += 1;
                        continue;
                    }
                    if !matches_reason(&letter, request.reason.as_deref()) {
                        state.skipped_filtered += 1;
                        continue;
                    }
                    let destination = match (&request.target, &letter) {
                        (Some((stream, topic)), _) => Some((stream.clone(), topic.clone(), None)),
                        (
                            None,
                            DeadLetterRecord {
                                origin_stream: Some(stream),
                                origin_topic: Some(topic),
                                ..
                            },
                        ) => Some((stream.clone(), topic.clone(), letter.origin_partition)),
                        _ => target
                            .default_origin
                            .clone()
                            .map(|(stream, topic)| (stream, topic, None)),
                    };
                    let Some(destination) = destination.filter(|_| !letter.empty_payload) else {
                        state.skipped_unreplayable += 1;
                        continue;
                    };
                    let replay_of = format!(
                        "{}/{}/{partition}/{}",
                        target.dead_letter.stream, target.dead_letter.topic, letter.offset
                    );
                    let built = replay_message(message, &replay_of).map_err(iggy_error)?;
                    batches.entry(destination).or_default().push(built);
                }
                for ((stream, topic_name, origin_partition), mut messages) in batches {
                    let count = messages.len() as u64;
                    let stream_id = identifier(&stream).map_err(|e| iggy_error(e.to_string()))?;
                    let topic_id =
                        identifier(&topic_name).map_err(|e| iggy_error(e.to_string()))?;
                    let partitioning = origin_partition
                        .map_or_else(Partitioning::balanced, Partitioning::partition_id);
                    producer
                        .send_messages(&stream_id, &topic_id, &partitioning, &mut messages)
                        .await
                        .map_err(|e| {
                            iggy_error(format!(
                                "cannot replay to '{stream}/{topic_name}': {e} (replayed so far: {})",
                                state.replayed
                            ))
                        })?;
                    state.replayed += count;
                }
                // Only now, with everything up to `scanned_to` acknowledged by Iggy.
                if request.from.is_none() {
                    consumer
                        .store_consumer_offset(
                            &cursor,
                            &topic.stream,
                            &topic.topic,
                            Some(partition),
                            scanned_to,
                        )
                        .await
                        .map_err(|e| iggy_error(format!("cannot store the replay cursor: {e}")))?;
                }
                progress(&state);
                offset = newest + 1;
            }
        }
        state.done = true;
        progress(&state);
        self.logs().emit(
            crate::logs::LogLevel::Info,
            Some(key),
            TARGET,
            format!(
                "dead-letter replay: {} replayed, {} parked skipped, {} filtered out, {} unreplayable",
                state.replayed,
                state.skipped_parked,
                state.skipped_filtered,
                state.skipped_unreplayable
            ),
        );
        Ok(state)
    }
}

/// The message to send back: same id and payload, the user's headers without the runtime's
/// dead-letter headers, marked with where the copy came from.
fn replay_message(
    message: &IggyMessage,
    replay_of: &str,
) -> std::result::Result<IggyMessage, String> {
    let mut headers: BTreeMap<HeaderKey, HeaderValue> = header_map(message)
        .into_iter()
        .filter(|(k, _)| !k.as_str().is_ok_and(|k| k.starts_with(HEADER_PREFIX)))
        .collect();
    if let (Ok(k), Ok(v)) = (
        HeaderKey::from_str(HEADER_REPLAY_OF),
        HeaderValue::from_str(replay_of),
    ) {
        headers.insert(k, v);
    }
    IggyMessage::builder()
        .id(message.header.id)
        .payload(message.payload.clone())
        .user_headers(headers)
        .build()
        .map_err(|e| format!("cannot build the replayed message: {e}"))
}

async fn poll(
    client: &Arc<IggyClient>,
    topic: &Topic,
    reader: &Consumer,
    partition: u32,
    offset: u64,
    key: &str,
) -> Result<Vec<IggyMessage>> {
    client
        .poll_messages(
            &topic.stream,
            &topic.topic,
            Some(partition),
            reader,
            &PollingStrategy::offset(offset),
            CHUNK,
            false,
        )
        .await
        .map(|polled| polled.messages)
        .map_err(|e| EngineError::Iggy {
            key: key.to_owned(),
            message: format!("cannot read the dead-letter topic: {e}"),
        })
}
