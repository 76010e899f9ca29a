//! Source state files: `<state_path>/source_<key>.state`, the raw `ConnectorState` bytes.
//!
//! Writes are atomic (temp file, fdatasync, rename) so a crash leaves either the old or the new
//! state, never a truncated file; upstream 0.4.0 truncates in place.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    pub fn new(dir: &Path, key: &str) -> Self {
        Self {
            path: dir.join(format!("source_{key}.state")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; `None` when there is no file or it is empty.
    pub fn load(&self) -> Result<Option<Vec<u8>>> {
        match fs::read(&self.path) {
            Ok(bytes) if bytes.is_empty() => Ok(None),
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(self.error(source)),
        }
    }

    pub fn save(&self, bytes: &[u8]) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(|source| self.error(source))?;
        }
        let tmp = self.path.with_extension("state.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_data()?;
            // No directory fsync after the rename: losing the rename in a power cut leaves the
            // previous state, so the source re-emits that batch (at-least-once, never a gap),
            // and skipping it halves the per-batch cost on the hot path.
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|source| {
            // A half-written temp file (disk full) would only hold on to the space needed by
            // the next attempt; the saved state is untouched.
            let _ = fs::remove_file(&tmp);
            self.error(source)
        })
    }

    fn error(&self, source: std::io::Error) -> EngineError {
        EngineError::State {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_saved_state_when_loaded_should_round_trip_and_leave_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("engine-state-{}", std::process::id()));
        let store = StateStore::new(&dir, "k");
        assert_eq!(store.load().unwrap(), None);
        store.save(b"one").unwrap();
        store.save(b"two").unwrap();
        assert_eq!(store.load().unwrap(), Some(b"two".to_vec()));
        assert!(!dir.join("source_k.state.tmp").exists());
        assert!(dir.join("source_k.state").exists());
        let _ = fs::remove_dir_all(dir);
    }
}
