//! Command dispatch: decode the request with `iggy_binary_protocol`, act on [`State`], encode the
//! response with `iggy_binary_protocol` (or, for polls, copy stored message bytes directly).
//!
//! Conventions copied from the server: `get_*` of something missing answers OK with an empty
//! payload (the client maps that to `None`); every other failure is an `IggyError` status.

use crate::state::groups::ConsumerGroup;
use crate::state::partition::{ConsumerKey, message_size};
use crate::state::{self, State, Stream, Topic, numeric, to_identifier};
use bytes::{BufMut, BytesMut};
use iggy_binary_protocol::codec::{WireDecode, WireEncode};
use iggy_binary_protocol::codes::*;
use iggy_binary_protocol::message_layout::{
    MSG_PAYLOAD_LEN_OFFSET, MSG_USER_HEADERS_LEN_OFFSET, WIRE_MESSAGE_HEADER_SIZE,
    WIRE_MESSAGE_INDEX_SIZE,
};
use iggy_binary_protocol::requests::consumer_groups::*;
use iggy_binary_protocol::requests::consumer_offsets::*;
use iggy_binary_protocol::requests::messages::{
    FlushUnsavedBufferRequest, PollMessagesRequest, SendMessagesHeader,
};
use iggy_binary_protocol::requests::partitions::*;
use iggy_binary_protocol::requests::personal_access_tokens::*;
use iggy_binary_protocol::requests::streams::*;
use iggy_binary_protocol::requests::system::GetClientRequest;
use iggy_binary_protocol::requests::topics::*;
use iggy_binary_protocol::requests::users::{GetUserRequest, LoginUserRequest};
use iggy_binary_protocol::responses::clients::client_response::{
    ClientResponse, ConsumerGroupInfoResponse,
};
use iggy_binary_protocol::responses::clients::get_client::ClientDetailsResponse;
use iggy_binary_protocol::responses::clients::get_clients::GetClientsResponse;
use iggy_binary_protocol::responses::consumer_groups::consumer_group_response::ConsumerGroupResponse;
use iggy_binary_protocol::responses::consumer_groups::get_consumer_group::{
    ConsumerGroupDetailsResponse, ConsumerGroupMemberResponse,
};
use iggy_binary_protocol::responses::consumer_groups::get_consumer_groups::GetConsumerGroupsResponse;
use iggy_binary_protocol::responses::consumer_offsets::get_consumer_offset::ConsumerOffsetResponse;
use iggy_binary_protocol::responses::personal_access_tokens::create_personal_access_token::RawPersonalAccessTokenResponse;
use iggy_binary_protocol::responses::personal_access_tokens::get_personal_access_tokens::{
    GetPersonalAccessTokensResponse, PersonalAccessTokenResponse,
};
use iggy_binary_protocol::responses::streams::StreamResponse;
use iggy_binary_protocol::responses::streams::get_stream::{GetStreamResponse, TopicHeader};
use iggy_binary_protocol::responses::streams::get_streams::GetStreamsResponse;
use iggy_binary_protocol::responses::system::{
    ClusterMetadataResponse, ClusterNodeResponse, StatsResponse,
};
use iggy_binary_protocol::responses::topics::get_topic::{GetTopicResponse, PartitionResponse};
use iggy_binary_protocol::responses::topics::get_topics::GetTopicsResponse;
use iggy_binary_protocol::responses::users::login_user::IdentityResponse;
use iggy_binary_protocol::responses::users::user_response::UserResponse;
use iggy_binary_protocol::responses::users::{GetUsersResponse, UserDetailsResponse};
use iggy_binary_protocol::{
    WireConsumer, WireIdentifier, WireName, WirePartitioning, validate_user_headers,
};
use iggy_common::{ClusterNodeRole, ClusterNodeStatus, CompressionAlgorithm, IggyError};
use std::net::SocketAddr;
use std::sync::Mutex;

