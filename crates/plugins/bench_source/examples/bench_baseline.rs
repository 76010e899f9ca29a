//! The runtime-free baseline of `npm run bench`: the raw Iggy client doing what the runtime
//! does, on the same broker with the same payloads, so the runtime's own overhead is visible.
//!
//! ```text
//! bench_baseline send <host:port> <stream> <topic> <messages> <batch> [payload_size]
//! bench_baseline poll <host:port> <stream> <topic> <messages> <batch> <group>
//! bench_baseline delete <host:port> <stream>
//! ```
//!
//! `send` creates the stream and topic (1 partition) when missing and sends `messages`
//! pre-generated JSON payloads in `batch`-sized `send_messages` calls (balanced partitioning,
//! as the runtime's default). `poll` joins `group` and polls `next` with auto-commit off,
//! storing the offset after every batch (what the runtime's sink does). Either prints one JSON
//! line: `{"mode","messages","elapsed_micros","latency_p50_micros","latency_p99_micros"}`,
//! latency being one call (send, or poll + store offset). `delete` removes a stream (the
//! harness frees the broker's memory between scenarios). Credentials: iggy/iggy.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use iggy::prelude::{
    Client, CompressionAlgorithm, Consumer, ConsumerGroupClient, ConsumerOffsetClient, Identifier,
    IggyClient, IggyError, IggyExpiry, IggyMessage, MaxTopicSize, MessageClient, Partitioning,
    PollingStrategy, StreamClient, TcpClient, TcpClientConfig, TopicClient,
};
use iggy_common::{AutoLogin, Credentials};
use iggy_connector_bench_source::{BenchSourceConfig, generate, percentile};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn usage() -> ! {
    eprintln!(
        "usage: bench_baseline send <host:port> <stream> <topic> <messages> <batch> [payload_size]\n       \
         bench_baseline poll <host:port> <stream> <topic> <messages> <batch> <group>\n       \
         bench_baseline delete <host:port> <stream>"
    );
    std::process::exit(2)
}

fn arg<T: FromStr>(args: &[String], index: usize, name: &str) -> T {
    args.get(index)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("bench_baseline: missing or invalid <{name}>");
            usage()
        })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode: String = arg(&args, 0, "mode");
    let address: String = arg(&args, 1, "host:port");
    let stream: String = arg(&args, 2, "stream");
    let client = connect(&address).await?;
    let stream_id = Identifier::from_str_value(&stream)?;
    if mode == "delete" {
        if client.get_stream(&stream_id).await?.is_some() {
            client.delete_stream(&stream_id).await?;
        }
        return Ok(());
    }
    let topic: String = arg(&args, 3, "topic");
    let messages: u64 = arg(&args, 4, "messages");
    let batch: u32 = arg(&args, 5, "batch");
    let topic_id = Identifier::from_str_value(&topic)?;
    let started = Instant::now();
    let latencies = match mode.as_str() {
        "send" => {
            let payload_size = args.get(6).map_or(Ok(200), |s| s.parse())?;
            ensure_topic(&client, &stream, &stream_id, &topic, &topic_id).await?;
            send(
                &client,
                &stream_id,
                &topic_id,
                messages,
                batch,
                payload_size,
            )
            .await?
        }
        "poll" => {
            let group: String = arg(&args, 6, "group");
            poll(&client, &stream_id, &topic_id, &group, messages, batch).await?
        }
        _ => usage(),
    };
    let elapsed = started.elapsed().as_micros() as u64;
    let mut sorted = latencies;
    sorted.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "mode": mode,
            "messages": messages,
            "batch": batch,
            "elapsed_micros": elapsed,
            "latency_p50_micros": percentile(&sorted, 50.0),
            "latency_p99_micros": percentile(&sorted, 99.0),
        })
    );
    Ok(())
}

async fn connect(address: &str) -> Result<IggyClient> {
    let config = TcpClientConfig {
        server_address: address.to_owned(),
        auto_login: AutoLogin::Enabled(Credentials::UsernamePassword(
            "iggy".to_owned(),
            "iggy".to_owned().into(),
        )),
        nodelay: true,
        ..TcpClientConfig::default()
    };
    let client = IggyClient::new(iggy::prelude::ClientWrapper::Tcp(TcpClient::create(
        Arc::new(config),
    )?));
    client.connect().await?;
    Ok(client)
}

async fn ensure_topic(
    client: &IggyClient,
    stream: &str,
    stream_id: &Identifier,
    topic: &str,
    topic_id: &Identifier,
) -> Result<()> {
    if client.get_stream(stream_id).await?.is_none() {
        client.create_stream(stream).await?;
    }
    if client.get_topic(stream_id, topic_id).await?.is_none() {
        client
            .create_topic(
                stream_id,
                topic,
                1,
                CompressionAlgorithm::None,
                None,
                IggyExpiry::ServerDefault,
                MaxTopicSize::ServerDefault,
            )
            .await?;
    }
    Ok(())
}

/// Same payloads as the bench source: generated once; each send shares them (`Bytes`), so
/// this is the client's best case, with no per-message copy.
async fn send(
    client: &IggyClient,
    stream: &Identifier,
    topic: &Identifier,
    messages: u64,
    batch: u32,
    payload_size: u32,
) -> Result<Vec<u64>> {
    let settings = BenchSourceConfig {
        batch_size: Some(batch),
        payload_size: Some(payload_size),
        ..BenchSourceConfig::default()
    }
    .settings()?;
    let pool: Vec<Bytes> = generate(&settings).into_iter().map(Bytes::from).collect();
    let partitioning = Partitioning::balanced();
    let mut latencies = Vec::with_capacity(messages.div_ceil(batch as u64) as usize);
    let mut sent = 0u64;
    while sent < messages {
        let count = (messages - sent).min(batch as u64) as usize;
        let mut chunk = pool[..count]
            .iter()
            .map(|payload| IggyMessage::builder().payload(payload.clone()).build())
            .collect::<std::result::Result<Vec<_>, IggyError>>()?;
        let started = Instant::now();
        client
            .send_messages(stream, topic, &partitioning, &mut chunk)
            .await?;
        latencies.push(started.elapsed().as_micros() as u64);
        sent += count as u64;
    }
    Ok(latencies)
}

async fn poll(
    client: &IggyClient,
    stream: &Identifier,
    topic: &Identifier,
    group: &str,
    messages: u64,
    batch: u32,
) -> Result<Vec<u64>> {
    let group_id = Identifier::from_str_value(group)?;
    if client
        .get_consumer_group(stream, topic, &group_id)
        .await?
        .is_none()
    {
        client.create_consumer_group(stream, topic, group).await?;
    }
    client.join_consumer_group(stream, topic, &group_id).await?;
    let consumer = Consumer::group(group_id);
    let strategy = PollingStrategy::next();
    let mut latencies = Vec::with_capacity(messages.div_ceil(batch as u64) as usize);
    let mut received = 0u64;
    while received < messages {
        let started = Instant::now();
        let polled = client
            .poll_messages(stream, topic, None, &consumer, &strategy, batch, false)
            .await?;
        let Some(last) = polled.messages.last() else {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            continue;
        };
        client
            .store_consumer_offset(
                &consumer,
                stream,
                topic,
                Some(polled.partition_id),
                last.header.offset,
            )
            .await?;
        latencies.push(started.elapsed().as_micros() as u64);
        received += polled.messages.len() as u64;
    }
    Ok(latencies)
}
