//! One consume task per (stream, topic): poll with auto-commit disabled, hand the batch to the
//! plugin, store the offset only once `iggy_sink_consume` returned 0 and every message the
//! engine or the plugin refused is durably in the dead-letter topic. A failing consume (or a
//! rejection without a dead-letter topic) is retried with the same batch (never skipping
//! ahead) with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use iggy::prelude::{
    Consumer, ConsumerOffsetClient, IggyMessage, MessageClient, PolledMessages, PollingStrategy,
};
use iggy_connectors_sdk::{MessagesMetadata, TopicMetadata};
use tokio::sync::watch;

use super::encode::{ByteSlice, ConsumeBuffers, RawMessageRef, RawMessagesRef};
use super::ownership;
use super::prepare::{FailureKind, prepare};
use super::{Shared, TARGET};
use crate::config::SinkStreamConfig;
use crate::dead_letter::{
    HEADER_ERROR, HEADER_ERROR_KIND, HEADER_OFFSET, HEADER_PARTITION, HEADER_STREAM, HEADER_TOPIC,
    Letter,
};
use crate::driver::{ConsumeFailure, MessagesBatch, SinkBatch, SinkInput};
use crate::external::ExternalMessages;
use crate::ffi::sink::Rejection;
use crate::iggy::{identifier, join_group};
use crate::stats::Counters;
use crate::tap::{self, TapStage};

/// How a batch ended.
enum Done {
    Committed,
    Stopped,
}

/// Sleeps `duration` unless the connector is stopping; true when it is.
async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    stopped || *stop.borrow()
}

pub async fn run(
    shared: Arc<Shared>,
    stream: SinkStreamConfig,
    topic: String,
    mut stop: watch::Receiver<bool>,
) {
    let ctx = &shared.ctx;
    let group = stream.group_name(&ctx.config.key);
    let (stream_id, topic_id, group_id) = match (
        identifier(&stream.stream),
        identifier(&topic),
        identifier(&group),
    ) {
        (Ok(s), Ok(t), Ok(g)) => (s, t, g),
        _ => {
            ctx.stats.fail(format!(
                "invalid stream/topic/group name '{}/{topic}/{group}'",
                stream.stream
            ));
            return;
        }
    };
    let consumer = Consumer::group(group_id);
    let topic_meta = TopicMetadata {
        stream: stream.stream.clone(),
        topic: topic.clone(),
    };
    let mut buffers = ConsumeBuffers::default();
    let mut poll_failures = 0u32;
    let strategy = PollingStrategy::next();
    loop {
        if *stop.borrow() {
            return;
        }
        let polled = match ctx
            .consumer
            .poll_messages(
                &stream_id,
                &topic_id,
                None,
                &consumer,
                &strategy,
                stream.batch_length.max(1),
                false,
            )
            .await
        {
            Ok(polled) => {
                poll_failures = 0;
                polled
            }
            Err(error) => {
                poll_failures += 1;
                let message = format!("poll from '{}/{topic}' failed: {error}", stream.stream);
                if poll_failures == 1 || poll_failures.is_multiple_of(50) {
                    ctx.log.warn(TARGET, message.clone());
                }
                ctx.stats.record_error(message);
                let backoff = ctx.config.retry.backoff(poll_failures.min(16));
                if pause(&mut stop, backoff.min(Duration::from_secs(5))).await {
                    return;
                }
                // After a reconnect the server no longer knows us as a group member.
                let _ = join_group(&ctx.consumer, &stream.stream, &topic, &group).await;
                continue;
            }
        };
        if polled.messages.is_empty() {
            if pause(
                &mut stop,
                stream.poll_interval.max(Duration::from_millis(1)),
            )
            .await
            {
                return;
            }
            continue;
        }
        match deliver(
            &shared,
            &stream,
            &topic,
            &topic_meta,
            &polled,
            &mut buffers,
            &mut stop,
        )
        .await
        {
            Done::Committed => {}
            Done::Stopped => {
                if !*stop.borrow() {
                    // The task failed for good: stop being a member, so the group's
                    // partitions go to members that poll.
                    crate::iggy::leave_group(&ctx.consumer, &stream.stream, &topic, &group).await;
                }
                return;
            }
        }
        let last = polled.messages.last().map_or(0, |m| m.header.offset);
        let label = format!("{}/{topic}", stream.stream);
        if !ownership::still_owner(ctx, &consumer, &stream_id, &topic_id, &label, &polled).await {
            continue;
        }
        let stored = ctx
            .consumer
            .store_consumer_offset(
                &consumer,
                &stream_id,
                &topic_id,
                Some(polled.partition_id),
                last,
            )
            .await;
        if let Err(error) = stored {
            // The batch was delivered; not storing the offset means it may be delivered again
            // (at-least-once), never that it is lost.
            let message = format!(
                "cannot store offset {last} of '{}/{topic}' partition {}: {error}",
                stream.stream, polled.partition_id
            );
            ctx.log.error(TARGET, message.clone());
            ctx.stats.record_error(message);
        }
        ctx.stats.set_lag(
            &stream.stream,
            &topic,
            polled.partition_id,
            polled.current_offset.saturating_sub(last),
        );
    }
}

