//! `inspectPlugin`: load a plugin library and report what it exports.

use napi_derive::napi;

use crate::error::{Result, not_implemented};

/// What `validate` reports for one plugin library. Throws with a clear message on failure.
#[napi(object)]
pub struct PluginInfo {
    pub resolved_path: String,
    pub version: String,
    /// source | sink
    pub kind: String,
    /// Exports iggy_source_handle_v2 + iggy_source_batch_result.
    pub batch_result_abi: bool,
    pub symbols: Vec<String>,
}

#[napi(catch_unwind)]
pub fn inspect_plugin(
    kind: String,
    path: String,
    config_dir: Option<String>,
) -> Result<PluginInfo> {
    let _ = (kind, path, config_dir);
    Err(not_implemented("inspectPlugin"))
}
