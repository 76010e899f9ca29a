//! napi-rs binding: converts JavaScript values to engine types and back, nothing more.
#![deny(clippy::all)]
// napi-rs registers exports only outside `cfg(test)`, so a test build (clippy --all-targets)
// sees every #[napi] item as unused.
#![cfg_attr(test, allow(dead_code))]

mod broker;
mod connector;
mod connector_batch;
mod engine;
mod error;
mod js_batch;
mod operator;
mod options;
mod plugin;
mod stats;
mod transform;

use napi_derive::napi;

/// Owns the tokio runtime (sized by `IGGY_CONNECTORS_WORKER_THREADS`, default: the CPU count,
/// at least 2) and installs a panic hook that marks panics as our bug, not the user's.
#[napi_derive::module_init]
fn init() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "This is a bug in iggy-connectors, not in your configuration; please report it with the message below."
        );
        default_hook(info);
    }));
    let workers = std::env::var("IGGY_CONNECTORS_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2)
        });
    if let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("iggy-connectors-worker")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}

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
