//! One partition's message log: every message stored back to back in the exact wire layout the
//! poll response carries (64-byte header + payload + user headers), plus a per-offset index.
//! A poll is then one slice copy; an append is one pass over the batch plus one `memcpy`.

use iggy_binary_protocol::message_layout::{
    MSG_CHECKSUM_OFFSET, MSG_ID_OFFSET, MSG_OFFSET_OFFSET, MSG_PAYLOAD_LEN_OFFSET,
    MSG_TIMESTAMP_OFFSET, MSG_USER_HEADERS_LEN_OFFSET, WIRE_MESSAGE_HEADER_SIZE,
};
use iggy_common::{calculate_checksum, random_id};
use std::collections::HashMap;

/// Who an offset belongs to: a standalone consumer (by its wire identifier) or a group (by id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ConsumerKey {
    ConsumerId(u32),
    ConsumerName(String),
    Group(u32),
}

/// One appended batch, stored as a single blob so appends never reallocate (or copy) what is
/// already stored and memory use is exactly the message bytes plus 4 bytes per message.
#[derive(Debug)]
struct Chunk {
    base_offset: u64,
    data: Vec<u8>,
    /// Start of each message within `data`; message `base_offset + i` starts at `starts[i]`.
    starts: Vec<u32>,
}

impl Chunk {
    fn len(&self) -> u64 {
        self.starts.len() as u64
    }

    fn end_of(&self, i: usize) -> usize {
        self.starts
            .get(i + 1)
            .map_or(self.data.len(), |&s| s as usize)
    }

    fn timestamp_of(&self, i: usize) -> u64 {
        u64_at(&self.data, self.starts[i] as usize + MSG_TIMESTAMP_OFFSET)
    }
}

/// Loaded logs are split into chunks of at most this many bytes so in-chunk positions fit u32.
const MAX_LOADED_CHUNK: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub struct Partition {
    pub id: u32,
    pub created_at: u64,
    /// Batches in offset order. Offsets start at 0 and have no gaps.
    chunks: Vec<Chunk>,
    messages: u64,
    bytes: u64,
    last_timestamp: u64,
    /// Stored consumer and consumer-group offsets.
    pub offsets: HashMap<ConsumerKey, u64>,
}

/// Reads a little-endian u32 from a slice whose length the caller has checked.
fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

fn u128_at(buf: &[u8], at: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&buf[at..at + 16]);
    u128::from_le_bytes(b)
}

/// Total wire size of the message starting at `at`, or `None` if its header or body is cut off.
pub fn message_size(buf: &[u8], at: usize) -> Option<usize> {
    if buf.len().checked_sub(at)? < WIRE_MESSAGE_HEADER_SIZE {
        return None;
    }
    let headers = u32_at(buf, at + MSG_USER_HEADERS_LEN_OFFSET) as usize;
    let payload = u32_at(buf, at + MSG_PAYLOAD_LEN_OFFSET) as usize;
    let size = WIRE_MESSAGE_HEADER_SIZE
        .checked_add(headers)?
        .checked_add(payload)?;
    (buf.len() - at >= size).then_some(size)
}

impl Partition {
    pub fn new(id: u32, created_at: u64) -> Self {
        Self {
            id,
            created_at,
            chunks: Vec::new(),
            messages: 0,
            bytes: 0,
            last_timestamp: 0,
            offsets: HashMap::new(),
        }
    }

    pub fn messages_count(&self) -> u64 {
        self.messages
    }

    /// Offset of the newest message; 0 for an empty partition (as Iggy reports it).
    pub fn current_offset(&self) -> u64 {
        self.messages.saturating_sub(1)
    }

    pub fn size_bytes(&self) -> u64 {
        self.bytes
    }

