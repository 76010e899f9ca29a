//! Consumer groups as Iggy 0.8 keeps them: members are connections held in slots (the server
//! uses a `Slab`, whose iteration order decides who gets which partition), each with the
//! partitions it holds and the ones it is handing over (pending revocations). The assignment
//! rules themselves live in [`super::rebalance`].

use std::collections::HashMap;
use std::time::Instant;

/// A partition a member still holds but has to hand over to another member once the group has
/// committed what it polled there (or when the revocation times out).
#[derive(Debug, Clone)]
pub struct Revocation {
    pub partition: u32,
    /// Slot and member id of the receiving member. The server checks both when completing: a
    /// slot now used by someone else means the target left, and the group is fully rebalanced.
    pub target_slot: usize,
    pub target_id: u32,
    pub since: Instant,
}

#[derive(Debug)]
pub struct Member {
    /// The member id the server reports in `get_consumer_group` (not the client id): one more
    /// than the highest id in the group when it joined.
    pub id: u32,
    pub client_id: u32,
    /// Every partition the member holds, including those pending revocation.
    pub partitions: Vec<u32>,
    pub revoking: Vec<Revocation>,
    /// Round-robin cursor over the pollable partitions, for polls that name no partition.
    cursor: usize,
}

impl Member {
    fn new(id: u32, client_id: u32) -> Self {
        Self {
            id,
            client_id,
            partitions: Vec::new(),
            revoking: Vec::new(),
            cursor: 0,
        }
    }

    pub fn is_revoking(&self, partition: u32) -> bool {
        self.revoking.iter().any(|r| r.partition == partition)
    }

    /// Partitions held and not being handed over, in assignment order.
    pub fn kept(&self) -> impl Iterator<Item = u32> + '_ {
        self.partitions
            .iter()
            .copied()
            .filter(|p| !self.is_revoking(*p))
    }

    /// The partition an operation naming none refers to: the cursor's pick among the kept
    /// partitions. A poll (`advance`) moves the cursor on; an offset command only reads it, so
    /// it means the partition the *next* poll would read, as on the server.
    pub fn pick(&mut self, advance: bool) -> Option<u32> {
        let count = self.kept().count();
        if count == 0 {
            return None;
        }
        let current = self.cursor;
        if advance {
            self.cursor = (current + 1) % count;
        }
        self.kept().nth(current % count)
    }
}

/// The client asked for a group operation without being a member of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotMember;

#[derive(Debug)]
pub struct ConsumerGroup {
    pub id: u32,
    pub name: String,
    /// The topic's partition count as the group last saw it (changed by repartitioning).
    pub(super) partitions_count: u32,
    /// Member slots; a freed slot is reused by the next joiner, last freed first (`Slab`).
    pub(super) slots: Vec<Option<Member>>,
    free: Vec<usize>,
    /// Per partition, the last offset handed to any member of the group by a poll: the
    /// server's `last_polled_offsets`, which decides when a revocation may complete.
    pub(super) last_polled: HashMap<u32, u64>,
}

impl ConsumerGroup {
    pub fn new(id: u32, name: String, partitions_count: u32) -> Self {
        Self {
            id,
            name,
            partitions_count,
            slots: Vec::new(),
            free: Vec::new(),
            last_polled: HashMap::new(),
        }
    }

