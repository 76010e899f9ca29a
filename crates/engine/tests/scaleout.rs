//! Scaled-out runtimes: several engine *processes* (`examples/sink_member.rs`, each running the
//! `engine_scaleout_sink` test plugin) share one sink consumer group over a 4-partition topic,
//! against the embedded broker (which rebalances as Iggy 0.8 does) or a real server with
//! `IGGY_TEST_SERVER=host:port`. Each test prints its figures (messages, duplicates, handover).
//!
//! Every test waits for conditions, bounded only so that a broken build fails instead of
//! hanging; nothing asserts on how long something took.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use iggy::prelude::*;
use iggy_test_broker::{BrokerConfig, BrokerHandle};

const PARTITIONS: u32 = 4;
const GROUP: &str = "scaleout";
const TOPIC: &str = "events";
/// The members' batch length: the most one member has in flight on one partition.
const BATCH: u32 = 10;
/// Bound on every wait: long enough for a real server's 30 s revocation timeout.
const PATIENCE: Duration = Duration::from_secs(90);

// ---- processes ---------------------------------------------------------------------------

/// Builds the member binary and the test plugin once; returns their paths.
fn artifacts() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("debug");
        let plugin = target.join(format!(
            "{}engine_scaleout_sink{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
        // scripts/rust-tests.mjs built the workspace (this plugin too) and every example: a
        // nested build here would relink libraries other test binaries are loading meanwhile.
        if let Some(member) = std::env::var_os("IGGY_TEST_EXAMPLE_SINK_MEMBER") {
            return (PathBuf::from(member), plugin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "iggy_connectors_engine",
                "-p",
                "engine_scaleout_sink",
            ])
            .args(["--lib", "--example", "sink_member"])
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building the member binary and plugin failed"
        );
        (target.join("examples").join("sink_member"), plugin)
    })
}

/// One runtime process in the group. Killed (SIGKILL) if still running when dropped.
struct Member {
    name: &'static str,
    child: Child,
    output: PathBuf,
    log: PathBuf,
}

impl Member {
    fn spawn(
        address: &str,
        stream: &str,
        dir: &Path,
        name: &'static str,
        hold: Option<&Path>,
    ) -> Self {
        let (binary, plugin) = artifacts();
        let output = dir.join(format!("{name}.out"));
        let log = dir.join(format!("{name}.log"));
        let mut config = serde_json::json!({ "output": output.display().to_string() });
        if let Some(hold) = hold {
            config["hold_file"] = hold.display().to_string().into();
        }
        let child = Command::new(binary)
            .args(["--address", address, "--stream", stream, "--topic", TOPIC])
            .args(["--group", GROUP, "--batch-length", &BATCH.to_string()])
            .arg("--plugin")
            .arg(plugin)
            .args(["--config", &config.to_string()])
            .arg("--state")
            .arg(dir.join(name))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("member process starts");
        Self {
            name,
            child,
            output,
            log,
        }
    }

    /// `(partition, offset, payload)` of every message the member's sink accepted; a line cut
    /// by a kill is not counted.
    fn delivered(&self) -> Vec<(u32, u64, String)> {
        complete_lines(&self.output)
            .into_iter()
            .map(|line| {
                let mut parts = line.splitn(3, '\t');
                let partition = parts.next().unwrap().parse().unwrap();
                let offset = parts.next().unwrap().parse().unwrap();
                (partition, offset, parts.next().unwrap().to_owned())
            })
            .collect()
    }

    /// Batches the sink refused while held: `(partition, first offset)`.
    fn held(&self) -> Vec<(u32, u64)> {
        complete_lines(&self.output.with_extension("out.held"))
            .into_iter()
            .map(|line| {
                let parts: Vec<&str> = line.split('\t').collect();
                (parts[0].parse().unwrap(), parts[1].parse().unwrap())
            })
            .collect()
    }

    fn offsets_of(&self, partition: u32) -> Vec<u64> {
        let mut offsets: Vec<u64> = self
            .delivered()
            .into_iter()
            .filter(|(p, ..)| *p == partition)
            .map(|(_, offset, _)| offset)
            .collect();
        offsets.sort_unstable();
        offsets
    }

    /// Graceful stop (SIGTERM): the in-flight batch finishes and the member leaves the group.
    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("member exits");
        assert!(
            exit.success(),
            "{} exited with {exit}: {}",
            self.name,
            self.log_text()
        );
    }

    /// `kill -9`: no goodbye, the broker sees the connection drop.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn complete_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole.lines().map(str::to_owned).collect()
}

// ---- broker and data -----------------------------------------------------------------------

struct Server {
    address: String,
    broker: Option<BrokerHandle>,
}

impl Server {
    /// The external server, or an embedded broker force-transferring revocations after
    /// `rebalancing_timeout`.
    async fn start(rebalancing_timeout: Duration) -> Self {
        if let Ok(address) = std::env::var("IGGY_TEST_SERVER")
            && !address.is_empty()
        {
            return Self {
                address,
                broker: None,
            };
        }
        let broker = BrokerHandle::start(BrokerConfig {
            rebalancing_timeout,
            rebalancing_check_interval: Duration::from_millis(100),
            ..BrokerConfig::default()
        })
        .await
        .expect("embedded broker");
        Self {
            address: broker.address().to_string(),
            broker: Some(broker),
        }
    }

