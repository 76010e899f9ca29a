//! The effectively-once tests' harness: the runtime in its own process (`pipeline_runtime`,
//! this crate's binary) so a test can SIGKILL it, random kill points that a seed replays, and
//! waits that fail with the runtime's log instead of hanging. [`postgres`] (feature `postgres`)
//! runs the whole kill-then-replay flow from a PostgreSQL table to any sink.

#[cfg(feature = "postgres")]
pub mod postgres;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::artifacts;

/// The connector key of `pipeline_runtime`'s source and sink (its state file is
/// `source_kill9.state`).
pub const KEY: &str = "kill9";
/// The topic `pipeline_runtime` joins them with (one partition, so order is total).
pub const STREAM: &str = "kill9";
pub const TOPIC: &str = "rows";

/// A run that makes no progress for this long has hung: the test fails with the runtime's log.
pub const STALL: Duration = Duration::from_secs(60);

/// xorshift64*: the kill points. [`Rng::from_env`] prints its seed so a run can be replayed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `KILL9_SEED` when set (to replay a failing run), else from the clock.
    pub fn from_env() -> Rng {
        let seed = std::env::var("KILL9_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("kill9: KILL9_SEED={seed}");
        Rng(seed)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// How to start the runtime process: the broker, the work directory (state, log) and the two
/// connectors.
pub struct Runtime {
    exe: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    state_dir: PathBuf,
}

impl Runtime {
    /// `pipeline_runtime` on the broker at `address`, with state and log under `work_dir`.
    pub fn new(
        address: &str,
        work_dir: &Path,
        source_plugin: &Path,
        source_config: &Value,
        sink_plugin: &Path,
        sink_config: &Value,
    ) -> Runtime {
        std::fs::create_dir_all(work_dir).expect("the work directory");
        let state_dir = work_dir.join("state");
        Runtime {
            exe: artifacts::binary("pipeline_runtime"),
            args: vec![
                address.to_owned(),
                state_dir.display().to_string(),
                source_plugin.display().to_string(),
                sink_plugin.display().to_string(),
                source_config.to_string(),
                sink_config.to_string(),
            ],
            log: work_dir.join("runtime.log"),
            state_dir,
        }
    }

    /// The source's state file (absent until its first acknowledged batch).
    pub fn source_state_file(&self) -> PathBuf {
        self.state_dir.join(format!("source_{KEY}.state"))
    }

    /// Starts a runtime process; its stderr (the logs) goes to the work directory.
    pub fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the runtime log");
        Command::new(&self.exe)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("runtime process starts")
    }

    /// The last 4 kB of the runtime's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text[text.floor_char_boundary(start)..].to_string()
    }

    /// Waits until `done()` holds; fails with the log when the runtime exits or [`STALL`] passes.
    pub async fn wait_until<F, Fut>(&self, child: &mut Child, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + STALL;
        while !done().await {
            if let Some(status) = child.try_wait().expect("runtime status") {
                panic!(
                    "runtime exited ({status}) before {what}:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("no {what} within {STALL:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `kills` runs, each SIGKILLed once `stored()` (the target's count) reaches a random point
    /// of its slice of `total`, plus 0-30 ms: the kills land in every phase (mid-poll,
    /// mid-send, between Iggy's ack and the state write, mid-write, before the offset commit).
    pub async fn kill_at_random_points<F, Fut>(
        &self,
        rng: &mut Rng,
        kills: u64,
        total: u64,
        mut stored: F,
    ) where
        F: FnMut() -> Fut,
        Fut: Future<Output = u64>,
    {
        let slice = total / (kills + 1);
        for round in 0..kills {
            let threshold = slice * round + rng.below(slice) + 1;
            let mut child = self.spawn();
            self.wait_until(&mut child, "progress", || {
                let count = stored();
                async move { count.await >= threshold }
            })
            .await;
            tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
            child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
            child.wait().expect("reap the runtime");
            eprintln!(
                "kill9: round {round}: killed at >= {threshold} stored ({} now)",
                stored().await
            );
        }
    }

    /// SIGINT, then the exit status must be success (the graceful stop).
    pub fn stop_gracefully(&self, mut child: Child) {
        let interrupted = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill -INT runs");
        assert!(interrupted.success());
        let status = child.wait().expect("reap the runtime");
        assert!(
            status.success(),
            "graceful stop: {status}\n{}",
            self.log_tail()
        );
    }
}
