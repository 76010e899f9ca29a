//! The HTTP client: one reqwest client per plugin instance, and [`HttpClient::send`], which
//! retries one request within a [`Backoff`] and classifies the final answer.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url, redirect};

use crate::backoff::{Backoff, parse_retry_after};
use crate::status::{StatusClass, SuccessCodes};

/// How many bytes of an error response are kept for logs and error messages.
const BODY_SNIPPET: usize = 500;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout of one attempt (connect + send + response).
    pub timeout: Duration,
    /// Idle connections kept per host (reqwest's pool; not a cap on open connections).
    pub max_idle_per_host: usize,
    /// Accept any TLS certificate (self-signed test endpoints only).
    pub accept_invalid_certs: bool,
}

/// One request, kept whole so that every retry sends the same bytes (`Bytes` clones share).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub body: Bytes,
    /// Attempts it took, the successful one included.
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A final (not retryable, not success) status: retrying the same request is pointless.
    #[error("{method} {url} answered HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        method: Method,
        url: String,
        status: u16,
        body: String,
        attempts: u32,
    },
    /// Every attempt failed with a retryable status or a transport error.
    #[error("{method} {url} failed after {attempts} attempt(s); last error: {last}")]
    Exhausted {
        method: Method,
        url: String,
        last: String,
        attempts: u32,
    },
    /// The request cannot be built or sent at all (bad header, redirect loop...).
    #[error("{method} {url} cannot be sent: {reason}")]
    Invalid {
        method: Method,
        url: String,
        reason: String,
    },
}

impl SendError {
    /// The final HTTP status, when the server gave one.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's explanation (the start of the response body) for a final status.
    pub fn body(&self) -> Option<&str> {
        match self {
            SendError::Status { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// The URL as it may appear in logs: no userinfo, and the query (which often carries API
/// keys) replaced by `?redacted`.
pub fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some_and(|q| !q.is_empty()) {
        url.set_query(Some("redacted"));
    }
    url.to_string()
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn snippet(body: &[u8]) -> String {
    let cut = body.len().min(BODY_SNIPPET);
    String::from_utf8_lossy(&body[..cut]).into_owned()
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    backoff: Backoff,
    success: SuccessCodes,
}

impl HttpClient {
    pub fn new(
        options: &ClientOptions,
        backoff: Backoff,
        success: SuccessCodes,
    ) -> Result<Self, String> {
        // 301/302/303 turn a POST into a body-less GET (and upstream then counted that GET's
        // 200 as delivered): stop there and report the redirect. 307/308 keep the method and
        // body and are followed.
        let policy = redirect::Policy::custom(|attempt| {
            let status = attempt.status().as_u16();
            if matches!(status, 301..=303) || attempt.previous().len() >= 10 {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .pool_max_idle_per_host(options.max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .danger_accept_invalid_certs(options.accept_invalid_certs)
            .redirect(policy)
            .build()
            .map_err(|e| format!("building the HTTP client: {}", describe(&e)))?;
        Ok(Self {
            client,
            backoff,
            success,
        })
    }

    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Sends `request` until it gets a success code, a final status, or the retries are used
    /// up. Retried: the retryable statuses and transport errors (connect, reset, timeout).
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, SendError> {
        let url = redact_url(&request.url);
        let mut retry = 0u32;
        loop {
            let mut builder = self
                .client
                .request(request.method.clone(), request.url.clone())
                .headers(request.headers.clone());
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let mut retry_after = None;
            let last = match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    match (self.success.classify(status), response.bytes().await) {
                        (StatusClass::Success, Ok(body)) => {
                            return Ok(HttpResponse {
                                status,
                                body,
                                attempts: retry + 1,
                            });
                        }
                        (StatusClass::Final, body) => {
                            let body = body.map(|b| snippet(&b)).unwrap_or_default();
                            return Err(SendError::Status {
                                method: request.method.clone(),
                                url,
                                status: status.as_u16(),
                                body,
                                attempts: retry + 1,
                            });
                        }
                        (StatusClass::Retry, body) => {
                            let body = body.map(|b| snippet(&b)).unwrap_or_default();
                            format!("HTTP {status}: {body}")
                        }
                        // Success status but the body broke off: the request may or may not
                        // be stored; sending it again is the at-least-once choice.
                        (StatusClass::Success, Err(error)) => {
                            format!("HTTP {status}, reading the response: {}", describe(&error))
                        }
                    }
                }
                Err(error) if error.is_builder() || error.is_redirect() => {
                    return Err(SendError::Invalid {
                        method: request.method.clone(),
                        url,
                        reason: describe(&error),
                    });
                }
                Err(error) => describe(&error),
            };
            if retry >= self.backoff.max_retries {
                return Err(SendError::Exhausted {
                    method: request.method.clone(),
                    url,
                    last,
                    attempts: retry + 1,
                });
            }
            let wait = self.backoff.wait(retry, retry_after);
            tracing::warn!(
                "{} {url}: {last}; retry {}/{} in {wait:?}",
                request.method,
                retry + 1,
                self.backoff.max_retries
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_credentials_or_query_when_redacted_should_hide_them() {
        let url = Url::parse("https://user:secret@example.com:8443/ingest?api_key=k").unwrap();
        assert_eq!(redact_url(&url), "https://example.com:8443/ingest?redacted");
        let url = Url::parse("http://example.com/x").unwrap();
        assert_eq!(redact_url(&url), "http://example.com/x");
    }
}
