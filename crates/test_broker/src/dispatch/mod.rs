//! Command dispatch: decode the request with `iggy_binary_protocol`, act on [`State`], encode the
//! response with `iggy_binary_protocol` (or, for polls, copy stored message bytes directly).
//!
//! Conventions copied from the server: `get_*` of something missing answers OK with an empty
//! payload (the client maps that to `None`); every other failure is an `IggyError` status.

mod messages;
mod resources;
mod system;

use crate::state::{State, numeric, to_identifier};
use bytes::BytesMut;
use iggy_binary_protocol::WireName;
use iggy_binary_protocol::codec::{WireDecode, WireEncode};
use iggy_binary_protocol::codes::*;
use iggy_binary_protocol::requests::consumer_groups::*;
use iggy_binary_protocol::requests::partitions::*;
use iggy_binary_protocol::requests::personal_access_tokens::*;
use iggy_binary_protocol::requests::streams::*;
use iggy_binary_protocol::requests::system::GetClientRequest;
use iggy_binary_protocol::requests::topics::*;
use iggy_binary_protocol::responses::consumer_groups::get_consumer_groups::GetConsumerGroupsResponse;
use iggy_binary_protocol::responses::personal_access_tokens::create_personal_access_token::RawPersonalAccessTokenResponse;
use iggy_binary_protocol::responses::streams::get_streams::GetStreamsResponse;
use iggy_binary_protocol::responses::topics::get_topics::GetTopicsResponse;
use iggy_binary_protocol::responses::users::GetUsersResponse;
use iggy_common::{CompressionAlgorithm, IggyError};
use messages::*;
use resources::*;
use std::net::SocketAddr;
use std::sync::Mutex;
use system::*;

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
            state
                .topic_mut(&req.stream_id, &req.topic_id)?
                .join_group(&req.group_id, session.client_id)
        }
        LEAVE_CONSUMER_GROUP_CODE => {
            let req: LeaveConsumerGroupRequest = decode(payload)?;
            let mut state = shared.lock();
            let topic = state.topic_mut(&req.stream_id, &req.topic_id)?;
            let topic_ident = numeric(topic.id);
            let group = topic.group_mut(&req.group_id)?;
            if group.leave(session.client_id) {
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
