//! Iggy 0.8's consumer-group assignment (server `metadata/consumer_group.rs` at `server-0.8.0`):
//!
//! - **join** is cooperative: partitions nobody holds go round-robin to idle members, then each
//!   member over its fair share marks its excess partitions, taken from the end of its list,
//!   as *pending revocation* towards an idle member — at most one partition per idle member
//!   per join. The partition stays with its holder until the revocation completes.
//! - a revocation **completes** when the group never polled the partition, or its committed
//!   offset there is ≥ the last offset it polled (checked on join, on every offset store and
//!   auto-commit), or it is **force-completed** after the rebalancing timeout.
//! - **leave, disconnect and repartitioning** rebalance eagerly: every partition is dealt out
//!   again round-robin in slot order and every pending revocation is dropped.

use std::time::{Duration, Instant};

use super::groups::{ConsumerGroup, Revocation};

impl ConsumerGroup {
    /// Full round-robin rebalance in slot order. Like the server, a group with no members or
    /// no partitions is left untouched.
    pub(super) fn rebalance_members(&mut self) {
        let members: Vec<usize> = self.occupied_slots();
        if members.is_empty() || self.partitions_count == 0 {
            return;
        }
        for &slot in &members {
            let member = self.slots[slot].as_mut().expect("occupied slot");
            member.partitions.clear();
            member.revoking.clear();
        }
        for partition in 0..self.partitions_count {
            let slot = members[partition as usize % members.len()];
            let member = self.slots[slot].as_mut().expect("occupied slot");
            member.partitions.push(partition);
        }
    }

    /// The join-time rebalance: hand out unheld partitions, then mark excess for revocation.
    pub(super) fn rebalance_cooperative(&mut self) {
        let members = self.occupied_slots();
        if members.is_empty() || self.partitions_count == 0 {
            return;
        }
        self.assign_unheld(&members);
        self.mark_excess(&members);
    }

