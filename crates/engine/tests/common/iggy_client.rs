//! The tests' own Iggy client (`test_support::iggy_topics`), on the run's stream names: every
//! stream name here goes through `run_stream`, like the engine configs of `common`.

use iggy::prelude::*;
use iggy_connectors_test_support::iggy_topics;
#[allow(unused_imports)] // not every test binary reads headers or connects
pub use iggy_connectors_test_support::iggy_topics::{connect, header, id};

use super::run_stream;

/// The stream the engine configs of `common` use for `name`.
pub fn stream_id(name: &str) -> Identifier {
    id(&run_stream(name))
}

/// Creates the run's `stream` with one single-partition topic per name in `topics`.
pub async fn create_topics(client: &IggyClient, stream: &str, topics: &[&str]) {
    iggy_topics::create_topics(client, &run_stream(stream), topics).await;
}

/// Sends `payloads` to partition 0, 500 to a batch (one batch when there are fewer).
pub async fn produce<P: AsRef<str>>(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    payloads: &[P],
) {
    let payloads = payloads.iter().map(|p| p.as_ref().as_bytes().to_vec());
    iggy_topics::produce(client, &run_stream(stream), topic, 500, payloads).await;
}

/// Every message of partition 0 (up to 10 000), read without storing an offset.
pub async fn read_all(client: &IggyClient, stream: &str, topic: &str) -> Vec<IggyMessage> {
    iggy_topics::read_all(client, &run_stream(stream), topic, 10_000).await
}
