//! A sink's lag, read from Iggy when asked (`iggy-connectors status`): per partition of every
//! topic it consumes, the consumer group's stored offset against the partition's newest
//! offset. Unlike the lag the pipeline records after each commit, this is right also for a
//! sink that is stuck, stopped or has not polled yet.

use iggy::prelude::{Consumer, ConsumerOffsetClient, Identifier, TopicClient};

use crate::error::{EngineError, Result};
use crate::iggy::identifier;
use crate::runtime::{Engine, find_sink};
use crate::stats::ConnectorKind;

/// The lag of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub stream: String,
    pub topic: String,
    pub partition: u32,
    /// Messages the partition holds (its newest offset + 1 when it is not empty).
    pub end: u64,
    /// The group's stored offset (the last message it committed), if any.
    pub committed: Option<u64>,
    /// Messages not committed yet.
    pub lag: u64,
}

impl Engine {
    /// The sink's lag per partition, from Iggy (a topic that does not exist yet has none).
    pub async fn sink_lag(&self, key: &str) -> Result<Vec<PartitionLag>> {
        self.connector_state(ConnectorKind::Sink, key)?;
        let sink = find_sink(&self.config_snapshot(), key)?;
        let (_, client) = self.iggy_clients().await?;
        let error = |message: String| EngineError::Iggy {
            key: key.to_owned(),
            message,
        };
        let mut out = Vec::new();
        for stream in &sink.streams {
            let group = stream.group_name(key);
            let group_id = Identifier::named(&group).map_err(|e| error(e.to_string()))?;
            let consumer = Consumer::group(group_id);
            let stream_id = identifier(&stream.stream).map_err(|e| error(e.to_string()))?;
            for topic in &stream.topics {
                let topic_id = identifier(topic).map_err(|e| error(e.to_string()))?;
                let details = client
                    .get_topic(&stream_id, &topic_id)
                    .await
                    .map_err(|e| error(format!("cannot read '{}/{topic}': {e}", stream.stream)))?;
                let Some(details) = details else { continue };
                for partition in &details.partitions {
                    let end = if partition.messages_count == 0 {
                        0
                    } else {
                        partition.current_offset + 1
                    };
                    // A group that does not exist yet (the sink never started) has no offset.
                    let committed = client
                        .get_consumer_offset(&consumer, &stream_id, &topic_id, Some(partition.id))
                        .await
                        .ok()
                        .flatten()
                        .map(|info| info.stored_offset);
                    let done = committed.map_or(0, |offset| offset + 1);
                    out.push(PartitionLag {
                        stream: stream.stream.clone(),
                        topic: topic.clone(),
                        partition: partition.id,
                        end,
                        committed,
                        lag: end.saturating_sub(done),
                    });
                }
            }
        }
        Ok(out)
    }
}
