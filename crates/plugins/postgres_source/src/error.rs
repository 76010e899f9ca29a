//! Errors of the PostgreSQL source core; the SDK glue maps them onto the SDK's error type.

use iggy_connector_postgres_common::quote::InvalidIdentifier;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad `plugin_config`; the message names the key.
    #[error("invalid config: {0}")]
    Config(String),
    /// Could not connect or initialise (open).
    #[error("{0}")]
    Init(String),
    /// A query failed (after retries for transient errors).
    #[error("{what}: {}", describe(source))]
    Db {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A row or change could not be turned into a message.
    #[error("{0}")]
    Record(String),
    /// `poll` or `on_batch_result` before `open`.
    #[error("PostgreSQL source is not open")]
    NotOpen,
}

/// tokio-postgres' own Display is just "db error"; the server's message is in the source.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(": ");
                text.push_str(detail);
            }
            text
        }
        None => match std::error::Error::source(error) {
            Some(inner) => format!("{error}: {inner}"),
            None => error.to_string(),
        },
    }
}

impl Error {
    pub fn db(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
        let what = what.into();
        move |source| Error::Db { what, source }
    }
}

impl From<InvalidIdentifier> for Error {
    fn from(value: InvalidIdentifier) -> Self {
        Error::Config(value.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
