//! Drives the engine's source and sink pipelines in one Rust process, for a profiler: the
//! Node addon is stripped, this binary (built with `--profile bench`) is not.
//!
//! ```text
//! cargo build --profile bench --example profile_pipeline -p iggy_connector_bench_source
//! cargo build --profile bench -p iggy_connector_bench_source -p iggy_connector_null_sink
//! valgrind --tool=callgrind target/release/examples/profile_pipeline \
//!     target/release/libiggy_connector_bench_source.so target/release/libiggy_connector_null_sink.so 50000 1000 [transforms]
//! ```
//!
//! Starts an in-memory test broker, sends `messages` through the bench source (stream batch
//! `batch`), then drains them through the null sink; prints the wall time of each half.

use std::time::{Duration, Instant};

use iggy_connectors_engine::{
    Engine, EngineConfig, IggyConfig, PartitioningConfig, RetryConfig, SinkConfig,
    SinkStreamConfig, SourceConfig, SourceStreamConfig, TransformConfig,
};
use iggy_connectors_sdk::Schema;
use iggy_test_broker::{BrokerConfig, BrokerHandle};
use serde_json::json;

fn transforms(enabled: bool) -> Vec<TransformConfig> {
    if !enabled {
        return Vec::new();
    }
    [
        ("add_fields", json!({"enabled": true, "fields": [{"key": "source", "value": {"static": "iggy"}}]})),
        ("delete_fields", json!({"enabled": true, "fields": ["url"]})),
        ("update_fields", json!({"enabled": true, "fields": [{"key": "ok", "value": {"static": false}}]})),
        ("filter_fields", json!({"enabled": true, "include_matching": false, "patterns": [{"key_pattern": {"starts_with": "meta_"}}]})),
    ]
    .into_iter()
    .map(|(kind, config)| TransformConfig { kind: kind.to_owned(), config })
    .collect()
}

async fn run_until(engine: &Engine, messages: u64) -> Duration {
    let started = Instant::now();
    engine.start().await.expect("engine starts");
    loop {
        let stats = engine.stats();
        if stats[0].messages_out >= messages {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1200),
            "timed out: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    engine.stop(Duration::from_secs(30)).await;
    elapsed
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!(
            "usage: profile_pipeline <bench_source.so> <null_sink.so> <messages> <batch> [transforms]"
        );
        std::process::exit(2);
    }
    let messages: u64 = args[2].parse().expect("messages is a number");
    let batch: u32 = args[3].parse().expect("batch is a number");
    let with_transforms = args.get(4).is_some_and(|a| a == "transforms");
    let broker = BrokerHandle::start(BrokerConfig {
        max_bytes: None,
        ..BrokerConfig::default()
    })
    .await
    .expect("broker starts");
    let iggy = IggyConfig {
        address: broker.address().to_string(),
        username: Some("iggy".into()),
        password: Some("iggy".into()),
        ..IggyConfig::default()
    };
    let state = std::env::temp_dir().join(format!("profile-pipeline-{}", std::process::id()));
    let source = SourceConfig {
        key: "bench".into(),
        name: "bench".into(),
        path: args[0].clone(),
        config_dir: None,
        version: 0,
        plugin_config_json: json!({"count": messages, "batch_size": batch}).to_string(),
        transforms: transforms(with_transforms),
        streams: vec![SourceStreamConfig {
            stream: "bench".into(),
            topic: "events".into(),
            schema: Schema::Json,
            batch_length: batch,
            linger_time: Duration::ZERO,
            partitioning: PartitioningConfig::Balanced,
            create_stream: true,
            create_topic: true,
            topic_partitions: 1,
        }],
        verbose: false,
        retry: RetryConfig::default(),
        dead_letter: None,
    };
    let engine = Engine::new(EngineConfig {
        iggy: iggy.clone(),
        state_path: state.clone(),
        sources: vec![source],
        sinks: Vec::new(),
    });
    let sent = run_until(&engine, messages).await;
    let sink = SinkConfig {
        key: "null".into(),
        name: "null".into(),
        path: args[1].clone(),
        config_dir: None,
        version: 0,
        plugin_config_json: "null".into(),
        transforms: transforms(with_transforms),
        streams: vec![SinkStreamConfig {
            stream: "bench".into(),
            topics: vec!["events".into()],
            schema: Schema::Json,
            batch_length: batch,
            poll_interval: Duration::from_millis(1),
            consumer_group: None,
        }],
        verbose: false,
        retry: RetryConfig::default(),
        dead_letter: None,
    };
    let engine = Engine::new(EngineConfig {
        iggy,
        state_path: state.clone(),
        sources: Vec::new(),
        sinks: vec![sink],
    });
    let drained = run_until(&engine, messages).await;
    println!("source: {messages} messages in {sent:?}; sink: {drained:?}");
    let _ = std::fs::remove_dir_all(state);
    broker.shutdown().await;
}
