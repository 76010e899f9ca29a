//! Bad input: random bytes, mutated and truncated frames, unknown codes and oversized lengths
//! sent to a live broker over raw TCP. The broker must answer with an error status or close that
//! connection — never crash — and keep serving a real client afterwards. The fuzzing runs only
//! against the embedded broker (truncated frames); the login checks run against a real server
//! too.

mod common;

use bytes::BytesMut;
use common::{Rng, TestServer, id, message, stream_and_topic};
use iggy::prelude::*;
use iggy_binary_protocol::codec::WireEncode;
use iggy_binary_protocol::requests::messages::{
    PollMessagesRequest, RawMessage, SendMessagesEncoder,
};
use iggy_binary_protocol::requests::users::LoginUserRequest;
use iggy_binary_protocol::{
    WireConsumer, WireIdentifier, WireName, WirePartitioning, WirePollingStrategy,
};
use iggy_test_broker::BrokerConfig;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KNOWN_CODES: &[u32] = &[
    1, 10, 11, 12, 20, 21, 22, 31, 32, 33, 34, 35, 36, 37, 38, 39, 41, 42, 43, 44, 100, 101, 102,
    120, 121, 122, 200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 304, 305, 402, 403, 503, 600,
    601, 602, 603, 604, 605,
];

fn frame(code: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(payload.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn login_frame() -> Vec<u8> {
    let req = LoginUserRequest {
        username: WireName::new("iggy").unwrap(),
        password: "iggy".to_owned(),
        version: None,
        context: None,
    };
    frame(38, &req.to_bytes())
}

fn send_frame(stream: &str, topic: &str) -> Vec<u8> {
    let stream_id = WireIdentifier::named(stream).unwrap();
    let topic_id = WireIdentifier::named(topic).unwrap();
    let partitioning = WirePartitioning::Balanced;
    let messages = [
        RawMessage {
            id: 7,
            origin_timestamp: 1,
            headers: None,
            payload: b"fuzz-one",
        },
        RawMessage {
            id: 0,
            origin_timestamp: 2,
            headers: None,
            payload: b"fuzz-two-longer",
        },
    ];
    let mut buf = BytesMut::new();
    SendMessagesEncoder::encode(&mut buf, &stream_id, &topic_id, &partitioning, &messages);
    frame(101, &buf)
}

fn poll_frame(stream: &str, topic: &str) -> Vec<u8> {
    let req = PollMessagesRequest {
        consumer: WireConsumer::consumer(WireIdentifier::numeric(1)),
        stream_id: WireIdentifier::named(stream).unwrap(),
        topic_id: WireIdentifier::named(topic).unwrap(),
        partition_id: Some(0),
        strategy: WirePollingStrategy::first(),
        count: 10,
        auto_commit: false,
    };
    frame(100, &req.to_bytes())
}

/// Reads one response header (with a timeout); `None` when the broker closed the connection.
async fn read_response(socket: &mut TcpStream) -> Option<(u32, Vec<u8>)> {
    let mut head = [0u8; 8];
    match tokio::time::timeout(Duration::from_secs(2), socket.read_exact(&mut head)).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return None,
        Err(_) => panic!("broker neither answered nor closed within 2s"),
    }
    let status = u32::from_le_bytes(head[..4].try_into().unwrap());
    let length = u32::from_le_bytes(head[4..].try_into().unwrap()) as usize;
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).await.ok()?;
    Some((status, body))
}

/// One mutated request: valid templates with flipped bytes, truncation or wrong length fields,
/// random codes and payloads.
fn mutate(rng: &mut Rng, templates: &[Vec<u8>]) -> Vec<u8> {
    match rng.below(5) {
        0 => {
            // A valid frame with a few random bytes flipped after the length prefix.
            let mut f = templates[rng.below(templates.len() as u64) as usize].clone();
            for _ in 0..=rng.below(6) {
                let at = 4 + rng.below((f.len() - 4) as u64) as usize;
                f[at] = rng.next_u64() as u8;
            }
            f
        }
        1 => {
            // A valid frame whose payload is cut short but whose length prefix is fixed up.
            let f = &templates[rng.below(templates.len() as u64) as usize];
            let keep = 8 + rng.below((f.len() - 8) as u64) as usize;
            let mut cut = f[..keep].to_vec();
            let len = (keep - 4) as u32;
            cut[..4].copy_from_slice(&len.to_le_bytes());
            cut
        }
        2 => {
            // A known code with a random payload.
            let code = KNOWN_CODES[rng.below(KNOWN_CODES.len() as u64) as usize];
            let mut payload = vec![0u8; rng.below(200) as usize];
            rng.fill(&mut payload);
            frame(code, &payload)
        }
        3 => {
            // An unknown code.
            let code = 10_000 + rng.below(1_000_000) as u32;
            frame(code, b"??")
        }
        _ => {
            // A valid frame mutated inside its message headers (lengths, reserved field).
            let mut f = templates[0].clone();
            let at = f.len() - 1 - rng.below(60) as usize;
            f[at] = f[at].wrapping_add(1 + rng.below(200) as u8);
            f
        }
    }
}