    fn occupied_slots(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| self.slots[s].is_some())
            .collect()
    }

    /// Partitions no member holds go round-robin to the members that hold none.
    fn assign_unheld(&mut self, members: &[usize]) {
        let held: Vec<u32> = self
            .members()
            .flat_map(|m| m.partitions.iter().copied())
            .collect();
        let idle: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&s| {
                self.slots[s]
                    .as_ref()
                    .is_some_and(|m| m.partitions.is_empty())
            })
            .collect();
        if idle.is_empty() {
            return;
        }
        let unheld = (0..self.partitions_count).filter(|p| !held.contains(p));
        for (i, partition) in unheld.enumerate() {
            let member = self.slots[idle[i % idle.len()]]
                .as_mut()
                .expect("occupied slot");
            member.partitions.push(partition);
        }
    }

    /// Members over their fair share give one excess partition each to idle members that are
    /// not already the target of a revocation, until no such idle member is left.
    fn mark_excess(&mut self, members: &[usize]) {
        let count = self.partitions_count as usize;
        let fair_share = count / members.len();
        let mut with_remainder = count % members.len();
        let targeted: Vec<usize> = self
            .members()
            .flat_map(|m| m.revoking.iter().map(|r| r.target_slot))
            .collect();
        let mut idle: Vec<usize> = members
            .iter()
            .copied()
            .filter(|s| !targeted.contains(s))
            .filter(|&s| {
                self.slots[s]
                    .as_ref()
                    .is_some_and(|m| m.partitions.is_empty())
            })
            .collect();
        for &slot in members {
            if idle.is_empty() {
                break;
            }
            let member = self.slots[slot].as_ref().expect("occupied slot");
            let kept: Vec<u32> = member.kept().collect();
            let allowed = fair_share + usize::from(with_remainder > 0);
            if kept.len() > fair_share {
                with_remainder = with_remainder.saturating_sub(1);
            }
            if kept.len() <= allowed {
                continue;
            }
            let excess = kept.len() - allowed;
            for partition in kept.into_iter().rev().take(excess) {
                if idle.is_empty() {
                    break;
                }
                let target_slot = idle.remove(0);
                let target_id = self.slots[target_slot].as_ref().map_or(u32::MAX, |m| m.id);
                let member = self.slots[slot].as_mut().expect("occupied slot");
                member.revoking.push(Revocation {
                    partition,
                    target_slot,
                    target_id,
                    since: Instant::now(),
                });
            }
        }
    }

    /// Whether the group has committed everything it polled on `partition`.
    pub(super) fn is_settled(&self, partition: u32, committed: Option<u64>) -> bool {
        match self.last_polled.get(&partition) {
            None => true,
            Some(&polled) => committed.is_some_and(|c| c >= polled),
        }
    }

    /// Completes every pending revocation whose partition is settled.
    pub(super) fn complete_settled(&mut self, committed: impl Fn(u32) -> Option<u64>) {
        let settled: Vec<(usize, u32, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, m)| m.as_ref().map(|m| (slot, m)))
            .flat_map(|(slot, m)| m.revoking.iter().map(move |r| (slot, m.id, r.partition)))
            .filter(|&(_, _, p)| self.is_settled(p, committed(p)))
            .collect();
        for (slot, member_id, partition) in settled {
            self.complete_revocation(slot, member_id, partition);
        }
    }

    /// Force-completes revocations pending for at least `timeout`; returns how many.
    pub fn expire_revocations(&mut self, now: Instant, timeout: Duration) -> usize {
        let expired: Vec<(usize, u32, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, m)| m.as_ref().map(|m| (slot, m)))
            .flat_map(|(slot, m)| {
                m.revoking
                    .iter()
                    .filter(|r| now.saturating_duration_since(r.since) >= timeout)
                    .map(move |r| (slot, m.id, r.partition))
            })
            .collect();
        let count = expired.len();
        for (slot, member_id, partition) in expired {
            self.complete_revocation(slot, member_id, partition);
        }
        count
    }

    /// Moves `partition` from the member in `slot` (still `member_id`) to the revocation's
    /// target. A target that left, or whose slot was reused, makes it a full rebalance.
    pub(super) fn complete_revocation(&mut self, slot: usize, member_id: u32, partition: u32) {
        let Some(member) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if member.id != member_id {
            return;
        }
        let Some(at) = member
            .revoking
            .iter()
            .position(|r| r.partition == partition)
        else {
            return;
        };
        let revocation = member.revoking.remove(at);
        member.partitions.retain(|&p| p != partition);
        match self
            .slots
            .get_mut(revocation.target_slot)
            .and_then(Option::as_mut)
        {
            Some(target) if target.id == revocation.target_id => target.partitions.push(partition),
            _ => self.rebalance_members(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(group: &ConsumerGroup) -> Vec<(u32, Vec<u32>, Vec<u32>)> {
        group
            .members()
            .map(|m| {
                let revoking = m.revoking.iter().map(|r| r.partition).collect();
                (m.client_id, m.partitions.clone(), revoking)
            })
            .collect()
    }

    fn never_committed(_: u32) -> Option<u64> {
        None
    }

    #[test]
    fn given_idle_partitions_when_second_member_joins_should_move_one_partition_not_half() {
        let mut group = ConsumerGroup::new(0, "g".into(), 4);
        group.join(7, never_committed);
        assert_eq!(assignment(&group), vec![(7, vec![0, 1, 2, 3], vec![])]);
        group.join(9, never_committed);
        // One idle member receives one partition per join, from the end of the list: the
        // [0, 1, 2] / [3] split a real 0.8.0 server reports.
        assert_eq!(
            assignment(&group),
            vec![(7, vec![0, 1, 2], vec![]), (9, vec![3], vec![])]
        );
        let ids: Vec<u32> = group.members().map(|m| m.id).collect();
        assert_eq!(
            ids,
            vec![0, 1],
            "member ids count up from 0, not client ids"
        );
    }

    #[test]
    fn given_polled_uncommitted_partition_when_member_joins_should_stay_pending_until_commit() {
        let mut group = ConsumerGroup::new(0, "g".into(), 4);
        group.join(1, never_committed);
        group.record_polled(3, 41);
        group.join(2, |p| (p == 3).then_some(40));
        assert_eq!(
            assignment(&group),
            vec![(1, vec![0, 1, 2, 3], vec![3]), (2, vec![], vec![])]
        );
        // Polls without a partition skip the partition being handed over.
        let picks: Vec<_> = (0..4)
            .map(|_| group.resolve(1, None, true).unwrap())
            .collect();
        assert_eq!(picks, vec![Some(0), Some(1), Some(2), Some(0)]);
        // Naming it is still served, so the holder can finish and commit its batch.
        assert_eq!(group.resolve(1, Some(3), true), Ok(Some(3)));
        // A commit below what was polled does not complete it; one that reaches it does.
        group.offset_stored(1, 3, 40);
        assert_eq!(group.member(1).unwrap().revoking.len(), 1);
        group.offset_stored(1, 3, 41);
        assert_eq!(
            assignment(&group),
            vec![(1, vec![0, 1, 2], vec![]), (2, vec![3], vec![])]
        );
    }

    #[test]
    fn given_pending_revocation_when_timeout_passes_should_force_the_transfer() {
        let mut group = ConsumerGroup::new(0, "g".into(), 2);
        group.join(1, never_committed);
        group.record_polled(1, 9);
        group.join(2, never_committed);
        let since = group.member(1).unwrap().revoking[0].since;
        let timeout = Duration::from_secs(30);
        assert_eq!(group.expire_revocations(since + timeout / 2, timeout), 0);
        assert_eq!(group.expire_revocations(since + timeout, timeout), 1);
        assert_eq!(
            assignment(&group),
            vec![(1, vec![0], vec![]), (2, vec![1], vec![])]
        );
    }

    #[test]
    fn given_leave_or_repartition_should_rebalance_eagerly_and_drop_revocations() {
        let mut group = ConsumerGroup::new(0, "g".into(), 4);
        group.join(1, never_committed);
        group.record_polled(3, 5);
        group.join(2, never_committed);
        group.join(3, never_committed);
        assert_eq!(group.member(1).unwrap().revoking.len(), 1);
        assert!(group.leave(3));
        assert_eq!(
            assignment(&group),
            vec![(1, vec![0, 2], vec![]), (2, vec![1, 3], vec![])]
        );
        assert!(!group.leave(3));
        group.repartition(5);
        assert_eq!(
            assignment(&group),
            vec![(1, vec![0, 2, 4], vec![]), (2, vec![1, 3], vec![])]
        );
        assert!(group.is_settled(3, None), "repartitioning forgets polls");
    }

    #[test]
    fn given_freed_slot_when_member_joins_should_reuse_it_last_freed_first() {
        let mut group = ConsumerGroup::new(0, "g".into(), 3);
        for client in 1..=3 {
            group.join(client, never_committed);
        }
        assert!(group.leave(1));
        group.join(4, never_committed);
        let order: Vec<u32> = group.members().map(|m| m.client_id).collect();
        assert_eq!(order, vec![4, 2, 3]);
        assert_eq!(group.member(4).unwrap().id, 3);
    }

    #[test]
    fn given_revocation_target_gone_when_completing_should_rebalance_fully() {
        let mut group = ConsumerGroup::new(0, "g".into(), 2);
        group.join(1, never_committed);
        group.record_polled(1, 3);
        group.join(2, never_committed);
        // The target's slot is reused by a newcomer before the revocation completes.
        let slot = group.slot_of(2).unwrap();
        group.slots[slot].as_mut().unwrap().id = 99;
        group.offset_stored(1, 1, 3);
        assert_eq!(
            assignment(&group),
            vec![(1, vec![0], vec![]), (2, vec![1], vec![])]
        );
    }
}
