//! What a sink's `consume` reports back: every message stored, or stored except the ones it
//! refused for their content. The host dead-letters the refused ones (or fails the batch when
//! the connector has no dead-letter topic) and only then commits the batch.
//!
//! Sources have the same path for what they read but cannot turn into a record (an
//! unparseable change): [`ProducedMessage::rejected`] marks such a message with a header.

use std::str::FromStr;

use crate::{HeaderKey, HeaderValue, ProducedMessage};

/// The header by which a source marks a message it could not turn into a record; its value
/// is the reason. Our runtime sends such a message to the source's dead-letter topic instead
/// of its streams (without one it fails the batch, Nack); a 0.4.0 runtime sends it to the
/// stream like any other, so the data is still not lost.
pub const REJECTED_HEADER: &str = "iggy-connectors-rejected";

impl ProducedMessage {
    /// A message carrying `payload` as read (for the dead-letter topic) and the reason it
    /// could not become a record (cut to Iggy's 255-byte header limit).
    pub fn rejected(id: Option<u128>, payload: Vec<u8>, reason: &str) -> Self {
        let mut end = reason.len().min(255);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let reason = if reason.is_empty() {
            "-"
        } else {
            &reason[..end]
        };
        let headers = match (
            HeaderKey::from_str(REJECTED_HEADER),
            HeaderValue::from_str(reason),
        ) {
            (Ok(key), Ok(value)) => Some([(key, value)].into_iter().collect()),
            _ => None,
        };
        ProducedMessage {
            id,
            checksum: None,
            timestamp: None,
            origin_timestamp: None,
            headers,
            payload,
        }
    }
}

/// A message a sink refused for its content: never for a transient cause (a connection
/// drop, a timeout), which must fail the whole batch with `Err` so the host retries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedMessage {
    /// The `offset` of the [`ConsumedMessage`](crate::ConsumedMessage).
    pub offset: u64,
    /// Why; the host puts it in the dead-letter message's headers (cut to 255 bytes).
    pub reason: String,
}

/// The result of a successful `consume`. `Default` (= [`ConsumeOutcome::all_stored`]) means
/// every message of the batch was stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConsumeOutcome {
    rejected: Vec<RejectedMessage>,
}

impl ConsumeOutcome {
    /// Every message was stored.
    pub fn all_stored() -> Self {
        Self::default()
    }

    /// Marks the message at `offset` (its `ConsumedMessage::offset`) as refused for its
    /// content; every other message of the batch counts as stored.
    pub fn reject(&mut self, offset: u64, reason: impl Into<String>) {
        self.rejected.push(RejectedMessage {
            offset,
            reason: reason.into(),
        });
    }

    /// The refused messages, in the order they were reported.
    pub fn rejected(&self) -> &[RejectedMessage] {
        &self.rejected
    }

    pub fn is_all_stored(&self) -> bool {
        self.rejected.is_empty()
    }

    /// Takes the refused messages out (the SDK glue hands them to the host).
    pub(crate) fn into_rejected(self) -> Vec<RejectedMessage> {
        self.rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_rejected_source_message_should_carry_the_reason_header_cut_to_255_bytes() {
        let message = ProducedMessage::rejected(Some(3), b"raw".to_vec(), &"é".repeat(200));
        let headers = message.headers.expect("headers");
        let reason = headers[&HeaderKey::from_str(REJECTED_HEADER).unwrap()]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(reason.len(), 254);
        assert_eq!((message.id, message.payload), (Some(3), b"raw".to_vec()));
    }

    #[test]
    fn given_default_outcome_should_mean_all_stored() {
        assert!(ConsumeOutcome::default().is_all_stored());
        assert_eq!(ConsumeOutcome::all_stored(), ConsumeOutcome::default());
    }

    #[test]
    fn given_rejections_should_keep_offsets_and_reasons_in_order() {
        let mut outcome = ConsumeOutcome::all_stored();
        outcome.reject(7, "no id");
        outcome.reject(3, String::from("too long"));
        assert!(!outcome.is_all_stored());
        assert_eq!(
            outcome.rejected(),
            [
                RejectedMessage {
                    offset: 7,
                    reason: "no id".into()
                },
                RejectedMessage {
                    offset: 3,
                    reason: "too long".into()
                },
            ]
        );
    }
}
