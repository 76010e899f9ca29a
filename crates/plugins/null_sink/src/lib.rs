//! `null_sink`: counts what it consumes and discards it, for `npm run bench`. It logs its
//! totals at close (one JSON line) and, with `record_arrivals`, the time of every batch's
//! arrival, so the harness can derive throughput and inter-batch gaps independently of the
//! engine's counters.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use iggy_connectors_sdk::tracing::info;
use iggy_connectors_sdk::{
    ConsumeOutcome, ConsumedMessage, Error, MessagesMetadata, Sink, TopicMetadata, sink_connector,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

sink_connector!(NullSink);

/// `[plugin_config]`; every key is optional.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NullSinkConfig {
    /// Keep the arrival time and size of every batch (default false: counters only).
    pub record_arrivals: bool,
    /// Where to write the JSON summary at close (default: only logged).
    pub report_path: Option<String>,
}

/// What the sink reports at close.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub messages: u64,
    pub batches: u64,
    /// From the first batch's arrival to the last one's, microseconds.
    pub elapsed_micros: u64,
    /// Gaps between consecutive batch arrivals (only with `record_arrivals`), microseconds.
    pub gap_p50_micros: Option<u64>,
    pub gap_p99_micros: Option<u64>,
    /// `[micros since the first arrival, messages]` per batch (only with `record_arrivals`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arrivals: Vec<(u64, u64)>,
}

#[derive(Debug)]
pub struct NullSink {
    id: u32,
    config: NullSinkConfig,
    messages: AtomicU64,
    batches: AtomicU64,
    times: Mutex<Times>,
}

#[derive(Debug, Default)]
struct Times {
    first: Option<Instant>,
    last: Option<Instant>,
    arrivals: Vec<(u64, u64)>,
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl NullSink {
    pub fn new(id: u32, config: NullSinkConfig) -> Self {
        NullSink {
            id,
            config,
            messages: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            times: Mutex::new(Times::default()),
        }
    }

    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        self.times.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn summary(&self) -> Summary {
        let times = self.times();
        let mut gaps: Vec<u64> = times
            .arrivals
            .windows(2)
            .map(|pair| pair[1].0 - pair[0].0)
            .collect();
        gaps.sort_unstable();
        let elapsed = match (times.first, times.last) {
            (Some(first), Some(last)) => last.saturating_duration_since(first).as_micros() as u64,
            _ => 0,
        };
        Summary {
            messages: self.messages.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            elapsed_micros: elapsed,
            gap_p50_micros: percentile(&gaps, 50.0),
            gap_p99_micros: percentile(&gaps, 99.0),
            arrivals: times.arrivals.clone(),
        }
    }
}

impl Sink for NullSink {
    // It never looks at a payload, so parsing one (a JSON tree per message) is pure overhead.
    const DECODE_PAYLOADS: bool = false;

    async fn open(&mut self) -> Result<(), Error> {
        info!(
            "null sink (id {}) opened: record_arrivals={}",
            self.id, self.config.record_arrivals
        );
        Ok(())
    }

    async fn consume(
        &self,
        _topic: &TopicMetadata,
        _metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<ConsumeOutcome, Error> {
        let now = Instant::now();
        let count = messages.len() as u64;
        self.messages.fetch_add(count, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        let mut times = self.times();
        let first = *times.first.get_or_insert(now);
        times.last = Some(now);
        if self.config.record_arrivals {
            let at = now.saturating_duration_since(first).as_micros() as u64;
            times.arrivals.push((at, count));
        }
        Ok(ConsumeOutcome::all_stored())
    }

    async fn close(&mut self) -> Result<(), Error> {
        let summary = self.summary();
        let json = serde_json::to_string(&summary)
            .map_err(|error| Error::Serialization(error.to_string()))?;
        info!(
            "null sink (id {}) closed after {} messages in {} batches: {json}",
            self.id, summary.messages, summary.batches
        );
        if let Some(path) = &self.config.report_path {
            std::fs::write(path, &json).map_err(|error| {
                Error::Storage(format!("cannot write report_path '{path}': {error}"))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use iggy_connectors_sdk::ffi::parse_config;
    use iggy_connectors_sdk::{Payload, Schema};
    use serde_json::{Value, json};

    use super::*;

    fn batch(n: usize) -> Vec<ConsumedMessage> {
        (0..n)
            .map(|i| ConsumedMessage {
                id: i as u128,
                offset: i as u64,
                checksum: 0,
                timestamp: 0,
                origin_timestamp: 0,
                headers: None,
                payload: Payload::Json(json!({"i": i})),
            })
            .collect()
    }

    fn meta() -> MessagesMetadata {
        MessagesMetadata {
            partition_id: 1,
            current_offset: 0,
            schema: Schema::Json,
        }
    }

    fn topic() -> TopicMetadata {
        TopicMetadata {
            stream: "s".into(),
            topic: "t".into(),
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn given_config_should_parse_and_reject_unknown_keys() {
        let config: NullSinkConfig = parse_config(b"null").unwrap();
        assert!(!config.record_arrivals && config.report_path.is_none());
        let config: NullSinkConfig = parse_config(br#"{"record_arrivals":true}"#).unwrap();
        assert!(config.record_arrivals);
        assert!(parse_config::<NullSinkConfig>(br#"{"record":true}"#).is_err());
    }

    #[test]
    fn given_batches_should_count_messages_and_batches_without_arrivals_by_default() {
        block_on(async {
            let sink = NullSink::new(1, NullSinkConfig::default());
            sink.consume(&topic(), meta(), batch(3)).await.unwrap();
            sink.consume(&topic(), meta(), batch(4)).await.unwrap();
            let summary = sink.summary();
            assert_eq!((summary.messages, summary.batches), (7, 2));
            assert!(summary.arrivals.is_empty());
            assert_eq!(summary.gap_p50_micros, None);
        });
    }

    #[test]
    fn given_record_arrivals_should_report_gaps_and_write_the_summary_at_close() {
        block_on(async {
            let path = std::env::temp_dir().join(format!("null-sink-{}.json", std::process::id()));
            let config = NullSinkConfig {
                record_arrivals: true,
                report_path: Some(path.display().to_string()),
            };
            let mut sink = NullSink::new(1, config);
            sink.open().await.unwrap();
            for n in [2, 5] {
                sink.consume(&topic(), meta(), batch(n)).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            sink.consume(&topic(), meta(), batch(1)).await.unwrap();
            sink.close().await.unwrap();
            let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(report["messages"], 8);
            assert_eq!(report["batches"], 3);
            let arrivals = report["arrivals"].as_array().unwrap();
            assert_eq!(arrivals.len(), 3);
            assert_eq!(arrivals[0], json!([0, 2]));
            assert_eq!(arrivals[2][1], 1);
            assert!(report["gap_p50_micros"].as_u64().unwrap() >= 5_000);
            assert!(report["elapsed_micros"].as_u64().unwrap() >= 10_000);
        });
    }
}
