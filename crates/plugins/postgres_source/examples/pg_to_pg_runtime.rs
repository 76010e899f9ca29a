//! A PostgreSQL → Iggy → PostgreSQL runtime in its own process, so a test can kill it with
//! `kill -9` (`tests/effectively_once_kill9.rs`): the engine with this crate's source and the
//! PostgreSQL sink, joined by topic `pg/rows` (one partition) on an Iggy server started elsewhere.
//!
//! ```text
//! pg_to_pg_runtime <iggy address> <state dir> <source plugin> <sink plugin> \
//!     <source plugin_config JSON> <sink plugin_config JSON>
//! ```
//!
//! Prints `running` once both connectors run; SIGINT stops it gracefully (exit 0).

use std::time::Duration;

use iggy_connectors_engine::{
    Engine, EngineConfig, IggyConfig, PartitioningConfig, RetryConfig, SinkConfig,
    SinkStreamConfig, SourceConfig, SourceStreamConfig, Status,
};
use iggy_connectors_sdk::Schema;

const USAGE: &str = "usage: pg_to_pg_runtime <iggy address> <state dir> <source plugin> \
                     <sink plugin> <source plugin_config JSON> <sink plugin_config JSON>";

fn retry() -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
        multiplier: 2.0,
        max_attempts: 0,
    }
}

fn config(args: &[String]) -> EngineConfig {
    let [address, state, source, sink, source_config, sink_config] = args else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    EngineConfig {
        iggy: IggyConfig {
            address: address.clone(),
            username: Some("iggy".into()),
            password: Some("iggy".into()),
            ..IggyConfig::default()
        },
        state_path: state.into(),
        sources: vec![SourceConfig {
            key: "pg".into(),
            name: "postgres source".into(),
            path: source.clone(),
            config_dir: None,
            version: 1,
            plugin_config_json: source_config.clone(),
            transforms: vec![],
            streams: vec![SourceStreamConfig {
                stream: "pg".into(),
                topic: "rows".into(),
                schema: Schema::Json,
                batch_length: 1000,
                linger_time: Duration::from_millis(5),
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
            path: sink.clone(),
            config_dir: None,
            version: 1,
            plugin_config_json: sink_config.clone(),
            transforms: vec![],
            streams: vec![SinkStreamConfig {
                stream: "pg".into(),
                topics: vec!["rows".into()],
                schema: Schema::Json,
                batch_length: 1000,
                poll_interval: Duration::from_millis(5),
                consumer_group: None,
            }],
            verbose: false,
            retry: retry(),
            dead_letter: None,
        }],
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = Engine::new(config(&args));
    match engine.start().await {
        Ok(stats) if stats.iter().all(|s| s.status == Status::Running) => {}
        Ok(stats) => {
            eprintln!("connectors did not start: {stats:#?}");
            std::process::exit(1);
        }
        Err(error) => {
            eprintln!("engine did not start: {error}");
            std::process::exit(1);
        }
    }
    println!("running");
    let _ = tokio::signal::ctrl_c().await;
    engine.stop(Duration::from_secs(10)).await;
}
