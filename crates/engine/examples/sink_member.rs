//! One runtime process running a single sink in a shared consumer group: the unit the scale-out
//! tests (`tests/scaleout.rs`) start several of, join mid-stream, stop and kill with SIGKILL.
//!
//! ```text
//! sink_member --address HOST:PORT --stream S --topic T --group G --plugin LIB --config JSON
//!             [--state DIR] [--batch-length N]
//! ```
//!
//! Prints `joined` once the sink runs, every engine log line on stderr, and stops gracefully
//! (in-flight batch finished, group left) on SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use iggy_connectors_engine::{
    ConnectorKind, Engine, EngineConfig, IggyConfig, RetryConfig, SinkConfig, SinkStreamConfig,
    Status,
};
use iggy_connectors_sdk::Schema;
use tokio::signal::unix::{SignalKind, signal};

const KEY: &str = "member";

struct Args {
    address: String,
    stream: String,
    topic: String,
    group: String,
    plugin: String,
    config: String,
    state: PathBuf,
    batch_length: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut pairs = std::collections::HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        pairs.insert(name, value);
    }
    let mut take = |name: &str| pairs.remove(name).ok_or_else(|| format!("missing {name}"));
    let args = Args {
        address: take("--address")?,
        stream: take("--stream")?,
        topic: take("--topic")?,
        group: take("--group")?,
        plugin: take("--plugin")?,
        config: take("--config")?,
        state: take("--state").map_or_else(|_| std::env::temp_dir(), PathBuf::from),
        batch_length: match take("--batch-length") {
            Ok(raw) => raw
                .parse()
                .map_err(|_| format!("--batch-length: '{raw}' is not a number"))?,
            Err(_) => 10,
        },
    };
    match pairs.keys().next() {
        Some(unknown) => Err(format!("unknown argument {unknown}")),
        None => Ok(args),
    }
}

fn engine(args: Args) -> Engine {
    let sink = SinkConfig {
        key: KEY.to_owned(),
        name: "scale-out member".to_owned(),
        path: args.plugin,
        config_dir: None,
        version: 1,
        plugin_config_json: args.config,
        transforms: vec![],
        streams: vec![SinkStreamConfig {
            stream: args.stream,
            topics: vec![args.topic],
            schema: Schema::Raw,
            batch_length: args.batch_length,
            poll_interval: Duration::from_millis(5),
            consumer_group: Some(args.group),
        }],
        verbose: false,
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
            max_attempts: 0,
        },
        dead_letter: None,
    };
    Engine::new(EngineConfig {
        iggy: IggyConfig {
            address: args.address,
            username: Some("iggy".to_owned()),
            password: Some("iggy".to_owned()),
            ..IggyConfig::default()
        },
        state_path: args.state,
        sources: vec![],
        sinks: vec![sink],
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let engine = engine(args);
    let logs = engine.logs().receiver();
    tokio::spawn(async move {
        while let Ok(entry) = logs.recv_async().await {
            eprintln!("{} {}", entry.level.as_str(), entry.message);
        }
    });
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("error: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let started = engine.start().await;
    let failed = match &started {
        Err(error) => Some(error.to_string()),
        Ok(stats) => stats
            .iter()
            .find(|s| s.kind == ConnectorKind::Sink && s.status == Status::Error)
            .map(|s| format!("{:?}", s.last_error)),
    };
    if let Some(error) = failed {
        eprintln!("error: the sink did not start: {error}");
        return ExitCode::FAILURE;
    }
    println!("joined");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    engine.stop(Duration::from_secs(10)).await;
    ExitCode::SUCCESS
}