/// Embedded broker only: a truncated frame must be answered or closed within 2 s here, while a
/// real Iggy server waits for the rest of the frame.
#[tokio::test]
async fn given_random_and_malformed_frames_when_sent_should_keep_serving_real_clients() {
    let Some(server) = TestServer::embedded(BrokerConfig::default()).await else {
        return;
    };
    let client = server.client().await;
    let (stream, topic) = stream_and_topic(&client, "fuzz", 2).await;
    let templates = vec![
        send_frame(&stream, &topic),
        poll_frame(&stream, &topic),
        login_frame(),
    ];
    let mut rng = Rng::new(0x1995_0605);

    let mut socket = TcpStream::connect(&server.address).await.unwrap();
    socket.write_all(&login_frame()).await.unwrap();
    assert_eq!(
        read_response(&mut socket).await.expect("login answered").0,
        0
    );
    let mut errors = 0;
    for _ in 0..600 {
        let request = mutate(&mut rng, &templates);
        socket.write_all(&request).await.unwrap();
        match read_response(&mut socket).await {
            Some((status, _)) => {
                if status != 0 {
                    errors += 1;
                }
            }
            None => {
                socket = TcpStream::connect(&server.address).await.unwrap();
                socket.write_all(&login_frame()).await.unwrap();
                assert_eq!(read_response(&mut socket).await.unwrap().0, 0);
            }
        }
    }
    assert!(
        errors > 100,
        "most mutated frames should be refused, got {errors}"
    );

    // Unknown code on an authenticated connection: InvalidCommand status, connection stays up.
    socket.write_all(&frame(987_654, b"")).await.unwrap();
    let (status, _) = read_response(&mut socket).await.unwrap();
    assert_eq!(status, IggyError::InvalidCommand.as_code());
    socket.write_all(&frame(1, b"")).await.unwrap();
    assert_eq!(
        read_response(&mut socket).await.unwrap().0,
        0,
        "ping after error"
    );

    // Oversized declared length: an error status, then the connection is closed.
    let mut big = TcpStream::connect(&server.address).await.unwrap();
    big.write_all(&(200u32 * 1024 * 1024).to_le_bytes())
        .await
        .unwrap();
    big.write_all(&1u32.to_le_bytes()).await.unwrap();
    let (status, _) = read_response(&mut big).await.expect("error before close");
    assert_ne!(status, 0);
    assert!(read_response(&mut big).await.is_none(), "connection closed");

    // Length below the code size.
    let mut tiny = TcpStream::connect(&server.address).await.unwrap();
    tiny.write_all(&2u32.to_le_bytes()).await.unwrap();
    let (status, _) = read_response(&mut tiny).await.expect("error before close");
    assert_ne!(status, 0);

    // Random garbage and truncated frames on fresh connections, closed mid-frame.
    for _ in 0..100 {
        let mut s = TcpStream::connect(&server.address).await.unwrap();
        let mut garbage = vec![0u8; 1 + rng.below(64) as usize];
        rng.fill(&mut garbage);
        let _ = s.write_all(&garbage).await;
        drop(s);
        let mut s = TcpStream::connect(&server.address).await.unwrap();
        let f = &templates[rng.below(templates.len() as u64) as usize];
        let _ = s
            .write_all(&f[..1 + rng.below((f.len() - 1) as u64) as usize])
            .await;
        drop(s);
    }

    // A real client still works, and the data it sees is consistent.
    let fresh = server.client().await;
    let mut batch = vec![message("after-fuzz")];
    fresh
        .send_messages(
            &id(&stream),
            &id(&topic),
            &Partitioning::partition_id(1),
            &mut batch,
        )
        .await
        .expect("send after fuzz");
    let topic_details = fresh
        .get_topic(&id(&stream), &id(&topic))
        .await
        .unwrap()
        .unwrap();
    for partition in 0..2 {
        let polled = fresh
            .poll_messages(
                &id(&stream),
                &id(&topic),
                Some(partition),
                &Consumer::new(id("verifier")),
                &PollingStrategy::first(),
                100_000,
                false,
            )
            .await
            .expect("poll after fuzz");
        assert_eq!(
            polled.messages.len() as u64,
            topic_details.partitions[partition as usize].messages_count
        );
        for (i, m) in polled.messages.iter().enumerate() {
            assert_eq!(m.header.offset, i as u64);
            assert_eq!(
                m.header.checksum,
                iggy_common::calculate_checksum(&m.to_bytes()[8..])
            );
        }
    }
    fresh.delete_stream(&id(&stream)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_raw_connection_when_not_logged_in_should_answer_unauthenticated_and_invalid_credentials()
 {
    let server = TestServer::start().await;
    let mut socket = TcpStream::connect(&server.address).await.unwrap();
    // get_streams (201) before login.
    socket.write_all(&frame(201, b"")).await.unwrap();
    let (status, body) = read_response(&mut socket).await.unwrap();
    assert_eq!(status, IggyError::Unauthenticated.as_code());
    assert!(body.is_empty());
    // Wrong password.
    let req = LoginUserRequest {
        username: WireName::new("iggy").unwrap(),
        password: "wrong".to_owned(),
        version: None,
        context: None,
    };
    socket.write_all(&frame(38, &req.to_bytes())).await.unwrap();
    assert_eq!(
        read_response(&mut socket).await.unwrap().0,
        IggyError::InvalidCredentials.as_code()
    );
    // Still refused, then accepted after a correct login on the same connection.
    socket.write_all(&frame(201, b"")).await.unwrap();
    assert_eq!(
        read_response(&mut socket).await.unwrap().0,
        IggyError::Unauthenticated.as_code()
    );
    socket.write_all(&login_frame()).await.unwrap();
    let (status, body) = read_response(&mut socket).await.unwrap();
    assert_eq!(status, 0);
    assert!(
        body.len() >= 4,
        "IdentityResponse starts with the u32 user id"
    );
    socket.write_all(&frame(201, b"")).await.unwrap();
    assert_eq!(read_response(&mut socket).await.unwrap().0, 0);
    server.stop().await;
}
