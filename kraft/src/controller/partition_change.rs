//! Leader election and ISR changes for one partition (a reduced Kafka
//! `PartitionChangeBuilder`), used when a broker is fenced, unfenced or shuts down.
//!
//! Given a target ISR and which brokers may lead, it keeps a leader that is still valid,
//! else elects the first replica (in replica order) that is in the target ISR and
//! acceptable; with unclean election allowed it falls back to any acceptable replica and
//! resets the ISR to it (KIP-704: leader recovery state RECOVERING). The ISR never becomes
//! empty (no ELR before metadata.version 4.0): if the last ISR member goes, it stays and the
//! partition is leaderless. Before 3.6 (and during a ZK migration) an ISR shrink also bumps
//! the leader epoch (KAFKA-15021). Not yet: reassignment completion, ELR, preferred
//! elections.

use metadata::image::topics::{NO_LEADER, NO_LEADER_CHANGE};
use metadata::{
    LeaderRecoveryState, MetadataRecord, MetadataRecordBody, MetadataVersion, PartitionRegistration,
};
use protocol::messages::PartitionChangeRecord;
use protocol::Uuid;

/// Inputs of one change.
#[derive(Debug)]
pub struct PartitionChange<'a, F: Fn(i32) -> bool> {
    pub topic_id: Uuid,
    pub partition_id: i32,
    pub partition: &'a PartitionRegistration,
    pub target_isr: Vec<i32>,
    /// May this broker lead (unfenced, not shutting down, not the one leaving)?
    pub acceptable_leader: F,
    /// `unclean.leader.election.enable` for the topic.
    pub unclean: bool,
    pub metadata_version: MetadataVersion,
    pub zk_migration_enabled: bool,
}

impl<F: Fn(i32) -> bool> PartitionChange<'_, F> {
    /// The PartitionChangeRecord, or `None` if nothing changes.
    pub fn build(self) -> Option<MetadataRecord> {
        let p = self.partition;
        let valid = |r: i32| self.target_isr.contains(&r) && (self.acceptable_leader)(r);
        let (leader, unclean_election) = if valid(p.leader) {
            (p.leader, false)
        } else if let Some(r) = p.replicas.iter().copied().find(|r| valid(*r)) {
            (r, false)
        } else if let Some(r) = p
            .replicas
            .iter()
            .copied()
            .find(|r| self.unclean && (self.acceptable_leader)(*r))
        {
            (r, true)
        } else {
            (NO_LEADER, false)
        };

        let mut record = PartitionChangeRecord {
            topic_id: self.topic_id,
            partition_id: self.partition_id,
            ..Default::default()
        };
        if leader != p.leader {
            record.leader = leader;
            if unclean_election {
                // The new leader's log may miss committed data: ISR = itself, RECOVERING.
                record.isr = Some(vec![leader]);
                if p.leader_recovery_state != LeaderRecoveryState::Recovering
                    && self.metadata_version.is_leader_recovery_supported()
                {
                    record.leader_recovery_state = LeaderRecoveryState::Recovering.value();
                }
            }
        }
        if record.isr.is_none() && !self.target_isr.is_empty() && self.target_isr != p.isr {
            record.isr = Some(self.target_isr.clone());
        }
        let bump_on_shrink = self
            .metadata_version
            .is_leader_epoch_bump_required_on_isr_shrink()
            || self.zk_migration_enabled;
        if bump_on_shrink && record.leader == NO_LEADER_CHANGE {
            if let Some(isr) = &record.isr {
                if !p.isr.iter().all(|r| isr.contains(r)) {
                    record.leader = p.leader;
                }
            }
        }
        let no_op = record.leader == NO_LEADER_CHANGE
            && record.isr.is_none()
            && record.leader_recovery_state == -1;
        if no_op {
            return None;
        }
        Some(MetadataRecord::new(
            self.metadata_version.partition_change_record_version(),
            MetadataRecordBody::PartitionChange(record),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionRegistration {
        PartitionRegistration {
            replicas: replicas.into(),
            isr: isr.into(),
            leader,
            ..Default::default()
        }
    }

    fn change(
        p: &PartitionRegistration,
        target: &[i32],
        ok: impl Fn(i32) -> bool,
        unclean: bool,
        mv: i16,
    ) -> Option<PartitionChangeRecord> {
        let r = PartitionChange {
            topic_id: Uuid([1; 16]),
            partition_id: 0,
            partition: p,
            target_isr: target.into(),
            acceptable_leader: ok,
            unclean,
            metadata_version: MetadataVersion(mv),
            zk_migration_enabled: false,
        }
        .build()?;
        match r.body {
            MetadataRecordBody::PartitionChange(c) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn fencing_the_leader_moves_leadership_and_shrinks_the_isr() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let c = change(&p, &[2, 3], |r| r != 1, false, 21).unwrap();
        assert_eq!((c.leader, c.isr), (2, Some(vec![2, 3])));
    }

    #[test]
    fn the_last_isr_member_stays_and_the_partition_goes_leaderless() {
        let p = partition(&[1, 2], &[1], 1);
        let c = change(&p, &[], |r| r != 1, false, 21).unwrap();
        assert_eq!((c.leader, c.isr), (-1, None));
        // Unclean: replica 2 leads, ISR reset to it, RECOVERING.
        let c = change(&p, &[], |r| r != 1, true, 21).unwrap();
        assert_eq!(
            (c.leader, c.isr, c.leader_recovery_state),
            (2, Some(vec![2]), 1)
        );
    }

    #[test]
    fn follower_removal_bumps_the_leader_epoch_only_before_3_6() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let c = change(&p, &[1, 2], |r| r != 3, false, 21).unwrap();
        assert_eq!((c.leader, c.isr), (-2, Some(vec![1, 2])));
        let c = change(&p, &[1, 2], |r| r != 3, false, 11).unwrap();
        assert_eq!((c.leader, c.isr), (1, Some(vec![1, 2])));
    }

    #[test]
    fn unfencing_elects_a_leader_for_a_leaderless_partition() {
        let p = partition(&[1, 2], &[2], -1);
        let c = change(&p, &[2], |r| r == 2, false, 21).unwrap();
        assert_eq!((c.leader, c.isr), (2, None));
        // Nothing to do: no record.
        let q = partition(&[1, 2], &[1, 2], 1);
        assert!(change(&q, &[1, 2], |_| true, false, 21).is_none());
    }
}
