//! The broker's in-memory model: streams → topics → partitions, consumer groups, the built-in
//! user, personal access tokens and connected clients. Every method returns Iggy's own error for
//! a failure so the dispatcher can put `IggyError::as_code()` on the wire unchanged.

pub mod groups;
pub mod partition;
mod rebalance;

use crate::persist::{GroupMeta, PartitionMeta, PatMeta, Persist, Snapshot, StreamMeta, TopicMeta};
use groups::ConsumerGroup;
use iggy_binary_protocol::WireIdentifier;
use iggy_common::{Identifier, IggyError, IggyTimestamp};
use partition::Partition;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Id of the built-in user (Iggy numbers everything from 0).
pub const ROOT_USER_ID: u32 = 0;
/// Iggy's `MAX_PARTITIONS_COUNT`.
pub const MAX_PARTITIONS: u32 = 1000;

pub fn now_micros() -> u64 {
    IggyTimestamp::now().as_micros()
}

#[derive(Debug)]
pub struct Topic {
    pub id: u32,
    pub name: String,
    pub created_at: u64,
    pub partitions: Vec<Partition>,
    pub compression_algorithm: u8,
    pub message_expiry: u64,
    pub max_topic_size: u64,
    pub replication_factor: u8,
    pub groups: BTreeMap<u32, ConsumerGroup>,
    pub next_group_id: u32,
    /// Next partition for `Partitioning::Balanced` (round-robin, as the server does).
    pub balanced_cursor: u32,
}

impl Topic {
    pub fn size_bytes(&self) -> u64 {
        self.partitions.iter().map(Partition::size_bytes).sum()
    }

    pub fn messages_count(&self) -> u64 {
        self.partitions.iter().map(Partition::messages_count).sum()
    }

    pub fn partitions_count(&self) -> u32 {
        self.partitions.len() as u32
    }

    pub fn find_group(&self, id: &WireIdentifier) -> Option<u32> {
        match id {
            WireIdentifier::Numeric(n) => self.groups.contains_key(n).then_some(*n),
            WireIdentifier::String(name) => self
                .groups
                .values()
                .find(|g| g.name == name.as_str())
                .map(|g| g.id),
        }
    }

    pub fn group_mut(&mut self, id: &WireIdentifier) -> Result<&mut ConsumerGroup, IggyError> {
        let topic = Identifier::numeric(self.id).unwrap_or_default();
        match self.find_group(id) {
            Some(gid) => Ok(self.groups.get_mut(&gid).expect("group id was just found")),
            None => Err(group_not_found(id, topic)),
        }
    }

    /// The client joins the group; revocations already settled by the group's stored offsets
    /// complete at once, as on the server.
    pub fn join_group(&mut self, group: &WireIdentifier, client_id: u32) -> Result<(), IggyError> {
        let gid = self.group_mut(group)?.id;
        let key = partition::ConsumerKey::Group(gid);
        let Topic {
            groups, partitions, ..
        } = self;
        let committed = |p: u32| {
            partitions
                .get(p as usize)
                .and_then(|partition| partition.offsets.get(&key).copied())
        };
        groups
            .get_mut(&gid)
            .expect("group id was just found")
            .join(client_id, committed);
        Ok(())
    }

    pub fn partition_mut(&mut self, id: u32, stream_id: u32) -> Result<&mut Partition, IggyError> {
        let topic_id = self.id;
        self.partitions.get_mut(id as usize).ok_or_else(|| {
            IggyError::PartitionNotFound(id as usize, numeric(topic_id), numeric(stream_id))
        })
    }
}

#[derive(Debug)]
pub struct Stream {
    pub id: u32,
    pub name: String,
    pub created_at: u64,
    pub topics: BTreeMap<u32, Topic>,
    pub next_topic_id: u32,
}

impl Stream {
    pub fn size_bytes(&self) -> u64 {
        self.topics.values().map(Topic::size_bytes).sum()
    }

    pub fn messages_count(&self) -> u64 {
        self.topics.values().map(Topic::messages_count).sum()
    }

    pub fn find_topic(&self, id: &WireIdentifier) -> Option<u32> {
        match id {
            WireIdentifier::Numeric(n) => self.topics.contains_key(n).then_some(*n),
            WireIdentifier::String(name) => self
                .topics
                .values()
                .find(|t| t.name == name.as_str())
                .map(|t| t.id),
        }
    }
}