async fn deliver(
    shared: &Shared,
    stream: &SinkStreamConfig,
    topic: &str,
    topic_meta: &TopicMetadata,
    polled: &PolledMessages,
    buffers: &mut ConsumeBuffers,
    stop: &mut watch::Receiver<bool>,
) -> Done {
    let ctx = &shared.ctx;
    let counters = &ctx.stats.counters;
    let count = polled.messages.len() as u64;
    let bytes_in: u64 = polled.messages.iter().map(|m| m.payload.len() as u64).sum();
    Counters::add(&counters.messages_in, count);
    Counters::add(&counters.bytes_in, bytes_in);
    let origin = Origin {
        stream: &stream.stream,
        topic,
        partition: polled.partition_id,
    };

    ctx.stats.tap.publish(TapStage::Before, || {
        tap::polled(
            &stream.stream,
            topic,
            polled,
            (0..polled.messages.len()).map(|i| (i, None)),
        )
    });
    let mut attempt = 0u32;
    let prepared = loop {
        let failure = match prepare(shared, stream.schema, &stream.stream, topic, polled).await {
            Ok(prepared) => break prepared,
            Err(failure) => failure,
        };
        // A throwing TypeScript transform is transient: retry the batch, never skip it.
        attempt += 1;
        Counters::add(&counters.transform_errors, 1);
        if !retry_later(
            shared,
            stop,
            attempt,
            &format!(
                "{failure} for '{}/{topic}' partition {}",
                stream.stream, polled.partition_id
            ),
        )
        .await
        {
            return Done::Stopped;
        }
    };
    Counters::add(&counters.filtered, prepared.filtered);
    if !prepared.failed.is_empty()
        && !handle_failures(shared, &origin, polled, &prepared.failed, stop).await
    {
        return Done::Stopped;
    }
    ctx.stats.tap.publish(TapStage::After, || {
        tap::polled(
            &stream.stream,
            topic,
            polled,
            prepared
                .ready
                .iter()
                .map(|r| (r.index, r.payload.as_deref())),
        )
    });
    if prepared.ready.is_empty() {
        return Done::Committed;
    }

    let (mut batch, bytes_out) = match shared.driver.input() {
        SinkInput::Postcard => {
            match postcard_batch(stream, topic_meta, polled, &prepared.ready, buffers) {
                Ok(bytes_out) => (SinkBatch::Postcard(std::mem::take(buffers)), bytes_out),
                Err(error) => {
                    ctx.stats
                        .fail(format!("cannot encode the batch for the plugin: {error}"));
                    return Done::Stopped;
                }
            }
        }
        SinkInput::Messages => match messages_batch(stream, topic, polled, &prepared.ready) {
            Ok(batch) => batch,
            Err(error) => {
                ctx.stats
                    .fail(format!("cannot build the batch for the sink: {error}"));
                return Done::Stopped;
            }
        },
    };
    let first = polled.messages.first().map_or(0, |m| m.header.offset);
    let last = polled.messages.last().map_or(0, |m| m.header.offset);
    let place = format!(
        "'{}/{topic}' partition {} offsets {first}..={last}",
        stream.stream, polled.partition_id
    );
    let mut attempt = 0u32;
    let dead_lettered = loop {
        let consumed = shared.driver.consume(&mut batch).await;
        let failure = match consumed {
            Err(ConsumeFailure::Fatal(message)) => {
                ctx.stats.fail(message);
                return Done::Stopped;
            }
            Err(ConsumeFailure::Retry(message)) => format!("{message} for {place}"),
            Ok(rejections) => {
                let rejected = resolve_rejections(shared, &origin, polled, rejections);
                if rejected.is_empty() {
                    break 0;
                }
                Counters::add(&counters.rejected, rejected.len() as u64);
                if shared.dead_letter.is_some() {
                    let letters: Vec<Letter> = rejected
                        .iter()
                        .map(|(message, reason)| origin.letter(message, REJECTED, reason))
                        .collect();
                    if !dead_letter_durably(shared, &letters, stop).await {
                        return Done::Stopped;
                    }
                    break letters.len() as u64;
                }
                format!(
                    "the sink rejected {} message(s) of {place} (first: offset {}: {}) and the connector has no [dead_letter] topic",
                    rejected.len(),
                    rejected[0].0.header.offset,
                    rejected[0].1
                )
            }
        };
        attempt += 1;
        Counters::add(&counters.consume_errors, 1);
        if !retry_later(shared, stop, attempt, &failure).await {
            return Done::Stopped;
        }
    };
    if let SinkBatch::Postcard(used) = batch {
        // Reused by the next batch (no reallocation at steady state).
        *buffers = used;
    }
    let delivered = prepared.ready.len() as u64 - dead_lettered;
    Counters::add(&counters.messages_out, delivered);
    Counters::add(&counters.bytes_out, bytes_out);
    Counters::add(&counters.batches, 1);
    let line = format!("delivered {delivered} messages from {place}");
    if ctx.config.verbose {
        ctx.log.info(TARGET, line);
    } else {
        ctx.log.debug(TARGET, line);
    }
    Done::Committed
}

