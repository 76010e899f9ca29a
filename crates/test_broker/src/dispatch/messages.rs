//! Send, poll, flush and consumer-offset commands: the hot path.

use crate::state::groups::{ConsumerGroup, NotMember};
use crate::state::partition::{ConsumerKey, message_size};
use crate::state::{self, Topic, numeric, to_identifier};
use bytes::{BufMut, BytesMut};
use iggy_binary_protocol::message_layout::{
    MSG_PAYLOAD_LEN_OFFSET, MSG_USER_HEADERS_LEN_OFFSET, WIRE_MESSAGE_HEADER_SIZE,
    WIRE_MESSAGE_INDEX_SIZE,
};
use iggy_binary_protocol::requests::consumer_offsets::*;
use iggy_binary_protocol::requests::messages::{
    FlushUnsavedBufferRequest, PollMessagesRequest, SendMessagesHeader,
};
use iggy_binary_protocol::responses::consumer_offsets::get_consumer_offset::ConsumerOffsetResponse;
use iggy_binary_protocol::{WireConsumer, WireIdentifier, WirePartitioning, validate_user_headers};
use iggy_common::IggyError;

use super::{
    CONSUMER_KIND_CONSUMER, POLL_FIRST, POLL_LAST, POLL_NEXT, POLL_OFFSET, POLL_TIMESTAMP, Session,
    Shared, decode, put,
};
// ---- messages ---------------------------------------------------------------------------

/// Checks the messages region of a send request: exactly `count` whole messages, non-empty
/// payloads, well-formed user headers. Done before taking the lock.
pub(super) fn validate_messages(messages: &[u8], count: u32) -> Result<(), IggyError> {
    let mut at = 0;
    let mut seen = 0u32;
    while at < messages.len() {
        let size = message_size(messages, at).ok_or(IggyError::InvalidFormat)?;
        let header = &messages[at..at + WIRE_MESSAGE_HEADER_SIZE];
        let payload_len = u32::from_le_bytes(
            header[MSG_PAYLOAD_LEN_OFFSET..MSG_PAYLOAD_LEN_OFFSET + 4]
                .try_into()
                .map_err(|_| IggyError::InvalidFormat)?,
        ) as usize;
        let headers_len = u32::from_le_bytes(
            header[MSG_USER_HEADERS_LEN_OFFSET..MSG_USER_HEADERS_LEN_OFFSET + 4]
                .try_into()
                .map_err(|_| IggyError::InvalidFormat)?,
        ) as usize;
        if payload_len == 0 {
            return Err(IggyError::EmptyMessagePayload);
        }
        if header[56..64] != [0u8; 8] {
            return Err(IggyError::InvalidFormat);
        }
        if headers_len > 0 {
            let start = at + WIRE_MESSAGE_HEADER_SIZE + payload_len;
            validate_user_headers(&messages[start..start + headers_len])
                .map_err(|_| IggyError::InvalidFormat)?;
        }
        at += size;
        seen += 1;
    }
    if seen != count {
        return Err(IggyError::InvalidMessagesCount);
    }
    Ok(())
}

