//! May this member still store the offset of a batch it polled a while ago?
//!
//! Iggy 0.8 can move a partition away from a member that holds a polled, uncommitted batch:
//! when a pending revocation times out (a sink stuck longer than the server's
//! `rebalancing_timeout`), or at once when another member leaves or disconnects (a full
//! rebalance). The new owner polls from the group's committed offset and commits as it goes.
//! When the old member's batch finally succeeds, storing its offset would move the group's
//! position — back over what the new owner already committed, so those messages are delivered
//! yet again. The server refuses such a store only while another member holds the partition; a
//! later rebalance can hand it back and the stale store would be accepted.
//!
//! The batch was polled with `PollingStrategy::next()`, so it began right after the committed
//! offset of that moment. If the committed offset has since reached the batch's first offset,
//! another member handled the partition in between, and this member's offset is stale.
//! (A committed offset *below* the first one is not a sign of a move: the messages in between
//! may simply have expired.)

use iggy::prelude::{Consumer, ConsumerOffsetClient, Identifier, PolledMessages};

use super::{SinkContext, TARGET};

/// Whether someone else committed on the partition since the batch starting at `first` was
/// polled: the group's committed offset reached into (or past) the batch.
fn moved_on(committed: Option<u64>, first: u64) -> bool {
    committed.is_some_and(|committed| committed >= first)
}

/// True when the offset of `polled` may be stored. Otherwise (the partition moved on, or its
/// committed offset cannot be read) the reason is logged and counted, and the caller skips the
/// store: the batch may then be delivered again, never lost.
pub async fn still_owner(
    ctx: &SinkContext,
    consumer: &Consumer,
    stream_id: &Identifier,
    topic_id: &Identifier,
    label: &str,
    polled: &PolledMessages,
) -> bool {
    let first = polled.messages.first().map_or(0, |m| m.header.offset);
    let last = polled.messages.last().map_or(first, |m| m.header.offset);
    let partition = polled.partition_id;
    let committed = match ctx
        .consumer
        .get_consumer_offset(consumer, stream_id, topic_id, Some(partition))
        .await
    {
        Ok(stored) => stored.map(|offset| offset.stored_offset),
        Err(error) => {
            let message = format!(
                "cannot read the committed offset of '{label}' partition {partition} before storing {last}: {error}; not storing it (the batch may be delivered again)"
            );
            ctx.log.warn(TARGET, message.clone());
            ctx.stats.record_error(message);
            return false;
        }
    };
    if !moved_on(committed, first) {
        return true;
    }
    let message = format!(
        "partition {partition} of '{label}' moved to another member while offsets {first}..={last} were in flight (the group has committed {}); not storing offset {last}",
        committed.unwrap_or_default()
    );
    ctx.log.warn(TARGET, message.clone());
    ctx.stats.record_error(message);
    false
}

#[cfg(test)]
mod tests {
    use super::moved_on;

    #[test]
    fn given_committed_offset_just_before_the_batch_should_still_own_it() {
        assert!(!moved_on(None, 0), "first batch of a partition");
        assert!(!moved_on(Some(99), 100));
    }

    #[test]
    fn given_committed_offset_below_the_batch_should_still_own_it() {
        // Messages between the committed offset and the batch expired on the server.
        assert!(!moved_on(Some(5), 100));
    }

    #[test]
    fn given_committed_offset_inside_or_past_the_batch_should_have_moved_on() {
        assert!(moved_on(Some(0), 0));
        assert!(moved_on(Some(150), 100));
        assert!(moved_on(Some(5_000), 100));
    }
}
