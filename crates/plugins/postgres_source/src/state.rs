//! Persisted source state, MessagePack-compatible with upstream's
//! `[last_poll_time, tracking_offsets, processed_rows]` (rmp_serde compact = positional array).
//! CDC keeps no position here: the replication slot holds it.
//!
//! Keyset paging on (tracking column, key column) also needs the key of the last row read. It is
//! kept in `tracking_offsets` under `"<table>\0key"`: still three elements (rmp_serde refuses an
//! array longer than the struct, so a fourth would make the file unreadable to upstream), and a
//! name no table can have (PostgreSQL identifiers cannot hold NUL), which upstream never looks up.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    pub last_poll_time: DateTime<Utc>,
    /// table (as configured) → cursor value as text ("42", "2024-01-15T10:30:00+00:00").
    pub tracking_offsets: HashMap<String, String>,
    pub processed_rows: u64,
}

impl Default for SourceState {
    fn default() -> Self {
        Self {
            last_poll_time: DateTime::<Utc>::UNIX_EPOCH,
            tracking_offsets: HashMap::new(),
            processed_rows: 0,
        }
    }
}

/// Where polling a table resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Tracking-column value of the last row delivered (or `initial_offset`).
    pub value: String,
    /// Key-column value of that row, when the table pages on (tracking, key).
    pub key: Option<String>,
    /// From the committed state (`value` was delivered), not from `initial_offset`.
    pub committed: bool,
}

impl Cursor {
    /// `initial_offset`: rows strictly after it.
    pub fn initial(value: &str) -> Self {
        Self {
            value: value.to_string(),
            key: None,
            committed: false,
        }
    }
}

fn key_entry(table: &str) -> String {
    format!("{table}\0key")
}

impl SourceState {
    /// The committed cursor of `table`, if any.
    pub fn cursor(&self, table: &str) -> Option<Cursor> {
        let value = self.tracking_offsets.get(table)?;
        Some(Cursor {
            value: value.clone(),
            key: self.tracking_offsets.get(&key_entry(table)).cloned(),
            committed: true,
        })
    }

    /// Records the last row delivered from `table`; a `None` key clears a stale one.
    pub fn set_cursor(&mut self, table: &str, value: String, key: Option<String>) {
        self.tracking_offsets.insert(table.to_string(), value);
        match key {
            Some(key) => self.tracking_offsets.insert(key_entry(table), key),
            None => self.tracking_offsets.remove(&key_entry(table)),
        };
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("state is always serializable")
    }

    /// Unreadable state is logged and ignored (start fresh), like upstream.
    pub fn from_bytes(bytes: &[u8]) -> Option<SourceState> {
        match rmp_serde::from_slice(bytes) {
            Ok(state) => Some(state),
            Err(error) => {
                tracing::error!(
                    "cannot read PostgreSQL source state ({} bytes): {error}; starting fresh",
                    bytes.len()
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_state_when_serialized_should_be_positional_array_and_roundtrip() {
        let mut state = SourceState::default();
        state.tracking_offsets.insert("users".into(), "42".into());
        state.processed_rows = 7;
        let bytes = state.to_bytes();
        // fixarray of 3 elements: upstream's compact struct encoding.
        assert_eq!(bytes[0], 0x93);
        let (time, offsets, rows): (String, HashMap<String, String>, u64) =
            rmp_serde::from_slice(&bytes).unwrap();
        assert!(time.starts_with("1970-01-01T00:00:00"), "{time}");
        assert_eq!(offsets["users"], "42");
        assert_eq!(rows, 7);
        assert_eq!(SourceState::from_bytes(&bytes).unwrap(), state);
    }

    #[test]
    fn given_keyed_cursor_when_serialized_should_stay_upstream_readable_and_roundtrip() {
        let mut state = SourceState::default();
        state.set_cursor("events", "7".into(), Some("42".into()));
        state.set_cursor("users", "3".into(), None);
        let bytes = state.to_bytes();
        // Upstream's struct: exactly three positional fields; its lookup by table name sees the
        // tracking values unchanged.
        let (_, offsets, _): (String, HashMap<String, String>, u64) =
            rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(offsets["events"], "7");
        assert_eq!(offsets["users"], "3");
        let back = SourceState::from_bytes(&bytes).unwrap();
        assert_eq!(
            back.cursor("events"),
            Some(Cursor {
                value: "7".into(),
                key: Some("42".into()),
                committed: true
            })
        );
        assert_eq!(back.cursor("users").unwrap().key, None);
        assert_eq!(back.cursor("missing"), None);
    }

    #[test]
    fn given_upstream_state_without_keys_when_read_should_give_keyless_committed_cursors() {
        // What upstream 0.4.0 writes: [time, {table: value}, rows].
        let upstream = rmp_serde::to_vec(&(
            "2024-01-15T10:30:00Z",
            HashMap::from([("events".to_string(), "7".to_string())]),
            5u64,
        ))
        .unwrap();
        let state = SourceState::from_bytes(&upstream).unwrap();
        assert_eq!(
            state.cursor("events"),
            Some(Cursor {
                value: "7".into(),
                key: None,
                committed: true
            })
        );
        assert_eq!(state.processed_rows, 5);
    }

    #[test]
    fn given_new_cursor_without_key_when_set_should_drop_the_stale_key() {
        let mut state = SourceState::default();
        state.set_cursor("t", "1".into(), Some("9".into()));
        state.set_cursor("t", "2".into(), None);
        assert_eq!(state.tracking_offsets.len(), 1);
    }

    #[test]
    fn given_garbage_when_deserialized_should_start_fresh() {
        assert!(SourceState::from_bytes(&[0xc1, 0x00]).is_none());
    }
}