pub(super) fn send_messages(shared: &Shared, payload: &mut [u8]) -> Result<(), IggyError> {
    let metadata_len = payload
        .get(0..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(IggyError::InvalidFormat)?;
    let metadata_end = 4usize
        .checked_add(metadata_len)
        .filter(|&end| end <= payload.len())
        .ok_or(IggyError::InvalidFormat)?;
    let header: SendMessagesHeader = decode(&payload[4..metadata_end])?;
    if header.messages_count == 0 {
        return Err(IggyError::InvalidMessagesCount);
    }
    let messages_start = (header.messages_count as usize)
        .checked_mul(WIRE_MESSAGE_INDEX_SIZE)
        .and_then(|index| index.checked_add(metadata_end))
        .filter(|&start| start <= payload.len())
        .ok_or(IggyError::InvalidFormat)?;
    let messages = &mut payload[messages_start..];
    validate_messages(messages, header.messages_count)?;
    let batch_bytes = messages.len() as u64;
    let now = state::now_micros();

    let mut guard = shared.lock();
    let state = &mut *guard;
    let (sid, tid) = {
        let topic = state.topic(&header.stream_id, &header.topic_id)?;
        let stream = state.stream(&header.stream_id)?;
        (stream.id, topic.id)
    };
    if let Some(max) = state.max_bytes
        && state.total_bytes + batch_bytes > max
    {
        return Err(IggyError::TopicFull(numeric(tid), numeric(sid)));
    }
    let topic = state
        .streams
        .get_mut(&sid)
        .and_then(|s| s.topics.get_mut(&tid))
        .ok_or(IggyError::InvalidCommand)?;
    if topic.max_topic_size != 0
        && topic.max_topic_size != u64::MAX
        && topic.size_bytes() + batch_bytes > topic.max_topic_size
    {
        return Err(IggyError::TopicFull(numeric(tid), numeric(sid)));
    }
    let partitions = topic.partitions_count();
    if partitions == 0 {
        return Err(IggyError::NoPartitions(numeric(tid), numeric(sid)));
    }
    let partition_id = match &header.partitioning {
        WirePartitioning::Balanced => {
            let p = topic.balanced_cursor % partitions;
            topic.balanced_cursor = (p + 1) % partitions;
            p
        }
        WirePartitioning::PartitionId(p) => *p,
        // The server hashes the key with XXH32 (iggy_common::calculate_32) modulo the count.
        WirePartitioning::MessagesKey(key) => iggy_common::calculate_32(key) % partitions,
    };
    let partition = topic.partition_mut(partition_id, sid)?;
    partition.append(messages, now);
    state.total_bytes += batch_bytes;
    if let Some(persist) = state.persist.as_mut() {
        // `messages` now holds the bytes exactly as stored (offsets, timestamps, checksums).
        if let Err(error) = persist.append(sid, tid, partition_id, messages) {
            tracing::error!("test broker: cannot append to partition log: {error}");
            return Err(IggyError::CannotAppendMessage);
        }
    }
    Ok(())
}

/// Resolves which partition and offset slot a consumer operation refers to, as the server
/// does: a consumer uses the given partition (default 0). A group member uses the named
/// partition if it holds it (revoking or not), or else the partition its round-robin cursor
/// points at among those it keeps; a poll moves the cursor on. `Ok(None)`: nothing resolved
/// (a member without partitions, or naming one it does not hold).
pub(super) fn resolve_consumer(
    topic: &mut Topic,
    consumer: &WireConsumer,
    partition_id: Option<u32>,
    client_id: u32,
    for_poll: bool,
) -> Result<Option<(u32, ConsumerKey)>, IggyError> {
    if consumer.kind == CONSUMER_KIND_CONSUMER {
        let key = match &consumer.id {
            WireIdentifier::Numeric(id) => ConsumerKey::ConsumerId(*id),
            WireIdentifier::String(name) => ConsumerKey::ConsumerName(name.to_string()),
        };
        return Ok(Some((partition_id.unwrap_or(0), key)));
    }
    let topic_ident = numeric(topic.id);
    let group = topic.group_mut(&consumer.id)?;
    let key = ConsumerKey::Group(group.id);
    let group_ident = numeric(group.id);
    let partition = group
        .resolve(client_id, partition_id, for_poll)
        .map_err(|NotMember| {
            IggyError::ConsumerGroupMemberNotFound(client_id, group_ident, topic_ident)
        })?;
    Ok(partition.map(|p| (p, key)))
}

/// The consumer group behind `key`, when the operation was a group's.
fn group_of<'a>(topic: &'a mut Topic, key: &ConsumerKey) -> Option<&'a mut ConsumerGroup> {
    match key {
        ConsumerKey::Group(gid) => topic.groups.get_mut(gid),
        _ => None,
    }
}

pub(super) fn poll_messages(
    shared: &Shared,
    session: &Session,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), IggyError> {
    let req: PollMessagesRequest = decode(payload)?;
    let mut guard = shared.lock();
    let state = &mut *guard;
    let sid = state.stream(&req.stream_id)?.id;
    let topic = state.topic_mut(&req.stream_id, &req.topic_id)?;
    let Some((partition_id, key)) = resolve_consumer(
        topic,
        &req.consumer,
        req.partition_id,
        session.client_id,
        true,
    )?
    else {
        // Nothing to poll for this member: the server answers an empty poll for partition 0.
        out.put_u32_le(0);
        out.put_u64_le(0);
        out.put_u32_le(0);
        return Ok(());
    };
    let partition = topic.partition_mut(partition_id, sid)?;
    let total = partition.messages_count();
    let start = match req.strategy.kind {
        POLL_OFFSET => req.strategy.value,
        POLL_TIMESTAMP => partition.offset_for_timestamp(req.strategy.value),
        POLL_FIRST => 0,
        POLL_LAST => total.saturating_sub(u64::from(req.count)),
        POLL_NEXT => partition
            .offsets
            .get(&key)
            .map_or(0, |o| o.saturating_add(1)),
        _ => return Err(IggyError::InvalidFormat),
    };
    let (slices, count) = partition.read(start, req.count);
    out.reserve(16 + slices.iter().map(|s| s.len()).sum::<usize>());
    out.put_u32_le(partition_id);
    out.put_u64_le(partition.current_offset());
    out.put_u32_le(count);
    for slice in slices {
        out.put_slice(slice);
    }
    if count == 0 {
        return Ok(());
    }
    let last = start + u64::from(count) - 1;
    // What a group was handed decides when a partition it is revoking may move.
    if let Some(group) = group_of(topic, &key) {
        group.record_polled(partition_id, last);
    }
    if req.auto_commit {
        topic
            .partition_mut(partition_id, sid)?
            .offsets
            .insert(key.clone(), last);
        if let Some(group) = group_of(topic, &key) {
            group.offset_stored(session.client_id, partition_id, last);
        }
        state.save();
    }
    Ok(())
}

