//! Plugin path resolution, as upstream (§6.1) plus the connector file's directory, and — for a
//! bare name only, after every upstream rule — the plugins bundled with the installed package.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::error::EngineError;

#[cfg(target_os = "macos")]
const EXTENSION: &str = "dylib";
#[cfg(target_os = "windows")]
const EXTENSION: &str = "dll";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const EXTENSION: &str = "so";

/// What cargo puts in front of a cdylib's file name on this OS.
#[cfg(target_os = "windows")]
const LIB_PREFIX: &str = "";
#[cfg(not(target_os = "windows"))]
const LIB_PREFIX: &str = "lib";

/// The crate-name prefix of this project's plugins (`iggy_connector_random_source`).
const PLUGIN_PREFIX: &str = "iggy_connector_";

const SYSTEM_DIRS: [&str; 6] = [
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/local/lib",
    "/usr/local/lib64",
];

/// Where the plugins shipped with this installation live. Process-wide because it describes the
/// installation (the host sets it once, e.g. the Node package points it at the `plugins/`
/// directory of its platform package), not a connector.
static BUNDLED_DIRS: RwLock<Vec<PathBuf>> = RwLock::new(Vec::new());

/// Sets the directories searched, in order, for a bare plugin name that no upstream rule found.
pub fn set_bundled_dirs(dirs: Vec<PathBuf>) {
    *BUNDLED_DIRS.write().unwrap_or_else(|e| e.into_inner()) = dirs;
}

/// The directories set by [`set_bundled_dirs`].
pub fn bundled_dirs() -> Vec<PathBuf> {
    BUNDLED_DIRS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

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

/// A name with no directory part: `postgres_sink`, `libiggy_connector_postgres_sink.so`.
fn is_bare_name(path: &str) -> bool {
    !path.is_empty() && !path.contains(['/', '\\'])
}

/// The file names a bare name may stand for among the bundled plugins: as written, with the OS
/// library prefix, and as a short plugin name (`stdout_sink` → `libiggy_connector_stdout_sink`).
fn bundled_file_names(name: &str) -> Vec<PathBuf> {
    let mut names = vec![name.to_owned()];
    if !name.starts_with(LIB_PREFIX) {
        names.push(format!("{LIB_PREFIX}{name}"));
    }
    if !name.contains(PLUGIN_PREFIX) {
        names.push(format!("{LIB_PREFIX}{PLUGIN_PREFIX}{name}"));
    }
    names.dedup();
    names.iter().map(|n| with_extension(n)).collect()
}

/// Resolves `path` for connector `key`: the literal path; for an absolute path nothing else;
/// for a relative one the path against `config_dir`, then its file name in the executable's
/// directory, the current directory and the system library directories; for a bare name, last,
/// the bundled plugin directories (see [`set_bundled_dirs`]).
pub fn resolve_path(
    key: &str,
    path: &str,
    config_dir: Option<&Path>,
) -> Result<PathBuf, EngineError> {
    resolve_path_in(key, path, config_dir, &bundled_dirs())
}

fn resolve_path_in(
    key: &str,
    path: &str,
    config_dir: Option<&Path>,
    bundled: &[PathBuf],
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
        if is_bare_name(path) {
            for dir in bundled {
                tried.extend(bundled_file_names(path).iter().map(|n| dir.join(n)));
            }
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

    /// A fresh directory under the temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("engine-resolve-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn touch(&self, relative: &str) -> PathBuf {
            let file = self.0.join(relative);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, b"").unwrap();
            file
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Library file name of a fixture plugin. Fixture names match no real plugin: the upstream
    /// rules search the test binary's directory, where cargo puts the workspace's plugins.
    fn lib(name: &str) -> String {
        format!("{LIB_PREFIX}{name}.{EXTENSION}")
    }

    #[test]
    fn given_path_without_extension_when_missing_should_list_every_searched_path() {
        let error = resolve_path_in("k", "no/such/plugin", None, &[])
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
        let error = resolve_path_in("k", "/nope/plugin.so", None, &[PathBuf::from("/bundled")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("'/nope/plugin.so'"), "{error}");
        assert!(!error.contains("/usr/lib"), "{error}");
        assert!(!error.contains("/bundled"), "{error}");
    }

    #[test]
    fn given_relative_path_when_present_in_config_dir_should_resolve_there() {
        let dir = TempDir::new("config-dir");
        let file = dir.touch(&format!("plugins/p.{EXTENSION}"));
        assert_eq!(
            resolve_path_in("k", "plugins/p", Some(&dir.0), &[]).unwrap(),
            file
        );
    }

    #[test]
    fn given_short_bare_name_when_bundled_should_resolve_to_the_bundled_library() {
        let bundled = TempDir::new("bundled-short");
        let file = bundled.touch(&lib("iggy_connector_resolve_fixture_sink"));
        for name in [
            "resolve_fixture_sink",
            "iggy_connector_resolve_fixture_sink",
            &format!("{LIB_PREFIX}iggy_connector_resolve_fixture_sink"),
            &lib("iggy_connector_resolve_fixture_sink"),
        ] {
            let found = resolve_path_in("k", name, None, std::slice::from_ref(&bundled.0));
            assert_eq!(found.unwrap(), file, "{name}");
        }
    }

    #[test]
    fn given_bare_name_when_also_in_config_dir_should_prefer_the_upstream_rule() {
        let config_dir = TempDir::new("bare-config-dir");
        let bundled = TempDir::new("bare-bundled");
        let local = config_dir.touch(&format!("resolve_fixture_sink.{EXTENSION}"));
        bundled.touch(&lib("iggy_connector_resolve_fixture_sink"));
        let found = resolve_path_in(
            "k",
            "resolve_fixture_sink",
            Some(&config_dir.0),
            std::slice::from_ref(&bundled.0),
        );
        assert_eq!(found.unwrap(), local);
    }

    #[test]
    fn given_path_with_directory_when_only_bundled_has_its_file_should_not_use_the_bundle() {
        let bundled = TempDir::new("dir-not-bundled");
        bundled.touch(&lib("iggy_connector_resolve_fixture_sink"));
        let error = resolve_path_in(
            "k",
            "build/plugins/libiggy_connector_resolve_fixture_sink",
            None,
            std::slice::from_ref(&bundled.0),
        )
        .unwrap_err()
        .to_string();
        assert!(!error.contains(&bundled.0.display().to_string()), "{error}");
    }

    #[test]
    fn given_unknown_bare_name_when_missing_should_list_the_bundled_candidates() {
        let bundled = TempDir::new("bare-missing");
        let error = resolve_path_in("k", "kafka_sink", None, std::slice::from_ref(&bundled.0))
            .unwrap_err()
            .to_string();
        let expected = bundled.0.join(lib("iggy_connector_kafka_sink"));
        assert!(error.contains(&expected.display().to_string()), "{error}");
    }

    #[test]
    fn given_bundled_dirs_when_set_should_be_used_by_resolve_path() {
        let bundled = TempDir::new("global");
        let file = bundled.touch(&lib("iggy_connector_resolve_global_test"));
        set_bundled_dirs(vec![bundled.0.clone()]);
        let found = resolve_path("k", "resolve_global_test", None);
        set_bundled_dirs(Vec::new());
        assert_eq!(found.unwrap(), file);
    }
}