/// Logs failed attempt number `attempt` of a batch and waits the backoff; false when the
/// connector is stopping or the retry budget is spent (then it is failed).
async fn retry_later(
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
    attempt: u32,
    failure: &str,
) -> bool {
    let ctx = &shared.ctx;
    let message = format!("{failure} (attempt {attempt}); the batch will be retried");
    ctx.log.warn(TARGET, message.clone());
    ctx.stats.record_error(message.clone());
    if ctx.config.retry.exhausted(attempt) {
        ctx.stats
            .fail(format!("{message}; giving up after {attempt} attempts"));
        return false;
    }
    !pause(stop, ctx.config.retry.backoff(attempt)).await
}

/// Matches the offsets the plugin rejected to messages of the batch. An offset that is not in
/// the batch is a plugin bug: it is logged and ignored (the ABI says every other message was
/// stored, so nothing is lost by ignoring it).
fn resolve_rejections<'a>(
    shared: &Shared,
    origin: &Origin<'_>,
    polled: &'a PolledMessages,
    rejections: Vec<Rejection>,
) -> Vec<(&'a IggyMessage, String)> {
    let mut rejected = Vec::with_capacity(rejections.len());
    let mut seen = std::collections::HashSet::with_capacity(rejections.len());
    for Rejection { offset, reason } in rejections {
        let index = polled
            .messages
            .binary_search_by_key(&offset, |m| m.header.offset);
        match index {
            Ok(index) => {
                if !seen.insert(offset) {
                    continue;
                }
                shared.ctx.log.warn(
                    TARGET,
                    format!(
                        "message at '{}/{}' partition {} offset {offset} rejected by the sink: {reason}",
                        origin.stream, origin.topic, origin.partition
                    ),
                );
                rejected.push((&polled.messages[index], reason));
            }
            Err(_) => shared.ctx.log.warn(
                TARGET,
                format!(
                    "the sink rejected offset {offset}, which is not in the batch of '{}/{}' partition {}; ignored",
                    origin.stream, origin.topic, origin.partition
                ),
            ),
        }
    }
    rejected
}

/// Counts and logs the messages that failed to decode or transform, and sends them to the
/// dead-letter topic when there is one (durably: false means the connector stopped or gave
/// up before they were stored, so the batch must not be committed).
async fn handle_failures(
    shared: &Shared,
    origin: &Origin<'_>,
    polled: &PolledMessages,
    failed: &[super::prepare::Failure],
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let ctx = &shared.ctx;
    let counters = &ctx.stats.counters;
    for failure in failed {
        let message = &polled.messages[failure.index];
        match failure.kind {
            FailureKind::Decode => Counters::add(&counters.decode_errors, 1),
            FailureKind::Transform => Counters::add(&counters.transform_errors, 1),
        }
        let action = if shared.dead_letter.is_some() {
            "dead-lettered"
        } else {
            "skipped"
        };
        ctx.log.warn(
            TARGET,
            format!(
                "message at '{}/{}' partition {} offset {} {action}: {}",
                origin.stream,
                origin.topic,
                origin.partition,
                message.header.offset,
                failure.reason
            ),
        );
    }
    if shared.dead_letter.is_none() {
        return true;
    }
    let letters: Vec<Letter> = failed
        .iter()
        .map(|f| origin.letter(&polled.messages[f.index], f.kind.as_str(), &f.reason))
        .collect();
    dead_letter_durably(shared, &letters, stop).await
}