#[derive(Debug)]
pub struct Pat {
    pub name: String,
    pub token: String,
    /// Absolute expiry in µs since the epoch; `None` never expires.
    pub expiry_at: Option<u64>,
}

#[derive(Debug)]
pub struct ClientSession {
    pub address: SocketAddr,
    pub user_id: Option<u32>,
}

pub struct State {
    pub streams: BTreeMap<u32, Stream>,
    pub next_stream_id: u32,
    pub username: String,
    pub password: String,
    pub user_created_at: u64,
    pub pats: Vec<Pat>,
    pub clients: HashMap<u32, ClientSession>,
    pub next_client_id: u32,
    /// Message bytes held across all partitions, checked against `max_bytes` on every send.
    pub total_bytes: u64,
    pub max_bytes: Option<u64>,
    pub started_at: u64,
    pub persist: Option<Persist>,
}

pub fn numeric(id: u32) -> Identifier {
    Identifier::numeric(id).unwrap_or_default()
}

pub fn to_identifier(id: &WireIdentifier) -> Identifier {
    match id {
        WireIdentifier::Numeric(n) => numeric(*n),
        WireIdentifier::String(name) => Identifier::named(name.as_str()).unwrap_or_default(),
    }
}

fn stream_not_found(id: &WireIdentifier) -> IggyError {
    match id {
        WireIdentifier::Numeric(_) => IggyError::StreamIdNotFound(to_identifier(id)),
        WireIdentifier::String(name) => IggyError::StreamNameNotFound(name.to_string()),
    }
}

fn topic_not_found(id: &WireIdentifier, stream: &Stream) -> IggyError {
    match id {
        WireIdentifier::Numeric(_) => {
            IggyError::TopicIdNotFound(to_identifier(id), numeric(stream.id))
        }
        WireIdentifier::String(name) => {
            IggyError::TopicNameNotFound(name.to_string(), stream.name.clone())
        }
    }
}

fn group_not_found(id: &WireIdentifier, topic: Identifier) -> IggyError {
    match id {
        WireIdentifier::Numeric(_) => IggyError::ConsumerGroupIdNotFound(to_identifier(id), topic),
        WireIdentifier::String(name) => {
            IggyError::ConsumerGroupNameNotFound(name.to_string(), topic)
        }
    }
}

impl State {
    pub fn new(username: String, password: String, max_bytes: Option<u64>) -> Self {
        let now = now_micros();
        Self {
            streams: BTreeMap::new(),
            next_stream_id: 0,
            username,
            password,
            user_created_at: now,
            pats: Vec::new(),
            clients: HashMap::new(),
            next_client_id: 1,
            total_bytes: 0,
            max_bytes,
            started_at: now,
            persist: None,
        }
    }

    pub fn find_stream(&self, id: &WireIdentifier) -> Option<u32> {
        match id {
            WireIdentifier::Numeric(n) => self.streams.contains_key(n).then_some(*n),
            WireIdentifier::String(name) => self
                .streams
                .values()
                .find(|s| s.name == name.as_str())
                .map(|s| s.id),
        }
    }

    pub fn stream(&self, id: &WireIdentifier) -> Result<&Stream, IggyError> {
        self.find_stream(id)
            .and_then(|sid| self.streams.get(&sid))
            .ok_or_else(|| stream_not_found(id))
    }

    pub fn stream_mut(&mut self, id: &WireIdentifier) -> Result<&mut Stream, IggyError> {
        match self.find_stream(id) {
            Some(sid) => Ok(self
                .streams
                .get_mut(&sid)
                .expect("stream id was just found")),
            None => Err(stream_not_found(id)),
        }
    }

    pub fn topic(&self, s: &WireIdentifier, t: &WireIdentifier) -> Result<&Topic, IggyError> {
        let stream = self.stream(s)?;
        stream
            .find_topic(t)
            .and_then(|tid| stream.topics.get(&tid))
            .ok_or_else(|| topic_not_found(t, stream))
    }

