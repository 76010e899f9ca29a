//! Loading a plugin library and resolving its symbol table up front, so a library that lacks
//! a symbol is refused at start with a message naming it, never at first call.

use std::collections::HashMap;
use std::ffi::{CStr, c_char};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use libloading::Library;

use super::ABI_MAJOR;
use crate::error::EngineError;
use crate::ffi::sink::ConsumeExport;
use crate::ffi::{
    AbiVersionFn, CloseFn, ConfigSchemaFn, SinkConsumeFn, SinkConsumeV2Fn, SinkOpenFn,
    SourceBatchResultFn, SourceHandleFn, SourceHandleV2Fn, SourceOpenFn, VersionFn,
};
use crate::stats::ConnectorKind;

/// A loaded library. Kept forever: plugin code may still run on its own threads after close,
/// and unloading it under them would crash the process.
pub struct PluginLibrary {
    pub path: PathBuf,
    library: Library,
    /// The log slot assigned to this library (see `ffi::log`).
    pub log_slot: usize,
}

static LIBRARIES: LazyLock<Mutex<HashMap<PathBuf, Arc<PluginLibrary>>>> =
    LazyLock::new(Default::default);

/// Loads `path` (already resolved) once per process and returns the shared handle.
pub fn load(key: &str, path: &Path) -> Result<Arc<PluginLibrary>, EngineError> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut libraries = LIBRARIES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(library) = libraries.get(&canonical) {
        return Ok(library.clone());
    }
    // SAFETY: loading a library runs its initialisers; plugins are trusted code by design
    // (the runtime exists to run them).
    let library = unsafe { Library::new(&canonical) }.map_err(|error| EngineError::PluginLoad {
        key: key.to_owned(),
        path: canonical.clone(),
        message: error.to_string(),
    })?;
    let library = Arc::new(PluginLibrary {
        path: canonical.clone(),
        library,
        log_slot: crate::ffi::log::allocate_slot(),
    });
    libraries.insert(canonical, library.clone());
    Ok(library)
}

/// The handle of an already loaded library, if any.
pub fn loaded_library(path: &Path) -> Option<Arc<PluginLibrary>> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    LIBRARIES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&canonical)
        .cloned()
}

pub struct SourceSymbols {
    pub open: SourceOpenFn,
    pub handle: Option<SourceHandleFn>,
    pub handle_v2: Option<SourceHandleV2Fn>,
    pub batch_result: Option<SourceBatchResultFn>,
    pub close: CloseFn,
    pub version: String,
}

impl SourceSymbols {
    /// True when the source is driven with batch results (Ack/Nack).
    pub fn batch_result_abi(&self) -> bool {
        self.handle_v2.is_some() && self.batch_result.is_some()
    }
}

pub struct SinkSymbols {
    pub open: SinkOpenFn,
    /// `iggy_sink_consume_v2` when exported (ABI 1.1), else the 0.4.0 `iggy_sink_consume`.
    pub consume: ConsumeExport,
    pub close: CloseFn,
    pub version: String,
}

impl PluginLibrary {
    fn symbol<T: Copy>(&self, name: &str) -> Option<T> {
        // SAFETY: the caller names the C signature `T` the ABI documents for `name`.
        unsafe { self.library.get::<T>(name.as_bytes()).ok().map(|s| *s) }
    }

    pub fn has(&self, name: &str) -> bool {
        self.symbol::<*const ()>(name).is_some()
    }

    /// Every ABI symbol this library exports, for `inspectPlugin`.
    pub fn exported_symbols(&self) -> Vec<String> {
        crate::ffi::ALL_SYMBOLS
            .iter()
            .filter(|name| self.has(name))
            .map(|name| name.to_string())
            .collect()
    }

    fn missing(&self, key: &str, kind: ConnectorKind, missing: Vec<&str>) -> EngineError {
        EngineError::MissingSymbols {
            key: key.to_owned(),
            path: self.path.clone(),
            kind: kind.as_str(),
            missing: missing.join(", "),
        }
    }

