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

#[derive(Debug)]
pub struct Partition {
    pub id: u32,
    pub created_at: u64,
    /// All messages, in offset order, in wire layout. Offsets start at 0 and have no gaps.
    data: Vec<u8>,
    /// `positions[o]` is where the message with offset `o` starts in `data`.
    positions: Vec<u64>,
    /// Server timestamp (µs) of each message, for the timestamp polling strategy.
    timestamps: Vec<u64>,
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
            data: Vec::new(),
            positions: Vec::new(),
            timestamps: Vec::new(),
            offsets: HashMap::new(),
        }
    }

    pub fn messages_count(&self) -> u64 {
        self.positions.len() as u64
    }

    /// Offset of the newest message; 0 for an empty partition (as Iggy reports it).
    pub fn current_offset(&self) -> u64 {
        self.messages_count().saturating_sub(1)
    }

    pub fn size_bytes(&self) -> u64 {
        self.data.len() as u64
    }

    /// Assigns offsets, the server timestamp, ids for messages sent with id 0 and checksums, then
    /// appends. `batch` must hold exactly `count` well-formed messages (see
    /// `dispatch::validate_messages`). Returns the appended bytes as stored (for persistence).
    pub fn append(&mut self, batch: &mut [u8], timestamp: u64) -> std::ops::Range<usize> {
        // Keep timestamps non-decreasing even if the wall clock steps back, so the timestamp
        // strategy's binary search stays valid.
        let timestamp = timestamp.max(self.timestamps.last().copied().unwrap_or(0));
        let base = self.data.len();
        let mut at = 0;
        while at < batch.len() {
            let size = message_size(batch, at).unwrap_or(batch.len() - at);
            let offset = self.positions.len() as u64;
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
            self.positions.push((base + at) as u64);
            self.timestamps.push(timestamp);
            at += size;
        }
        self.data.extend_from_slice(batch);
        base..self.data.len()
    }

    /// Rebuilds the index from bytes previously written by [`Partition::append`]. Returns how
    /// many leading bytes were whole messages (a torn tail after a crash is dropped).
    pub fn load(&mut self, bytes: Vec<u8>) -> usize {
        let mut at = 0;
        while let Some(size) = message_size(&bytes, at) {
            self.positions.push(at as u64);
            self.timestamps
                .push(u64_at(&bytes, at + MSG_TIMESTAMP_OFFSET));
            at += size;
        }
        let mut bytes = bytes;
        bytes.truncate(at);
        self.data = bytes;
        at
    }

    /// The stored bytes of up to `count` messages starting at `offset`, and how many they are.
    pub fn read(&self, offset: u64, count: u32) -> (&[u8], u32) {
        let total = self.messages_count();
        if offset >= total || count == 0 {
            return (&[], 0);
        }
        let end_offset = offset.saturating_add(u64::from(count)).min(total);
        let start = self.positions[offset as usize] as usize;
        let end = if end_offset == total {
            self.data.len()
        } else {
            self.positions[end_offset as usize] as usize
        };
        (&self.data[start..end], (end_offset - offset) as u32)
    }

    /// First offset whose timestamp is at or after `timestamp` (timestamps never decrease).
    pub fn offset_for_timestamp(&self, timestamp: u64) -> u64 {
        self.timestamps.partition_point(|&t| t < timestamp) as u64
    }

    /// Drops every message and stored offset (purge).
    pub fn purge(&mut self) {
        self.data = Vec::new();
        self.positions = Vec::new();
        self.timestamps = Vec::new();
        self.offsets.clear();
    }
}