    pub fn topic_mut(
        &mut self,
        s: &WireIdentifier,
        t: &WireIdentifier,
    ) -> Result<&mut Topic, IggyError> {
        let stream = self.stream_mut(s)?;
        match stream.find_topic(t) {
            Some(tid) => Ok(stream
                .topics
                .get_mut(&tid)
                .expect("topic id was just found")),
            None => Err(topic_not_found(t, stream)),
        }
    }

    // ---- clients -------------------------------------------------------------------------

    pub fn add_client(&mut self, address: SocketAddr) -> u32 {
        let id = self.next_client_id;
        self.next_client_id = self.next_client_id.wrapping_add(1).max(1);
        self.clients.insert(
            id,
            ClientSession {
                address,
                user_id: None,
            },
        );
        id
    }

    /// A closed connection leaves every group it was in, which rebalances those groups.
    pub fn remove_client(&mut self, client_id: u32) {
        self.clients.remove(&client_id);
        for stream in self.streams.values_mut() {
            for topic in stream.topics.values_mut() {
                for group in topic.groups.values_mut() {
                    group.leave(client_id);
                }
            }
        }
    }

    /// Force-completes, in every group, the revocations pending for at least `timeout`;
    /// returns how many moved.
    pub fn expire_revocations(&mut self, timeout: Duration) -> usize {
        let now = Instant::now();
        let mut moved = 0;
        for stream in self.streams.values_mut() {
            for topic in stream.topics.values_mut() {
                for group in topic.groups.values_mut() {
                    moved += group.expire_revocations(now, timeout);
                }
            }
        }
        moved
    }

    /// `(stream, topic, group)` ids of every group the client is a member of.
    pub fn client_groups(&self, client_id: u32) -> Vec<(u32, u32, u32)> {
        let mut out = Vec::new();
        for stream in self.streams.values() {
            for topic in stream.topics.values() {
                for group in topic.groups.values() {
                    if group.member(client_id).is_some() {
                        out.push((stream.id, topic.id, group.id));
                    }
                }
            }
        }
        out
    }

    // ---- auth ----------------------------------------------------------------------------

    pub fn login(
        &mut self,
        client_id: u32,
        username: &str,
        password: &str,
    ) -> Result<u32, IggyError> {
        if username != self.username || password != self.password {
            return Err(IggyError::InvalidCredentials);
        }
        self.set_user(client_id, ROOT_USER_ID);
        Ok(ROOT_USER_ID)
    }

    pub fn login_with_token(&mut self, client_id: u32, token: &str) -> Result<u32, IggyError> {
        let pat = self
            .pats
            .iter()
            .find(|p| p.token == token)
            .ok_or(IggyError::InvalidPersonalAccessToken)?;
        if pat.expiry_at.is_some_and(|at| at <= now_micros()) {
            return Err(IggyError::PersonalAccessTokenExpired(
                pat.name.clone(),
                ROOT_USER_ID,
            ));
        }
        self.set_user(client_id, ROOT_USER_ID);
        Ok(ROOT_USER_ID)
    }

    fn set_user(&mut self, client_id: u32, user_id: u32) {
        if let Some(client) = self.clients.get_mut(&client_id) {
            client.user_id = Some(user_id);
        }
    }

    pub fn logout(&mut self, client_id: u32) {
        if let Some(client) = self.clients.get_mut(&client_id) {
            client.user_id = None;
        }
    }

    pub fn create_pat(&mut self, name: &str, expiry: u64) -> Result<String, IggyError> {
        if self.pats.iter().any(|p| p.name == name) {
            return Err(IggyError::PersonalAccessTokenAlreadyExists(
                name.to_owned(),
                ROOT_USER_ID,
            ));
        }
        // Same wire conventions as IggyExpiry: 0 = server default, MAX = never; both never here.
        let expiry_at = match expiry {
            0 | u64::MAX => None,
            micros => Some(now_micros().saturating_add(micros)),
        };
        let token = format!(
            "{:032x}{:032x}",
            iggy_common::random_id::get_uuid(),
            iggy_common::random_id::get_uuid()
        );
        self.pats.push(Pat {
            name: name.to_owned(),
            token: token.clone(),
            expiry_at,
        });
        self.save();
        Ok(token)
    }

