//! Per-batch latency samples and the summary written at close.

use std::time::{Duration, Instant};

use serde::Serialize;

/// The percentile `p` (0–100) of sorted samples, nearest-rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What the source reports at close (logged as one JSON line, optionally written to a file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Messages acknowledged by the host (the committed state).
    pub sent: u64,
    pub batches: u64,
    pub nacks: u64,
    pub payload_size: usize,
    /// From the first `poll` to the last Ack, microseconds.
    pub elapsed_micros: u64,
    /// Handoff (poll returned the batch) → Ack, microseconds.
    pub latency_p50_micros: u64,
    pub latency_p99_micros: u64,
    pub latency_max_micros: u64,
}

/// Samples of one run; kept behind a mutex, touched once per batch.
#[derive(Debug, Default)]
pub struct Recorder {
    first_poll: Option<Instant>,
    last_ack: Option<Instant>,
    /// When the batch in flight left `poll`.
    handed_off: Option<Instant>,
    latencies_micros: Vec<u64>,
    pub nacks: u64,
}

impl Recorder {
    pub fn with_capacity(batches: usize) -> Self {
        Recorder {
            latencies_micros: Vec::with_capacity(batches),
            ..Recorder::default()
        }
    }

    pub fn handoff(&mut self, now: Instant) {
        self.first_poll.get_or_insert(now);
        self.handed_off = Some(now);
    }

    /// Records the latency of the batch in flight; false when none was.
    pub fn settle(&mut self, now: Instant, acked: bool) -> bool {
        let Some(start) = self.handed_off.take() else {
            return false;
        };
        if acked {
            self.latencies_micros
                .push(now.saturating_duration_since(start).as_micros() as u64);
            self.last_ack = Some(now);
        } else {
            self.nacks += 1;
        }
        true
    }

    pub fn summary(&self, sent: u64, payload_size: usize) -> Summary {
        let mut sorted = self.latencies_micros.clone();
        sorted.sort_unstable();
        let elapsed = match (self.first_poll, self.last_ack) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        };
        Summary {
            sent,
            batches: sorted.len() as u64,
            nacks: self.nacks,
            payload_size,
            elapsed_micros: elapsed.as_micros() as u64,
            latency_p50_micros: percentile(&sorted, 50.0),
            latency_p99_micros: percentile(&sorted, 99.0),
            latency_max_micros: sorted.last().copied().unwrap_or(0),
        }
    }
}