    async fn client(&self) -> IggyClient {
        let client = IggyClient::builder()
            .with_tcp()
            .with_server_address(self.address.clone())
            .build()
            .expect("client");
        client.connect().await.expect("connect");
        client.login_user("iggy", "iggy").await.expect("login");
        client
    }

    async fn stop(self) {
        if let Some(broker) = self.broker {
            broker.shutdown().await;
        }
    }
}

/// A stream name and a scratch directory unique to this run.
fn unique(prefix: &str) -> (String, PathBuf) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("{prefix}-{}-{nanos}", std::process::id());
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    (name, dir)
}

async fn create_topic(admin: &IggyClient, stream: &str) {
    admin.create_stream(stream).await.expect("create stream");
    admin
        .create_topic(
            &ident(stream),
            TOPIC,
            PARTITIONS,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .await
        .expect("create topic");
}

fn ident(name: &str) -> Identifier {
    Identifier::named(name).expect("identifier")
}

/// Sends `seq-<n>` for every `n` in `seqs` to partition `n % PARTITIONS`, or to `only`.
async fn produce(client: &IggyClient, stream: &str, seqs: std::ops::Range<u64>, only: Option<u32>) {
    let seqs: Vec<u64> = seqs.collect();
    for chunk in seqs.chunks(40) {
        for partition in 0..PARTITIONS {
            let mut batch: Vec<IggyMessage> = chunk
                .iter()
                .filter(|n| only.unwrap_or((**n % u64::from(PARTITIONS)) as u32) == partition)
                .map(|n| {
                    IggyMessage::builder()
                        .payload(bytes::Bytes::from(format!("seq-{n}")))
                        .build()
                        .expect("message")
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            client
                .send_messages(
                    &ident(stream),
                    &ident(TOPIC),
                    &Partitioning::partition_id(partition),
                    &mut batch,
                )
                .await
                .expect("send");
        }
    }
}

/// Each member's partitions, in the order the broker lists members (join order here).
async fn assignment(admin: &IggyClient, stream: &str) -> Vec<Vec<u32>> {
    let group = admin
        .get_consumer_group(&ident(stream), &ident(TOPIC), &ident(GROUP))
        .await
        .expect("get group");
    group.map_or_else(Vec::new, |g| {
        g.members
            .iter()
            .map(|m| {
                let mut partitions = m.partitions.clone();
                partitions.sort_unstable();
                partitions
            })
            .collect()
    })
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_for_assignment(admin: &IggyClient, stream: &str, expected: &[Vec<u32>]) {
    wait_until(&format!("the group is {expected:?}"), || async {
        assignment(admin, stream).await == expected
    })
    .await;
}

/// How often each payload was delivered, over all members.
fn tally(members: &[&Member]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for member in members {
        for (_, _, payload) in member.delivered() {
            *counts.entry(payload).or_insert(0) += 1;
        }
    }
    counts
}

/// Deliveries beyond the first of each payload.
fn duplicates(counts: &HashMap<String, usize>) -> usize {
    counts.values().map(|n| n - 1).sum()
}

fn all_delivered(members: &[&Member], total: u64) -> bool {
    let counts = tally(members);
    (0..total).all(|n| counts.contains_key(&format!("seq-{n}")))
}

// ---- tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_second_runtime_joining_mid_stream_should_hand_over_on_commit_and_lose_nothing() {
    // An hour-long revocation timeout: any hand-over seen here was completed by a commit.
    let server = Server::start(Duration::from_secs(3600)).await;
    let admin = server.client().await;
    let (stream, dir) = unique("scaleout-join");
    create_topic(&admin, &stream).await;
    const TOTAL: u64 = 4_000;

    let mut a = Member::spawn(&server.address, &stream, &dir, "a", None);
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2, 3]]).await;
    produce(&admin, &stream, 0..TOTAL / 2, None).await;
    wait_until("the first member is mid-stream", || async {
        a.delivered().len() >= 200
    })
    .await;

    let mut b = Member::spawn(&server.address, &stream, &dir, "b", None);
    let producer = {
        let client = server.client().await;
        let stream = stream.clone();
        tokio::spawn(async move { produce(&client, &stream, TOTAL / 2..TOTAL, None).await })
    };
    wait_until("the second member joined", || async {
        assignment(&admin, &stream).await.len() == 2
    })
    .await;
    let joined = Instant::now();
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2], vec![3]]).await;
    let handover = joined.elapsed();
    producer.await.expect("producer");
    wait_until("every message was delivered", || async {
        all_delivered(&[&a, &b], TOTAL)
    })
    .await;

    let counts = tally(&[&a, &b]);
    let dups = duplicates(&counts);
    assert_eq!(counts.len() as u64, TOTAL, "only produced messages arrive");
    assert!(
        dups <= BATCH as usize,
        "{dups} duplicates exceed one batch in flight"
    );
    assert!(
        !b.offsets_of(3).is_empty(),
        "the new member consumed the partition handed over"
    );
    eprintln!(
        "scale-out join: {TOTAL} messages, {dups} duplicates, hand-over {handover:?} after the join \
         (a: {}, b: {})",
        a.delivered().len(),
        b.delivered().len()
    );
    b.terminate();
    a.terminate();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_sink_stuck_past_revocation_timeout_should_move_partition_and_never_store_stale_offset()
 {
    let server = Server::start(Duration::from_secs(1)).await;
    let admin = server.client().await;
    let (stream, dir) = unique("scaleout-stuck");
    create_topic(&admin, &stream).await;
    let hold = dir.join("hold");
    std::fs::write(&hold, b"").unwrap();

    // The stuck member owns everything; only partition 3 has data, so its first batch there
    // (offsets 0..=9) is the one it cannot get past.
    let mut a = Member::spawn(&server.address, &stream, &dir, "a", Some(&hold));
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2, 3]]).await;
    produce(&admin, &stream, 0..30, Some(3)).await;
    wait_until("the first member is stuck", || async {
        !a.held().is_empty()
    })
    .await;
    assert_eq!(a.held()[0], (3, 0));

    // Partition 3 is pending revocation and never committed: it moves when the timeout hits,
    // and the new owner re-delivers from the committed offset (nothing committed: from 0).
    let mut b = Member::spawn(&server.address, &stream, &dir, "b", None);
    wait_until("the second member joined", || async {
        assignment(&admin, &stream).await.len() == 2
    })
    .await;
    let joined = Instant::now();
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2], vec![3]]).await;
    let forced = joined.elapsed();
    wait_until("the new owner re-delivered partition 3", || async {
        b.offsets_of(3) == (0..30).collect::<Vec<u64>>()
    })
    .await;

    // Hand the partition back to the stuck member (the other one leaves: full rebalance), then
    // let its old batch through. Storing that batch's offset (9) now would move the group back
    // from 29 and make it deliver 10..=29 a second time.
    b.terminate();
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2, 3]]).await;
    std::fs::remove_file(&hold).unwrap();
    produce(&admin, &stream, 30..40, Some(3)).await;
    produce(&admin, &stream, 40..60, None).await;
    wait_until("the recovered member consumed the new messages", || async {
        all_delivered(&[&a, &b], 60)
    })
    .await;

    let stale: Vec<u64> = a
        .offsets_of(3)
        .into_iter()
        .filter(|o| (10..30).contains(o))
        .collect();
    assert!(
        stale.is_empty(),
        "the group's position moved back: re-delivered {stale:?}"
    );
    assert_eq!(
        a.offsets_of(3)[..10],
        (0..10).collect::<Vec<u64>>()[..],
        "the stuck batch"
    );
    let counts = tally(&[&a, &b]);
    let dups = duplicates(&counts);
    assert_eq!(
        dups, BATCH as usize,
        "only the stuck batch is delivered twice"
    );
    assert!(
        a.log_text().contains("moved to another member"),
        "the stale store was skipped: {}",
        a.log_text()
    );
    eprintln!(
        "scale-out stuck sink: 60 messages, {dups} duplicates (the stuck batch), partition moved \
         {forced:?} after the join"
    );
    a.terminate();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_member_killed_with_sigkill_should_move_its_partitions_and_lose_nothing() {
    let server = Server::start(Duration::from_secs(30)).await;
    let admin = server.client().await;
    let (stream, dir) = unique("scaleout-kill");
    create_topic(&admin, &stream).await;
    const TOTAL: u64 = 4_000;

    let mut a = Member::spawn(&server.address, &stream, &dir, "a", None);
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2, 3]]).await;
    let mut b = Member::spawn(&server.address, &stream, &dir, "b", None);
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2], vec![3]]).await;

    produce(&admin, &stream, 0..TOTAL / 2, None).await;
    wait_until("the second member is mid-stream", || async {
        b.delivered().len() >= 100
    })
    .await;
    b.kill9();
    let killed = Instant::now();
    wait_for_assignment(&admin, &stream, &[vec![0, 1, 2, 3]]).await;
    let moved = killed.elapsed();
    produce(&admin, &stream, TOTAL / 2..TOTAL, None).await;
    wait_until("every message was delivered", || async {
        all_delivered(&[&a, &b], TOTAL)
    })
    .await;

    let counts = tally(&[&a, &b]);
    let dups = duplicates(&counts);
    assert_eq!(counts.len() as u64, TOTAL);
    assert!(
        dups <= BATCH as usize,
        "{dups} duplicates exceed the killed member's one batch"
    );
    eprintln!(
        "scale-out kill -9: {TOTAL} messages, {dups} duplicates, partitions moved {moved:?} after \
         the kill (a: {}, b: {})",
        a.delivered().len(),
        b.delivered().len()
    );
    a.terminate();
    server.stop().await;
}
