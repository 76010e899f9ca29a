//! Consumer-group rebalancing as Apache Iggy 0.8 does it, driven by the unmodified `iggy` 0.10
//! client: cooperative on join (one partition per idle member, moved only once the group has
//! committed what it polled there, or after the rebalancing timeout), eager on leave and
//! disconnect. Runs against the embedded broker, or a real server with `IGGY_TEST_SERVER`.

mod common;

use common::{TestServer, id, message, stream_and_topic};
use iggy::prelude::*;
use iggy_test_broker::BrokerConfig;
use std::time::Duration;

const GROUP: &str = "members";

/// Each member's partitions, members in the order the server lists them.
async fn assignment(admin: &IggyClient, s: &Identifier, t: &Identifier) -> Vec<Vec<u32>> {
    let group = admin
        .get_consumer_group(s, t, &id(GROUP))
        .await
        .expect("get group")
        .expect("group exists");
    group
        .members
        .iter()
        .map(|m| {
            let mut partitions = m.partitions.clone();
            partitions.sort_unstable();
            partitions
        })
        .collect()
}

/// Waits (up to `limit`) until the group's assignment is `expected`; returns the last one seen.
async fn await_assignment(
    admin: &IggyClient,
    s: &Identifier,
    t: &Identifier,
    expected: &[Vec<u32>],
    limit: Duration,
) -> Vec<Vec<u32>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let seen = assignment(admin, s, t).await;
        if seen == expected || tokio::time::Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `count` messages to each of `partitions`.
async fn fill(admin: &IggyClient, s: &Identifier, t: &Identifier, partitions: u32, count: u32) {
    for p in 0..partitions {
        let mut batch: Vec<IggyMessage> =
            (0..count).map(|i| message(format!("p{p}-{i}"))).collect();
        admin
            .send_messages(s, t, &Partitioning::partition_id(p), &mut batch)
            .await
            .expect("send");
    }
}

/// A group poll of up to 10 messages from the next offset, without auto-commit.
async fn poll(
    member: &IggyClient,
    s: &Identifier,
    t: &Identifier,
    partition: Option<u32>,
) -> PolledMessages {
    member
        .poll_messages(
            s,
            t,
            partition,
            &Consumer::group(id(GROUP)),
            &PollingStrategy::next(),
            10,
            false,
        )
        .await
        .expect("poll")
}

fn offsets(polled: &PolledMessages) -> Vec<u64> {
    polled.messages.iter().map(|m| m.header.offset).collect()
}

async fn store(
    member: &IggyClient,
    s: &Identifier,
    t: &Identifier,
    partition: u32,
    offset: u64,
) -> Result<(), IggyError> {
    member
        .store_consumer_offset(&Consumer::group(id(GROUP)), s, t, Some(partition), offset)
        .await
}

async fn group_of_four(server: &TestServer) -> (IggyClient, Identifier, Identifier) {
    let admin = server.client().await;
    let (stream, topic) = stream_and_topic(&admin, "rebalance", 4).await;
    let (s, t) = (id(&stream), id(&topic));
    admin.create_consumer_group(&s, &t, GROUP).await.unwrap();
    (admin, s, t)
}

async fn join(server: &TestServer, s: &Identifier, t: &Identifier) -> IggyClient {
    let member = server.client().await;
    member
        .join_consumer_group(s, t, &id(GROUP))
        .await
        .expect("join");
    member
}

