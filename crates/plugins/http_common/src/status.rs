//! What an HTTP status means for delivery.

use reqwest::StatusCode;

/// Statuses worth retrying: the server is overloaded, restarting or timed out. Upstream
/// retries 429, 500, 502, 503 and 504; 408 (the server gave up waiting for the request) is
/// just as transient and is retried too.
pub const RETRYABLE_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// One of the configured success codes: the request's content is stored.
    Success,
    /// Transient: try the same request again after a back-off.
    Retry,
    /// Anything else: retrying the same request cannot change the answer.
    Final,
}

/// The statuses that mean "stored" (upstream default: 200, 201, 202, 204).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessCodes(Vec<u16>);

impl SuccessCodes {
    /// Non-empty, each in 200..=599 (upstream's rule). A success code that is also retryable
    /// wins (it is never retried), with a warning, as upstream.
    pub fn new(key: &str, codes: Vec<u16>) -> Result<Self, String> {
        if codes.is_empty() {
            return Err(format!("plugin_config.{key} must not be empty"));
        }
        if let Some(bad) = codes.iter().find(|c| !(200..=599).contains(*c)) {
            return Err(format!(
                "plugin_config.{key} contains {bad}; each code must be in 200..=599"
            ));
        }
        for code in codes.iter().filter(|c| RETRYABLE_STATUSES.contains(c)) {
            tracing::warn!(
                "plugin_config.{key} contains {code}, so a {code} answer is never retried"
            );
        }
        Ok(Self(codes))
    }

    /// 2xx only (for endpoints whose success codes are not configurable).
    pub fn any_2xx() -> Self {
        Self((200..300).collect())
    }

    pub fn contains(&self, status: StatusCode) -> bool {
        self.0.contains(&status.as_u16())
    }

    pub fn classify(&self, status: StatusCode) -> StatusClass {
        if self.contains(status) {
            StatusClass::Success
        } else if RETRYABLE_STATUSES.contains(&status.as_u16()) {
            StatusClass::Retry
        } else {
            StatusClass::Final
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_statuses_when_classified_should_split_success_retry_final() {
        let codes = SuccessCodes::new("success_status_codes", vec![200, 201, 202, 204]).unwrap();
        let class = |s: u16| codes.classify(StatusCode::from_u16(s).unwrap());
        assert_eq!(class(201), StatusClass::Success);
        assert_eq!(class(206), StatusClass::Final);
        for s in RETRYABLE_STATUSES {
            assert_eq!(class(s), StatusClass::Retry);
        }
        assert_eq!(class(400), StatusClass::Final);
        assert_eq!(class(302), StatusClass::Final);
        let codes = SuccessCodes::new("k", vec![200, 503]).unwrap();
        assert_eq!(
            codes.classify(StatusCode::SERVICE_UNAVAILABLE),
            StatusClass::Success
        );
    }

    #[test]
    fn given_bad_codes_when_built_should_name_the_key() {
        assert!(
            SuccessCodes::new("success_status_codes", vec![])
                .unwrap_err()
                .contains("success_status_codes")
        );
        assert!(
            SuccessCodes::new("success_status_codes", vec![200, 199])
                .unwrap_err()
                .contains("199")
        );
    }
}
