//! Shared helpers of the engine integration tests: a broker (the embedded one, or an external
//! server from `IGGY_TEST_SERVER=host:port`), plugin paths, configs, waiting.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use iggy_connectors_engine::{
    ConnectorKind, ConnectorStats, DeadLetterConfig, Engine, EngineConfig, IggyConfig,
    PartitioningConfig, RetryConfig, SinkConfig, SinkStreamConfig, SourceConfig,
    SourceStreamConfig, TransformConfig,
};
use iggy_connectors_sdk::Schema;
use iggy_test_broker::{BrokerConfig, BrokerHandle};

mod iggy_client;
#[allow(unused_imports)] // the test binaries that drive the engine only leave it unused
pub use iggy_client::*;

pub struct Broker {
    pub address: String,
    handle: Option<BrokerHandle>,
}

impl Broker {
    pub async fn start() -> Broker {
        if let Ok(address) = std::env::var("IGGY_TEST_SERVER") {
            return Broker {
                address,
                handle: None,
            };
        }
        let handle = BrokerHandle::start(BrokerConfig::default())
            .await
            .expect("embedded broker starts");
        Broker {
            address: handle.address().to_string(),
            handle: Some(handle),
        }
    }

    /// An embedded broker with a cap on stored bytes; `None` when an external server is used
    /// (it cannot be capped from here).
    pub async fn start_capped(max_bytes: u64) -> Option<Broker> {
        if std::env::var("IGGY_TEST_SERVER").is_ok() {
            return None;
        }
        let handle = BrokerHandle::start(BrokerConfig {
            max_bytes: Some(max_bytes),
            ..BrokerConfig::default()
        })
        .await
        .expect("embedded broker starts");
        Some(Broker {
            address: handle.address().to_string(),
            handle: Some(handle),
        })
    }

    /// An embedded broker keeping its data in `data_dir` at `address` (`127.0.0.1:0` for any
    /// port), so it can be stopped and started again with everything it held; `None` when an
    /// external server is used (it cannot be restarted from here).
    pub async fn start_persistent(address: &str, data_dir: &Path) -> Option<Broker> {
        if std::env::var("IGGY_TEST_SERVER").is_ok() {
            return None;
        }
        let handle = BrokerHandle::start(BrokerConfig {
            address: address.to_owned(),
            data_dir: Some(data_dir.to_path_buf()),
            ..BrokerConfig::default()
        })
        .await
        .expect("embedded broker starts");
        Some(Broker {
            address: handle.address().to_string(),
            handle: Some(handle),
        })
    }

    pub async fn stop(self) {
        if let Some(handle) = self.handle {
            handle.shutdown().await;
        }
    }
}

/// Builds the test plugin crates once per test binary and returns the library path.
pub fn plugin(crate_name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        // `scripts/rust-tests.mjs` built the whole workspace before any test binary started:
        // a nested per-package build could relink plugin files other test processes load.
        if std::env::var_os("IGGY_TEST_ARTIFACTS_BUILT").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "engine_test_source",
                "-p",
                "engine_test_sink",
                "-p",
                "engine_test_legacy_source",
                "-p",
                "engine_test_abi_v2",
                "-p",
                "iggy_connector_panicking_sink",
                "-p",
                "iggy_connector_random_source",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the engine test plugins failed");
    });
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let file = format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = target.join("debug").join(file);
    assert!(path.exists(), "missing plugin {}", path.display());
    path
}

/// A fresh, unique temp directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("engine-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `name` made unique to this test process: the helpers below use it for every stream, so a
/// second run against the same external server never finds the first run's messages.
pub fn run_stream(name: &str) -> String {
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{}-{nanos}", std::process::id())
    });
    format!("{name}-{run}")
}

pub fn iggy(address: &str) -> IggyConfig {
    IggyConfig {
        address: address.to_owned(),
        username: Some("iggy".to_owned()),
        password: Some("iggy".to_owned()),
        ..IggyConfig::default()
    }
}

pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        multiplier: 2.0,
        max_attempts: 0,
    }
}

pub fn source(
    key: &str,
    plugin_config: serde_json::Value,
    stream: &str,
    topic: &str,
) -> SourceConfig {
    SourceConfig {
        key: key.to_owned(),
        name: format!("{key} source"),
        path: plugin("engine_test_source").display().to_string(),
        config_dir: None,
        version: 1,
        plugin_config_json: plugin_config.to_string(),
        transforms: vec![],
        streams: vec![SourceStreamConfig {
            stream: run_stream(stream),
            topic: topic.to_owned(),
            schema: Schema::Json,
            batch_length: 1000,
            linger_time: Duration::from_millis(1),
            partitioning: PartitioningConfig::Balanced,
            create_stream: true,
            create_topic: true,
            topic_partitions: 1,
        }],
        verbose: false,
        retry: fast_retry(),
        dead_letter: None,
    }
}

pub fn sink(key: &str, output: &Path, fail_first: u64, stream: &str, topic: &str) -> SinkConfig {
    SinkConfig {
        key: key.to_owned(),
        name: format!("{key} sink"),
        path: plugin("engine_test_sink").display().to_string(),
        config_dir: None,
        version: 1,
        plugin_config_json: serde_json::json!({
            "output": output.display().to_string(),
            "fail_first": fail_first,
        })
        .to_string(),
        transforms: vec![],
        streams: vec![SinkStreamConfig {
            stream: run_stream(stream),
            topics: vec![topic.to_owned()],
            schema: Schema::Json,
            batch_length: 100,
            poll_interval: Duration::from_millis(5),
            consumer_group: None,
        }],
        verbose: false,
        retry: fast_retry(),
        dead_letter: None,
    }
}

pub fn dead_letter(stream: &str, topic: &str) -> Option<DeadLetterConfig> {
    Some(DeadLetterConfig {
        stream: run_stream(stream),
        topic: topic.to_owned(),
    })
}

pub fn transform(kind: &str, config: serde_json::Value) -> TransformConfig {
    TransformConfig {
        kind: kind.to_owned(),
        config,
    }
}

pub fn engine(
    address: &str,
    state: &Path,
    sources: Vec<SourceConfig>,
    sinks: Vec<SinkConfig>,
) -> Engine {
    Engine::new(EngineConfig {
        iggy: iggy(address),
        state_path: state.to_path_buf(),
        sources,
        sinks,
    })
}

/// One recorded line of the test sink.
#[derive(Debug, Clone)]
pub struct Line {
    pub partition: u32,
    pub offset: u64,
    pub id: u128,
    pub payload: String,
}

pub fn read_lines(path: &Path) -> Vec<Line> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    text.lines()
        .map(|line| {
            let parts: Vec<&str> = line.splitn(6, '\t').collect();
            Line {
                partition: parts[2].parse().unwrap(),
                offset: parts[3].parse().unwrap(),
                id: parts[4].parse().unwrap(),
                payload: parts[5].to_owned(),
            }
        })
        .collect()
}

/// Polls `check` every 20 ms until it is true or `timeout` passed.
pub async fn wait_for(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

pub fn stats_of(engine: &Engine, kind: ConnectorKind, key: &str) -> ConnectorStats {
    engine
        .stats()
        .into_iter()
        .find(|s| s.kind == kind && s.key == key)
        .unwrap_or_else(|| panic!("no stats for {key}"))
}

pub fn seq_of(payload: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(payload).expect("json payload");
    value["seq"].as_u64().expect("seq field")
}
