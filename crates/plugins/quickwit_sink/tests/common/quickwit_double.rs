//! A test double of Quickwit 0.8's REST API (no Quickwit server is obtainable on these
//! machines: no Debian/PyPI/npm package, and the crates.io `quickwit*` crates are empty).
//!
//! It speaks HTTP/1.1 on a loopback port and implements, as Quickwit 0.8 documents them:
//! * `GET /health/readyz` → `true`;
//! * `POST /api/v1/indexes` with a YAML (`application/yaml`) or JSON (`application/json`)
//!   index config → the index metadata; `400 {"message": "index `x` already exists"}` when it
//!   exists; 400 for a config without `version`/`index_id` or with an invalid id; 415 for
//!   another content type;
//! * `GET /api/v1/indexes/{id}` → the metadata, or `404 {"message": "index `x` not found"}`;
//!   `GET /api/v1/indexes/{id}/describe`; `DELETE /api/v1/indexes/{id}`;
//! * `POST /api/v1/{id}/ingest?commit=auto|wait_for|force` with an NDJSON body → 200
//!   `{"num_docs_for_processing": n}` where n counts the non-empty lines; 404 for a missing
//!   index; 413 over 10 MiB; 400 for another `commit` value. As Quickwit's ingest API v1,
//!   it does not report documents the indexer drops: lines that are not JSON objects, and,
//!   under `doc_mapping.mode: strict`, documents with an unmapped field or a value of the
//!   wrong type, are silently dropped. `auto` documents stay uncommitted (not searchable)
//!   until a later `wait_for`/`force` ingest or [`QuickwitDouble::commit_timeout_elapsed`];
//! * `GET /api/v1/{id}/search?query=*&max_hits=n` → committed documents, in ingest order.
//!
//! Tests can inject failures ([`QuickwitDouble::fail_next_ingests`]), stop it and start it
//! again on the same port with its data (an outage), and read its state directly.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Quickwit's ingest body limit (`ingest_api.content_length_limit`, 10 MiB).
const MAX_INGEST_BODY: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct IngestCall {
    pub index: String,
    pub commit: String,
    pub lines: usize,
    pub body_len: usize,
    pub status: u16,
}

#[derive(Debug, Default)]
struct Index {
    config: Value,
    content_type: String,
    create_timestamp: u64,
    /// `Some(field → type)` under `mode: strict`.
    strict: Option<BTreeMap<String, String>>,
    pending: Vec<Value>,
    committed: Vec<Value>,
    dropped: usize,
}

#[derive(Debug, Default)]
struct State {
    indexes: BTreeMap<String, Index>,
    fail_ingests: VecDeque<u16>,
    ingests: Vec<IngestCall>,
    creates: usize,
}

pub struct QuickwitDouble {
    pub port: u16,
    state: Arc<Mutex<State>>,
    tasks: Option<JoinSet<()>>,
}

struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: String,
    body: Vec<u8>,
}

fn message(status: u16, text: String) -> (u16, Value) {
    (status, json!({ "message": text }))
}

impl QuickwitDouble {
    pub async fn start() -> QuickwitDouble {
        Self::serve(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            Arc::default(),
        )
    }