    pub fn delete_pat(&mut self, name: &str) -> Result<(), IggyError> {
        let before = self.pats.len();
        self.pats.retain(|p| p.name != name);
        if self.pats.len() == before {
            return Err(IggyError::ResourceNotFound(name.to_owned()));
        }
        self.save();
        Ok(())
    }

    // ---- streams and topics --------------------------------------------------------------

    pub fn create_stream(&mut self, name: &str) -> Result<u32, IggyError> {
        if self.streams.values().any(|s| s.name == name) {
            return Err(IggyError::StreamNameAlreadyExists(name.to_owned()));
        }
        let id = self.next_stream_id;
        self.next_stream_id += 1;
        self.streams.insert(
            id,
            Stream {
                id,
                name: name.to_owned(),
                created_at: now_micros(),
                topics: BTreeMap::new(),
                next_topic_id: 0,
            },
        );
        self.save();
        Ok(id)
    }

    pub fn update_stream(&mut self, id: &WireIdentifier, name: &str) -> Result<(), IggyError> {
        let sid = self.stream(id)?.id;
        if self.streams.values().any(|s| s.name == name && s.id != sid) {
            return Err(IggyError::StreamNameAlreadyExists(name.to_owned()));
        }
        self.stream_mut(id)?.name = name.to_owned();
        self.save();
        Ok(())
    }

    pub fn delete_stream(&mut self, id: &WireIdentifier) -> Result<(), IggyError> {
        let sid = self.stream(id)?.id;
        let stream = self.streams.remove(&sid).expect("stream id was just found");
        self.total_bytes = self.total_bytes.saturating_sub(stream.size_bytes());
        if let Some(persist) = self.persist.as_mut() {
            persist.remove_stream(sid);
        }
        self.save();
        Ok(())
    }

