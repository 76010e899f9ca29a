//! Shared helpers of the MongoDB sink tests: a real MongoDB wire-protocol server (FerretDB,
//! built from `tools/ferretdb` by `scripts/ferretdb-test-server.sh`) started, killed and
//! restarted by the tests themselves, the sink under test, and a reader that is the official
//! `mongodb` driver used directly (not the sink's code).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use iggy_connector_mongodb_sink::{MongoDbSink, MongoDbSinkConfig};
use iggy_connectors_sdk::{ConsumedMessage, Payload};
use iggy_connectors_test_support::sink_calls::{self, Stamps, with_keys};
// Re-exported for the test binaries that call the sink directly; the others leave them unused.
#[allow(unused_imports)]
pub use iggy_connectors_test_support::sink_calls::{meta, topic};
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

/// The launcher binary, built once per test binary (a few minutes the very first time on a
/// machine, then cached under $HOME).
fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/ferretdb-test-server.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg("build")
            .stderr(Stdio::inherit())
            .output()
            .expect("runs scripts/ferretdb-test-server.sh");
        assert!(
            output.status.success(),
            "scripts/ferretdb-test-server.sh build failed"
        );
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    })
}

/// `RUST_LOG=info cargo test … -- --nocapture` shows the sink's logs.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// One FerretDB process with its own data directory, on a loopback port the kernel picked.
pub struct MongoServer {
    pub uri: String,
    dir: PathBuf,
    listen: String,
    child: Option<Child>,
}

impl MongoServer {
    pub fn start() -> MongoServer {
        init_logs();
        let dir = std::env::temp_dir().join(unique_name("ferretdb"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = MongoServer {
            uri: String::new(),
            dir,
            listen: "127.0.0.1:0".into(),
            child: None,
        };
        server.spawn();
        // Restarts reuse the port, so the sink's client finds the server where it was.
        server.listen = server
            .uri
            .trim_start_matches("mongodb://")
            .trim_end_matches('/')
            .to_string();
        server
    }

    fn spawn(&mut self) {
        let uri_file = self.dir.join("uri");
        let _ = std::fs::remove_file(&uri_file);
        let log = std::fs::File::create(self.dir.join("server.log")).unwrap();
        let started = Instant::now();
        let mut child = Command::new(server_binary())
            .arg("-dir")
            .arg(&self.dir)
            .arg("-listen")
            .arg(&self.listen)
            .arg("-uri-file")
            .arg(&uri_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ferretdb-test-server starts");
        // The launcher writes the URI file after its listener is bound.
        let deadline = Instant::now() + Duration::from_secs(30);
        let uri = loop {
            if let Ok(uri) = std::fs::read_to_string(&uri_file) {
                break uri.trim().to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "FerretDB exited ({status}) before listening: {}",
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "FerretDB not listening after 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        eprintln!("FerretDB listening at {uri} after {:?}", started.elapsed());
        self.uri = uri;
        self.child = Some(child);
    }

    /// SIGKILL: no clean shutdown, connections drop mid-request.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill FerretDB");
            child.wait().expect("reap FerretDB");
        }
    }

    /// Starts again on the same port with the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The kernel may hold the port briefly after the kill.
            match std::net::TcpListener::bind(&self.listen) {
                Ok(probe) => {
                    drop(probe);
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(error) => panic!("port {} not free again: {error}", self.listen),
            }
        }
        self.spawn();
    }

    /// A client of the official driver, for reading back what the sink stored.
    pub async fn client(&self) -> mongodb::Client {
        mongodb::Client::with_uri_str(&self.uri)
            .await
            .expect("driver client")
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn config(server: &MongoServer, database: &str, extra: Value) -> Value {
    let base = json!({
        "connection_uri": server.uri,
        "database": database,
        "collection": "iggy_messages",
        "retry_delay": "20ms",
    });
    with_keys(base, extra)
}

pub async fn open(config: Value) -> MongoDbSink {
    let config: MongoDbSinkConfig = serde_json::from_value(config).expect("config parses");
    let mut sink = MongoDbSink::new(1, config);
    sink.open().await.expect("sink opens");
    sink
}

/// Messages with ids `1000 + offset`, µs timestamps, and the given payloads.
pub fn messages(first_offset: u64, payloads: Vec<Payload>) -> Vec<ConsumedMessage> {
    sink_calls::messages(first_offset, payloads, |offset| Stamps {
        checksum: 77 + offset,
        timestamp: 1_700_000_000_000_000 + offset * 1000,
        origin_timestamp: 1_600_000_000_000_000 + offset * 1000,
    })
}

pub fn raw(n: usize) -> Vec<Payload> {
    (0..n)
        .map(|i| Payload::Raw(format!("message {i}").into_bytes()))
        .collect()
}

pub fn id_of(message_id: u128) -> String {
    format!("test_stream:test_topic:1:{message_id}")
}

pub async fn documents(client: &mongodb::Client, database: &str) -> Vec<Document> {
    use futures_util::TryStreamExt;
    client
        .database(database)
        .collection::<Document>("iggy_messages")
        .find(doc! {})
        .sort(doc! { "iggy_offset": 1 })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor")
}

pub async fn count(client: &mongodb::Client, database: &str) -> u64 {
    client
        .database(database)
        .collection::<Document>("iggy_messages")
        .count_documents(doc! {})
        .await
        .expect("count")
}
