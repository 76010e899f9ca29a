//! What a failed `insertMany` means for each document of the chunk.
//!
//! The driver reports either one error for the whole call (network, server selection, a
//! command error, a write-concern error) or, for an unordered insert, one write error per
//! refused document with its index; every other document of the call was inserted. Per
//! document that gives three outcomes: already stored (duplicate key — a replay), worth
//! retrying (the server was busy or changing primaries), or refused for its content.

use mongodb::error::{
    Error, ErrorKind, IndexedWriteError, NO_WRITES_PERFORMED, RETRYABLE_ERROR,
    RETRYABLE_WRITE_ERROR, SYSTEM_OVERLOADED_ERROR,
};

/// E11000: the `_id` exists. The `_id` is derived from the message, so the message is stored.
pub const DUPLICATE_KEY: i32 = 11000;

/// Server codes that say "not now" rather than "not this": not primary, shutting down,
/// interrupted, network trouble between nodes, lock or write conflicts, time limits.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    24,    // LockTimeout
    46,    // LockBusy
    50,    // MaxTimeMSExpired
    64,    // WriteConcernFailed
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    365,   // TemporarilyUnavailable
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11601, // Interrupted
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Codes a server returns for one document's content when it rejects the whole command
/// instead of answering with per-document write errors. Only these are isolated document by
/// document; anything else is a problem of the sink's setup (permissions, namespace) that
/// retrying one document at a time would not change.
const CONTENT_CODES: &[i32] = &[
    2,     // BadValue
    9,     // FailedToParse
    14,    // TypeMismatch
    22,    // InvalidBSON
    52,    // DollarPrefixedFieldName
    53,    // InvalidIdField
    55,    // InvalidDBRef
    56,    // EmptyFieldName
    57,    // DottedFieldName
    121,   // DocumentValidationFailure
    10334, // BSONObjectTooLarge
    17419, // document too large for the storage engine
];

/// What happened to a whole `insertMany` call.
#[derive(Debug)]
pub enum CallFailure {
    /// Per-document outcomes (an unordered insert's write errors).
    Documents(Vec<DocumentFailure>),
    /// The call as a whole failed for a reason that may pass (connection lost, server
    /// restarting, write concern not yet satisfied). Which documents got in is unknown.
    Transient(String),
    /// The server refused the command for one of its documents' content, without saying which.
    Content(String),
    /// Anything else: authentication, permissions, a bad namespace, a driver bug. Not retried.
    Fatal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentFailure {
    /// The document at `index` already exists (counts as stored).
    Duplicate { index: usize },
    /// The document at `index` may be stored by a later attempt.
    Transient { index: usize, reason: String },
    /// The server refused the document at `index` for its content.
    Refused { index: usize, reason: String },
}

pub fn classify(error: Error) -> CallFailure {
    if is_transient_call(&error) {
        return CallFailure::Transient(describe(&error));
    }
    let text = describe(&error);
    match *error.kind {
        ErrorKind::InsertMany(failure) => {
            // Documents may be on the primary but not acknowledged at the requested `w`: not
            // stored by the user's definition, so the whole chunk is retried (it replays as
            // duplicates) until the write concern is met or the retries run out.
            if let Some(concern) = failure.write_concern_error {
                return CallFailure::Transient(format!(
                    "write concern not satisfied: {} (code {})",
                    concern.message, concern.code
                ));
            }
            CallFailure::Documents(
                failure
                    .write_errors
                    .unwrap_or_default()
                    .into_iter()
                    .map(document_failure)
                    .collect(),
            )
        }
        ErrorKind::Command(ref command) if CONTENT_CODES.contains(&command.code) => {
            CallFailure::Content(text)
        }
        // The driver refuses a document it cannot send (e.g. over maxBsonObjectSize). The sink
        // checks sizes first, so this is a fallback for limits it did not foresee.
        ErrorKind::InvalidArgument { .. } | ErrorKind::BsonSerialization(_) => {
            CallFailure::Content(text)
        }
        _ => CallFailure::Fatal(text),
    }
}

fn document_failure(error: IndexedWriteError) -> DocumentFailure {
    let index = error.index;
    if error.code == DUPLICATE_KEY {
        return DocumentFailure::Duplicate { index };
    }
    let reason = match &error.code_name {
        Some(name) => format!("{} (code {} {name})", error.message, error.code),
        None => format!("{} (code {})", error.message, error.code),
    };
    if TRANSIENT_CODES.contains(&error.code) {
        DocumentFailure::Transient { index, reason }
    } else {
        DocumentFailure::Refused {
            index,
            reason: format!("MongoDB refused the document: {reason}"),
        }
    }
}

/// Errors worth another attempt of the whole call.
fn is_transient_call(error: &Error) -> bool {
    if [
        RETRYABLE_WRITE_ERROR,
        RETRYABLE_ERROR,
        SYSTEM_OVERLOADED_ERROR,
        NO_WRITES_PERFORMED,
    ]
    .iter()
    .any(|label| error.contains_label(label))
    {
        return true;
    }
    match error.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::DnsResolve { .. } => true,
        ErrorKind::Command(command) => TRANSIENT_CODES.contains(&command.code),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteConcernError(_)) => true,
        _ => false,
    }
}

/// The driver's `Display` for an error includes the raw server response; keep logs readable.
pub fn describe(error: &Error) -> String {
    match error.kind.as_ref() {
        ErrorKind::Command(command) => format!(
            "{} (code {} {})",
            command.message, command.code, command.code_name
        ),
        ErrorKind::InsertMany(failure) => {
            let errors = failure.write_errors.as_deref().unwrap_or_default();
            match (errors.first(), &failure.write_concern_error) {
                (_, Some(concern)) => format!("write concern error: {}", concern.message),
                (Some(first), None) => format!(
                    "{} write error(s), first: {} (code {})",
                    errors.len(),
                    first.message,
                    first.code
                ),
                (None, None) => "insertMany failed without details".into(),
            }
        }
        // Server-selection errors embed the whole topology description; keep the start.
        other => {
            let mut text = other.to_string();
            if text.len() > 400 {
                let cut = (0..=400)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(cut);
                text.push('…');
            }
            text
        }
    }
}
