//! The runtime process of the crash tests (`tests/crash.rs`): one engine running a PostgreSQL
//! source and a PostgreSQL sink joined by the Iggy topic `flow/rows`, as described by the JSON
//! spec given as the only argument. It runs until it is killed (the tests SIGKILL it) and
//! prints `started` once both connectors run.
//!
//! Spec: `{"iggy": "host:port", "state_dir": "...", "source_lib": "...", "sink_lib": "...",
//! "source_config": {...}, "sink_config": {...}}`.

use std::time::Duration;

use iggy_connectors_engine::{
    Engine, EngineConfig, IggyConfig, PartitioningConfig, RetryConfig, SinkConfig,
    SinkStreamConfig, SourceConfig, SourceStreamConfig, Status,
};
use iggy_connectors_sdk::Schema;
use serde_json::Value;

fn text(spec: &Value, key: &str) -> String {
    spec[key]
        .as_str()
        .unwrap_or_else(|| panic!("spec.{key} must be a string"))
        .to_owned()
}

fn retry() -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
        multiplier: 2.0,
        max_attempts: 0,
    }
}

/// The engine of one spec (also used in-process by the broker and database restart tests).
pub fn engine(spec: &Value) -> Engine {
    Engine::new(EngineConfig {
        iggy: IggyConfig {
            address: text(spec, "iggy"),
            username: Some("iggy".into()),
            password: Some("iggy".into()),
            ..IggyConfig::default()
        },
        state_path: text(spec, "state_dir").into(),
        sources: vec![SourceConfig {
            key: "pg".into(),
            name: "postgres source".into(),
            path: text(spec, "source_lib"),
            config_dir: None,
            version: 1,
            plugin_config_json: spec["source_config"].to_string(),
            transforms: vec![],
            streams: vec![SourceStreamConfig {
                stream: "flow".into(),
                topic: "rows".into(),
                schema: Schema::Json,
                batch_length: 1000,
                linger_time: Duration::from_millis(1),
                partitioning: PartitioningConfig::Balanced,
                create_stream: true,
                create_topic: true,
                topic_partitions: 1,
            }],
            verbose: false,
            retry: retry(),
            dead_letter: None,
        }],
        sinks: vec![SinkConfig {
            key: "pg".into(),
            name: "postgres sink".into(),
            path: text(spec, "sink_lib"),
            config_dir: None,
            version: 1,
            plugin_config_json: spec["sink_config"].to_string(),
            transforms: vec![],
            streams: vec![SinkStreamConfig {
                stream: "flow".into(),
                topics: vec!["rows".into()],
                schema: Schema::Json,
                batch_length: 500,
                poll_interval: Duration::from_millis(5),
                consumer_group: None,
            }],
            verbose: false,
            retry: retry(),
            dead_letter: None,
        }],
    })
}

#[tokio::main]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: flow_runtime <spec.json>");
    let spec: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("spec readable")).expect("spec JSON");
    let engine = engine(&spec);
    let stats = engine.start().await.expect("engine starts");
    assert!(
        stats.iter().all(|s| s.status == Status::Running),
        "{stats:#?}"
    );
    println!("started");
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
