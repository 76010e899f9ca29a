//! Test-only: a real PostgreSQL server per test binary, started through
//! `scripts/pg-test-server.sh` (Debian's `postgresql` package must be installed; the script and
//! this helper fail loudly otherwise, tests are never skipped).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// A running server: its data directory (stable per test binary, so reruns reuse it) and URL.
#[derive(Debug, Clone)]
pub struct TestServer {
    pub dir: PathBuf,
    pub url: String,
}

fn script() -> PathBuf {
    // CARGO_MANIFEST_DIR of this crate: crates/plugins/postgres_source/pg_common
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../../scripts/pg-test-server.sh")
}

/// The data directory of server `name`: under `PG_TEST_DIR` when set (so concurrent checkouts
/// on one machine each get their own servers), else under the system temp dir.
fn data_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("PG_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    // The script keeps its lock file beside the data dir: the parent must exist.
    std::fs::create_dir_all(&base)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", base.display()));
    base.join(format!("iggy-connectors-pg-{name}"))
}

fn run(args: &[&str], dir: &PathBuf) -> String {
    run_with_env(args, dir, &[])
}

fn run_with_env(args: &[&str], dir: &PathBuf, env: &[(&str, &str)]) -> String {
    let output = Command::new("bash")
        .envs(env.iter().copied())
        .arg(script())
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/pg-test-server.sh: {e}"));
    if !output.status.success() {
        panic!(
            "scripts/pg-test-server.sh {} failed ({}). PostgreSQL is required for these tests \
             (Debian: apt-get install -y postgresql).\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

impl TestServer {
    /// Starts (or reuses) the server named `name`; one data dir per name.
    pub fn start(name: &str) -> TestServer {
        let dir = data_dir(name);
        let url = run(&["start"], &dir);
        TestServer { dir, url }
    }

    /// Starts (or reuses) the server named `name` with extra script settings, e.g.
    /// `PG_TEST_WAL_LEVEL=replica` (they apply when this call starts the server, not to one
    /// already running).
    pub fn start_with_env(name: &str, env: &[(&str, &str)]) -> TestServer {
        let dir = data_dir(name);
        let url = run_with_env(&["start"], &dir, env);
        TestServer { dir, url }
    }

    /// The shared server of this test binary, started on first use.
    pub fn shared(name: &str) -> &'static TestServer {
        static SERVER: OnceLock<TestServer> = OnceLock::new();
        SERVER.get_or_init(|| TestServer::start(name))
    }

    /// Stops the server (fast shutdown); connections break.
    pub fn stop(&self) {
        run(&["stop"], &self.dir);
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        let url = run(&["start"], &self.dir);
        assert_eq!(url, self.url, "restarted server must keep its port");
    }
}

/// A unique lowercase name for a test table/slot (tests in one binary share the server).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 100_000
    )
}

/// A plain client for test setup and assertions.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test PostgreSQL at {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}
