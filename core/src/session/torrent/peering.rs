//! The parts of a torrent only its connections use: the peer exchange pool, the closed
//! peers a smart-ban proof may still name, the merkle trees answering hash requests and the
//! v2 leaf-hash checks (issue 25). An idle torrent has no use for them and a released one
//! never has: they are made at their first use and dropped at the release, so that the
//! torrents at rest do not carry their room (144 bytes) inline. A fresh set is what the
//! release used to reset them to, so making them again changes nothing a peer sees.

use crate::extensions::{PexConfig, PexPool};
use crate::session::hashes::Trees;
use crate::session::io::ConnId;
use crate::session::leaf_check::LeafChecks;
use crate::session::smart_ban::Departed;

/// The per-peer parts themselves.
#[derive(Debug)]
pub(crate) struct Parts {
    /// Peer exchange (disabled for a private torrent).
    pub(crate) pex: PexPool<ConnId>,
    /// Closed peers a smart-ban proof may still name.
    pub(crate) departed: Departed,
    /// The merkle trees serving peers' hash requests.
    pub(crate) trees: Trees,
    /// Failed v2 pieces waiting for their leaf hashes, to find their bad blocks.
    pub(crate) leaf_checks: LeafChecks,
}

impl Parts {
    fn new(private: bool) -> Self {
        Self {
            pex: PexPool::new(PexConfig::new(private)),
            departed: Departed::default(),
            trees: Trees::default(),
            leaf_checks: LeafChecks::default(),
        }
    }
}

/// A torrent's [`Parts`], once a use made them.
#[derive(Debug, Default)]
pub(crate) struct Peering(Option<Box<Parts>>);

impl Peering {
    /// The parts, if made.
    pub(crate) fn get(&self) -> Option<&Parts> {
        self.0.as_deref()
    }

    /// The parts to change, if made (for what a fresh set would do nothing with).
    pub(crate) fn get_mut(&mut self) -> Option<&mut Parts> {
        self.0.as_deref_mut()
    }

    /// The parts to change, made now if need be for a torrent `private` or not.
    pub(crate) fn make(&mut self, private: bool) -> &mut Parts {
        self.0.get_or_insert_with(|| Box::new(Parts::new(private)))
    }

    /// Drops the parts (the release): the next use makes a fresh set.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// Whether peer exchange is on for a torrent `private` or not (a fresh pool's answer
    /// when none is made).
    pub(crate) fn pex_enabled(&self, private: bool) -> bool {
        self.get().map_or(!private, |p| p.pex.is_enabled())
    }

    /// Whether no leaf-hash check is under way.
    pub(crate) fn no_leaf_checks(&self) -> bool {
        self.get().is_none_or(|p| p.leaf_checks.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::Peering;

    #[test]
    fn parts_are_made_at_the_first_use_and_dropped_at_the_release() {
        let mut peering = Peering::default();
        assert!(peering.get().is_none());
        assert!(peering.pex_enabled(false));
        assert!(!peering.pex_enabled(true));
        assert!(peering.no_leaf_checks());
        assert!(peering.get_mut().is_none());
        assert!(!peering.make(true).pex.is_enabled());
        // Made once: a later use finds the same parts, whatever it says of privacy.
        assert!(!peering.make(false).pex.is_enabled());
        assert!(!peering.pex_enabled(false));
        peering.clear();
        assert!(peering.get().is_none());
        assert!(peering.make(false).pex.is_enabled());
    }
}
