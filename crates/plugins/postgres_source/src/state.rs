//! Persisted source state, MessagePack-compatible with upstream's
//! `[last_poll_time, tracking_offsets, processed_rows]` (rmp_serde compact = positional array).
//! CDC keeps no position here: the replication slot holds it.

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

impl SourceState {
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
    fn given_garbage_when_deserialized_should_start_fresh() {
        assert!(SourceState::from_bytes(&[0xc1, 0x00]).is_none());
    }
}
