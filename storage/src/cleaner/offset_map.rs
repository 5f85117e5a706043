//! The cleaner's key → latest offset map over a log's dirty section (Kafka `SkimpyOffsetMap`),
//! with a memory budget (`log.cleaner.dedupe.buffer.size` × load factor).
//!
//! Kafka stores 16-byte MD5 digests and accepts the collision risk; this map keeps the keys
//! themselves, so a collision can never drop a live record, and charges each entry its key
//! length plus a fixed overhead against the budget.

use std::collections::HashMap;

/// Bytes charged per entry besides the key: the boxed slice (16), the offset (8) and the hash
/// table's control byte and spare capacity, rounded up.
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 48;

#[derive(Debug, Default)]
pub(crate) struct OffsetMap {
    /// Never iterated: order does not matter.
    map: HashMap<Box<[u8]>, i64>,
    bytes_used: usize,
    bytes_max: usize,
}

/// Whether `put` could record the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    Stored,
    /// A new key would exceed the budget; nothing was changed.
    Full,
}

impl OffsetMap {
    pub(crate) fn new(bytes_max: usize) -> Self {
        OffsetMap {
            map: HashMap::new(),
            bytes_used: 0,
            bytes_max,
        }
    }

    /// Forgets every key, keeping the allocation for the next pass.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.bytes_used = 0;
    }

    /// Bytes still available to `budget`-charged entries.
    pub(crate) fn charge(&mut self, bytes: usize) {
        self.bytes_used = self.bytes_used.saturating_add(bytes);
    }

    /// Records `offset` as the latest for `key`. A new key that does not fit is refused
    /// (`Full`) unless `over_budget` is `Allow` (the first batch of a pass is always mapped
    /// whole so every pass makes progress).
    pub(crate) fn put(&mut self, key: &[u8], offset: i64, over_budget: OverBudget) -> Put {
        if let Some(o) = self.map.get_mut(key) {
            *o = (*o).max(offset);
            return Put::Stored;
        }
        let cost = key.len() + ENTRY_OVERHEAD_BYTES;
        if over_budget == OverBudget::Refuse && self.bytes_used + cost > self.bytes_max {
            return Put::Full;
        }
        self.bytes_used += cost;
        self.map.insert(key.into(), offset);
        Put::Stored
    }

    /// The latest offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Whether `put` may exceed the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverBudget {
    Refuse,
    Allow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_new_keys_but_updates_known_ones() {
        let mut m = OffsetMap::new(2 * (1 + ENTRY_OVERHEAD_BYTES));
        assert_eq!(m.put(b"a", 1, OverBudget::Refuse), Put::Stored);
        assert_eq!(m.put(b"b", 2, OverBudget::Refuse), Put::Stored);
        assert_eq!(m.put(b"c", 3, OverBudget::Refuse), Put::Full);
        assert_eq!(m.put(b"a", 4, OverBudget::Refuse), Put::Stored);
        assert_eq!((m.get(b"a"), m.get(b"c"), m.len()), (Some(4), None, 2));
        assert_eq!(m.put(b"c", 5, OverBudget::Allow), Put::Stored);
        m.clear();
        assert_eq!((m.get(b"a"), m.len()), (None, 0));
        assert_eq!(m.put(b"c", 3, OverBudget::Refuse), Put::Stored);
    }
}