    /// Refuses a library whose declared ABI major differs from ours.
    fn check_abi(&self, key: &str) -> Result<(), EngineError> {
        if let Some(abi) = self.symbol::<AbiVersionFn>("iggy_connector_abi_version") {
            // SAFETY: declared `extern "C" fn() -> u32`, no arguments, no side effects.
            let version = unsafe { abi() };
            let (major, minor) = (version >> 16, version & 0xffff);
            if major != ABI_MAJOR {
                return Err(EngineError::AbiMismatch {
                    key: key.to_owned(),
                    path: self.path.clone(),
                    found: format!("{major}.{minor}"),
                    expected: ABI_MAJOR,
                });
            }
        }
        Ok(())
    }

    /// Calls a `fn() -> *const c_char` export that returns a static NUL-terminated string.
    fn static_text(&self, symbol: &str) -> Option<String> {
        let text = self.symbol::<VersionFn>(symbol)?;
        // SAFETY: the ABI declares these exports `extern "C" fn() -> *const c_char` without
        // side effects; our SDK's exports catch panics and return null.
        let ptr: *const c_char = unsafe { text() };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated and static per the ABI.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    fn version(&self, symbol: &str) -> String {
        self.static_text(symbol).unwrap_or_default()
    }

    /// The JSON Schema of the plugin's `[plugin_config]` (`iggy_connector_config_schema`), read
    /// without opening a connector; None for plugins without the symbol (0.4.0) or without a
    /// schema.
    pub fn config_schema(&self) -> Option<String> {
        self.symbol::<ConfigSchemaFn>("iggy_connector_config_schema")?;
        self.static_text("iggy_connector_config_schema")
    }

    pub fn source_symbols(&self, key: &str) -> Result<SourceSymbols, EngineError> {
        self.check_abi(key)?;
        let open = self.symbol::<SourceOpenFn>("iggy_source_open");
        let close = self.symbol::<CloseFn>("iggy_source_close");
        let handle = self.symbol::<SourceHandleFn>("iggy_source_handle");
        let handle_v2 = self.symbol::<SourceHandleV2Fn>("iggy_source_handle_v2");
        let batch_result = self.symbol::<SourceBatchResultFn>("iggy_source_batch_result");
        let has_version = self.has("iggy_source_version");
        let mut missing = Vec::new();
        if open.is_none() {
            missing.push("iggy_source_open");
        }
        let v2 = handle_v2.is_some() && batch_result.is_some();
        if handle.is_none() && !v2 {
            missing.push(match (handle_v2.is_some(), batch_result.is_some()) {
                (true, false) => "iggy_source_batch_result",
                (false, true) => "iggy_source_handle_v2",
                _ => "iggy_source_handle (or iggy_source_handle_v2 + iggy_source_batch_result)",
            });
        }
        if close.is_none() {
            missing.push("iggy_source_close");
        }
        if !has_version {
            missing.push("iggy_source_version");
        }
        match (open, close) {
            (Some(open), Some(close)) if missing.is_empty() => Ok(SourceSymbols {
                open,
                handle,
                handle_v2: handle_v2.filter(|_| v2),
                batch_result: batch_result.filter(|_| v2),
                close,
                version: self.version("iggy_source_version"),
            }),
            _ => Err(self.missing(key, ConnectorKind::Source, missing)),
        }
    }

    pub fn sink_symbols(&self, key: &str) -> Result<SinkSymbols, EngineError> {
        self.check_abi(key)?;
        let open = self.symbol::<SinkOpenFn>("iggy_sink_open");
        let consume = self.symbol::<SinkConsumeFn>("iggy_sink_consume");
        let consume_v2 = self.symbol::<SinkConsumeV2Fn>("iggy_sink_consume_v2");
        let close = self.symbol::<CloseFn>("iggy_sink_close");
        let has_version = self.has("iggy_sink_version");
        let mut missing = Vec::new();
        for (name, present) in [
            ("iggy_sink_open", open.is_some()),
            ("iggy_sink_consume", consume.is_some()),
            ("iggy_sink_close", close.is_some()),
            ("iggy_sink_version", has_version),
        ] {
            if !present {
                missing.push(name);
            }
        }
        match (open, consume, close) {
            (Some(open), Some(consume), Some(close)) if missing.is_empty() => Ok(SinkSymbols {
                open,
                consume: match consume_v2 {
                    Some(v2) => ConsumeExport::WithRejections(v2),
                    None => ConsumeExport::Legacy(consume),
                },
                close,
                version: self.version("iggy_sink_version"),
            }),
            _ => Err(self.missing(key, ConnectorKind::Sink, missing)),
        }
    }
}