#[tokio::test]
async fn given_two_group_members_when_one_disconnects_should_rebalance_partitions() {
    let server = TestServer::start().await;
    let (admin, s, t) = group_of_four(&server).await;
    let first = join(&server, &s, &t).await;
    assert_eq!(assignment(&admin, &s, &t).await, vec![vec![0, 1, 2, 3]]);

    // Nothing polled yet: the second member gets one partition at once, from the end of the
    // first one's list — the cooperative [0, 1, 2] / [3] split, not 2 and 2.
    let second = join(&server, &s, &t).await;
    assert_eq!(
        assignment(&admin, &s, &t).await,
        vec![vec![0, 1, 2], vec![3]]
    );

    // Each member polls only its own partitions; naming another's gets nothing.
    fill(&admin, &s, &t, 4, 1).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let polled = poll(&first, &s, &t, None).await;
        assert_eq!(polled.messages.len(), 1);
        seen.push(polled.partition_id);
    }
    assert_eq!(seen, vec![0, 1, 2]);
    let polled = poll(&second, &s, &t, None).await;
    assert_eq!((polled.partition_id, polled.messages.len()), (3, 1));
    assert!(poll(&first, &s, &t, Some(3)).await.messages.is_empty());

    // A disconnect rebalances eagerly.
    second.shutdown().await.unwrap();
    let remaining =
        await_assignment(&admin, &s, &t, &[vec![0, 1, 2, 3]], Duration::from_secs(10)).await;
    assert_eq!(
        remaining,
        vec![vec![0, 1, 2, 3]],
        "closed connection leaves"
    );
    admin.delete_stream(&s).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_uncommitted_poll_when_member_joins_should_hand_over_only_after_the_commit() {
    let server = TestServer::start().await;
    let (admin, s, t) = group_of_four(&server).await;
    fill(&admin, &s, &t, 4, 2).await;
    let first = join(&server, &s, &t).await;
    for p in 0..4 {
        let polled = poll(&first, &s, &t, None).await;
        assert_eq!((polled.partition_id, offsets(&polled)), (p, vec![0, 1]));
    }

    // Partition 3 was polled and not committed: it stays with the first member, pending.
    let second = join(&server, &s, &t).await;
    assert_eq!(
        assignment(&admin, &s, &t).await,
        vec![vec![0, 1, 2, 3], vec![]]
    );
    assert!(poll(&second, &s, &t, None).await.messages.is_empty());
    // Polls naming no partition skip it; naming it is still served.
    let picked: Vec<u32> = {
        let mut picked = Vec::new();
        for _ in 0..3 {
            picked.push(poll(&first, &s, &t, None).await.partition_id);
        }
        picked
    };
    assert_eq!(picked, vec![0, 1, 2]);
    let named = poll(&first, &s, &t, Some(3)).await;
    assert_eq!((named.partition_id, offsets(&named)), (3, vec![0, 1]));

    // A commit short of what was polled keeps it; reaching it completes the hand-over.
    store(&first, &s, &t, 3, 0).await.expect("store 0");
    assert_eq!(
        assignment(&admin, &s, &t).await,
        vec![vec![0, 1, 2, 3], vec![]]
    );
    store(&first, &s, &t, 3, 1).await.expect("store 1");
    assert_eq!(
        assignment(&admin, &s, &t).await,
        vec![vec![0, 1, 2], vec![3]]
    );

    // The old owner can no longer move the group's position there; the new one continues
    // after the committed offset.
    let refused = store(&first, &s, &t, 3, 0).await.unwrap_err();
    assert!(
        matches!(refused, IggyError::NotResolvedConsumer(_)),
        "got {refused:?}"
    );
    let mut more = vec![message("p3-2")];
    admin
        .send_messages(&s, &t, &Partitioning::partition_id(3), &mut more)
        .await
        .unwrap();
    let continued = poll(&second, &s, &t, None).await;
    assert_eq!((continued.partition_id, offsets(&continued)), (3, vec![2]));
    admin.delete_stream(&s).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_revocation_never_committed_when_timeout_passes_should_move_and_redeliver() {
    // The embedded broker gets a short timeout; a real server keeps its own (30 s by default,
    // checked every 5 s), which the wait below covers.
    let server = TestServer::start_with(BrokerConfig {
        rebalancing_timeout: Duration::from_millis(300),
        rebalancing_check_interval: Duration::from_millis(50),
        ..BrokerConfig::default()
    })
    .await;
    let (admin, s, t) = group_of_four(&server).await;
    fill(&admin, &s, &t, 4, 3).await;
    let first = join(&server, &s, &t).await;
    let stuck = poll(&first, &s, &t, Some(3)).await;
    assert_eq!(offsets(&stuck), vec![0, 1, 2]);

    let second = join(&server, &s, &t).await;
    assert_eq!(
        assignment(&admin, &s, &t).await,
        vec![vec![0, 1, 2, 3], vec![]]
    );
    let moved = await_assignment(
        &admin,
        &s,
        &t,
        &[vec![0, 1, 2], vec![3]],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        moved,
        vec![vec![0, 1, 2], vec![3]],
        "forced after the timeout"
    );

    // Nothing was committed: the new owner gets the same messages again.
    let again = poll(&second, &s, &t, None).await;
    assert_eq!((again.partition_id, offsets(&again)), (3, vec![0, 1, 2]));
    let late = store(&first, &s, &t, 3, 2).await.unwrap_err();
    assert!(
        matches!(late, IggyError::NotResolvedConsumer(_)),
        "got {late:?}"
    );
    admin.delete_stream(&s).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn given_pending_revocation_when_a_member_leaves_should_rebalance_eagerly() {
    let server = TestServer::start().await;
    let (admin, s, t) = group_of_four(&server).await;
    fill(&admin, &s, &t, 4, 1).await;
    let first = join(&server, &s, &t).await;
    assert_eq!(poll(&first, &s, &t, Some(3)).await.messages.len(), 1);

    // Second: partition 3 pending (polled, uncommitted). Third: the next excess partition, 2,
    // was never polled and moves at once; the second member is already a revocation target.
    let _second = join(&server, &s, &t).await;
    let third = join(&server, &s, &t).await;
    assert_eq!(
        assignment(&admin, &s, &t).await,
        vec![vec![0, 1, 3], vec![], vec![2]]
    );

    // Leaving drops the pending revocation and deals every partition out again.
    third
        .leave_consumer_group(&s, &t, &id(GROUP))
        .await
        .expect("leave");
    assert_eq!(
        assignment(&admin, &s, &t).await,
        vec![vec![0, 2], vec![1, 3]]
    );
    admin.delete_stream(&s).await.unwrap();
    server.stop().await;
}
