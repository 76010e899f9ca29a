//! napi-rs binding: converts JavaScript values to engine types and back, nothing more.
#![deny(clippy::all)]

mod broker;
mod engine;
mod error;
mod options;
mod plugin;
mod stats;
mod transform;

use napi_derive::napi;

/// The version of the native engine (the Rust crate), e.g. `"0.1.0"`.
#[napi]
pub fn engine_version() -> String {
    iggy_connectors_engine::VERSION.to_string()
}

/// The plugin ABI the native engine speaks.
#[napi]
pub fn plugin_abi() -> String {
    iggy_connectors_engine::PLUGIN_ABI.to_string()
}
