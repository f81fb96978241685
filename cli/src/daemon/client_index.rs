//! Where a torrent of the client is in the daemon's list: a map from the client's id to the
//! list position that checks itself on every use. The list changes in many places (adds,
//! removals, queue moves); instead of each keeping the map current, a lookup whose position no
//! longer holds that torrent (or that misses) rebuilds the map once, so events and answers for
//! 100,000 torrents cost O(1) each instead of a scan of the list.

use std::collections::HashMap;

use sanstorrent_core::session::TorrentId;

/// The list positions of the client's torrents, as last built.
#[derive(Debug, Default)]
pub(super) struct Positions {
    by_id: HashMap<TorrentId, usize>,
}

impl Positions {
    /// The position of `id` in a list whose ids `id_at` reads (`None`: past the end), or
    /// `None` when no entry has it. Rebuilds the map when it is stale.
    pub(super) fn find(
        &mut self,
        id: TorrentId,
        len: usize,
        id_at: impl Fn(usize) -> TorrentId,
    ) -> Option<usize> {
        if let Some(&i) = self.by_id.get(&id)
            && i < len
            && id_at(i) == id
        {
            return Some(i);
        }
        self.by_id.clear();
        self.by_id.extend((0..len).map(|i| (id_at(i), i)));
        self.by_id.get(&id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_list_through_removals_and_moves() {
        let mut p = Positions::default();
        let mut list: Vec<TorrentId> = (1..=5).map(TorrentId).collect();
        let find = |p: &mut Positions, list: &[TorrentId], id| {
            p.find(TorrentId(id), list.len(), |i| list[i])
        };
        assert_eq!(find(&mut p, &list, 3), Some(2));
        list.remove(0);
        assert_eq!(find(&mut p, &list, 3), Some(1));
        assert_eq!(find(&mut p, &list, 1), None);
        list.swap(0, 3);
        assert_eq!(find(&mut p, &list, 5), Some(0));
        assert_eq!(find(&mut p, &list, 2), Some(3));
        list.push(TorrentId(9));
        assert_eq!(find(&mut p, &list, 9), Some(4));
        list.clear();
        assert_eq!(find(&mut p, &list, 9), None);
    }
}