    /// Assigns offsets, the server timestamp, ids for messages sent with id 0 and checksums in
    /// place, then stores a copy of the batch. `batch` must hold only whole messages (see
    /// `dispatch::validate_messages`); afterwards it holds the bytes exactly as stored.
    pub fn append(&mut self, batch: &mut [u8], timestamp: u64) {
        // Keep timestamps non-decreasing even if the wall clock steps back, so the timestamp
        // strategy's binary search stays valid.
        let timestamp = timestamp.max(self.last_timestamp);
        let base_offset = self.messages;
        let mut starts = Vec::with_capacity(batch.len() / WIRE_MESSAGE_HEADER_SIZE.max(1) / 2);
        let mut at = 0;
        while at < batch.len() {
            let size = message_size(batch, at).unwrap_or(batch.len() - at);
            let offset = base_offset + starts.len() as u64;
            let msg = &mut batch[at..at + size];
            msg[MSG_OFFSET_OFFSET..MSG_OFFSET_OFFSET + 8].copy_from_slice(&offset.to_le_bytes());
            msg[MSG_TIMESTAMP_OFFSET..MSG_TIMESTAMP_OFFSET + 8]
                .copy_from_slice(&timestamp.to_le_bytes());
            if u128_at(msg, MSG_ID_OFFSET) == 0 {
                msg[MSG_ID_OFFSET..MSG_ID_OFFSET + 16]
                    .copy_from_slice(&random_id::get_uuid().to_le_bytes());
            }
            // Iggy's checksum covers everything after the checksum field itself.
            let checksum = calculate_checksum(&msg[MSG_CHECKSUM_OFFSET + 8..]);
            msg[MSG_CHECKSUM_OFFSET..MSG_CHECKSUM_OFFSET + 8]
                .copy_from_slice(&checksum.to_le_bytes());
            starts.push(at as u32);
            at += size;
        }
        if starts.is_empty() {
            return;
        }
        self.messages += starts.len() as u64;
        self.bytes += batch.len() as u64;
        self.last_timestamp = timestamp;
        self.chunks.push(Chunk {
            base_offset,
            data: batch.to_vec(),
            starts,
        });
    }

    /// Rebuilds the partition from bytes previously stored by [`Partition::append`]. Returns
    /// how many leading bytes were whole messages (a torn tail after a crash is dropped).
    pub fn load(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        let mut chunk_start = 0;
        let mut starts = Vec::new();
        while let Some(size) = message_size(bytes, at) {
            if at + size - chunk_start > MAX_LOADED_CHUNK && !starts.is_empty() {
                self.push_loaded(&bytes[chunk_start..at], std::mem::take(&mut starts));
                chunk_start = at;
            }
            starts.push((at - chunk_start) as u32);
            at += size;
        }
        if !starts.is_empty() {
            self.push_loaded(&bytes[chunk_start..at], starts);
        }
        at
    }

    fn push_loaded(&mut self, data: &[u8], starts: Vec<u32>) {
        let chunk = Chunk {
            base_offset: self.messages,
            data: data.to_vec(),
            starts,
        };
        self.messages += chunk.len();
        self.bytes += data.len() as u64;
        self.last_timestamp = self
            .last_timestamp
            .max(chunk.timestamp_of(chunk.starts.len() - 1));
        self.chunks.push(chunk);
    }

    /// Up to `count` stored messages starting at `offset`, as slices in offset order, and how
    /// many messages they hold.
    pub fn read(&self, offset: u64, count: u32) -> (Vec<&[u8]>, u32) {
        let mut slices = Vec::new();
        if offset >= self.messages || count == 0 {
            return (slices, 0);
        }
        let end_offset = offset.saturating_add(u64::from(count)).min(self.messages);
        let mut chunk_index = self
            .chunks
            .partition_point(|c| c.base_offset + c.len() <= offset);
        let mut next = offset;
        while next < end_offset && chunk_index < self.chunks.len() {
            let chunk = &self.chunks[chunk_index];
            let first = (next - chunk.base_offset) as usize;
            let last = ((end_offset - chunk.base_offset).min(chunk.len()) - 1) as usize;
            let start = chunk.starts[first] as usize;
            slices.push(&chunk.data[start..chunk.end_of(last)]);
            next = chunk.base_offset + last as u64 + 1;
            chunk_index += 1;
        }
        (slices, (end_offset - offset) as u32)
    }

