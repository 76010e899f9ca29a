//! The upstream DB retry loop: `max_retries` is the total number of attempts and the sleep after
//! attempt n is `retry_delay × n` (linear). Only transient errors are retried.

use std::future::Future;
use std::time::Duration;

use tokio_postgres::error::SqlState;

/// `max_retries` (total attempts, at least 1) and `retry_delay` (the linear back-off base).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub delay: Duration,
}

impl RetryPolicy {
    pub fn new(max_retries: u32, delay: Duration) -> Self {
        Self {
            max_attempts: max_retries.max(1),
            delay,
        }
    }
}

/// True for errors worth retrying: the connection is gone or could not be made, the server is
/// shutting down or restarting, or the transaction lost a serialization/deadlock race.
/// Everything else (syntax, missing table, bad data, constraint) fails at once.
pub fn is_transient(error: &tokio_postgres::Error) -> bool {
    if let Some(state) = error.code() {
        let code = state.code();
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(
                *state,
                SqlState::T_R_SERIALIZATION_FAILURE
                    | SqlState::T_R_DEADLOCK_DETECTED
                    | SqlState::ADMIN_SHUTDOWN
                    | SqlState::CRASH_SHUTDOWN
                    | SqlState::CANNOT_CONNECT_NOW
                    | SqlState::LOCK_NOT_AVAILABLE
            );
    }
    if error.is_closed() {
        return true;
    }
    // tokio-postgres does not expose its error kind; these are the Display texts of its
    // Io / Connect / Timeout / Closed kinds (client-side encode/decode errors are permanent).
    let text = error.to_string();
    text.starts_with("error communicating with the server")
        || text.starts_with("error connecting to server")
        || text.starts_with("timeout waiting for server")
        || text.starts_with("connection closed")
}

/// Runs `op` until it succeeds, fails permanently, or `policy.max_attempts` attempts are used.
pub async fn with_retry<T, E, F, Fut>(
    what: &str,
    policy: RetryPolicy,
    is_transient: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt < policy.max_attempts && is_transient(&error) => {
                let sleep = policy.delay * attempt;
                tracing::warn!(
                    "{what} failed (attempt {attempt}/{}): {error}; retrying in {}",
                    policy.max_attempts,
                    humantime::format_duration(sleep)
                );
                tokio::time::sleep(sleep).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn given_transient_failures_when_retried_should_stop_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::new(3, Duration::from_millis(1));
        let result: Result<(), String> = with_retry(
            "op",
            policy,
            |_| true,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("down".to_string())
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn given_permanent_failure_when_retried_should_fail_after_one_attempt() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::new(5, Duration::from_millis(1));
        let result: Result<(), String> = with_retry(
            "op",
            policy,
            |_| false,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("syntax".to_string())
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn given_success_after_failures_when_retried_should_return_value() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::new(4, Duration::from_millis(1));
        let result: Result<u32, String> = with_retry(
            "op",
            policy,
            |_| true,
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n < 3 { Err("down".into()) } else { Ok(n) }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 3);
    }
}
