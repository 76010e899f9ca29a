//! The runtime in its own process, so a test can kill it with SIGKILL (`kill9`): the engine with
//! one source and one sink joined by topic `kill9/rows` (one partition) on an Iggy server
//! started elsewhere.
//!
//! ```text
//! pipeline_runtime <iggy address> <state dir> <source plugin> <sink plugin> \
//!     <source plugin_config JSON> <sink plugin_config JSON>
//! ```
//!
//! SIGINT stops it gracefully (exit 0).

use std::path::Path;
use std::time::Duration;

use iggy_connectors_engine::{Engine, Status};
use iggy_connectors_test_support::kill9::{KEY, STREAM, TOPIC};
use iggy_connectors_test_support::pipeline;
use serde_json::Value;

const USAGE: &str = "usage: pipeline_runtime <iggy address> <state dir> <source plugin> \
                     <sink plugin> <source plugin_config JSON> <sink plugin_config JSON>";

fn json(what: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| {
        eprintln!("{what} is not JSON: {error}\n{USAGE}");
        std::process::exit(2);
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, state, source, sink, source_config, sink_config] = &args[..] else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let config = pipeline::engine_config(
        address,
        Path::new(state),
        vec![pipeline::source(
            KEY,
            Path::new(source),
            &json("the source plugin_config", source_config),
            STREAM,
            TOPIC,
        )],
        vec![pipeline::sink(
            KEY,
            Path::new(sink),
            &json("the sink plugin_config", sink_config),
            STREAM,
            TOPIC,
        )],
    );
    let engine = Engine::new(config);
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
    let _ = tokio::signal::ctrl_c().await;
    engine.stop(Duration::from_secs(10)).await;
}
