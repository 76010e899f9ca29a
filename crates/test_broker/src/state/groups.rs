//! Consumer groups: members are connections; partitions are spread round-robin over members in
//! join order and re-spread whenever a member joins or leaves (including by disconnecting).

#[derive(Debug)]
pub struct Member {
    pub client_id: u32,
    pub partitions: Vec<u32>,
    /// Round-robin cursor over `partitions` for polls that name no partition.
    cursor: usize,
    /// The partition the member polled last; a store-offset without a partition means this one.
    pub last_polled: Option<u32>,
}

#[derive(Debug)]
pub struct ConsumerGroup {
    pub id: u32,
    pub name: String,
    pub members: Vec<Member>,
}

impl ConsumerGroup {
    pub fn new(id: u32, name: String) -> Self {
        Self {
            id,
            name,
            members: Vec::new(),
        }
    }

    pub fn member(&self, client_id: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.client_id == client_id)
    }

    pub fn member_mut(&mut self, client_id: u32) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.client_id == client_id)
    }

    /// Adds the client (joining twice is a no-op, as on the server) and rebalances.
    pub fn join(&mut self, client_id: u32, partitions_count: u32) {
        if self.member(client_id).is_none() {
            self.members.push(Member {
                client_id,
                partitions: Vec::new(),
                cursor: 0,
                last_polled: None,
            });
            self.rebalance(partitions_count);
        }
    }

    /// Removes the client; returns whether it was a member.
    pub fn leave(&mut self, client_id: u32, partitions_count: u32) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.client_id != client_id);
        let left = self.members.len() != before;
        if left {
            self.rebalance(partitions_count);
        }
        left
    }

    /// Partition `p` goes to member `p % members`, members in join order.
    pub fn rebalance(&mut self, partitions_count: u32) {
        for member in &mut self.members {
            member.partitions.clear();
            member.cursor = 0;
            member.last_polled = None;
        }
        let members = self.members.len();
        if members == 0 {
            return;
        }
        for partition in 0..partitions_count {
            self.members[partition as usize % members]
                .partitions
                .push(partition);
        }
    }
}

impl Member {
    /// The partition the next poll without an explicit partition reads from.
    pub fn next_partition(&mut self) -> Option<u32> {
        if self.partitions.is_empty() {
            return None;
        }
        let partition = self.partitions[self.cursor % self.partitions.len()];
        self.cursor = self.cursor.wrapping_add(1);
        self.last_polled = Some(partition);
        Some(partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(group: &ConsumerGroup) -> Vec<(u32, Vec<u32>)> {
        group
            .members
            .iter()
            .map(|m| (m.client_id, m.partitions.clone()))
            .collect()
    }

    #[test]
    fn given_members_joining_and_leaving_should_spread_partitions_round_robin() {
        let mut group = ConsumerGroup::new(0, "g".into());
        group.join(7, 5);
        assert_eq!(assignment(&group), vec![(7, vec![0, 1, 2, 3, 4])]);
        group.join(9, 5);
        assert_eq!(
            assignment(&group),
            vec![(7, vec![0, 2, 4]), (9, vec![1, 3])]
        );
        group.join(9, 5);
        assert_eq!(group.members.len(), 2, "joining twice is a no-op");
        assert!(group.leave(7, 5));
        assert_eq!(assignment(&group), vec![(9, vec![0, 1, 2, 3, 4])]);
        assert!(!group.leave(7, 5));
    }

    #[test]
    fn given_member_when_polling_without_partition_should_cycle_its_partitions() {
        let mut group = ConsumerGroup::new(0, "g".into());
        group.join(1, 2);
        let member = group.member_mut(1).unwrap();
        assert_eq!(
            (0..3).map(|_| member.next_partition()).collect::<Vec<_>>(),
            vec![Some(0), Some(1), Some(0)]
        );
        assert_eq!(member.last_polled, Some(0));
        // More members than partitions: the third gets nothing to poll.
        group.join(2, 2);
        group.join(3, 2);
        assert_eq!(group.member_mut(3).unwrap().next_partition(), None);
        group.leave(1, 2);
        assert_eq!(group.member_mut(3).unwrap().next_partition(), Some(1));
    }
}
