//! Mapping streams, topics and consumer groups to their wire responses.

use crate::state::groups::ConsumerGroup;
use crate::state::{Stream, Topic};
use bytes::BytesMut;
use iggy_binary_protocol::requests::topics::*;
use iggy_binary_protocol::responses::consumer_groups::consumer_group_response::ConsumerGroupResponse;
use iggy_binary_protocol::responses::consumer_groups::get_consumer_group::{
    ConsumerGroupDetailsResponse, ConsumerGroupMemberResponse,
};
use iggy_binary_protocol::responses::streams::StreamResponse;
use iggy_binary_protocol::responses::streams::get_stream::{GetStreamResponse, TopicHeader};
use iggy_binary_protocol::responses::topics::get_topic::{GetTopicResponse, PartitionResponse};
use iggy_common::{CompressionAlgorithm, IggyError};

use super::{Shared, decode, put, wire_name};
// ---- streams, topics, groups ------------------------------------------------------------

pub(super) fn stream_response(stream: &Stream) -> Result<StreamResponse, IggyError> {
    Ok(StreamResponse {
        id: stream.id,
        created_at: stream.created_at,
        topics_count: stream.topics.len() as u32,
        size_bytes: stream.size_bytes(),
        messages_count: stream.messages_count(),
        name: wire_name(&stream.name)?,
    })
}

pub(super) fn stream_details(stream: &Stream) -> Result<GetStreamResponse, IggyError> {
    Ok(GetStreamResponse {
        stream: stream_response(stream)?,
        topics: stream
            .topics
            .values()
            .map(topic_header)
            .collect::<Result<_, _>>()?,
    })
}

pub(super) fn topic_header(topic: &Topic) -> Result<TopicHeader, IggyError> {
    Ok(TopicHeader {
        id: topic.id,
        created_at: topic.created_at,
        partitions_count: topic.partitions_count(),
        message_expiry: topic.message_expiry,
        compression_algorithm: topic.compression_algorithm,
        // "Server default" resolves to unlimited here, as with a default server config.
        max_topic_size: match topic.max_topic_size {
            0 => u64::MAX,
            size => size,
        },
        replication_factor: topic.replication_factor,
        size_bytes: topic.size_bytes(),
        messages_count: topic.messages_count(),
        name: wire_name(&topic.name)?,
    })
}

pub(super) fn topic_details(topic: &Topic) -> Result<GetTopicResponse, IggyError> {
    Ok(GetTopicResponse {
        topic: topic_header(topic)?,
        partitions: topic
            .partitions
            .iter()
            .map(|p| PartitionResponse {
                id: p.id,
                created_at: p.created_at,
                segments_count: 1,
                current_offset: p.current_offset(),
                size_bytes: p.size_bytes(),
                messages_count: p.messages_count(),
            })
            .collect(),
    })
}

pub(super) fn create_topic(
    shared: &Shared,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), IggyError> {
    let req: CreateTopicRequest = decode(payload)?;
    CompressionAlgorithm::from_code(req.compression_algorithm)?;
    let mut state = shared.lock();
    let (sid, tid) = state.create_topic(
        &req.stream_id,
        req.name.as_str(),
        req.partitions_count,
        req.compression_algorithm,
        req.message_expiry,
        req.max_topic_size,
        req.replication_factor,
    )?;
    put(out, &topic_details(&state.streams[&sid].topics[&tid])?);
    Ok(())
}

pub(super) fn group_response(
    topic: &Topic,
    group: &ConsumerGroup,
) -> Result<ConsumerGroupResponse, IggyError> {
    Ok(ConsumerGroupResponse {
        id: group.id,
        partitions_count: topic.partitions_count(),
        members_count: group.members_count() as u32,
        name: wire_name(&group.name)?,
    })
}

pub(super) fn group_details(
    topic: &Topic,
    group: &ConsumerGroup,
) -> Result<ConsumerGroupDetailsResponse, IggyError> {
    Ok(ConsumerGroupDetailsResponse {
        group: group_response(topic, group)?,
        // Like the server: the member id (not the client id), and every partition the member
        // holds, including one it is handing over.
        members: group
            .members()
            .map(|m| ConsumerGroupMemberResponse {
                id: m.id,
                partitions_count: m.partitions.len() as u32,
                partitions: m.partitions.clone(),
            })
            .collect(),
    })
}
