//! Plugin path resolution, as upstream (§6.1) plus the connector file's directory.

use std::path::{Path, PathBuf};

use crate::error::EngineError;

#[cfg(target_os = "macos")]
const EXTENSION: &str = "dylib";
#[cfg(target_os = "windows")]
const EXTENSION: &str = "dll";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const EXTENSION: &str = "so";

const SYSTEM_DIRS: [&str; 6] = [
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/local/lib",
    "/usr/local/lib64",
];

/// Appends the OS library extension unless the path already ends in one.
fn with_extension(path: &str) -> PathBuf {
    let has_extension = [".so", ".dylib", ".dll"]
        .iter()
        .any(|ext| path.ends_with(ext));
    if has_extension {
        PathBuf::from(path)
    } else {
        PathBuf::from(format!("{path}.{EXTENSION}"))
    }
}

/// Resolves `path` for connector `key`: the literal path; for an absolute path nothing else;
/// for a relative one the path against `config_dir`, then its file name in the executable's
/// directory, the current directory and the system library directories.
pub fn resolve_path(
    key: &str,
    path: &str,
    config_dir: Option<&Path>,
) -> Result<PathBuf, EngineError> {
    let candidate = with_extension(path);
    let mut tried = vec![candidate.clone()];
    if candidate.is_file() {
        return Ok(candidate);
    }
    if !candidate.is_absolute() {
        if let Some(dir) = config_dir {
            tried.push(dir.join(&candidate));
        }
        if let Some(name) = candidate.file_name() {
            if let Some(exe_dir) = std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf))
            {
                tried.push(exe_dir.join(name));
            }
            if let Ok(cwd) = std::env::current_dir() {
                tried.push(cwd.join(name));
            }
            tried.extend(SYSTEM_DIRS.iter().map(|dir| Path::new(dir).join(name)));
        }
        if let Some(found) = tried[1..].iter().find(|p| p.is_file()) {
            return Ok(found.clone());
        }
    }
    Err(EngineError::PluginNotFound {
        key: key.to_owned(),
        tried: tried
            .iter()
            .map(|p| format!("'{}'", p.display()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_path_without_extension_when_missing_should_list_every_searched_path() {
        let error = resolve_path("k", "no/such/plugin", None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("connector 'k'"), "{error}");
        assert!(
            error.contains(&format!("no/such/plugin.{EXTENSION}")),
            "{error}"
        );
        assert!(error.contains("/usr/lib/plugin"), "{error}");
    }

    #[test]
    fn given_absolute_missing_path_when_resolved_should_try_only_that_path() {
        let error = resolve_path("k", "/nope/plugin.so", None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("'/nope/plugin.so'"), "{error}");
        assert!(!error.contains("/usr/lib"), "{error}");
    }

    #[test]
    fn given_relative_path_when_present_in_config_dir_should_resolve_there() {
        let dir = std::env::temp_dir().join(format!("engine-resolve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        let file = dir.join(format!("plugins/p.{EXTENSION}"));
        std::fs::write(&file, b"").unwrap();
        assert_eq!(resolve_path("k", "plugins/p", Some(&dir)).unwrap(), file);
        let _ = std::fs::remove_dir_all(dir);
    }
}