pub(super) fn flush(shared: &Shared, payload: &[u8]) -> Result<(), IggyError> {
    let req: FlushUnsavedBufferRequest = decode(payload)?;
    let mut guard = shared.lock();
    let state = &mut *guard;
    let sid = state.stream(&req.stream_id)?.id;
    state
        .topic_mut(&req.stream_id, &req.topic_id)?
        .partition_mut(req.partition_id, sid)?;
    if req.fsync
        && let Some(persist) = state.persist.as_mut()
    {
        persist.sync_all();
    }
    Ok(())
}

pub(super) fn store_offset(
    shared: &Shared,
    session: &Session,
    payload: &[u8],
) -> Result<(), IggyError> {
    let req: StoreConsumerOffsetRequest = decode(payload)?;
    let mut guard = shared.lock();
    let state = &mut *guard;
    let sid = state.stream(&req.stream_id)?.id;
    let topic = state.topic_mut(&req.stream_id, &req.topic_id)?;
    let Some((partition_id, key)) = resolve_consumer(
        topic,
        &req.consumer,
        req.partition_id,
        session.client_id,
        false,
    )?
    else {
        // A member storing for a partition it does not hold (any more) is refused.
        return Err(IggyError::NotResolvedConsumer(to_identifier(
            &req.consumer.id,
        )));
    };
    let partition = topic.partition_mut(partition_id, sid)?;
    // As on the server: an offset beyond the newest message cannot be committed.
    if req.offset > partition.current_offset() {
        return Err(IggyError::InvalidOffset(req.offset));
    }
    partition.offsets.insert(key.clone(), req.offset);
    if let Some(group) = group_of(topic, &key) {
        group.offset_stored(session.client_id, partition_id, req.offset);
    }
    state.save();
    Ok(())
}

pub(super) fn get_offset(
    shared: &Shared,
    session: &Session,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), IggyError> {
    let req: GetConsumerOffsetRequest = decode(payload)?;
    let mut guard = shared.lock();
    let state = &mut *guard;
    let sid = state.stream(&req.stream_id)?.id;
    let topic = state.topic_mut(&req.stream_id, &req.topic_id)?;
    // A group's offsets belong to the group, not a member: anyone may read them (partition 0
    // when none is named), as on the server.
    let resolved = if req.consumer.kind == CONSUMER_KIND_CONSUMER {
        resolve_consumer(
            topic,
            &req.consumer,
            req.partition_id,
            session.client_id,
            false,
        )?
    } else {
        let gid = topic.group_mut(&req.consumer.id)?.id;
        Some((req.partition_id.unwrap_or(0), ConsumerKey::Group(gid)))
    };
    let Some((partition_id, key)) = resolved else {
        return Ok(());
    };
    let partition = topic.partition_mut(partition_id, sid)?;
    if let Some(stored) = partition.offsets.get(&key) {
        put(
            out,
            &ConsumerOffsetResponse {
                partition_id,
                current_offset: partition.current_offset(),
                stored_offset: *stored,
            },
        );
    }
    Ok(())
}

pub(super) fn delete_offset(
    shared: &Shared,
    session: &Session,
    payload: &[u8],
) -> Result<(), IggyError> {
    let req: DeleteConsumerOffsetRequest = decode(payload)?;
    let mut guard = shared.lock();
    let state = &mut *guard;
    let sid = state.stream(&req.stream_id)?.id;
    let topic = state.topic_mut(&req.stream_id, &req.topic_id)?;
    let Some((partition_id, key)) = resolve_consumer(
        topic,
        &req.consumer,
        req.partition_id,
        session.client_id,
        false,
    )?
    else {
        return Err(IggyError::ConsumerOffsetNotFound(0));
    };
    if topic
        .partition_mut(partition_id, sid)?
        .offsets
        .remove(&key)
        .is_none()
    {
        return Err(IggyError::ConsumerOffsetNotFound(partition_id as usize));
    }
    state.save();
    Ok(())
}