    /// Members in slot order (the order the server lists and assigns them in).
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.slots.iter().flatten()
    }

    pub fn members_count(&self) -> usize {
        self.members().count()
    }

    pub fn member(&self, client_id: u32) -> Option<&Member> {
        self.members().find(|m| m.client_id == client_id)
    }

    pub(super) fn slot_of(&self, client_id: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| m.client_id == client_id))
    }

    /// Adds the client (joining twice is a no-op, as on the server) with a cooperative
    /// rebalance, then completes every revocation that is already settled. `committed` gives
    /// the group's stored offset of a partition.
    pub fn join(&mut self, client_id: u32, committed: impl Fn(u32) -> Option<u64>) {
        if self.slot_of(client_id).is_none() {
            let id = self.members().map(|m| m.id).max().map_or(0, |max| max + 1);
            let member = Member::new(id, client_id);
            match self.free.pop() {
                Some(slot) => self.slots[slot] = Some(member),
                None => self.slots.push(Some(member)),
            }
            self.rebalance_cooperative();
        }
        self.complete_settled(committed);
    }

    /// Removes the client and rebalances everyone from scratch; returns whether it was a
    /// member. What the group polled on the leaver's partitions is forgotten, as on the server.
    pub fn leave(&mut self, client_id: u32) -> bool {
        let Some(slot) = self.slot_of(client_id) else {
            return false;
        };
        let left = self.slots[slot].take().expect("slot was just found");
        self.free.push(slot);
        self.rebalance_members();
        for partition in left.partitions {
            self.last_polled.remove(&partition);
        }
        true
    }

    /// The topic now has `partitions_count` partitions: full rebalance, polled offsets cleared.
    pub fn repartition(&mut self, partitions_count: u32) {
        self.partitions_count = partitions_count;
        self.rebalance_members();
        self.last_polled.clear();
    }

    /// Which partition a group operation of `client_id` refers to. A named partition is served
    /// only if the member holds it (revoking or not); otherwise `Ok(None)`, which the server
    /// answers with an empty poll or a "not resolved consumer" error.
    pub fn resolve(
        &mut self,
        client_id: u32,
        partition: Option<u32>,
        advance: bool,
    ) -> Result<Option<u32>, NotMember> {
        let slot = self.slot_of(client_id).ok_or(NotMember)?;
        let member = self.slots[slot].as_mut().expect("slot was just found");
        Ok(match partition {
            Some(p) => member.partitions.contains(&p).then_some(p),
            None => member.pick(advance),
        })
    }

    /// A poll handed the group messages up to `last_offset` on `partition`.
    pub fn record_polled(&mut self, partition: u32, last_offset: u64) {
        self.last_polled.insert(partition, last_offset);
    }

    /// `client_id` stored `committed` for `partition` (explicitly or by auto-commit): if it was
    /// handing that partition over and the group has now committed what it polled there, the
    /// partition moves to its new owner.
    pub fn offset_stored(&mut self, client_id: u32, partition: u32, committed: u64) {
        let Some(slot) = self.slot_of(client_id) else {
            return;
        };
        let member = self.slots[slot].as_ref().expect("slot was just found");
        if member.is_revoking(partition) && self.is_settled(partition, Some(committed)) {
            let id = member.id;
            self.complete_revocation(slot, id, partition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_member_when_picking_without_partition_should_cycle_kept_partitions() {
        let mut group = ConsumerGroup::new(0, "g".into(), 3);
        group.join(1, |_| None);
        let picks: Vec<_> = (0..4)
            .map(|_| group.resolve(1, None, true).unwrap())
            .collect();
        assert_eq!(picks, vec![Some(0), Some(1), Some(2), Some(0)]);
        // An offset command reads the cursor without moving it: the next poll's partition.
        assert_eq!(group.resolve(1, None, false), Ok(Some(1)));
        assert_eq!(group.resolve(1, None, false), Ok(Some(1)));
        assert_eq!(group.resolve(2, None, true), Err(NotMember));
    }

    #[test]
    fn given_named_partition_when_not_held_should_resolve_to_nothing() {
        let mut group = ConsumerGroup::new(0, "g".into(), 2);
        group.join(1, |_| None);
        group.join(2, |_| None);
        assert_eq!(group.resolve(1, Some(0), true), Ok(Some(0)));
        assert_eq!(group.resolve(1, Some(1), true), Ok(None));
        assert_eq!(group.resolve(2, Some(1), true), Ok(Some(1)));
    }
}
