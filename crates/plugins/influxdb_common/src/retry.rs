//! Bounded exponential back-off with ±20 % jitter (upstream's shape), with the fixes: the first
//! wait is `delay` (not 2 × delay) and a server's `Retry-After` is capped at `max_delay`.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, at least 1 (upstream's `max_retries` counts attempts, not retries).
    pub max_attempts: u32,
    pub delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32, delay: Duration, max_delay: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            delay,
            max_delay: max_delay.max(delay),
        }
    }

    /// The wait after failed attempt `attempt` (1-based): `delay × 2^(attempt-1)` capped at
    /// `max_delay`, ±20 % so that several connectors do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20));
        jitter(exp.min(self.max_delay))
    }

    /// A server-requested wait (`Retry-After` seconds), never longer than `max_delay`.
    pub fn server_wait(&self, seconds: u64) -> Duration {
        Duration::from_secs(seconds).min(self.max_delay)
    }
}

/// ±20 %, from a cheap per-call pseudo-random value (no need for a CSPRNG here).
fn jitter(base: Duration) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = SEED.fetch_add(nanos | 1, Ordering::Relaxed) ^ nanos;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    // factor in [0.8, 1.2]
    let factor = 0.8 + (x % 4001) as f64 / 10_000.0;
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_attempts_when_backing_off_should_double_within_jitter_and_cap() {
        let p = RetryPolicy::new(5, Duration::from_millis(100), Duration::from_millis(350));
        for _ in 0..50 {
            let first = p.backoff(1).as_millis();
            let second = p.backoff(2).as_millis();
            let capped = p.backoff(6).as_millis();
            assert!((80..=120).contains(&first), "{first}");
            assert!((160..=240).contains(&second), "{second}");
            assert!((280..=420).contains(&capped), "{capped}");
        }
        assert_eq!(p.server_wait(3600), Duration::from_millis(350));
        assert_eq!(
            RetryPolicy::new(0, Duration::ZERO, Duration::ZERO).max_attempts,
            1
        );
    }
}
