//! One consume task per (stream, topic): poll with auto-commit disabled, hand the batch to the
//! plugin, store the offset only once `iggy_sink_consume` returned 0. A failing consume is
//! retried with the same batch (never skipping ahead) with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use iggy::prelude::{
    Consumer, ConsumerOffsetClient, MessageClient, PolledMessages, PollingStrategy,
};
use iggy_connectors_sdk::{MessagesMetadata, TopicMetadata};
use tokio::sync::watch;

use super::dead_letter::Origin;
use super::encode::{ByteSlice, ConsumeBuffers, RawMessageRef, RawMessagesRef};
use super::ownership;
use super::prepare::{FailureKind, prepare};
use super::{Shared, TARGET};
use crate::config::SinkStreamConfig;
use crate::iggy::{identifier, join_group};
use crate::stats::Counters;

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
            Done::Stopped => return,
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

    let prepared = prepare(shared, stream.schema, &stream.stream, topic, polled).await;
    Counters::add(&counters.filtered, prepared.filtered);
    if !prepared.failed.is_empty() {
        handle_failures(shared, stream, topic, polled, &prepared.failed).await;
    }
    if prepared.ready.is_empty() {
        return Done::Committed;
    }

    let refs: Vec<RawMessageRef<'_>> = prepared
        .ready
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
    if let Err(error) = buffers.encode(
        topic_meta,
        &meta,
        &RawMessagesRef {
            schema: stream.schema,
            messages: &refs,
        },
    ) {
        ctx.stats
            .fail(format!("cannot encode the batch for the plugin: {error}"));
        return Done::Stopped;
    }
    drop(refs);
    let first = polled.messages.first().map_or(0, |m| m.header.offset);
    let last = polled.messages.last().map_or(0, |m| m.header.offset);
    let mut attempt = 0u32;
    loop {
        let owned = std::mem::take(buffers);
        let consume = shared.consume;
        let id = shared.id;
        let joined = tokio::task::spawn_blocking(move || {
            // SAFETY: the three buffers stay alive for the call; the plugin copies them.
            let code = unsafe {
                consume(
                    id,
                    owned.topic.as_ptr(),
                    owned.topic.len(),
                    owned.meta.as_ptr(),
                    owned.meta.len(),
                    owned.messages.as_ptr(),
                    owned.messages.len(),
                )
            };
            (code, owned)
        })
        .await;
        let code = match joined {
            Ok((code, owned)) => {
                *buffers = owned;
                code
            }
            Err(_) => {
                ctx.stats
                    .fail("iggy_sink_consume panicked in the engine task");
                return Done::Stopped;
            }
        };
        if code == 0 {
            break;
        }
        attempt += 1;
        Counters::add(&counters.consume_errors, 1);
        let message = format!(
            "iggy_sink_consume returned {code} for '{}/{topic}' partition {} offsets {first}..={last} (attempt {attempt}); the batch will be retried",
            stream.stream, polled.partition_id
        );
        ctx.log.warn(TARGET, message.clone());
        ctx.stats.record_error(message.clone());
        if ctx.config.retry.exhausted(attempt) {
            ctx.stats
                .fail(format!("{message}; giving up after {attempt} attempts"));
            return Done::Stopped;
        }
        if pause(stop, ctx.config.retry.backoff(attempt)).await {
            return Done::Stopped;
        }
    }
    let delivered = prepared.ready.len() as u64;
    Counters::add(&counters.messages_out, delivered);
    Counters::add(&counters.bytes_out, bytes_out);
    Counters::add(&counters.batches, 1);
    let line = format!(
        "delivered {delivered} messages from '{}/{topic}' partition {} offsets {first}..={last}",
        stream.stream, polled.partition_id
    );
    if ctx.config.verbose {
        ctx.log.info(TARGET, line);
    } else {
        ctx.log.debug(TARGET, line);
    }
    Done::Committed
}

async fn handle_failures(
    shared: &Shared,
    stream: &SinkStreamConfig,
    topic: &str,
    polled: &PolledMessages,
    failed: &[super::prepare::Failure],
) {
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
                "message at '{}/{topic}' partition {} offset {} {action}: {}",
                stream.stream, polled.partition_id, message.header.offset, failure.reason
            ),
        );
    }
    let Some(dead_letter) = &shared.dead_letter else {
        return;
    };
    let list: Vec<_> = failed
        .iter()
        .map(|f| (&polled.messages[f.index], f.reason.as_str()))
        .collect();
    let origin = Origin {
        stream: &stream.stream,
        topic,
        partition: polled.partition_id,
    };
    match dead_letter.send(&origin, &list).await {
        Ok(()) => Counters::add(&counters.dead_lettered, list.len() as u64),
        Err(error) => {
            let message = format!(
                "cannot send {} message(s) to the dead-letter topic '{}/{}': {error}",
                list.len(),
                dead_letter.config.stream,
                dead_letter.config.topic
            );
            ctx.log.error(TARGET, message.clone());
            ctx.stats.record_error(message);
        }
    }
}
