//! Randomness for the controller: topic ids and placement offsets come from a seeded
//! generator owned by the controller (`docs/architecture.md` §7.2), never from a global RNG, so a
//! simulation replays exactly. SplitMix64 is hand-written because its output must never
//! change under us (a crate's "standard" generator may change between versions).

use protocol::Uuid;

/// Kafka's fixed topic id of `__cluster_metadata` (most/least bits 0/1), never handed out.
pub const METADATA_TOPIC_ID: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/// Where the controller's random choices come from.
pub trait IdSource {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// A random number in `0..bound` (`bound` > 0).
    fn next_below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound.max(1) as u64) as usize
    }

    /// A random (version 4) Kafka UUID, as `Uuid.randomUuid()` makes them: never the zero
    /// id, never the metadata topic's id, and never one whose base64 form starts with `-`
    /// (which command-line tools would read as an option).
    fn next_uuid(&mut self) -> Uuid {
        loop {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
            b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
            b[6] = (b[6] & 0x0f) | 0x40; // version 4
            b[8] = (b[8] & 0x3f) | 0x80; // IETF variant
            let id = Uuid(b);
            if id != Uuid::ZERO && id != METADATA_TOPIC_ID && !id.to_string().starts_with('-') {
                return id;
            }
        }
    }
}

/// SplitMix64 seeded at construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededIds(protocol::splitmix::SplitMix64);

impl SeededIds {
    pub fn new(seed: u64) -> SeededIds {
        SeededIds(protocol::splitmix::SplitMix64::new(seed))
    }
}

impl IdSource for SeededIds {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_are_reproducible_and_well_formed() {
        let mut a = SeededIds::new(7);
        let mut b = SeededIds::new(7);
        for _ in 0..1000 {
            let (x, y) = (a.next_uuid(), b.next_uuid());
            assert_eq!(x, y);
            assert_ne!(x, Uuid::ZERO);
            assert!(!x.to_string().starts_with('-'));
            assert_eq!(x.0[6] >> 4, 4);
        }
        assert_ne!(SeededIds::new(1).next_u64(), SeededIds::new(2).next_u64());
    }
}
