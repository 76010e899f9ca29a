//! WireMock (the real HTTP server upstream's HTTP sink tests use), run from its standalone jar
//! (Maven Central `org.wiremock:wiremock-standalone:3.13.2`, resolved into `~/.m2`). Bound to
//! loopback on a free port, stopped by killing the process this helper started.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const VERSION: &str = "3.13.2";

/// The jar: `$WIREMOCK_JAR`, else the local Maven repository, resolving it with `mvn` if absent.
fn jar() -> PathBuf {
    if let Ok(path) = std::env::var("WIREMOCK_JAR") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").expect("HOME is set");
    let path = PathBuf::from(home).join(format!(
        ".m2/repository/org/wiremock/wiremock-standalone/{VERSION}/wiremock-standalone-{VERSION}.jar"
    ));
    if !path.exists() {
        let status = Command::new("mvn")
            .args([
                "-q",
                "-B",
                "dependency:get",
                &format!("-Dartifact=org.wiremock:wiremock-standalone:{VERSION}"),
                "-Dtransitive=false",
            ])
            .status()
            .expect("mvn runs (Debian package `maven`) to resolve the WireMock jar");
        assert!(
            status.success(),
            "mvn could not resolve wiremock-standalone {VERSION}"
        );
    }
    path
}

/// A loopback port for WireMock, picked the way `scripts/lib/ports.sh` picks the other test
/// servers' ports: below the kernel's ephemeral range (an outgoing connection or a `bind(:0)`
/// could take an ephemeral port between this check and the JVM's bind), free to bind now, and
/// claimed in the shared claims directory so no other test server starting meanwhile takes it.
pub fn free_port() -> u16 {
    let claims = std::env::temp_dir().join("iggy-connectors-port-claims");
    std::fs::create_dir_all(&claims).expect("port claims directory");
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (low, high) = (20_000u32, ephemeral_low.saturating_sub(1).max(20_001));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().wrapping_mul(2_654_435_761);
    for attempt in 0..500u32 {
        let port = low + seed.wrapping_add(attempt.wrapping_mul(7_919)) % (high - low + 1);
        let port = u16::try_from(port).expect("a port below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let claim = claims.join(port.to_string());
        let stale = std::fs::metadata(&claim)
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().unwrap_or_default() > std::time::Duration::from_secs(120));
        if stale {
            let _ = std::fs::remove_dir_all(&claim);
        }
        if std::fs::create_dir(&claim).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {low}..={high}");
}

/// One request as WireMock recorded it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub url: String,
    /// Lower-cased names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The status WireMock answered (404 when no stub matched).
    pub status: u16,
}

pub struct WireMock {
    pub port: u16,
    child: Option<Child>,
    root: PathBuf,
    http: reqwest::Client,
}

impl WireMock {
    pub async fn start() -> WireMock {
        Self::start_on(free_port()).await
    }

    /// Starts on `port` and waits until the admin API answers.
    pub async fn start_on(port: u16) -> WireMock {
        let root = std::env::temp_dir().join(format!("wiremock-{}-{port}", std::process::id()));
        std::fs::create_dir_all(root.join("mappings")).unwrap();
        let child = Command::new("java")
            .args([
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-jar",
            ])
            .arg(jar())
            .args([
                "--bind-address",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--disable-banner",
            ])
            .arg("--root-dir")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("java runs (Debian package `default-jre-headless`)");
        let mock = WireMock {
            port,
            child: Some(child),
            root,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match mock.http.get(mock.url("/__admin/mappings")).send().await {
                Ok(r) if r.status().is_success() => break,
                _ if Instant::now() > deadline => panic!("WireMock did not start on port {port}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        mock
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Kills the server (a hard stop, like a crash: connections are refused afterwards).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Adds a stub mapping (WireMock's JSON mapping format).
    pub async fn stub(&self, mapping: Value) {
        let response = self
            .http
            .post(self.url("/__admin/mappings"))
            .json(&mapping)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "stub refused: {}",
            response.text().await.unwrap()
        );
    }

    /// Answers `status` to every request whose path starts with `/ingest`.
    pub async fn stub_ingest(&self, status: u16) {
        self.stub(json!({
            "request": {"method": "ANY", "urlPattern": "/ingest.*"},
            "response": {"status": status}
        }))
        .await;
    }

    /// The first `failures` requests to `/ingest` get `status`, the ones after get 200
    /// (a WireMock scenario, so the count is exact).
    pub async fn stub_failing_then_ok(&self, failures: usize, status: u16) {
        let state = |i: usize| {
            if i == 0 {
                "Started".to_string()
            } else {
                format!("failed-{i}")
            }
        };
        for i in 0..failures {
            self.stub(json!({
                "scenarioName": "flaky",
                "requiredScenarioState": state(i),
                "newScenarioState": state(i + 1),
                "request": {"method": "ANY", "urlPattern": "/ingest.*"},
                "response": {"status": status, "body": format!("failure {}", i + 1)}
            }))
            .await;
        }
        self.stub(json!({
            "scenarioName": "flaky",
            "requiredScenarioState": state(failures),
            "request": {"method": "ANY", "urlPattern": "/ingest.*"},
            "response": {"status": 200}
        }))
        .await;
    }

    /// Every request received, oldest first.
    pub async fn requests(&self) -> Vec<Recorded> {
        let journal: Value = self
            .http
            .get(self.url("/__admin/requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut requests: Vec<Recorded> = journal["requests"]
            .as_array()
            .expect("journal has requests")
            .iter()
            .map(|entry| {
                let r = &entry["request"];
                let headers = r["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| {
                                let v = v
                                    .as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string());
                                (k.to_ascii_lowercase(), v)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let body = base64::engine::general_purpose::STANDARD
                    .decode(r["bodyAsBase64"].as_str().unwrap_or(""))
                    .expect("bodyAsBase64 is base64");
                let status = entry["responseDefinition"]["status"].as_u64().unwrap_or(0) as u16;
                Recorded {
                    status,
                    method: r["method"].as_str().unwrap().to_string(),
                    url: r["url"].as_str().unwrap().to_string(),
                    headers,
                    body,
                }
            })
            .collect();
        // The journal lists the newest first.
        requests.reverse();
        requests
    }

    /// Requests to `/ingest…` only (not the admin calls, which WireMock does not journal anyway).
    pub async fn ingest_requests(&self) -> Vec<Recorded> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.url.starts_with("/ingest"))
            .collect()
    }
}

impl Drop for WireMock {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
