//! A small Elasticsearch/OpenSearch REST client: one node, JSON in and out, basic auth, TLS,
//! a request timeout, and retry of transient failures.

use std::time::Duration;

pub use reqwest::Method;
use reqwest::StatusCode;
use serde_json::Value;

use crate::config::ConnectionConfig;
use crate::retry::RetryPolicy;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("invalid config: {0}")]
    Config(String),
    /// The request did not complete (connect refused, reset, timeout).
    #[error("{what}: request to {url} failed: {message}")]
    Transport {
        what: String,
        url: String,
        message: String,
    },
    /// The server answered with a non-2xx status.
    #[error("{what}: {url} answered {status}: {body}")]
    Status {
        what: String,
        url: String,
        status: u16,
        body: String,
    },
}

impl EsError {
    /// Worth retrying: the server was unreachable, overloaded (429) or failing (5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            EsError::Transport { .. } => true,
            EsError::Status { status, .. } => is_transient_status(*status),
            EsError::Config(_) => false,
        }
    }
}

/// 429 (too many requests / circuit breaker) and 5xx are transient; other statuses are not.
pub fn is_transient_status(status: u16) -> bool {
    status == 429 || status >= 500
}

/// A request body.
pub enum Body<'a> {
    Json(&'a Value),
    /// Newline-delimited JSON for `_bulk`.
    NdJson(String),
}

#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    /// `base` without credentials, for messages.
    shown: String,
    auth: Option<(String, String)>,
    retry: RetryPolicy,
}

/// `https://user:pass@host:9200/` → `https://***@host:9200`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl EsClient {
    pub fn new(
        config: &ConnectionConfig,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, EsError> {
        let base = config.url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(EsError::Config(format!(
                "plugin_config.url: expected an http:// or https:// URL, got '{}'",
                redact_url(&base)
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)));
        if let Some(path) = &config.tls_ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                EsError::Config(format!(
                    "plugin_config.tls_ca_file: cannot read '{path}': {e}"
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                EsError::Config(format!(
                    "plugin_config.tls_ca_file: '{path}' is not PEM: {e}"
                ))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.tls_insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| EsError::Config(format!("building the HTTP client failed: {e}")))?;
        let auth = match (&config.username, &config.password) {
            (Some(user), Some(pass)) => Some((user.clone(), pass.clone())),
            _ => None,
        };
        Ok(Self {
            http,
            shown: redact_url(&base),
            base,
            auth,
            retry,
        })
    }

    /// The node URL without credentials.
    pub fn url(&self) -> &str {
        &self.shown
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// One attempt; returns the status and the parsed body (`Null` when empty or not JSON).
    pub async fn send_once(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Body<'_>>,
    ) -> Result<(StatusCode, Value), EsError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some((user, pass)) = &self.auth {
            request = request.basic_auth(user, Some(pass));
        }
        request = match body {
            Some(Body::Json(value)) => request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(value).unwrap_or_default()),
            Some(Body::NdJson(text)) => request
                .header("content-type", "application/x-ndjson")
                .body(text.clone()),
            None => request,
        };
        let shown = || format!("{}{path}", self.shown);
        let response = request.send().await.map_err(|e| EsError::Transport {
            what: what.to_string(),
            url: shown(),
            message: error_chain(&e),
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| EsError::Transport {
            what: what.to_string(),
            url: shown(),
            message: error_chain(&e),
        })?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            if text.len() > 2000 {
                text.truncate(text.floor_char_boundary(2000));
                text.push('…');
            }
            return Err(EsError::Status {
                what: what.to_string(),
                url: shown(),
                status: status.as_u16(),
                body: text,
            });
        }
        Ok((status, value))
    }

    /// Sends with retry of transient failures; a 2xx answer's JSON body, or the last error.
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Body<'_>>,
    ) -> Result<Value, EsError> {
        let mut attempt = 1;
        loop {
            match self.send_once(what, method.clone(), path, body).await {
                Ok((_, value)) => return Ok(value),
                Err(e) if e.is_transient() && attempt < self.retry.max_attempts.max(1) => {
                    let delay = self.retry.delay(attempt);
                    tracing::warn!("{e}; retrying in {delay:?} (attempt {attempt})");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `HEAD <path>`: true on 2xx, false on 404, an error otherwise.
    pub async fn exists(&self, what: &str, path: &str) -> Result<bool, EsError> {
        match self.call(what, Method::HEAD, path, None).await {
            Ok(_) => Ok(true),
            Err(EsError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// `e` and its sources, so "error sending request" says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Percent-encodes one path segment (an index name or a document id).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'*' | b',' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_credentials_in_url_should_redact_them() {
        assert_eq!(
            redact_url("https://elastic:secret@es.local:9200"),
            "https://***@es.local:9200"
        );
        assert_eq!(redact_url("http://es.local:9200"), "http://es.local:9200");
    }

    #[test]
    fn given_bad_scheme_should_name_the_key() {
        let config = ConnectionConfig {
            url: "es.local:9200".into(),
            ..ConnectionConfig::default()
        };
        let err = EsClient::new(&config, Duration::from_secs(1), RetryPolicy::default())
            .err()
            .expect("rejected");
        assert!(err.to_string().contains("plugin_config.url"), "{err}");
    }

    #[test]
    fn given_status_should_classify_transient() {
        assert!(is_transient_status(429));
        assert!(is_transient_status(503));
        assert!(!is_transient_status(400));
        assert!(!is_transient_status(404));
    }

    #[test]
    fn given_segment_should_percent_encode() {
        assert_eq!(path_segment("logs-*"), "logs-*");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
