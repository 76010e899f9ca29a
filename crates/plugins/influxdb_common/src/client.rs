//! The InfluxDB v2 HTTP API client both plugins use: readiness wait, line-protocol writes and
//! Flux queries, each attempt bounded by `timeout`, transient failures (transport errors, 429,
//! 5xx) retried per [`RetryPolicy`] behind the [`CircuitBreaker`]. Everything else is returned
//! at once with the server's message, so the caller can tell "retry later" from "this data or
//! this config is wrong".

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::breaker::CircuitBreaker;
use crate::config::Connection;
use crate::retry::RetryPolicy;

#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("InfluxDB circuit breaker is open for another {remaining:?} after repeated failures")]
    BreakerOpen { remaining: Duration },
    #[error("{0}")]
    Config(String),
}

impl InfluxError {
    /// Worth retrying later: the server is unreachable, overloaded or failing, not the request.
    pub fn is_transient(&self) -> bool {
        match self {
            InfluxError::Transport { .. } | InfluxError::BreakerOpen { .. } => true,
            InfluxError::Status { status, .. } => *status == 429 || *status >= 500,
            InfluxError::Config(_) => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            InfluxError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The response of a successful request.
struct Reply {
    headers: HeaderMap,
    body: String,
}

pub struct InfluxClient {
    http: reqwest::Client,
    conn: Connection,
    breaker: CircuitBreaker,
    version: Option<String>,
}

/// `application/x-www-form-urlencoded` escaping of a query-string value.
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl InfluxClient {
    pub fn new(conn: Connection) -> Result<Self, InfluxError> {
        let http = reqwest::Client::builder()
            .timeout(conn.timeout)
            .connect_timeout(conn.timeout)
            .build()
            .map_err(|e| InfluxError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            breaker: CircuitBreaker::new(conn.breaker_threshold, conn.breaker_cool_down),
            conn,
            version: None,
        })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The server version from `X-Influxdb-Version` (after [`InfluxClient::wait_ready`]).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// InfluxDB 1.x (without its `uint` build tag) cannot parse `u` integer fields; 2.x/3.x
    /// can. A 1.x built from source reports version `unknown`; released 2.x/3.x builds report
    /// theirs, so an unknown version counts as 1.x.
    pub fn supports_unsigned_fields(&self) -> bool {
        match self.version.as_deref().map(|v| v.trim_start_matches('v')) {
            None | Some("unknown") | Some("") => false,
            Some(v) => !v.starts_with("1."),
        }
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.conn.token.0.is_empty() {
            request
        } else {
            request.header(AUTHORIZATION, format!("Token {}", self.conn.token.0))
        }
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, InfluxError> {
        let response = request.send().await.map_err(|e| InfluxError::Transport {
            what: what.to_string(),
            message: error_chain(&e),
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| InfluxError::Transport {
            what: what.to_string(),
            message: format!("reading the response: {}", error_chain(&e)),
        })?;
        if status.is_success() {
            Ok(Reply { headers, body })
        } else {
            Err(InfluxError::Status {
                what: what.to_string(),
                status: status.as_u16(),
                body: retry_after_note(&headers, body),
            })
        }
    }

    /// Runs `build()` up to `policy.max_attempts` times while it fails transiently.
    async fn with_retry(
        &self,
        what: &str,
        policy: RetryPolicy,
        use_breaker: bool,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Reply, InfluxError> {
        let mut attempt = 1;
        loop {
            if use_breaker {
                self.breaker
                    .check()
                    .map_err(|remaining| InfluxError::BreakerOpen { remaining })?;
            }
            let error = match self.send(what, build()).await {
                Ok(reply) => {
                    if use_breaker {
                        self.breaker.success();
                    }
                    return Ok(reply);
                }
                Err(error) => error,
            };
            if !error.is_transient() {
                if use_breaker {
                    // The server answered: it is up, so a half-open probe succeeded.
                    self.breaker.success();
                }
                return Err(error);
            }
            if use_breaker {
                self.breaker.failure();
            }
            if attempt >= policy.max_attempts {
                return Err(error);
            }
            let wait = match &error {
                InfluxError::Status {
                    status: 429, body, ..
                } => retry_after_seconds(body)
                    .map(|s| policy.server_wait(s))
                    .unwrap_or_else(|| policy.backoff(attempt)),
                _ => policy.backoff(attempt),
            };
            tracing::warn!(
                "{error} (attempt {attempt}/{}); retrying in {wait:?}",
                policy.max_attempts
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Waits until the server answers `GET /health` (or `/ping` where `/health` is missing)
    /// with 2xx, at most `max_open_retries` attempts, and records its version.
    pub async fn wait_ready(&mut self) -> Result<(), InfluxError> {
        let url = self.conn.url.clone();
        // 404: no /health (old 1.x); 401/403: a server that wants a token even there (3.x).
        // Either way the server answered; /ping then gives readiness and the version header.
        let reply = match self
            .with_retry(
                &format!("GET {url}/health"),
                self.conn.open_retry,
                false,
                || self.http.get(format!("{url}/health")),
            )
            .await
        {
            Err(InfluxError::Status { status, .. }) if is_auth_or_target_error(status) => {
                self.with_retry(
                    &format!("GET {url}/ping"),
                    self.conn.open_retry,
                    false,
                    || self.authorize(self.http.get(format!("{url}/ping"))),
                )
                .await?
            }
            other => other?,
        };
        self.version = reply
            .headers
            .get("x-influxdb-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                serde_json::from_str::<serde_json::Value>(&reply.body)
                    .ok()
                    .and_then(|v| v.get("version")?.as_str().map(str::to_string))
            });
        Ok(())
    }

    fn write_url(&self, bucket: &str) -> String {
        format!(
            "{}/api/v2/write?org={}&bucket={}&precision=ns",
            self.conn.url,
            form_encode(&self.conn.org),
            form_encode(bucket)
        )
    }

    /// `POST /api/v2/write` of newline-separated points with nanosecond timestamps, retried.
    pub async fn write(&self, bucket: &str, body: &str) -> Result<(), InfluxError> {
        let url = self.write_url(bucket);
        let what = format!("writing to bucket {bucket:?} at {}", self.conn.url);
        self.with_retry(&what, self.conn.retry, true, || {
            self.authorize(self.http.post(&url))
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(body.to_string())
        })
        .await
        .map(|_| ())
    }

    /// `POST /api/v2/query` with a Flux query; returns the annotated CSV (datatype annotation).
    pub async fn query_csv(&self, flux: &str) -> Result<String, InfluxError> {
        let url = format!(
            "{}/api/v2/query?org={}",
            self.conn.url,
            form_encode(&self.conn.org)
        );
        let body = serde_json::json!({
            "query": flux,
            "type": "flux",
            "dialect": {
                "annotations": ["datatype"],
                "delimiter": ",",
                "header": true,
                "commentPrefix": "#",
            },
        })
        .to_string();
        let what = format!("Flux query at {}", self.conn.url);
        self.with_retry(&what, self.conn.retry, true, || {
            self.authorize(self.http.post(&url))
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/csv")
                .body(body.clone())
        })
        .await
        .map(|reply| reply.body)
    }
}

fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Keeps an integer `Retry-After` in the error body (prefixed) so the retry loop can honour it.
fn retry_after_note(headers: &HeaderMap, body: String) -> String {
    match headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        Some(value) if value.trim().parse::<u64>().is_ok() => {
            format!("[retry-after {}] {}", value.trim(), body.trim())
        }
        _ => body.trim().to_string(),
    }
}

fn retry_after_seconds(body: &str) -> Option<u64> {
    body.strip_prefix("[retry-after ")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// `true` for statuses meaning the credentials or the target are wrong (never transient).
pub fn is_auth_or_target_error(status: u16) -> bool {
    status == StatusCode::UNAUTHORIZED.as_u16()
        || status == StatusCode::FORBIDDEN.as_u16()
        || status == StatusCode::NOT_FOUND.as_u16()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_values_when_form_encoded_should_escape_reserved_bytes() {
        assert_eq!(form_encode("db/autogen"), "db%2Fautogen");
        assert_eq!(form_encode("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(form_encode("ünï"), "%C3%BCn%C3%AF");
    }

    #[test]
    fn given_errors_when_classified_should_retry_only_transient_ones() {
        let status = |status| InfluxError::Status {
            what: "w".into(),
            status,
            body: String::new(),
        };
        assert!(status(503).is_transient() && status(429).is_transient());
        assert!(!status(400).is_transient() && !status(401).is_transient());
        assert_eq!(retry_after_seconds("[retry-after 7] slow down"), Some(7));
        assert_eq!(retry_after_seconds("slow down"), None);
    }
}