    /// Starts again on the same port with the same indexes and documents (after [`stop`]).
    pub async fn restart(mut self) -> QuickwitDouble {
        self.stop();
        // The aborted accept task drops its listener when the runtime next polls it.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("port {} not free again: {e}", self.port),
            }
        };
        Self::serve(listener, self.state.clone())
    }

    fn serve(listener: TcpListener, state: Arc<Mutex<State>>) -> QuickwitDouble {
        let port = listener.local_addr().unwrap().port();
        let mut tasks = JoinSet::new();
        let accept_state = state.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(connection(stream, accept_state.clone()));
            }
        });
        QuickwitDouble {
            port,
            state,
            tasks: Some(tasks),
        }
    }

    /// Closes the listener and every open connection: requests are refused until restart.
    pub fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.abort_all();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The next ingest requests get these statuses (e.g. 429, 503) instead of being processed.
    pub fn fail_next_ingests(&self, statuses: &[u16]) {
        self.state.lock().unwrap().fail_ingests.extend(statuses);
    }

    /// Commits every index's pending documents (Quickwit's `commit_timeout_secs` elapsing).
    pub fn commit_timeout_elapsed(&self) {
        for index in self.state.lock().unwrap().indexes.values_mut() {
            let pending = std::mem::take(&mut index.pending);
            index.committed.extend(pending);
        }
    }

    pub fn committed(&self, index: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .indexes
            .get(index)
            .map(|i| i.committed.clone())
            .unwrap_or_default()
    }

    pub fn pending(&self, index: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .indexes
            .get(index)
            .map(|i| i.pending.clone())
            .unwrap_or_default()
    }

    /// Documents the indexer dropped (not objects, or not matching a strict mapping).
    pub fn dropped(&self, index: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .indexes
            .get(index)
            .map(|i| i.dropped)
            .unwrap_or_default()
    }

    pub fn ingests(&self) -> Vec<IngestCall> {
        self.state.lock().unwrap().ingests.clone()
    }

    /// How many `POST /api/v1/indexes` succeeded, and the content type of `index`'s config.
    pub fn creates(&self) -> usize {
        self.state.lock().unwrap().creates
    }

    pub fn index_content_type(&self, index: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .indexes
            .get(index)
            .map(|i| i.content_type.clone())
    }
}

impl Drop for QuickwitDouble {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn connection(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 64 * 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or("").split(' ');
        let method = request_line.next().unwrap_or("").to_string();
        let target = request_line.next().unwrap_or("").to_string();
        let mut content_length = 0usize;
        let mut content_type = String::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_ascii_lowercase(),
                    _ => {}
                }
            }
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), parse_query(q)),
            None => (target.clone(), BTreeMap::new()),
        };
        if path.ends_with("/ingest") && content_length > MAX_INGEST_BODY {
            // Refused from the headers, before reading the body; the connection is closed.
            let response = message(413, "payload too large".into());
            let _ = write_response(&mut stream, response).await;
            return;
        }
        while buffer.len() < head_end + content_length {
            let mut chunk = [0u8; 64 * 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buffer[head_end..head_end + content_length].to_vec();
        buffer.drain(..head_end + content_length);
        let request = Request {
            method,
            path,
            query,
            content_type,
            body,
        };
        let response = route(&request, &mut state.lock().unwrap());
        if write_response(&mut stream, response).await.is_err() {
            return;
        }
    }
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.replace("%2A", "*")),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

async fn write_response(
    stream: &mut TcpStream,
    (status, body): (u16, Value),
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await
}

fn route(request: &Request, state: &mut State) -> (u16, Value) {
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["health", "readyz"]) => (200, json!(true)),
        ("POST", ["api", "v1", "indexes"]) => create_index(request, state),
        ("GET", ["api", "v1", "indexes", id]) => match state.indexes.get(*id) {
            Some(index) => (200, metadata(id, index)),
            None => message(404, format!("index `{id}` not found")),
        },
        ("GET", ["api", "v1", "indexes", id, "describe"]) => match state.indexes.get(*id) {
            Some(index) => (
                200,
                json!({
                    "index_id": id,
                    "index_uri": format!("file:///qwdata/indexes/{id}"),
                    "num_published_splits": if index.committed.is_empty() { 0 } else { 1 },
                    "num_published_docs": index.committed.len(),
                    "timestamp_field_name": index.config["doc_mapping"]["timestamp_field"],
                }),
            ),
            None => message(404, format!("index `{id}` not found")),
        },
        ("DELETE", ["api", "v1", "indexes", id]) => match state.indexes.remove(*id) {
            Some(_) => (200, json!([])),
            None => message(404, format!("index `{id}` not found")),
        },
        ("POST", ["api", "v1", id, "ingest"]) => ingest(id, request, state),
        ("GET", ["api", "v1", id, "search"]) => search(id, request, state),
        _ => message(404, "Route not found".into()),
    }
}

fn metadata(id: &str, index: &Index) -> Value {
    json!({
        "version": "0.8",
        "index_uid": format!("{id}:01HQ0000000000000000000000"),
        "index_config": index.config,
        "checkpoint": {},
        "create_timestamp": index.create_timestamp,
        "sources": []
    })
}

