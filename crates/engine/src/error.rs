//! Engine errors. Every variant names what failed (connector key, path, stream/topic) so the
//! message alone tells the user what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("connector '{key}': {message}")]
    Config { key: String, message: String },
    #[error("connector '{key}': plugin library not found; tried: {tried}")]
    PluginNotFound { key: String, tried: String },
    #[error("connector '{key}': cannot load plugin library {path}: {message}")]
    PluginLoad {
        key: String,
        path: PathBuf,
        message: String,
    },
    #[error("connector '{key}': {path} is not a {kind} plugin: missing symbol(s) {missing}")]
    MissingSymbols {
        key: String,
        path: PathBuf,
        kind: &'static str,
        missing: String,
    },
    #[error(
        "connector '{key}': {path} speaks plugin ABI {found}, this engine speaks ABI major {expected}"
    )]
    AbiMismatch {
        key: String,
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("connector '{key}': plugin {call} returned {code}")]
    PluginCall {
        key: String,
        call: &'static str,
        code: i32,
    },
    #[error("connector '{key}': {message}")]
    Iggy { key: String, message: String },
    #[error("cannot connect to Iggy at {address}: {message}")]
    Connect { address: String, message: String },
    #[error("state file {path}: {source}")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no {kind} connector with key '{key}'")]
    NotFound { kind: &'static str, key: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
