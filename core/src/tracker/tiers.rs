//! BEP 12 announce-list tiers: trackers shuffled once within each tier (with the seeded
//! [`Rng`]), tried in order, and the one that answered moved to the front of its tier.

use super::url::TrackerUrl;
use crate::rng::Rng;

/// The position of a tracker in [`Tiers`]: tier, then index within the tier. Both are
/// `u32`s (an announcer keeps two positions, and every torrent has an announcer):
/// [`Tiers::new`] keeps at most [`MAX_TIERS`] tiers of at most [`MAX_TIER_LEN`] trackers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TierPos {
    /// The tier (0 is tried first).
    pub tier: u32,
    /// The index within the tier.
    pub index: u32,
}

/// The most tiers [`Tiers`] keeps (the rest are dropped). Nothing bounds a list's length at
/// parse (a metainfo's `announce-list`, a magnet's `tr`, an application's list): this bound
/// is what makes a [`TierPos`] fit in `u32`s. A list that long would take over 100 GiB.
pub const MAX_TIERS: usize = u32::MAX as usize;

/// The most trackers a tier of [`Tiers`] keeps (the rest are dropped), for the same reason.
pub const MAX_TIER_LEN: usize = u32::MAX as usize;

/// The announce-list: tiers of tracker URLs in the order to try them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiers {
    tiers: Vec<Vec<TrackerUrl>>,
}

impl Tiers {
    /// Shuffles each tier with `rng` (BEP 12); empty tiers are dropped.
    pub fn new(tiers: Vec<Vec<TrackerUrl>>, rng: &mut Rng) -> Self {
        let mut tiers: Vec<Vec<TrackerUrl>> = (tiers.into_iter().filter(|t| !t.is_empty()))
            .take(MAX_TIERS)
            .collect();
        for tier in &mut tiers {
            tier.truncate(MAX_TIER_LEN);
            rng.shuffle(tier);
            tier.shrink_to_fit();
        }
        // Collected in place, the list keeps the room of the one it came from: a torrent
        // keeps its tiers for its whole life.
        tiers.shrink_to_fit();
        Self { tiers }
    }

    /// The first tracker to try, if there is any.
    pub fn first(&self) -> Option<TierPos> {
        (!self.tiers.is_empty()).then_some(TierPos { tier: 0, index: 0 })
    }

    /// The tracker after `pos`: the next in its tier, else the first of the next tier.
    pub fn next(&self, pos: TierPos) -> Option<TierPos> {
        let tier = self.tiers.get(pos.tier as usize)?;
        // Below a length of at most `MAX_TIER_LEN` (`MAX_TIERS`): the sums fit.
        if (pos.index as usize) + 1 < tier.len() {
            return Some(TierPos {
                tier: pos.tier,
                index: pos.index + 1,
            });
        }
        ((pos.tier as usize) + 1 < self.tiers.len()).then_some(TierPos {
            tier: pos.tier + 1,
            index: 0,
        })
    }

    /// The URL at `pos`.
    pub fn url(&self, pos: TierPos) -> Option<&TrackerUrl> {
        self.tiers.get(pos.tier as usize)?.get(pos.index as usize)
    }

    /// Moves the tracker at `pos` to the front of its tier (it answered); returns its new
    /// position.
    pub fn promote(&mut self, pos: TierPos) -> TierPos {
        if let Some(tier) = self.tiers.get_mut(pos.tier as usize)
            && (pos.index as usize) < tier.len()
        {
            let url = tier.remove(pos.index as usize);
            tier.insert(0, url);
        }
        TierPos {
            tier: pos.tier,
            index: 0,
        }
    }

    /// The tiers in their current order.
    pub fn tiers(&self) -> &[Vec<TrackerUrl>] {
        &self.tiers
    }

    /// Whether there is no tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(names: &[&str]) -> Vec<TrackerUrl> {
        names
            .iter()
            .map(|n| TrackerUrl::parse(&format!("http://{n}/announce")).unwrap())
            .collect()
    }

    #[test]
    fn shuffles_within_tiers_and_walks_in_order() {
        let input = vec![urls(&["a", "b", "c", "d", "e", "f"]), vec![], urls(&["x"])];
        let t = Tiers::new(input.clone(), &mut Rng::new(1));
        assert_eq!(t, Tiers::new(input.clone(), &mut Rng::new(1)), "seeded");
        assert_eq!(t.tiers().len(), 2, "empty tier dropped");
        let mut first = t.tiers()[0].clone();
        assert_ne!(first, input[0], "tier 0 shuffled");
        first.sort_by_key(|u| u.to_string());
        assert_eq!(first, input[0], "a permutation");
        let mut walk = Vec::new();
        let mut pos = t.first();
        while let Some(p) = pos {
            walk.push(t.url(p).unwrap().clone());
            pos = t.next(p);
        }
        assert_eq!(walk.len(), 7);
        assert_eq!(walk[6], input[2][0]);
        assert_eq!(Tiers::new(vec![], &mut Rng::new(1)).first(), None);
    }

    #[test]
    fn promote_moves_to_front() {
        let mut t = Tiers::new(vec![urls(&["a", "b", "c"])], &mut Rng::new(5));
        let third = t.url(TierPos { tier: 0, index: 2 }).unwrap().clone();
        let pos = t.promote(TierPos { tier: 0, index: 2 });
        assert_eq!(pos, TierPos { tier: 0, index: 0 });
        assert_eq!(t.url(pos), Some(&third));
        assert_eq!(t.tiers()[0].len(), 3);
    }
}