/// Sends `letters` to the dead-letter topic until it stored them: the batch's offset may only
/// move past a message that was consumed or durably dead-lettered. False when the connector
/// is stopping or the retry budget is spent (then the connector is failed; either way the
/// offset stays where it was).
async fn dead_letter_durably(
    shared: &Shared,
    letters: &[Letter],
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let ctx = &shared.ctx;
    let Some(dead_letter) = &shared.dead_letter else {
        return false;
    };
    let sent = dead_letter
        .send_durably(letters, &ctx.config.retry, stop, |message| {
            let message = format!("{message}; the batch is not committed");
            ctx.log.error(TARGET, message.clone());
            ctx.stats.record_error(message);
        })
        .await;
    match sent {
        Ok(()) => {
            Counters::add(&ctx.stats.counters.dead_lettered, letters.len() as u64);
            crate::dlq::count_parked(ctx, letters);
            true
        }
        Err(message) => {
            if !*stop.borrow() {
                ctx.stats.fail(format!("{message}; giving up"));
            }
            false
        }
    }
}

/// Where a batch came from, for the dead-letter headers and log lines.
struct Origin<'a> {
    stream: &'a str,
    topic: &'a str,
    partition: u32,
}

/// The error kind of messages the sink plugin rejected.
const REJECTED: &str = "rejected";

impl Origin<'_> {
    fn letter(&self, message: &IggyMessage, kind: &str, reason: &str) -> Letter {
        Letter::of_message(message)
            .tag(HEADER_ERROR, reason)
            .tag(HEADER_ERROR_KIND, kind)
            .tag(HEADER_STREAM, self.stream)
            .tag(HEADER_TOPIC, self.topic)
            .tag(HEADER_PARTITION, &self.partition.to_string())
            .tag(HEADER_OFFSET, &message.header.offset.to_string())
    }
}

/// The batch in the native plugin's form: the three postcard buffers, written into
/// `buffers`. Returns the payload bytes handed over.
fn postcard_batch(
    stream: &SinkStreamConfig,
    topic_meta: &TopicMetadata,
    polled: &PolledMessages,
    ready: &[super::prepare::Ready],
    buffers: &mut ConsumeBuffers,
) -> Result<u64, postcard::Error> {
    let refs: Vec<RawMessageRef<'_>> = ready
        .iter()
        .map(|ready| {
            let message = &polled.messages[ready.index];
            RawMessageRef {
                id: message.header.id,
                offset: message.header.offset,
                checksum: message.header.checksum,
                timestamp: message.header.timestamp,
                origin_timestamp: message.header.origin_timestamp,
                headers: ByteSlice(&ready.headers),
                payload: ByteSlice(ready.payload.as_deref().unwrap_or(&message.payload)),
            }
        })
        .collect();
    let bytes_out: u64 = refs.iter().map(|r| r.payload.0.len() as u64).sum();
    let meta = MessagesMetadata {
        partition_id: polled.partition_id,
        current_offset: polled.current_offset,
        schema: stream.schema,
    };
    buffers.encode(
        topic_meta,
        &meta,
        &RawMessagesRef {
            schema: stream.schema,
            messages: &refs,
        },
    )?;
    Ok(bytes_out)
}

/// The batch in columns (TypeScript sinks), and the payload bytes handed over. Every ready
/// message passed the schema check, so for schema `json` the buffer is laid out as one JSON
/// array. Err: the batch passes the 4 GiB a column buffer can address.
fn messages_batch(
    stream: &SinkStreamConfig,
    topic: &str,
    polled: &PolledMessages,
    ready: &[super::prepare::Ready],
) -> Result<(SinkBatch, u64), String> {
    let mut bytes_out = 0u64;
    let json = stream.schema == iggy_connectors_sdk::Schema::Json;
    let mut messages = ExternalMessages::new(ready.len(), json, true);
    for ready in ready {
        let message = &polled.messages[ready.index];
        let payload = ready.payload.as_deref().unwrap_or(&message.payload);
        bytes_out += payload.len() as u64;
        let headers = match message.user_headers_map() {
            Ok(Some(map)) if !map.is_empty() => Some(crate::source::batch::string_headers(
                &map.into_iter().collect(),
            )),
            _ => None,
        };
        messages.push(
            message.header.id,
            Some(message.header.offset),
            Some(message.header.timestamp),
            headers,
            payload,
        )?;
    }
    let batch = MessagesBatch {
        stream: stream.stream.clone(),
        topic: topic.to_owned(),
        partition: polled.partition_id,
        // Closes the JSON array text (`]`).
        messages: messages.finish(),
    };
    Ok((SinkBatch::Messages(batch), bytes_out))
}