/// Wire code for `Consumer` (vs. 2 for `ConsumerGroup`) in `WireConsumer::kind`.
const CONSUMER_KIND_CONSUMER: u8 = 1;
/// `WirePollingStrategy::kind` values, as in `iggy_common::PollingKind::as_code`.
const POLL_OFFSET: u8 = 1;
const POLL_TIMESTAMP: u8 = 2;
const POLL_FIRST: u8 = 3;
const POLL_LAST: u8 = 4;
const POLL_NEXT: u8 = 5;
/// Transport code for TCP in `ClientResponse::transport`.
const TRANSPORT_TCP: u8 = 1;
/// `ClientResponse::user_id` when the connection has not logged in.
const NO_USER: u32 = u32::MAX;
/// `UserStatus::Active.as_code()`.
const USER_ACTIVE: u8 = 1;

/// State shared by all connections.
pub struct Shared {
    pub state: Mutex<State>,
    pub local_addr: SocketAddr,
}

impl Shared {
    /// Locks the state. A panic while holding the lock (a bug) must not take every other
    /// connection down with it, so a poisoned lock is recovered.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Per-connection view.
pub struct Session {
    pub client_id: u32,
    pub address: SocketAddr,
    pub authenticated: bool,
}

fn decode<T: WireDecode>(payload: &[u8]) -> Result<T, IggyError> {
    T::decode_from(payload).map_err(|error| {
        tracing::debug!("test broker: malformed request: {error}");
        IggyError::InvalidFormat
    })
}

fn put<T: WireEncode>(out: &mut BytesMut, value: &T) {
    value.encode(out);
}

fn wire_name(name: &str) -> Result<WireName, IggyError> {
    WireName::new(name).map_err(|_| IggyError::InvalidFormat)
}

/// Handles one request. On success the response payload has been appended to `out` (after the
/// header space reserved by the caller); on error nothing useful is in `out`.
pub fn handle(
    shared: &Shared,
    session: &mut Session,
    code: u32,
    payload: &mut [u8],
    out: &mut BytesMut,
) -> Result<(), IggyError> {
    match code {
        PING_CODE => return Ok(()),
        LOGIN_USER_CODE => return login_user(shared, session, payload, out),
        LOGIN_WITH_PERSONAL_ACCESS_TOKEN_CODE => {
            return login_with_pat(shared, session, payload, out);
        }
        _ => {}
    }
    if iggy_binary_protocol::codes::command_name(code).is_err() {
        return Err(IggyError::InvalidCommand);
    }
    if !session.authenticated {
        return Err(IggyError::Unauthenticated);
    }
    match code {
        SEND_MESSAGES_CODE => send_messages(shared, payload),
        POLL_MESSAGES_CODE => poll_messages(shared, session, payload, out),
        FLUSH_UNSAVED_BUFFER_CODE => flush(shared, payload),
        STORE_CONSUMER_OFFSET_CODE => store_offset(shared, session, payload),
        GET_CONSUMER_OFFSET_CODE => get_offset(shared, session, payload, out),
        DELETE_CONSUMER_OFFSET_CODE => delete_offset(shared, session, payload),
        GET_STATS_CODE => get_stats(shared, out),
        GET_CLUSTER_METADATA_CODE => cluster_metadata(shared, out),
        GET_ME_CODE => get_client(shared, session.client_id, out),
        GET_CLIENT_CODE => {
            let req: GetClientRequest = decode(payload)?;
            get_client(shared, req.client_id, out)
        }
        GET_CLIENTS_CODE => get_clients(shared, out),
        LOGOUT_USER_CODE => {
            shared.lock().logout(session.client_id);
            session.authenticated = false;
            Ok(())
        }
        GET_USER_CODE => get_user(shared, payload, out),
        GET_USERS_CODE => {
            let state = shared.lock();
            put(
                out,
                &GetUsersResponse {
                    users: vec![root_user(&state)?],
                },
            );
            Ok(())
        }
        GET_PERSONAL_ACCESS_TOKENS_CODE => get_pats(shared, out),
        CREATE_PERSONAL_ACCESS_TOKEN_CODE => {
            let req: CreatePersonalAccessTokenRequest = decode(payload)?;
            let token = shared.lock().create_pat(req.name.as_str(), req.expiry)?;
            put(
                out,
                &RawPersonalAccessTokenResponse {
                    token: wire_name(&token)?,
                },
            );
            Ok(())
        }
        DELETE_PERSONAL_ACCESS_TOKEN_CODE => {
            let req: DeletePersonalAccessTokenRequest = decode(payload)?;
            shared.lock().delete_pat(req.name.as_str())
        }
        GET_STREAM_CODE => {
            let req: GetStreamRequest = decode(payload)?;
            let state = shared.lock();
            if let Ok(stream) = state.stream(&req.stream_id) {
                put(out, &stream_details(stream)?);
            }
            Ok(())
        }
        GET_STREAMS_CODE => {
            let state = shared.lock();
            let streams = state
                .streams
                .values()
                .map(stream_response)
                .collect::<Result<_, _>>()?;
            put(out, &GetStreamsResponse { streams });
            Ok(())
        }
        CREATE_STREAM_CODE => {
            let req: CreateStreamRequest = decode(payload)?;
            let mut state = shared.lock();
            let id = state.create_stream(req.name.as_str())?;
            put(out, &stream_details(&state.streams[&id])?);
            Ok(())
        }
        UPDATE_STREAM_CODE => {
            let req: UpdateStreamRequest = decode(payload)?;
            shared
                .lock()
                .update_stream(&req.stream_id, req.name.as_str())
        }
        DELETE_STREAM_CODE => {
            let req: DeleteStreamRequest = decode(payload)?;
            shared.lock().delete_stream(&req.stream_id)
        }
        PURGE_STREAM_CODE => {
            let req: PurgeStreamRequest = decode(payload)?;
            shared.lock().purge_stream(&req.stream_id)
        }
        GET_TOPIC_CODE => {
            let req: GetTopicRequest = decode(payload)?;
            let state = shared.lock();
            if let Ok(topic) = state.topic(&req.stream_id, &req.topic_id) {
                put(out, &topic_details(topic)?);
            }
            Ok(())
        }
        GET_TOPICS_CODE => {
            let req: GetTopicsRequest = decode(payload)?;
            let state = shared.lock();
            let stream = state.stream(&req.stream_id)?;
            let topics = stream
                .topics
                .values()
                .map(topic_header)
                .collect::<Result<_, _>>()?;
            put(out, &GetTopicsResponse { topics });
            Ok(())
        }
        CREATE_TOPIC_CODE => create_topic(shared, payload, out),
        UPDATE_TOPIC_CODE => {
            let req: UpdateTopicRequest = decode(payload)?;
            CompressionAlgorithm::from_code(req.compression_algorithm)?;
            shared.lock().update_topic(
                &req.stream_id,
                &req.topic_id,
                req.name.as_str(),
                req.compression_algorithm,
                req.message_expiry,
                req.max_topic_size,
                req.replication_factor,
            )
        }
        DELETE_TOPIC_CODE => {
            let req: DeleteTopicRequest = decode(payload)?;
            shared.lock().delete_topic(&req.stream_id, &req.topic_id)
        }
        PURGE_TOPIC_CODE => {
            let req: PurgeTopicRequest = decode(payload)?;
            shared.lock().purge_topic(&req.stream_id, &req.topic_id)
        }
        CREATE_PARTITIONS_CODE => {
            let req: CreatePartitionsRequest = decode(payload)?;
            shared
                .lock()
                .create_partitions(&req.stream_id, &req.topic_id, req.partitions_count)
        }
        DELETE_PARTITIONS_CODE => {
            let req: DeletePartitionsRequest = decode(payload)?;
            shared
                .lock()
                .delete_partitions(&req.stream_id, &req.topic_id, req.partitions_count)
        }
        GET_CONSUMER_GROUP_CODE => {
            let req: GetConsumerGroupRequest = decode(payload)?;
            let state = shared.lock();
            if let Ok(topic) = state.topic(&req.stream_id, &req.topic_id)
                && let Some(gid) = topic.find_group(&req.group_id)
            {
                put(out, &group_details(topic, &topic.groups[&gid])?);
            }
            Ok(())
        }
        GET_CONSUMER_GROUPS_CODE => {
            let req: GetConsumerGroupsRequest = decode(payload)?;
            let state = shared.lock();
            let topic = state.topic(&req.stream_id, &req.topic_id)?;
            let groups = topic
                .groups
                .values()
                .map(|g| group_response(topic, g))
                .collect::<Result<_, _>>()?;
            put(out, &GetConsumerGroupsResponse { groups });
            Ok(())
        }
        CREATE_CONSUMER_GROUP_CODE => {
            let req: CreateConsumerGroupRequest = decode(payload)?;
            let mut state = shared.lock();
            let gid = state.create_group(&req.stream_id, &req.topic_id, req.name.as_str())?;
            let topic = state.topic(&req.stream_id, &req.topic_id)?;
            put(out, &group_details(topic, &topic.groups[&gid])?);
            Ok(())
        }
        DELETE_CONSUMER_GROUP_CODE => {
            let req: DeleteConsumerGroupRequest = decode(payload)?;
            shared
                .lock()
                .delete_group(&req.stream_id, &req.topic_id, &req.group_id)
        }
        JOIN_CONSUMER_GROUP_CODE => {
            let req: JoinConsumerGroupRequest = decode(payload)?;
            let mut state = shared.lock();
            let topic = state.topic_mut(&req.stream_id, &req.topic_id)?;
            let partitions = topic.partitions_count();
            topic
                .group_mut(&req.group_id)?
                .join(session.client_id, partitions);
            Ok(())
        }
        LEAVE_CONSUMER_GROUP_CODE => {
            let req: LeaveConsumerGroupRequest = decode(payload)?;
            let mut state = shared.lock();
            let topic = state.topic_mut(&req.stream_id, &req.topic_id)?;
            let partitions = topic.partitions_count();
            let topic_ident = numeric(topic.id);
            let group = topic.group_mut(&req.group_id)?;
            if group.leave(session.client_id, partitions) {
                Ok(())
            } else {
                Err(IggyError::ConsumerGroupMemberNotFound(
                    session.client_id,
                    to_identifier(&req.group_id),
                    topic_ident,
                ))
            }
        }
        // Users other than the built-in one, segments and snapshots are out of scope.
        _ => Err(IggyError::FeatureUnavailable),
    }
}

// ---- auth -------------------------------------------------------------------------------

fn login_user(
    shared: &Shared,
    session: &mut Session,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), IggyError> {
    let req: LoginUserRequest = decode(payload)?;
    let user_id = shared
        .lock()
        .login(session.client_id, req.username.as_str(), &req.password)?;
    session.authenticated = true;
    put(out, &IdentityResponse { user_id });
    Ok(())
}

fn login_with_pat(
    shared: &Shared,
    session: &mut Session,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), IggyError> {
    let req: LoginWithPersonalAccessTokenRequest = decode(payload)?;
    let user_id = shared
        .lock()
        .login_with_token(session.client_id, req.token.as_str())?;
    session.authenticated = true;
    put(out, &IdentityResponse { user_id });
    Ok(())
}

fn root_user(state: &State) -> Result<UserResponse, IggyError> {
    Ok(UserResponse {
        id: state::ROOT_USER_ID,
        created_at: state.user_created_at,
        status: USER_ACTIVE,
        username: wire_name(&state.username)?,
    })
}

fn get_user(shared: &Shared, payload: &[u8], out: &mut BytesMut) -> Result<(), IggyError> {
    let req: GetUserRequest = decode(payload)?;
    let state = shared.lock();
    let is_root = match &req.user_id {
        WireIdentifier::Numeric(id) => *id == state::ROOT_USER_ID,
        WireIdentifier::String(name) => name.as_str() == state.username,
    };
    if is_root {
        put(
            out,
            &UserDetailsResponse {
                user: root_user(&state)?,
                permissions: None,
            },
        );
    }
    Ok(())
}

fn get_pats(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
    let state = shared.lock();
    let tokens = state
        .pats
        .iter()
        .map(|p| {
            Ok(PersonalAccessTokenResponse {
                name: wire_name(&p.name)?,
                expiry_at: p.expiry_at.unwrap_or(0),
            })
        })
        .collect::<Result<_, IggyError>>()?;
    put(out, &GetPersonalAccessTokensResponse { tokens });
    Ok(())
}

// ---- system -----------------------------------------------------------------------------

fn get_stats(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
    let state = shared.lock();
    let now = state::now_micros();
    let topics = state.streams.values().map(|s| s.topics.len() as u32).sum();
    let partitions = state
        .streams
        .values()
        .flat_map(|s| s.topics.values())
        .map(Topic::partitions_count)
        .sum();
    let groups = state
        .streams
        .values()
        .flat_map(|s| s.topics.values())
        .map(|t| t.groups.len() as u32)
        .sum();
    put(
        out,
        &StatsResponse {
            process_id: std::process::id(),
            cpu_usage: 0.0,
            total_cpu_usage: 0.0,
            memory_usage: state.total_bytes,
            total_memory: state.max_bytes.unwrap_or(0),
            available_memory: state
                .max_bytes
                .map_or(0, |max| max.saturating_sub(state.total_bytes)),
            run_time: now.saturating_sub(state.started_at),
            start_time: state.started_at,
            read_bytes: 0,
            written_bytes: 0,
            messages_size_bytes: state.total_bytes,
            streams_count: state.streams.len() as u32,
            topics_count: topics,
            partitions_count: partitions,
            segments_count: partitions,
            messages_count: state.streams.values().map(Stream::messages_count).sum(),
            clients_count: state.clients.len() as u32,
            consumer_groups_count: groups,
            hostname: "localhost".to_owned(),
            os_name: std::env::consts::OS.to_owned(),
            os_version: String::new(),
            kernel_version: String::new(),
            iggy_server_version: concat!("iggy-test-broker ", env!("CARGO_PKG_VERSION")).to_owned(),
            iggy_server_semver: None,
            cache_metrics: Vec::new(),
            threads_count: 1,
            free_disk_space: 0,
            total_disk_space: 0,
        },
    );
    Ok(())
}

/// A single healthy leader, so the client never tries to redirect.
fn cluster_metadata(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
    put(
        out,
        &ClusterMetadataResponse {
            name: "iggy-test-broker".to_owned(),
            nodes: vec![ClusterNodeResponse {
                name: "iggy-test-broker".to_owned(),
                ip: shared.local_addr.ip().to_string(),
                tcp_port: shared.local_addr.port(),
                quic_port: 0,
                http_port: 0,
                websocket_port: 0,
                role: ClusterNodeRole::Leader as u8,
                status: ClusterNodeStatus::Healthy as u8,
            }],
        },
    );
    Ok(())
}

fn client_response(state: &State, client_id: u32) -> Option<ClientResponse> {
    let client = state.clients.get(&client_id)?;
    Some(ClientResponse {
        client_id,
        user_id: client.user_id.unwrap_or(NO_USER),
        transport: TRANSPORT_TCP,
        address: client.address.to_string(),
        consumer_groups_count: state.client_groups(client_id).len() as u32,
    })
}

fn get_client(shared: &Shared, client_id: u32, out: &mut BytesMut) -> Result<(), IggyError> {
    let state = shared.lock();
    if let Some(client) = client_response(&state, client_id) {
        let consumer_groups = state
            .client_groups(client_id)
            .into_iter()
            .map(
                |(stream_id, topic_id, group_id)| ConsumerGroupInfoResponse {
                    stream_id,
                    topic_id,
                    group_id,
                },
            )
            .collect();
        put(
            out,
            &ClientDetailsResponse {
                client,
                consumer_groups,
            },
        );
    }
    Ok(())
}

fn get_clients(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
    let state = shared.lock();
    let mut ids: Vec<u32> = state.clients.keys().copied().collect();
    ids.sort_unstable();
    let clients = ids
        .into_iter()
        .filter_map(|id| client_response(&state, id))
        .collect();
    put(out, &GetClientsResponse { clients });
    Ok(())
}

// ---- streams, topics, groups ------------------------------------------------------------

fn stream_response(stream: &Stream) -> Result<StreamResponse, IggyError> {
    Ok(StreamResponse {
        id: stream.id,
        created_at: stream.created_at,
        topics_count: stream.topics.len() as u32,
        size_bytes: stream.size_bytes(),
        messages_count: stream.messages_count(),
        name: wire_name(&stream.name)?,
    })
}

fn stream_details(stream: &Stream) -> Result<GetStreamResponse, IggyError> {
    Ok(GetStreamResponse {
        stream: stream_response(stream)?,
        topics: stream
            .topics
            .values()
            .map(topic_header)
            .collect::<Result<_, _>>()?,
    })
}

fn topic_header(topic: &Topic) -> Result<TopicHeader, IggyError> {
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

fn topic_details(topic: &Topic) -> Result<GetTopicResponse, IggyError> {
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

fn create_topic(shared: &Shared, payload: &[u8], out: &mut BytesMut) -> Result<(), IggyError> {
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

fn group_response(
    topic: &Topic,
    group: &ConsumerGroup,
) -> Result<ConsumerGroupResponse, IggyError> {
    Ok(ConsumerGroupResponse {
        id: group.id,
        partitions_count: topic.partitions_count(),
        members_count: group.members.len() as u32,
        name: wire_name(&group.name)?,
    })
}

fn group_details(
    topic: &Topic,
    group: &ConsumerGroup,
) -> Result<ConsumerGroupDetailsResponse, IggyError> {
    Ok(ConsumerGroupDetailsResponse {
        group: group_response(topic, group)?,
        members: group
            .members
            .iter()
            .map(|m| ConsumerGroupMemberResponse {
                id: m.client_id,
                partitions_count: m.partitions.len() as u32,
                partitions: m.partitions.clone(),
            })
            .collect(),
    })
}

// ---- messages ---------------------------------------------------------------------------

/// Checks the messages region of a send request: exactly `count` whole messages, non-empty
/// payloads, well-formed user headers. Done before taking the lock.
fn validate_messages(messages: &[u8], count: u32) -> Result<(), IggyError> {
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

fn send_messages(shared: &Shared, payload: &mut [u8]) -> Result<(), IggyError> {
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
/// does: a consumer uses the given partition (default 0); a group uses the given partition, or
/// for polls the member's next assigned partition, or otherwise the member's last polled one.
/// `Ok(None)` means a group member with no partition assigned.
fn resolve_consumer(
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
    if let Some(partition) = partition_id {
        return Ok(Some((partition, key)));
    }
    let group_ident = numeric(group.id);
    let member = group
        .member_mut(client_id)
        .ok_or(IggyError::ConsumerGroupMemberNotFound(
            client_id,
            group_ident,
            topic_ident,
        ))?;
    let partition = if for_poll {
        member.next_partition()
    } else {
        member
            .last_polled
            .or_else(|| member.partitions.first().copied())
    };
    Ok(partition.map(|p| (p, key)))
}

fn poll_messages(
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
        // No partition for this member: the server answers an empty poll for partition 0.
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
    if req.auto_commit && count > 0 {
        partition.offsets.insert(key, start + u64::from(count) - 1);
        state.save();
    }
    Ok(())
}

fn flush(shared: &Shared, payload: &[u8]) -> Result<(), IggyError> {
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

fn store_offset(shared: &Shared, session: &Session, payload: &[u8]) -> Result<(), IggyError> {
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
        return Err(IggyError::PartitionNotFound(
            0,
            numeric(topic.id),
            numeric(sid),
        ));
    };
    let partition = topic.partition_mut(partition_id, sid)?;
    // As on the server: an offset beyond the newest message cannot be committed.
    if req.offset > partition.current_offset() {
        return Err(IggyError::InvalidOffset(req.offset));
    }
    partition.offsets.insert(key, req.offset);
    state.save();
    Ok(())
}

fn get_offset(
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
    let Some((partition_id, key)) = resolve_consumer(
        topic,
        &req.consumer,
        req.partition_id,
        session.client_id,
        false,
    )?
    else {
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

fn delete_offset(shared: &Shared, session: &Session, payload: &[u8]) -> Result<(), IggyError> {
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
