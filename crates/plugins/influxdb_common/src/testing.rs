//! Test-only: a real InfluxDB 1.8.3 per test binary, started through
//! `scripts/influxdb-test-server.sh` (which builds `influxd` with Go when missing; the tests
//! fail loudly if it cannot, they are never skipped).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::csv::{self, Block};

/// The v2 API token of the script's admin user (`user:password` on 1.x).
pub const TOKEN: &str = "iggy:iggy-secret";

#[derive(Debug, Clone)]
pub struct TestServer {
    pub dir: PathBuf,
    pub url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/influxdb-test-server.sh")
}

fn run(args: &[&str], dir: &PathBuf) -> String {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/influxdb-test-server.sh: {e}"));
    if !output.status.success() {
        panic!(
            "scripts/influxdb-test-server.sh {} failed ({}). InfluxDB 1.8.3 is required for these \
             tests (the script builds it with Go).\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

impl TestServer {
    /// Starts (or reuses) the server named `name` (one data dir per name).
    pub fn start(name: &str) -> TestServer {
        let dir = std::env::temp_dir().join(format!("iggy-connectors-influxdb-{name}"));
        // The server stops when this test binary exits.
        let url = run(&["start", "--owner", &std::process::id().to_string()], &dir);
        TestServer { dir, url }
    }

    /// The shared server of this test binary, started on first use.
    pub fn shared(name: &str) -> &'static TestServer {
        static SERVER: OnceLock<TestServer> = OnceLock::new();
        SERVER.get_or_init(|| TestServer::start(name))
    }

    pub fn stop(&self) {
        run(&["stop"], &self.dir);
    }

    /// Starts it again on the same port, with its data.
    pub fn restart(&self) {
        let url = run(
            &["start", "--owner", &std::process::id().to_string()],
            &self.dir,
        );
        assert_eq!(url, self.url, "restarted server must keep its port");
    }

    fn http() -> reqwest::Client {
        reqwest::Client::new()
    }

    /// `CREATE DATABASE` through InfluxQL; its bucket name for the v2 API is the same string.
    pub async fn create_database(&self, name: &str) {
        let response = Self::http()
            .post(format!("{}/query", self.url))
            .basic_auth("iggy", Some("iggy-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "q={}",
                crate::client::form_encode(&format!("CREATE DATABASE \"{name}\""))
            ))
            .send()
            .await
            .expect("InfluxQL request");
        assert!(response.status().is_success(), "CREATE DATABASE {name}");
    }

    /// Writes line protocol with nanosecond timestamps.
    pub async fn write(&self, bucket: &str, lines: &str) {
        let response = Self::http()
            .post(format!(
                "{}/api/v2/write?org=test&bucket={}&precision=ns",
                self.url,
                crate::client::form_encode(bucket)
            ))
            .header("authorization", format!("Token {TOKEN}"))
            .body(lines.to_string())
            .send()
            .await
            .expect("write request");
        let status = response.status();
        assert!(
            status.is_success(),
            "write failed: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Runs a Flux query and parses the annotated CSV.
    pub async fn flux(&self, query: &str) -> Vec<Block> {
        let body = serde_json::json!({
            "query": query, "type": "flux",
            "dialect": {"annotations": ["datatype"], "header": true, "delimiter": ","}
        });
        let response = Self::http()
            .post(format!("{}/api/v2/query?org=test", self.url))
            .header("authorization", format!("Token {TOKEN}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("query request");
        let status = response.status();
        let text = response.text().await.expect("query body");
        assert!(status.is_success(), "Flux query failed: {status} {text}");
        csv::parse(&text).expect("annotated CSV")
    }
}

/// `base` with the keys of `extra` set over it (both JSON objects): a test's config tweaks.
pub fn merged(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    for (key, value) in extra.as_object().expect("extra is an object") {
        base[key] = value.clone();
    }
    base
}

/// A unique name for a test database or measurement.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}