    pub fn purge_stream(&mut self, id: &WireIdentifier) -> Result<(), IggyError> {
        let sid = self.stream(id)?.id;
        let topics: Vec<u32> = self.streams[&sid].topics.keys().copied().collect();
        for tid in topics {
            self.purge_topic_ids(sid, tid);
        }
        self.save();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_topic(
        &mut self,
        stream_id: &WireIdentifier,
        name: &str,
        partitions_count: u32,
        compression_algorithm: u8,
        message_expiry: u64,
        max_topic_size: u64,
        replication_factor: u8,
    ) -> Result<(u32, u32), IggyError> {
        if partitions_count > MAX_PARTITIONS {
            return Err(IggyError::InvalidPartitionsCount);
        }
        let stream = self.stream_mut(stream_id)?;
        if stream.topics.values().any(|t| t.name == name) {
            return Err(IggyError::TopicNameAlreadyExists(
                name.to_owned(),
                numeric(stream.id),
            ));
        }
        let id = stream.next_topic_id;
        stream.next_topic_id += 1;
        let now = now_micros();
        stream.topics.insert(
            id,
            Topic {
                id,
                name: name.to_owned(),
                created_at: now,
                partitions: (0..partitions_count)
                    .map(|p| Partition::new(p, now))
                    .collect(),
                compression_algorithm,
                message_expiry,
                max_topic_size,
                replication_factor: replication_factor.max(1),
                groups: BTreeMap::new(),
                next_group_id: 0,
                balanced_cursor: 0,
            },
        );
        let sid = stream.id;
        self.save();
        Ok((sid, id))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn update_topic(
        &mut self,
        stream_id: &WireIdentifier,
        topic_id: &WireIdentifier,
        name: &str,
        compression_algorithm: u8,
        message_expiry: u64,
        max_topic_size: u64,
        replication_factor: u8,
    ) -> Result<(), IggyError> {
        let stream = self.stream_mut(stream_id)?;
        let tid = stream
            .find_topic(topic_id)
            .ok_or_else(|| topic_not_found(topic_id, stream))?;
        if stream
            .topics
            .values()
            .any(|t| t.name == name && t.id != tid)
        {
            return Err(IggyError::TopicNameAlreadyExists(
                name.to_owned(),
                numeric(stream.id),
            ));
        }
        let topic = stream
            .topics
            .get_mut(&tid)
            .expect("topic id was just found");
        topic.name = name.to_owned();
        topic.compression_algorithm = compression_algorithm;
        topic.message_expiry = message_expiry;
        topic.max_topic_size = max_topic_size;
        topic.replication_factor = replication_factor.max(1);
        self.save();
        Ok(())
    }

    pub fn delete_topic(
        &mut self,
        s: &WireIdentifier,
        t: &WireIdentifier,
    ) -> Result<(), IggyError> {
        let stream = self.stream_mut(s)?;
        let tid = stream
            .find_topic(t)
            .ok_or_else(|| topic_not_found(t, stream))?;
        let sid = stream.id;
        let topic = stream.topics.remove(&tid).expect("topic id was just found");
        self.total_bytes = self.total_bytes.saturating_sub(topic.size_bytes());
        if let Some(persist) = self.persist.as_mut() {
            persist.remove_topic(sid, tid);
        }
        self.save();
        Ok(())
    }

    pub fn purge_topic(&mut self, s: &WireIdentifier, t: &WireIdentifier) -> Result<(), IggyError> {
        let (sid, tid) = {
            let stream = self.stream(s)?;
            let tid = stream
                .find_topic(t)
                .ok_or_else(|| topic_not_found(t, stream))?;
            (stream.id, tid)
        };
        self.purge_topic_ids(sid, tid);
        self.save();
        Ok(())
    }

    fn purge_topic_ids(&mut self, sid: u32, tid: u32) {
        let Some(topic) = self
            .streams
            .get_mut(&sid)
            .and_then(|s| s.topics.get_mut(&tid))
        else {
            return;
        };
        let freed = topic.size_bytes();
        for partition in &mut topic.partitions {
            partition.purge();
            if let Some(persist) = self.persist.as_mut() {
                persist.truncate_partition(sid, tid, partition.id);
            }
        }
        self.total_bytes = self.total_bytes.saturating_sub(freed);
    }

    pub fn create_partitions(
        &mut self,
        s: &WireIdentifier,
        t: &WireIdentifier,
        count: u32,
    ) -> Result<(), IggyError> {
        let topic = self.topic_mut(s, t)?;
        if count == 0 || topic.partitions_count().saturating_add(count) > MAX_PARTITIONS {
            return Err(IggyError::InvalidPartitionsCount);
        }
        let now = now_micros();
        let first = topic.partitions_count();
        topic
            .partitions
            .extend((first..first + count).map(|p| Partition::new(p, now)));
        let partitions = topic.partitions_count();
        for group in topic.groups.values_mut() {
            group.repartition(partitions);
        }
        self.save();
        Ok(())
    }

    pub fn delete_partitions(
        &mut self,
        s: &WireIdentifier,
        t: &WireIdentifier,
        count: u32,
    ) -> Result<(), IggyError> {
        let sid = self.stream(s)?.id;
        let topic = self.topic_mut(s, t)?;
        if count == 0 || count > topic.partitions_count() {
            return Err(IggyError::InvalidPartitionsCount);
        }
        let tid = topic.id;
        let keep = (topic.partitions_count() - count) as usize;
        let removed: Vec<Partition> = topic.partitions.drain(keep..).collect();
        let partitions = topic.partitions_count();
        for group in topic.groups.values_mut() {
            group.repartition(partitions);
        }
        let freed: u64 = removed.iter().map(Partition::size_bytes).sum();
        self.total_bytes = self.total_bytes.saturating_sub(freed);
        if let Some(persist) = self.persist.as_mut() {
            for partition in &removed {
                persist.remove_partition(sid, tid, partition.id);
            }
        }
        self.save();
        Ok(())
    }

    // ---- consumer groups -----------------------------------------------------------------

    pub fn create_group(
        &mut self,
        s: &WireIdentifier,
        t: &WireIdentifier,
        name: &str,
    ) -> Result<u32, IggyError> {
        let topic = self.topic_mut(s, t)?;
        if topic.groups.values().any(|g| g.name == name) {
            return Err(IggyError::ConsumerGroupNameAlreadyExists(
                name.to_owned(),
                numeric(topic.id),
            ));
        }
        let id = topic.next_group_id;
        topic.next_group_id += 1;
        let partitions = topic.partitions_count();
        topic
            .groups
            .insert(id, ConsumerGroup::new(id, name.to_owned(), partitions));
        self.save();
        Ok(id)
    }

    pub fn delete_group(
        &mut self,
        s: &WireIdentifier,
        t: &WireIdentifier,
        g: &WireIdentifier,
    ) -> Result<(), IggyError> {
        let topic = self.topic_mut(s, t)?;
        let gid = topic.group_mut(g)?.id;
        topic.groups.remove(&gid);
        for partition in &mut topic.partitions {
            partition
                .offsets
                .remove(&partition::ConsumerKey::Group(gid));
        }
        self.save();
        Ok(())
    }

    // ---- persistence ---------------------------------------------------------------------

    /// Writes the metadata snapshot when a data directory is configured. A failing write is
    /// logged rather than failing the command: the in-memory state is still correct.
    pub fn save(&mut self) {
        if self.persist.is_none() {
            return;
        }
        let snapshot = self.snapshot();
        if let Some(persist) = self.persist.as_mut()
            && let Err(error) = persist.save(&snapshot)
        {
            tracing::error!("test broker: cannot write state file: {error}");
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            next_stream_id: self.next_stream_id,
            streams: self
                .streams
                .values()
                .map(|s| StreamMeta {
                    id: s.id,
                    name: s.name.clone(),
                    created_at: s.created_at,
                    next_topic_id: s.next_topic_id,
                    topics: s
                        .topics
                        .values()
                        .map(|t| TopicMeta {
                            id: t.id,
                            name: t.name.clone(),
                            created_at: t.created_at,
                            compression_algorithm: t.compression_algorithm,
                            message_expiry: t.message_expiry,
                            max_topic_size: t.max_topic_size,
                            replication_factor: t.replication_factor,
                            next_group_id: t.next_group_id,
                            groups: t
                                .groups
                                .values()
                                .map(|g| GroupMeta {
                                    id: g.id,
                                    name: g.name.clone(),
                                })
                                .collect(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| PartitionMeta {
                                    id: p.id,
                                    created_at: p.created_at,
                                    offsets: p
                                        .offsets
                                        .iter()
                                        .map(|(k, v)| (k.clone(), *v))
                                        .collect(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            pats: self
                .pats
                .iter()
                .map(|p| PatMeta {
                    name: p.name.clone(),
                    token: p.token.clone(),
                    expiry_at: p.expiry_at,
                })
                .collect(),
        }
    }

    /// Rebuilds the model from a snapshot and the partition logs.
    pub fn restore(&mut self, snapshot: Snapshot) -> std::io::Result<()> {
        self.next_stream_id = snapshot.next_stream_id;
        self.pats = snapshot
            .pats
            .into_iter()
            .map(|p| Pat {
                name: p.name,
                token: p.token,
                expiry_at: p.expiry_at,
            })
            .collect();
        let mut total = 0;
        for s in snapshot.streams {
            let mut topics = BTreeMap::new();
            for t in s.topics {
                let mut partitions = Vec::with_capacity(t.partitions.len());
                for p in t.partitions {
                    let mut partition = Partition::new(p.id, p.created_at);
                    partition.offsets = p.offsets.into_iter().collect();
                    if let Some(persist) = self.persist.as_mut() {
                        let bytes = persist.read_partition(s.id, t.id, p.id)?;
                        let valid = partition.load(&bytes);
                        persist.truncate_partition_to(s.id, t.id, p.id, valid as u64)?;
                    }
                    total += partition.size_bytes();
                    partitions.push(partition);
                }
                let partitions_count = partitions.len() as u32;
                topics.insert(
                    t.id,
                    Topic {
                        id: t.id,
                        name: t.name,
                        created_at: t.created_at,
                        partitions,
                        compression_algorithm: t.compression_algorithm,
                        message_expiry: t.message_expiry,
                        max_topic_size: t.max_topic_size,
                        replication_factor: t.replication_factor,
                        groups: t
                            .groups
                            .into_iter()
                            .map(|g| (g.id, ConsumerGroup::new(g.id, g.name, partitions_count)))
                            .collect(),
                        next_group_id: t.next_group_id,
                        balanced_cursor: 0,
                    },
                );
            }
            self.streams.insert(
                s.id,
                Stream {
                    id: s.id,
                    name: s.name,
                    created_at: s.created_at,
                    topics,
                    next_topic_id: s.next_topic_id,
                },
            );
        }
        self.total_bytes = total;
        Ok(())
    }
}
