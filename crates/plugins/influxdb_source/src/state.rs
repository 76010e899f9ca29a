//! Persisted source state, MessagePack-compatible with upstream's
//! `[last_poll_time, last_timestamp, processed_rows, cursor_row_count]` (rmp_serde positional).

use iggy_connectors_sdk::ConnectorState;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// RFC 3339 time of the poll that produced the committed batch.
    pub last_poll_time: String,
    /// The cursor: the `cursor_field` text of the newest delivered row.
    pub last_timestamp: Option<String>,
    pub processed_rows: u64,
    /// How many delivered rows carry exactly `last_timestamp` (skipped when a `>=` query
    /// returns them again).
    #[serde(default)]
    pub cursor_row_count: u64,
}

impl Default for SourceState {
    fn default() -> Self {
        Self {
            last_poll_time: crate::config::EPOCH.to_string(),
            last_timestamp: None,
            processed_rows: 0,
            cursor_row_count: 0,
        }
    }
}

impl SourceState {
    pub fn encode(&self) -> Result<ConnectorState, iggy_connectors_sdk::Error> {
        ConnectorState::encode(self)
    }

    /// A state that does not decode is an error (upstream's choice, kept): silently starting
    /// from `initial_offset` would re-deliver everything.
    pub fn decode(state: &ConnectorState) -> Result<Self, String> {
        state
            .decode()
            .map_err(|e| format!("the saved InfluxDB source state does not decode: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_state_when_encoded_should_be_upstream_positional_array_and_roundtrip() {
        let state = SourceState {
            last_poll_time: "2024-01-01T00:00:00Z".into(),
            last_timestamp: Some("2024-01-01T00:00:00.5Z".into()),
            processed_rows: 9,
            cursor_row_count: 2,
        };
        let encoded = state.encode().unwrap();
        assert_eq!(encoded.as_bytes()[0], 0x94, "fixarray of 4");
        let (poll, cursor, rows, count): (String, Option<String>, u64, u64) =
            rmp_serde::from_slice(encoded.as_bytes()).unwrap();
        assert_eq!(
            (poll.as_str(), cursor.as_deref(), rows, count),
            ("2024-01-01T00:00:00Z", Some("2024-01-01T00:00:00.5Z"), 9, 2)
        );
        assert_eq!(SourceState::decode(&encoded).unwrap(), state);
        // Upstream states written before cursor_row_count existed have three fields.
        let old = rmp_serde::to_vec(&("t", Some("c"), 5u64)).unwrap();
        let decoded = SourceState::decode(&ConnectorState(old)).unwrap();
        assert_eq!((decoded.processed_rows, decoded.cursor_row_count), (5, 0));
        assert!(SourceState::decode(&ConnectorState(vec![0xc1])).is_err());
    }
}
