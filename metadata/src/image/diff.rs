//! What changed between two images of one family: a merge of two sorted maps that skips
//! entries both images share.
//!
//! Images share what did not change (a delta copies a map, or a topic, on its first change),
//! so a consumer that follows images (the broker's replica manager) asks "what changed since
//! the image I applied last" in one pass of cheap comparisons instead of redoing its work for
//! every topic on every image. Kafka hands consumers the `MetadataDelta` itself; we publish
//! images only, and this recovers the delta's "changed" sets from two of them.

use std::collections::BTreeMap;

/// A key of the newer map that is new or differs, or a key of the older map that is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change<'a, K, V> {
    Upserted(&'a K, &'a V),
    Removed(&'a K, &'a V),
}

/// Calls `on` for each key whose entry differs between `older` and `newer` by `same`, in key
/// order. O(len(older) + len(newer)) calls of `same`.
pub(crate) fn changes<'a, K: Ord, V>(
    older: &'a BTreeMap<K, V>,
    newer: &'a BTreeMap<K, V>,
    same: impl Fn(&V, &V) -> bool,
    mut on: impl FnMut(Change<'a, K, V>),
) {
    let mut old = older.iter().peekable();
    let mut new = newer.iter().peekable();
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => return,
            (Some(&(k, v)), None) => {
                on(Change::Removed(k, v));
                old.next();
            }
            (None, Some(&(k, v))) => {
                on(Change::Upserted(k, v));
                new.next();
            }
            (Some(&(ko, vo)), Some(&(kn, vn))) => match ko.cmp(kn) {
                std::cmp::Ordering::Less => {
                    on(Change::Removed(ko, vo));
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    on(Change::Upserted(kn, vn));
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    if !same(vo, vn) {
                        on(Change::Upserted(kn, vn));
                    }
                    old.next();
                    new.next();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_added_changed_and_removed_keys_in_order() {
        let older: BTreeMap<i32, &str> = [(1, "a"), (2, "b"), (4, "d")].into();
        let newer: BTreeMap<i32, &str> = [(2, "B"), (3, "c"), (4, "d")].into();
        let mut seen = Vec::new();
        changes(&older, &newer, |a, b| a == b, |c| seen.push(c));
        assert_eq!(
            seen,
            vec![
                Change::Removed(&1, &"a"),
                Change::Upserted(&2, &"B"),
                Change::Upserted(&3, &"c"),
            ]
        );
        let mut none = 0;
        changes(&newer, &newer, |a, b| a == b, |_| none += 1);
        assert_eq!(none, 0);
    }
}
