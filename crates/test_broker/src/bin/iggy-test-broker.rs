//! Runs the embedded Iggy test broker in the foreground, for manual use during development.
//! Not a production server. Usage: `iggy-test-broker [--address HOST:PORT] [--data-dir DIR]`.

use iggy_test_broker::{BrokerConfig, BrokerHandle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: iggy-test-broker [--address HOST:PORT] [--data-dir DIR] [--max-bytes N]\n\
  [--rebalancing-timeout-ms N] [--rebalancing-check-interval-ms N]\n\
  Embedded Iggy broker for development and tests (not for production).\n\
  Defaults: --address 127.0.0.1:8090, in-memory, 1 GiB cap, revocations forced after 30 s\n\
  (checked every 5 s). Login: iggy/iggy.";

fn parse_args() -> Result<BrokerConfig, String> {
    let mut config = BrokerConfig {
        address: "127.0.0.1:8090".to_owned(),
        ..BrokerConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--address" => config.address = value("--address")?,
            "--data-dir" => config.data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--max-bytes" => {
                let raw = value("--max-bytes")?;
                let bytes = raw
                    .parse::<u64>()
                    .map_err(|_| format!("--max-bytes: '{raw}' is not a number of bytes"))?;
                config.max_bytes = Some(bytes);
            }
            "--rebalancing-timeout-ms" => {
                config.rebalancing_timeout = millis("--rebalancing-timeout-ms", value)?;
            }
            "--rebalancing-check-interval-ms" => {
                config.rebalancing_check_interval =
                    millis("--rebalancing-check-interval-ms", value)?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(config)
}

/// Reads a whole number of milliseconds for `name`.
fn millis(
    name: &str,
    mut value: impl FnMut(&str) -> Result<String, String>,
) -> Result<Duration, String> {
    let raw = value(name)?;
    raw.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{name}: '{raw}' is not a number of milliseconds"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse_args() {
        Ok(config) => config,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let broker = match BrokerHandle::start(config).await {
        Ok(broker) => broker,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "iggy test broker listening on {} (ctrl-c to stop)",
        broker.address()
    );
    let _ = tokio::signal::ctrl_c().await;
    broker.shutdown().await;
    ExitCode::SUCCESS
}
