//! Exactly-once bookkeeping: the last Iggy offset committed per stream/topic/partition lives in
//! the snapshot summary of the very commit that added those rows (as Flink's and Kafka
//! Connect's Iceberg sinks do), so the table and the watermark can never disagree. A message
//! at or below its partition's watermark is already in the table and is skipped.
//!
//! Each commit carries forward every watermark of this writer it knows, so the newest snapshot
//! alone holds the full map; reading still takes the maximum over the snapshot's ancestors, so
//! commits of other writers in between (which carry no entries of ours) change nothing.

use std::collections::HashMap;

use iceberg::spec::TableMetadata;

const PREFIX: &str = "iggy-connectors.committed-offset.";

/// One partition of one topic of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub stream: String,
    pub topic: String,
    pub partition: u32,
}

impl PartitionKey {
    /// The summary property naming this partition for `writer`.
    pub fn property(&self, writer: &str) -> String {
        format!(
            "{PREFIX}{writer}:{}:{}:{}",
            self.stream, self.topic, self.partition
        )
    }
}

/// This writer's watermarks as the table's current snapshot records them, by property name.
pub fn committed(metadata: &TableMetadata, writer: &str) -> HashMap<String, u64> {
    let ours = format!("{PREFIX}{writer}:");
    let mut found: HashMap<String, u64> = HashMap::new();
    let mut next = metadata.current_snapshot_id();
    // The parent chain is acyclic by construction; the bound only guards a corrupt table.
    let mut budget = metadata.snapshots().len();
    while let Some(id) = next {
        if budget == 0 {
            break;
        }
        budget -= 1;
        let Some(snapshot) = metadata.snapshot_by_id(id) else {
            break; // expired ancestors: the newer snapshots carried their entries forward
        };
        for (key, value) in &snapshot.summary().additional_properties {
            if !key.starts_with(&ours) {
                continue;
            }
            if let Ok(offset) = value.parse::<u64>() {
                let slot = found.entry(key.clone()).or_insert(offset);
                *slot = (*slot).max(offset);
            }
        }
        next = snapshot.parent_snapshot_id();
    }
    found
}

/// The summary properties of a commit that adds rows up to `last_offset` of `key`.
pub fn summary_after(
    mut committed: HashMap<String, u64>,
    writer: &str,
    key: &PartitionKey,
    last_offset: u64,
) -> HashMap<String, String> {
    let slot = committed.entry(key.property(writer)).or_insert(last_offset);
    *slot = (*slot).max(last_offset);
    committed
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_carries_other_partitions_forward_and_never_goes_back() {
        let a = PartitionKey {
            stream: "s".into(),
            topic: "t".into(),
            partition: 1,
        };
        let b = PartitionKey {
            partition: 2,
            ..a.clone()
        };
        let before = HashMap::from([(a.property("w"), 10), (b.property("w"), 7)]);
        let after = summary_after(before.clone(), "w", &a, 20);
        assert_eq!(after[&a.property("w")], "20");
        assert_eq!(after[&b.property("w")], "7");
        let stale = summary_after(before, "w", &b, 3);
        assert_eq!(stale[&b.property("w")], "7");
    }
}
