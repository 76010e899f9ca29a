//! Optional on-disk persistence: `state.json` holds the metadata (streams, topics, groups,
//! offsets, tokens) and is replaced atomically on every change; each partition's messages are
//! appended to `streams/<s>/<t>/<p>.log` in exactly the stored wire layout, so recovery is a
//! scan that rebuilds the offset index. Deliberately simple — this is a test broker.

use crate::state::partition::ConsumerKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const STATE_FILE: &str = "state.json";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub next_stream_id: u32,
    pub streams: Vec<StreamMeta>,
    pub pats: Vec<PatMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StreamMeta {
    pub id: u32,
    pub name: String,
    pub created_at: u64,
    pub next_topic_id: u32,
    pub topics: Vec<TopicMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TopicMeta {
    pub id: u32,
    pub name: String,
    pub created_at: u64,
    pub compression_algorithm: u8,
    pub message_expiry: u64,
    pub max_topic_size: u64,
    pub replication_factor: u8,
    pub next_group_id: u32,
    pub groups: Vec<GroupMeta>,
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GroupMeta {
    pub id: u32,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PartitionMeta {
    pub id: u32,
    pub created_at: u64,
    pub offsets: Vec<(ConsumerKey, u64)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PatMeta {
    pub name: String,
    pub token: String,
    pub expiry_at: Option<u64>,
}

pub struct Persist {
    dir: PathBuf,
    /// Open append handles, opened lazily on first write.
    logs: HashMap<(u32, u32, u32), File>,
}

impl Persist {
    /// Creates the directory if needed and reads the snapshot, if any.
    pub fn open(dir: &Path) -> io::Result<(Self, Option<Result<Snapshot, String>>)> {
        fs::create_dir_all(dir.join("streams"))?;
        let state_path = dir.join(STATE_FILE);
        let snapshot = match fs::read(&state_path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| e.to_string())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        Ok((
            Self {
                dir: dir.to_path_buf(),
                logs: HashMap::new(),
            },
            snapshot,
        ))
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn stream_dir(&self, s: u32) -> PathBuf {
        self.dir.join("streams").join(s.to_string())
    }

    fn topic_dir(&self, s: u32, t: u32) -> PathBuf {
        self.stream_dir(s).join(t.to_string())
    }

    fn log_path(&self, s: u32, t: u32, p: u32) -> PathBuf {
        self.topic_dir(s, t).join(format!("{p}.log"))
    }

    /// Write to a temporary file and rename, so a crash never leaves a half-written state file.
    pub fn save(&mut self, snapshot: &Snapshot) -> io::Result<()> {
        let bytes = serde_json::to_vec(snapshot).map_err(io::Error::other)?;
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        fs::write(&tmp, bytes)?;
        fs::rename(tmp, self.state_path())
    }

    pub fn append(&mut self, s: u32, t: u32, p: u32, bytes: &[u8]) -> io::Result<()> {
        if !self.logs.contains_key(&(s, t, p)) {
            fs::create_dir_all(self.topic_dir(s, t))?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path(s, t, p))?;
            self.logs.insert((s, t, p), file);
        }
        let file = self.logs.get_mut(&(s, t, p)).expect("log was just opened");
        file.write_all(bytes)
    }

    pub fn read_partition(&self, s: u32, t: u32, p: u32) -> io::Result<Vec<u8>> {
        match fs::read(self.log_path(s, t, p)) {
            Ok(bytes) => Ok(bytes),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    /// Cuts a torn tail left by a crash so later appends line up with the index.
    pub fn truncate_partition_to(&mut self, s: u32, t: u32, p: u32, len: u64) -> io::Result<()> {
        let path = self.log_path(s, t, p);
        match OpenOptions::new().write(true).open(&path) {
            Ok(file) => {
                if file.metadata()?.len() != len {
                    file.set_len(len)?;
                }
                Ok(())
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub fn truncate_partition(&mut self, s: u32, t: u32, p: u32) {
        self.logs.remove(&(s, t, p));
        if let Err(error) = self.truncate_partition_to(s, t, p, 0) {
            tracing::error!("test broker: cannot purge partition log: {error}");
        }
    }

    pub fn remove_partition(&mut self, s: u32, t: u32, p: u32) {
        self.logs.remove(&(s, t, p));
        let _ = fs::remove_file(self.log_path(s, t, p));
    }

    pub fn remove_topic(&mut self, s: u32, t: u32) {
        self.logs.retain(|k, _| !(k.0 == s && k.1 == t));
        let _ = fs::remove_dir_all(self.topic_dir(s, t));
    }

    pub fn remove_stream(&mut self, s: u32) {
        self.logs.retain(|k, _| k.0 != s);
        let _ = fs::remove_dir_all(self.stream_dir(s));
    }

    /// Forces appended messages to disk (on shutdown and on `flush_unsaved_buffer` with fsync).
    pub fn sync_all(&mut self) {
        for file in self.logs.values_mut() {
            let _ = file.sync_data();
        }
    }
}
