//! Circuit breaker shared by every request of one plugin instance.
//!
//! After `threshold` consecutive transient failures it opens for `cool_down`: requests then fail
//! at once (the caller returns an error, so the runtime keeps the batch; upstream's sink dropped
//! it). After the cool-down exactly one request probes the server (half-open); its success
//! closes the breaker, its failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

impl CircuitBreaker {
    /// `threshold` 0 disables the breaker.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold,
            cool_down,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(remaining cool-down)` while open; `Ok` lets one request through (the probe when
    /// half-open).
    pub fn check(&self) -> Result<(), Duration> {
        let mut state = self.lock();
        match state.open_until {
            None => Ok(()),
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    Err(until - now)
                } else if state.probing {
                    Err(Duration::ZERO)
                } else {
                    state.probing = true;
                    Ok(())
                }
            }
        }
    }

    pub fn success(&self) {
        *self.lock() = State::default();
    }

    /// A transient failure (server down, 5xx, 429, timeout).
    pub fn failure(&self) {
        if self.threshold == 0 {
            return;
        }
        let mut state = self.lock();
        state.failures = state.failures.saturating_add(1);
        state.probing = false;
        if state.open_until.is_some() || state.failures >= self.threshold {
            state.open_until = Some(Instant::now() + self.cool_down);
        }
    }

    pub fn is_open(&self) -> bool {
        self.lock().open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_threshold_failures_when_checked_should_open_then_allow_one_probe() {
        let b = CircuitBreaker::new(2, Duration::ZERO);
        b.failure();
        assert!(b.check().is_ok());
        b.failure();
        assert!(b.is_open());
        // cool-down 0: one probe passes, a second concurrent one does not.
        assert!(b.check().is_ok());
        assert!(b.check().is_err());
        b.failure();
        assert!(
            b.check().is_ok(),
            "after the failed probe, the next cool-down ends at once"
        );
        b.success();
        assert!(!b.is_open());
        assert!(b.check().is_ok() && b.check().is_ok());
    }

    #[test]
    fn given_long_cool_down_when_open_should_refuse_requests() {
        let b = CircuitBreaker::new(1, Duration::from_secs(60));
        b.failure();
        let remaining = b.check().unwrap_err();
        assert!(remaining > Duration::from_secs(50));
    }
}
