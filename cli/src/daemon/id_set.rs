//! The torrents a call names, as a set: a call on every torrent (start all, stop all: 100,000
//! ids) looks each listed torrent up in it in `O(log n)`, where `ids.contains` over the list
//! made the call quadratic.

use super::backend::Id;

/// Torrent ids, sorted and each once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IdSet(Vec<Id>);

impl IdSet {
    /// The set of `ids` (in any order, repeats allowed).
    pub(crate) fn new(ids: &[Id]) -> Self {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Self(ids)
    }

    /// Whether `id` is in the set.
    pub(crate) fn contains(&self, id: Id) -> bool {
        self.0.binary_search(&id).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_each_id_named_once_in_any_order() {
        let set = IdSet::new(&[Id(7), Id(2), Id(7), Id(40), Id(0)]);
        assert_eq!(set.0, [Id(0), Id(2), Id(7), Id(40)]);
        for id in [0, 2, 7, 40] {
            assert!(set.contains(Id(id)));
        }
        for id in [1, 3, 8, 41, u32::MAX] {
            assert!(!set.contains(Id(id)));
        }
        assert!(!IdSet::new(&[]).contains(Id(0)));
    }

    #[test]
    fn a_hundred_thousand_ids_against_a_hundred_thousand_entries() {
        // Every id of a list named in reverse (as a front end may send them): each lookup is
        // a binary search, so the whole pass is n log n, not n^2.
        let n = 100_000u32;
        let ids: Vec<Id> = (0..n).rev().map(Id).collect();
        let set = IdSet::new(&ids);
        let found = (0..n).filter(|i| set.contains(Id(*i))).count();
        assert_eq!(found, n as usize);
        assert!(!set.contains(Id(n)));
    }
}
