//! Login, tokens, users and system information commands.

use crate::state::{self, State, Stream, Topic};
use bytes::BytesMut;
use iggy_binary_protocol::WireIdentifier;
use iggy_binary_protocol::requests::personal_access_tokens::*;
use iggy_binary_protocol::requests::users::{GetUserRequest, LoginUserRequest};
use iggy_binary_protocol::responses::clients::client_response::{
    ClientResponse, ConsumerGroupInfoResponse,
};
use iggy_binary_protocol::responses::clients::get_client::ClientDetailsResponse;
use iggy_binary_protocol::responses::clients::get_clients::GetClientsResponse;
use iggy_binary_protocol::responses::personal_access_tokens::get_personal_access_tokens::{
    GetPersonalAccessTokensResponse, PersonalAccessTokenResponse,
};
use iggy_binary_protocol::responses::system::{
    ClusterMetadataResponse, ClusterNodeResponse, StatsResponse,
};
use iggy_binary_protocol::responses::users::UserDetailsResponse;
use iggy_binary_protocol::responses::users::login_user::IdentityResponse;
use iggy_binary_protocol::responses::users::user_response::UserResponse;
use iggy_common::{ClusterNodeRole, ClusterNodeStatus, IggyError};

use super::{NO_USER, Session, Shared, TRANSPORT_TCP, USER_ACTIVE, decode, put, wire_name};
// ---- auth -------------------------------------------------------------------------------

pub(super) fn login_user(
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

pub(super) fn login_with_pat(
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

pub(super) fn root_user(state: &State) -> Result<UserResponse, IggyError> {
    Ok(UserResponse {
        id: state::ROOT_USER_ID,
        created_at: state.user_created_at,
        status: USER_ACTIVE,
        username: wire_name(&state.username)?,
    })
}

pub(super) fn get_user(
    shared: &Shared,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), IggyError> {
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

pub(super) fn get_pats(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
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

pub(super) fn get_stats(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
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
pub(super) fn cluster_metadata(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
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

pub(super) fn client_response(state: &State, client_id: u32) -> Option<ClientResponse> {
    let client = state.clients.get(&client_id)?;
    Some(ClientResponse {
        client_id,
        user_id: client.user_id.unwrap_or(NO_USER),
        transport: TRANSPORT_TCP,
        address: client.address.to_string(),
        consumer_groups_count: state.client_groups(client_id).len() as u32,
    })
}

pub(super) fn get_client(
    shared: &Shared,
    client_id: u32,
    out: &mut BytesMut,
) -> Result<(), IggyError> {
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

pub(super) fn get_clients(shared: &Shared, out: &mut BytesMut) -> Result<(), IggyError> {
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
