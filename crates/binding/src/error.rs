//! The binding's one error module: engine errors become napi errors whose message carries the
//! whole `source()` chain, so JavaScript sees the root cause and not only the outer context.
//!
//! (`impl From<EngineError> for napi::Error` is impossible here: both types are foreign to
//! this crate. The extension trait below gives call sites the same one-liner.)

use std::error::Error as StdError;

pub type Result<T> = napi::Result<T>;

/// The message of `error` followed by every `source()`, one "Caused by:" line each.
pub fn flatten(error: &dyn StdError) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str("\nCaused by: ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

pub fn to_napi(error: &dyn StdError) -> napi::Error {
    napi::Error::from_reason(flatten(error))
}

pub fn invalid(message: impl Into<String>) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, message.into())
}

/// `.default_error()` on any `Result<T, E: Error>`.
pub trait NapiResultExt<T> {
    fn default_error(self) -> Result<T>;
}

impl<T, E: StdError> NapiResultExt<T> for std::result::Result<T, E> {
    fn default_error(self) -> Result<T> {
        self.map_err(|error| to_napi(&error))
    }
}