    /// First offset whose timestamp is at or after `timestamp` (timestamps never decrease);
    /// the next offset to be written if every message is older.
    pub fn offset_for_timestamp(&self, timestamp: u64) -> u64 {
        let chunk_index = self
            .chunks
            .partition_point(|c| c.timestamp_of(c.starts.len() - 1) < timestamp);
        let Some(chunk) = self.chunks.get(chunk_index) else {
            return self.messages;
        };
        let within = chunk.starts.partition_point(|&start| {
            u64_at(&chunk.data, start as usize + MSG_TIMESTAMP_OFFSET) < timestamp
        });
        chunk.base_offset + within as u64
    }

    /// Drops every message and stored offset (purge).
    pub fn purge(&mut self) {
        self.chunks = Vec::new();
        self.messages = 0;
        self.bytes = 0;
        self.offsets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wire bytes of messages with the given payloads (no user headers), as a client sends them.
    fn batch(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            let mut header = [0u8; WIRE_MESSAGE_HEADER_SIZE];
            header[MSG_PAYLOAD_LEN_OFFSET..MSG_PAYLOAD_LEN_OFFSET + 4]
                .copy_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&header);
            out.extend_from_slice(payload);
        }
        out
    }

    fn payloads(slices: &[&[u8]]) -> Vec<Vec<u8>> {
        let joined: Vec<u8> = slices.concat();
        let mut at = 0;
        let mut out = Vec::new();
        while let Some(size) = message_size(&joined, at) {
            out.push(joined[at + WIRE_MESSAGE_HEADER_SIZE..at + size].to_vec());
            at += size;
        }
        out
    }

    #[test]
    fn given_several_batches_when_reading_across_them_should_return_requested_range() {
        let mut p = Partition::new(0, 0);
        p.append(&mut batch(&[b"a", b"bb"]), 10);
        p.append(&mut batch(&[b"ccc"]), 20);
        p.append(&mut batch(&[b"dddd", b"e"]), 30);
        assert_eq!(p.messages_count(), 5);
        assert_eq!(p.current_offset(), 4);
        let (slices, count) = p.read(1, 3);
        assert_eq!(count, 3);
        assert_eq!(
            payloads(&slices),
            vec![b"bb".to_vec(), b"ccc".to_vec(), b"dddd".to_vec()]
        );
        let (slices, count) = p.read(4, 100);
        assert_eq!((count, payloads(&slices)), (1, vec![b"e".to_vec()]));
        assert_eq!(p.read(5, 1).1, 0);
    }

    #[test]
    fn given_batches_when_appended_should_assign_offsets_timestamps_ids_and_checksums() {
        let mut p = Partition::new(0, 0);
        p.append(&mut batch(&[b"x", b"y"]), 42);
        let (slices, _) = p.read(0, 2);
        let data = slices.concat();
        let second = message_size(&data, 0).unwrap();
        assert_eq!(u64_at(&data, second + MSG_OFFSET_OFFSET), 1);
        assert_eq!(u64_at(&data, MSG_TIMESTAMP_OFFSET), 42);
        assert_ne!(u128_at(&data, MSG_ID_OFFSET), 0);
        assert_eq!(u64_at(&data, 0), calculate_checksum(&data[8..second]));
    }

    #[test]
    fn given_timestamps_when_searching_should_find_first_not_older_message() {
        let mut p = Partition::new(0, 0);
        p.append(&mut batch(&[b"a", b"b"]), 100);
        p.append(&mut batch(&[b"c"]), 200);
        // A clock stepping back never makes timestamps decrease.
        p.append(&mut batch(&[b"d"]), 150);
        assert_eq!(p.offset_for_timestamp(0), 0);
        assert_eq!(p.offset_for_timestamp(101), 2);
        assert_eq!(p.offset_for_timestamp(200), 2);
        assert_eq!(p.offset_for_timestamp(201), 4);
    }

    #[test]
    fn given_log_with_torn_tail_when_loading_should_keep_whole_messages() {
        let mut p = Partition::new(0, 0);
        p.append(&mut batch(&[b"one", b"two"]), 5);
        let mut stored = p.read(0, 2).0.concat();
        let whole = stored.len();
        stored.extend_from_slice(&[1u8; 40]);
        let mut restored = Partition::new(0, 0);
        assert_eq!(restored.load(&stored), whole);
        assert_eq!(restored.messages_count(), 2);
        assert_eq!(restored.read(0, 2).0.concat(), stored[..whole].to_vec());
    }
}