fn valid_index_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && (3..=255).contains(&id.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn create_index(request: &Request, state: &mut State) -> (u16, Value) {
    let config: Value = if request.content_type.starts_with("application/json") {
        match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(e) => return message(400, format!("failed to parse index config: {e}")),
        }
    } else if request.content_type.starts_with("application/yaml") {
        match serde_yaml_ng::from_slice::<Value>(&request.body) {
            Ok(v) => v,
            Err(e) => return message(400, format!("failed to parse index config: {e}")),
        }
    } else {
        return message(
            415,
            format!("unsupported content-type `{}`", request.content_type),
        );
    };
    if config.get("version").is_none() {
        return message(
            400,
            "failed to parse index config: missing field `version`".into(),
        );
    }
    let Some(id) = config
        .get("index_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return message(
            400,
            "failed to parse index config: missing field `index_id`".into(),
        );
    };
    if !valid_index_id(&id) {
        return message(400, format!("index identifier `{id}` is invalid"));
    }
    if state.indexes.contains_key(&id) {
        return message(400, format!("index `{id}` already exists"));
    }
    let mapping = &config["doc_mapping"];
    let strict = (mapping["mode"] == "strict").then(|| {
        mapping["field_mappings"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| {
                        Some((
                            f["name"].as_str()?.to_string(),
                            f["type"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let index = Index {
        config,
        content_type: request.content_type.clone(),
        create_timestamp: 1_700_000_000,
        strict,
        ..Index::default()
    };
    let response = metadata(&id, &index);
    state.indexes.insert(id, index);
    state.creates += 1;
    (200, response)
}

/// Whether the indexer keeps `doc` under the index's mapping.
fn accepts(strict: Option<&BTreeMap<String, String>>, doc: &Value) -> bool {
    let Some(object) = doc.as_object() else {
        return false;
    };
    let Some(fields) = strict else {
        return true;
    };
    object
        .iter()
        .all(|(name, value)| match fields.get(name).map(String::as_str) {
            None => false,
            Some("u64") => value.is_u64(),
            Some("i64") => value.is_i64(),
            Some("f64") => value.is_number(),
            Some("bool") => value.is_boolean(),
            Some("text") => value.is_string(),
            Some("datetime") => value.is_number() || value.is_string(),
            Some(_) => true,
        })
}

fn ingest(id: &str, request: &Request, state: &mut State) -> (u16, Value) {
    let commit = request
        .query
        .get("commit")
        .cloned()
        .unwrap_or_else(|| "auto".into());
    let lines: Vec<&[u8]> = request
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .collect();
    let mut call = IngestCall {
        index: id.to_string(),
        commit: commit.clone(),
        lines: lines.len(),
        body_len: request.body.len(),
        status: 200,
    };
    let response = if let Some(status) = state.fail_ingests.pop_front() {
        message(
            status,
            if status == 429 {
                "rate limited".into()
            } else {
                "service unavailable".into()
            },
        )
    } else if !matches!(commit.as_str(), "auto" | "wait_for" | "force") {
        message(
            400,
            format!(
                "invalid query string: unknown variant `{commit}`, expected one of `auto`, `wait_for`, `force`"
            ),
        )
    } else if let Some(index) = state.indexes.get_mut(id) {
        for line in &lines {
            match serde_json::from_slice::<Value>(line) {
                Ok(doc) if accepts(index.strict.as_ref(), &doc) => index.pending.push(doc),
                _ => index.dropped += 1,
            }
        }
        if commit != "auto" {
            let pending = std::mem::take(&mut index.pending);
            index.committed.extend(pending);
        }
        (200, json!({ "num_docs_for_processing": lines.len() }))
    } else {
        message(404, format!("index `{id}` not found"))
    };
    call.status = response.0;
    state.ingests.push(call);
    response
}

fn search(id: &str, request: &Request, state: &State) -> (u16, Value) {
    let Some(index) = state.indexes.get(id) else {
        return message(404, format!("index `{id}` not found"));
    };
    let query = request.query.get("query").map(String::as_str).unwrap_or("");
    if !matches!(query, "" | "*") {
        return message(400, "this double answers match-all queries only".into());
    }
    let max_hits = request
        .query
        .get("max_hits")
        .and_then(|m| m.parse().ok())
        .unwrap_or(20usize);
    let hits: Vec<&Value> = index.committed.iter().take(max_hits).collect();
    (
        200,
        json!({ "hits": hits, "num_hits": index.committed.len(), "elapsed_time_micros": 1, "errors": [] }),
    )
}
