//! The wait between attempts of one request.
//!
//! Exponential, capped, with *equal* jitter: the wait before retry `n` (from 0) is uniform in
//! `[c/2, c]` where `c = min(max_delay, delay × multiplier^n)`. Upstream's full jitter
//! (`[0, c]`) can retry almost at once, hammering a server that just said it is overloaded; the
//! lower bound here keeps the back-off real while still spreading clients apart. A
//! `Retry-After` from the server raises the wait to that value, capped at `max_delay` so one
//! header cannot stall the sink for an hour.

use std::time::Duration;

use crate::duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Retries after the first attempt (so `max_retries + 1` attempts in total).
    pub max_retries: u32,
    pub delay: Duration,
    pub multiplier: f64,
    pub max_delay: Duration,
}

impl Backoff {
    /// Normalizes like upstream: a `delay` above `max_delay` swaps the two, and a multiplier
    /// below 1 becomes 1 (a shrinking back-off makes no sense).
    pub fn new(max_retries: u32, delay: Duration, multiplier: f64, max_delay: Duration) -> Self {
        let (delay, max_delay) = if delay > max_delay {
            tracing::warn!(
                "retry_delay ({delay:?}) is larger than max_retry_delay ({max_delay:?}); swapping them"
            );
            (max_delay, delay)
        } else {
            (delay, max_delay)
        };
        let multiplier = if multiplier.is_finite() && multiplier >= 1.0 {
            multiplier
        } else {
            1.0
        };
        Self {
            max_retries,
            delay,
            multiplier,
            max_delay,
        }
    }

    /// The upper bound of the wait before retry `retry` (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = self.multiplier.powi(retry.min(64) as i32);
        let secs = (self.delay.as_secs_f64() * factor).min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The wait before retry `retry`: equal jitter under [`ceiling`](Self::ceiling), raised to
    /// the server's `Retry-After` (capped at `max_delay`).
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        let jittered = half + half.mul_f64(fastrand::f64());
        match retry_after {
            Some(after) => jittered.max(after.min(self.max_delay)),
            None => jittered,
        }
    }
}

/// The retry keys the HTTP plugins share, with upstream `http_sink`'s names and defaults:
/// `max_retries` (3, retries after the first attempt), `retry_delay` (`"1s"`),
/// `retry_backoff_multiplier` (2) and `max_retry_delay` (`"30s"`).
pub fn from_config_keys(
    max_retries: Option<u32>,
    retry_delay: Option<&str>,
    multiplier: Option<f64>,
    max_retry_delay: Option<&str>,
) -> Result<Backoff, String> {
    Ok(Backoff::new(
        max_retries.unwrap_or(3),
        duration::parse("retry_delay", retry_delay, Duration::from_secs(1))?,
        multiplier.unwrap_or(2.0),
        duration::parse("max_retry_delay", max_retry_delay, Duration::from_secs(30))?,
    ))
}

/// A `Retry-After` header in delta-seconds form (the HTTP-date form is rare for APIs and is
/// ignored, falling back to the back-off).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_policy_when_waiting_should_stay_between_half_and_full_ceiling() {
        let b = Backoff::new(5, Duration::from_millis(100), 2.0, Duration::from_secs(1));
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(400));
        assert_eq!(b.ceiling(10), Duration::from_secs(1));
        for retry in 0..6 {
            for _ in 0..50 {
                let w = b.wait(retry, None);
                assert!(
                    w >= b.ceiling(retry) / 2 && w <= b.ceiling(retry),
                    "{retry}: {w:?}"
                );
            }
        }
    }

    #[test]
    fn given_retry_after_when_waiting_should_honour_it_up_to_max_delay() {
        let b = Backoff::new(3, Duration::from_millis(10), 2.0, Duration::from_secs(5));
        assert_eq!(
            b.wait(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            b.wait(0, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn given_swapped_bounds_or_small_multiplier_when_built_should_normalize() {
        let b = Backoff::new(1, Duration::from_secs(9), 0.0, Duration::from_secs(3));
        assert_eq!(
            (b.delay, b.max_delay, b.multiplier),
            (Duration::from_secs(3), Duration::from_secs(9), 1.0)
        );
    }
}
