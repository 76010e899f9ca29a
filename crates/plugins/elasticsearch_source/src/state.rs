//! Persisted source state, MessagePack-compatible with upstream's (rmp_serde compact, a
//! positional array):
//! `[last_poll_timestamp?, total_documents_fetched, poll_count, last_document_id?,
//!   last_scroll_id?, last_offset?, error_count, last_error?, [total_bytes_processed,
//!   avg_batch_processing_time_ms, last_successful_poll?, empty_polls_count,
//!   successful_polls_count]]`.
//!
//! The cursor is `last_poll_timestamp` (the tracking field's value of the last document
//! delivered, RFC 3339 with milliseconds, as upstream) plus `last_document_id`, which upstream
//! declared but never filled: the tie-breaker value of that document, so documents sharing the
//! timestamp are neither skipped (upstream's `gt` filter) nor repeated. `last_scroll_id` and
//! `last_offset` stay unused (no scroll contexts; no numeric offset).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    pub last_poll_timestamp: Option<String>,
    pub total_documents_fetched: u64,
    pub poll_count: u64,
    pub last_document_id: Option<String>,
    pub last_scroll_id: Option<String>,
    pub last_offset: Option<u64>,
    pub error_count: u64,
    pub last_error: Option<String>,
    pub processing_stats: ProcessingStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessingStats {
    pub total_bytes_processed: u64,
    pub avg_batch_processing_time_ms: f64,
    pub last_successful_poll: Option<String>,
    pub empty_polls_count: u64,
    pub successful_polls_count: u64,
}

impl SourceState {
    pub fn to_bytes(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("state is always serializable")
    }

    /// `None` (and a warning) when the bytes are not a state of this shape.
    pub fn from_bytes(bytes: &[u8]) -> Option<SourceState> {
        match rmp_serde::from_slice(bytes) {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!(
                    "Elasticsearch source: ignoring unreadable state ({e}); starting fresh"
                );
                None
            }
        }
    }

    /// The committed cursor as `search_after` values: `[millis, tie]`, or `[tie]` without a
    /// timestamp field. A state from upstream has a timestamp but no document id: resume at
    /// that timestamp from the lowest id (re-reading, never skipping, its documents).
    pub fn search_after(&self, with_timestamp: bool) -> Option<Vec<serde_json::Value>> {
        let tie = self.last_document_id.clone();
        if with_timestamp {
            let millis = self
                .last_poll_timestamp
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?
                .timestamp_millis();
            Some(vec![millis.into(), tie.unwrap_or_default().into()])
        } else {
            Some(vec![tie?.into()])
        }
    }
}

/// Milliseconds since the epoch → RFC 3339 (`2024-01-15T10:30:00.123Z`).
pub fn millis_to_rfc3339(millis: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_state_should_round_trip_as_an_upstream_positional_array() {
        let state = SourceState {
            last_poll_timestamp: Some("2024-01-15T10:30:00.123Z".into()),
            total_documents_fetched: 5,
            poll_count: 2,
            last_document_id: Some("doc-5".into()),
            processing_stats: ProcessingStats {
                successful_polls_count: 2,
                ..ProcessingStats::default()
            },
            ..SourceState::default()
        };
        let bytes = state.to_bytes();
        // A MessagePack array of 9 elements, the last one an array of 5.
        assert_eq!(bytes[0], 0x99);
        assert_eq!(SourceState::from_bytes(&bytes), Some(state.clone()));
        assert_eq!(
            state.search_after(true),
            Some(vec![json!(1_705_314_600_123i64), json!("doc-5")])
        );
        assert_eq!(state.search_after(false), Some(vec![json!("doc-5")]));
    }

    #[test]
    fn given_upstream_state_without_document_id_should_resume_at_its_timestamp() {
        let state = SourceState {
            last_poll_timestamp: Some("2024-01-15T10:30:00Z".into()),
            ..SourceState::default()
        };
        assert_eq!(
            state.search_after(true),
            Some(vec![json!(1_705_314_600_000i64), json!("")])
        );
        assert_eq!(SourceState::default().search_after(true), None);
        assert_eq!(SourceState::from_bytes(b"\xc1garbage"), None);
    }

    #[test]
    fn given_millis_should_format_rfc3339() {
        assert_eq!(
            millis_to_rfc3339(1_705_314_600_123).as_deref(),
            Some("2024-01-15T10:30:00.123Z")
        );
    }
}
