//! `inspect_plugin`: what a plugin library is, without opening a connector.

use std::path::Path;

use crate::error::{EngineError, Result};
use crate::plugin;
use crate::stats::ConnectorKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub resolved_path: String,
    pub version: String,
    pub kind: ConnectorKind,
    pub batch_result_abi: bool,
    pub symbols: Vec<String>,
    /// The plugin config's JSON Schema text, when the plugin exports one.
    pub config_schema: Option<String>,
}

/// Resolves and loads `path` and checks it is a complete `kind` plugin. `label` names the
/// plugin in errors (a connector key, or the path itself).
pub fn inspect_plugin(
    label: &str,
    kind: ConnectorKind,
    path: &str,
    config_dir: Option<&Path>,
) -> Result<PluginInfo> {
    let resolved = plugin::resolve_path(label, path, config_dir)?;
    let library = plugin::load(label, &resolved)?;
    let (version, batch_result_abi) = match kind {
        ConnectorKind::Source => {
            let symbols = library.source_symbols(label)?;
            (symbols.version.clone(), symbols.batch_result_abi())
        }
        ConnectorKind::Sink => (library.sink_symbols(label)?.version, false),
    };
    Ok(PluginInfo {
        resolved_path: library.path.display().to_string(),
        version,
        kind,
        batch_result_abi,
        symbols: library.exported_symbols(),
        config_schema: library.config_schema(),
    })
}

/// Parses "source" | "sink" for API callers.
pub fn parse_kind(kind: &str) -> Result<ConnectorKind> {
    ConnectorKind::parse(kind).ok_or_else(|| {
        EngineError::Other(format!(
            "unknown connector kind '{kind}', expected source or sink"
        ))
    })
}
