//! A simulated append-only file: writes land in the page cache, `sync` makes them durable,
//! and a crash keeps the durable prefix plus a random prefix of the unsynced writes (the page
//! cache wrote some back; the first entry it tore is what recovery drops, with everything
//! after it).

use crate::Rng;

/// A log of entries `E` with a durable prefix.
#[derive(Debug, Clone)]
pub struct Disk<E> {
    entries: Vec<E>,
    durable: usize,
}

impl<E> Default for Disk<E> {
    fn default() -> Self {
        Disk {
            entries: Vec::new(),
            durable: 0,
        }
    }
}

impl<E> Disk<E> {
    pub fn write(&mut self, entry: E) {
        self.entries.push(entry);
    }

    /// Keeps the first `len` entries (a truncation is a metadata change the file system
    /// makes durable with the next sync; until then the durable prefix shrinks with it).
    pub fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
        self.durable = self.durable.min(len);
    }

    /// fsync: everything written so far is durable.
    pub fn sync(&mut self) {
        self.durable = self.entries.len();
    }

    /// Power loss: unsynced entries survive only as a random prefix.
    pub fn crash(&mut self, rng: &mut Rng) {
        let unsynced = (self.entries.len() - self.durable) as u64;
        let kept = self.durable + rng.below(unsynced + 1) as usize;
        self.entries.truncate(kept);
        self.durable = kept.min(self.durable);
    }

    /// Everything written (page cache included).
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// The entries that survive any crash.
    pub fn durable(&self) -> &[E] {
        &self.entries[..self.durable]
    }

    pub fn is_synced(&self) -> bool {
        self.durable == self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_the_durable_prefix_and_maybe_some_more() {
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            let mut disk = Disk::default();
            disk.write(1);
            disk.write(2);
            disk.sync();
            disk.write(3);
            disk.write(4);
            disk.crash(&mut rng);
            assert!(disk.entries().starts_with(&[1, 2]) && disk.entries().len() <= 4);
            assert_eq!(disk.durable(), &[1, 2]);
        }
        let mut disk = Disk::default();
        disk.write(1);
        disk.sync();
        disk.truncate(0);
        assert!(disk.durable().is_empty() && disk.is_synced());
    }
}
