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
    /// The JSON Schema of the plugin's `[plugin_config]` (`iggy_connector_config_schema`), as
    /// JSON text; absent for plugins without one (0.4.0 plugins).
    pub config_schema: Option<String>,
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
        config_schema: info.config_schema,
    })
}

/// Sets where bare plugin names (`path = "stdout_sink"`) are looked up after the upstream
/// search rules: the `plugins/` directory shipped with the platform package, or `build/plugins/`
/// in a clone. Process-wide; later engines and `inspectPlugin` use it.
#[napi]
pub fn set_bundled_plugin_dirs(dirs: Vec<String>) {
    iggy_connectors_engine::plugin::set_bundled_dirs(
        dirs.into_iter().map(std::path::PathBuf::from).collect(),
    );
}
