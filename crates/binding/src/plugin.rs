//! `inspectPlugin`: load a plugin library and report what it exports.

use napi_derive::napi;

use crate::error::{NapiResultExt, Result};

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
    let kind = iggy_connectors_engine::parse_kind(&kind).default_error()?;
    let info = iggy_connectors_engine::inspect_plugin(
        &path,
        kind,
        &path,
        config_dir.as_deref().map(std::path::Path::new),
    )
    .default_error()?;
    Ok(PluginInfo {
        resolved_path: info.resolved_path,
        version: info.version,
        kind: info.kind.as_str().to_owned(),
        batch_result_abi: info.batch_result_abi,
        symbols: info.symbols,
    })
}
