//! PostgreSQL plumbing shared by `iggy_connector_postgres_source` and
//! `iggy_connector_postgres_sink`: a small connection pool over `tokio-postgres`, the upstream
//! retry loop and transient-error classification, identifier/literal quoting, connection-string
//! redaction and duration parsing. Kept out of the plugin crates so neither cdylib links the
//! other's FFI exports.
#![deny(clippy::all)]

pub mod duration;
pub mod pool;
pub mod quote;
pub mod redact;
pub mod retry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use tokio_postgres;
