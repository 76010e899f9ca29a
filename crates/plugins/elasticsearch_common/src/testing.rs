//! Test-only: real OpenSearch 2.19 / Elasticsearch 7.10 servers started through
//! `scripts/search-test-server.sh` (Java 17 and Maven must be installed; the script and this
//! helper fail loudly otherwise, tests are never skipped), and a plain client for test setup and
//! assertions.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

/// Which server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenSearch,
    Elasticsearch,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::OpenSearch => "opensearch",
            Flavor::Elasticsearch => "elasticsearch",
        }
    }
}

/// A running server: its directory and base URL. A dedicated one stops when dropped; the
/// shared ones stop when the test binary exits (the script watches its PID).
#[derive(Debug)]
pub struct TestServer {
    pub flavor: Flavor,
    pub dir: PathBuf,
    pub url: String,
    dedicated: bool,
}

fn script() -> PathBuf {
    // CARGO_MANIFEST_DIR of this crate: crates/plugins/elasticsearch_common
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/search-test-server.sh")
}

fn run(args: &[&str], flavor: Flavor, dir: &PathBuf) -> String {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .args(["--flavor", flavor.name(), "--dir"])
        .arg(dir)
        .args(["--watch-pid", &std::process::id().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/search-test-server.sh: {e}"));
    if !output.status.success() {
        panic!(
            "scripts/search-test-server.sh {} --flavor {} failed ({}). Java 17 and Maven are \
             required for these tests (Debian: apt-get install -y openjdk-17-jre-headless maven).\n{}",
            args.join(" "),
            flavor.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `target/…/deps/e2e-1a2b3c` → `e2e-1a2b3c`: one server directory per test binary.
fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "tests".into())
}

impl TestServer {
    fn start_in(flavor: Flavor, dir: PathBuf, dedicated: bool) -> TestServer {
        // Fresh data on every run.
        let _ = std::fs::remove_dir_all(&dir);
        let url = run(&["start"], flavor, &dir);
        TestServer {
            flavor,
            dir,
            url,
            dedicated,
        }
    }

    /// The server of this flavor shared by the tests of this binary, started on first use.
    pub fn shared(flavor: Flavor) -> &'static TestServer {
        static OPENSEARCH: OnceLock<TestServer> = OnceLock::new();
        static ELASTICSEARCH: OnceLock<TestServer> = OnceLock::new();
        let cell = match flavor {
            Flavor::OpenSearch => &OPENSEARCH,
            Flavor::Elasticsearch => &ELASTICSEARCH,
        };
        cell.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!(
                "iggy-connectors-{}-{}",
                flavor.name(),
                binary_name()
            ));
            TestServer::start_in(flavor, dir, false)
        })
    }

    /// A server of its own (for tests that stop and restart it), stopped when dropped.
    pub fn dedicated(flavor: Flavor, name: &str) -> TestServer {
        let dir = std::env::temp_dir().join(format!(
            "iggy-connectors-{}-{name}-{}",
            flavor.name(),
            std::process::id()
        ));
        TestServer::start_in(flavor, dir, true)
    }

    /// Stops the JVM; its data stays.
    pub fn stop(&self) {
        run(&["stop"], self.flavor, &self.dir);
    }

    /// Starts it again on the same data and port.
    pub fn restart(&self) {
        let url = run(&["start"], self.flavor, &self.dir);
        assert_eq!(url, self.url, "restarted server must keep its port");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.dedicated {
            let _ = Command::new("bash")
                .arg(script())
                .args(["stop", "--flavor", self.flavor.name(), "--dir"])
                .arg(&self.dir)
                .output();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A unique lowercase index name (tests in one binary share a server).
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
    .to_lowercase()
}

/// A plain REST client for test setup and assertions (independent of the plugins' client).
#[derive(Clone)]
pub struct Es {
    http: reqwest::Client,
    pub url: String,
}

impl Es {
    pub fn new(url: &str) -> Es {
        Es {
            http: reqwest::Client::new(),
            url: url.trim_end_matches('/').to_string(),
        }
    }

    /// Sends a request and returns the status and JSON body; panics on a transport error.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Creates `index` with one shard, no replicas (a single node stays green) and `mappings`.
    pub async fn create_index(&self, index: &str, mappings: Value) {
        let (status, body) = self
            .request(
                reqwest::Method::PUT,
                &format!("/{index}"),
                Some(json!({
                    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                    "mappings": mappings,
                })),
            )
            .await;
        assert_eq!(status, 200, "creating {index}: {body}");
    }

    /// Indexes `(id, source)` pairs with `_bulk` (in chunks of 5 000) and refreshes the index.
    pub async fn index_documents(&self, index: &str, documents: &[(String, Value)]) {
        for chunk in documents.chunks(5000) {
            let mut body = String::new();
            for (id, source) in chunk {
                body.push_str(&json!({"index": {"_index": index, "_id": id}}).to_string());
                body.push('\n');
                body.push_str(&source.to_string());
                body.push('\n');
            }
            let response = self
                .http
                .post(format!("{}/_bulk", self.url))
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .expect("bulk request");
            let answer: Value = response.json().await.expect("bulk answer");
            assert_eq!(
                answer["errors"],
                json!(false),
                "bulk into {index}: {answer}"
            );
        }
        self.refresh(index).await;
    }

    pub async fn refresh(&self, index: &str) {
        let (status, body) = self
            .request(reqwest::Method::POST, &format!("/{index}/_refresh"), None)
            .await;
        assert_eq!(status, 200, "refresh {index}: {body}");
    }

    /// Refreshes `index` and counts its documents (0 when it does not exist yet).
    pub async fn count(&self, index: &str) -> u64 {
        let (status, _) = self
            .request(reqwest::Method::POST, &format!("/{index}/_refresh"), None)
            .await;
        if status == 404 {
            return 0;
        }
        let (_, body) = self
            .request(reqwest::Method::GET, &format!("/{index}/_count"), None)
            .await;
        body["count"].as_u64().unwrap_or(0)
    }

    /// Every document of `index` as `(_id, _source)`, in `_id` order.
    pub async fn all_documents(&self, index: &str) -> Vec<(String, Value)> {
        self.refresh(index).await;
        let mut out = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let mut query =
                json!({"size": 10000, "sort": [{"_id": "asc"}], "query": {"match_all": {}}});
            if let Some(after) = &after {
                query["search_after"] = json!([after]);
            }
            let (status, body) = self
                .request(
                    reqwest::Method::POST,
                    &format!("/{index}/_search"),
                    Some(query),
                )
                .await;
            assert_eq!(status, 200, "search {index}: {body}");
            let hits = body["hits"]["hits"].as_array().cloned().unwrap_or_default();
            if hits.is_empty() {
                return out;
            }
            for hit in hits {
                let id = hit["_id"].as_str().unwrap_or_default().to_string();
                after = Some(json!(id));
                out.push((id, hit["_source"].clone()));
            }
        }
    }
}
