//! Plugin libraries: path resolution, loading (once per resolved path, never unloaded) and the
//! typed symbol tables of sources and sinks.

mod library;
mod resolve;

pub use library::{PluginLibrary, SinkSymbols, SourceSymbols, load, loaded_library};
pub use resolve::{bundled_dirs, resolve_path, set_bundled_dirs};

/// The plugin ABI major this engine accepts from `iggy_connector_abi_version`.
pub const ABI_MAJOR: u32 = 1;
